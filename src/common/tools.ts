// Where the toolchain built by `npm run setup` lives: outside the repo, cached across runs.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function toolsDir(): string {
  return process.env.EDGE_TOOLS_DIR ?? join(homedir(), '.cache', 'edge-tools');
}

/** Tools that the plain `npm run setup` does not build, and how to get them. */
const BUILT_BY: Record<string, string> = {
  'otelcol-edge': '`npm run setup -- --all` (or `bash tools/build-otelcol.sh`)',
};

/** Absolute path of a tool: the cached build first, then the system PATH (Debian packages). */
export function toolPath(name: string): string {
  const cached = join(toolsDir(), 'bin', name);
  if (existsSync(cached)) return cached;
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} not found in ${join(toolsDir(), 'bin')} or PATH: run ${BUILT_BY[name] ?? '`npm run setup`'} first`);
}
