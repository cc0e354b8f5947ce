// The configuration files of a real node on this machine: containerd, the CNI network, kubelet and
// kube-proxy. Plain functions of a NodeLayout, so they can be checked without starting anything.
import { join } from 'node:path';

/** Addresses of the single real node. Every range here is guarded (guard.ts): it never leaves the machine. */
export interface NodeNetwork {
  /** The pod bridge (also the node's address: kubelet and the API server listen on its gateway). */
  bridge: string;
  /** Pods' range on this node, the whole cluster range too: one node. */
  podCidr: string;
  /** The bridge's address, first of podCidr. */
  gateway: string;
  serviceCidr: string;
  /** ClusterIP of CoreDNS (kube-dns). */
  dnsIp: string;
}

export const DEFAULT_NODE_NETWORK: NodeNetwork = {
  bridge: 'edge-cni0',
  podCidr: '10.244.0.0/24',
  gateway: '10.244.0.1',
  serviceCidr: '10.96.0.0/16',
  dnsIp: '10.96.0.10',
};

export const NODE_NAME = 'edge-node';

export interface NodeLayout {
  dir: string;
  network: NodeNetwork;
  /** Image of the pod sandbox, already imported into containerd. */
  pauseImage: string;
  kubeconfig: string;
  caCert: string;
  kubeletCert: string;
  kubeletKey: string;
  kubeletHealthzPort: number;
  proxyHealthzPort: number;
  proxyMetricsPort: number;
}

export const paths = (dir: string) => ({
  containerdRoot: join(dir, 'containerd', 'root'),
  containerdState: join(dir, 'containerd', 'state'),
  containerdSocket: join(dir, 'containerd', 'containerd.sock'),
  containerdConfig: join(dir, 'containerd', 'config.toml'),
  cniConfDir: join(dir, 'cni', 'net.d'),
  cniDataDir: join(dir, 'cni', 'ipam'),
  kubeletRoot: join(dir, 'kubelet'),
  kubeletConfig: join(dir, 'kubelet-config.yaml'),
  podLogs: join(dir, 'pod-logs'),
  resolvConf: join(dir, 'resolv.conf'),
  proxyConfig: join(dir, 'kube-proxy-config.yaml'),
});

/** Debian's containernetworking-plugins put the plugins here. */
export const CNI_BIN_DIR = '/usr/lib/cni';

/**
 * containerd 1.6's CRI plugin. restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, and runc
 * fails a sandbox asking for oom_score_adj -998. Everything lives under the node's own directory.
 */
export function containerdConfig(layout: NodeLayout): string {
  const p = paths(layout.dir);
  return `version = 2
root = ${JSON.stringify(p.containerdRoot)}
state = ${JSON.stringify(p.containerdState)}
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${JSON.stringify(p.containerdSocket)}

[ttrpc]
  address = ${JSON.stringify(`${p.containerdSocket}.ttrpc`)}

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(join(layout.dir, 'containerd', 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(layout.pauseImage)}
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${JSON.stringify(CNI_BIN_DIR)}
    conf_dir = ${JSON.stringify(p.cniConfDir)}
    max_conf_num = 1
`;
}

/** The bridge network: no masquerade (nothing is to leave), addresses from the node's range. */
export function cniConfig(layout: NodeLayout): string {
  const net = layout.network;
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'edge-pods',
      plugins: [
        {
          type: 'bridge',
          bridge: net.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: net.podCidr, gateway: net.gateway }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: paths(layout.dir).cniDataDir,
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

/**
 * Kubelet on hybrid cgroup v1 (failCgroupV1: false, the cgroupfs driver), serving on the bridge
 * address only, with an empty resolv.conf so no pod inherits the machine's resolver.
 */
export function kubeletConfig(layout: NodeLayout): string {
  const p = paths(layout.dir);
  const config = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: layout.network.gateway,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: layout.kubeletHealthzPort,
    tlsCertFile: layout.kubeletCert,
    tlsPrivateKeyFile: layout.kubeletKey,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: layout.caCert } },
    authorization: { mode: 'AlwaysAllow' },
    containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    failSwapOn: false,
    clusterDomain: 'cluster.local',
    clusterDNS: [layout.network.dnsIp],
    resolvConf: p.resolvConf,
    podLogsDir: p.podLogs,
    volumePluginDir: join(layout.dir, 'kubelet-plugins'),
    registerNode: true,
    serializeImagePulls: false,
    // The machine's disk is shared with everything else: evict only when it is really full.
    evictionHard: { 'memory.available': '200Mi', 'nodefs.available': '2%', 'imagefs.available': '2%', 'nodefs.inodesFree': '2%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    maxPods: 110,
    nodeStatusReportFrequency: '10s',
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

export function kubeletArgs(layout: NodeLayout): string[] {
  const p = paths(layout.dir);
  return [
    `--config=${p.kubeletConfig}`,
    `--kubeconfig=${layout.kubeconfig}`,
    `--root-dir=${p.kubeletRoot}`,
    `--cert-dir=${join(layout.dir, 'kubelet-pki')}`,
    `--hostname-override=${NODE_NAME}`,
    `--node-ip=${layout.network.gateway}`,
    '--v=1',
  ];
}

/** kube-proxy in iptables mode; NodePorts only on the bridge address, conntrack sysctls left alone. */
export function kubeProxyConfig(layout: NodeLayout): string {
  const config = {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: layout.kubeconfig },
    mode: 'iptables',
    hostnameOverride: NODE_NAME,
    bindAddress: layout.network.gateway,
    clusterCIDR: layout.network.podCidr,
    healthzBindAddress: `127.0.0.1:${layout.proxyHealthzPort}`,
    metricsBindAddress: `127.0.0.1:${layout.proxyMetricsPort}`,
    nodePortAddresses: [`${layout.network.gateway}/32`],
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    iptables: { localhostNodePorts: false },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
