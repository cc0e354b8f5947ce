// The local target's OpenTelemetry Collectors: one per level, each forwarding to its parent's,
// the top one writing <data-dir>/<top>/otelcol/telemetry.jsonl (and optionally exporting OTLP).
// Off unless PlanOptions.otel is set. Ports are allocated like the sidecars' (the topology holds
// none): a workload finds its level's collector through the OTEL_* environment set here.
import { join } from 'node:path';
import { renderOtelCollectorConfig, type OtlpUpstream } from '../config/otel-collector.js';
import { parentFirst, type Level, type Topology, type Workload } from '../topology/model.js';
import type { FileToWrite, ProcessPlan } from './plan.js';

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
  ports: { grpc: number; http: number; metrics: number };
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
  opts: { dataDir: string; hostOf: (level: string) => string; allocatePort: () => Promise<number>; wrap: (level: string, command: string, args: string[]) => { command: string; args: string[] } },
): Promise<CollectorsPlan> {
  const collectors: CollectorPlan[] = [];
  const files: FileToWrite[] = [];
  let telemetryFile = '';
  for (const level of parentFirst(topology)) {
    const dir = join(opts.dataDir, level.name, 'otelcol');
    const host = opts.hostOf(level.name);
    const ports = { grpc: await opts.allocatePort(), http: await opts.allocatePort(), metrics: await opts.allocatePort() };
    // Parent first, so the parent's ports are known here.
    const parent = level.parent === undefined ? undefined : collectors.find((c) => c.level.name === level.parent);
    if (level.parent !== undefined && !parent) throw new Error(`no collector planned for ${level.parent}, the parent of ${level.name}`);
    if (!parent) telemetryFile = join(dir, 'telemetry.jsonl');
    const config = renderOtelCollectorConfig({
      levelName: level.name,
      bindAddress: host,
      ports: { grpc: ports.grpc, http: ports.http },
      ...(parent ? { parent: { host: parent.host, grpcPort: parent.ports.grpc } } : { top: { file: telemetryFile, ...(otel.upstream ? { upstream: otel.upstream } : {}) } }),
      selfMetrics: { host, port: ports.metrics },
    });
    const configFile = join(dir, 'config.yaml');
    files.push({ path: configFile, content: config, secret: false });
    collectors.push({
      level,
      host,
      ports,
      process: { name: `${level.name}/otelcol`, ...opts.wrap(level.name, otel.collectorPath, ['--config', configFile]), env: {}, logFile: join(dir, 'otelcol.log') },
    });
  }
  return { collectors, files, telemetryFile };
}

/** The standard OTel SDK environment that points a workload at its own level's collector. */
export function otelEnv(collector: CollectorPlan, workload: Workload): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://${collector.host}:${collector.ports.http}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_SERVICE_NAME: workload.name,
    OTEL_RESOURCE_ATTRIBUTES: `edge.level=${collector.level.name}`,
  };
}
