// What an image is built from: the listed files of the repository, staged into a directory of
// their own (the build context holds only them, not node_modules or dist), their content hash
// (the build cache key) and the git revision the tags are made from.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { toolsDir } from '../common/tools.js';
import { REPO_ROOT } from './versions.js';

export interface Source {
  /** The staged build context. */
  dir: string;
  /** sha256 over the path, mode and content of every staged file and of the base's recipes. */
  hash: string;
  /** The last commit that changed the inputs (12 hex), or "unknown" outside a git checkout. */
  revision: string;
  /** True when a staged file differs from HEAD (edited or untracked). */
  dirty: boolean;
  /** That commit's time (seconds): the images' creation time, the same for every rebuild. */
  epoch: number;
}

/** The inputs of workloads/Dockerfile, relative to the repository root. */
export const WORKLOAD_INPUTS = ['package.json', 'package-lock.json', 'tsconfig.json', '.dockerignore', 'workloads', 'tools/images/workload-deps.mjs'];

const SKIP = new Set(['node_modules', 'dist', '.git']);

function listFiles(root: string, paths: string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = join(root, rel);
    if (!existsSync(abs)) throw new Error(`build input ${rel} does not exist`);
    if (statSync(abs).isDirectory()) {
      for (const entry of readdirSync(abs).sort()) if (!SKIP.has(entry)) walk(join(rel, entry));
    } else out.push(rel);
  };
  paths.forEach(walk);
  return out.sort();
}

export function hashFiles(root: string, files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f}\0${statSync(join(root, f)).mode & 0o111 ? 'x' : '-'}\0`).update(readFileSync(join(root, f))).update('\0');
  return h.digest('hex');
}

async function git(args: string[]): Promise<string | undefined> {
  const r = await $({ cwd: REPO_ROOT, quiet: true })`git ${args}`.nothrow();
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

/** The image recipes every image depends on through its base (Debian, Node). */
export const BASE_INPUTS = ['tools/images/versions.env', 'tools/images/base-rootfs.sh', 'tools/images/Containerfile.debian', 'tools/images/Containerfile.node'];

/**
 * Stages `paths` (files or directories) under $EDGE_TOOLS_DIR/images/contexts/<kind>-<hash>. The
 * revision is the last commit that changed `paths` or `alsoFrom` (not HEAD): the same sources
 * give the same revision, tag and labels at any later commit and on any machine.
 */
export async function stageSource(kind: string, paths: string[], alsoFrom: string[] = []): Promise<Source> {
  const files = listFiles(REPO_ROOT, paths);
  // The recipes of the base count too: they change the image without changing the context.
  const hash = hashFiles(REPO_ROOT, [...files, ...listFiles(REPO_ROOT, alsoFrom)]);
  const contexts = join(toolsDir(), 'images', 'contexts');
  const dir = join(contexts, `${kind}-${hash.slice(0, 16)}`);
  if (!existsSync(dir)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    for (const f of files) {
      mkdirSync(join(tmp, f, '..'), { recursive: true });
      cpSync(join(REPO_ROOT, f), join(tmp, f));
    }
    renameSync(tmp, dir);
  }
  // Older contexts of this kind are never used again.
  for (const old of readdirSync(contexts)) if (old.startsWith(`${kind}-`) && join(contexts, old) !== dir && !old.includes('.tmp-')) rmSync(join(contexts, old), { recursive: true, force: true });
  const inputs = [...paths, ...alsoFrom];
  // No commit has any of them yet: based on HEAD, with local changes (like `git describe --dirty`).
  const last = (await git(['log', '-1', '--format=%H %ct', '--', ...inputs])) || (await git(['log', '-1', '--format=%H %ct'])) || 'unknown 0';
  const [commit = 'unknown', time = '0'] = last.split(' ');
  // Dirty: an input differs from HEAD (edited, or not committed at all).
  const diff = await git(['diff', '--name-only', 'HEAD', '--', ...inputs]);
  const untracked = await git(['ls-files', '--others', '--exclude-standard', '--', ...inputs]);
  return { dir, hash, revision: commit.slice(0, 12), dirty: diff === undefined || untracked === undefined || diff !== '' || untracked !== '', epoch: Number(time) };
}

/**
 * The tag of a build: `<version>-git.<commit>`, and for uncommitted sources
 * `<version>-git.<commit>.dirty.<content hash>`: the same sources always give the same tag.
 */
export function tagFor(version: string, source: Source): string {
  const clean = version.replace(/[^A-Za-z0-9_.-]/g, '-');
  return `${clean}-git.${source.revision}${source.dirty ? `.dirty.${source.hash.slice(0, 8)}` : ''}`.slice(0, 128);
}
