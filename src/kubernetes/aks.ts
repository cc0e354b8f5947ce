// The infra layer for infra=aks: get (or create) one AKS managed cluster with the service principal
// from the credential set, and hand its admin kubeconfig to the deploy layer as the credential
// `kubeconfig`.
//
// One cluster carries every level: each level is a namespace on it, exactly as with one
// kubeconfig under infra=kubeconfig. One AKS cluster per level (and brokerAddress between them) is
// future work; until then a `clusters` parameter that names other credentials is refused here,
// before anything in Azure is touched.
//
// The cluster is never deleted by the bundle, not even on uninstall: a cluster may carry other
// workloads and its deletion cannot be undone, so deleting it is a user decision outside the bundle
// (`az aks delete`). Uninstall only fetches credentials to remove the bundle's releases.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerServiceClient, type ManagedCluster, type ManagedClusterAgentPoolProfile } from '@azure/arm-containerservice';
import { ClientSecretCredential } from '@azure/identity';
import yaml from 'js-yaml';
import type { BundleInputs } from './inputs.js';

export type Progress = (msg: string) => void;

export interface AksOptions {
  /**
   * Azure Resource Manager base URL (default https://management.azure.com). Set it for a sovereign
   * cloud (e.g. https://management.usgovcloudapi.net) and in the contract test (the FAKE ARM).
   * The token is requested for `<origin>/.default` of this URL.
   */
  armEndpoint?: string;
  /**
   * Azure AD authority host (default https://login.microsoftonline.com). Set it for a sovereign
   * cloud and in the contract test. With a custom host, MSAL's instance discovery (which asks the
   * public cloud whether the host is a known authority) is turned off: the operator chose the host.
   */
  authorityHost?: string;
  /** Interval between polls of a long-running operation when Azure sends no Retry-After. */
  pollIntervalMs?: number;
  /** How long to wait for a cluster that another operation is still creating or updating. */
  waitTimeoutMs?: number;
  /** Parent of the private temp dir the kubeconfig is written to (default os.tmpdir()). */
  tmpDir?: string;
}

/** The credential name the deploy layer looks up; every level uses it with infra=aks. */
export const AKS_CREDENTIAL = 'kubeconfig';
export const PART_OF_TAG: Readonly<Record<string, string>> = { 'app.kubernetes.io/part-of': 'nested-edge' };
const SYSTEM_POOL = 'system';
const DEFAULT_POLL_MS = 10_000;
const DEFAULT_WAIT_MS = 45 * 60_000;
const PUBLIC_ARM = 'https://management.azure.com';

/** A failure with a one-line message that says what to fix; never carries secrets. */
export class AksError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AksError';
  }
}

export interface AksTarget {
  resourceGroup: string;
  clusterName: string;
  location?: string;
  nodeCount: number;
  nodeSize: string;
  clientId: string;
  clientSecret: string;
  tenantId: string;
  subscriptionId: string;
}

/** The AKS inputs, checked; all problems at once (readInputs checks most of them already). */
export function aksTarget(inputs: BundleInputs): AksTarget {
  const problems: string[] = [];
  const need = (what: string, v: string | undefined): string => {
    if (!v) problems.push(`${what} is required when infra=aks`);
    return v ?? '';
  };
  const target: AksTarget = {
    resourceGroup: need('parameter aks-resource-group', inputs.aks.resourceGroup),
    clusterName: need('parameter aks-cluster-name', inputs.aks.clusterName),
    location: inputs.aks.location,
    nodeCount: inputs.aks.nodeCount,
    nodeSize: inputs.aks.nodeSize,
    clientId: need('credential azure-client-id', inputs.azure.clientId),
    clientSecret: need('credential azure-client-secret', inputs.azure.clientSecret),
    tenantId: need('credential azure-tenant-id', inputs.azure.tenantId),
    subscriptionId: need('credential azure-subscription-id', inputs.azure.subscriptionId),
  };
  for (const [level, c] of Object.entries(inputs.clusters)) {
    if (c.credential !== AKS_CREDENTIAL) problems.push(`clusters.${level} uses credential ${c.credential}, but with infra=aks every level runs on the one AKS cluster (per-level AKS clusters are future work): remove it from the clusters parameter`);
  }
  if (problems.length) throw new AksError(`infra=aks: ${problems.join('; ')}`);
  return target;
}

/** AKS DNS prefix rules: 1-54 characters, letters, digits and hyphens, alphanumeric at both ends. */
export function dnsPrefixFor(clusterName: string): string {
  const prefix = clusterName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 54).replace(/^-+|-+$/g, '');
  return prefix === '' ? 'nested-edge' : prefix;
}

