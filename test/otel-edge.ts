// The default three-level edge (l4 <- l3 <- l2), on free ports, with a collector per level (unless
// otel: false), and
// readers for what the top level's collector writes (OTLP JSON, one export request per line).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../src/common/proc.js';
import { toolPath } from '../src/common/tools.js';
import { loadOrCreateCredentials } from '../src/config/credentials.js';
import { buildLocalPlan, type LocalPlan } from '../src/local/plan.js';
import { LocalEdge, writePlanFiles } from '../src/local/run.js';
import { ensureBrokerPki, pkiDirOf } from '../src/pki/broker-pki.js';
import { DEFAULT_TOPOLOGY_FILE, parseTopology } from '../src/topology/parse.js';
import type { Cleanup } from './helpers.js';

/**
 * The default topology with its fixed ports (brokers, the OPC UA server) swapped for free ones, so
 * the test never meets another run on this machine; the sensor sends `sensorCount` readings.
 */
export async function startDefaultEdgeWithOtel(c: Cleanup, opts: { sensorCount: number; sensorIntervalMs: number; appEnv?: Record<string, string>; otel?: boolean }): Promise<{ edge: LocalEdge; plan: LocalPlan; dir: string }> {
  const dir = c.dir('otel-edge');
  let text = readFileSync(DEFAULT_TOPOLOGY_FILE, 'utf8');
  const brokerPorts = text.match(/workloadPort: \d+, childPort: \d+/g) ?? [];
  for (const fixed of brokerPorts) text = text.replace(fixed, `workloadPort: ${await freePort()}, childPort: ${await freePort()}`);
  const plcPort = /port: \d+, fastNodes/;
  if (!plcPort.test(text)) throw new Error('the default topology changed: update test/otel-edge.ts');
  text = text.replace(plcPort, `port: ${await freePort()}, fastNodes`);
  text = text.replace(/config: \{ intervalMs: 100 \}/, `config: { intervalMs: ${opts.sensorIntervalMs}, count: ${opts.sensorCount} }`);
  if (brokerPorts.length !== 3 || !text.includes(`count: ${opts.sensorCount}`)) throw new Error('the default topology changed: update test/otel-edge.ts');
  const topology = parseTopology(text, 'default topology, free ports');
  const creds = loadOrCreateCredentials(topology, join(dir, 'secrets', 'credentials.json'));
  const pki = await ensureBrokerPki(topology, pkiDirOf(dir), () => ['127.0.0.1']);
  const plan = await buildLocalPlan(topology, creds, {
    dataDir: dir,
    pki,
    daprdPath: toolPath('daprd'),
    mosquittoPath: toolPath('mosquitto'),
    nodePath: process.execPath,
    hostOf: () => '127.0.0.1',
    runAsUser: process.env.USER ?? 'root',
    allocatePort: freePort,
    ...(opts.otel === false ? {} : { otel: { collectorPath: toolPath('otelcol-edge') } }),
  });
  writePlanFiles(plan);
  for (const w of plan.workloads) Object.assign(w.app.env, opts.appEnv);
  const edge = new LocalEdge(plan, () => undefined);
  c.add(() => edge.stopAll());
  await edge.start();
  return { edge, plan, dir };
}

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };

const valueOf = (v: AnyValue): string | number | boolean | undefined => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue;
const record = (kvs: KeyValue[] | undefined): Record<string, string | number | boolean | undefined> => Object.fromEntries((kvs ?? []).map((a) => [a.key, valueOf(a.value)]));

interface OtlpFileLine {
  resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ scope?: { name?: string }; spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind?: number; attributes?: KeyValue[] }> }> }>;
  resourceMetrics?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeMetrics?: Array<{ metrics?: Array<{ name: string; sum?: { dataPoints?: RawPoint[] }; gauge?: { dataPoints?: RawPoint[] }; histogram?: { dataPoints?: Array<RawPoint & { count?: string | number }> } }> }>;
  }>;
}
type RawPoint = { attributes?: KeyValue[]; asInt?: string | number; asDouble?: number; timeUnixNano?: string; startTimeUnixNano?: string; count?: string | number };

/** The file's complete lines: a collector may be writing the last one while it is read. */
function lines(file: string): OtlpFileLine[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as OtlpFileLine);
}

/** OTLP span kinds, as numbers in OTLP JSON. */
export const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

export interface FlatSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number | undefined;
  scope: string | undefined;
  service: string | undefined;
  level: string | undefined;
  attributes: Record<string, string | number | boolean | undefined>;
}

export function spansIn(file: string): FlatSpan[] {
  return lines(file).flatMap((l) =>
    (l.resourceSpans ?? []).flatMap((rs) => {
      const resource = record(rs.resource?.attributes);
      return (rs.scopeSpans ?? []).flatMap((ss) =>
        (ss.spans ?? []).map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId || undefined,
          name: s.name,
          kind: s.kind,
          scope: ss.scope?.name,
          service: resource['service.name'] as string | undefined,
          level: resource['edge.level'] as string | undefined,
          attributes: record(s.attributes),
        })),
      );
    }),
  );
}

export interface MetricPoint {
  name: string;
  service: string | undefined;
  level: string | undefined;
  attributes: Record<string, string | number | boolean | undefined>;
  /** A sum's or gauge's value; a histogram's count. */
  value: number;
  time: bigint;
  start: bigint;
}

export function metricPointsIn(file: string): MetricPoint[] {
  return lines(file).flatMap((l) =>
    (l.resourceMetrics ?? []).flatMap((rm) => {
      const resource = record(rm.resource?.attributes);
      return (rm.scopeMetrics ?? []).flatMap((sm) =>
        (sm.metrics ?? []).flatMap((m) => {
          const points = [...(m.sum?.dataPoints ?? []), ...(m.gauge?.dataPoints ?? []), ...(m.histogram?.dataPoints ?? [])];
          return points.map((p) => ({
            name: m.name,
            service: resource['service.name'] as string | undefined,
            level: resource['edge.level'] as string | undefined,
            attributes: record(p.attributes),
            value: m.histogram ? Number(p.count ?? 0) : Number(p.asInt ?? p.asDouble ?? NaN),
            time: BigInt(p.timeUnixNano ?? '0'),
            start: BigInt(p.startTimeUnixNano ?? '0'),
          }));
        }),
      );
    }),
  );
}

/**
 * Totals of a cumulative counter: the latest point of each series (resource + attributes), summed
 * per `groupBy` key. Points are cumulative, so the latest one is the series' total.
 */
export function counterTotals(points: MetricPoint[], name: string, groupBy: (p: MetricPoint) => string): Record<string, number> {
  const latest = new Map<string, MetricPoint>();
  for (const p of points.filter((x) => x.name === name)) {
    const series = JSON.stringify([p.service, p.level, p.start.toString(), Object.entries(p.attributes).sort()]);
    const prev = latest.get(series);
    if (!prev || p.time > prev.time) latest.set(series, p);
  }
  const totals: Record<string, number> = {};
  for (const p of latest.values()) totals[groupBy(p)] = (totals[groupBy(p)] ?? 0) + p.value;
  return totals;
}
