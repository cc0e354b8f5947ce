// What a real node changes on this machine besides its processes: sysctls, the pod bridge and the
// Service route, mounts under its root, pod network namespaces, cgroup directories. Each change
// is recorded where it is made, and undone from that record.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(command: string, args: string[]): boolean {
  try {
    run(command, args);
    return true;
  } catch {
    return false;
  }
}

const sysctlPath = (name: string) => join('/proc/sys', ...name.split('.'));

export function readSysctl(name: string): string {
  return readFileSync(sysctlPath(name), 'utf8').trim();
}

/**
 * The sysctls kubelet rewrites (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops) and the
 * one the node needs (ip_forward, for Service traffic routed back into the bridge): their values
 * before start, to restore at teardown.
 */
export const NODE_SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables',
] as const;

/** Values of the sysctls that exist here (a kernel without bridge netfilter has no bridge-nf-*). */
export function recordSysctls(names: readonly string[] = NODE_SYSCTLS): Record<string, string> {
  return Object.fromEntries(names.filter((n) => existsSync(sysctlPath(n))).map((n) => [n, readSysctl(n)]));
}

export function restoreSysctls(saved: Record<string, string>): void {
  for (const [name, value] of Object.entries(saved)) {
    if (readSysctl(name) !== value) writeFileSync(sysctlPath(name), `${value}\n`);
  }
}

export function writeSysctl(name: string, value: string): void {
  writeFileSync(sysctlPath(name), `${value}\n`);
}

/** The pod bridge with its gateway address, up before the API server binds to that address. */
export function addBridge(name: string, gatewayCidr: string): void {
  if (existsSync(`/sys/class/net/${name}`)) throw new Error(`network interface ${name} already exists: another real node runs, or one was left behind (ip link del ${name})`);
  run('ip', ['link', 'add', name, 'type', 'bridge']);
  run('ip', ['addr', 'add', gatewayCidr, 'dev', name]);
  run('ip', ['link', 'set', name, 'up']);
}

export function removeBridge(name: string): void {
  if (existsSync(`/sys/class/net/${name}`)) tryRun('ip', ['link', 'del', name]);
}

/** Service addresses that kube-proxy does not translate go into the bridge, never the default route. */
export function addRoute(cidr: string, device: string): void {
  run('ip', ['route', 'replace', cidr, 'dev', device]);
}

export function removeRoute(cidr: string, device: string): void {
  tryRun('ip', ['route', 'del', cidr, 'dev', device]);
}

/** Mount points at or below `root`, deepest first (the order to unmount them). */
export function mountsUnder(root: string): string[] {
  const prefix = root.endsWith('/') ? root : `${root}/`;
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === root || p.startsWith(prefix));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export function unmountUnder(root: string): string[] {
  const left: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    for (const point of mountsUnder(root)) tryRun('umount', [point]) || tryRun('umount', ['-l', point]);
  }
  left.push(...mountsUnder(root));
  return left;
}

/** Pod network namespaces that containerd's CRI made (bind mounts under /var/run/netns). */
export function podNetns(): string[] {
  const dir = '/var/run/netns';
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('cni-')) : [];
}

export function removeNetns(names: string[]): void {
  for (const name of names) {
    const path = join('/var/run/netns', name);
    tryRun('umount', [path]) || tryRun('umount', ['-l', path]);
    tryRun('rm', ['-f', path]);
  }
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/** `<controller>/<name>` cgroup directories that exist (hybrid v1: one tree per controller). */
export function cgroupDirs(name: string): string[] {
  if (!existsSync(CGROUP_ROOT)) return [];
  return readdirSync(CGROUP_ROOT)
    .map((c) => join(CGROUP_ROOT, c, name))
    .filter((d) => existsSync(d) && statSync(d).isDirectory());
}

/** Removes a cgroup tree bottom-up (a cgroup directory goes with rmdir once it has no tasks). */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  }
  try {
    rmdirSync(dir);
  } catch {
    // still busy: the leftover check reports it
  }
}

/** ipsets whose names start with any of the prefixes (kube-router's). */
export function ipsets(prefixes: string[]): string[] {
  let out = '';
  try {
    out = run('ipset', ['list', '-n']);
  } catch {
    return [];
  }
  return out.split('\n').filter((n) => n && prefixes.some((p) => n.startsWith(p)));
}

export function destroyIpsets(names: string[]): void {
  for (const name of names) tryRun('ipset', ['destroy', name]);
}

/** iptables chains (every table) whose names start with one of the prefixes. */
export function iptablesChains(prefixes: string[]): string[] {
  let out = '';
  try {
    out = run('iptables-save', []);
  } catch {
    return [];
  }
  return out
    .split('\n')
    .filter((l) => l.startsWith(':'))
    .map((l) => l.slice(1).split(' ')[0] ?? '')
    .filter((c) => prefixes.some((p) => c.startsWith(p)));
}

/** Splits one `iptables -S` line into arguments (comments come double-quoted, with \" escapes). */
export function splitRule(line: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) args.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return args;
}

/**
 * Removes every chain whose name starts with one of the prefixes, in every table: first the rules
 * that jump to them from other chains, then the chains. For what a program's own cleanup leaves
 * (kube-router 2.1's `--cleanup-config` panics before it is done).
 */
export function removeChains(prefixes: string[]): void {
  const ours = (chain: string) => prefixes.some((p) => chain.startsWith(p));
  for (const table of ['filter', 'nat', 'mangle', 'raw']) {
    let rules: string[];
    try {
      rules = run('iptables', ['-w', '5', '-t', table, '-S']).split('\n');
    } catch {
      continue;
    }
    const chains = rules.filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim()).filter(ours);
    if (chains.length === 0) continue;
    for (const line of rules) {
      const args = splitRule(line);
      const jump = args.includes('-j') ? args.indexOf('-j') : args.indexOf('-g');
      const target = jump >= 0 ? (args[jump + 1] ?? '') : '';
      if (args[0] === '-A' && !ours(args[1] ?? '') && ours(target)) tryRun('iptables', ['-w', '5', '-t', table, '-D', ...args.slice(1)]);
    }
    for (const chain of chains) tryRun('iptables', ['-w', '5', '-t', table, '-F', chain]);
    for (const chain of chains) tryRun('iptables', ['-w', '5', '-t', table, '-X', chain]);
  }
}
