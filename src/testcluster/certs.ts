// The PKI of a throw-away control plane, made with the openssl CLI (OpenSSL 3: `req -x509 -CA`).
// All keys are ECDSA P-256: instant to generate, accepted by every Kubernetes component.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClusterPki {
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  /** Service-account token signing key (private) and its public half. */
  saKey: string;
  saPub: string;
  adminCert: string;
  adminKey: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * The environment for openssl: node-opcua-crypto restores OPENSSL_CONF by assigning its old
 * value back, which turns "unset" into the string "undefined" for the rest of the process.
 */
function opensslEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (env.OPENSSL_CONF === 'undefined' || env.OPENSSL_CONF === '') delete env.OPENSSL_CONF;
  return env;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args, { timeout: 30_000, env: opensslEnv() });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** A certificate signed by the CA. `san` entries look like `IP:127.0.0.1` or `DNS:localhost`. */
async function leaf(dir: string, name: string, subject: string, usage: 'serverAuth' | 'clientAuth', san: string[] = []): Promise<[string, string]> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '365', '-subj', subject,
    '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext', `extendedKeyUsage=${usage}`,
    ...(san.length ? ['-addext', `subjectAltName=${san.join(',')}`] : []),
  ]);
  return [cert, key];
}

export async function makePki(dir: string, serviceIp: string): Promise<ClusterPki> {
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await openssl([
    'req', '-x509', ...EC, '-keyout', caKey, '-out', caCert, '-days', '3650', '-subj', '/CN=edge-testcluster-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  const [[apiserverCert, apiserverKey], [adminCert, adminKey]] = await Promise.all([
    leaf(dir, 'apiserver', '/CN=kube-apiserver', 'serverAuth', [
      'IP:127.0.0.1', `IP:${serviceIp}`, 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local',
    ]),
    // system:masters: the admin bypasses authorization, as kube-controller-manager and
    // kube-scheduler here use the same credentials.
    leaf(dir, 'admin', '/O=system:masters/CN=edge-admin', 'clientAuth'),
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', saKey])
      .then(() => openssl(['pkey', '-in', saKey, '-pubout', '-out', saPub])),
  ]);
  return { caCert, caKey, apiserverCert, apiserverKey, saKey, saPub, adminCert, adminKey };
}

/** A self-contained kubeconfig (certificates embedded) for `server`. */
export async function writeKubeconfig(path: string, server: string, pki: ClusterPki, name = 'edge-testcluster'): Promise<void> {
  const b64 = async (file: string) => (await readFile(file)).toString('base64');
  const [ca, cert, key] = await Promise.all([b64(pki.caCert), b64(pki.adminCert), b64(pki.adminKey)]);
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${name}`,
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${name}-admin`,
    '  user:',
    `    client-certificate-data: ${cert}`,
    `    client-key-data: ${key}`,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    `    cluster: ${name}`,
    `    user: ${name}-admin`,
    '    namespace: default',
    `current-context: ${name}`,
    '',
  ].join('\n');
  await writeFile(path, text, { mode: 0o600 });
}
