// One real Kubernetes node on this machine: containerd + runc with the bridge CNI, kubelet,
// kube-proxy, kube-router (NetworkPolicy only) and CoreDNS, against the test control plane.
// The host is prepared first (guards before any pod exists) and every change is undone through
// the Startup's teardown stack. Facts behind each setting: shared/notes/real-pods.md.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, AppsV1Api, KubeConfig, KubernetesObjectApi, type V1Node } from '@kubernetes/client-node';
import { toolPath, toolsDir } from '../common/tools.js';
import { makeNodePki, writeKubeconfig } from './certs.js';
import type { ControlPlane } from './control-plane.js';
import { distinctFreePorts } from './control-plane.js';
import { corednsObjects } from './coredns.js';
import { installGuard, removeGuard } from './guard.js';
import { addBridge, addRoute, destroyIpsets, ipsets, recordSysctls, removeBridge, removeChains, removeRoute, restoreSysctls, writeSysctl } from './host.js';
import { containerdConfig, cniConfig, kubeletArgs, kubeletConfig, kubeProxyConfig, NODE_NAME, paths, CNI_BIN_DIR, type NodeLayout, type NodeNetwork } from './node-config.js';
import { killPodProcesses, NODE_CHAIN_PREFIXES, NODE_IPSET_PREFIXES, nodeLeftovers, pidsByCommandLine, signal, snapshotHost, sweepNode, type HostSnapshot } from './node-sweep.js';
import { pidAlive } from './pids.js';
import type { Startup } from './startup.js';

export interface RealNode {
  name: string;
  network: NodeNetwork;
  containerdSocket: string;
  /** Loads an image archive (docker-archive or OCI) into the node's containerd. */
  importImage(archive: string): void;
  /** What the node left on the machine; call after stop(). */
  leftovers(): string[];
}

/** The pause and CoreDNS images that tools/build-node-images.sh makes, as it lists them. */
interface NodeImages {
  pause: { archive: string; ref: string };
  coredns: { archive: string; ref: string };
}

const LOCK = '/run/edge-real-node.pid';
const HOST_RECORD = 'host-record.json';

/** What the host was before the node started: sysctls and shared directories. */
interface HostRecord {
  sysctls: Record<string, string>;
  before: HostSnapshot;
}

function nodeImages(): NodeImages {
  const file = join(toolsDir(), 'images', 'node-images.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run setup -- --all\` (tools/build-node-images.sh makes the pause and CoreDNS images)`);
  return JSON.parse(readFileSync(file, 'utf8')) as NodeImages;
}

/** Everything the node needs, checked before anything on the host changes. */
function checkPrerequisites(): Record<'containerd' | 'ctr' | 'kubelet' | 'kubeProxy' | 'kubeRouter', string> {
  if (process.getuid?.() !== 0) throw new Error('a real node needs root (bridges, iptables, mounts, cgroups)');
  const missing: string[] = [];
  const find = (name: string) => {
    try {
      return toolPath(name);
    } catch {
      missing.push(name);
      return '';
    }
  };
  const bins = { containerd: find('containerd'), ctr: find('ctr'), kubelet: find('kubelet'), kubeProxy: find('kube-proxy'), kubeRouter: find('kube-router') };
  for (const tool of ['runc', 'ipset', 'conntrack', 'iptables']) find(tool);
  if (!existsSync(join(CNI_BIN_DIR, 'bridge'))) missing.push(`${CNI_BIN_DIR}/bridge (containernetworking-plugins)`);
  if (missing.length) throw new Error(`a real node needs ${missing.join(', ')}: run \`npm run setup -- --all\``);
  return bins;
}

/** The lock names the holder and its directory, so a run killed before its teardown can be swept. */
async function takeLock(s: Startup, net: NodeNetwork): Promise<void> {
  if (existsSync(LOCK)) {
    const [pid = '0', dir = ''] = readFileSync(LOCK, 'utf8').trim().split(' ');
    if (pidAlive(Number(pid))) throw new Error(`another real node runs on this machine (pid ${pid}, ${LOCK}): one at a time`);
    await sweepDeadNode(dir, net);
  }
  writeFileSync(LOCK, `${process.pid} ${s.dir}\n`);
  s.defer('release the real-node lock', () => rmSync(LOCK, { force: true }));
}

/** What a killed run left: its shims and mounts, its kube chains and ipsets, its bridge. */
async function sweepDeadNode(dir: string, net: NodeNetwork): Promise<void> {
  if (dir.startsWith(tmpdir()) && existsSync(dir)) {
    // Its processes were started detached: they outlive a test process killed by SIGKILL.
    signal(pidsByCommandLine((args) => args.some((a) => a.includes(dir))), 'SIGKILL');
    await killPodProcesses(0);
    const file = join(dir, HOST_RECORD);
    const record = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as HostRecord) : undefined;
    await sweepNode(dir, paths(dir).containerdSocket, record?.before ?? { netns: [], kubepods: [], sharedDirs: {} });
    if (record) restoreSysctls(record.sysctls);
    rmSync(dir, { recursive: true, force: true });
  }
  removeNodeRules(checkPrerequisites());
  removeBridge(net.bridge);
}

