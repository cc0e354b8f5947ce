// The netns target's network: one Linux network namespace per level plus an `internet`
// namespace, joined by veth pairs only along the parent links (child <-> parent) and between the
// top level and `internet`. Nothing is joined to the host's own namespace, no namespace forwards
// packets, and no namespace has a default route: a level reaches exactly its parent's and its
// children's link addresses, and these addresses exist only inside the namespaces made here.
//
// Addressing: link k (0 = top <-> internet, then one per parent link, parent first) is the /30
// LINK_BASE + 4k; the upper end (internet, or the parent) gets .1 of it, the lower end .2.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parentFirst, rootLevel, type Topology } from '../topology/model.js';

const run = promisify(execFile);

export const IP = '/usr/sbin/ip';
/** Every namespace this module makes is named `${NS_PREFIX}<pid>-<rand>-<level>`. */
export const NS_PREFIX = 'edge-';
export const INTERNET = 'internet';
/** Private range the links are carved from (a /30 each); it exists only inside our namespaces. */
export const LINK_BASE = '10.77.0.0';
export const LINK_RANGE_BITS = 16;

export interface NetLink {
  /** `${lower}-${upper}`, e.g. `l2-l3` or `l4-internet`. */
  name: string;
  /** Child level (or the top level, for the internet link). */
  lower: string;
  /** Parent level, or `internet`. */
  upper: string;
  cidr: string;
  lowerAddress: string;
  upperAddress: string;
  /** Interface names inside the lower / upper namespace. */
  lowerIf: string;
  upperIf: string;
}

export interface NetNode {
  /** Level name, or `internet`. */
  name: string;
  /** The Linux namespace name. */
  ns: string;
  /** This node's address on the link to its parent (or to internet, for the top level). */
  uplinkAddress?: string;
  /** The parent's address on that link: the only non-child address this node can reach. */
  parentAddress?: string;
  /** The networks of the links to the children (the clients of this level's services). */
  childCidrs: string[];
  /** Every address this node owns. */
  addresses: string[];
}

export interface NetnsNetworkPlan {
  runId: string;
  nodes: Record<string, NetNode>;
  links: NetLink[];
  /** Names that resolve, in every namespace, to the internet namespace's address. */
  internetNames: string[];
}

function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The /30 of link `index`: [cidr, upper address (.1), lower address (.2)]. */
export function linkAddresses(index: number): { cidr: string; upper: string; lower: string } {
  if (!Number.isInteger(index) || index < 0 || index >= 2 ** (32 - LINK_RANGE_BITS) / 4) throw new Error(`link index ${index} is outside ${LINK_BASE}/${LINK_RANGE_BITS}`);
  const base = ipToInt(LINK_BASE) + 4 * index;
  return { cidr: `${intToIp(base)}/30`, upper: intToIp(base + 1), lower: intToIp(base + 2) };
}

