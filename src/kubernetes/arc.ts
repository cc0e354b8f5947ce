// Optional Azure Arc connection and Flux GitOps configuration of each cluster (off by default),
// through the az CLI. Arc's agents reach Azure through the cluster's top level egress proxy,
// whose allow-list holds Arc's endpoints. Idempotent: what exists is left alone.
import { $ } from 'zx';
import { parentFirst, type Topology } from '../topology/model.js';
import type { BundleInputs } from './inputs.js';
import { credentialOf, namespaceOf, PROXY_PORT } from './render.js';

$.verbose = false;

export const FLUX_CONFIG_NAME = 'nested-edge';

export interface ArcCluster {
  credential: string;
  kubeconfig: string;
}

export type ArcOutcome = Record<string, string>;

function problemsOf(inputs: BundleInputs): string[] {
  const p: string[] = [];
  const { clientId, clientSecret, tenantId, subscriptionId } = inputs.azure;
  if (!clientId || !clientSecret || !tenantId || !subscriptionId) p.push('arc-enabled needs the credentials azure-client-id, azure-client-secret, azure-tenant-id and azure-subscription-id');
  if (!inputs.aks.resourceGroup) p.push('arc-enabled needs the parameter aks-resource-group (the resource group of the Arc resources)');
  if (!inputs.aks.location) p.push('arc-enabled needs the parameter aks-location (the Azure region of the Arc resources)');
  if (inputs.fluxEnabled && !inputs.arcEnabled) p.push('flux-enabled needs arc-enabled: Flux is configured through the Arc-connected cluster');
  return p;
}

/** The Arc resource name of a cluster: one per kubeconfig credential. */
export function arcName(inputs: BundleInputs, credential: string): string {
  return `${inputs.aks.clusterName ?? 'nested-edge'}-${credential}`;
}

/** The proxy Arc's agents use on a cluster: that of the highest level the cluster holds. */
export function arcProxy(inputs: BundleInputs, topology: Topology, credential: string): string {
  const top = parentFirst(topology).find((l) => credentialOf(inputs, l.name) === credential);
  if (!top) throw new Error(`no level runs on credential ${credential}`);
  return `http://proxy.${namespaceOf(inputs, top.name)}.svc.cluster.local:${PROXY_PORT}`;
}

async function login(az: string, inputs: BundleInputs): Promise<void> {
  const { clientId, clientSecret, tenantId, subscriptionId } = inputs.azure;
  const r = await $`${az} login --service-principal --username ${clientId!} --password ${clientSecret!} --tenant ${tenantId!} --output none`.nothrow();
  if (r.exitCode !== 0) throw new Error(`az login with the service principal ${clientId} failed: check azure-client-id, azure-client-secret and azure-tenant-id (${redact(r.stderr, inputs)})`);
  await $`${az} account set --subscription ${subscriptionId!}`;
}

function redact(text: string, inputs: BundleInputs): string {
  const secret = inputs.azure.clientSecret;
  const oneLine = text.trim().split('\n').pop() ?? '';
  return secret ? oneLine.split(secret).join('***') : oneLine;
}

export async function connectClusters(inputs: BundleInputs, topology: Topology, clusters: ArcCluster[], progress: (m: string) => void, az = inputs.azCli): Promise<ArcOutcome> {
  const outcome: ArcOutcome = {};
  if (!inputs.arcEnabled && !inputs.fluxEnabled) return outcome;
  const problems = problemsOf(inputs);
  if (problems.length) throw new Error(problems.join('\n'));
  await login(az, inputs);
  const rg = inputs.aks.resourceGroup!;
  for (const c of clusters) {
    const name = arcName(inputs, c.credential);
    const exists = (await $`${az} connectedk8s show --name ${name} --resource-group ${rg} --output none`.nothrow()).exitCode === 0;
    if (exists) outcome[`arc@${c.credential}`] = 'unchanged';
    else {
      progress(`arc: connecting ${name} (credential ${c.credential}) through its egress proxy`);
      const proxy = arcProxy(inputs, topology, c.credential);
      await $`${az} connectedk8s connect --name ${name} --resource-group ${rg} --location ${inputs.aks.location!} --kube-config ${c.kubeconfig} --proxy-https ${proxy} --proxy-http ${proxy} --proxy-skip-range ${'10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,kubernetes.default.svc,.svc.cluster.local,.svc'} --tags ${'app.kubernetes.io/part-of=nested-edge'} --output none`;
      outcome[`arc@${c.credential}`] = 'connected';
    }
    if (!inputs.fluxEnabled) continue;
    const flux = ['--resource-group', rg, '--cluster-name', name, '--cluster-type', 'connectedClusters', '--name', FLUX_CONFIG_NAME];
    const fluxExists = (await $`${az} k8s-configuration flux show ${flux} --output none`.nothrow()).exitCode === 0;
    if (fluxExists) outcome[`flux@${c.credential}`] = 'unchanged';
    else {
      progress(`flux: configuring ${name} from ${inputs.fluxRepoUrl}`);
      await $`${az} k8s-configuration flux create ${flux} --namespace flux-system --scope cluster --url ${inputs.fluxRepoUrl!} --branch main --kustomization ${'name=edge'} ${'path=./'} ${'prune=true'} --output none`;
      outcome[`flux@${c.credential}`] = 'created';
    }
  }
  return outcome;
}

/** Uninstall: removes the Flux configuration and the Arc connection the bundle made. */
export async function disconnectClusters(inputs: BundleInputs, clusters: ArcCluster[], progress: (m: string) => void, az = inputs.azCli): Promise<ArcOutcome> {
  const outcome: ArcOutcome = {};
  if (!inputs.arcEnabled) return outcome;
  const problems = problemsOf(inputs).filter((p) => !p.includes('aks-location'));
  if (problems.length) throw new Error(problems.join('\n'));
  await login(az, inputs);
  const rg = inputs.aks.resourceGroup!;
  for (const c of clusters) {
    const name = arcName(inputs, c.credential);
    if (inputs.fluxEnabled) {
      const flux = ['--resource-group', rg, '--cluster-name', name, '--cluster-type', 'connectedClusters', '--name', FLUX_CONFIG_NAME];
      if ((await $`${az} k8s-configuration flux show ${flux} --output none`.nothrow()).exitCode === 0) {
        await $`${az} k8s-configuration flux delete ${flux} --yes --output none`;
        outcome[`flux@${c.credential}`] = 'removed';
      }
    }
    if ((await $`${az} connectedk8s show --name ${name} --resource-group ${rg} --output none`.nothrow()).exitCode === 0) {
      progress(`arc: disconnecting ${name}`);
      await $`${az} connectedk8s delete --name ${name} --resource-group ${rg} --kube-config ${c.kubeconfig} --yes --output none`;
      outcome[`arc@${c.credential}`] = 'removed';
    }
  }
  return outcome;
}
