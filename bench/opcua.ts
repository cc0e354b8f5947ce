// OPC UA values/s: opc-plc with many fast nodes -> opc-publisher -> its daprd -> L2 -> L3 -> L4
// broker -> daprd -> data gateway -> file sink, on the local target. Each step offers
// nodes x (1000 / rateMs) value changes per second; the figure is the highest rate delivered with
// zero loss: every message the publisher's sidecar acknowledged is in the sink (the run's
// accounting), no counter value is missing in between (loss before the sidecar), nothing dropped
// by the publisher's queue, and the pipeline keeps up (p99 source-to-sink latency bounded).
// Prints a table and writes bench/results/opcua.json. A benchmark: it asserts nothing.
//   node dist/bench/opcua.js [--quick] [--nodes N --rate-ms R --batch-size B --batch-interval-ms I --seconds S] [--keep]
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalEdge } from '../src/local/run.js';
import type { LocalPlan } from '../src/local/plan.js';
import type { RunSummary, SourceSummary } from '../src/local/summary.js';
import { cpuPercent, cpuSeconds, freePorts, machine, newEdge, peakRss, percentile, planFor, stopEdge, versions, writeResult } from './harness.js';
import { analyseOpcSink } from './opcua-sink.js';
import { TARGETS } from './targets.js';

/** Above this p99 (SourceTimestamp -> sink) the pipeline is falling behind, not keeping up. */
const LAG_LIMIT_MS = 2_000;
/** StepUp, AlternatingBoolean, RandomSignedInt32, RandomUnsignedInt32 tick on the fast clock too. */
const SPECIAL_FAST_NODES = 4;
/** Time for the subscription to settle before the window opens. */
const WARMUP_S = 3;

interface Step {
  nodes: number;
  rateMs: number;
  batchSize: number;
  batchIntervalMs: number;
}

interface Args {
  quick: boolean;
  steps: Step[];
  seconds: number;
}

function flag(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = Number(process.argv[i + 1]);
  if (!(value > 0)) throw new Error(`--${name} needs a positive number, got ${JSON.stringify(process.argv[i + 1])}`);
  return value;
}

/**
 * The publisher's own default (50 values or 1 s per network message) suits a handful of nodes; at
 * thousands of values a second it means a thousand sequential sidecar publishes a second, and
 * the publisher falls behind (measured: p99 9 s at 5,000 nodes / 100 ms). 500 values (about
 * 55 KB, well under the brokers' and gateway's 256 KB) keep it near 100 messages a second.
 */
const BATCH = { size: 500, intervalMs: 200 };

function readArgs(): Args {
  const quick = process.argv.includes('--quick');
  const seconds = flag('seconds') ?? (quick ? 6 : 20);
  const batchIntervalMs = flag('batch-interval-ms') ?? BATCH.intervalMs;
  const nodes = flag('nodes');
  if (nodes !== undefined) return { quick, seconds, steps: [{ nodes, rateMs: flag('rate-ms') ?? 100, batchSize: flag('batch-size') ?? BATCH.size, batchIntervalMs }] };
  // [fast nodes, clock ms, values per message]; the last full step shows the default batching
  const plan: Array<[number, number, number]> = quick
    ? [[3000, 100, BATCH.size]]
    : [[1000, 100, BATCH.size], [2000, 100, BATCH.size], [3000, 100, BATCH.size], [5000, 200, BATCH.size], [5000, 100, BATCH.size], [5000, 100, 50]];
  return { quick, seconds, steps: plan.map(([n, rateMs, batchSize]) => ({ nodes: n, rateMs, batchSize, batchIntervalMs })) };
}

