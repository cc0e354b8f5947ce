// What a real node leaves on this machine outside its own directory, and how it is removed:
// container processes, containerd's shims, mounts, pod network namespaces, kubepods cgroups,
// CNI result caches, kubelet's log links. A snapshot before start says what was already there.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupDirs, iptablesChains, ipsets, mountsUnder, podNetns, removeCgroupTree, removeNetns, unmountUnder } from './host.js';

/**
 * Directories outside the node's own that containerd, CNI and kubelet write into whatever their
 * configuration says (kubelet's device-plugin socket path is fixed, so are its log links).
 */
const SHARED_DIRS = ['/var/lib/cni', '/var/log/containers', '/run/containerd', '/var/lib/kubelet'];
/** Chains and ipsets the node's programs make (kube-proxy, kube-router, CNI). */
export const NODE_CHAIN_PREFIXES = ['KUBE-', 'CNI-'];
export const NODE_IPSET_PREFIXES = ['KUBE-', 'kube-router-', 'inet6:KUBE-', 'inet6:kube-router-'];

export interface HostSnapshot {
  netns: string[];
  kubepods: string[];
  sharedDirs: Record<string, string[] | null>;
}

function list(dir: string): string[] | null {
  return existsSync(dir) ? readdirSync(dir) : null;
}

export function snapshotHost(): HostSnapshot {
  return {
    netns: podNetns(),
    kubepods: cgroupDirs('kubepods'),
    sharedDirs: Object.fromEntries(SHARED_DIRS.map((d) => [d, list(d)])),
  };
}

/** Pids in a cgroup tree (v1: any controller's copy lists every task). */
function cgroupPids(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string) => {
    try {
      pids.push(...readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      // gone meanwhile
    }
  };
  walk(dir);
  return [...new Set(pids)];
}

export function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** Every container process of the node's pods: SIGTERM, a grace period, then SIGKILL. */
export async function killPodProcesses(graceMs = 3_000): Promise<void> {
  const pidsNow = () => cgroupDirs('kubepods').flatMap(cgroupPids);
  signal(pidsNow(), 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pidsNow().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  signal(pidsNow(), 'SIGKILL');
}

/** Pids whose command line (as arguments) passes `match`. */
export function pidsByCommandLine(match: (args: string[]) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (match(readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0'))) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** containerd shims serving our socket (they outlive containerd by design). */
export function shimPids(socket: string): number[] {
  return pidsByCommandLine((args) => (args[0]?.includes('containerd-shim') ?? false) && args.includes(socket));
}

/** After containerd stopped: shims, mounts, namespaces, cgroups and shared-dir entries that are ours. */
export async function sweepNode(dir: string, socket: string, before: HostSnapshot): Promise<void> {
  signal(shimPids(socket), 'SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  unmountUnder(dir);
  removeNetns(podNetns().filter((n) => !before.netns.includes(n)));
  for (const cg of cgroupDirs('kubepods')) if (!before.kubepods.includes(cg)) removeCgroupTree(cg);
  for (const [shared, entries] of Object.entries(before.sharedDirs)) {
    if (!existsSync(shared)) continue;
    if (entries === null) {
      rmSync(shared, { recursive: true, force: true });
      continue;
    }
    for (const name of readdirSync(shared)) if (!entries.includes(name)) removeIfOurs(join(shared, name), dir);
  }
}

/** A new entry of a shared dir: a CNI cache of our network, a log link into our dir, a shim socket. */
function removeIfOurs(path: string, dir: string): void {
  try {
    const target = readlinkSync(path);
    if (target.startsWith(dir)) rmSync(path, { force: true });
    return;
  } catch {
    // not a link
  }
  rmSync(path, { recursive: true, force: true });
}

/** What the node left on the machine (empty when the teardown was complete). */
export function nodeLeftovers(dir: string, socket: string, before: HostSnapshot, bridge: string): string[] {
  const left: string[] = [];
  const shims = shimPids(socket);
  if (shims.length) left.push(`containerd shims still running: ${shims.join(', ')}`);
  const mounts = mountsUnder(dir);
  if (mounts.length) left.push(`mounts under ${dir}: ${mounts.slice(0, 5).join(', ')}`);
  const netns = podNetns().filter((n) => !before.netns.includes(n));
  if (netns.length) left.push(`pod network namespaces: ${netns.join(', ')}`);
  const cgroups = cgroupDirs('kubepods').filter((c) => !before.kubepods.includes(c));
  if (cgroups.length) left.push(`kubepods cgroups: ${cgroups.join(', ')}`);
  const chains = iptablesChains(NODE_CHAIN_PREFIXES);
  if (chains.length) left.push(`iptables chains: ${chains.slice(0, 8).join(', ')}${chains.length > 8 ? ` (+${chains.length - 8})` : ''}`);
  const sets = ipsets(NODE_IPSET_PREFIXES);
  if (sets.length) left.push(`ipsets: ${sets.join(', ')}`);
  // A route cannot outlive its device: with the bridge gone, so are the routes through it.
  for (const [shared, entries] of Object.entries(before.sharedDirs)) {
    if (!existsSync(shared)) continue;
    const added = readdirSync(shared).filter((n) => entries !== null && !entries.includes(n));
    if (entries === null) left.push(`${shared}, made by the node`);
    else if (added.length) left.push(`in ${shared}: ${added.join(', ')}`);
  }
  if (existsSync(`/sys/class/net/${bridge}`)) {
    const routes = execFileSync('ip', ['route', 'show', 'dev', bridge], { encoding: 'utf8' }).trim();
    left.push(`bridge ${bridge}${routes ? ` with routes: ${routes.replace(/\n/g, '; ')}` : ''}`);
  }
  return left;
}