/** The cluster the bundle creates when none exists. */
export function clusterDefinition(target: AksTarget & { location: string }): ManagedCluster {
  return {
    location: target.location,
    tags: { ...PART_OF_TAG },
    identity: { type: 'SystemAssigned' },
    dnsPrefix: dnsPrefixFor(target.clusterName),
    // No kubernetesVersion: Azure uses the region's current default version, which is supported
    // for the longest time; pinning one here would go out of support while the bundle is in use.
    enableRbac: true,
    agentPoolProfiles: [{ name: SYSTEM_POOL, mode: 'System', count: target.nodeCount, vmSize: target.nodeSize, osType: 'Linux', type: 'VirtualMachineScaleSets' }],
    // Azure CNI in overlay mode with the Cilium dataplane, not kubenet: the broker and proxy charts
    // ship NetworkPolicies, which kubenet does not enforce without adding Calico, and kubenet is
    // being retired by AKS. Overlay gives pods addresses from a private range, so the cluster needs
    // no pre-planned VNet address space, which keeps the bundle's only network input the region.
    networkProfile: { networkPlugin: 'azure', networkPluginMode: 'overlay', networkDataplane: 'cilium', networkPolicy: 'cilium' },
  };
}

/**
 * infra=aks: make sure the cluster exists (install/upgrade) and return credential name ->
 * kubeconfig path for the deploy layer. The kubeconfig is written with mode 0600 into a fresh
 * private temp dir; the caller removes it when the step ends.
 */
export async function aksKubeconfigs(inputs: BundleInputs, progress: Progress, options: AksOptions = {}): Promise<Record<string, string>> {
  const target = aksTarget(inputs);
  const armEndpoint = (options.armEndpoint ?? PUBLIC_ARM).replace(/\/+$/, '');
  const explain = (doing: string) => (err: unknown): never => {
    throw explainAzureError(err, { target, armEndpoint, doing });
  };
  const credential = new ClientSecretCredential(target.tenantId, target.clientId, target.clientSecret, {
    ...(options.authorityHost ? { authorityHost: options.authorityHost, disableInstanceDiscovery: true } : {}),
  });
  const client = new ContainerServiceClient(credential, target.subscriptionId, {
    endpoint: armEndpoint,
    credentials: { scopes: [`${new URL(armEndpoint).origin}/.default`] },
  });
  const where = `AKS cluster ${target.clusterName} in resource group ${target.resourceGroup}`;

  if (inputs.action === 'uninstall') {
    progress(`infra: ${where} is kept (deleting a cluster is a user decision outside the bundle); fetching its credentials`);
  } else if (inputs.action === 'rotate-certs') {
    progress(`infra: ${where} must exist already (rotate-certs creates nothing); fetching its credentials`);
  } else {
    await ensureCluster(client, target, progress, options, explain);
  }

  const creds = await client.managedClusters.listClusterAdminCredentials(target.resourceGroup, target.clusterName).catch(explain('fetching the admin credentials'));
  const kubeconfig = creds.kubeconfigs?.find((k) => k.value && k.value.length > 0)?.value;
  if (!kubeconfig) throw new AksError(`${where} returned no kubeconfig from listClusterAdminCredential: check the cluster in the portal (az aks get-credentials --admin -g ${target.resourceGroup} -n ${target.clusterName})`);
  const text = Buffer.from(kubeconfig).toString('utf8');
  const parsed = yaml.load(text) as { clusters?: Array<{ cluster?: { server?: string } }> } | undefined;
  if (!parsed || !Array.isArray(parsed.clusters) || parsed.clusters.length === 0) throw new AksError(`${where}: the admin credential Azure returned is not a kubeconfig`);

  const dir = mkdtempSync(join(options.tmpDir ?? tmpdir(), 'edge-aks-'));
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  progress(`infra: admin kubeconfig of ${where} (server ${parsed.clusters[0]?.cluster?.server ?? 'unknown'}) for every level`);
  return { [AKS_CREDENTIAL]: path };
}

type Explain = (doing: string) => (err: unknown) => never;