/**
 * kube-proxy's and kube-router's own cleanups, then whatever they leave: kube-router 2.1's
 * `--cleanup-config` panics in its (unused) service proxy part, and kubelet's chains have none.
 */
function removeNodeRules(bins: { kubeProxy: string; kubeRouter: string }): void {
  for (const [bin, args] of [[bins.kubeProxy, ['--cleanup']], [bins.kubeRouter, ['--cleanup-config']]] as const) {
    try {
      execFileSync(bin, args, { stdio: 'ignore', timeout: 60_000 });
    } catch {
      // the sweep below removes what it left
    }
  }
  removeChains(NODE_CHAIN_PREFIXES);
  destroyIpsets(ipsets(NODE_IPSET_PREFIXES));
}

/**
 * The host side, before the API server binds the bridge address: lock, sysctls recorded, the
 * bridge, the Service route into it, and the guard. Returns what was on the host before.
 */
export async function prepareHost(s: Startup, net: NodeNetwork, guardId: string): Promise<HostSnapshot> {
  checkPrerequisites();
  await takeLock(s, net);
  const before = snapshotHost();
  const sysctls = recordSysctls();
  // Also on disk: a run killed before its teardown is undone by the next one (sweepDeadNode).
  const record: HostRecord = { sysctls, before };
  writeFileSync(join(s.dir, HOST_RECORD), JSON.stringify(record));
  s.defer('restore sysctls', () => restoreSysctls(sysctls));
  const guard = installGuard({ id: guardId, cidrs: [net.podCidr, net.serviceCidr], bridge: net.bridge });
  s.defer('remove the network guard', () => removeGuard(guard));
  addBridge(net.bridge, `${net.gateway}/${net.podCidr.split('/')[1]}`);
  s.defer(`remove bridge ${net.bridge}`, () => removeBridge(net.bridge));
  addRoute(net.serviceCidr, net.bridge);
  s.defer(`remove the route of ${net.serviceCidr}`, () => removeRoute(net.serviceCidr, net.bridge));
  // Service traffic to a pod is routed back into the bridge; the guard keeps it there.
  writeSysctl('net.ipv4.ip_forward', '1');
  s.step(`host prepared: bridge ${net.bridge} ${net.gateway}, guard on ${net.podCidr} ${net.serviceCidr}`);
  return before;
}

