import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvReader } from '../../shared/src/env.js';
import { COUNTER_TYPES, type CounterType } from './simulation.js';

/** The port when OPC_PORT is not given (the port Microsoft's opc-plc listens on). */
export const DEFAULT_OPC_PORT = 50000;

export const SECURITY_MODES = ['None', 'SignAndEncrypt'] as const;
export type SecurityModeName = (typeof SECURITY_MODES)[number];

export interface ClockConfig {
  /** How many counter nodes run on this clock. */
  count: number;
  rateMs: number;
  type: CounterType;
}

export interface PlcConfig {
  /** Instance name: the DataSetWriterGroup of the emitted publishednodes.json. */
  source: string;
  levelName: string;
  port: number;
  /** The host name advertised in the endpoint url. */
  hostname: string;
  /** The address the server listens on. */
  bindHost: string;
  security: SecurityModeName;
  /** node-opcua's PKI store (own/, trusted/, rejected/, issuers/). */
  pkiDir: string;
  /** Trust client certificates not (yet) in pkiDir/trusted: a simulator convenience. */
  autoAcceptCertificates: boolean;
  fast: ClockConfig;
  slow: ClockConfig;
  /** Adds SpikeData, DipData, PositiveTrendData and NegativeTrendData. */
  anomalies: boolean;
  /** If set, a publishednodes.json matching this server is written here at startup. */
  publishedNodesFile?: string;
}

export const PLC_USAGE = `opc-plc: an OPC UA PLC simulator (node-opcua server).

Usage: node workloads/opc-plc/src/main.js [--help]

Configuration (environment):
  OPC_PORT                  TCP port (default 50000)
  OPC_HOSTNAME              host name advertised in the endpoint url (default 127.0.0.1)
  OPC_BIND_HOST             address to listen on (default: OPC_HOSTNAME; 0.0.0.0 in a container)
  OPC_SECURITY              None | SignAndEncrypt (Basic256Sha256) (default None)
  OPC_PKI_DIR               PKI store, one per instance; required with SignAndEncrypt
                            (default $TMPDIR/nested-edge-pki/<EDGE_SOURCE>)
  OPC_AUTO_ACCEPT           trust unknown client certificates (default false; else move them
                            from <pki>/rejected to <pki>/trusted/certs)
  PLC_FAST_NODES            number of fast counter nodes (default 5)
  PLC_FAST_RATE_MS          fast clock period (default 1000); also drives StepUp, AlternatingBoolean,
                            the random and the anomaly nodes
  PLC_FAST_TYPE             UInt | Double | Bool (default UInt)
  PLC_SLOW_NODES            number of slow counter nodes (default 5)
  PLC_SLOW_RATE_MS          slow clock period (default 10000)
  PLC_SLOW_TYPE             UInt | Double | Bool (default UInt)
  PLC_ANOMALIES             add SpikeData, DipData, PositiveTrendData, NegativeTrendData (default true)
  PLC_PUBLISHED_NODES_FILE  write a matching publishednodes.json here at startup
  EDGE_SOURCE               instance name, the DataSetWriterGroup (default opc-plc)
  EDGE_LEVEL                ISA-95 level name for the logs (default l2)

Nodes: ns=<urn:nested-edge:opc-plc>;s=Fast<Type><n>, s=Slow<Type><n>, s=StepUp,
s=AlternatingBoolean, s=RandomSignedInt32, s=RandomUnsignedInt32, s=SpikeData, s=DipData,
s=PositiveTrendData, s=NegativeTrendData, under Objects/OpcPlc/Telemetry.
`;

export function readPlcConfig(env: NodeJS.ProcessEnv = process.env): PlcConfig {
  const r = new EnvReader(env);
  const hostname = r.string('OPC_HOSTNAME', '127.0.0.1');
  const security = r.oneOf('OPC_SECURITY', SECURITY_MODES, 'None');
  const pkiDir = r.optionalString('OPC_PKI_DIR');
  if (security === 'SignAndEncrypt' && pkiDir === undefined) {
    r.problems.push('OPC_PKI_DIR is required with OPC_SECURITY=SignAndEncrypt: give a persistent, writable directory for the certificates and trust lists');
  }
  const source = r.string('EDGE_SOURCE', 'opc-plc');
  const config: PlcConfig = {
    source,
    levelName: r.string('EDGE_LEVEL', 'l2'),
    port: r.int('OPC_PORT', DEFAULT_OPC_PORT, 1, 65535),
    hostname,
    bindHost: r.string('OPC_BIND_HOST', hostname),
    security,
    // one store per instance: the certificate carries the application uri, which has the name in it
    pkiDir: pkiDir ?? join(tmpdir(), 'nested-edge-pki', source),
    autoAcceptCertificates: r.bool('OPC_AUTO_ACCEPT', false),
    fast: {
      count: r.int('PLC_FAST_NODES', 5, 0, 100_000),
      rateMs: r.int('PLC_FAST_RATE_MS', 1000, 10, 86_400_000),
      type: r.oneOf('PLC_FAST_TYPE', COUNTER_TYPES, 'UInt'),
    },
    slow: {
      count: r.int('PLC_SLOW_NODES', 5, 0, 100_000),
      rateMs: r.int('PLC_SLOW_RATE_MS', 10000, 10, 86_400_000),
      type: r.oneOf('PLC_SLOW_TYPE', COUNTER_TYPES, 'UInt'),
    },
    anomalies: r.bool('PLC_ANOMALIES', true),
    publishedNodesFile: r.optionalString('PLC_PUBLISHED_NODES_FILE'),
  };
  r.done();
  return config;
}
