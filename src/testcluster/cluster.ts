// A real Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok (fake kubelets), all on 127.0.0.1 with free ports and a temp dir.
// Binaries come from tools/build-k8s-tools.sh ($EDGE_TOOLS_DIR/bin) or PATH.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, VersionApi, type V1Node } from '@kubernetes/client-node';
import { freePort, startProcess, waitFor, type ManagedProcess } from '../common/proc.js';
import { toolPath, toolsDir } from '../common/tools.js';
import { makePki, writeKubeconfig, type ClusterPki } from './certs.js';
import { K8S_VERSION, KWOK_VERSION } from './versions.js';

export interface TestClusterOptions {
  /** Fake (kwok) nodes to create, 1..10. Default 2. */
  nodes?: number;
  /** Where logs go. Default: `<tempdir>/logs` (removed by stop()); set it to keep them. */
  logDir?: string;
  /** Give up starting after this long. Default 90 s. */
  timeoutMs?: number;
  /** Service CIDR (virtual addresses only: nothing routes to them here). */
  serviceCidr?: string;
  /** Progress lines (default: silent). */
  log?: (line: string) => void;
}

export interface TestCluster {
  /** Admin kubeconfig (certificates embedded). */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** The temp dir holding certs, etcd data, configs (and logs unless logDir was given). */
  dir: string;
  logDir: string;
  /** Names of the fake nodes. */
  nodes: string[];
  /** name -> pid of every process started. */
  pids: Record<string, number>;
  /** Milliseconds from start to ready. */
  startupMs: number;
  /** Stops every process (SIGTERM, then SIGKILL) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Annotation kwok is told to manage (`--manage-nodes-with-annotation-selector`). */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** First usable address of an IPv4 CIDR: the `kubernetes` Service's ClusterIP. */
function firstIp(cidr: string): string {
  const [base] = cidr.split('/');
  const octets = (base ?? '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`bad IPv4 CIDR ${cidr}`);
  octets[3] = (octets[3] ?? 0) + 1;
  return octets.join('.');
}

function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function httpsGet(url: string, pki: ClusterPki, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.adminCert),
      key: readFileSync(pki.adminKey),
      timeout: timeoutMs,
    }, (res) => {
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
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Debian's etcd 3.4.23 (what PATH has when tools/build-k8s-tools.sh was not run) starts, but
 * lacks the watch-progress fixes kube-apiserver 1.37 relies on: controllers then see stale
 * reads ("read version N is not as new as written version M") and a StatefulSet takes ~20 s
 * per pod instead of <1 s. Say so instead of failing.
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

function nodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * Starts the control plane and waits until it is usable. A port taken by someone else between
 * freePort() and the bind fails that attempt; it is retried with new ports (3 attempts).
 */
export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (attempt >= 3 || !/address already in use/.test(message)) throw err;
      options.log?.(`[testcluster] port clash, retrying (${message.split('\n')[0]})`);
    }
  }
}