async function writeLayout(s: Startup, cp: ControlPlane, net: NodeNetwork, pauseImage: string): Promise<NodeLayout> {
  const nodePki = await makeNodePki(s.dir, NODE_NAME, net.gateway);
  const kubeletKubeconfig = join(s.dir, 'kubelet.kubeconfig');
  await writeKubeconfig(kubeletKubeconfig, cp.server, { caCert: cp.pki.caCert, adminCert: nodePki.clientCert, adminKey: nodePki.clientKey }, 'edge-node');
  const [kubeletHealthzPort, proxyHealthzPort, proxyMetricsPort] = await distinctFreePorts(3);
  const layout: NodeLayout = {
    dir: s.dir,
    network: net,
    pauseImage,
    kubeconfig: cp.kubeconfigPath,
    caCert: cp.pki.caCert,
    kubeletCert: nodePki.servingCert,
    kubeletKey: nodePki.servingKey,
    kubeletHealthzPort: kubeletHealthzPort!,
    proxyHealthzPort: proxyHealthzPort!,
    proxyMetricsPort: proxyMetricsPort!,
  };
  const p = paths(s.dir);
  for (const d of [p.cniConfDir, p.podLogs, join(s.dir, 'containerd')]) mkdirSync(d, { recursive: true });
  writeFileSync(p.containerdConfig, containerdConfig(layout));
  writeFileSync(join(p.cniConfDir, '10-edge-pods.conflist'), cniConfig(layout));
  writeFileSync(p.kubeletConfig, kubeletConfig(layout));
  writeFileSync(p.proxyConfig, kubeProxyConfig(layout));
  writeFileSync(p.resolvConf, '');
  // kubelet authenticates as the node (Node authorizer); kube-proxy and kube-router as admin.
  return { ...layout, kubeconfig: kubeletKubeconfig };
}

function nodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function ctr(ctrBin: string, socket: string, args: string[]): string {
  return execFileSync(ctrBin, ['--address', socket, '--namespace', 'k8s.io', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

export async function startRealNode(s: Startup, cp: ControlPlane, net: NodeNetwork, before: HostSnapshot): Promise<RealNode> {
  const bin = checkPrerequisites();
  const images = nodeImages();
  const layout = await writeLayout(s, cp, net, images.pause.ref);
  const p = paths(s.dir);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);

  s.defer('sweep the node (shims, mounts, namespaces, cgroups)', () => sweepNode(s.dir, p.containerdSocket, before));
  s.launch('containerd', bin.containerd, ['--config', p.containerdConfig, '--log-level', 'warn'], undefined, 10_000);
  await s.until('containerd', () => ctr(bin.ctr, p.containerdSocket, ['version']).includes('Server'));
  const importImage = (archive: string) => void ctr(bin.ctr, p.containerdSocket, ['images', 'import', archive]);
  importImage(images.pause.archive);
  importImage(images.coredns.archive);
  s.step('pause and CoreDNS images imported');

  s.defer('stop the pods', () => killPodProcesses());
  s.launch('kubelet', bin.kubelet, kubeletArgs(layout), undefined, 10_000);
  await s.until(`node ${NODE_NAME} Ready`, async () => nodeReady(await core.readNode({ name: NODE_NAME })));

  s.defer('remove the node\'s chains and ipsets', () => removeNodeRules(bin));
  s.launch('kube-proxy', bin.kubeProxy, [`--config=${p.proxyConfig}`]);
  s.launch('kube-router', bin.kubeRouter, [
    `--kubeconfig=${cp.kubeconfigPath}`,
    `--hostname-override=${NODE_NAME}`,
    '--run-firewall=true',
    '--run-router=false',
    '--run-service-proxy=false',
    '--enable-cni=false',
    '--metrics-port=0',
    '--health-port=0',
  ]);

  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const object of corednsObjects(images.coredns.ref, net.dnsIp)) await api.create(object);
  const apps = kc.makeApiClient(AppsV1Api);
  await s.until('CoreDNS ready', async () => ((await apps.readNamespacedDeployment({ name: 'coredns', namespace: 'kube-system' })).status?.readyReplicas ?? 0) >= 1);

  return {
    name: NODE_NAME,
    network: net,
    containerdSocket: p.containerdSocket,
    importImage,
    leftovers: () => nodeLeftovers(s.dir, p.containerdSocket, before, net.bridge),
  };
}
