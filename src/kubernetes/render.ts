// Renders a validated topology into what each level's cluster gets: a namespace, the Secrets the
// install step writes, and Helm releases with their values. Configuration files come from the
// same generators the local target uses; the charts only place them. With the `telemetry`
// parameter, each level also gets an OpenTelemetry Collector (its config from
// src/config/otel-collector.ts), its Dapr Configuration exports spans to it and its workloads get
// the OTEL_* environment of src/config/otel-env.ts.
import { createHash } from 'node:crypto';
import type { Credentials } from '../config/credentials.js';
import type { PkiMaterial } from '../pki/broker-pki.js';
import { brokerUrl, DAPR_CONFIGURATION_NAME, daprConfiguration, pubsubComponent, resiliencyPolicy } from '../config/dapr.js';
import { OTLP_GRPC_PORT, OTLP_HTTP_PORT, parseOtlpEndpoint, renderOtelCollectorConfig, type MutualTlsFiles, type OtlpUpstream } from '../config/otel-collector.js';
import { workloadOtelEnv } from '../config/otel-env.js';
import { renderAclFile, renderMosquittoConf, renderPasswordFile } from '../config/mosquitto.js';
import { renderSquidConf } from '../config/squid.js';
import { levelByName, parentFirst, queueBounds, usesDapr, type Level, type Topology, type Workload } from '../topology/model.js';
import { workloadEnv } from '../topology/workload-env.js';
import { DEFAULT_OPC_PORT, readPlcConfig } from '../../workloads/opc-plc/src/config.js';
import { publishedNodesForConfig } from '../../workloads/opc-plc/src/publishednodes.js';
import { imageRef, refString, type BundleInputs, type ImageRef } from './inputs.js';
import { renderGatewaySinks, type GatewaySinksRender } from './gateway-sinks.js';
import { WORKLOAD_NODE_FLAGS } from '../topology/node-flags.js';

export const PART_OF = 'nested-edge';
export const BROKER_PORTS = { workloadPort: 1883, childPort: 1884 };
export const PROXY_PORT = 3128;
export const DAPR_CONFIG_NAME = DAPR_CONFIGURATION_NAME;
export const BROKER_SECRET = 'broker-config';
/** The collector's ports: OTLP for the level's own pods, and the child levels' collectors' link. */
export const OTEL_COLLECTOR_PORTS = { grpc: OTLP_GRPC_PORT, http: OTLP_HTTP_PORT, children: 4319, metrics: 8888 };
/** The collector's TLS files (trust, its server and client pairs): a Secret, never the ConfigMap. */
export const OTEL_COLLECTOR_SECRET = 'otel-collector-tls';
export const OTEL_COLLECTOR_RELEASE = 'otel-collector';
/**
 * memory_limiter's limit: under the chart's 256Mi memory limit, with room for the Go runtime, so
 * the collector refuses data (its senders retry) before the kernel kills it.
 */
export const OTEL_COLLECTOR_MEMORY_LIMIT_MIB = 200;
/** Where the chart puts things in the collector's pod (charts/otel-collector). */
const OTEL_PATHS = { tls: '/etc/otelcol-tls', data: '/var/lib/otelcol' };
/** The releases of the platform layer, in install order; the rest of a level is its workloads. */
export const PLATFORM_RELEASES = ['broker', 'proxy', OTEL_COLLECTOR_RELEASE, 'dapr-resources'];

export const DEFAULT_IMAGES: Record<string, ImageRef> = {
  'temperature-sensor': { repository: 'ghcr.io/nested-edge/temperature-sensor', tag: '0.1.0' },
  'opc-plc': { repository: 'ghcr.io/nested-edge/opc-plc', tag: '0.1.0' },
  'opc-publisher': { repository: 'ghcr.io/nested-edge/opc-publisher', tag: '0.1.0' },
  'data-gateway': { repository: 'ghcr.io/nested-edge/data-gateway', tag: '0.1.0' },
  'otel-collector': { repository: 'ghcr.io/nested-edge/otel-collector', tag: '0.165.0-edge' },
  mosquitto: { repository: 'docker.io/library/eclipse-mosquitto', tag: '2.0.22' },
  squid: { repository: 'docker.io/ubuntu/squid', tag: '6.10-24.10_beta' },
  daprd: { repository: 'ghcr.io/dapr/daprd', tag: '1.16.2' },
  'dapr-operator': { repository: 'ghcr.io/dapr/operator', tag: '1.16.2' },
  'dapr-placement': { repository: 'ghcr.io/dapr/placement', tag: '1.16.2' },
  'dapr-scheduler': { repository: 'ghcr.io/dapr/scheduler', tag: '1.16.2' },
  'dapr-sentry': { repository: 'ghcr.io/dapr/sentry', tag: '1.16.2' },
  'dapr-injector': { repository: 'ghcr.io/dapr/injector', tag: '1.16.2' },
};

