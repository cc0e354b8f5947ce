// The bundle's inputs, read once from the environment the Porter exec mixin sets (see
// porter.yaml). Every problem is reported at once, with the parameter or credential to fix.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseSinks } from '../../workloads/data-gateway/src/routes.js';
import { OtelCollectorConfigError, parseOtlpEndpoint } from '../config/otel-collector.js';

/** `rotate-certs` is a custom action: `porter invoke <installation> --action rotate-certs`. */
export type Action = 'install' | 'upgrade' | 'uninstall' | 'rotate-certs';
export const ACTIONS: readonly Action[] = ['install', 'upgrade', 'uninstall', 'rotate-certs'];

export interface ImageRef {
  repository: string;
  tag: string;
  digest?: string;
}

export interface LevelCluster {
  /** Name of the Porter credential holding this level's kubeconfig. */
  credential: string;
  /** How child levels on other clusters reach this level's broker (host:port); same cluster: the Service. */
  brokerAddress?: string;
}

export interface BundleInputs {
  action: Action;
  topologyFile: string;
  clusters: Record<string, LevelCluster>;
  namespacePrefix: string;
  infra: 'kubeconfig' | 'aks';
  aks: { resourceGroup?: string; clusterName?: string; location?: string; nodeCount: number; nodeSize: string };
  azure: { clientId?: string; clientSecret?: string; tenantId?: string; subscriptionId?: string; armEndpoint?: string; authorityHost?: string };
  daprVersion: string;
  sensorIntervalMs: number;
  /** The data gateway's stores, e.g. "file,postgresql"; undefined: as the topology says. */
  sinks?: string;
  /** Credential postgres-url (secret: only ever written into a cluster Secret). */
  postgresUrl?: string;
  /** Credential eventhubs-connection-string (secret: only ever written into a cluster Secret). */
  eventHubsConnectionString?: string;
  egressAllowDomains: string[];
  /** An OpenTelemetry Collector per level, the sidecars' spans and the workloads' OTEL_* env. */
  telemetry: boolean;
  /** With telemetry: where the top level's collector also exports (parseOtlpEndpoint's forms). */
  otlpEndpoint?: string;
  arcEnabled: boolean;
  fluxEnabled: boolean;
  fluxRepoUrl?: string;
  /** The az CLI (Arc, Flux); EDGE_AZ_CLI points elsewhere (the contract test's FAKE az). */
  azCli: string;
  keepData: boolean;
  /** rotate-certs: reissue the brokers' certificates from the current CA instead of a new CA. */
  keepCa: boolean;
  images: Record<string, ImageRef>;
  /** credential name -> kubeconfig file path */
  kubeconfigs: Record<string, string>;
  chartsDir: string;
  daprChartDir?: string;
  bundleVersion: string;
}