/** A run id unique on this machine, carrying our pid so a later sweep knows when it is stale. */
export function newRunId(): string {
  return `${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Pure: the namespaces, links and addresses for a topology. */
export function planNetwork(topology: Topology, runId: string, internetNames: string[]): NetnsNetworkPlan {
  const nsName = (node: string): string => `${NS_PREFIX}${runId}-${node}`;
  const nodes: Record<string, NetNode> = {};
  const ordered = parentFirst(topology);
  for (const level of ordered) nodes[level.name] = { name: level.name, ns: nsName(level.name), childCidrs: [], addresses: [] };
  if (nodes[INTERNET]) throw new Error(`a level may not be named "${INTERNET}" in the netns target`);
  nodes[INTERNET] = { name: INTERNET, ns: nsName(INTERNET), childCidrs: [], addresses: [] };

  const links: NetLink[] = [];
  const addLink = (lower: string, upper: string): void => {
    const index = links.length;
    const a = linkAddresses(index);
    links.push({ name: `${lower}-${upper}`, lower, upper, cidr: a.cidr, lowerAddress: a.lower, upperAddress: a.upper, lowerIf: 'up0', upperIf: `dn${index}` });
    const lo = nodes[lower]!;
    const up = nodes[upper]!;
    lo.uplinkAddress = a.lower;
    lo.parentAddress = a.upper;
    lo.addresses.push(a.lower);
    up.childCidrs.push(a.cidr);
    up.addresses.push(a.upper);
  };
  addLink(rootLevel(topology).name, INTERNET);
  for (const level of ordered) if (level.parent !== undefined) addLink(level.name, level.parent);
  return { runId, nodes, links, internetNames };
}

export function nodeOf(plan: NetnsNetworkPlan, name: string): NetNode {
  const node = plan.nodes[name];
  if (!node) throw new Error(`no namespace for "${name}"; known: ${Object.keys(plan.nodes).join(', ')}`);
  return node;
}

export function linkOf(plan: NetnsNetworkPlan, a: string, b: string): NetLink {
  const link = plan.links.find((l) => (l.lower === a && l.upper === b) || (l.lower === b && l.upper === a));
  if (!link) throw new Error(`no link between ${a} and ${b}: links join only a child and its parent`);
  return link;
}

async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await run(IP, args, { timeout: 15_000 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ip ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** Runs `ip` for a probe: never throws. */
async function ipProbe(args: string[]): Promise<{ ok: boolean; stdout: string }> {
  try {
    const { stdout } = await run(IP, args, { timeout: 15_000 });
    return { ok: true, stdout };
  } catch {
    return { ok: false, stdout: '' };
  }
}

/** Why the netns target cannot run here, or undefined when it can (root and a working `ip netns`). */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the netns target needs root (creating network namespaces); run as root';
  const probe = await ipProbe(['netns', 'list']);
  if (!probe.ok) return `\`${IP} netns list\` failed: install iproute2 and run on Linux`;
  return undefined;
}

