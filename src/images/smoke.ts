// Runs an image the way a container runtime would (its ENTRYPOINT + CMD, its user, env and
// working directory) with `buildah run --isolation chroot`. A long-running container gets a
// network namespace of its own (only loopback): what it binds, even on 0.0.0.0, is reachable only
// through probes run inside that namespace (nsenter), never from the machine's interfaces.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { startProcess, type ManagedProcess } from '../common/proc.js';
import { buildah, inspectImage, storageFlags, sh } from './buildah.js';
import { REPO_ROOT } from './versions.js';

const execFileP = promisify(execFile);

export interface RunSpec {
  image: string;
  /** Replaces the image's CMD (arguments to the ENTRYPOINT). */
  args?: string[];
  env?: Record<string, string>;
  /** host path -> container path, mounted read-only. */
  mounts?: Record<string, string>;
  /** runImage: in a network namespace of its own (only loopback), for a command that listens. */
  ownNetwork?: boolean;
}

/** `unshare --net` with loopback up, then the command: what startImage and runImage use. */
const inOwnNetwork = (command: string, args: string[]): string[] => ['--net', '--', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', command, ...args];

async function commandOf(spec: RunSpec): Promise<string[]> {
  const info = await inspectImage(spec.image);
  if (!info) throw new Error(`${spec.image} is not in local storage`);
  const command = [...info.entrypoint, ...(spec.args ?? info.cmd)];
  if (command.length === 0) throw new Error(`${spec.image} has neither ENTRYPOINT nor CMD`);
  return command;
}

function runArgs(spec: RunSpec, container: string, command: string[]): string[] {
  return [
    ...storageFlags(), 'run', '--isolation', 'chroot',
    ...Object.entries(spec.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ...Object.entries(spec.mounts ?? {}).flatMap(([h, c]) => ['-v', `${h}:${c}:ro`]),
    container, '--', ...command,
  ];
}

/** Runs the image to completion; never throws on a non-zero exit. */
export async function runImage(spec: RunSpec, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const command = await commandOf(spec);
  const container = await buildah(['from', '--pull-never', spec.image]);
  try {
    const [file, args] = spec.ownNetwork ? ['unshare', inOwnNetwork('buildah', runArgs(spec, container, command))] : ['buildah', runArgs(spec, container, command)];
    const r = await execFileP(file, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }).then(
      (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
    );
    return r;
  } finally {
    await sh`buildah ${storageFlags()} rm ${container}`.nothrow();
  }
}

export interface RunningImage {
  /** PID of the namespace holder (buildah); probes enter /proc/<pid>/ns/net. */
  pid: number;
  process: ManagedProcess;
  logFile: string;
  /** Runs `node -e script` (cwd: the repository, so its packages resolve) inside the namespace. */
  probe(script: string, timeoutMs?: number): Promise<string>;
  /** PID of the containerized process (the command's first word), once it runs. */
  containerPid(): number | undefined;
  /** SIGTERM to the containerized process (not buildah), then its exit code or signal. */
  terminate(graceMs?: number): Promise<number | string>;
  /** Ends everything and removes the working container. Idempotent. */
  stop(): Promise<void>;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The first descendant of `pid` whose command name is `comm` (the containerized process). */
function findDescendant(pid: number, comm: string): number | undefined {
  const queue = childrenOf(pid);
  while (queue.length) {
    const p = queue.shift()!;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm) return p;
    } catch {
      continue;
    }
    queue.push(...childrenOf(p));
  }
  return undefined;
}

/** Starts the image in its own network namespace; the caller must stop() it (also on failure). */
export async function startImage(spec: RunSpec, logFile: string): Promise<RunningImage> {
  const command = await commandOf(spec);
  const container = await buildah(['from', '--pull-never', spec.image]);
  const proc = startProcess({
    name: `image ${spec.image}`,
    command: 'unshare',
    args: inOwnNetwork('buildah', runArgs(spec, container, command)),
    logFile,
  });
  const comm = command[0]!.split('/').pop()!.slice(0, 15);
  let stopped: Promise<void> | undefined;
  return {
    pid: proc.pid,
    process: proc,
    logFile,
    async probe(script, timeoutMs = 15_000) {
      const r = await execFileP('nsenter', [`--net=/proc/${proc.pid}/ns/net`, '--', process.execPath, '-e', script], { cwd: REPO_ROOT, timeout: timeoutMs });
      return r.stdout;
    },
    containerPid: () => findDescendant(proc.pid, comm),
    async terminate(graceMs = 15_000) {
      const target = findDescendant(proc.pid, comm);
      if (target === undefined) throw new Error(`no "${comm}" process under ${proc.pid}: ${readFileSync(logFile, 'utf8').slice(-500)}`);
      process.kill(target, 'SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const result = await proc.exited;
      clearTimeout(timer);
      return result;
    },
    stop() {
      stopped ??= (async () => {
        await proc.stop(5_000);
        // buildah killed hard can leave its runtime child: end the whole process group.
        try {
          process.kill(-proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await sh`buildah ${storageFlags()} rm ${container}`.nothrow();
      })();
      return stopped;
    },
  };
}
