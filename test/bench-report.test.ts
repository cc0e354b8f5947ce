// The benchmark report: plots (SVG) and summary.md from fixed results. The SVG is read back
// with a strict little XML reader (below), so a malformed document fails here, not in a browser.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { charts, FAIL, latencyCdfChart, NONE, PASS, summaryMarkdown, throughputChart, type BenchResults, type PipelineResult } from '../bench/report.js';
import { lineChartSvg, niceTicks } from '../bench/svg.js';

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

/**
 * Well-formed XML or a throw: one root, every tag closed in order, attributes quoted and not
 * repeated, `&` only in the predefined or numeric entities. Enough for what svg.ts writes (no
 * comments, CDATA or doctype), and strict about all of it.
 */
function parseXml(src: string): XmlElement {
  const NAME = '[A-Za-z_][\\w.:-]*';
  const ENTITY = /^&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;
  const checkEntities = (text: string, at: number): void => {
    for (let j = text.indexOf('&'); j >= 0; j = text.indexOf('&', j + 1)) if (!ENTITY.test(text.slice(j))) throw new Error(`bad entity at ${at + j}: ${text.slice(j, j + 10)}`);
  };
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = 0;
  while (i < src.length) {
    if (src[i] !== '<') {
      const end = src.indexOf('<', i) < 0 ? src.length : src.indexOf('<', i);
      const text = src.slice(i, end);
      if (stack.length === 0 && text.trim()) throw new Error(`text outside the root at ${i}`);
      checkEntities(text, i);
      i = end;
      continue;
    }
    const close = new RegExp(`^</(${NAME})\\s*>`).exec(src.slice(i));
    if (close) {
      const open = stack.pop();
      if (open?.name !== close[1]) throw new Error(`</${close[1]}> at ${i} closes <${open?.name ?? 'nothing'}>`);
      i += close[0].length;
      continue;
    }
    const start = new RegExp(`^<(${NAME})`).exec(src.slice(i));
    if (!start) throw new Error(`bad tag at ${i}: ${src.slice(i, i + 20)}`);
    i += start[0].length;
    const element: XmlElement = { name: start[1]!, attrs: {}, children: [] };
    for (let attr = /^\s+([A-Za-z_][\w.:-]*)="([^"<]*)"/.exec(src.slice(i)); attr; attr = /^\s+([A-Za-z_][\w.:-]*)="([^"<]*)"/.exec(src.slice(i))) {
      if (attr[1]! in element.attrs) throw new Error(`attribute ${attr[1]} twice at ${i}`);
      checkEntities(attr[2]!, i);
      element.attrs[attr[1]!] = attr[2]!;
      i += attr[0].length;
    }
    const end = /^\s*(\/?)>/.exec(src.slice(i));
    if (!end) throw new Error(`unterminated <${element.name}> at ${i}`);
    i += end[0].length;
    if (stack.length > 0) stack[stack.length - 1]!.children.push(element);
    else if (root) throw new Error(`a second root <${element.name}> at ${i}`);
    else root = element;
    if (!end[1]) stack.push(element);
  }
  if (stack.length > 0) throw new Error(`<${stack[stack.length - 1]!.name}> never closed`);
  if (!root) throw new Error('no root element');
  return root;
}

function unescapeXml(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return text.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => named[name]!);
}

function descendants(e: XmlElement): XmlElement[] {
  return e.children.flatMap((c) => [c, ...descendants(c)]);
}

