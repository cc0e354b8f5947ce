// The per-install PKI of the brokers' bridge links: one CA, a server certificate per level (for
// its child listener) and a client certificate per child level (for its bridge upward). Made
// once, kept beside the install with keys at mode 0600, reissued only when missing, expiring,
// from another CA, or naming other addresses. Rotation swaps everything without a moment in
// which a bridge and its parent disagree on whom to trust. The same CA issues, when asked (the
// Kubernetes target), each level's OpenTelemetry Collector its own pair for the same links: a
// server certificate naming the collector's address and a client certificate toward the parent's,
// so a collector pod never holds a broker's key.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Topology } from '../topology/model.js';
import { certInfo, issueCert, makeCa, sanFor, signedBy, type CertFiles } from './openssl.js';

/** A leaf is reissued when it has fewer days than this left. */
const RENEW_BEFORE_DAYS = 30;

export interface LevelTlsFiles {
  /** This level's child listener presents this certificate. */
  server: CertFiles;
  /** This level's bridge to its parent presents this certificate; absent for the top level. */
  bridge?: CertFiles;
  /** This level's collector's child receiver presents this (issued only with collector hosts). */
  collectorServer?: CertFiles;
  /** This level's collector presents this to its parent's; absent for the top level. */
  collectorClient?: CertFiles;
}

export interface BrokerPki {
  dir: string;
  /** The CA that issues leaves. */
  ca: CertFiles;
  /** The CA certificates every child listener and every bridge trusts (two during a rotation). */
  trustFile: string;
  levels: Record<string, LevelTlsFiles>;
}

/** The hosts a level's children dial to reach its child listener: its server certificate's names. */
export type ListenerHosts = (level: string) => string[];

/** Every leaf of a level that exists in the layout, in a fixed order. */
function leavesOf(files: LevelTlsFiles): CertFiles[] {
  return [files.server, files.bridge, files.collectorServer, files.collectorClient].filter((x): x is CertFiles => !!x);
}

/** Where a run's broker PKI lives under its data dir (beside the credentials). */
export function pkiDirOf(dataDir: string): string {
  return join(dataDir, 'secrets', 'pki');
}