async function ensureCluster(client: ContainerServiceClient, target: AksTarget, progress: Progress, options: AksOptions, explain: Explain): Promise<void> {
  const where = `AKS cluster ${target.clusterName} in resource group ${target.resourceGroup}`;
  let cluster = await getCluster(client, target, explain);

  if (!cluster) {
    if (!target.location) throw new AksError(`${where} does not exist and aks-location is not set: set aks-location to create it, or run install`);
    const definition = clusterDefinition({ ...target, location: target.location });
    progress(`infra: creating ${where} (${target.location}, ${target.nodeCount} x ${target.nodeSize}); this takes several minutes`);
    const started = Date.now();
    let lastReport = started;
    // If-None-Match: * makes the PUT a create only: if someone created the cluster between the GET
    // and this PUT, Azure answers 412 instead of overwriting theirs.
    const poller = client.managedClusters.createOrUpdate(target.resourceGroup, target.clusterName, definition, { ifNoneMatch: '*', updateIntervalInMs: options.pollIntervalMs ?? DEFAULT_POLL_MS });
    poller.onProgress(() => {
      if (Date.now() - lastReport < 60_000) return;
      lastReport = Date.now();
      progress(`infra: still creating ${target.clusterName} (${Math.round((Date.now() - started) / 1000)} s)`);
    });
    const created = await poller.pollUntilDone().catch(explain(`creating ${where}`));
    if (created.provisioningState !== undefined && created.provisioningState !== 'Succeeded') {
      throw new AksError(`${where} ended in provisioningState ${created.provisioningState}: see its activity log (az aks show -g ${target.resourceGroup} -n ${target.clusterName}), delete it yourself if it cannot be repaired, and run install again`);
    }
    progress(`infra: created ${where} in ${Math.round((Date.now() - started) / 1000)} s`);
    return;
  }

  // Someone else's operation still runs on it: wait for its end, read-only, without a PUT.
  const deadline = Date.now() + (options.waitTimeoutMs ?? DEFAULT_WAIT_MS);
  while (cluster && isTransient(cluster.provisioningState)) {
    if (cluster.provisioningState === 'Deleting') throw new AksError(`${where} is being deleted: wait for the deletion to finish and run the action again (it will then create the cluster)`);
    if (Date.now() > deadline) throw new AksError(`${where} is still ${cluster.provisioningState} after ${Math.round((options.waitTimeoutMs ?? DEFAULT_WAIT_MS) / 60_000)} min: look at it with az aks show -g ${target.resourceGroup} -n ${target.clusterName} and run the action again when it has finished`);
    progress(`infra: ${where} is ${cluster.provisioningState}; waiting for it to finish`);
    await sleep(options.pollIntervalMs ?? DEFAULT_POLL_MS);
    cluster = await getCluster(client, target, explain);
  }
  if (!cluster) throw new AksError(`${where} disappeared while the bundle waited for it: run the action again`);

  const state = cluster.provisioningState ?? 'unknown';
  if (state === 'Failed' || state === 'Canceled') {
    throw new AksError(`${where} is in provisioningState ${state}: the bundle does not modify a failed cluster; see why with az aks show -g ${target.resourceGroup} -n ${target.clusterName} (and its activity log), repair it (az aks update -g ${target.resourceGroup} -n ${target.clusterName}) or delete it yourself, then run the action again`);
  }
  if (state !== 'Succeeded') throw new AksError(`${where} is in an unexpected provisioningState ${state}: look at it with az aks show and run the action again when it is Succeeded`);
  if (cluster.powerState?.code === 'Stopped') throw new AksError(`${where} is stopped: start it with az aks start -g ${target.resourceGroup} -n ${target.clusterName} and run the action again`);

  // Idempotent: an existing cluster is used as it is (no PUT). Differences are reported, not
  // applied: resizing or moving a cluster under running levels is the operator's decision.
  for (const note of clusterDifferences(cluster, target)) progress(`infra: note: ${note}`);
  progress(`infra: using existing ${where} (Kubernetes ${cluster.currentKubernetesVersion ?? cluster.kubernetesVersion ?? 'unknown'}); nothing to change`);
}

