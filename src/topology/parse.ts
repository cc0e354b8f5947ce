// Parses and validates a topology document. Reports ALL problems at once, each with what to fix.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { knownConfigKeys, workloadEnv } from './workload-env.js';
import { resolveRouting } from '../../workloads/data-gateway/src/routes.js';
import { DEFAULT_OPC_PORT } from '../../workloads/opc-plc/src/config.js';
import { DEFAULT_EGRESS, WORKLOAD_TYPES, type Egress, type Level, type StoreAndForward, type Topology, type Workload, type WorkloadConfig, type WorkloadType } from './model.js';

export class TopologyError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: ${problems.length} problem(s) in the topology:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'TopologyError';
  }
}

export const DEFAULT_TOPOLOGY_FILE = fileURLToPath(new URL('../../../src/topology/default-topology.yaml', import.meta.url));

const DEFAULT_SAF: StoreAndForward = { rateMsgPerS: 1000, messageBytes: 1024, retentionS: 600 };
const NAME = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;

export function loadTopology(file: string = DEFAULT_TOPOLOGY_FILE): Topology {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TopologyError(file, [`cannot read the file (${(err as Error).message}): pass an existing file with --topology`]);
  }
  return parseTopology(text, file);
}

export function parseTopology(text: string, source = '<topology>'): Topology {
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    const e = err as yaml.YAMLException;
    throw new TopologyError(source, [`not valid YAML at line ${(e.mark?.line ?? 0) + 1}: ${e.reason ?? e.message}`]);
  }
  const problems: string[] = [];
  const topology = readTopology(doc, problems);
  if (problems.length === 0) validateTopology(topology, problems);
  if (problems.length > 0) throw new TopologyError(source, problems);
  return topology;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readTopology(doc: unknown, problems: string[]): Topology {
  if (!isRecord(doc)) {
    problems.push('the document must be a mapping with `name` and `levels`');
    return { name: '', levels: [], storeAndForward: DEFAULT_SAF };
  }
  unknownKeys(doc, ['name', 'levels', 'storeAndForward', 'egress'], 'top level', problems);
  const name = typeof doc.name === 'string' ? doc.name : (problems.push('`name` must be a string, e.g. `name: plant-1`'), '');
  if (name && !NAME.test(name)) problems.push(`\`name\` "${name}" must be lower-case letters, digits and dashes`);
  if (!Array.isArray(doc.levels) || doc.levels.length === 0) {
    problems.push('`levels` must be a non-empty list of levels');
    return { name, levels: [], storeAndForward: DEFAULT_SAF };
  }
  const levels = doc.levels.map((raw, i) => readLevel(raw, `levels[${i}]`, problems));
  const storeAndForward = readStoreAndForward(doc.storeAndForward, problems);
  const topology: Topology = { name, levels, storeAndForward };
  if (doc.egress !== undefined && doc.egress !== null) topology.egress = readEgress(doc.egress, problems);
  return topology;
}

