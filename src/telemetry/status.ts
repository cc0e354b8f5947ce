// `edge status` and the live line: per level, what its own recent metrics say. Pure functions
// of data points (otlp-points.ts) and a clock; reading the files is status-source.ts.
import { BROKER_METRICS } from './sys-metrics.js';
import type { HistogramValue, MetricPoint } from './otlp-points.js';

/** The workloads' metrics (instrumented elsewhere; each may be absent). */
export const WORKLOAD_METRICS = {
  produced: 'edge.messages.produced',
  acknowledged: 'edge.messages.acknowledged',
  failed: 'edge.messages.failed',
  consumed: 'edge.messages.consumed',
  stored: 'edge.messages.stored',
  deadlettered: 'edge.messages.deadlettered',
  lag: 'edge.e2e.lag',
} as const;

export interface LevelStatus {
  level: string;
  /** Seconds since the newest point of this level; null: no metrics at all. */
  ageS: number | null;
  /** Broker PUBLISH messages per second over the window (out: less the $SYS figures sent to its exporter). */
  inPerS: number | null;
  outPerS: number | null;
  /** Messages queued in the broker (for sessions and the bridge): its store less the retained $SYS messages, latest. */
  queue: number | null;
  /** Change of the queue per second over the window (+ growing, - draining). */
  queueTrendPerS: number | null;
  /** The bridge to the parent level; null for the top level or before the broker said. */
  bridge: { parent: string; up: boolean } | null;
  /** End-to-end lag over the window, from the histogram's buckets (null without lag metrics). */
  lagP50Ms: number | null;
  lagP99Ms: number | null;
  /** Dead letters: total so far, and in the window (null when no workload reports them). */
  deadLetters: number | null;
  deadLettersInWindow: number | null;
  /** Messages dropped by the broker or failed at a workload: totals (null when not reported). */
  dropped: number | null;
  failed: number | null;
}

export interface StatusWindow {
  nowMs: number;
  windowMs: number;
}

/** Series by series (a counter per process, a gauge per bridge...), points in time order. */
function seriesOf(points: MetricPoint[], name: string): MetricPoint[][] {
  const by = new Map<string, MetricPoint[]>();
  for (const p of points) if (p.name === name) by.set(p.series, [...(by.get(p.series) ?? []), p]);
  return [...by.values()].map((s) => s.sort((a, b) => a.timeMs - b.timeMs));
}

const inWindow = (s: MetricPoint[], w: StatusWindow): MetricPoint[] => s.filter((p) => p.timeMs > w.nowMs - w.windowMs && p.timeMs <= w.nowMs);

/** How much a counter series grew over its points; a drop means the process restarted from 0. */
function growth(points: MetricPoint[]): number {
  if (points[0]?.temporality === 'delta') return points.slice(1).reduce((n, p) => n + (p.value ?? 0), 0);
  let total = 0;
  for (let i = 1; i < points.length; i++) {
    const [prev, cur] = [points[i - 1]!.value ?? 0, points[i]!.value ?? 0];
    total += cur >= prev ? cur - prev : cur;
  }
  return total;
}

/** Sum over series of the counter's rate per second in the window; null with no series of two points. */
export function counterRate(points: MetricPoint[], name: string, w: StatusWindow): number | null {
  let rate: number | null = null;
  for (const s of seriesOf(points, name).map((x) => inWindow(x, w))) {
    if (s.length < 2) continue;
    const spanS = (s.at(-1)!.timeMs - s[0]!.timeMs) / 1000;
    if (spanS <= 0) continue;
    rate = (rate ?? 0) + growth(s) / spanS;
  }
  return rate;
}

/** Sum over series of a counter's latest cumulative value (any age); null when never reported. */
export function counterTotal(points: MetricPoint[], name: string, w: StatusWindow): number | null {
  const series = seriesOf(points, name).map((s) => s.filter((p) => p.timeMs <= w.nowMs)).filter((s) => s.length);
  if (!series.length) return null;
  return series.reduce((n, s) => n + (s[0]!.temporality === 'delta' ? s.reduce((m, p) => m + (p.value ?? 0), 0) : s.at(-1)!.value ?? 0), 0);
}

function counterGrowthInWindow(points: MetricPoint[], name: string, w: StatusWindow): number | null {
  const series = seriesOf(points, name).map((s) => inWindow(s, w)).filter((s) => s.length);
  return series.length ? series.reduce((n, s) => n + growth(s), 0) : null;
}

