// buildah against this repo's own container storage: the vfs driver (works in any VM or
// container: no overlay, no fuse) under $EDGE_TOOLS_DIR/containers, so the machine's default
// storage is never touched and a warm run finds its images again.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { $ } from 'zx';
import { toolsDir } from '../common/tools.js';

/** zx that echoes nothing: a failed probe stays quiet, a thrown error still carries stderr. */
export const sh = $({ quiet: true });

export function containersDir(): string {
  return join(toolsDir(), 'containers');
}

/** Global flags of every buildah call. */
export function storageFlags(): string[] {
  return ['--root', join(containersDir(), 'storage'), '--runroot', join(containersDir(), 'run'), '--storage-driver', 'vfs'];
}

/** The same storage as a containers-storage transport reference (skopeo, buildah push). */
export function storageRef(image: string): string {
  return `containers-storage:[vfs@${join(containersDir(), 'storage')}+${join(containersDir(), 'run')}]${image}`;
}

export async function buildah(args: string[]): Promise<string> {
  return (await sh`buildah ${storageFlags()} ${args}`).stdout.trim();
}

/**
 * A long command with its output in a log file (builds print thousands of lines); on failure
 * the error carries the end of the log.
 */
export function runLogged(command: string, args: string[], logFile: string, env: Record<string, string> = {}): Promise<void> {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
    child.once('error', (err) => {
      closeSync(fd);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      closeSync(fd);
      if (code === 0) return resolve();
      const tail = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-25).join('\n');
      reject(new Error(`${command} ${args.slice(0, 8).join(' ')} ... failed (${code ?? signal}); end of ${logFile}:\n${tail}`));
    });
  });
}

export interface ImageInfo {
  id: string;
  architecture: string;
  user: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  labels: Record<string, string>;
  /** Sum of the uncompressed layer sizes. */
  bytes: number;
  layers: number;
}

interface RawInspect {
  FromImageID: string;
  Manifest: string;
  OCIv1: { architecture?: string; config?: { User?: string; Env?: string[]; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string; Labels?: Record<string, string> } };
}

/** The image's config, or undefined when local storage has no such image. */
export async function inspectImage(ref: string): Promise<ImageInfo | undefined> {
  const r = await sh`buildah ${storageFlags()} inspect --type image ${ref}`.nothrow();
  if (r.exitCode !== 0) return undefined;
  const raw = JSON.parse(r.stdout) as RawInspect;
  const layers = (JSON.parse(raw.Manifest) as { layers?: Array<{ size: number }> }).layers ?? [];
  const c = raw.OCIv1.config ?? {};
  return {
    id: raw.FromImageID,
    architecture: raw.OCIv1.architecture ?? '',
    user: c.User ?? '',
    env: c.Env ?? [],
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    workingDir: c.WorkingDir ?? '',
    labels: c.Labels ?? {},
    bytes: layers.reduce((n, l) => n + Math.max(0, l.size), 0),
    layers: layers.length,
  };
}

/** Removes intermediate images no tag refers to any more (vfs keeps a full copy of each). */
export async function pruneDangling(): Promise<void> {
  await sh`buildah ${storageFlags()} rmi --prune`.nothrow();
}
