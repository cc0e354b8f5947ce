// Helm releases, changed only when something changed: a release whose chart version and values
// already match is left alone, so a repeated install or a no-op upgrade adds no revision.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { $ } from 'zx';
import { toolPath } from '../common/tools.js';

$.verbose = false;

export interface HelmTarget {
  kubeconfig: string;
  namespace: string;
}

export type ReleaseOutcome = 'installed' | 'upgraded' | 'unchanged';

interface ListedRelease {
  name: string;
  chart: string;
  status: string;
  revision: string;
}

function helm(): string {
  return toolPath('helm');
}

export async function chartVersion(chartDir: string): Promise<string> {
  const out = await $`${helm()} show chart ${chartDir}`;
  const name = /^name:\s*(\S+)/m.exec(out.stdout)?.[1];
  const version = /^version:\s*(\S+)/m.exec(out.stdout)?.[1];
  if (!name || !version) throw new Error(`${chartDir} has no name/version in Chart.yaml`);
  return `${name}-${version}`;
}

export async function getRelease(t: HelmTarget, name: string): Promise<ListedRelease | undefined> {
  const out = await $`${helm()} list --kubeconfig ${t.kubeconfig} -n ${t.namespace} --filter ${`^${name}$`} --all -o json`;
  return (JSON.parse(out.stdout) as ListedRelease[])[0];
}

async function currentValues(t: HelmTarget, name: string): Promise<unknown> {
  const out = await $`${helm()} get values ${name} --kubeconfig ${t.kubeconfig} -n ${t.namespace} -o json`;
  return JSON.parse(out.stdout || 'null') ?? {};
}

/** Sorted-key JSON, so that key order does not count as a change. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b))) : v));
}

export async function ensureDependencies(chartDir: string): Promise<void> {
  // file:// dependencies (the workload library): offline, well under a second.
  await $`${helm()} dependency build ${chartDir}`.quiet();
}

export async function applyRelease(t: HelmTarget, name: string, chartDir: string, values: Record<string, unknown>, opts: { timeout?: string; wait?: boolean } = {}): Promise<ReleaseOutcome> {
  const wanted = await chartVersion(chartDir);
  const existing = await getRelease(t, name);
  if (existing?.status === 'deployed' && existing.chart === wanted && canonical(await currentValues(t, name)) === canonical(values)) return 'unchanged';
  const dir = mkdtempSync(join(tmpdir(), 'edge-values-'));
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values), { mode: 0o600 });
    const wait = opts.wait === false ? [] : ['--wait', '--timeout', opts.timeout ?? '5m'];
    await $`${helm()} upgrade --install ${name} ${chartDir} --kubeconfig ${t.kubeconfig} -n ${t.namespace} --create-namespace --reset-values -f ${file} ${wait}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return existing ? 'upgraded' : 'installed';
}

export async function uninstallRelease(t: HelmTarget, name: string): Promise<boolean> {
  if (!(await getRelease(t, name))) return false;
  await $`${helm()} uninstall ${name} --kubeconfig ${t.kubeconfig} -n ${t.namespace} --wait --timeout 5m`;
  return true;
}

export async function releasesIn(t: HelmTarget): Promise<ListedRelease[]> {
  const out = await $`${helm()} list --kubeconfig ${t.kubeconfig} -n ${t.namespace} --all -o json`;
  return JSON.parse(out.stdout) as ListedRelease[];
}
