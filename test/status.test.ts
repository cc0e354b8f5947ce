// `edge status` computations, from OTLP JSON recorded off real runs (test/recorded/: a level's
// own file as its collector wrote it, l3 <- l2 with l3's broker killed for 8 s and restarted,
// and a data gateway's lag histogram and dead-letter counter from the real OTel SDK), and from
// small hand-made series for what a recording cannot show on demand (a growing queue, a
// restarted counter, delta temporality). Pure: no process is started.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pointsOfLines, type MetricPoint } from '../src/telemetry/otlp-points.js';
import { compactStatus, counterRate, formatStatus, levelStatus, quantile, WORKLOAD_METRICS } from '../src/telemetry/status.js';
import { edgeStatus, levelMetricsFileOf, readLevelPoints } from '../src/telemetry/status-source.js';
import { BROKER_METRICS } from '../src/telemetry/sys-metrics.js';
import { withCleanup } from './helpers.js';

const recorded = (level: string): string => readFileSync(new URL(`../../test/recorded/${level}-level-metrics.jsonl`, import.meta.url), 'utf8');
const WINDOW = 10_000;
const at = (points: MetricPoint[], name: string): number[] => [...new Set(points.filter((p) => p.name === name).map((p) => p.timeMs))].sort((a, b) => a - b);

test('recorded l2: the bridge reads down while l3 is gone and up once it is back; nothing queued', () => {
  const points = pointsOfLines(recorded('l2'));
  assert.ok(points.every((p) => p.level === 'l2'), 'a level\'s file holds its own level only');
  const bridge = points.filter((p) => p.name === BROKER_METRICS.bridgeUp).sort((a, b) => a.timeMs - b.timeMs);
  const downAt = bridge.find((p) => p.value === 0)!.timeMs;
  const upAgainAt = bridge.find((p) => p.value === 1 && p.timeMs > downAt)!.timeMs;
  const status = (nowMs: number) => levelStatus('l2', points, { nowMs, windowMs: WINDOW });
  assert.equal(status(downAt - 1).bridge, { parent: 'l3', up: true });
  assert.equal(status(downAt + 500).bridge, { parent: 'l3', up: false });
  assert.equal(status(upAgainAt + 500).bridge, { parent: 'l3', up: true });
  const s = status(upAgainAt + 500);
  assert.is(s.queue, 0, 'an idle broker queues nothing (its store holds only retained $SYS messages)');
  assert.is(s.inPerS, 0);
  assert.is(s.ageS, 0.5);
  assert.is(s.lagP50Ms, null, 'no workload at l2 reports lag');
  assert.is(s.deadLetters, null);
  // Long after the last point: the figures are stale, and the bridge is not claimed either way.
  const later = status(bridge.at(-1)!.timeMs + 60_000);
  assert.ok(later.ageS! >= 60);
  assert.is(later.bridge, null);
  assert.is(later.inPerS, null);
});

test('recorded l3: lag p50/p99 from the histogram buckets, dead letters, no bridge at the top; l2 points ignored', () => {
  const points = [...pointsOfLines(recorded('l3')), ...pointsOfLines(recorded('l2'))];
  const lagTimes = at(points, WORKLOAD_METRICS.lag);
  const now = lagTimes.at(-1)! + 100;
  const s = levelStatus('l3', points, { nowMs: now, windowMs: WINDOW });
  // The recorder sent 90 % at 20 ms (bucket 10-25) and 10 % at 700 ms (bucket 500-1000).
  assert.ok(Math.abs(s.lagP50Ms! - (10 + (15 * 0.5) / 0.9)) < 0.01, `p50 ${s.lagP50Ms}`);
  assert.ok(Math.abs(s.lagP99Ms! - 950) < 0.01, `p99 ${s.lagP99Ms}`);
  assert.is(s.bridge, null, 'the top level has no bridge');
  // One dead letter per 1000 lag records, 1000 records a second: about 2 per 2 s export.
  const dl = points.filter((p) => p.name === WORKLOAD_METRICS.deadlettered && p.level === 'l3').sort((a, b) => a.timeMs - b.timeMs);
  assert.is(s.deadLetters, dl.at(-1)!.value);
  const inWindow = dl.filter((p) => p.timeMs > now - WINDOW);
  assert.is(s.deadLettersInWindow, inWindow.at(-1)!.value! - inWindow[0]!.value!);
  assert.ok(s.deadLettersInWindow! >= 4);
});

const point = (name: string, timeMs: number, value: number, extra: Partial<MetricPoint> = {}): MetricPoint => ({ name, level: 'l2', series: `${name}|${JSON.stringify(extra.attrs ?? {})}`, attrs: {}, timeMs, kind: 'gauge', value, ...extra });
const counter = (name: string, timeMs: number, value: number): MetricPoint => point(name, timeMs, value, { kind: 'sum', temporality: 'cumulative' });