async function topologyText(step: Step): Promise<string> {
  const [l4w, l4c, l3w, l3c, l2w, l2c, opc] = await freePorts(7);
  return `name: bench-opcua
levels:
  - { name: l4, isa95: 4, broker: { workloadPort: ${l4w}, childPort: ${l4c} }, workloads: [ { type: data-gateway } ] }
  - { name: l3, isa95: 3, parent: l4, broker: { workloadPort: ${l3w}, childPort: ${l3c} } }
  - name: l2
    isa95: 2
    parent: l3
    broker: { workloadPort: ${l2w}, childPort: ${l2c} }
    workloads:
      - { type: opc-plc, config: { port: ${opc}, fastNodes: ${step.nodes}, fastRateMs: ${step.rateMs}, slowNodes: 0, anomalies: false } }
      - { type: opc-publisher, config: { endpointWorkload: opc-plc, batchSize: ${step.batchSize}, batchIntervalMs: ${step.batchIntervalMs} } }
`;
}

interface PublisherStats {
  values: number;
  messages: number;
  published: number;
  dropped: number;
}

/** The publisher logs its pipeline's counters once, when it stops. */
function publisherStats(plan: LocalPlan): PublisherStats | undefined {
  const log = plan.workloads.find((w) => w.workload.type === 'opc-publisher')?.app.logFile;
  if (!log || !existsSync(log)) return undefined;
  for (const line of readFileSync(log, 'utf8').split('\n').reverse()) {
    if (!line.includes('"pipeline stopped"')) continue;
    const { values, messages, published, dropped } = JSON.parse(line) as PublisherStats;
    return { values, messages, published, dropped };
  }
  return undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sleeps `ms`, failing early if a process of the run died. */
async function watchedSleep(edge: LocalEdge, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    edge.check();
    await sleep(Math.min(250, until - Date.now()));
  }
}

