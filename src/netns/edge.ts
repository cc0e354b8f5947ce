// The whole edge in the netns target: the local target's plan and runner (src/local/), with each
// process started inside its level's namespace (`ip netns exec`), each broker on its level's own
// address, and every readiness probe made from inside the namespace by an agent (agent.ts).
// Nothing here duplicates the runner: only addresses, the command wrapper and the probe differ.
import { join } from 'node:path';
import { freePort } from '../common/proc.js';
import { toolPath } from '../common/tools.js';
import { loadOrCreateCredentials } from '../config/credentials.js';
import { buildLocalPlan } from '../local/plan.js';
import type { OtelOptions } from '../local/otel-plan.js';
import { ensureBrokerPki, pkiDirOf } from '../pki/broker-pki.js';
import { rotateRunning } from '../local/rotate.js';
import { LocalEdge, writePlanFiles, type EdgeProbe, type Progress } from '../local/run.js';
import { egressOf, levelByName, proxyPortOf, type Topology } from '../topology/model.js';
import { planProxies, startProxies, stopProxies, type RunningProxy } from './proxies.js';
import { NsAgent } from './agent-client.js';
import { bringUp, cutLink, INTERNET, inNamespace, linkOf, newRunId, nodeOf, planNetwork, restoreLink, tearDown, type NetnsNetworkPlan } from './net.js';

export const LOOPBACK = '127.0.0.1';

/**
 * Where a level's children reach its broker in the netns target: its address on the link to each
 * child, one TLS child listener per link. Its own sidecars use the namespace's loopback instead,
 * so a child level can reach nothing of its parent's but the bridge listener.
 */
export function childListenerHosts(topology: Topology, net: NetnsNetworkPlan, level: string): string[] {
  return topology.levels.filter((l) => l.parent === level).map((child) => linkOf(net, child.name, level).upperAddress);
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
  };
}

export interface NetnsEdgeOptions {
  dataDir: string;
  progress?: Progress;
  logLevel?: string;
  /** Names resolving to the internet namespace in every level's hosts file. */
  internetNames?: string[];
  /**
   * Also run the egress side: a Squid per level chained upward, and in the internet namespace an
   * HTTP stand-in for the cloud answering every name of the allow-list and FORBIDDEN_EXAMPLE.
   */
  egress?: boolean;
  /**
   * A collector and a broker exporter per level, in its namespace: own processes on the
   * namespace's loopback, children's collectors on the link addresses (mTLS, the bridge PKI).
   */
  otel?: OtelOptions;
}

/** A name the internet stand-in answers but no allow-list contains: the proxies must refuse it. */
export const FORBIDDEN_EXAMPLE = 'forbidden.example.test';

export class NetnsEdge {
  private constructor(
    readonly topology: Topology,
    readonly net: NetnsNetworkPlan,
    readonly agents: Record<string, NsAgent>,
    readonly edge: LocalEdge,
    readonly dataDir: string,
    private readonly egress: boolean,
  ) {}

  private proxies: RunningProxy[] = [];
  private internet: NsAgent | undefined;

  /**
   * Brings up the namespaces and links, an agent per level, and writes the plan's files. Nothing
   * runs yet: `start()` starts the brokers and workloads. On failure, what was made is removed.
   */
  static async create(topology: Topology, opts: NetnsEdgeOptions): Promise<NetnsEdge> {
    const net = planNetwork(topology, newRunId(), opts.internetNames ?? (opts.egress ? [...egressOf(topology).allowDomains.map((d) => d.replace(/^\./, '')), FORBIDDEN_EXAMPLE] : []));
    const agents: Record<string, NsAgent> = {};
    try {
      await bringUp(net);
      for (const level of topology.levels) agents[level.name] = await NsAgent.start(nodeOf(net, level.name).ns, join(opts.dataDir, level.name, 'agent.log'));
      const creds = loadOrCreateCredentials(topology, join(opts.dataDir, 'secrets', 'credentials.json'));
      const childHostsOf = (level: string): string[] => childListenerHosts(topology, net, level);
      const pki = await ensureBrokerPki(topology, pkiDirOf(opts.dataDir), childHostsOf);
      const plan = await buildLocalPlan(topology, creds, {
        dataDir: opts.dataDir,
        pki,
        daprdPath: toolPath('daprd'),
        mosquittoPath: toolPath('mosquitto'),
        nodePath: process.execPath,
        hostOf: () => LOOPBACK,
        childHostsOf,
        parentAddressOf: (child, parent) => linkOf(net, child, parent).upperAddress,
        appHostOf: () => LOOPBACK,
        wrap: (level, command, args) => inNamespace(nodeOf(net, level).ns, command, args),
        // Started by root inside the namespace, Mosquitto stays root: its persistence dir,
        // created by root, is writable (a dropped user could not write it, and would persist nothing).
        runAsUser: 'root',
        allocatePort: freePort,
        logLevel: opts.logLevel,
        ...(opts.otel ? { otel: opts.otel } : {}),
      });
      writePlanFiles(plan);
      const edge = new LocalEdge(plan, opts.progress ?? (() => undefined), { probe: agentProbe(agents) });
      return new NetnsEdge(topology, net, agents, edge, opts.dataDir, opts.egress ?? false);
    } catch (err) {
      await Promise.all(Object.values(agents).map((a) => a.stop()));
      await tearDown(net);
      throw err;
    }
  }

  /** Starts the egress side (when asked for), then the brokers and workloads. */
  async start(): Promise<void> {
    await this.startEgress();
    await this.edge.start();
  }

  /** The internet stand-in and the Squid chain, parent first; nothing without `egress`. */
  async startEgress(): Promise<void> {
    if (this.egress && this.proxies.length === 0) {
      this.internet = await NsAgent.start(nodeOf(this.net, INTERNET).ns, join(this.dataDir, 'internet', 'agent.log'));
      // HTTP on 80; a plain TCP echo on 443 stands for a TLS endpoint reached by CONNECT.
      for (const served of [await this.internet.serveHttp('0.0.0.0', 80), await this.internet.serveTcp('0.0.0.0', 443)]) {
        if (!served.ok) throw new Error(`the internet stand-in could not listen: ${served.error}`);
      }
      this.proxies = await startProxies(planProxies(this.topology, this.net, this.dataDir));
    }
  }

  /** Where a level's own processes reach its egress proxy. */
  proxyOf(level: string): { ns: string; url: string } {
    return { ns: this.ns(level), url: `http://127.0.0.1:${proxyPortOf(levelByName(this.topology, level))}` };
  }

  /** The namespace of a level. */
  ns(level: string): string {
    return nodeOf(this.net, level).ns;
  }

  /** Rotates the bridge links' certificates (a new CA unless keepCa) while everything runs. */
  rotateCertificates(keepCa = false, progress: Progress = () => undefined): ReturnType<typeof rotateRunning> {
    return rotateRunning(this.edge, this.topology, this.dataDir, (level) => childListenerHosts(this.topology, this.net, level), keepCa, progress);
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
    await stopProxies(this.proxies).catch(() => undefined);
    await this.internet?.stop().catch(() => undefined);
    await Promise.all(Object.values(this.agents).map((a) => a.stop().catch(() => undefined)));
    await tearDown(this.net).catch(() => undefined);
  }
}