test('rates from cumulative counters survive a restart to 0; the queue\'s trend; $SYS to the exporter is not outgoing traffic', () => {
  const t = 1_000_000;
  const points = [
    counter(BROKER_METRICS.messagesReceived, t, 1000),
    counter(BROKER_METRICS.messagesReceived, t + 2000, 2000),
    counter(BROKER_METRICS.messagesReceived, t + 4000, 500), // broker restarted: 500 since
    counter(BROKER_METRICS.messagesReceived, t + 6000, 1500),
    counter(BROKER_METRICS.messagesSent, t, 100),
    counter(BROKER_METRICS.messagesSent, t + 6000, 160),
    counter(BROKER_METRICS.sysDelivered, t, 40),
    counter(BROKER_METRICS.sysDelivered, t + 6000, 100),
    ...[0, 2000, 4000, 6000].flatMap((d, i) => [point(BROKER_METRICS.storeMessages, t + d, 54 + 1000 * i), point(BROKER_METRICS.retainedMessages, t + d, 54)]),
  ];
  const s = levelStatus('l2', points, { nowMs: t + 6000, windowMs: WINDOW });
  assert.is(s.inPerS, (1000 + 500 + 1000) / 6);
  assert.is(s.outPerS, 0, '60 sent, all of them $SYS figures to the exporter');
  assert.is(s.queue, 3000);
  assert.is(s.queueTrendPerS, 500, 'growing by 500 a second');
  assert.is(counterRate(points, BROKER_METRICS.messagesReceived, { nowMs: t + 6000, windowMs: 1000 }), null, 'one point in the window: no rate');
  const line = compactStatus([s]);
  assert.match(line, /l2: in 417\/s out 0\/s q 3000 \(\+500\/s\)/);
  assert.match(formatStatus([s]), /^l2\s+0s\s+417\s+0\s+3000\s+\+500\s+-/m);
  // A flat queue shows no trend in the live line, and never "-0".
  const flat = { ...s, queueTrendPerS: -0.2 };
  assert.not.match(compactStatus([flat]), /\(/);
  assert.match(formatStatus([flat]), /^l2\s+0s\s+417\s+0\s+3000\s+0\s+-/m);
});

test('histograms: delta temporality sums the window; quantiles interpolate inside a bucket; +Inf answers its lower bound', () => {
  const h = (counts: number[]) => ({ bounds: [10, 100], counts, count: counts.reduce((a, b) => a + b, 0) });
  assert.is(quantile(h([0, 10, 0]), 0.5), 55);
  assert.is(quantile(h([10, 0, 0]), 0.99), 9.9);
  assert.is(quantile(h([0, 0, 4]), 0.5), 100);
  assert.is(quantile(h([0, 0, 0]), 0.5), null);
  const t = 5_000_000;
  const lag = (time: number, counts: number[]) => point(WORKLOAD_METRICS.lag, time, 0, { kind: 'histogram', temporality: 'delta', value: undefined, histogram: h(counts) });
  const s = levelStatus('l2', [lag(t - 20_000, [0, 0, 100]), lag(t - 4000, [10, 0, 0]), lag(t - 2000, [0, 10, 0])], { nowMs: t, windowMs: WINDOW });
  assert.is(s.lagP50Ms, 10, 'the old point (all > 100 ms) is outside the window');
  assert.ok(Math.abs(s.lagP99Ms! - 98.2) < 1e-9);
});

test('the status source reads each level\'s own file, from its tail, and the rotated backup when the file was just rotated', async () => {
  await withCleanup(async (c) => {
    const dir = c.dir('status-source');
    const lines = recorded('l2').trimEnd().split('\n');
    const file = levelMetricsFileOf(dir, 'l2');
    mkdirSync(join(dir, 'l2', 'otelcol'), { recursive: true });
    // Just rotated: the older lines in the backup, only the last one in the file.
    writeFileSync(join(dir, 'l2', 'otelcol', 'level-metrics-2026-11-24T09-00-00.000.jsonl'), lines.slice(0, -1).join('\n') + '\n');
    writeFileSync(file, lines.at(-1)! + '\n{"resourceMetrics":[{"resou'); // a line being written
    const newest = Math.max(...pointsOfLines(lines.at(-1)!).map((p) => p.timeMs));
    const points = readLevelPoints(file, newest + 100, WINDOW);
    assert.ok(at(points, BROKER_METRICS.bridgeUp).length >= 5, 'the window reaches into the backup');
    // A small tail: the first (cut) line is skipped, not misread.
    assert.ok(readLevelPoints(file, newest + 100, 1000, 300).every((p) => p.level === 'l2'));
    const [l3, l2] = edgeStatus({ dataDir: dir, levels: ['l3', 'l2'], nowMs: newest + 100 });
    assert.is(l3!.ageS, null, 'no file for l3: no metrics');
    assert.equal(l2!.bridge, { parent: 'l3', up: true });
    assert.match(formatStatus([l3!, l2!]), /^l3\s+no metrics/m);
  });
});

test.run();
