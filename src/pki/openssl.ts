// Certificates made with the openssl CLI (OpenSSL 3: `req -x509 -CA`), shared by the broker PKI
// and the test control plane. Keys are ECDSA P-256: instant to generate, accepted everywhere.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface CertFiles {
  cert: string;
  key: string;
}

/**
 * The environment for openssl: node-opcua-crypto restores OPENSSL_CONF by assigning its old
 * value back, which turns "unset" into the string "undefined" for the rest of the process.
 */
function opensslEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (env.OPENSSL_CONF === 'undefined' || env.OPENSSL_CONF === '') delete env.OPENSSL_CONF;
  return env;
}

export async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000, env: opensslEnv() });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** A self-signed CA. Its key is readable by its owner only. */
export async function makeCa(out: CertFiles, commonName: string, days = 3650): Promise<CertFiles> {
  await openssl([
    'req', '-x509', ...EC, '-keyout', out.key, '-out', out.cert, '-days', String(days), '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  chmodSync(out.key, 0o600);
  return out;
}

export interface LeafSpec {
  /** e.g. `/CN=broker-l3` or `/O=system:masters/CN=admin`. */
  subject: string;
  usage: 'serverAuth' | 'clientAuth';
  /** Entries like `IP:127.0.0.1` or `DNS:localhost`. */
  san?: string[];
  days?: number;
}

/** A certificate signed by `ca`; its key is readable by its owner only. */
export async function issueCert(ca: CertFiles, out: CertFiles, spec: LeafSpec): Promise<CertFiles> {
  const san = spec.san ?? [];
  await openssl([
    'req', '-x509', ...EC, '-keyout', out.key, '-out', out.cert, '-days', String(spec.days ?? 365), '-subj', spec.subject,
    '-CA', ca.cert, '-CAkey', ca.key,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext', `extendedKeyUsage=${spec.usage}`,
    ...(san.length ? ['-addext', `subjectAltName=${san.join(',')}`] : []),
  ]);
  chmodSync(out.key, 0o600);
  return out;
}

/** `IP:` for an IPv4/IPv6 literal, `DNS:` otherwise. */
export function sanFor(host: string): string {
  return /^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`;
}

export interface CertInfo {
  subject: string;
  issuer: string;
  fingerprint256: string;
  validTo: Date;
  /** As `sanFor` writes them: `IP:…`, `DNS:…`. */
  san: string[];
}

/** Reads the first certificate of a PEM file. */
export function certInfo(file: string): CertInfo {
  const x = new X509Certificate(readFileSync(file));
  const san = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => s.replace(/^IP Address:/, 'IP:'));
  return { subject: x.subject, issuer: x.issuer, fingerprint256: x.fingerprint256, validTo: new Date(x.validTo), san };
}

/** Does `cert` verify against the CA certificate in `caFile`? */
export function signedBy(certFile: string, caFile: string): boolean {
  const cert = new X509Certificate(readFileSync(certFile));
  const ca = new X509Certificate(readFileSync(caFile));
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}