/** The latest value of a gauge (summed over its series) and its change per second over the window. */
export function gauge(points: MetricPoint[], name: string, w: StatusWindow): { latest: number; trendPerS: number | null } | null {
  const series = seriesOf(points, name).map((s) => inWindow(s, w)).filter((s) => s.length);
  if (!series.length) return null;
  let latest = 0;
  let trend: number | null = null;
  for (const s of series) {
    latest += s.at(-1)!.value ?? 0;
    const spanS = (s.at(-1)!.timeMs - s[0]!.timeMs) / 1000;
    if (s.length >= 2 && spanS > 0) trend = (trend ?? 0) + ((s.at(-1)!.value ?? 0) - (s[0]!.value ?? 0)) / spanS;
  }
  return { latest, trendPerS: trend };
}

/** The buckets observed within the window (cumulative: newest minus oldest; one point: since start). */
function windowBuckets(s: MetricPoint[]): HistogramValue | null {
  const hs = s.map((p) => p.histogram!).filter((h) => h.counts.length === h.bounds.length + 1);
  if (!hs.length) return null;
  const last = hs.at(-1)!;
  const sameBounds = (h: HistogramValue): boolean => h.bounds.length === last.bounds.length && h.bounds.every((b, i) => b === last.bounds[i]);
  if (s[0]!.temporality === 'delta') {
    const counts = last.counts.map(() => 0);
    for (const h of hs.filter(sameBounds)) h.counts.forEach((c, i) => (counts[i]! += c));
    return { bounds: last.bounds, counts, count: counts.reduce((a, b) => a + b, 0) };
  }
  const first = hs[0]!;
  if (hs.length < 2 || !sameBounds(first) || last.count < first.count) return last;
  const counts = last.counts.map((c, i) => c - (first.counts[i] ?? 0));
  return { bounds: last.bounds, counts, count: counts.reduce((a, b) => a + b, 0) };
}

/** The q-quantile of bucket counts, interpolated linearly inside its bucket (the +Inf bucket answers its lower bound). */
export function quantile(h: HistogramValue, q: number): number | null {
  if (h.count <= 0) return null;
  const rank = q * h.count;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (c > 0 && seen + c >= rank) {
      const lower = i === 0 ? Math.min(0, h.bounds[0] ?? 0) : h.bounds[i - 1]!;
      if (i >= h.bounds.length) return lower;
      return lower + ((h.bounds[i]! - lower) * (rank - seen)) / c;
    }
    seen += c;
  }
  return h.bounds.at(-1) ?? null;
}

/** The lag histogram over the window, all series merged (those sharing the most common bounds). */
export function lagQuantiles(points: MetricPoint[], w: StatusWindow): { p50: number | null; p99: number | null } {
  const windows = seriesOf(points, WORKLOAD_METRICS.lag).map((s) => inWindow(s, w)).filter((s) => s.length).map(windowBuckets).filter((h): h is HistogramValue => h !== null);
  if (!windows.length) return { p50: null, p99: null };
  const bounds = windows[0]!.bounds;
  const merged = windows.filter((h) => h.bounds.length === bounds.length && h.bounds.every((b, i) => b === bounds[i])).reduce<HistogramValue>(
    (acc, h) => ({ bounds, counts: acc.counts.map((c, i) => c + (h.counts[i] ?? 0)), count: acc.count + h.count }),
    { bounds, counts: new Array<number>(bounds.length + 1).fill(0), count: 0 },
  );
  return { p50: quantile(merged, 0.5), p99: quantile(merged, 0.99) };
}

/**
 * The queue: store minus retained $SYS messages, point by point (both come from one $SYS
 * snapshot); the raw store when the retained figure is missing.
 */
function queueOf(points: MetricPoint[], w: StatusWindow): { latest: number; trendPerS: number | null } | null {
  const retainedAt = new Map(points.filter((p) => p.name === BROKER_METRICS.retainedMessages).map((p) => [p.timeMs, p.value ?? 0]));
  const queued = points.filter((p) => p.name === BROKER_METRICS.storeMessages).map((p) => ({ ...p, value: Math.max(0, (p.value ?? 0) - (retainedAt.get(p.timeMs) ?? 0)) }));
  return gauge(queued, BROKER_METRICS.storeMessages, w);
}