function readLevel(raw: unknown, at: string, problems: string[]): Level {
  const level: Level = { name: '', isa95: 0, broker: { workloadPort: 0, childPort: 0 }, workloads: [] };
  if (!isRecord(raw)) {
    problems.push(`${at} must be a mapping with at least \`name\``);
    return level;
  }
  unknownKeys(raw, ['name', 'isa95', 'parent', 'broker', 'proxy', 'workloads'], at, problems);
  if (typeof raw.name !== 'string' || !NAME.test(raw.name)) {
    problems.push(`${at}.name must be lower-case letters, digits and dashes (got ${JSON.stringify(raw.name)})`);
  } else level.name = raw.name;
  const where = level.name ? `level ${level.name}` : at;
  if (raw.isa95 !== undefined) {
    if (!Number.isInteger(raw.isa95) || (raw.isa95 as number) < 0 || (raw.isa95 as number) > 5) problems.push(`${where}: isa95 must be an integer 0-5`);
    else level.isa95 = raw.isa95 as number;
  }
  if (raw.parent !== undefined && raw.parent !== null) {
    if (typeof raw.parent !== 'string') problems.push(`${where}: parent must be the name of another level`);
    else level.parent = raw.parent;
  }
  if (!isRecord(raw.broker)) problems.push(`${where}: broker must be a mapping { workloadPort, childPort }`);
  else {
    unknownKeys(raw.broker, ['workloadPort', 'childPort'], `${where}.broker`, problems);
    level.broker.workloadPort = readPort(raw.broker.workloadPort, `${where}: broker.workloadPort`, problems);
    level.broker.childPort = readPort(raw.broker.childPort, `${where}: broker.childPort`, problems);
  }
  if (raw.proxy !== undefined && raw.proxy !== null) {
    if (!isRecord(raw.proxy)) problems.push(`${where}: proxy must be a mapping { port }`);
    else {
      unknownKeys(raw.proxy, ['port'], `${where}.proxy`, problems);
      level.proxy = { port: readPort(raw.proxy.port, `${where}: proxy.port`, problems) };
    }
  }
  if (raw.workloads !== undefined && raw.workloads !== null) {
    if (!Array.isArray(raw.workloads)) problems.push(`${where}: workloads must be a list`);
    else level.workloads = raw.workloads.map((w, i) => readWorkload(w, `${where}: workloads[${i}]`, problems));
  }
  return level;
}

function readWorkload(raw: unknown, at: string, problems: string[]): Workload {
  const spec = typeof raw === 'string' ? { type: raw } : raw;
  const workload: Workload = { name: '', type: 'temperature-sensor', config: {} };
  if (!isRecord(spec)) {
    problems.push(`${at} must be a workload type or a mapping { type, name?, config? }`);
    return workload;
  }
  unknownKeys(spec, ['type', 'name', 'config'], at, problems);
  const typeKnown = typeof spec.type === 'string' && (WORKLOAD_TYPES as readonly string[]).includes(spec.type);
  if (!typeKnown) {
    problems.push(`${at}: unknown workload type ${JSON.stringify(spec.type)}; known types: ${WORKLOAD_TYPES.join(', ')}`);
  } else workload.type = spec.type as WorkloadType;
  const name = spec.name ?? spec.type;
  if (typeof name !== 'string' || !NAME.test(name)) problems.push(`${at}: name must be lower-case letters, digits and dashes`);
  else workload.name = name;
  if (spec.config !== undefined) {
    if (!isRecord(spec.config)) problems.push(`${at}: config must be a mapping`);
    else {
      const known = typeKnown ? knownConfigKeys(workload.type) : [];
      for (const [key, value] of Object.entries(spec.config)) {
        if (!['string', 'number', 'boolean'].includes(typeof value)) problems.push(`${at}: config.${key} must be a string, number or boolean`);
        else if (known.length > 0 && !known.includes(key)) problems.push(`${at}: unknown config key \`${key}\` for ${workload.type}; known: ${known.join(', ')}`);
      }
      workload.config = spec.config as WorkloadConfig;
    }
  }
  return workload;
}

function readStoreAndForward(raw: unknown, problems: string[]): StoreAndForward {
  if (raw === undefined) return DEFAULT_SAF;
  if (!isRecord(raw)) {
    problems.push('storeAndForward must be a mapping { rateMsgPerS, messageBytes, retentionS }');
    return DEFAULT_SAF;
  }
  unknownKeys(raw, ['rateMsgPerS', 'messageBytes', 'retentionS'], 'storeAndForward', problems);
  const positive = (key: keyof StoreAndForward): number => {
    const v = raw[key] ?? DEFAULT_SAF[key];
    if (typeof v !== 'number' || !(v > 0)) {
      problems.push(`storeAndForward.${key} must be a positive number`);
      return DEFAULT_SAF[key];
    }
    return v;
  };
  return { rateMsgPerS: positive('rateMsgPerS'), messageBytes: positive('messageBytes'), retentionS: positive('retentionS') };
}