export interface SecretSpec {
  name: string;
  stringData: Record<string, string>;
}

export interface ReleaseSpec {
  name: string;
  /** Chart directory name under charts/ (or an absolute path for the Dapr chart). */
  chart: string;
  values: Record<string, unknown>;
}

export interface LevelRender {
  level: Level;
  namespace: string;
  credential: string;
  secrets: SecretSpec[];
  /** In install order: broker, proxy, the collector (with telemetry), Dapr resources, then workloads. */
  releases: ReleaseSpec[];
}

export function namespaceOf(inputs: BundleInputs, level: string): string {
  return `${inputs.namespacePrefix}${level}`;
}

export function credentialOf(inputs: BundleInputs, level: string): string {
  return inputs.clusters[level]?.credential ?? 'kubeconfig';
}

function imageValues(ref: ImageRef): Record<string, string> {
  return { repository: ref.repository, tag: ref.tag, ...(ref.digest ? { digest: ref.digest } : {}) };
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Where a level's children reach its broker, proxy and collector. */
function endpointsOf(topology: Topology, inputs: BundleInputs, level: Level, from: Level): { brokerHost: string; brokerPort: number; proxyHost: string; collectorHost: string; sameCluster: boolean } {
  const sameCluster = credentialOf(inputs, level.name) === credentialOf(inputs, from.name);
  const ns = namespaceOf(inputs, level.name);
  if (sameCluster) return { brokerHost: `broker.${ns}.svc.cluster.local`, brokerPort: BROKER_PORTS.childPort, proxyHost: `proxy.${ns}.svc.cluster.local`, collectorHost: collectorHost(inputs, level.name), sameCluster };
  const address = inputs.clusters[level.name]?.brokerAddress;
  if (!address) throw new Error(`level ${from.name} is on another cluster than its parent ${level.name}: set clusters.${level.name}.brokerAddress (host:port of ${level.name}'s broker children listener)`);
  const [host, port] = address.split(':');
  // Like the proxy, the parent's collector is on the same host, at its child port.
  return { brokerHost: host!, brokerPort: Number(port ?? BROKER_PORTS.childPort), proxyHost: host!, collectorHost: host!, sameCluster };
}

/** The collector Service of a level: what its own pods and its same-cluster children dial. */
export function collectorHost(inputs: BundleInputs, level: string): string {
  return `${OTEL_COLLECTOR_RELEASE}.${namespaceOf(inputs, level)}.svc.cluster.local`;
}

/**
 * The names a level's children dial to reach its collector's child receiver (its collector
 * server certificate's names): the Service, and the configured address for a child on another cluster.
 */
export function collectorListenerNames(topology: Topology, inputs: BundleInputs, level: string): string[] {
  const names = [collectorHost(inputs, level)];
  const remote = inputs.clusters[level]?.brokerAddress?.split(':')[0];
  if (remote && topology.levels.some((c) => c.parent === level && credentialOf(inputs, c.name) !== credentialOf(inputs, level))) names.push(remote);
  return names;
}

/**
 * The names a level's children dial to reach its child listener (its server certificate's
 * names): the Service inside the cluster, and the configured address for a child on another.
 */
export function childListenerNames(topology: Topology, inputs: BundleInputs, level: string): string[] {
  const names = [`broker.${namespaceOf(inputs, level)}.svc.cluster.local`];
  const remote = inputs.clusters[level]?.brokerAddress?.split(':')[0];
  if (remote && topology.levels.some((c) => c.parent === level && credentialOf(inputs, c.name) !== credentialOf(inputs, level))) names.push(remote);
  return names;
}

/** Where the broker pod finds its TLS files: beside its config, from the same Secret. */
const BROKER_TLS_PATHS = { trustFile: '/mosquitto/config/trust.crt', serverCert: '/mosquitto/config/server.crt', serverKey: '/mosquitto/config/server.key', bridgeCert: '/mosquitto/config/bridge.crt', bridgeKey: '/mosquitto/config/bridge.key' };

export function renderDeployment(topology: Topology, inputs: BundleInputs, creds: Credentials, pki: PkiMaterial): LevelRender[] {
  return parentFirst(topology).map((level) => renderLevel(topology, inputs, creds, pki, level));
}

function renderLevel(topology: Topology, inputs: BundleInputs, creds: Credentials, pki: PkiMaterial, level: Level): LevelRender {
  const namespace = namespaceOf(inputs, level.name);
  const parent = level.parent === undefined ? undefined : levelByName(topology, level.parent);
  const parentEp = parent ? endpointsOf(topology, inputs, parent, level) : undefined;
  const children = topology.levels.filter((l) => l.parent === level.name);
  const sameClusterChildren = children.filter((c) => credentialOf(inputs, c.name) === credentialOf(inputs, level.name));
  const remoteChildren = children.length - sameClusterChildren.length;
  const secrets: SecretSpec[] = [];
  const releases: ReleaseSpec[] = [];

  // Broker: the whole config is a Secret (the bridge password is in it).
  const conf = renderMosquittoConf({
    level,
    bindAddress: '0.0.0.0',
    ports: BROKER_PORTS,
    tls: parent ? BROKER_TLS_PATHS : { trustFile: BROKER_TLS_PATHS.trustFile, serverCert: BROKER_TLS_PATHS.serverCert, serverKey: BROKER_TLS_PATHS.serverKey },
    parent: parent && parentEp ? { host: parentEp.brokerHost, port: parentEp.brokerPort, bridgeUser: creds.levels[parent.name]!.bridges[level.name]! } : undefined,
    storeAndForward: topology.storeAndForward,
    paths: { persistenceDir: '/mosquitto/data', passwordFile: '/mosquitto/config/passwd', aclFile: '/mosquitto/config/acl' },
  });
  const acl = renderAclFile(level.name, creds);
  // The password file's salts are random: its checksum covers the users and passwords instead,
  // so an unchanged install renders an unchanged checksum.
  const users = JSON.stringify(creds.levels[level.name]);
  const tls = pki.levels[level.name];
  if (!tls) throw new Error(`the broker PKI has no certificates for level ${level.name}`);
  const tlsFiles: Record<string, string> = { 'trust.crt': pki.trust, 'server.crt': tls.serverCert, 'server.key': tls.serverKey, ...(tls.bridgeCert && tls.bridgeKey ? { 'bridge.crt': tls.bridgeCert, 'bridge.key': tls.bridgeKey } : {}) };
  secrets.push({ name: BROKER_SECRET, stringData: { 'mosquitto.conf': conf, passwd: renderPasswordFile(level.name, creds), acl, ...tlsFiles } });
  const { maxQueuedBytes } = queueBounds(topology.storeAndForward);
  releases.push({
    name: 'broker',
    chart: 'broker',
    values: {
      level: { name: level.name, isa95: level.isa95, parent: level.parent ?? '' },
      image: imageValues(imageRef(inputs, 'mosquitto', DEFAULT_IMAGES.mosquitto!)),
      config: { existingSecret: BROKER_SECRET, checksum: sha256(conf + acl + users + Object.values(tlsFiles).join('')) },
      ports: { workloads: BROKER_PORTS.workloadPort, children: BROKER_PORTS.childPort },
      persistence: { enabled: true, size: `${Math.max(1, Math.ceil((2 * maxQueuedBytes) / 2 ** 30))}Gi` },
      networkPolicy: {
        enabled: true,
        childNamespaces: sameClusterChildren.map((c) => namespaceOf(inputs, c.name)),
        childCIDRs: remoteChildren > 0 ? ['0.0.0.0/0'] : [],
        ...(parent && parentEp ? (parentEp.sameCluster ? { parentNamespace: namespaceOf(inputs, parent.name), parentPort: parentEp.brokerPort } : { parentCIDR: /^\d+\.\d+\.\d+\.\d+$/.test(parentEp.brokerHost) ? `${parentEp.brokerHost}/32` : '0.0.0.0/0', parentPort: parentEp.brokerPort }) : {}),
      },
    },
  });

  // The top level's collector exports upstream through this level's proxy: its host is allowed there.
  const upstream = !parent ? otlpUpstreamOf(inputs, namespace) : undefined;
  const upstreamEgress = upstream ? upstreamDestination(upstream) : undefined;

  // Egress proxy: forwards to the parent's proxy; the top level goes out to the allow-list only.
  const squidConf = renderSquidConf({
    levelName: level.name,
    bindAddress: '0.0.0.0',
    port: PROXY_PORT,
    parent: parent && parentEp ? { host: parentEp.proxyHost, port: PROXY_PORT } : undefined,
    allowDomains: upstreamEgress && !inputs.egressAllowDomains.includes(upstreamEgress.host) ? [...inputs.egressAllowDomains, upstreamEgress.host] : inputs.egressAllowDomains,
    connectPorts: upstreamEgress?.connectPort !== undefined && upstreamEgress.connectPort !== 443 ? [443, upstreamEgress.connectPort] : [443],
    clientCidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'],
    paths: { pidFile: '/var/run/squid.pid', accessLog: '/dev/stdout', cacheLog: '/dev/stderr', coredumpDir: '/var/spool/squid' },
  });
  releases.push({
    name: 'proxy',
    chart: 'proxy',
    values: {
      level: { name: level.name },
      image: imageValues(imageRef(inputs, 'squid', DEFAULT_IMAGES.squid!)),
      config: { squidConf },
      port: PROXY_PORT,
      networkPolicy: { enabled: true, childNamespaces: sameClusterChildren.map((c) => namespaceOf(inputs, c.name)), childCIDRs: remoteChildren > 0 ? ['0.0.0.0/0'] : [] },
    },
  });

  // The level's OpenTelemetry Collector: after the proxy (the top one may export through it),
  // before the Dapr Configuration that points the sidecars at it.
  if (inputs.telemetry) {
    const collector = collectorRelease(topology, inputs, pki, level, { parentEp, sameClusterChildren: sameClusterChildren.map((c) => namespaceOf(inputs, c.name)), remoteChildren, upstream });
    secrets.push(...collector.secrets);
    releases.push(collector.release);
  }

  // Dapr resources: one pub/sub component per workload (its own broker user), from a Secret.
  const daprWorkloads = level.workloads.filter((w) => usesDapr(w.type));
  // With telemetry, the sidecars send their spans to the level's collector (OTLP/gRPC, in the namespace).
  const tracing = inputs.telemetry ? { samplingRate: '1', otlpEndpoint: `${collectorHost(inputs, level.name)}:${OTEL_COLLECTOR_PORTS.grpc}` } : { samplingRate: '1' };
  const resources: Record<string, unknown>[] = [daprConfiguration(DAPR_CONFIG_NAME, tracing)];
  for (const w of daprWorkloads) {
    const componentName = `pubsub-${w.name}`;
    const secretName = brokerUrlSecretName(w.name);
    secrets.push({ name: secretName, stringData: { url: brokerUrl(creds.levels[level.name]!.workloads[w.name]!, `broker.${namespace}.svc.cluster.local`, BROKER_PORTS.workloadPort) } });
    resources.push(pubsubComponent({ componentName, appId: w.name, urlSecret: { name: secretName, key: 'url' } }));
    resources.push(resiliencyPolicy(componentName, w.name));
  }
  // The gateway's stores: their credentials in Secrets, their Dapr bindings with resiliency.
  const gatewaySinks = new Map(level.workloads.filter((w) => w.type === 'data-gateway').map((w) => [w.name, renderGatewaySinks(inputs, w)]));
  for (const g of gatewaySinks.values()) {
    secrets.push(...g.secrets);
    resources.push(...g.resources);
  }
  releases.push({ name: 'dapr-resources', chart: 'dapr-resources', values: { level: { name: level.name }, resources } });

  for (const w of level.workloads) releases.push(workloadRelease(inputs, level, w, namespace, gatewaySinks.get(w.name)));
  return { level, namespace, credential: credentialOf(inputs, level.name), secrets, releases };
}

function workloadRelease(inputs: BundleInputs, level: Level, w: Workload, namespace: string, sinks?: GatewaySinksRender): ReleaseSpec {
  const env = sinks?.env ?? workloadEnv(w);
  if (w.type === 'temperature-sensor') env.SENSOR_INTERVAL_MS = String(inputs.sensorIntervalMs);
  // The same OTEL_* set as the local targets', pointing at the level's collector Service.
  if (inputs.telemetry) Object.assign(env, workloadOtelEnv({ endpoint: `http://${collectorHost(inputs, level.name)}:${OTEL_COLLECTOR_PORTS.http}`, serviceName: w.name, level: level.name }));
  // The same V8 heap settings as the local targets' command lines (the image's entry point is node).
  if (WORKLOAD_NODE_FLAGS[w.type].length > 0) env.NODE_OPTIONS = WORKLOAD_NODE_FLAGS[w.type].join(' ');
  const values: Record<string, unknown> = {
    level: { name: level.name },
    appId: w.name,
    image: imageValues(imageRef(inputs, w.type, DEFAULT_IMAGES[w.type]!)),
    env,
  };
  if (usesDapr(w.type)) values.dapr = { enabled: true, config: DAPR_CONFIG_NAME, sidecarImage: refString(imageRef(inputs, 'daprd', DEFAULT_IMAGES.daprd!)) };
  if (w.type === 'opc-publisher') {
    const plcName = w.config.endpointWorkload;
    const plc = level.workloads.find((o) => o.name === plcName);
    if (plc) {
      const host = `${plc.name}.${namespace}.svc.cluster.local`;
      const plcConfig = readPlcConfig({ ...workloadEnv(plc), EDGE_SOURCE: plc.name, EDGE_LEVEL: level.name, OPC_HOSTNAME: host });
      values.publishedNodes = JSON.stringify(publishedNodesForConfig(plcConfig, `opc.tcp://${host}:${plcConfig.port}`));
    } else if (typeof w.config.endpointUrl === 'string') {
      values.publishedNodes = JSON.stringify([{ EndpointUrl: w.config.endpointUrl, UseSecurity: false, OpcNodes: [] }]);
    }
  }
  if (w.type === 'opc-plc') values.opc = { port: Number(w.config.port ?? DEFAULT_OPC_PORT) };
  if (sinks) Object.assign(values, sinks.values);
  // The sidecar's own broker URL Secret (made with its pub/sub component): see session-release.ts.
  if (w.type === 'data-gateway') values.sessionRelease = { urlSecret: { name: brokerUrlSecretName(w.name), key: 'url' } };
  return { name: w.name, chart: w.type, values };
}

const brokerUrlSecretName = (workload: string): string => `broker-url-${workload}`;

/** The top level's upstream (parameter otlp-endpoint), OTLP/HTTP through the level's egress proxy. */
export function otlpUpstreamOf(inputs: BundleInputs, namespace: string): OtlpUpstream | undefined {
  if (!inputs.telemetry || !inputs.otlpEndpoint) return undefined;
  return parseOtlpEndpoint(inputs.otlpEndpoint, `http://proxy.${namespace}.svc.cluster.local:${PROXY_PORT}`);
}

/** The host the top level's proxy must allow, and the port of the CONNECT tunnel when there is one. */
export function upstreamDestination(up: OtlpUpstream): { host: string; connectPort?: number } {
  if (up.protocol === 'http') {
    const url = new URL(up.endpoint);
    // https is a CONNECT tunnel through Squid; plain http is a proxied request (no CONNECT).
    return { host: url.hostname.toLowerCase(), ...(url.protocol === 'https:' ? { connectPort: Number(url.port || 443) } : {}) };
  }
  // gRPC goes through HTTPS_PROXY as a CONNECT tunnel, with TLS or without.
  const i = up.endpoint.lastIndexOf(':');
  return { host: up.endpoint.slice(0, i).replace(/^\[|\]$/g, '').toLowerCase(), connectPort: Number(up.endpoint.slice(i + 1)) };
}

interface CollectorContext {
  parentEp?: ReturnType<typeof endpointsOf>;
  sameClusterChildren: string[];
  remoteChildren: number;
  upstream?: OtlpUpstream;
}

/**
 * One level's collector release and its TLS Secret. The config (no secret in it: TLS files are
 * referenced by path) goes to the chart's ConfigMap as generated; the chart only places it.
 */
function collectorRelease(topology: Topology, inputs: BundleInputs, pki: PkiMaterial, level: Level, ctx: CollectorContext): { release: ReleaseSpec; secrets: SecretSpec[] } {
  const tls = pki.levels[level.name];
  const hasChildren = topology.levels.some((l) => l.parent === level.name);
  const files = (cert: string, key: string): MutualTlsFiles => ({ ca: `${OTEL_PATHS.tls}/trust.crt`, cert: `${OTEL_PATHS.tls}/${cert}`, key: `${OTEL_PATHS.tls}/${key}` });
  const tlsFiles: Record<string, string> = { 'trust.crt': pki.trust };
  if (hasChildren) {
    if (!tls?.collectorServerCert || !tls.collectorServerKey) throw new Error(`the PKI has no collector server certificate for level ${level.name}`);
    Object.assign(tlsFiles, { 'server.crt': tls.collectorServerCert, 'server.key': tls.collectorServerKey });
  }
  if (level.parent !== undefined) {
    if (!tls?.collectorClientCert || !tls.collectorClientKey) throw new Error(`the PKI has no collector client certificate for level ${level.name}`);
    Object.assign(tlsFiles, { 'client.crt': tls.collectorClientCert, 'client.key': tls.collectorClientKey });
  }
  const isTop = level.parent === undefined;
  const config = renderOtelCollectorConfig({
    levelName: level.name,
    bindAddress: '0.0.0.0',
    ports: { grpc: OTEL_COLLECTOR_PORTS.grpc, http: OTEL_COLLECTOR_PORTS.http },
    ...(ctx.parentEp
      ? { parent: { host: ctx.parentEp.collectorHost, grpcPort: OTEL_COLLECTOR_PORTS.children, tls: files('client.crt', 'client.key') } }
      : { top: { file: `${OTEL_PATHS.data}/telemetry.jsonl`, ...(ctx.upstream ? { upstream: ctx.upstream } : {}) } }),
    ...(hasChildren ? { children: { hosts: ['0.0.0.0'], port: OTEL_COLLECTOR_PORTS.children, tls: files('server.crt', 'server.key') } } : {}),
    // Prometheus text for `kubectl port-forward`; the NetworkPolicy admits no one to it.
    selfMetrics: { host: '0.0.0.0', port: OTEL_COLLECTOR_PORTS.metrics },
    memoryLimitMiB: OTEL_COLLECTOR_MEMORY_LIMIT_MIB,
  });
  const parentEp = ctx.parentEp;
  const release: ReleaseSpec = {
    name: OTEL_COLLECTOR_RELEASE,
    chart: 'otel-collector',
    values: {
      level: { name: level.name, parent: level.parent ?? '' },
      image: imageValues(imageRef(inputs, 'otel-collector', DEFAULT_IMAGES['otel-collector']!)),
      config: { collectorYaml: config },
      tls: { existingSecret: OTEL_COLLECTOR_SECRET, checksum: sha256(Object.values(tlsFiles).join('')) },
      ports: OTEL_COLLECTOR_PORTS,
      // The top level's file survives a restart: see charts/otel-collector/values.yaml.
      persistence: { enabled: isTop },
      egressProxy: ctx.upstream
        ? { enabled: true, port: PROXY_PORT, url: ctx.upstream.protocol === 'grpc' ? `http://proxy.${namespaceOf(inputs, level.name)}.svc.cluster.local:${PROXY_PORT}` : '' }
        : { enabled: false, port: PROXY_PORT, url: '' },
      networkPolicy: {
        enabled: true,
        childNamespaces: ctx.sameClusterChildren,
        childCIDRs: ctx.remoteChildren > 0 ? ['0.0.0.0/0'] : [],
        ...(parentEp
          ? parentEp.sameCluster
            ? { parentNamespace: namespaceOf(inputs, level.parent!), parentPort: OTEL_COLLECTOR_PORTS.children }
            : { parentCIDR: /^\d+\.\d+\.\d+\.\d+$/.test(parentEp.collectorHost) ? `${parentEp.collectorHost}/32` : '0.0.0.0/0', parentPort: OTEL_COLLECTOR_PORTS.children }
          : {}),
      },
    },
  };
  return { release, secrets: [{ name: OTEL_COLLECTOR_SECRET, stringData: tlsFiles }] };
}

/** Every image reference a rendering puts into values, for the relocation check. */
export function imagesIn(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => imagesIn(v, found));
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.repository === 'string') found.push(o.digest ? `${o.repository}@${o.digest}` : `${o.repository}:${o.tag}`);
    for (const [k, v] of Object.entries(o)) if (k === 'sidecarImage' && typeof v === 'string') found.push(v);
    Object.values(o).forEach((v) => imagesIn(v, found));
  }
  return found;
}