/** What differs between an existing cluster and the bundle's parameters (reported, not changed). */
export function clusterDifferences(cluster: ManagedCluster, target: AksTarget): string[] {
  const notes: string[] = [];
  const norm = (s: string | undefined): string => (s ?? '').toLowerCase().replace(/\s+/g, '');
  if (target.location && norm(cluster.location) !== norm(target.location)) notes.push(`aks-location is ${target.location} but the cluster is in ${cluster.location}; a cluster cannot move, the existing one is used`);
  const pools: ManagedClusterAgentPoolProfile[] = cluster.agentPoolProfiles ?? [];
  const pool = pools.find((p) => p.mode === 'System') ?? pools[0];
  if (pool) {
    if (pool.enableAutoScaling) notes.push(`node pool ${pool.name} autoscales (${pool.minCount}-${pool.maxCount} nodes); aks-node-count ${target.nodeCount} is not applied`);
    else if (pool.count !== undefined && pool.count !== target.nodeCount) {
      notes.push(`aks-node-count is ${target.nodeCount} but node pool ${pool.name} has ${pool.count} nodes; the bundle does not resize an existing cluster: scale it yourself with az aks nodepool scale -g ${target.resourceGroup} --cluster-name ${target.clusterName} -n ${pool.name} -c ${target.nodeCount}`);
    }
    if (pool.vmSize && norm(pool.vmSize) !== norm(target.nodeSize)) notes.push(`aks-node-size is ${target.nodeSize} but node pool ${pool.name} uses ${pool.vmSize}; a pool's VM size cannot change in place, the existing one is used`);
  }
  const partOf = Object.entries(PART_OF_TAG)[0]!;
  if (cluster.tags?.[partOf[0]] !== partOf[1]) notes.push(`the cluster has no ${partOf[0]}=${partOf[1]} tag (it was not created by this bundle); it is used as it is`);
  return notes;
}

const TRANSIENT = new Set(['Creating', 'Updating', 'Upgrading', 'Scaling', 'Starting', 'Stopping', 'Deleting', 'Canceling', 'Migrating', 'Accepted', 'InProgress']);
function isTransient(state: string | undefined): boolean {
  return state !== undefined && TRANSIENT.has(state);
}

/** The cluster, or undefined when ARM says it does not exist (and only then). */
async function getCluster(client: ContainerServiceClient, target: AksTarget, explain: Explain): Promise<ManagedCluster | undefined> {
  try {
    return await client.managedClusters.get(target.resourceGroup, target.clusterName);
  } catch (err) {
    const e = err as { statusCode?: unknown; code?: unknown };
    // 404 also comes back for a missing resource group or subscription: those are errors.
    if (e.statusCode === 404 && (e.code === 'ResourceNotFound' || e.code === undefined || e.code === 'NotFound')) return undefined;
    return explain(`reading AKS cluster ${target.clusterName}`)(err);
  }
}

interface ErrorContext {
  target: AksTarget;
  armEndpoint: string;
  /** What the bundle was doing, e.g. "creating AKS cluster x in resource group y". */
  doing: string;
}

interface AzureErrorShape {
  name?: unknown;
  message?: unknown;
  statusCode?: unknown;
  code?: unknown;
  errorResponse?: { error?: unknown; errorDescription?: unknown };
}

/**
 * Maps an error from @azure/identity (Azure AD) or from ARM (RestError, failed long-running
 * operation) to one line that says what to fix. Secrets and tokens never reach the message.
 */