const DOMAIN = /^\.?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function readEgress(raw: unknown, problems: string[]): Egress {
  if (!isRecord(raw)) {
    problems.push('egress must be a mapping { allowDomains: [..], connectPorts?: [443] }');
    return DEFAULT_EGRESS;
  }
  unknownKeys(raw, ['allowDomains', 'connectPorts'], 'egress', problems);
  const egress: Egress = { allowDomains: DEFAULT_EGRESS.allowDomains, connectPorts: DEFAULT_EGRESS.connectPorts };
  if (raw.allowDomains !== undefined) {
    if (!Array.isArray(raw.allowDomains) || raw.allowDomains.length === 0) problems.push('egress.allowDomains must be a non-empty list of domains, e.g. [management.azure.com, .servicebus.windows.net]');
    else {
      for (const d of raw.allowDomains) {
        if (typeof d !== 'string' || !DOMAIN.test(d)) problems.push(`egress.allowDomains: ${JSON.stringify(d)} is not a lower-case domain name ("example.com", or ".example.com" with its subdomains)`);
      }
      egress.allowDomains = raw.allowDomains as string[];
    }
  }
  if (raw.connectPorts !== undefined) {
    if (!Array.isArray(raw.connectPorts) || raw.connectPorts.length === 0) problems.push('egress.connectPorts must be a non-empty list of TCP ports, e.g. [443]');
    else {
      for (const p of raw.connectPorts) if (!Number.isInteger(p) || (p as number) < 1 || (p as number) > 65535) problems.push(`egress.connectPorts: ${JSON.stringify(p)} is not a TCP port 1-65535`);
      egress.connectPorts = raw.connectPorts as number[];
    }
  }
  return egress;
}

function readPort(v: unknown, at: string, problems: string[]): number {
  if (!Number.isInteger(v) || (v as number) < 1024 || (v as number) > 65535) {
    problems.push(`${at} must be an integer port 1024-65535 (got ${JSON.stringify(v)})`);
    return 0;
  }
  return v as number;
}

function unknownKeys(obj: Record<string, unknown>, known: string[], at: string, problems: string[]): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) problems.push(`${at}: unknown key \`${key}\`; expected one of ${known.join(', ')}`);
  }
}