/** The series polylines of a chart: name and its points as numbers. */
function seriesOf(svg: string): Array<{ name: string; points: Array<[number, number]> }> {
  const root = parseXml(svg);
  assert.is(root.name, 'svg');
  assert.is(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
  const [width, height] = [Number(root.attrs.width), Number(root.attrs.height)];
  return descendants(root)
    .filter((e) => e.name === 'polyline' && e.attrs.class === 'series')
    .map((e) => {
      const points = e.attrs.points!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
      for (const [x, y] of points) assert.ok(x >= 0 && x <= width && y >= 0 && y <= height, `point ${x},${y} inside the ${width}x${height} drawing`);
      return { name: unescapeXml(e.attrs['data-name']!), points };
    });
}

const pct = (scale: number): number[] => Array.from({ length: 100 }, (_, i) => Math.round(scale * (i + 1)) / 10);

/** Two rates, as `npm run bench -- --quick` writes them (figures invented, shapes real). */
const pipeline: PipelineResult = {
  at: '2026-11-24T06:04:50.479Z',
  machine: { cores: 2, cpu: 'AMD EPYC', memoryGiB: 24, kernel: '6.18.44' },
  versions: { node: 'v20.20.2', dapr: '1.16.2', mosquitto: '2.0.11' },
  parameters: { quick: true },
  p1: { pipelineMsgPerS: 1015, rawChainMsgPerS: 995, ratio: 1.02 },
  p3: { rate: 1000, peakRssMb: { 'l4/mosquitto': 9, 'l4/data-gateway': 159, 'l4/data-gateway/daprd': 86 } },
  runs: [
    { rate: 200, pipeline: { offeredPerS: 200, achievedPerS: 201, lost: 0, p50Ms: 4, p90Ms: 11, p99Ms: 13, latencyPercentilesMs: pct(1.3) }, raw: { offeredPerS: 200, achievedPerS: 199, lost: 0, p50Ms: 0, p90Ms: 1, p99Ms: 1, latencyPercentilesMs: pct(0.1) } },
    { rate: 1000, pipeline: { offeredPerS: 1000, achievedPerS: 1015, lost: 0, p50Ms: 8, p90Ms: 14, p99Ms: 24, latencyPercentilesMs: pct(2.4) }, raw: { offeredPerS: 1000, achievedPerS: 995, lost: 0, p50Ms: 0, p90Ms: 1, p99Ms: 1, latencyPercentilesMs: pct(0.1) } },
  ],
};

const results: BenchResults = {
  pipeline,
  install: { at: '2026-11-24T04:25:47.792Z', versions: { kubernetes: 'v1.37.2', helm: 'v3.22.0' }, figures: { installS: 29.8, noopUpgradeS: 16.2, uninstallS: 7 } },
  opcua: {
    at: '2026-11-24T07:00:00.000Z',
    versions: { 'node-opcua': '2.182.2' },
    parameters: { quick: false },
    valuesPerS: { sustainedWithZeroLoss: 20040 },
    steps: [
      { nodes: 2000, rateMs: 100, batchSize: 500, offeredValuesPerS: 20040, deliveredValuesPerS: 20040, messages: { lost: 0 }, values: { missedChanges: 0 }, publisher: { dropped: 0 }, latencyMs: { p50: 76, p99: 291 }, zeroLoss: true, keptUp: true },
      { nodes: 5000, rateMs: 100, batchSize: 500, offeredValuesPerS: 50040, deliveredValuesPerS: 41000, messages: { lost: 3 }, values: { missedChanges: 1500 }, publisher: { dropped: 0 }, latencyMs: { p50: 900, p99: 2900 }, zeroLoss: false, keptUp: false },
    ],
  },
};

/** The table row whose first cell is `first`, as its cells. */
function rowOf(md: string, first: string): string[] {
  const line = md.split('\n').find((l) => l.startsWith(`| ${first} |`));
  assert.ok(line, `a row starting with "${first}" in:\n${md}`);
  return line!.split('|').slice(1, -1).map((c) => c.trim());
}

test('lineChartSvg: well-formed SVG, one polyline per series with every point, names escaped', () => {
  const svg = lineChartSvg({
    title: 'a < b & "c"',
    xLabel: 'x',
    yLabel: 'y',
    series: [
      { name: 'one', points: [[0, 0], [5, 10], [10, 20]] },
      { name: "<two> & 'more'", points: [[1, 3], [2, 4]], dashed: true, markers: true },
    ],
  });
  const series = seriesOf(svg);
  assert.equal(series.map((s) => [s.name, s.points.length]), [['one', 3], ["<two> & 'more'", 2]]);
  const [one] = series;
  assert.ok(one!.points[0]![1] > one!.points[2]![1], 'a larger y is drawn higher');
  assert.is(descendants(parseXml(svg)).filter((e) => e.name === 'circle').length, 2, 'markers only where asked');
  assert.throws(() => parseXml(svg.replace('</svg>', '')), /never closed/);
  assert.throws(() => parseXml(svg.replace('&amp;', '&')), /bad entity/);
});

test('niceTicks: round steps covering the range', () => {
  assert.equal(niceTicks(0, 1000), [0, 200, 400, 600, 800, 1000]);
  assert.equal(niceTicks(0, 27), [0, 5, 10, 15, 20, 25]);
  assert.equal(niceTicks(0, 50_040), [0, 10_000, 20_000, 30_000, 40_000, 50_000]);
  assert.equal(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
});

test('latency CDF: a solid and a dashed series per rate, p1..p99, percentile on y', () => {
  const chart = latencyCdfChart(pipeline)!;
  assert.equal(chart.series.map((s) => [s.name, s.points.length, s.dashed ?? false]), [
    ['pipeline, 200 msg/s', 99, false],
    ['raw chain, 200 msg/s', 99, true],
    ['pipeline, 1000 msg/s', 99, false],
    ['raw chain, 1000 msg/s', 99, true],
  ]);
  assert.equal(chart.series[2]!.points[98], [pipeline.runs[1]!.pipeline.latencyPercentilesMs![98]!, 99]);
  assert.is(chart.xScale, 'log', 'under 1 ms to seconds on one axis');
  const svg = charts(results)['latency-cdf.svg']!;
  assert.equal(seriesOf(svg).map((s) => s.points.length), [99, 99, 99, 99]);
  assert.is(latencyCdfChart({ ...pipeline, runs: pipeline.runs.map((r) => ({ ...r, pipeline: { ...r.pipeline, latencyPercentilesMs: undefined } })) }), undefined, 'no percentiles, no CDF');
});

test('throughput chart: pipeline and raw chain per offered rate, and the y = x line', () => {
  const chart = throughputChart(pipeline)!;
  assert.equal(chart.series.map((s) => [s.name, s.points]), [
    ['pipeline', [[200, 201], [1000, 1015]]],
    ['raw chain', [[200, 199], [1000, 995]]],
    ['y = x (all offered)', [[0, 0], [1000, 1000]]],
  ]);
  const drawn = seriesOf(charts(results)['throughput.svg']!);
  assert.equal(drawn.map((s) => s.points.length), [2, 2, 2]);
  const [, , diagonal] = drawn;
  assert.ok(diagonal!.points[1]![0] > diagonal!.points[0]![0] && diagonal!.points[1]![1] < diagonal!.points[0]![1], 'y = x rises to the right');
});

test('throughput chart: the P1 search runs join their series, in rate order', () => {
  const run = (offeredPerS: number, achievedPerS: number) => ({ offeredPerS, achievedPerS, lost: 0, p50Ms: 1, p90Ms: 2, p99Ms: 3 });
  const searched: PipelineResult = { ...pipeline, p1: { ...pipeline.p1, search: { pipeline: [run(3000, 2990), run(2000, 1990)], raw: [run(8000, 7900)] } } };
  const chart = throughputChart(searched)!;
  assert.equal(chart.series.map((s) => [s.name, s.points]), [
    ['pipeline', [[200, 201], [1000, 1015], [2000, 1990], [3000, 2990]]],
    ['raw chain', [[200, 199], [1000, 995], [8000, 7900]]],
    ['y = x (all offered)', [[0, 0], [8000, 8000]]],
  ]);
});

test('summary.md: a series still sustained at the highest rate tried says its ceiling is higher', () => {
  const run = (offeredPerS: number, achievedPerS: number) => ({ offeredPerS, achievedPerS, lost: 0, p50Ms: 1, p90Ms: 2, p99Ms: 3 });
  const searched: PipelineResult = { ...pipeline, p1: { pipelineMsgPerS: 2000, rawChainMsgPerS: 7900, ratio: 0.25, search: { pipeline: [run(2000, 2000), run(3000, 2500)], raw: [run(8000, 7900)] } } };
  const md = summaryMarkdown({ pipeline: searched });
  assert.equal(rowOf(md, 'raw chain msg/s sustained'), ['raw chain msg/s sustained', '7900 (the highest rate tried: its ceiling is higher)', NONE, NONE]);
  assert.equal(rowOf(md, 'pipeline msg/s sustained'), ['pipeline msg/s sustained', '2000', NONE, NONE]);
});

test('summary.md: a climb that stopped at a rate already in the latency table names it as the bound', () => {
  const run = (offeredPerS: number, achievedPerS: number) => ({ offeredPerS, achievedPerS, lost: 0, p50Ms: 1, p90Ms: 2, p99Ms: 3 });
  // The pipeline's search added 2500..4000, all sustained, and stopped at 5000, measured before it.
  const p1 = { pipelineMsgPerS: 4052, rawChainMsgPerS: 19998, ratio: 0.2, search: { pipeline: [run(4000, 4052)], raw: [run(20000, 19998)] }, notSustainedAt: { pipeline: 5000, raw: null } };
  const md = summaryMarkdown({ pipeline: { ...pipeline, p1 } });
  assert.equal(rowOf(md, 'pipeline msg/s sustained')[1], '4052 (not sustained at 5000: the ceiling lies between)');
  assert.equal(rowOf(md, 'raw chain msg/s sustained')[1], '19998 (the highest rate tried: its ceiling is higher)');
});

test('summary.md: every figure with its target and the right mark', () => {
  const md = summaryMarkdown(results);
  assert.match(md, /Machine: 2 cores \(AMD EPYC\), 24 GiB, Linux 6\.18\.44\./);
  assert.match(md, /Versions: node v20\.20\.2, dapr 1\.16\.2, mosquitto 2\.0\.11, node-opcua 2\.182\.2, kubernetes v1\.37\.2, helm v3\.22\.0\./);
  assert.match(md, /quick run/);
  assert.equal(rowOf(md, 'pipeline / raw chain'), ['pipeline / raw chain', '1.02', '>= 0.5', PASS]);
  assert.equal(rowOf(md, '1000'), ['1000', '8 / 14 / 24', '0 / 1 / 1', '0 / 0', 'pipeline p99 < 50', PASS]);
  assert.equal(rowOf(md, '200').slice(4), ['—', '—'], 'no P2 target at 200 msg/s');
  assert.equal(rowOf(md, 'l4/data-gateway'), ['l4/data-gateway', '159', '<= 80', FAIL]);
  assert.equal(rowOf(md, 'l4/data-gateway/daprd'), ['l4/data-gateway/daprd', '86', NONE, NONE], 'a sidecar is recorded, not judged');
  assert.equal(rowOf(md, 'l4/mosquitto'), ['l4/mosquitto', '9', NONE, NONE]);
  assert.ok(md.includes('at 1000 msg/s'), 'the footprint names the rate it was measured at');
  assert.equal(rowOf(md, 'install (platform + app, 3 levels)'), ['install (platform + app, 3 levels)', '29.8', '< 60', PASS]);
  assert.equal(rowOf(md, 'no-op upgrade'), ['no-op upgrade', '16.2', '< 15', FAIL]);
  assert.equal(rowOf(md, 'values/s delivered with 0 loss'), ['values/s delivered with 0 loss', '20040', '>= 20000', PASS]);
  assert.equal(rowOf(md, '5000').slice(5), ['3 / 1500 / 0', '900 / 2900', 'no']);
  assert.match(md, /!\[latency CDF\]\(latency-cdf\.svg\)/);
});

test('summary.md: a failing P1 and P2, and benchmarks that did not run', () => {
  const slow: PipelineResult = { ...pipeline, p1: { pipelineMsgPerS: 400, rawChainMsgPerS: 1000, ratio: 0.4 }, runs: [{ ...pipeline.runs[1]!, pipeline: { ...pipeline.runs[1]!.pipeline, p99Ms: 50 } }] };
  const md = summaryMarkdown({ pipeline: slow });
  assert.equal(rowOf(md, 'pipeline / raw chain').slice(3), [FAIL]);
  assert.equal(rowOf(md, '1000').slice(5), [FAIL], 'p99 of exactly 50 ms is not below 50');
  assert.match(md, /Not run: no `bench\/results\/install-time\.json`/);
  assert.match(md, /Not run: no `bench\/results\/opcua\.json`/);
  assert.not.match(md, /Skipped in --quick/, 'a full run does not claim a skip');
});

test('summary.md: a --quick run says install-time was skipped, and whose figures those are', () => {
  const md = summaryMarkdown(results, { installSkippedInQuick: true });
  assert.match(md, /Skipped in --quick \(`npm run bench:install` measures it\); the figures below are from an earlier run\./);
  assert.equal(rowOf(md, 'no-op upgrade'), ['no-op upgrade', '16.2', '< 15', FAIL]);
  assert.match(summaryMarkdown({ pipeline }, { installSkippedInQuick: true }), /## P4 install time\n\nSkipped in --quick \(`npm run bench:install` measures it\)\.\n/);
});

test.run();