export function explainAzureError(err: unknown, ctx: ErrorContext): AksError {
  const { target: t, armEndpoint, doing } = ctx;
  const e = (err ?? {}) as AzureErrorShape;
  const raw = typeof e.message === 'string' ? e.message : String(err);
  const scopeRg = `/subscriptions/${t.subscriptionId}/resourceGroups/${t.resourceGroup}`;
  const finish = (text: string): AksError => new AksError(redact(text, [t.clientSecret]));

  // Azure AD refused the service principal (token request).
  if (e.name === 'AuthenticationError' || e.errorResponse !== undefined || /AADSTS\d+/.test(raw)) {
    const description = typeof e.errorResponse?.errorDescription === 'string' ? e.errorResponse.errorDescription : raw;
    const aadsts = /AADSTS(\d+)/.exec(description)?.[1];
    const sp = `service principal ${t.clientId} in tenant ${t.tenantId}`;
    switch (aadsts) {
      case '7000215':
      case '7000222':
        return finish(`Azure AD rejected credential azure-client-secret for ${sp} (AADSTS${aadsts}: wrong or expired secret): create a new client secret (az ad app credential reset --id ${t.clientId}) and put its value, not its id, in the credential set`);
      case '700016':
        return finish(`Azure AD does not know credential azure-client-id ${t.clientId} in tenant ${t.tenantId} (AADSTS700016): check azure-client-id and azure-tenant-id`);
      case '90002':
        return finish(`Azure AD does not know tenant ${t.tenantId} (AADSTS90002): check credential azure-tenant-id`);
      default:
        return finish(`Azure AD refused the credentials of ${sp}${aadsts ? ` (AADSTS${aadsts})` : ''}: ${firstLine(description)}; check azure-client-id, azure-client-secret and azure-tenant-id`);
    }
  }
  if (e.name === 'CredentialUnavailableError') return finish(`no token for service principal ${t.clientId}: ${firstLine(raw)}; check the azure-* credentials`);

  // A long-running operation that Azure reported as Failed (the poller's plain Error).
  const lro = /^The long-running operation has failed\.?\s*(.*)$/s.exec(raw);
  if (lro) {
    return finish(`${doing} failed in Azure: ${firstLine(lro[1] ?? '')}; the cluster is left in provisioningState Failed: see its activity log, delete it yourself (az aks delete -g ${t.resourceGroup} -n ${t.clusterName}) and run install again`);
  }

  // Azure Resource Manager answered with an error.
  if (e.name === 'RestError' || typeof e.statusCode === 'number') {
    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    const code = typeof e.code === 'string' ? e.code : '';
    const azure = firstLine(raw);
    if (code === 'REQUEST_SEND_ERROR' || status === undefined) {
      return finish(`${doing}: could not reach Azure Resource Manager at ${armEndpoint} (${azure}): check the network path and that the egress allow list includes its host and the Azure AD host`);
    }
    if (status === 401) return finish(`${doing}: Azure Resource Manager rejected the token of service principal ${t.clientId} (${code || 401}): check that azure-tenant-id ${t.tenantId} is the tenant of subscription ${t.subscriptionId}`);
    if (status === 403 || code === 'AuthorizationFailed' || code === 'LinkedAuthorizationFailed') {
      const action = /action '([^']+)'/.exec(raw)?.[1];
      return finish(`${doing}: the service principal ${t.clientId} lacks the Contributor role on resource group ${t.resourceGroup}${action ? ` (Azure denied ${action})` : ''}: grant it with az role assignment create --assignee ${t.clientId} --role Contributor --scope ${scopeRg}`);
    }
    if (code === 'ResourceGroupNotFound') return finish(`${doing}: resource group ${t.resourceGroup} does not exist in subscription ${t.subscriptionId}: create it (az group create -n ${t.resourceGroup} -l ${t.location ?? '<location>'}) or fix parameter aks-resource-group`);
    if (code === 'SubscriptionNotFound' || code === 'InvalidSubscriptionId') return finish(`${doing}: subscription ${t.subscriptionId} was not found or the service principal cannot see it: check credential azure-subscription-id`);
    if (code === 'MissingSubscriptionRegistration') return finish(`${doing}: subscription ${t.subscriptionId} is not registered for Microsoft.ContainerService: run az provider register --namespace Microsoft.ContainerService`);
    if (/quota/i.test(code) || /quota/i.test(azure)) {
      return finish(`${doing}: not enough quota in ${t.location ?? 'the region'} for ${t.nodeCount} x ${t.nodeSize} (${code}): request more vCPU quota for that VM family, or lower aks-node-count, or choose another aks-node-size or aks-location. Azure: ${azure}`);
    }
    if (status === 404) return finish(`${doing}: AKS cluster ${t.clusterName} does not exist in resource group ${t.resourceGroup} (${code || 404}): check aks-cluster-name and aks-resource-group`);
    if (status === 409) return finish(`${doing}: Azure refused because another operation is in progress on AKS cluster ${t.clusterName} (${code || 'Conflict'}): wait until az aks show -g ${t.resourceGroup} -n ${t.clusterName} --query provisioningState says Succeeded and run the action again`);
    if (status === 412) return finish(`${doing}: AKS cluster ${t.clusterName} appeared in resource group ${t.resourceGroup} while the bundle was creating it (412): someone else created it; run the action again to use it`);
    if (status === 400) return finish(`${doing}: Azure rejected the cluster definition (${code || 'BadRequest'}): ${azure}; check aks-cluster-name, aks-location, aks-node-size and aks-node-count`);
    if (status === 429) return finish(`${doing}: Azure Resource Manager is throttling the service principal (429): wait a few minutes and run the action again`);
    return finish(`${doing}: Azure Resource Manager answered ${status} ${code}: ${azure}`);
  }
  return finish(`${doing}: ${firstLine(raw)}`);
}

/** An Azure message on one line, without AAD's trace/correlation ids or a final period, at most 300 chars. */
function firstLine(text: string): string {
  const line = text.replace(/\s*Trace ID:.*$/s, '').replace(/\s+/g, ' ').trim().replace(/\.+$/, '');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** Removes secrets, bearer tokens and JWTs from a message. */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out.replace(/Bearer\s+[\w.~+/=-]+/gi, 'Bearer ***').replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '***');
}
