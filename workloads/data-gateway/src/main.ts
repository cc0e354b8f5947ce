// data-gateway: at the top level, receives `telemetry` through its Dapr sidecar, de-duplicates
// by message id, puts each source's messages back in order, stores each message in every routed
// sink (file, PostgreSQL, Event Hubs), and only then acknowledges it to Dapr. While a sink is
// down the gateway holds the acknowledgement (the message stays in the broker session) instead
// of answering RETRY, which would wedge the mqtt3 subscription.
import { writeFileSync, renameSync } from 'node:fs';
import { CommunicationProtocolEnum, DaprPubSubStatusEnum, DaprServer, LogLevel } from '@dapr/dapr';
import { createLogger } from '../../shared/src/log.js';
import { onShutdown, runMain } from '../../shared/src/lifecycle.js';
import { readGatewayConfig, type GatewayConfig, type SinkKind } from './config.js';
import { RAW_PAYLOAD } from '../../shared/src/publisher.js';
import { JsonLinesSink } from './file-sink.js';
import { PostgresSink } from './postgres-sink.js';
import { EventHubsSink } from './eventhubs-sink.js';
import { SinkBatcher } from './batcher.js';
import { Router, SinkSet } from './router.js';
import type { Sink } from './sink.js';
import { healthPort, startHealthServer } from '../../shared/src/health.js';

const log = createLogger(process.env.EDGE_SOURCE ?? 'data-gateway', process.env.EDGE_LEVEL ?? 'l4');

function createSink(kind: SinkKind, config: GatewayConfig): Sink {
  switch (kind) {
    case 'file':
      return new JsonLinesSink(config.sinkFile, config.fsync);
    case 'postgresql':
      return new PostgresSink({ url: config.postgres.url, table: config.postgres.table }, log);
    case 'eventhubs':
      return new EventHubsSink({ daprHost: config.daprHost, daprHttpPort: config.daprHttpPort, bindingName: config.eventHubs.bindingName });
  }
}

async function main(): Promise<void> {
  const config = readGatewayConfig();
  const sinks = config.sinks.map((kind) => createSink(kind, config));
  for (const sink of sinks) {
    try {
      await sink.open();
    } catch (err) {
      // The file must open (a local disk problem is fatal); a remote store may come up later:
      // writes then wait for it, holding their acknowledgements.
      if (sink.name === 'file') throw err;
      log.warn('sink not reachable at start; messages will wait for it', { sink: sink.name, error: String(err) });
    }
  }
  const batchers = sinks.map((sink) => new SinkBatcher(sink, { ...config.batch[sink.name as SinkKind], retryMaxMs: config.retryMaxMs, holdAlarmMs: config.holdAlarmMs }, log));
  const server = new DaprServer({
    serverHost: config.appHost,
    serverPort: String(config.appPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    // Above the message limit, so an oversized message reaches the router (and the dead-letter
    // topic) instead of a 413 that Dapr would treat as a failed delivery.
    maxBodySizeMb: Math.max(8, Math.ceil((config.maxMessageBytes * 2) / 1_048_576)),
    clientOptions: { daprHost: config.daprHost, daprPort: String(config.daprHttpPort) },
    logger: { level: LogLevel.Error },
  });
  const router = new Router(
    new SinkSet(batchers),
    async (payload) => {
      const { error } = await server.client.pubsub.publish(config.pubsubName, config.deadLetterTopic, payload as unknown as object, RAW_PAYLOAD);
      if (error) throw new Error(`dead-letter publish failed: ${error.message}`);
      log.warn('dead-lettered', { reason: payload.reason });
    },
    { resequenceHoldMs: config.resequenceHoldMs, maxMessageBytes: config.maxMessageBytes },
  );

  const stats = () => ({
    source: config.source,
    ...router.stats,
    resequencer: router.resequencer.stats,
    sinks: Object.fromEntries(batchers.map((b) => [b.sink.name, { ...b.stats, pending: b.pending }])),
  });
  const writeReport = (): void => {
    if (!config.reportFile) return;
    writeFileSync(`${config.reportFile}.tmp`, JSON.stringify(stats()) + '\n');
    renameSync(`${config.reportFile}.tmp`, config.reportFile);
  };

  await server.pubsub.subscribe(config.pubsubName, config.topic, async (data: unknown) => {
    try {
      const outcome = await router.handle(data);
      if (outcome.kind === 'duplicate') log.debug('duplicate skipped', { id: outcome.id });
      return DaprPubSubStatusEnum.SUCCESS;
    } catch (err) {
      // Only a failed dead-letter publish or a shutdown gets here: not stored, not acknowledged.
      log.error('message not stored, asking for redelivery', { error: String(err) });
      return DaprPubSubStatusEnum.RETRY;
    }
  }, undefined, { rawPayload: true }); // the SDK JSON-encodes values: a boolean arrives as "true"

  onShutdown(log, async () => {
    clearInterval(reportTimer);
    // Deliveries in progress finish first (they need the sinks), then the sinks flush and close.
    const stopped = server.stop();
    router.resequencer.flush();
    await stopped;
    await Promise.all(batchers.map((b) => b.close(8_000)));
    writeReport();
    log.info('final stats', stats());
  });

  const reportTimer = setInterval(writeReport, 1000);
  let ready = false;
  startHealthServer(healthPort(), () => ready);
  await server.start();
  ready = true;
  log.info('gateway ready', { sinks: config.sinks, file: config.sinkFile || undefined, topic: config.topic, resequenceHoldMs: config.resequenceHoldMs });
}

runMain(log, main);
