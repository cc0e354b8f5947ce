// The PKI of a throw-away control plane, made with the shared openssl helpers (src/pki/).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { issueCert, makeCa, openssl } from '../pki/openssl.js';

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

/** A certificate signed by the CA in `dir`. */
async function leaf(dir: string, name: string, subject: string, usage: 'serverAuth' | 'clientAuth', san: string[] = []): Promise<[string, string]> {
  const out = await issueCert({ cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') }, { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }, { subject, usage, san });
  return [out.cert, out.key];
}

export async function makePki(dir: string, serviceIp: string, extraSans: string[] = []): Promise<ClusterPki> {
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await makeCa({ cert: caCert, key: caKey }, 'edge-testcluster-ca');
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  const [[apiserverCert, apiserverKey], [adminCert, adminKey]] = await Promise.all([
    leaf(dir, 'apiserver', '/CN=kube-apiserver', 'serverAuth', [
      'IP:127.0.0.1', `IP:${serviceIp}`, 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local', ...extraSans,
    ]),
    // system:masters: the admin bypasses authorization, as kube-controller-manager and
    // kube-scheduler here use the same credentials.
    leaf(dir, 'admin', '/O=system:masters/CN=edge-admin', 'clientAuth'),
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', saKey])
      .then(() => openssl(['pkey', '-in', saKey, '-pubout', '-out', saPub])),
  ]);
  return { caCert, caKey, apiserverCert, apiserverKey, saKey, saPub, adminCert, adminKey };
}

export interface NodePki {
  /** The node's identity toward the API server (group system:nodes, for the Node authorizer). */
  clientCert: string;
  clientKey: string;
  /** Kubelet's serving certificate for its address (logs, exec, port-forward). */
  servingCert: string;
  servingKey: string;
}

export async function makeNodePki(dir: string, nodeName: string, nodeIp: string): Promise<NodePki> {
  const [[clientCert, clientKey], [servingCert, servingKey]] = await Promise.all([
    leaf(dir, 'kubelet-client', `/O=system:nodes/CN=system:node:${nodeName}`, 'clientAuth'),
    leaf(dir, 'kubelet-serving', `/CN=${nodeName}`, 'serverAuth', [`IP:${nodeIp}`, `DNS:${nodeName}`]),
  ]);
  return { clientCert, clientKey, servingCert, servingKey };
}

/** A self-contained kubeconfig (certificates embedded) for `server`. */
export async function writeKubeconfig(
  path: string,
  server: string,
  pki: Pick<ClusterPki, 'caCert' | 'adminCert' | 'adminKey'>,
  name = 'edge-testcluster',
): Promise<void> {
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
