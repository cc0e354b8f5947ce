// What every local-target benchmark needs: a plan from a topology text (free loopback ports,
// a throwaway PKI), per-process footprint and CPU from /proc, percentiles, the machine and
// versions to record beside the figures, and one place results are written.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/common/proc.js';
import { toolPath } from '../src/common/tools.js';
import { ensureCredentials } from '../src/config/credentials.js';
import { buildLocalPlan, REPO_ROOT, type LocalPlan } from '../src/local/plan.js';
import { LocalEdge, writePlanFiles } from '../src/local/run.js';
import { ensureBrokerPki, pkiDirOf } from '../src/pki/broker-pki.js';
import { parseTopology } from '../src/topology/parse.js';

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

export function freePorts(n: number): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, () => freePort()));
}

/** The local target's plan for a topology text, everything on 127.0.0.1, files under `dir`. */
export async function planFor(dir: string, text: string, logLevel = 'warn'): Promise<LocalPlan> {
  const topology = parseTopology(text);
  const pki = await ensureBrokerPki(topology, pkiDirOf(dir), () => ['127.0.0.1']);
  return buildLocalPlan(topology, ensureCredentials(topology), { dataDir: dir, pki, daprdPath: toolPath('daprd'), mosquittoPath: toolPath('mosquitto'), nodePath: process.execPath, hostOf: () => '127.0.0.1', runAsUser: process.env.USER ?? 'root', allocatePort: freePort, logLevel });
}

/**
 * Edges running now. Their processes run in process groups of their own, so a Ctrl-C reaches
 * only us: on SIGINT or SIGTERM we stop them before exiting, or they would outlive the benchmark.
 */
const runningEdges = new Set<LocalEdge>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping what the benchmark started...\n`);
    void Promise.allSettled([...runningEdges].map(async (edge) => {
      await edge.stopAll();
      rmSync(edge.plan.dataDir, { recursive: true, force: true });
    })).then(() => process.exit(130));
  });
}

/** Writes the plan's files and returns its edge, not started yet; stop it with stopEdge. */
export function newEdge(plan: LocalPlan): LocalEdge {
  writePlanFiles(plan);
  const edge = new LocalEdge(plan, () => undefined);
  runningEdges.add(edge);
  return edge;
}

export async function stopEdge(edge: LocalEdge): Promise<void> {
  await edge.stopAll();
  runningEdges.delete(edge);
}

/** Nearest-rank percentile of an ascending array; null when it is empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : null;
}

/** p1..p100 of an ascending array: enough to draw its CDF without keeping every sample. */
export function percentiles1To100(sorted: ArrayLike<number>): number[] {
  return sorted.length ? Array.from({ length: 100 }, (_, i) => percentile(sorted, i + 1)!) : [];
}

/** Peak resident set (VmHWM) per process, in MB; processes already gone are left out. */
export function peakRss(pids: Array<{ name: string; pid: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { name, pid } of pids) {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readProc(pid, 'status'))?.[1];
    if (hwm) out[name] = Math.round(Number(hwm) / 1024);
  }
  return out;
}

/** CPU seconds (user + system) used so far per process. */
export function cpuSeconds(pids: Array<{ name: string; pid: number }>): Record<string, number> {
  const ticksPerS = 100; // USER_HZ: 100 on every Linux we run on
  const out: Record<string, number> = {};
  for (const { name, pid } of pids) {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    const fields = readProc(pid, 'stat').split(') ')[1]?.split(' ');
    if (fields && fields.length > 13) out[name] = (Number(fields[11]) + Number(fields[12])) / ticksPerS;
  }
  return out;
}

/** Per-process CPU use between two cpuSeconds samples, in % of one core. */
export function cpuPercent(before: Record<string, number>, after: Record<string, number>, seconds: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, t] of Object.entries(after)) if (before[name] !== undefined) out[name] = Math.round((100 * (t - before[name]!)) / seconds);
  return out;
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return ''; // exited
  }
}

export function machine(): { cores: number; cpu: string; memoryGiB: number; kernel: string } {
  return { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), kernel: release() };
}

/** Versions of what the local-target benchmarks run, asked of the binaries themselves. */
export function versions(): Record<string, string> {
  const ask = (tool: string, args: string[], pattern: RegExp): string => {
    try {
      const out = execFileSync(toolPath(tool), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5_000 });
      return pattern.exec(out)?.[1] ?? out.trim();
    } catch (err) {
      // mosquitto -h prints its version and exits 3
      const e = err as { stdout?: string };
      return (e.stdout && pattern.exec(e.stdout)?.[1]) ?? 'unknown';
    }
  };
  const pkg = (name: string): string => (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  return {
    node: process.version,
    dapr: ask('daprd', ['--version'], /(\S+)/),
    mosquitto: ask('mosquitto', ['-h'], /mosquitto version (\S+)/),
    'node-opcua': pkg('node-opcua'),
  };
}

export function writeResult(name: string, result: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}
