// The whole edge in the netns target: the local target's plan and runner (src/local/), with each
// process started inside its level's namespace (`ip netns exec`), each broker on its level's own
// address, and every readiness probe made from inside the namespace by an agent (agent.ts).
// Nothing here duplicates the runner: only addresses, the command wrapper and the probe differ.
import { join } from 'node:path';
import { freePort } from '../common/proc.js';
import { toolPath } from '../common/tools.js';
import { loadOrCreateCredentials } from '../config/credentials.js';
import { buildLocalPlan } from '../local/plan.js';
import { LocalEdge, writePlanFiles, type EdgeProbe, type Progress } from '../local/run.js';
import { type Topology } from '../topology/model.js';
import { NsAgent } from './agent-client.js';
import { bringUp, cutLink, inNamespace, linkOf, newRunId, nodeOf, planNetwork, restoreLink, tearDown, type NetnsNetworkPlan } from './net.js';

export const LOOPBACK = '127.0.0.1';

/**
 * A level's broker address in the netns target: its address on the link to its child (where the
 * child's bridge dials, and where its own sidecars connect), or the namespace's loopback for a
 * level without children, which nobody else needs to reach. The one Mosquitto generator binds
 * both listeners to one address, so a level with two children would need a listener per link:
 * refused with a clear message until the generator can do that.
 */
export function brokerHostOf(topology: Topology, net: NetnsNetworkPlan, level: string): string {
  const children = topology.levels.filter((l) => l.parent === level);
  if (children.length === 0) return LOOPBACK;
  if (children.length > 1) throw new Error(`level ${level} has ${children.length} children (${children.map((c) => c.name).join(', ')}): the netns target binds one child listener per broker and supports one child per level for now`);
  return linkOf(net, children[0]!.name, level).upperAddress;
}

/** Probes from inside each level's namespace, through that level's agent. */
export function agentProbe(agents: Record<string, NsAgent>): EdgeProbe {
  const agent = (level: string): NsAgent => {
    const a = agents[level];
    if (!a) throw new Error(`no agent in the namespace of ${level}`);
    return a;
  };
  return {
    tcp: async (level, host, port) => (await agent(level).tcp(host, port, 500)).ok,
    async httpStatus(level, url) {
      const r = await agent(level).httpGet(url);
      if (!r.ok) throw new Error(`GET ${url} from ${level}: ${r.error}`);
      return r.status ?? 0;
    },
    watch: (level, ep, clientId, topics) => agent(level).mqttWatch(`mqtt://${ep.host}:${ep.port}`, ep.username, ep.password, clientId, topics),
    bounceSession: (level, broker, session) => agent(level).mqttBounce(`mqtt://${broker.host}:${broker.port}`, session),
  };
}

export interface NetnsEdgeOptions {
  dataDir: string;
  progress?: Progress;
  logLevel?: string;
  /** Names resolving to the internet namespace in every level's hosts file. */
  internetNames?: string[];
}

export class NetnsEdge {
  private constructor(
    readonly topology: Topology,
    readonly net: NetnsNetworkPlan,
    readonly agents: Record<string, NsAgent>,
    readonly edge: LocalEdge,
  ) {}

  /**
   * Brings up the namespaces and links, an agent per level, and writes the plan's files. Nothing
   * runs yet: `start()` starts the brokers and workloads. On failure, what was made is removed.
   */
  static async create(topology: Topology, opts: NetnsEdgeOptions): Promise<NetnsEdge> {
    const net = planNetwork(topology, newRunId(), opts.internetNames ?? []);
    const agents: Record<string, NsAgent> = {};
    try {
      await bringUp(net);
      for (const level of topology.levels) agents[level.name] = await NsAgent.start(nodeOf(net, level.name).ns, join(opts.dataDir, level.name, 'agent.log'));
      const creds = loadOrCreateCredentials(topology, join(opts.dataDir, 'secrets', 'credentials.json'));
      const plan = await buildLocalPlan(topology, creds, {
        dataDir: opts.dataDir,
        daprdPath: toolPath('daprd'),
        mosquittoPath: toolPath('mosquitto'),
        nodePath: process.execPath,
        hostOf: (level) => brokerHostOf(topology, net, level),
        appHostOf: () => LOOPBACK,
        wrap: (level, command, args) => inNamespace(nodeOf(net, level).ns, command, args),
        // Started by root inside the namespace, Mosquitto stays root: its persistence dir,
        // created by root, is writable (a dropped user could not write it, and would persist nothing).
        runAsUser: 'root',
        allocatePort: freePort,
        logLevel: opts.logLevel,
      });
      writePlanFiles(plan);
      const edge = new LocalEdge(plan, opts.progress ?? (() => undefined), { probe: agentProbe(agents) });
      return new NetnsEdge(topology, net, agents, edge);
    } catch (err) {
      await Promise.all(Object.values(agents).map((a) => a.stop()));
      await tearDown(net);
      throw err;
    }
  }

  start(): Promise<void> {
    return this.edge.start();
  }

  /** The namespace of a level. */
  ns(level: string): string {
    return nodeOf(this.net, level).ns;
  }

  cut(a: string, b: string): Promise<void> {
    return cutLink(this.net, a, b);
  }

  restore(a: string, b: string): Promise<void> {
    return restoreLink(this.net, a, b);
  }

  /** Stops every process, the agents, and removes the namespaces. Idempotent; never throws. */
  async down(): Promise<void> {
    await this.edge.stopAll().catch(() => undefined);
    await Promise.all(Object.values(this.agents).map((a) => a.stop().catch(() => undefined)));
    await tearDown(this.net).catch(() => undefined);
  }
}
