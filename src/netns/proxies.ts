// The egress-proxy chain of the netns target: one Squid per level, inside the level's namespace,
// configured by the one generator (src/config/squid.ts). A lower level's Squid forwards only to
// its parent's Squid on the parent's link address; the top level's goes direct, to the allow-list.
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { renderSquidConf } from '../config/squid.js';
import { startProcess, waitFor, type ManagedProcess } from '../common/proc.js';
import { egressOf, levelByName, parentFirst, proxyPortOf, type Topology } from '../topology/model.js';
import { inNamespace, nodeOf, type NetnsNetworkPlan } from './net.js';

export const SQUID = '/usr/sbin/squid';
/** The user Debian's Squid drops to when started as root; it must own the run directory. */
export const SQUID_USER = 'proxy';

export interface ProxyPlan {
  level: string;
  ns: string;
  /** Where this level's workloads and children reach the proxy: its own link addresses. */
  port: number;
  dir: string;
  confFile: string;
  conf: string;
  cacheLog: string;
  accessLog: string;
  /** Parent proxy address on the link, for a lower level. */
  parent?: { host: string; port: number; level: string };
  /** This level's own address on the link to its parent (or to internet, for the top). */
  uplinkAddress: string;
}

function isParentOf(candidate: ProxyPlan, child: ProxyPlan): boolean {
  return child.parent?.level === candidate.level;
}

/** Pure: one Squid config per level. `allowDomains` defaults to the topology's egress list. */
export function planProxies(topology: Topology, net: NetnsNetworkPlan, baseDir: string, allowDomains?: string[]): ProxyPlan[] {
  const egress = egressOf(topology);
  return parentFirst(topology).map((level) => {
    const node = nodeOf(net, level.name);
    const dir = join(baseDir, level.name, 'squid');
    const parent = level.parent !== undefined ? { host: node.parentAddress!, port: proxyPortOf(levelByName(topology, level.parent)), level: level.parent } : undefined;
    const paths = { pidFile: join(dir, 'squid.pid'), accessLog: join(dir, 'access.log'), cacheLog: join(dir, 'cache.log'), coredumpDir: dir };
    const conf = renderSquidConf({
      levelName: level.name,
      // Inside the namespace, 0.0.0.0 is only this level's own addresses: loopback and its links.
      bindAddress: '0.0.0.0',
      port: proxyPortOf(level),
      parent: parent && { host: parent.host, port: parent.port },
      allowDomains: allowDomains ?? egress.allowDomains,
      connectPorts: egress.connectPorts,
      // This level's own processes (loopback) and its children's links; nobody else.
      clientCidrs: ['127.0.0.1/32', ...node.childCidrs],
      paths,
      runtime: { visibleHostname: `proxy-${level.name}`, shutdownLifetimeS: 0, pinger: false },
    });
    return { level: level.name, ns: node.ns, port: proxyPortOf(level), dir, confFile: join(dir, 'squid.conf'), conf, cacheLog: paths.cacheLog, accessLog: paths.accessLog, parent, uplinkAddress: node.uplinkAddress! };
  });
}

function userIds(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export interface RunningProxy {
  plan: ProxyPlan;
  process: ManagedProcess;
}

/**
 * Writes the configs and starts every Squid (parent first), each in the foreground (`-N`) inside
 * its namespace; resolves when all accept connections. On failure, stops what it started.
 */
export async function startProxies(plans: ProxyPlan[], timeoutMs = 30_000): Promise<RunningProxy[]> {
  if (!existsSync(SQUID)) throw new Error(`${SQUID} not found: install the Debian package squid (npm run setup -- --all)`);
  const owner = process.getuid?.() === 0 ? userIds(SQUID_USER) : undefined;
  const running: RunningProxy[] = [];
  try {
    // Parent first, each one accepting before its children start: a child Squid probes its parent
    // at start, and a parent that refused that probe would be skipped until a later probe.
    for (const plan of plans) {
      mkdirSync(plan.dir, { recursive: true });
      writeFileSync(plan.confFile, plan.conf);
      // Squid started as root drops to `proxy`: its logs and pid file must be writable by it.
      if (owner) {
        chownSync(plan.dir, owner.uid, owner.gid);
        makeTraversable(plan.dir);
      }
      const cmd = inNamespace(plan.ns, SQUID, ['-N', '-f', plan.confFile]);
      const proc = startProcess({ name: `squid-${plan.level}`, command: cmd.command, args: cmd.args, logFile: join(plan.dir, 'stderr.log') });
      running.push({ plan, process: proc });
      const exited = proc.exited.then(() => {
        throw new Error(`squid of ${plan.level} exited at start:\n${tail(join(plan.dir, 'stderr.log'))}`);
      });
      exited.catch(() => undefined);
      await Promise.race([
        exited,
        waitFor(`squid of ${plan.level} to accept connections (see ${plan.cacheLog})`, () => existsSync(plan.cacheLog) && readFileSync(plan.cacheLog, 'utf8').includes('Accepting HTTP Socket connections'), timeoutMs, 50),
      ]);
    }
    // A lower Squid forwards only once it has found its parent usable, which it shows by probing
    // the parent with a TCP connection: the parent logs that connection from the child's address.
    for (const { plan } of running) {
      if (!plan.parent) continue;
      const parent = running.find((r) => isParentOf(r.plan, plan));
      if (!parent) continue;
      await waitFor(`squid of ${plan.level} to reach its parent's squid at ${plan.parent.host}:${plan.parent.port}`, () => accessLogOf(parent.plan).some((l) => l.split(/\s+/)[2] === plan.uplinkAddress), timeoutMs, 100);
    }
    return running;
  } catch (err) {
    await stopProxies(running);
    throw err;
  }
}

export async function stopProxies(running: RunningProxy[]): Promise<void> {
  await Promise.all(running.map((r) => r.process.stop(5_000)));
}

/** Squid's user must be able to reach its directory: give every ancestor the search bit (not read). */
function makeTraversable(dir: string): void {
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) chmodSync(d, (mode & 0o7777) | 0o001);
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-8).join('\n');
  } catch {
    return '';
  }
}

/** Access-log lines of a proxy (Squid's native format: time elapsed client code/status bytes method url ...). */
export function accessLogOf(plan: ProxyPlan): string[] {
  try {
    return readFileSync(plan.accessLog, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
