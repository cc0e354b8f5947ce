// etcd, kube-apiserver, kube-controller-manager and kube-scheduler of a test cluster. On loopback
// for the kwok tier; on the pod bridge's address for a real node, so pods reach the API server
// through the `kubernetes` Service.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { freePort } from '../common/proc.js';
import { toolPath } from '../common/tools.js';
import { makePki, writeKubeconfig, type ClusterPki } from './certs.js';
import type { Startup } from './startup.js';
import { K8S_VERSION } from './versions.js';

const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ControlPlaneOptions {
  /** Where the API server listens and what it advertises. */
  address: string;
  serviceCidr: string;
  /** The pods' range: the controller-manager gives it to the node (kube-router needs podCIDR). */
  clusterCidr?: string;
}

export interface ControlPlane {
  server: string;
  kubeconfigPath: string;
  pki: ClusterPki;
}

/** First usable address of an IPv4 CIDR: the `kubernetes` Service's ClusterIP. */
export function firstIp(cidr: string): string {
  const [base] = cidr.split('/');
  const octets = (base ?? '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`bad IPv4 CIDR ${cidr}`);
  octets[3] = (octets[3] ?? 0) + 1;
  return octets.join('.');
}

function httpsGet(url: string, pki: ClusterPki, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey), timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** `count` different ports that were free a moment ago (freePort alone may repeat one). */
export async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Debian's etcd 3.4 (what PATH has when tools/build-k8s-tools.sh was not run) lacks the
 * watch-progress fixes kube-apiserver 1.37 relies on (StatefulSets then take ~20 s a pod). Say so.
 */
function warnIfOldEtcd(etcd: string, say: (line: string) => void): void {
  let version = '';
  try {
    version = /etcd Version: (\S+)/.exec(execFileSync(etcd, ['--version'], { encoding: 'utf8', timeout: 10_000 }))?.[1] ?? '';
  } catch {
    return; // it will fail to start and say why
  }
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < 3 || (major === 3 && minor < 5)) {
    const msg = `${etcd} is etcd ${version}: Kubernetes ${K8S_VERSION} wants etcd >= 3.5 (StatefulSets will be slow); run tools/build-k8s-tools.sh`;
    say(`[testcluster] warning: ${msg}`);
    process.emitWarning(msg);
  }
}

async function startEtcd(s: Startup, etcd: string): Promise<string> {
  const [client, peer] = await distinctFreePorts(2);
  const url = `http://127.0.0.1:${client}`;
  s.launch('etcd', etcd, [
    '--name=edge-test',
    `--data-dir=${join(s.dir, 'etcd')}`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-cluster=edge-test=http://127.0.0.1:${peer}`,
    '--initial-cluster-state=new',
    '--unsafe-no-fsync', // a throw-away cluster: durability buys nothing
    '--log-level=warn',
  ]);
  await s.until('etcd', async () => {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    return res.ok && ((await res.json()) as { health?: string }).health === 'true';
  });
  return url;
}

function apiserverArgs(s: Startup, o: ControlPlaneOptions, pki: ClusterPki, etcdUrl: string, port: number): string[] {
  const loopback = o.address === '127.0.0.1';
  return [
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=${o.address}`,
    `--advertise-address=${o.address}`,
    `--secure-port=${port}`,
    `--cert-dir=${join(s.dir, 'apiserver')}`,
    `--tls-cert-file=${pki.apiserverCert}`,
    `--tls-private-key-file=${pki.apiserverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--kubelet-client-certificate=${pki.adminCert}`,
    `--kubelet-client-key=${pki.adminKey}`,
    // Dial kubelet at its address: a node name would be looked up in the machine's resolver.
    '--kubelet-preferred-address-types=InternalIP',
    `--service-cluster-ip-range=${o.serviceCidr}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    // Loopback may not be an endpoint: with no real pod (kwok), nothing needs the `kubernetes`
    // Service's endpoints. A real node's pods reach the API server at the bridge address.
    ...(loopback ? ['--endpoint-reconciler-type=none'] : []),
    '--profiling=false',
  ];
}

export async function startControlPlane(s: Startup, o: ControlPlaneOptions): Promise<ControlPlane> {
  const bin = {
    etcd: toolPath('etcd'),
    apiserver: toolPath('kube-apiserver'),
    controllerManager: toolPath('kube-controller-manager'),
    scheduler: toolPath('kube-scheduler'),
  };
  warnIfOldEtcd(bin.etcd, (line) => s.step(line));
  const extraSans = o.address === '127.0.0.1' ? [] : [`IP:${o.address}`];
  const pki = await makePki(s.dir, firstIp(o.serviceCidr), extraSans);
  s.step('certificates');
  const [apiPort] = await distinctFreePorts(1);
  const server = `https://${o.address}:${apiPort}`;
  const kubeconfigPath = join(s.dir, 'kubeconfig.yaml');
  await writeKubeconfig(kubeconfigPath, server, pki);

  const etcdUrl = await startEtcd(s, bin.etcd);
  s.launch('kube-apiserver', bin.apiserver, apiserverArgs(s, o, pki, etcdUrl, apiPort!));
  await s.until('kube-apiserver /readyz', async () => (await httpsGet(`${server}/readyz`, pki)).status === 200);

  const common = [
    `--kubeconfig=${kubeconfigPath}`,
    `--authentication-kubeconfig=${kubeconfigPath}`,
    `--authorization-kubeconfig=${kubeconfigPath}`,
    '--bind-address=127.0.0.1',
    '--secure-port=0', // no health endpoint needed: readiness is checked through the API
    '--leader-elect=false',
  ];
  const cidrs = o.clusterCidr ? ['--allocate-node-cidrs=true', `--cluster-cidr=${o.clusterCidr}`, `--node-cidr-mask-size=${o.clusterCidr.split('/')[1]}`] : [];
  s.launch('kube-controller-manager', bin.controllerManager, [
    ...common,
    `--service-account-private-key-file=${pki.saKey}`,
    `--root-ca-file=${pki.caCert}`,
    `--cluster-signing-cert-file=${pki.caCert}`,
    `--cluster-signing-key-file=${pki.caKey}`,
    `--service-cluster-ip-range=${o.serviceCidr}`,
    '--use-service-account-credentials=true',
    ...cidrs,
    // Otherwise it creates /usr/libexec/kubernetes/kubelet-plugins/volume/exec/.
    `--flex-volume-plugin-dir=${join(s.dir, 'flexvolume')}`,
  ]);
  s.launch('kube-scheduler', bin.scheduler, common);
  return { server, kubeconfigPath, pki };
}