function outRate(points: MetricPoint[], w: StatusWindow): number | null {
  const sent = counterRate(points, BROKER_METRICS.messagesSent, w);
  if (sent === null) return null;
  return Math.max(0, sent - (counterRate(points, BROKER_METRICS.sysDelivered, w) ?? 0));
}

/** The bridge gauge's latest value in the window. */
function bridgeOf(points: MetricPoint[], w: StatusWindow): LevelStatus['bridge'] {
  const latest = seriesOf(points, BROKER_METRICS.bridgeUp).map((s) => inWindow(s, w).at(-1)).filter((p): p is MetricPoint => p !== undefined).sort((a, b) => b.timeMs - a.timeMs)[0];
  return latest ? { parent: latest.attrs.bridge ?? '?', up: latest.value === 1 } : null;
}

/** The status of `level` from its points (others' are ignored). */
export function levelStatus(level: string, all: MetricPoint[], w: StatusWindow): LevelStatus {
  const points = all.filter((p) => p.level === level && p.timeMs <= w.nowMs);
  const newest = points.reduce((t, p) => Math.max(t, p.timeMs), -Infinity);
  const queue = queueOf(points, w);
  const lag = lagQuantiles(points, w);
  return {
    level,
    ageS: Number.isFinite(newest) ? Math.max(0, (w.nowMs - newest) / 1000) : null,
    inPerS: counterRate(points, BROKER_METRICS.messagesReceived, w),
    outPerS: outRate(points, w),
    queue: queue?.latest ?? null,
    queueTrendPerS: queue?.trendPerS ?? null,
    bridge: bridgeOf(points, w),
    lagP50Ms: lag.p50,
    lagP99Ms: lag.p99,
    deadLetters: counterTotal(points, WORKLOAD_METRICS.deadlettered, w),
    deadLettersInWindow: counterGrowthInWindow(points, WORKLOAD_METRICS.deadlettered, w),
    dropped: counterTotal(points, BROKER_METRICS.messagesDropped, w),
    failed: counterTotal(points, WORKLOAD_METRICS.failed, w),
  };
}

const num = (v: number | null, digits = 0): string => (v === null ? '-' : v.toFixed(digits));
const signed = (v: number | null): string => {
  if (v === null) return '-';
  const r = Math.round(v);
  return r === 0 ? '0' : `${r > 0 ? '+' : ''}${r}`;
};
const bridgeText = (b: LevelStatus['bridge']): string => (b === null ? '-' : `${b.up ? 'up' : 'DOWN'} (to ${b.parent})`);

/** A table, one row per level (as `edge status` prints it). */
export function formatStatus(statuses: LevelStatus[]): string {
  const header = ['level', 'age', 'in/s', 'out/s', 'queue', 'queue/s', 'bridge', 'lag p50/p99 ms', 'dead letters', 'dropped', 'failed'];
  const rows = statuses.map((s) => [
    s.level,
    s.ageS === null ? 'no metrics' : `${s.ageS.toFixed(0)}s`,
    num(s.inPerS),
    num(s.outPerS),
    num(s.queue),
    signed(s.queueTrendPerS),
    bridgeText(s.bridge),
    s.lagP50Ms === null ? '-' : `${num(s.lagP50Ms)}/${num(s.lagP99Ms)}`,
    s.deadLetters === null ? '-' : `${s.deadLetters}${s.deadLettersInWindow ? ` (+${s.deadLettersInWindow})` : ''}`,
    num(s.dropped),
    num(s.failed),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

/** One line for `edge up`'s live output. */
export function compactStatus(statuses: LevelStatus[]): string {
  return statuses
    .map((s) => {
      if (s.ageS === null) return `${s.level}: -`;
      const parts = [`${s.level}: in ${num(s.inPerS)}/s out ${num(s.outPerS)}/s q ${num(s.queue)}${s.queueTrendPerS !== null && Math.abs(s.queueTrendPerS) >= 1 ? ` (${signed(s.queueTrendPerS)}/s)` : ''}`];
      if (s.bridge) parts.push(s.bridge.up ? '↑up' : '↑DOWN');
      if (s.lagP50Ms !== null) parts.push(`lag ${num(s.lagP50Ms)}/${num(s.lagP99Ms)} ms`);
      if (s.deadLetters) parts.push(`DLQ ${s.deadLetters}`);
      if (s.dropped) parts.push(`DROPPED ${s.dropped}`);
      if (s.ageS > 10) parts.push(`(${s.ageS.toFixed(0)}s old)`);
      return parts.join(' ');
    })
    .join(' | ');
}
