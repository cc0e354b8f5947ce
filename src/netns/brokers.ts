// The data plane of the netns target: one Mosquitto per level inside the level's namespace,
// configured by the one generator (src/config/mosquitto.ts). Each broker bridges to its parent's
// child listener on the parent's link address, the only broker it can reach.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Credentials } from '../config/credentials.js';
import { renderAclFile, renderMosquittoConf, renderPasswordFile } from '../config/mosquitto.js';
import { startProcess, waitFor, type ManagedProcess } from '../common/proc.js';
import { levelByName, parentFirst, type Topology } from '../topology/model.js';
import { inNamespace, nodeOf, type NetnsNetworkPlan } from './net.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';

export interface NetnsBrokerPlan {
  level: string;
  ns: string;
  dir: string;
  confFile: string;
  logFile: string;
  files: Array<{ path: string; content: string; mode: number }>;
  /** Where this level's own workloads connect (loopback inside the namespace). */
  workloadUrl: string;
}

/** Pure apart from nothing: the conf, password and ACL files of every level's broker. */
export function planBrokers(topology: Topology, net: NetnsNetworkPlan, creds: Credentials, baseDir: string): NetnsBrokerPlan[] {
  return parentFirst(topology).map((level) => {
    const node = nodeOf(net, level.name);
    const dir = join(baseDir, level.name, 'mosquitto');
    const paths = { persistenceDir: join(dir, 'data'), passwordFile: join(dir, 'passwd'), aclFile: join(dir, 'acl') };
    const parent =
      level.parent !== undefined
        ? { host: node.parentAddress!, port: levelByName(topology, level.parent).broker.childPort, bridgeUser: creds.levels[level.parent]!.bridges[level.name]! }
        : undefined;
    // Inside the namespace 0.0.0.0 is loopback plus this level's links: its workloads and children.
    const conf = renderMosquittoConf({ level, bindAddress: '0.0.0.0', parent, storeAndForward: topology.storeAndForward, paths, runAsUser: 'root' });
    return {
      level: level.name,
      ns: node.ns,
      dir,
      confFile: join(dir, 'mosquitto.conf'),
      logFile: join(dir, 'mosquitto.log'),
      files: [
        { path: join(dir, 'mosquitto.conf'), content: conf, mode: 0o600 },
        { path: paths.passwordFile, content: renderPasswordFile(level.name, creds), mode: 0o600 },
        { path: paths.aclFile, content: renderAclFile(level.name, creds), mode: 0o600 },
      ],
      workloadUrl: `mqtt://127.0.0.1:${level.broker.workloadPort}`,
    };
  });
}

export interface RunningBroker {
  plan: NetnsBrokerPlan;
  process: ManagedProcess;
}

/** Starts every broker parent first; resolves when each has opened its listeners (and bridge). */
export async function startBrokers(plans: NetnsBrokerPlan[], timeoutMs = 30_000): Promise<RunningBroker[]> {
  const running: RunningBroker[] = [];
  try {
    for (const plan of plans) {
      mkdirSync(join(plan.dir, 'data'), { recursive: true, mode: 0o700 });
      for (const f of plan.files) writeFileSync(f.path, f.content, { mode: f.mode });
      const cmd = inNamespace(plan.ns, MOSQUITTO, ['-c', plan.confFile]);
      const proc = startProcess({ name: `mosquitto-${plan.level}`, command: cmd.command, args: cmd.args, logFile: plan.logFile });
      running.push({ plan, process: proc });
      await waitFor(`mosquitto of ${plan.level} to listen (see ${plan.logFile})`, () => {
        if (!proc.isRunning()) throw new Error('exited');
        return /Opening ipv4 listen socket on port/.test(readFileSync(plan.logFile, 'utf8'));
      }, timeoutMs);
      if (!proc.isRunning()) throw new Error(`mosquitto of ${plan.level} exited: see ${plan.logFile}`);
    }
    return running;
  } catch (err) {
    await stopBrokers(running);
    throw err;
  }
}

export async function stopBrokers(running: RunningBroker[]): Promise<void> {
  await Promise.all(running.map((r) => r.process.stop(5_000)));
}