async function startOnce(options: TestClusterOptions): Promise<TestCluster> {
  const started = Date.now();
  const nodeCount = options.nodes ?? 2;
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 10) throw new Error(`nodes must be 1..10, got ${nodeCount}`);
  const timeoutMs = options.timeoutMs ?? 90_000;
  const deadline = started + timeoutMs;
  const remaining = () => Math.max(1_000, deadline - Date.now());
  const serviceCidr = options.serviceCidr ?? '10.96.0.0/16';
  const say = options.log ?? (() => {});
  const step = (what: string) => say(`[testcluster] ${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);

  // Resolve every binary first: a missing one fails before anything starts.
  const bin = {
    etcd: toolPath('etcd'),
    apiserver: toolPath('kube-apiserver'),
    controllerManager: toolPath('kube-controller-manager'),
    scheduler: toolPath('kube-scheduler'),
    kwok: toolPath('kwok'),
  };

  warnIfOldEtcd(bin.etcd, say);

  const dir = await mkdtemp(join(tmpdir(), 'edge-k8s-'));
  const logDir = options.logDir ?? join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const procs: ManagedProcess[] = [];
  let stopping = false;
  let stopped: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      // Reverse order: the clients first, then the API server, then etcd.
      const byName = (n: string) => procs.filter((p) => p.name === n);
      const grace = 5_000;
      await Promise.all(['kwok', 'kube-scheduler', 'kube-controller-manager'].flatMap(byName).map((p) => p.stop(grace)));
      await Promise.all(byName('kube-apiserver').map((p) => p.stop(grace)));
      await Promise.all(byName('etcd').map((p) => p.stop(grace)));
      await Promise.all(procs.map((p) => p.stop(grace))); // anything else
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopped;
  };

  // Any process that exits while we start up fails the start at once, with its log.
  let failStartup: (err: Error) => void = () => {};
  const startupFailed = new Promise<never>((_, reject) => (failStartup = reject));
  startupFailed.catch(() => {});
  const launch = (name: string, command: string, args: string[]): ManagedProcess => {
    const logFile = join(logDir, `${name}.log`);
    const p = startProcess({ name, command, args, logFile, cwd: dir });
    procs.push(p);
    void p.exited.then((code) => {
      if (!stopping) failStartup(new Error(`${name} exited (${code}) during startup; last lines of ${logFile}:\n${tail(logFile)}`));
    });
    return p;
  };
  const until = async (what: string, probe: () => Promise<boolean> | boolean, ms = remaining()) => {
    await Promise.race([waitFor(what, probe, ms, 200), startupFailed]);
    step(`${what}: ok`);
  };

  try {
    const pki = await makePki(dir, firstIp(serviceCidr));
    step('certificates');
    const [etcdClient, etcdPeer, apiPort] = await distinctFreePorts(3);
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfigPath = join(dir, 'kubeconfig.yaml');
    await writeKubeconfig(kubeconfigPath, server, pki);
    const kwokConfig = join(dir, 'kwok.yaml');
    await writeFile(kwokConfig, kwokStages());

    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    launch('etcd', bin.etcd, [
      '--name=edge-test',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=edge-test=http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster-state=new',
      '--unsafe-no-fsync', // a throw-away cluster: durability buys nothing
      '--log-level=warn',
    ]);
    await until('etcd', async () => {
      const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    });

    launch('kube-apiserver', bin.apiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'apiserver')}`,
      `--tls-cert-file=${pki.apiserverCert}`,
      `--tls-private-key-file=${pki.apiserverKey}`,
      `--client-ca-file=${pki.caCert}`,
      `--service-cluster-ip-range=${serviceCidr}`,
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      // The only address is loopback, which Endpoints may not hold; nothing in here needs
      // the `kubernetes` Service to have endpoints (no pod really runs).
      '--endpoint-reconciler-type=none',
      '--profiling=false',
    ]);
    await until('kube-apiserver /readyz', async () => (await httpsGet(`${server}/readyz`, pki)).status === 200);

    const common = [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--bind-address=127.0.0.1',
      '--secure-port=0', // no health endpoint needed: readiness is checked through the API
      '--leader-elect=false',
    ];
    launch('kube-controller-manager', bin.controllerManager, [
      ...common,
      `--service-account-private-key-file=${pki.saKey}`,
      `--root-ca-file=${pki.caCert}`,
      `--cluster-signing-cert-file=${pki.caCert}`,
      `--cluster-signing-key-file=${pki.caKey}`,
      `--service-cluster-ip-range=${serviceCidr}`,
      '--use-service-account-credentials=true',
      // Otherwise it creates /usr/libexec/kubernetes/kubelet-plugins/volume/exec/.
      `--flex-volume-plugin-dir=${join(dir, 'flexvolume')}`,
    ]);
    launch('kube-scheduler', bin.scheduler, common);
    launch('kwok', bin.kwok, [
      `--kubeconfig=${kubeconfigPath}`,
      `--config=${kwokConfig}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
      '--node-lease-duration-seconds=40',
    ]);

    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const nodes = Array.from({ length: nodeCount }, (_, i) => `kwok-node-${i}`);
    await Promise.all(nodes.map((name) => core.createNode({
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          annotations: { [KWOK_NODE_ANNOTATION]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: {
            'kubernetes.io/arch': 'amd64',
            'kubernetes.io/os': 'linux',
            'kubernetes.io/hostname': name,
            'kubernetes.io/role': 'agent',
            'node-role.kubernetes.io/agent': '',
            type: 'kwok',
          },
        },
      },
    })));
    step(`created nodes ${nodes.join(', ')}`);

    await Promise.all([
      until('default ServiceAccount', async () => {
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
        return true;
      }),
      until(`${nodeCount} kwok node(s) Ready`, async () => {
        const list = await core.listNode({ labelSelector: 'type=kwok' });
        return list.items.filter(nodeReady).length >= nodeCount;
      }),
    ]);

    const pids: Record<string, number> = {};
    for (const p of procs) pids[p.name] = p.pid;
    const startupMs = Date.now() - started;
    step('ready');
    return { kubeconfigPath, server, dir, logDir, nodes, pids, startupMs, stop };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const logs = procs.map((p) => `--- ${p.name} (pid ${p.pid}, ${p.isRunning() ? 'running' : 'exited'}):\n${tail(join(logDir, `${p.name}.log`), 15)}`).join('\n');
    await stop();
    throw new Error(`test cluster did not start: ${message}\n${logs}`);
  }
}

/** The gitVersion the API server reports. */
export async function serverVersion(kubeconfigPath: string): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
}

/** True while a process with this pid exists (and is not a zombie we could reap). */
export function pidAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); /proc tells.
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return true;
  try {
    const state = readFileSync(stat, 'utf8').replace(/^.*\) /s, '').charAt(0);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** kwok's own stage files, extracted from its module by tools/build-k8s-tools.sh. */
function kwokStages(): string {
  const file = join(toolsDir(), `kwok-stages-${KWOK_VERSION}.yaml`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run setup -- --all\` (tools/build-k8s-tools.sh extracts kwok's stages)`);
  return readFileSync(file, 'utf8');
}