async function runStep(step: Step, seconds: number) {
  const dir = join(tmpdir(), `edge-bench-opcua-${process.pid}-${step.nodes}-${step.rateMs}-${step.batchSize}`);
  const plan = await planFor(dir, await topologyText(step), 'info');
  const edge = newEdge(plan);
  try {
    await edge.start();
    await waitForFirstAck(edge);
    await watchedSleep(edge, WARMUP_S * 1000);
    const cpuBefore = cpuSeconds(edge.processes());
    const from = Date.now();
    await watchedSleep(edge, seconds * 1000);
    const to = Date.now();
    const windowS = (to - from) / 1000;
    const cpu = cpuPercent(cpuBefore, cpuSeconds(edge.processes()), windowS);
    const rss = peakRss(edge.processes());
    await edge.stopProducers();
    const drainS = await edge.drain(60_000);
    const summary = edge.accounting.summary(plan.opcGroups);
    const sink = await analyseOpcSink(plan.sinkFile, { from, to });
    const fastNodes = step.nodes + SPECIAL_FAST_NODES;
    const publisher = publisherStats(plan);
    const latency = { p50: percentile(sink.latenciesMs, 50), p90: percentile(sink.latenciesMs, 90), p99: percentile(sink.latenciesMs, 99), max: sink.latenciesMs.at(-1) ?? null };
    // no stats: the publisher did not stop cleanly (killed after its grace), so nothing is vouched for
    const zeroLoss = summary.lost === 0 && sink.missedChanges === 0 && (publisher?.dropped ?? 1) === 0;
    const keptUp = latency.p99 !== null && latency.p99 < LAG_LIMIT_MS;
    return {
      ...step,
      fastNodes,
      offeredValuesPerS: Math.round((fastNodes * 1000) / step.rateMs),
      plcValuesPerS: Math.round((sink.ticksInWindow * fastNodes) / windowS),
      deliveredValuesPerS: Math.round(sink.valuesInWindow / windowS),
      windowS: +windowS.toFixed(1),
      drainS: +drainS.toFixed(1),
      messages: { acknowledged: summary.sent, delivered: summary.delivered, lost: summary.lost, duplicates: summary.duplicates, firstMissingSeq: firstMissing(summary) },
      values: { inSink: sink.values, inWindow: sink.valuesInWindow, missedChanges: sink.missedChanges, duplicates: sink.duplicateValues, counterNodes: sink.counterNodes },
      publisher: publisher ?? null,
      latencyMs: latency,
      cpuPercent: cpu,
      peakRssMb: rss,
      zeroLoss,
      keptUp,
    };
  } finally {
    await stopEdge(edge);
    if (process.argv.includes('--keep')) process.stderr.write(` (kept ${dir})`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** The publisher subscribes to thousands of nodes before its first message: wait for it. */
async function waitForFirstAck(edge: LocalEdge): Promise<void> {
  const until = Date.now() + 60_000;
  while (!(edge.readReports()[0]?.acknowledged ?? 0)) {
    if (Date.now() > until) throw new Error('the publisher had no message acknowledged within 60 s');
    await watchedSleep(edge, 200);
  }
}

/** Where a loss starts, to look for in the logs (kept with --keep). */
function firstMissing(summary: RunSummary): number | null {
  const source = Object.values(summary.per_source).find((s): s is SourceSummary => 'sent' in s);
  return source?.firstMissing ?? null;
}

type StepFigures = Awaited<ReturnType<typeof runStep>>;

function table(steps: StepFigures[]): string {
  const rows = steps.map(
    (s) =>
      `| ${s.nodes} + ${SPECIAL_FAST_NODES} | ${s.rateMs} | ${s.offeredValuesPerS} | ${s.plcValuesPerS} | ${s.deliveredValuesPerS} | ${s.messages.lost} / ${s.values.missedChanges} / ${s.publisher?.dropped ?? '?'} | ${s.latencyMs.p50} / ${s.latencyMs.p99} | ${s.cpuPercent['l2/opc-plc'] ?? '?'} / ${s.cpuPercent['l2/opc-publisher'] ?? '?'} / ${s.cpuPercent['l2/opc-publisher/daprd'] ?? '?'} | ${s.zeroLoss && s.keptUp ? 'yes' : 'no'} |`,
  );
  return [
    '| fast nodes | rate ms | offered values/s | PLC values/s | delivered values/s | lost msgs / missed values / dropped msgs | p50/p99 ms | CPU % plc / publisher / its daprd | 0 loss, kept up |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const args = readArgs();
  const steps: StepFigures[] = [];
  for (const step of args.steps) {
    process.stderr.write(`opc ua: ${step.nodes} nodes every ${step.rateMs} ms (batches of ${step.batchSize})...`);
    const figures = await runStep(step, args.seconds);
    process.stderr.write(` ${figures.deliveredValuesPerS} values/s, lost ${figures.messages.lost} msgs, missed ${figures.values.missedChanges} values, p99 ${figures.latencyMs.p99} ms\n`);
    steps.push(figures);
  }
  const sustained = Math.max(0, ...steps.filter((s) => s.zeroLoss && s.keptUp).map((s) => s.deliveredValuesPerS));
  const result = {
    benchmark: 'opcua',
    at: new Date().toISOString(),
    machine: machine(),
    versions: versions(),
    parameters: { quick: args.quick, secondsPerStep: args.seconds, warmupS: WARMUP_S, lagLimitMs: LAG_LIMIT_MS, steps: args.steps, qos: 1, sink: 'file (fdatasync before ack)', security: 'None', path: 'opc-plc -> opc-publisher -> daprd -> l2 -> l3 -> l4 -> daprd -> data-gateway -> file' },
    valuesPerS: { sustainedWithZeroLoss: sustained, target: TARGETS.opcuaValuesPerS, met: sustained >= TARGETS.opcuaValuesPerS },
    steps,
  };
  writeResult('opcua', result);
  process.stdout.write(table(steps) + '\n');
  process.stdout.write(`OPC UA values/s delivered with 0 loss: ${sustained} (target >= ${TARGETS.opcuaValuesPerS})\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`opcua bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
