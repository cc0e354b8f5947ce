// Where `edge status` reads: each level's own recent metrics, kept by that level's collector in
// its data dir (<data-dir>/<level>/otelcol/level-metrics.jsonl, rotated). Read locally, level by
// level, so a level cut off from its parent still shows its own figures.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pointsOfLines, type MetricPoint } from './otlp-points.js';
import { levelStatus, type LevelStatus } from './status.js';
import { BROKER_METRICS } from './sys-metrics.js';

/** Where a level's collector keeps its level's metrics (see otel-plan.ts). */
export function levelMetricsFileOf(dataDir: string, level: string): string {
  return join(dataDir, level, 'otelcol', 'level-metrics.jsonl');
}

/** The last `bytes` of a file, from its first whole line. */
function tailOf(file: string, bytes: number): string {
  const size = statSync(file).size;
  const start = Math.max(0, size - bytes);
  const buf = Buffer.alloc(size - start);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, start);
  } finally {
    closeSync(fd);
  }
  const text = buf.toString('utf8');
  return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
}

/** The newest rotated backup (`level-metrics-<time>.jsonl`) beside `file`, if any. */
function newestBackup(file: string): string | undefined {
  const stem = basename(file, '.jsonl');
  const backups = readdirSync(dirname(file)).filter((f) => f.startsWith(`${stem}-`) && f.endsWith('.jsonl')).sort();
  return backups.length ? join(dirname(file), backups.at(-1)!) : undefined;
}

/**
 * The recent points of one level's file: its tail (a window's worth at a few KiB per export),
 * and the newest backup's too when the file was just rotated and does not reach back `windowMs`.
 */
export function readLevelPoints(file: string, nowMs: number, windowMs: number, tailBytes = 2 * 1024 * 1024): MetricPoint[] {
  if (!existsSync(file)) return [];
  const points = pointsOfLines(tailOf(file, tailBytes));
  const oldest = points.reduce((t, p) => Math.min(t, p.timeMs), Infinity);
  if (oldest > nowMs - windowMs) {
    const backup = newestBackup(file);
    if (backup) return [...pointsOfLines(tailOf(backup, tailBytes)), ...points];
  }
  return points;
}

export interface EdgeStatusOptions {
  dataDir: string;
  /** Level names, top first. */
  levels: string[];
  windowMs?: number;
  nowMs?: number;
}

/** Every level's status, top first, each from its own level's file. */
export function edgeStatus(opts: EdgeStatusOptions): LevelStatus[] {
  const nowMs = opts.nowMs ?? Date.now();
  const windowMs = opts.windowMs ?? 10_000;
  return opts.levels.map((level) => levelStatus(level, readLevelPoints(levelMetricsFileOf(opts.dataDir, level), nowMs, windowMs), { nowMs, windowMs }));
}

/**
 * The levels with a metrics file under `dataDir`, top first: each level's bridge metric names
 * its parent, so depth orders them (a level without a bridge figure counts as a top).
 */
export function discoverLevels(dataDir: string, nowMs = Date.now()): string[] {
  if (!existsSync(dataDir)) return [];
  const levels = readdirSync(dataDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(levelMetricsFileOf(dataDir, d.name)))
    .map((d) => d.name);
  const parentOf = new Map<string, string>();
  for (const level of levels) {
    const bridge = readLevelPoints(levelMetricsFileOf(dataDir, level), nowMs, Infinity, 64 * 1024).find((p) => p.name === BROKER_METRICS.bridgeUp);
    if (bridge?.attrs.bridge) parentOf.set(level, bridge.attrs.bridge);
  }
  const depth = (level: string, seen = new Set<string>()): number => {
    const parent = parentOf.get(level);
    return parent === undefined || seen.has(parent) ? 0 : 1 + depth(parent, seen.add(level));
  };
  return levels.sort((a, b) => depth(a) - depth(b) || a.localeCompare(b));
}
