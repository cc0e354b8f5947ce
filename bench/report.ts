// From the benchmarks' JSON to what a reader looks at: the latency CDF and throughput plots
// (SVG) and summary.md, every figure beside its target with pass or FAIL. Pure: results in,
// text out; write-report.ts does the reading and writing.
import { lineChartSvg, LOG_FLOOR, PALETTE, type LineChart, type Series } from './svg.js';
import { TARGETS } from './targets.js';

export interface Machine {
  cores: number;
  cpu?: string;
  memoryGiB: number;
  kernel?: string;
}

interface Common {
  at: string;
  machine?: Machine;
  versions?: Record<string, string>;
}

export interface LatencyRun {
  offeredPerS: number;
  achievedPerS: number;
  lost: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  /** p1..p100 (older results have none: no CDF then). */
  latencyPercentilesMs?: number[];
  peakRssMb?: Record<string, number>;
}

export interface PipelineResult extends Common {
  parameters: { quick?: boolean };
  p1: {
    pipelineMsgPerS: number;
    rawChainMsgPerS: number;
    ratio: number | null;
    /** What "sustained" required (older results: 0 loss and >= 95 % of the offered rate). */
    sustainedMeans?: string;
    /** The runs above the latency table's rates, each series until one was not sustained. */
    search?: { pipeline: LatencyRun[]; raw: LatencyRun[] };
    /** The offered rate at which each series' climb stopped (not sustained); null: never stopped. */
    notSustainedAt?: { pipeline: number | null; raw: number | null };
  };
  /** `rate`: the offered msg/s the footprint was measured at. */
  p3: { rate: number | null; peakRssMb: Record<string, number> };
  runs: Array<{ rate: number; pipeline: LatencyRun; raw: LatencyRun }>;
}

export interface InstallResult extends Common {
  figures: { installS?: number; noopUpgradeS?: number; uninstallS?: number };
}

export interface OpcuaStep {
  nodes: number;
  rateMs: number;
  batchSize: number;
  offeredValuesPerS: number;
  deliveredValuesPerS: number;
  messages: { lost: number };
  values: { missedChanges: number };
  publisher: { dropped: number } | null;
  latencyMs: { p50: number | null; p99: number | null };
  zeroLoss: boolean;
  keptUp: boolean;
}

export interface OpcuaResult extends Common {
  parameters: { quick?: boolean };
  valuesPerS: { sustainedWithZeroLoss: number };
  steps: OpcuaStep[];
}

export interface BenchResults {
  pipeline?: PipelineResult;
  install?: InstallResult;
  opcua?: OpcuaResult;
}

/** The percentiles drawn: p100 is the single worst sample and would squash the rest. */
const CDF_PERCENTILES = 99;

export function latencyCdfChart(pipeline: PipelineResult): LineChart | undefined {
  const runs = pipeline.runs.filter((r) => r.pipeline.latencyPercentilesMs?.length && r.raw.latencyPercentilesMs?.length);
  if (runs.length === 0) return undefined;
  const cdf = (pcts: number[]): Array<[number, number]> => pcts.slice(0, CDF_PERCENTILES).map((ms, i) => [ms, i + 1]);
  // one colour per rate: the pipeline solid, the raw chain dashed
  const series: Series[] = runs.flatMap((r, i) => [
    { name: `pipeline, ${r.rate} msg/s`, points: cdf(r.pipeline.latencyPercentilesMs!), color: PALETTE[i % PALETTE.length] },
    { name: `raw chain, ${r.rate} msg/s`, points: cdf(r.raw.latencyPercentilesMs!), color: PALETTE[i % PALETTE.length], dashed: true },
  ]);
  return { title: 'End-to-end latency CDF (p1-p99)', xLabel: `latency (ms, log scale; under ${LOG_FLOOR} ms drawn at ${LOG_FLOOR})`, yLabel: 'percentile', series, yMax: 100, xScale: 'log', legend: 'bottom-right' };
}

/** Offered vs achieved of one series: the latency table's runs and the search's, by rate. */
function pointsOf(pipeline: PipelineResult, key: 'pipeline' | 'raw'): Array<[number, number]> {
  const runs = [...pipeline.runs.map((r) => r[key]), ...(pipeline.p1.search?.[key] ?? [])];
  return runs.map((r): [number, number] => [r.offeredPerS, r.achievedPerS]).sort((a, b) => a[0] - b[0]);
}

export function throughputChart(pipeline: PipelineResult): LineChart | undefined {
  if (pipeline.runs.length === 0) return undefined;
  const maxRate = Math.max(...pointsOf(pipeline, 'pipeline').map(([x]) => x), ...pointsOf(pipeline, 'raw').map(([x]) => x));
  return {
    title: 'Throughput vs offered rate',
    xLabel: 'offered (msg/s)',
    yLabel: 'achieved (msg/s)',
    series: [
      { name: 'pipeline', points: pointsOf(pipeline, 'pipeline'), markers: true },
      { name: 'raw chain', points: pointsOf(pipeline, 'raw'), markers: true },
      { name: 'y = x (all offered)', points: [[0, 0], [maxRate, maxRate]], color: '#888888', dashed: true },
    ],
    legend: 'top-left',
  };
}

