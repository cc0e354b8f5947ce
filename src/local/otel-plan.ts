// The local target's OpenTelemetry Collectors: one per level, each forwarding to its parent's,
// the top one writing <data-dir>/<top>/otelcol/telemetry.jsonl (and optionally exporting OTLP).
// Off unless PlanOptions.otel is set. Ports are allocated like the sidecars' (the topology holds
// none): a workload finds its level's collector through the OTEL_* environment set here.
// A child's collector delivers to its parent's child receiver (one per child listener address,
// as the broker's) with mTLS: the parent presents its level's broker server certificate (it names
// exactly the addresses children dial), the child its bridge client certificate; one PKI per
// install, one trust decision per link.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderOtelCollectorConfig, type OtlpUpstream } from '../config/otel-collector.js';
import { METRIC_EXPORT_INTERVAL_MS, workloadOtelEnv } from '../config/otel-env.js';
import type { BrokerPki } from '../pki/broker-pki.js';
import { parentFirst, type Level, type Topology, type Workload } from '../topology/model.js';
import type { FileToWrite, ProcessPlan } from './plan.js';

export { METRIC_EXPORT_INTERVAL_MS };

export interface OtelOptions {
  /** The otelcol-edge binary (tools/build-otelcol.sh). */
  collectorPath: string;
  /** Where the top level's collector also sends everything, besides its file. */
  upstream?: OtlpUpstream;
}

export interface CollectorPlan {
  level: Level;
  /** Where its OTLP receivers and its own metrics (/metrics) listen. */
  host: string;
  /** `children`: the child receivers' port (on each child listener address), when it has children. */
  ports: { grpc: number; http: number; metrics: number; children?: number };
  /** Its own level's metrics, for `edge status` (OTLP JSON lines, rotated). */
  levelMetricsFile: string;
  process: ProcessPlan;
}

export interface CollectorsPlan {
  /** Parent first. */
  collectors: CollectorPlan[];
  files: FileToWrite[];
  /** What the top level's collector writes (OTLP JSON lines). */
  telemetryFile: string;
}

export async function planCollectors(
  topology: Topology,
  otel: OtelOptions,
  opts: {
    dataDir: string;
    hostOf: (level: string) => string;
    /** Where a level's children reach it (its broker's child listener addresses). */
    childHostsOf: (level: string) => string[];
    /** The address a child dials to reach its parent. */
    parentAddressOf: (child: string, parent: string) => string;
    pki: BrokerPki;
    allocatePort: () => Promise<number>;
    wrap: (level: string, command: string, args: string[]) => { command: string; args: string[] };
  },
): Promise<CollectorsPlan> {
  const collectors: CollectorPlan[] = [];
  const files: FileToWrite[] = [];
  let telemetryFile = '';
  for (const level of parentFirst(topology)) {
    const dir = join(opts.dataDir, level.name, 'otelcol');
    const host = opts.hostOf(level.name);
    const hasChildren = topology.levels.some((l) => l.parent === level.name);
    const ports = { grpc: await opts.allocatePort(), http: await opts.allocatePort(), metrics: await opts.allocatePort(), ...(hasChildren ? { children: await opts.allocatePort() } : {}) };
    // Parent first, so the parent's ports are known here.
    const parent = level.parent === undefined ? undefined : collectors.find((c) => c.level.name === level.parent);
    if (level.parent !== undefined && !parent) throw new Error(`no collector planned for ${level.parent}, the parent of ${level.name}`);
    if (!parent) telemetryFile = join(dir, 'telemetry.jsonl');
    const tls = opts.pki.levels[level.name];
    if (!tls) throw new Error(`the broker PKI has no certificates for level ${level.name}`);
    const levelMetricsFile = join(dir, 'level-metrics.jsonl');
    let toParent: { host: string; grpcPort: number; tls: { ca: string; cert: string; key: string } } | undefined;
    if (parent) {
      if (!tls.bridge || parent.ports.children === undefined) throw new Error(`level ${level.name} has a parent but no client certificate or parent child receiver`);
      toParent = { host: opts.parentAddressOf(level.name, parent.level.name), grpcPort: parent.ports.children, tls: { ca: opts.pki.trustFile, ...tls.bridge } };
    }
    const config = renderOtelCollectorConfig({
      levelName: level.name,
      bindAddress: host,
      ports: { grpc: ports.grpc, http: ports.http },
      ...(toParent ? { parent: toParent } : { top: { file: telemetryFile, ...(otel.upstream ? { upstream: otel.upstream } : {}) } }),
      ...(ports.children !== undefined ? { children: { hosts: opts.childHostsOf(level.name), port: ports.children, tls: { ca: opts.pki.trustFile, ...tls.server } } } : {}),
      levelMetricsFile,
      selfMetrics: { host, port: ports.metrics },
    });
    const configFile = join(dir, 'config.yaml');
    files.push({ path: configFile, content: config, secret: false });
    collectors.push({
      level,
      host,
      ports,
      levelMetricsFile,
      process: { name: `${level.name}/otelcol`, ...opts.wrap(level.name, otel.collectorPath, ['--config', configFile]), env: {}, logFile: join(dir, 'otelcol.log') },
    });
  }
  return { collectors, files, telemetryFile };
}

/** The standard OTel SDK environment that points a workload at its own level's collector. */
export function otelEnv(collector: CollectorPlan, workload: Workload): Record<string, string> {
  return workloadOtelEnv({ endpoint: `http://${collector.host}:${collector.ports.http}`, serviceName: workload.name, level: collector.level.name });
}

export interface BrokerExporterPlan {
  level: Level;
  process: ProcessPlan;
}

const EXPORTER_MAIN = fileURLToPath(new URL('../telemetry/broker-exporter-main.js', import.meta.url));

/**
 * A level's broker exporter: $SYS of its broker (as the monitor user) to its own collector. The
 * monitor password goes to a 0600 file beside it, never to argv or the environment.
 */
export function planBrokerExporter(
  collector: CollectorPlan,
  broker: { host: string; port: number; username: string; password: string },
  opts: { dataDir: string; nodePath: string; bridge?: { clientId: string; parent: string; peer: string }; wrap: (level: string, command: string, args: string[]) => { command: string; args: string[] } },
): { exporter: BrokerExporterPlan; files: FileToWrite[] } {
  const level = collector.level;
  const dir = join(opts.dataDir, level.name, 'broker-exporter');
  const passwordFile = join(dir, 'monitor-password');
  const env: Record<string, string> = {
    EDGE_LEVEL: level.name,
    EDGE_BROKER_URL: `mqtt://${broker.host}:${broker.port}`,
    EDGE_MONITOR_USERNAME: broker.username,
    EDGE_MONITOR_PASSWORD_FILE: passwordFile,
    EDGE_OTLP_METRICS_URL: `http://${collector.host}:${collector.ports.http}/v1/metrics`,
    EDGE_EXPORT_INTERVAL_MS: String(METRIC_EXPORT_INTERVAL_MS),
    ...(opts.bridge ? { EDGE_BRIDGE_CLIENT_ID: opts.bridge.clientId, EDGE_BRIDGE_PARENT: opts.bridge.parent, EDGE_BRIDGE_PEER: opts.bridge.peer } : {}),
  };
  return {
    exporter: { level, process: { name: `${level.name}/broker-exporter`, ...opts.wrap(level.name, opts.nodePath, [EXPORTER_MAIN]), env, logFile: join(dir, 'broker-exporter.log') } },
    files: [{ path: passwordFile, content: `${broker.password}\n`, secret: true }],
  };
}
