// The one topology model: ISA-95 levels, their parent links, brokers and placed workloads.
// Every target (local, netns, kubernetes) renders from a validated Topology.

export const WORKLOAD_TYPES = ['temperature-sensor', 'opc-plc', 'opc-publisher', 'data-gateway'] as const;
export type WorkloadType = (typeof WORKLOAD_TYPES)[number];

export type WorkloadConfig = Record<string, string | number | boolean>;

export interface Workload {
  /** Unique across the topology: the Dapr app id and the message `source`. */
  name: string;
  type: WorkloadType;
  config: WorkloadConfig;
}

export interface BrokerPorts {
  /** Listener for this level's own workloads (their Dapr sidecars). */
  workloadPort: number;
  /** Listener for the bridges of child levels. */
  childPort: number;
}

export interface Level {
  name: string;
  isa95: number;
  /** Undefined only for the root (the top level). */
  parent?: string;
  broker: BrokerPorts;
  /** This level's egress proxy; absent means the defaults (port DEFAULT_PROXY_PORT). */
  proxy?: ProxySettings;
  workloads: Workload[];
}

export interface ProxySettings {
  /** Port of this level's egress proxy (Squid). */
  port: number;
}

/** What the top level's proxy may reach outside the site. */
export interface Egress {
  /** Destination domains (".example.com" includes subdomains). */
  allowDomains: string[];
  /** Ports a CONNECT tunnel may reach. */
  connectPorts: number[];
}

export const DEFAULT_PROXY_PORT = 3128;
/** The Azure endpoints an Arc-connected site needs at least; a topology's `egress` replaces it. */
export const DEFAULT_EGRESS: Egress = { allowDomains: ['management.azure.com', 'login.microsoftonline.com'], connectPorts: [443] };

export interface StoreAndForward {
  rateMsgPerS: number;
  messageBytes: number;
  retentionS: number;
}

export interface Topology {
  name: string;
  levels: Level[];
  storeAndForward: StoreAndForward;
  /** Absent means DEFAULT_EGRESS. */
  egress?: Egress;
}

export function proxyPortOf(level: Level): number {
  return level.proxy?.port ?? DEFAULT_PROXY_PORT;
}

export function egressOf(topology: Topology): Egress {
  return topology.egress ?? DEFAULT_EGRESS;
}

/** Workloads that speak Dapr pub/sub and so get a sidecar; opc-plc speaks OPC UA only. */
export function usesDapr(type: WorkloadType): boolean {
  return type !== 'opc-plc';
}

export function rootLevel(topology: Topology): Level {
  const root = topology.levels.find((l) => l.parent === undefined);
  if (!root) throw new Error('topology has no root level (validate it first)');
  return root;
}

export function levelByName(topology: Topology, name: string): Level {
  const level = topology.levels.find((l) => l.name === name);
  if (!level) throw new Error(`no level named ${name}`);
  return level;
}

export function childrenOf(topology: Topology, level: string): Level[] {
  return topology.levels.filter((l) => l.parent === level);
}

/** Levels ordered parent first, so that every bridge finds its parent already running. */
export function parentFirst(topology: Topology): Level[] {
  const ordered: Level[] = [];
  const visit = (level: Level): void => {
    ordered.push(level);
    for (const child of childrenOf(topology, level.name)) visit(child);
  };
  visit(rootLevel(topology));
  return ordered;
}

/** The chain of level names from `level` up to the root, inclusive. */
export function pathToRoot(topology: Topology, level: string): string[] {
  const path: string[] = [];
  let current: Level | undefined = levelByName(topology, level);
  while (current) {
    path.push(current.name);
    current = current.parent === undefined ? undefined : levelByName(topology, current.parent);
  }
  return path;
}

/** Queue bounds a broker needs to ride out `retentionS` of parent outage at the stated rate. */
export function queueBounds(saf: StoreAndForward): { maxQueuedMessages: number; maxQueuedBytes: number } {
  const maxQueuedMessages = Math.ceil(saf.rateMsgPerS * saf.retentionS);
  return { maxQueuedMessages, maxQueuedBytes: maxQueuedMessages * saf.messageBytes };
}