/** The plots to write, by file name (none without pipeline results). */
export function charts(results: BenchResults): Record<string, string> {
  const out: Record<string, string> = {};
  const cdf = results.pipeline && latencyCdfChart(results.pipeline);
  const throughput = results.pipeline && throughputChart(results.pipeline);
  if (cdf) out['latency-cdf.svg'] = lineChartSvg(cdf);
  if (throughput) out['throughput.svg'] = lineChartSvg(throughput);
  return out;
}

export const PASS = 'pass';
export const FAIL = '**FAIL**';
/** A cell with no target or no figure. */
export const NONE = '—';

function verdict(ok: boolean | undefined): string {
  return ok === undefined ? NONE : ok ? PASS : FAIL;
}

function fmt(v: number | null | undefined, digits = 0): string {
  return v === null || v === undefined ? NONE : v.toFixed(digits);
}

function row(cells: Array<string | number>): string {
  return `| ${cells.join(' | ')} |`;
}

function table(header: string[], rows: Array<Array<string | number>>): string[] {
  return [row(header), row(header.map(() => '---')), ...rows.map(row)];
}

function runNote(r: Common & { parameters?: { quick?: boolean } }, file: string): string {
  return `From \`bench/results/${file}\`, ${r.at}${r.parameters?.quick ? ' (quick run: short windows, fewer steps; indicative only)' : ''}.`;
}

function notRun(file: string, command: string): string[] {
  return [`Not run: no \`bench/results/${file}\` (\`${command}\`).`];
}

/** `l2/sensor-0` is a workload; `l2/sensor-0/daprd` its sidecar, `l2/mosquitto` a broker. */
function isWorkload(processName: string): boolean {
  return !/\/(daprd|mosquitto)$/.test(processName);
}

/** Where a series' ceiling lies: below the rate its climb stopped at, or above every rate tried. */
export function ceilingNote(p1: PipelineResult['p1'], key: 'pipeline' | 'raw'): string {
  const stoppedAt = p1.notSustainedAt?.[key];
  if (stoppedAt) return ` (not sustained at ${stoppedAt}: the ceiling lies between)`;
  if (p1.notSustainedAt) return ' (the highest rate tried: its ceiling is higher)';
  // Older results without notSustainedAt: only the search's own runs are known.
  const last = p1.search?.[key].at(-1);
  const best = key === 'pipeline' ? p1.pipelineMsgPerS : p1.rawChainMsgPerS;
  return last && last.achievedPerS === best ? ' (the highest rate tried: its ceiling is higher)' : '';
}

function pipelineSections(p: PipelineResult | undefined): string[] {
  const hasCdf = p !== undefined && latencyCdfChart(p) !== undefined;
  if (!p) return ['## P1 throughput, P2 latency, P3 footprint', '', ...notRun('pipeline.json', 'npm run bench')];
  const at = p.runs.find((r) => r.rate === TARGETS.p2.rate);
  const rss = Object.entries(p.p3.peakRssMb);
  return [
    '## P1 throughput: full pipeline vs raw bridge chain',
    '',
    runNote(p, 'pipeline.json') + ` Sustained: the highest rate with ${p.p1.sustainedMeans ?? '0 loss, >= 95 % of the offered rate taken'}${p.p1.search ? '; each series climbs the offered rate until one is not' : ''}.`,
    '',
    ...table(
      ['figure', 'measured', 'target', 'result'],
      [
        ['pipeline msg/s sustained', `${p.p1.pipelineMsgPerS}${ceilingNote(p.p1, 'pipeline')}`, NONE, NONE],
        ['raw chain msg/s sustained', `${p.p1.rawChainMsgPerS}${ceilingNote(p.p1, 'raw')}`, NONE, NONE],
        ['pipeline / raw chain', fmt(p.p1.ratio, 2), `>= ${TARGETS.p1MinRatio}`, verdict(p.p1.ratio === null ? undefined : p.p1.ratio >= TARGETS.p1MinRatio)],
      ],
    ),
    '',
    '![throughput vs offered rate](throughput.svg)',
    '',
    '## P2 latency (end to end, ms)',
    '',
    ...table(
      ['offered msg/s', 'pipeline p50 / p90 / p99', 'raw chain p50 / p90 / p99', 'lost (pipeline / raw)', 'target', 'result'],
      p.runs.map((r) => {
        const judged = r.rate === TARGETS.p2.rate;
        return [
          r.rate,
          `${fmt(r.pipeline.p50Ms)} / ${fmt(r.pipeline.p90Ms)} / ${fmt(r.pipeline.p99Ms)}`,
          `${fmt(r.raw.p50Ms)} / ${fmt(r.raw.p90Ms)} / ${fmt(r.raw.p99Ms)}`,
          `${r.pipeline.lost} / ${r.raw.lost}`,
          judged ? `pipeline p99 < ${TARGETS.p2.p99MaxMs}` : NONE,
          judged ? verdict(r.pipeline.p99Ms !== null && r.pipeline.p99Ms < TARGETS.p2.p99MaxMs) : NONE,
        ];
      }),
    ),
    ...(at ? [] : ['', `No run at ${TARGETS.p2.rate} msg/s: the P2 target is not judged.`]),
    '',
    hasCdf ? '![latency CDF](latency-cdf.svg)' : 'No latency CDF: these results have no percentiles (run the benchmark again).',
    '',
    `## P3 footprint: peak RSS per process at ${p.p3.rate ?? '?'} msg/s (MB)`,
    '',
    'The target is for the workloads; their Dapr sidecars and the brokers are recorded beside them.',
    '',
    ...table(
      ['process', 'peak RSS MB', 'target', 'result'],
      rss.map(([name, mb]) => (isWorkload(name) ? [name, mb, `<= ${TARGETS.p3MaxRssMb}`, verdict(mb <= TARGETS.p3MaxRssMb)] : [name, mb, NONE, NONE])),
    ),
  ];
}