export class InputError extends Error {
  constructor(readonly problems: string[]) {
    super(`the bundle's inputs need fixing:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InputError';
  }
}

export const KNOWN_IMAGES = ['temperature-sensor', 'opc-plc', 'opc-publisher', 'data-gateway', 'otel-collector', 'mosquitto', 'squid', 'daprd', 'dapr-operator', 'dapr-placement', 'dapr-scheduler', 'dapr-sentry', 'dapr-injector'] as const;

const APP_DIR = '/cnab/app';

export function readInputs(action: string | undefined, env: NodeJS.ProcessEnv = process.env): BundleInputs {
  const problems: string[] = [];
  if (!action || !(ACTIONS as readonly string[]).includes(action)) problems.push(`action must be one of ${ACTIONS.join(', ')} (got ${JSON.stringify(action)})`);
  const appDir = env.EDGE_APP_DIR ?? APP_DIR;

  const topologyCandidate = env.EDGE_TOPOLOGY_FILE;
  const usable = (f?: string): f is string => !!f && existsSync(f) && statSync(f).size > 0 && readFileSync(f, 'utf8').trim() !== 'null';
  const topologyFile = usable(topologyCandidate) ? topologyCandidate : (env.EDGE_DEFAULT_TOPOLOGY_FILE ?? join(appDir, 'src/topology/default-topology.yaml'));

  const json = <T>(name: string, fallback: T): T => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    try {
      return JSON.parse(raw) as T;
    } catch (err) {
      problems.push(`${name} is not valid JSON: ${(err as Error).message}`);
      return fallback;
    }
  };
  const bool = (name: string, fallback = false): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (raw === 'true' || raw === 'false') return raw === 'true';
    problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };
  const int = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      problems.push(`${name} must be an integer >= ${min} (got "${raw}")`);
      return fallback;
    }
    return n;
  };
  const oneOf = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
    return fallback;
  };

  const rawClusters = json<Record<string, string | LevelCluster>>('EDGE_CLUSTERS', {});
  const clusters: Record<string, LevelCluster> = {};
  if (typeof rawClusters !== 'object' || rawClusters === null || Array.isArray(rawClusters)) problems.push('EDGE_CLUSTERS (parameter clusters) must be a JSON object: level -> credential name');
  else {
    for (const [level, v] of Object.entries(rawClusters)) {
      if (typeof v === 'string') clusters[level] = { credential: v };
      else if (v && typeof v === 'object' && typeof v.credential === 'string') clusters[level] = { credential: v.credential, brokerAddress: v.brokerAddress };
      else problems.push(`clusters.${level} must be a credential name or { credential, brokerAddress }`);
    }
  }

  const images: Record<string, ImageRef> = {};
  for (const [name, ref] of Object.entries(json<Record<string, Partial<ImageRef>>>('EDGE_IMAGES', {}))) {
    if (!(KNOWN_IMAGES as readonly string[]).includes(name)) problems.push(`EDGE_IMAGES: unknown image "${name}"; the bundle uses ${KNOWN_IMAGES.join(', ')}`);
    else if (typeof ref?.repository !== 'string' || ref.repository === '' || (typeof ref.tag !== 'string' && typeof ref.digest !== 'string')) problems.push(`EDGE_IMAGES.${name} needs repository and a tag or digest`);
    else images[name] = { repository: ref.repository, tag: ref.tag ?? '', ...(ref.digest ? { digest: ref.digest } : {}) };
    if (ref?.digest && !/^sha256:[a-f0-9]{64}$/.test(ref.digest)) problems.push(`EDGE_IMAGES.${name}.digest must look like sha256:<64 hex>`);
  }

  const kubeconfigs: Record<string, string> = { kubeconfig: env.EDGE_KUBECONFIG ?? '/home/nonroot/.kube/config' };
  const kubeconfigDir = env.EDGE_KUBECONFIG_DIR ?? join(appDir, 'kubeconfigs');
  for (const c of Object.values(clusters)) {
    if (c.credential !== 'kubeconfig') kubeconfigs[c.credential] = join(kubeconfigDir, c.credential.replace(/^kubeconfig-/, ''));
  }

  const inputs: BundleInputs = {
    action: (action ?? 'install') as Action,
    topologyFile,
    clusters,
    namespacePrefix: env.EDGE_NAMESPACE_PREFIX ?? 'edge-',
    infra: oneOf('EDGE_INFRA', ['kubeconfig', 'aks'] as const, 'kubeconfig'),
    aks: {
      resourceGroup: env.EDGE_AKS_RESOURCE_GROUP || undefined,
      clusterName: env.EDGE_AKS_CLUSTER_NAME || undefined,
      location: env.EDGE_AKS_LOCATION || undefined,
      nodeCount: int('EDGE_AKS_NODE_COUNT', 2, 1),
      nodeSize: env.EDGE_AKS_NODE_SIZE || 'Standard_D4s_v5',
    },
    azure: {
      clientId: env.AZURE_CLIENT_ID || undefined,
      clientSecret: env.AZURE_CLIENT_SECRET || undefined,
      tenantId: env.AZURE_TENANT_ID || undefined,
      subscriptionId: env.AZURE_SUBSCRIPTION_ID || undefined,
      // Sovereign clouds, and the contract test's FAKE ARM endpoint.
      armEndpoint: env.EDGE_ARM_ENDPOINT || undefined,
      authorityHost: env.EDGE_AZURE_AUTHORITY_HOST || undefined,
    },
    daprVersion: env.EDGE_DAPR_VERSION || '1.16.2',
    sensorIntervalMs: int('EDGE_SENSOR_INTERVAL_MS', 1000, 1),
    sinks: env.EDGE_SINKS?.trim() || undefined,
    postgresUrl: env.EDGE_POSTGRES_URL?.trim() || undefined,
    eventHubsConnectionString: env.EDGE_EVENTHUBS_CONNECTION_STRING?.trim() || undefined,
    egressAllowDomains: (env.EDGE_EGRESS_ALLOW_DOMAINS ?? 'management.azure.com,login.microsoftonline.com').split(',').map((d) => d.trim()).filter(Boolean),
    telemetry: bool('EDGE_TELEMETRY'),
    otlpEndpoint: env.EDGE_OTLP_ENDPOINT?.trim() || undefined,
    arcEnabled: bool('EDGE_ARC_ENABLED'),
    fluxEnabled: bool('EDGE_FLUX_ENABLED'),
    fluxRepoUrl: env.EDGE_FLUX_REPO_URL || undefined,
    azCli: env.EDGE_AZ_CLI || 'az',
    keepData: bool('EDGE_KEEP_DATA'),
    keepCa: bool('EDGE_KEEP_CA'),
    images,
    kubeconfigs,
    chartsDir: env.EDGE_CHARTS_DIR ?? join(appDir, 'charts'),
    daprChartDir: env.EDGE_DAPR_CHART_DIR || undefined,
    bundleVersion: env.EDGE_BUNDLE_VERSION ?? '0.1.0',
  };

  if (inputs.infra === 'aks') {
    for (const [k, v] of Object.entries({ 'aks-resource-group': inputs.aks.resourceGroup, 'aks-cluster-name': inputs.aks.clusterName })) if (!v) problems.push(`parameter ${k} is required when infra=aks`);
    if (inputs.action === 'install' && !inputs.aks.location) problems.push('parameter aks-location is required to create an AKS cluster (infra=aks)');
    for (const [k, v] of Object.entries({ 'azure-client-id': inputs.azure.clientId, 'azure-client-secret': inputs.azure.clientSecret, 'azure-tenant-id': inputs.azure.tenantId, 'azure-subscription-id': inputs.azure.subscriptionId })) if (!v) problems.push(`credential ${k} is required when infra=aks`);
  } else {
    for (const [credential, path] of Object.entries(kubeconfigs)) {
      const used = credential === 'kubeconfig' ? true : Object.values(clusters).some((c) => c.credential === credential);
      if (used && !existsSync(path)) problems.push(`credential ${credential}: no kubeconfig at ${path}; pass it with a credential set (porter credentials generate)`);
    }
  }
  // The selection's form here; what it needs (routes, credentials) once the topology is read.
  if (inputs.sinks) problems.push(...parseSinks(inputs.sinks, 'parameter sinks').problems);
  // Prefix + level name is each level's namespace: a DNS label, checked before anything is created.
  if (!/^[a-z0-9]([-a-z0-9]{0,48})?$/.test(inputs.namespacePrefix) && inputs.namespacePrefix !== '') problems.push(`parameter namespace-prefix "${inputs.namespacePrefix}" must be lowercase letters, digits and '-', starting with a letter or digit, at most 49 characters (each level's namespace is the prefix plus its name, e.g. edge-l2)`);
  if (inputs.fluxEnabled && !inputs.fluxRepoUrl) problems.push('parameter flux-repo-url is required when flux-enabled=true');
  if (inputs.otlpEndpoint) problems.push(...otlpEndpointProblems(inputs.otlpEndpoint));
  if (!existsSync(topologyFile)) problems.push(`topology file ${topologyFile} does not exist`);
  if (problems.length > 0) throw new InputError(problems);
  return inputs;
}

/**
 * The otlp-endpoint parameter: one of parseOtlpEndpoint's forms, a host Squid's allow-list can name
 * (a DNS name or IPv4 address), and no credentials: the collector's config is a ConfigMap.
 */
export function otlpEndpointProblems(raw: string): string[] {
  try {
    parseOtlpEndpoint(raw);
  } catch (err) {
    if (err instanceof OtelCollectorConfigError) return [`parameter otlp-endpoint: ${err.message}`];
    throw err;
  }
  const authority = /^[a-z]+:\/\/([^/\s]+)/.exec(raw)![1]!;
  if (authority.includes('@')) return ['parameter otlp-endpoint must not carry credentials (user:password@): the collector configuration is a ConfigMap; use an endpoint that needs none'];
  const host = authority.replace(/:\d+$/, '');
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) return [`parameter otlp-endpoint: host "${host}" must be a DNS name or an IPv4 address (the top level's egress proxy allows it by name)`];
  return [];
}

/** `repository@digest` when relocated, else `repository:tag`; the default when not given. */
export function imageRef(inputs: BundleInputs, name: (typeof KNOWN_IMAGES)[number], fallback: ImageRef): ImageRef {
  return inputs.images[name] ?? fallback;
}

export function refString(ref: ImageRef): string {
  return ref.digest ? `${ref.repository}@${ref.digest}` : `${ref.repository}:${ref.tag}`;
}