/** Where everything lives under `dir`; pure. */
export function brokerPkiLayout(topology: Topology, dir: string): BrokerPki {
  const levels: Record<string, LevelTlsFiles> = {};
  for (const level of topology.levels) {
    const files = (name: string): CertFiles => ({ cert: join(dir, level.name, `${name}.crt`), key: join(dir, level.name, `${name}.key`) });
    levels[level.name] = {
      server: files('server'),
      ...(level.parent !== undefined ? { bridge: files('bridge') } : {}),
      collectorServer: files('otelcol-server'),
      ...(level.parent !== undefined ? { collectorClient: files('otelcol-client') } : {}),
    };
  }
  return { dir, ca: { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') }, trustFile: join(dir, 'trust.crt'), levels };
}

export function serverSubject(level: string): string {
  return `/CN=broker-${level}`;
}

export function bridgeSubject(level: string): string {
  return `/CN=bridge-${level}`;
}

export function collectorServerSubject(level: string): string {
  return `/CN=otelcol-${level}`;
}

export function collectorClientSubject(level: string): string {
  return `/CN=otelcol-client-${level}`;
}

/**
 * Creates whatever is missing or no longer fits; keeps the rest. Returns the layout. With
 * `collectorHostsOf` (the names a level's children dial to reach its collector), each level's
 * collector gets its own server and client certificates too.
 */
export async function ensureBrokerPki(topology: Topology, dir: string, hostsOf: ListenerHosts, collectorHostsOf?: ListenerHosts): Promise<BrokerPki> {
  const pki = brokerPkiLayout(topology, dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(pki.ca.cert) || !existsSync(pki.ca.key)) {
    await makeCa(pki.ca, caName(topology));
    writeTrust(pki, [pki.ca.cert]);
  }
  if (!existsSync(pki.trustFile)) writeTrust(pki, [pki.ca.cert]);
  for (const level of topology.levels) {
    const files = pki.levels[level.name]!;
    mkdirSync(join(dir, level.name), { recursive: true, mode: 0o700 });
    const san = hostsOf(level.name).map(sanFor);
    if (!leafFits(files.server, pki.ca.cert, san)) await issueAtomically(pki.ca, files.server, { subject: serverSubject(level.name), usage: 'serverAuth', san });
    if (files.bridge && !leafFits(files.bridge, pki.ca.cert)) await issueAtomically(pki.ca, files.bridge, { subject: bridgeSubject(level.name), usage: 'clientAuth' });
    if (collectorHostsOf && files.collectorServer) {
      const collectorSan = collectorHostsOf(level.name).map(sanFor);
      if (!leafFits(files.collectorServer, pki.ca.cert, collectorSan)) await issueAtomically(pki.ca, files.collectorServer, { subject: collectorServerSubject(level.name), usage: 'serverAuth', san: collectorSan });
      if (files.collectorClient && !leafFits(files.collectorClient, pki.ca.cert)) await issueAtomically(pki.ca, files.collectorClient, { subject: collectorClientSubject(level.name), usage: 'clientAuth' });
    }
  }
  return pki;
}

export type RotationPhase = 'trust-both' | 'new-certs' | 'drop-old';

/**
 * Replaces the CA and every leaf while the edge runs, in three phases; after each, `apply`
 * must make every broker use the files (a rolling restart, parent first) before the next:
 *   trust-both: every listener and bridge trusts the old and the new CA;
 *   new-certs:  every leaf is reissued by the new CA (still trusted by everyone);
 *   drop-old:   the old CA is no longer trusted, so its certificates are refused.
 * With `keepCa`, only the leaves are reissued by the current CA (one phase, `new-certs`).
 */
export async function rotateBrokerPki(
  topology: Topology,
  dir: string,
  hostsOf: ListenerHosts,
  apply: (phase: RotationPhase) => Promise<void>,
  opts: { keepCa?: boolean; collectorHostsOf?: ListenerHosts } = {},
): Promise<{ phases: RotationPhase[]; oldCaFingerprint: string; newCaFingerprint: string }> {
  const pki = await ensureBrokerPki(topology, dir, hostsOf, opts.collectorHostsOf);
  const oldFingerprint = certInfo(pki.ca.cert).fingerprint256;
  const phases: RotationPhase[] = [];
  const reissueAll = async (ca: CertFiles): Promise<void> => {
    for (const level of topology.levels) {
      const files = pki.levels[level.name]!;
      await issueAtomically(ca, files.server, { subject: serverSubject(level.name), usage: 'serverAuth', san: hostsOf(level.name).map(sanFor) });
      if (files.bridge) await issueAtomically(ca, files.bridge, { subject: bridgeSubject(level.name), usage: 'clientAuth' });
      if (opts.collectorHostsOf && files.collectorServer) {
        await issueAtomically(ca, files.collectorServer, { subject: collectorServerSubject(level.name), usage: 'serverAuth', san: opts.collectorHostsOf(level.name).map(sanFor) });
        if (files.collectorClient) await issueAtomically(ca, files.collectorClient, { subject: collectorClientSubject(level.name), usage: 'clientAuth' });
      }
    }
  };
  if (opts.keepCa) {
    await reissueAll(pki.ca);
    await apply('new-certs');
    return { phases: ['new-certs'], oldCaFingerprint: oldFingerprint, newCaFingerprint: oldFingerprint };
  }
  const next: CertFiles = { cert: join(dir, 'next-ca.crt'), key: join(dir, 'next-ca.key') };
  await makeCa(next, caName(topology));
  writeTrust(pki, [pki.ca.cert, next.cert]);
  await apply('trust-both');
  phases.push('trust-both');
  await reissueAll(next);
  await apply('new-certs');
  phases.push('new-certs');
  // The old CA is kept aside (not trusted) so an operator can still tell what it signed.
  copyFileSync(pki.ca.cert, join(dir, `retired-${oldFingerprint.replace(/:/g, '').slice(0, 16)}.crt`));
  renameSync(next.key, pki.ca.key);
  renameSync(next.cert, pki.ca.cert);
  writeTrust(pki, [pki.ca.cert]);
  await apply('drop-old');
  phases.push('drop-old');
  return { phases, oldCaFingerprint: oldFingerprint, newCaFingerprint: certInfo(pki.ca.cert).fingerprint256 };
}

function caName(topology: Topology): string {
  return `edge-broker-ca-${topology.name}-${randomBytes(4).toString('hex')}`;
}

function writeTrust(pki: BrokerPki, caCerts: string[]): void {
  const tmp = `${pki.trustFile}.tmp`;
  writeFileSync(tmp, caCerts.map((f) => readFileSync(f, 'utf8').trim() + '\n').join(''), { mode: 0o644 });
  renameSync(tmp, pki.trustFile);
}

function leafFits(files: CertFiles, caCert: string, san?: string[]): boolean {
  if (!existsSync(files.cert) || !existsSync(files.key)) return false;
  const info = certInfo(files.cert);
  if (info.validTo.getTime() - Date.now() < RENEW_BEFORE_DAYS * 86_400_000) return false;
  if (!signedBy(files.cert, caCert)) return false;
  return san === undefined || [...san].sort().join(',') === [...info.san].sort().join(',');
}

/** Issues into temporary files, then renames, so a broker never reads a half-written pair. */
async function issueAtomically(ca: CertFiles, out: CertFiles, spec: Parameters<typeof issueCert>[2]): Promise<void> {
  const tmp = { cert: `${out.cert}.new`, key: `${out.key}.new` };
  try {
    await issueCert(ca, tmp, spec);
    renameSync(tmp.key, out.key);
    renameSync(tmp.cert, out.cert);
  } finally {
    rmSync(tmp.cert, { force: true });
    rmSync(tmp.key, { force: true });
  }
}

/** The contents of a broker PKI, for renderers that ship files inside Secrets (Kubernetes). */
export interface PkiMaterial {
  trust: string;
  levels: Record<string, LevelPkiMaterial>;
}

export interface LevelPkiMaterial {
  serverCert: string;
  serverKey: string;
  bridgeCert?: string;
  bridgeKey?: string;
  /** The collector's pairs, when the PKI was made with collector hosts. */
  collectorServerCert?: string;
  collectorServerKey?: string;
  collectorClientCert?: string;
  collectorClientKey?: string;
}

export function readPkiMaterial(pki: BrokerPki): PkiMaterial {
  const read = (f: string): string => readFileSync(f, 'utf8');
  const pair = (files: CertFiles | undefined, cert: keyof LevelPkiMaterial, key: keyof LevelPkiMaterial): Partial<LevelPkiMaterial> =>
    files && existsSync(files.cert) && existsSync(files.key) ? { [cert]: read(files.cert), [key]: read(files.key) } : {};
  const levels: PkiMaterial['levels'] = {};
  for (const [name, files] of Object.entries(pki.levels)) {
    levels[name] = {
      serverCert: read(files.server.cert),
      serverKey: read(files.server.key),
      ...(files.bridge ? { bridgeCert: read(files.bridge.cert), bridgeKey: read(files.bridge.key) } : {}),
      ...pair(files.collectorServer, 'collectorServerCert', 'collectorServerKey'),
      ...pair(files.collectorClient, 'collectorClientCert', 'collectorClientKey'),
    };
  }
  return { trust: read(pki.trustFile), levels };
}

/**
 * The whole PKI directory as flat entries (`l3.server.key`), for storing it in one Secret, and
 * back. Only the files the PKI itself made are carried.
 */
export function pkiEntries(pki: BrokerPki): Record<string, string> {
  const entries: Record<string, string> = {};
  const add = (file: string): void => {
    if (existsSync(file)) entries[file.slice(pki.dir.length + 1).replace(/\//g, '.')] = readFileSync(file, 'utf8');
  };
  add(pki.ca.cert);
  add(pki.ca.key);
  add(pki.trustFile);
  for (const files of Object.values(pki.levels)) for (const f of leavesOf(files)) (add(f.cert), add(f.key));
  return entries;
}

export function writePkiEntries(pki: BrokerPki, entries: Record<string, string>): void {
  mkdirSync(pki.dir, { recursive: true, mode: 0o700 });
  const known = new Map<string, string>();
  for (const file of [pki.ca.cert, pki.ca.key, pki.trustFile, ...Object.values(pki.levels).flatMap((l) => leavesOf(l).flatMap((f) => [f.cert, f.key]))]) {
    known.set(file.slice(pki.dir.length + 1).replace(/\//g, '.'), file);
  }
  for (const [key, content] of Object.entries(entries)) {
    const file = known.get(key);
    if (!file) continue; // a level no longer in the topology
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    writeFileSync(file, content, { mode: key.endsWith('.key') ? 0o600 : 0o644 });
  }
}
