// Network guards of a test cluster: pod, Service and fake-pod addresses never leave this machine.
// Each cluster owns its chains (named by a short id) and the jump rules that carry its pid in a
// comment, so teardown removes exactly what it made and a later start sweeps a dead owner's.
// Every rule matches one of the cluster's own CIDRs or its own bridge: never the machine's
// resolver, default route or any other traffic.
import { execFileSync } from 'node:child_process';
import { pidAlive } from './pids.js';

export interface GuardSpec {
  /** Short owner id, [a-z0-9]{1,8}: the chain names are EDGE-<ID>-OUT/-FWD. */
  id: string;
  /** Address ranges that must stay on this machine (pods, Services, kwok's fake pods). */
  cidrs: string[];
  /** The pod bridge, when real pods run: traffic into or out of it is bridge-to-bridge only. */
  bridge?: string;
}

export interface GuardRecord extends GuardSpec {
  /** `table:chain` of each chain made. */
  chains: string[];
  /** The rules that jump into our chains, as `-t table -A ...` argument lists (deleted with `-D`). */
  jumps: string[][];
}

const COMMENT_PREFIX = 'edge-guard';

function iptables(args: string[]): string {
  return execFileSync('iptables', ['-w', '5', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryIptables(args: string[]): boolean {
  try {
    iptables(args);
    return true;
  } catch {
    return false;
  }
}

export function chainNames(id: string): { out: string; fwd: string } {
  if (!/^[a-z0-9]{1,8}$/.test(id)) throw new Error(`guard id must be 1-8 of [a-z0-9], got ${JSON.stringify(id)}`);
  const up = id.toUpperCase();
  return { out: `EDGE-${up}-OUT`, fwd: `EDGE-${up}-FWD` };
}

/** The `-A` rules of both chains: what reaches a guarded range goes only to the bridge. */
export function guardRules(spec: GuardSpec): { out: string[][]; fwd: string[][] } {
  const { out, fwd } = chainNames(spec.id);
  const reject = ['-j', 'REJECT', '--reject-with', 'icmp-port-unreachable'];
  const notBridge = spec.bridge ? ['!', '-o', spec.bridge] : [];
  // Traffic to this machine's own addresses (the bridge address included) leaves through lo.
  const outRules = [['-A', out, '-o', 'lo', '-j', 'RETURN'], ...spec.cidrs.map((cidr) => ['-A', out, '-d', cidr, ...notBridge, ...reject])];
  // Forwarding is allowed to decide (kube-router's policies come later) only inside the bridge.
  const fwdRules = spec.bridge
    ? [
        ['-A', fwd, '-i', spec.bridge, '!', '-o', spec.bridge, '-j', 'DROP'],
        ['-A', fwd, '!', '-i', spec.bridge, '-o', spec.bridge, '-j', 'DROP'],
        ...spec.cidrs.map((cidr) => ['-A', fwd, '-d', cidr, '!', '-o', spec.bridge!, '-j', 'DROP']),
      ]
    : spec.cidrs.map((cidr) => ['-A', fwd, '-d', cidr, '-j', 'DROP']);
  return { out: outRules, fwd: fwdRules };
}

/**
 * Installs the guard before anything of the cluster starts. The jumps go first in OUTPUT and
 * FORWARD: later rules (kube-proxy's, kube-router's) cannot let a guarded packet out.
 */
export function installGuard(spec: GuardSpec): GuardRecord {
  sweepStaleGuards();
  const names = chainNames(spec.id);
  const rules = guardRules(spec);
  const comment = ['-m', 'comment', '--comment', `${COMMENT_PREFIX} ${spec.id} pid ${process.pid}`];
  const record: GuardRecord = { ...spec, chains: [], jumps: [] };
  try {
    for (const [table, chain, list] of [['filter', names.out, rules.out], ['mangle', names.fwd, rules.fwd]] as const) {
      iptables(['-t', table, '-N', chain]);
      record.chains.push(`${table}:${chain}`);
      for (const rule of list) iptables(['-t', table, ...rule]);
    }
    for (const [table, parent, chain] of JUMPS(names)) {
      iptables(['-t', table, '-I', parent, '1', ...comment, '-j', chain]);
      record.jumps.push(['-t', table, '-A', parent, ...comment, '-j', chain]);
    }
  } catch (err) {
    removeGuard(record);
    throw new Error(`could not install the network guard (iptables): ${err instanceof Error ? err.message : String(err)}`);
  }
  return record;
}

/**
 * Output is guarded in filter/OUTPUT (REJECT: a local, immediate "connection refused"); forwarding
 * in mangle/FORWARD, ahead of every filter rule: kube-router puts its own FORWARD jump first and
 * accepts what a policy allows, wherever it goes.
 */
const JUMPS = (names: { out: string; fwd: string }) =>
  [
    ['filter', 'OUTPUT', names.out],
    ['mangle', 'FORWARD', names.fwd],
  ] as const;

/** Removes what installGuard made; idempotent. `chains` are `table:chain`, `jumps` `-t table -A ...`. */
export function removeGuard(record: Pick<GuardRecord, 'chains' | 'jumps'>): void {
  for (const jump of record.jumps) {
    const del = jump.map((a) => (a === '-A' ? '-D' : a));
    while (tryIptables(del));
  }
  for (const entry of record.chains) {
    const [table, chain] = entry.split(':') as [string, string];
    tryIptables(['-t', table, '-F', chain]);
    tryIptables(['-t', table, '-X', chain]);
  }
}

/** Jump rules of guards in the filter table: the owner's id and pid, and the rule itself. */
export function listGuards(): { id: string; pid: number; rule: string[] }[] {
  const found: { id: string; pid: number; rule: string[] }[] = [];
  for (const table of ['filter', 'mangle']) {
    for (const line of iptables(['-t', table, '-S']).split('\n')) {
      const m = new RegExp(`^-A (OUTPUT|FORWARD) .*--comment "?${COMMENT_PREFIX} ([a-z0-9]+) pid (\\d+)"? -j (EDGE-[A-Z0-9]+-(?:OUT|FWD))$`).exec(line);
      if (m) found.push({ id: m[2]!, pid: Number(m[3]), rule: ['-t', table, '-A', m[1]!, '-m', 'comment', '--comment', `${COMMENT_PREFIX} ${m[2]} pid ${m[3]}`, '-j', m[4]!] });
    }
  }
  return found;
}

/** Removes the guards whose owning process is gone (a test killed before its teardown). */
export function sweepStaleGuards(): string[] {
  const swept: string[] = [];
  for (const guard of listGuards()) {
    if (pidAlive(guard.pid)) continue;
    const names = chainNames(guard.id);
    removeGuard({ jumps: [guard.rule], chains: [`filter:${names.out}`, `mangle:${names.fwd}`] });
    if (!swept.includes(guard.id)) swept.push(guard.id);
  }
  return swept;
}
