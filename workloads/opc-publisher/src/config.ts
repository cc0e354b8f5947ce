import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvReader, readCommon, type CommonConfig } from '../../shared/src/env.js';

export interface PublisherConfig extends CommonConfig {
  publishedNodesFile: string;
  /** Values per batch; a full batch is published at once. */
  batchSize: number;
  /** A batch is published at the latest this long after its first value. */
  batchIntervalMs: number;
  /** The reconnect backoff grows up to this. */
  reconnectMaxDelayMs: number;
  /** The client's PKI store (own certificate, trusted server certificates). */
  pkiDir: string;
  /** Trust server certificates not (yet) in pkiDir/trusted. */
  autoAcceptCertificates: boolean;
}

export const PUBLISHER_USAGE = `opc-publisher: subscribes to OPC UA nodes and publishes OPC UA PubSub JSON
network messages to the Dapr pub/sub topic.

Usage: node workloads/opc-publisher/src/main.js [--help]

Configuration (environment):
  PUBLISHED_NODES_FILE        publishednodes.json (OPC Publisher format), required
  BATCH_SIZE                  values per network message batch (default 50)
  BATCH_INTERVAL_MS           a batch waits at most this long (default 1000)
  OPC_RECONNECT_MAX_DELAY_MS  reconnect backoff ceiling (default 10000)
  OPC_PKI_DIR                 client PKI store, one per instance (default $TMPDIR/nested-edge-pki/<EDGE_SOURCE>)
  OPC_AUTO_ACCEPT             trust unknown server certificates (default false; else move them
                              from <pki>/rejected to <pki>/trusted/certs)
  EDGE_SOURCE                 publisher name: PublisherId and message source (default opc-publisher)
  EDGE_LEVEL                  ISA-95 level name (default l2)
  DAPR_HOST, DAPR_HTTP_PORT   the Dapr sidecar (default 127.0.0.1:3500)
  PUBSUB_NAME, TOPIC          Dapr pub/sub component and topic (default pubsub, telemetry)
  EDGE_REPORT_FILE            producer report written while running and at shutdown
`;

export function readPublisherConfig(env: NodeJS.ProcessEnv = process.env): PublisherConfig {
  const r = new EnvReader(env);
  const common = readCommon(r, 'opc-publisher');
  const config: PublisherConfig = {
    ...common,
    publishedNodesFile: r.string('PUBLISHED_NODES_FILE'),
    batchSize: r.int('BATCH_SIZE', 50, 1, 100_000),
    batchIntervalMs: r.int('BATCH_INTERVAL_MS', 1000, 1, 3_600_000),
    reconnectMaxDelayMs: r.int('OPC_RECONNECT_MAX_DELAY_MS', 10_000, 100, 3_600_000),
    // one store per instance: the certificate carries the application uri, which has the name in it
    pkiDir: r.string('OPC_PKI_DIR', join(tmpdir(), 'nested-edge-pki', common.source)),
    autoAcceptCertificates: r.bool('OPC_AUTO_ACCEPT', false),
  };
  r.done();
  return config;
}