/** Structural checks across levels: names, parents, a single root, no cycles, ports, placement. */
export function validateTopology(t: Topology, problems: string[]): void {
  const names = new Map<string, number>();
  for (const level of t.levels) names.set(level.name, (names.get(level.name) ?? 0) + 1);
  for (const [name, count] of names) if (count > 1) problems.push(`level name "${name}" is used ${count} times: level names must be unique`);

  const roots = t.levels.filter((l) => l.parent === undefined);
  if (roots.length === 0) problems.push('no root level: exactly one level (the top, e.g. ISA-95 level 4) must have no `parent`');
  if (roots.length > 1) problems.push(`two or more roots (${roots.map((r) => r.name).join(', ')}): only the top level may omit \`parent\`; give the others a parent`);

  for (const level of t.levels) {
    if (level.parent === undefined) continue;
    if (level.parent === level.name) problems.push(`level ${level.name} names itself as parent`);
    else if (!names.has(level.parent)) problems.push(`level ${level.name}: unknown parent "${level.parent}"; known levels: ${[...names.keys()].join(', ')}`);
  }
  for (const cycle of findCycles(t)) problems.push(`parent cycle: ${cycle.join(' -> ')}; the parent links must form a tree rooted at the top level`);

  const ports = new Map<number, string[]>();
  for (const { port, who } of fixedPorts(t)) ports.set(port, [...(ports.get(port) ?? []), who]);
  const workloadNames = new Map<string, string[]>();
  for (const level of t.levels) for (const w of level.workloads) workloadNames.set(w.name, [...(workloadNames.get(w.name) ?? []), level.name]);
  for (const [port, users] of ports) if (users.length > 1) problems.push(`port ${port} is claimed by ${users.join(' and ')}: give each its own port`);
  for (const [name, levels] of workloadNames) {
    if (levels.length > 1) problems.push(`workload name "${name}" is used ${levels.length} times (levels ${levels.join(', ')}): give each instance its own \`name\``);
  }

  const root = roots.length === 1 ? roots[0] : undefined;
  for (const level of t.levels) {
    for (const w of level.workloads) {
      if (w.type === 'data-gateway' && root && level !== root) {
        problems.push(`level ${level.name}: data-gateway must run at the top level (${root.name}), the only level that reaches the data stores`);
      }
      if (w.type === 'data-gateway') {
        // The gateway's own parser: the same words here as when it starts.
        const env = workloadEnv(w);
        const routing = resolveRouting({ sinks: env.GATEWAY_SINKS, routes: env.GATEWAY_ROUTES, topic: 'telemetry', deadLetterTopic: 'deadletter' });
        for (const p of routing.problems) problems.push(`level ${level.name}/${w.name}: config ${p.replace(/GATEWAY_SINKS/g, 'sinks').replace(/GATEWAY_ROUTES/g, 'routes')}`);
      }
      if (w.type === 'opc-publisher') {
        const target = w.config.endpointWorkload;
        const plc = level.workloads.find((o) => o.name === target && o.type === 'opc-plc');
        if (typeof w.config.endpointUrl !== 'string' && !plc) {
          problems.push(`level ${level.name}/${w.name}: set config.endpointWorkload to an opc-plc in the same level, or config.endpointUrl`);
        }
      }
    }
  }
  if (root && !root.workloads.some((w) => w.type === 'data-gateway')) {
    problems.push(`the top level ${root.name} has no data-gateway: telemetry would have nowhere to go; add \`- type: data-gateway\``);
  }
}

function findCycles(t: Topology): string[][] {
  const parentOf = new Map(t.levels.map((l) => [l.name, l.parent]));
  const reported = new Set<string>();
  const cycles: string[][] = [];
  for (const start of parentOf.keys()) {
    const seen: string[] = [];
    let current: string | undefined = start;
    while (current !== undefined && parentOf.has(current) && !seen.includes(current)) {
      seen.push(current);
      current = parentOf.get(current);
    }
    if (current !== undefined && seen.includes(current)) {
      const cycle = seen.slice(seen.indexOf(current));
      const key = [...cycle].sort().join(',');
      if (!reported.has(key) && !(cycle.length === 1 && parentOf.get(current) === current)) {
        reported.add(key);
        cycles.push([...cycle, current]);
      }
    }
  }
  return cycles;
}

/**
 * Every port the topology fixes (brokers, proxies, workload listeners), with who claims it and
 * where to change it. The local target binds them all on one host.
 */
export function fixedPorts(t: Topology): Array<{ port: number; who: string; setting: string }> {
  const out: Array<{ port: number; who: string; setting: string }> = [];
  const claim = (port: number | undefined, who: string, setting: string): void => {
    if (port) out.push({ port, who, setting });
  };
  for (const level of t.levels) {
    claim(level.broker.workloadPort, `${level.name} broker workloadPort`, `levels[${level.name}].broker.workloadPort`);
    claim(level.broker.childPort, `${level.name} broker childPort`, `levels[${level.name}].broker.childPort`);
    if (level.proxy) claim(level.proxy.port, `${level.name} proxy port`, `levels[${level.name}].proxy.port`);
    for (const w of level.workloads) {
      const port = typeof w.config.port === 'number' ? w.config.port : w.type === 'opc-plc' ? DEFAULT_OPC_PORT : undefined;
      claim(port, `${level.name}/${w.name} port`, `levels[${level.name}].workloads[${w.name}].config.port`);
    }
  }
  return out;
}
