// A real Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, with either kwok's fake nodes (objects only, fast) or one real node on this
// machine (pods run: containerd, kubelet, kube-proxy, kube-router, CoreDNS). Binaries come from
// `npm run setup -- --all` ($EDGE_TOOLS_DIR/bin) or PATH. Every address range is guarded first.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, VersionApi, type V1Node } from '@kubernetes/client-node';
import { toolPath, toolsDir } from '../common/tools.js';
import { startControlPlane } from './control-plane.js';
import { installGuard, removeGuard } from './guard.js';
import { DEFAULT_NODE_NETWORK, NODE_NAME, type NodeNetwork } from './node-config.js';
import type { HostSnapshot } from './node-sweep.js';
import { prepareHost, startRealNode, type RealNode } from './realnode.js';
import { Startup } from './startup.js';
import { KWOK_VERSION } from './versions.js';
export { pidAlive } from './pids.js';

export interface TestClusterOptions {
  /** Fake (kwok) nodes to create, 1..10. Default 2; ignored with realNode. */
  nodes?: number;
  /**
   * One real node on this machine instead of kwok's: containerd, kubelet, kube-proxy,
   * kube-router and CoreDNS (root only; one at a time). See realnode.ts.
   */
  realNode?: boolean | { network?: Partial<NodeNetwork> };
  /** Where logs go. Default: `<tempdir>/logs` (removed by stop()); set it to keep them. */
  logDir?: string;
  /** Give up starting after this long. Default 90 s (180 s with a real node). */
  timeoutMs?: number;
  /** Service CIDR: guarded, it never leaves this machine. */
  serviceCidr?: string;
  /** Progress lines (default: silent). */
  log?: (line: string) => void;
}

export interface TestCluster {
  /** Admin kubeconfig (certificates embedded). */
  kubeconfigPath: string;
  /** https://<address>:<port>: 127.0.0.1 with kwok, the pod bridge's address with a real node. */
  server: string;
  /** The temp dir holding certs, etcd data, configs (and logs unless logDir was given). */
  dir: string;
  logDir: string;
  /** Names of the nodes. */
  nodes: string[];
  /** The real node, when asked for. */
  node?: RealNode;
  /** name -> pid of every process started. */
  pids: Record<string, number>;
  /** Milliseconds from start to ready. */
  startupMs: number;
  /** Stops every process and undoes every host change, newest first, and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Annotation kwok is told to manage (`--manage-nodes-with-annotation-selector`). */
export const KWOK_NODE_ANNOTATION = 'kwok.x-k8s.io/node';

/**
 * Addresses kwok hands its fake pods and nodes. Anything the API server sends there (a webhook, an
 * aggregated API, logs) would be routed off this machine: the guard rejects it locally instead.
 */
export const KWOK_CIDR = '10.245.0.0/16';
const KWOK_POD_CIDR = '10.245.0.1/24';
const KWOK_NODE_IP = '10.245.1.1';
/** Inside KWOK_CIDR too: apart from a real node's Service range, so the two tiers never share one. */
const KWOK_SERVICE_CIDR = '10.245.128.0/20';

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

/** A short id for this cluster's guard chains. */
function guardId(): string {
  return randomBytes(3).toString('hex');
}

async function startOnce(options: TestClusterOptions): Promise<TestCluster> {
  const real = options.realNode ? { ...DEFAULT_NODE_NETWORK, ...(typeof options.realNode === 'object' ? options.realNode.network : {}) } : undefined;
  const nodeCount = real ? 1 : options.nodes ?? 2;
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 10) throw new Error(`nodes must be 1..10, got ${nodeCount}`);
  const serviceCidr = real?.serviceCidr ?? options.serviceCidr ?? KWOK_SERVICE_CIDR;
  const dir = await mkdtemp(join(tmpdir(), 'edge-k8s-'));
  const logDir = options.logDir ?? join(dir, 'logs');
  const s = new Startup(dir, logDir, Date.now() + (options.timeoutMs ?? (real ? 180_000 : 90_000)), options.log ?? (() => {}));
  s.defer('remove the cluster directory', () => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
  let node: RealNode | undefined;
  try {
    let before: HostSnapshot | undefined;
    if (real) before = await prepareHost(s, { ...real, serviceCidr }, guardId());
    else {
      const guard = installGuard({ id: guardId(), cidrs: [...new Set([KWOK_CIDR, serviceCidr])] });
      s.defer('remove the network guard', () => removeGuard(guard));
    }
    const cp = await startControlPlane(s, { address: real?.gateway ?? '127.0.0.1', serviceCidr, clusterCidr: real?.podCidr });
    const nodes = real ? [NODE_NAME] : Array.from({ length: nodeCount }, (_, i) => `kwok-node-${i}`);
    if (real) node = await startRealNode(s, cp, { ...real, serviceCidr }, before!);
    else await startKwokNodes(s, cp.kubeconfigPath, nodes);
    await defaultServiceAccount(s, cp.kubeconfigPath);
    const pids: Record<string, number> = {};
    for (const p of s.procs) pids[p.name] = p.pid;
    s.step('ready');
    const stop = async () => {
      const failures = await s.stop();
      if (failures.length) throw new Error(`test cluster teardown: ${failures.join('; ')}`);
    };
    return { kubeconfigPath: cp.kubeconfigPath, server: cp.server, dir, logDir, nodes, node, pids, startupMs: s.elapsedMs(), stop };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const logs = s.logTails();
    const failures = await s.stop();
    throw new Error(`test cluster did not start: ${message}\n${logs}${failures.length ? `\nteardown: ${failures.join('; ')}` : ''}`);
  }
}

async function defaultServiceAccount(s: Startup, kubeconfigPath: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  await s.until('default ServiceAccount', async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
    return true;
  });
}

async function startKwokNodes(s: Startup, kubeconfigPath: string, nodes: string[]): Promise<void> {
  const kwokConfig = join(s.dir, 'kwok.yaml');
  await writeFile(kwokConfig, kwokStages());
  s.launch('kwok', toolPath('kwok'), [
    `--kubeconfig=${kubeconfigPath}`,
    `--config=${kwokConfig}`,
    '--manage-all-nodes=false',
    `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
    '--node-lease-duration-seconds=40',
    `--cidr=${KWOK_POD_CIDR}`,
    `--node-ip=${KWOK_NODE_IP}`,
  ]);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all(nodes.map((name) => core.createNode({ body: kwokNode(name) })));
  s.step(`created nodes ${nodes.join(', ')}`);
  await s.until(`${nodes.length} kwok node(s) Ready`, async () => {
    const list = await core.listNode({ labelSelector: 'type=kwok' });
    return list.items.filter(nodeReady).length >= nodes.length;
  });
}

function kwokNode(name: string): V1Node {
  return {
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
  };
}

/** The gitVersion the API server reports. */
export async function serverVersion(kubeconfigPath: string): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
}

/** kwok's own stage files, extracted from its module by tools/build-k8s-tools.sh. */
function kwokStages(): string {
  const file = join(toolsDir(), `kwok-stages-${KWOK_VERSION}.yaml`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run setup -- --all\` (tools/build-k8s-tools.sh extracts kwok's stages)`);
  return readFileSync(file, 'utf8');
}