export async function listNamespaces(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** The command line that runs `command args` inside namespace `ns` (with its /etc/netns files). */
export function inNamespace(ns: string, command: string, args: string[]): { command: string; args: string[] } {
  return { command: IP, args: ['netns', 'exec', ns, command, ...args] };
}

export function hostsFile(plan: NetnsNetworkPlan, node: NetNode): string {
  const internet = nodeOf(plan, INTERNET).addresses[0]!;
  const lines = ['# Generated for the netns target: do not edit by hand.', '127.0.0.1 localhost', `127.0.1.1 ${node.name}`];
  for (const n of Object.values(plan.nodes)) if (n.name !== INTERNET && n !== node && n.addresses.length > 0) lines.push(`${n.addresses[0]} ${n.name}`);
  lines.push(`${internet} ${plan.internetNames.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Creates every namespace, link, address and hosts file. Idempotent: what exists is kept. */
export async function bringUp(plan: NetnsNetworkPlan): Promise<void> {
  const existing = new Set(await listNamespaces());
  for (const node of Object.values(plan.nodes)) {
    if (!existing.has(node.ns)) await ip(['netns', 'add', node.ns]);
    await ip(['-n', node.ns, 'link', 'set', 'lo', 'up']);
    // A level never routes for another: a child's packets for anything but its parent's own
    // address end at the parent, even if someone adds a route in the child.
    await ip(['netns', 'exec', node.ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=0', 'net.ipv6.conf.all.forwarding=0']);
    const etc = join('/etc/netns', node.ns);
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'hosts'), hostsFile(plan, node));
    // No resolver anywhere: names come from the hosts file, and a lookup that misses it stays local.
    writeFileSync(join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  }
  for (const link of plan.links) {
    const lower = nodeOf(plan, link.lower);
    const upper = nodeOf(plan, link.upper);
    const present = await ipProbe(['-n', lower.ns, 'link', 'show', link.lowerIf]);
    if (!present.ok) await ip(['-n', lower.ns, 'link', 'add', link.lowerIf, 'type', 'veth', 'peer', 'name', link.upperIf, 'netns', upper.ns]);
    const prefix = link.cidr.split('/')[1]!;
    await ip(['-n', lower.ns, 'addr', 'replace', `${link.lowerAddress}/${prefix}`, 'dev', link.lowerIf]);
    await ip(['-n', upper.ns, 'addr', 'replace', `${link.upperAddress}/${prefix}`, 'dev', link.upperIf]);
    await ip(['-n', lower.ns, 'link', 'set', link.lowerIf, 'up']);
    await ip(['-n', upper.ns, 'link', 'set', link.upperIf, 'up']);
  }
}

/** Kills whatever still runs inside `ns`, deletes it and its /etc/netns dir. Idempotent. */
export async function removeNamespace(ns: string): Promise<void> {
  const pids = await ipProbe(['netns', 'pids', ns]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // Deleting a namespace destroys its veth ends, and with them their peers.
  await ipProbe(['netns', 'delete', ns]);
  rmSync(join('/etc/netns', ns), { recursive: true, force: true });
}

/** Removes every namespace and /etc/netns dir of the plan. Idempotent; never throws on absence. */
export async function tearDown(plan: NetnsNetworkPlan): Promise<void> {
  for (const node of Object.values(plan.nodes).reverse()) await removeNamespace(node.ns);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes leftovers of runs whose process is gone (a crashed test, a killed `edge up`): their
 * namespaces and /etc/netns dirs. Runs of live processes (concurrent tests) are left alone.
 * Returns the namespaces removed.
 */
export async function sweepLeftovers(): Promise<string[]> {
  const stale = (name: string): boolean => {
    const m = new RegExp(`^${NS_PREFIX}(\\d+)-`).exec(name);
    return m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  };
  const names = new Set((await listNamespaces()).filter(stale));
  let etcDirs: string[] = [];
  try {
    etcDirs = readdirSync('/etc/netns').filter(stale);
  } catch {
    // no /etc/netns at all
  }
  for (const d of etcDirs) names.add(d);
  for (const ns of names) await removeNamespace(ns);
  return [...names].sort();
}

/** Cuts a link, as a pulled cable: both ends go down, so nothing crosses it either way. */
export async function cutLink(plan: NetnsNetworkPlan, a: string, b: string): Promise<void> {
  const link = linkOf(plan, a, b);
  await ip(['-n', nodeOf(plan, link.lower).ns, 'link', 'set', link.lowerIf, 'down']);
  await ip(['-n', nodeOf(plan, link.upper).ns, 'link', 'set', link.upperIf, 'down']);
}

/** Restores a cut link; the addresses and their routes come back with the interfaces. */
export async function restoreLink(plan: NetnsNetworkPlan, a: string, b: string): Promise<void> {
  const link = linkOf(plan, a, b);
  await ip(['-n', nodeOf(plan, link.upper).ns, 'link', 'set', link.upperIf, 'up']);
  await ip(['-n', nodeOf(plan, link.lower).ns, 'link', 'set', link.lowerIf, 'up']);
}

/** True when both ends of the link are administratively up. */
export async function linkIsUp(plan: NetnsNetworkPlan, a: string, b: string): Promise<boolean> {
  const link = linkOf(plan, a, b);
  const lower = await ipProbe(['-n', nodeOf(plan, link.lower).ns, '-o', 'link', 'show', link.lowerIf]);
  const upper = await ipProbe(['-n', nodeOf(plan, link.upper).ns, '-o', 'link', 'show', link.upperIf]);
  const up = (s: string): boolean => /<[^>]*\bUP\b[^>]*>/.test(s);
  return lower.ok && upper.ok && up(lower.stdout) && up(upper.stdout);
}

/** net.ipv4.ip_forward inside a node's namespace (1 = it routes between its links). */
export async function ipForwarding(plan: NetnsNetworkPlan, node: string): Promise<number> {
  const out = await ip(['netns', 'exec', nodeOf(plan, node).ns, 'sysctl', '-n', 'net.ipv4.ip_forward']);
  return Number(out.trim());
}

/** Adds a route inside a node's namespace (for tests that try to get around the isolation). */
export async function addRoute(plan: NetnsNetworkPlan, node: string, cidr: string, via: string): Promise<void> {
  await ip(['-n', nodeOf(plan, node).ns, 'route', 'replace', cidr, 'via', via]);
}

/** The routes of a namespace, one per line (`ip route show`), for inspection and tests. */
export async function routesOf(plan: NetnsNetworkPlan, node: string): Promise<string[]> {
  const out = await ip(['-n', nodeOf(plan, node).ns, 'route', 'show']);
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}
