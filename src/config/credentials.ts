// Per-install broker credentials: one user per workload sidecar, one per child bridge, one for
// monitoring. Generated once, kept beside the install (mode 0600), never logged.
import { randomBytes, pbkdf2Sync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { usesDapr, type Topology } from '../topology/model.js';

export interface BrokerUser {
  username: string;
  password: string;
}

export interface Credentials {
  /** Per level: the users that may connect to that level's broker. */
  levels: Record<string, { workloads: Record<string, BrokerUser>; bridges: Record<string, BrokerUser>; monitor: BrokerUser }>;
}

export const MONITOR_USER = 'edge-monitor';

export function bridgeUsername(childLevel: string): string {
  return `bridge-${childLevel}`;
}

function newUser(username: string): BrokerUser {
  return { username, password: randomBytes(24).toString('base64url') };
}

/** Fills in whatever the topology needs that `existing` lacks; keeps every existing password. */
export function ensureCredentials(topology: Topology, existing: Credentials = { levels: {} }): Credentials {
  const levels: Credentials['levels'] = {};
  for (const level of topology.levels) {
    const prev = existing.levels[level.name];
    const workloads: Record<string, BrokerUser> = {};
    for (const w of level.workloads.filter((w) => usesDapr(w.type))) workloads[w.name] = prev?.workloads[w.name] ?? newUser(w.name);
    const bridges: Record<string, BrokerUser> = {};
    for (const child of topology.levels.filter((l) => l.parent === level.name)) {
      bridges[child.name] = prev?.bridges[child.name] ?? newUser(bridgeUsername(child.name));
    }
    levels[level.name] = { workloads, bridges, monitor: prev?.monitor ?? newUser(MONITOR_USER) };
  }
  return { levels };
}

export function loadOrCreateCredentials(topology: Topology, file: string): Credentials {
  const existing = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Credentials) : undefined;
  const creds = ensureCredentials(topology, existing);
  writeSecretFile(file, JSON.stringify(creds, null, 2));
  return creds;
}

/** Writes a file only its owner can read. */
export function writeSecretFile(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * One line of a Mosquitto 2.x password file: PBKDF2-SHA512 ("$7$"), 101 iterations, the
 * format `mosquitto_passwd` writes, so no mosquitto tool is needed where the file is rendered.
 */
export function mosquittoPasswordLine(user: BrokerUser, salt: Buffer = randomBytes(12)): string {
  const iterations = 101;
  const hash = pbkdf2Sync(user.password, salt, iterations, 64, 'sha512');
  return `${user.username}:$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}