function installSection(i: InstallResult | undefined, skippedInQuick: boolean): string[] {
  const skipped = skippedInQuick ? ['Skipped in --quick (`npm run bench:install` measures it)' + (i ? '; the figures below are from an earlier run.' : '.'), ''] : [];
  if (!i) return ['## P4 install time', '', ...skipped, ...notRun('install-time.json', 'npm run bench:install')];
  const f = i.figures;
  return [
    '## P4 install time (seconds)',
    '',
    ...skipped,
    runNote(i, 'install-time.json'),
    '',
    ...table(
      ['step', 'seconds', 'target', 'result'],
      [
        ['install (platform + app, 3 levels)', fmt(f.installS, 1), `< ${TARGETS.p4.installS}`, verdict(f.installS === undefined ? undefined : f.installS < TARGETS.p4.installS)],
        ['no-op upgrade', fmt(f.noopUpgradeS, 1), `< ${TARGETS.p4.noopUpgradeS}`, verdict(f.noopUpgradeS === undefined ? undefined : f.noopUpgradeS < TARGETS.p4.noopUpgradeS)],
        ['uninstall', fmt(f.uninstallS, 1), NONE, NONE],
      ],
    ),
  ];
}

function opcuaSection(o: OpcuaResult | undefined): string[] {
  if (!o) return ['## OPC UA values/s', '', ...notRun('opcua.json', 'npm run bench')];
  const best = o.valuesPerS.sustainedWithZeroLoss;
  return [
    '## OPC UA values/s (opc-plc -> opc-publisher -> L2 -> L3 -> L4 -> gateway -> file)',
    '',
    runNote(o, 'opcua.json') + ' Zero loss: every acknowledged message in the sink, no counter value missing, nothing dropped by the publisher; kept up: p99 below the lag limit.',
    '',
    ...table(['figure', 'measured', 'target', 'result'], [['values/s delivered with 0 loss', best, `>= ${TARGETS.opcuaValuesPerS}`, verdict(best >= TARGETS.opcuaValuesPerS)]]),
    '',
    ...table(
      ['fast counter nodes', 'clock ms', 'batch', 'offered values/s', 'delivered values/s', 'lost msgs / missed values / dropped msgs', 'p50 / p99 ms', '0 loss, kept up'],
      o.steps.map((s) => [s.nodes, s.rateMs, s.batchSize, s.offeredValuesPerS, s.deliveredValuesPerS, `${s.messages.lost} / ${s.values.missedChanges} / ${s.publisher?.dropped ?? NONE}`, `${fmt(s.latencyMs.p50)} / ${fmt(s.latencyMs.p99)}`, s.zeroLoss && s.keptUp ? 'yes' : 'no']),
    ),
  ];
}

function machineLine(results: BenchResults): string[] {
  const all = [results.pipeline, results.opcua, results.install].filter((r): r is NonNullable<typeof r> => r !== undefined);
  const m = all.find((r) => r.machine)?.machine;
  const versions = Object.assign({}, ...all.map((r) => r.versions ?? {})) as Record<string, string>;
  return [
    `Machine: ${m ? `${m.cores} cores${m.cpu ? ` (${m.cpu})` : ''}, ${m.memoryGiB} GiB${m.kernel ? `, Linux ${m.kernel}` : ''}` : 'unknown'}.`,
    `Versions: ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ') || 'unknown'}.`,
  ];
}

export function summaryMarkdown(results: BenchResults, run: { installSkippedInQuick?: boolean } = {}): string {
  return [
    '# Benchmark summary',
    '',
    'Written by `npm run bench` from the latest `bench/results/*.json`; every figure beside its target.',
    '',
    ...machineLine(results),
    '',
    ...pipelineSections(results.pipeline),
    '',
    ...installSection(results.install, run.installSkippedInQuick ?? false),
    '',
    ...opcuaSection(results.opcua),
    '',
  ].join('\n');
}
