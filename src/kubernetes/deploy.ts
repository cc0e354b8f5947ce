// The bundle's actions as plain functions the zx steps call: validate everything first, then
// platform (Dapr, broker, proxy, collector per level, parent first), then the application layer,
// then the removal of the bundle's releases the rendering no longer has (children first).
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brokerPkiLayout, ensureBrokerPki, pkiEntries, readPkiMaterial, rotateBrokerPki, writePkiEntries, type BrokerPki, type PkiMaterial, type RotationPhase } from '../pki/broker-pki.js';
import { ensureCredentials, type Credentials } from '../config/credentials.js';
import { loadTopology } from '../topology/parse.js';
import { levelUsers } from '../config/mosquitto.js';
import { parentFirst, rootLevel, type Topology } from '../topology/model.js';
import { toolsDir } from '../common/tools.js';
import { apiFor, applySecret, checkCluster, deleteSecret, ensureNamespace, readSecretData, readSecretKey, requireCrds, sweepNamespace, type ClusterCheck } from './cluster.js';
import { applyRelease, ensureDependencies, releasesIn, uninstallRelease, type ReleaseOutcome } from './helm.js';
import { BROKER_SECRET, childListenerNames, collectorListenerNames, credentialOf, DEFAULT_IMAGES, namespaceOf, OTEL_COLLECTOR_RELEASE, OTEL_COLLECTOR_SECRET, PLATFORM_RELEASES, renderDeployment, type LevelRender } from './render.js';
import { imageRef, refString, type BundleInputs } from './inputs.js';
import { connectClusters, disconnectClusters } from './arc.js';

export type Progress = (msg: string) => void;

export interface DeployContext {
  inputs: BundleInputs;
  topology: Topology;
  /** credential name -> kubeconfig path, checked reachable */
  clusters: Record<string, ClusterCheck & { kubeconfig: string }>;
  progress: Progress;
}

export interface LevelReport {
  namespace: string;
  cluster: string;
  secrets: Record<string, string>;
  releases: Record<string, ReleaseOutcome | 'removed' | 'absent'>;
  swept?: { deleted: string[]; kept: string[] };
}

export interface StepReport {
  action: string;
  topology: string;
  platform: Record<string, string>;
  levels: Record<string, LevelReport>;
  changes: number;
  durationS: number;
  /** rotate-certs: the phases rolled through every broker, and the CA before and after. */
  rotation?: { phases: RotationPhase[]; oldCaFingerprint: string; newCaFingerprint: string };
}

const CREDENTIALS_SECRET = 'edge-credentials';
const PKI_SECRET = 'edge-broker-pki';
export const DAPR_NAMESPACE = 'dapr-system';
const DAPR_CRDS = ['components.dapr.io', 'configurations.dapr.io', 'resiliencies.dapr.io'];

/** Everything that can be checked before a change: topology, credentials, every cluster. */
export async function prepare(inputs: BundleInputs, progress: Progress, kubeconfigs: Record<string, string> = inputs.kubeconfigs): Promise<DeployContext> {
  const topology = loadTopology(inputs.topologyFile);
  const problems: string[] = [];
  for (const level of Object.keys(inputs.clusters)) if (!topology.levels.some((l) => l.name === level)) problems.push(`clusters names level "${level}", which the topology does not have (levels: ${topology.levels.map((l) => l.name).join(', ')})`);
  if (problems.length) throw new Error(problems.join('\n'));
  const clusters: DeployContext['clusters'] = {};
  for (const level of parentFirst(topology)) {
    const credential = credentialOf(inputs, level.name);
    if (clusters[credential]) continue;
    const kubeconfig = kubeconfigs[credential];
    if (!kubeconfig || !existsSync(kubeconfig)) throw new Error(`level ${level.name} uses credential ${credential}, but no kubeconfig was given for it`);
    progress(`checking cluster for ${level.name} (credential ${credential})`);
    clusters[credential] = { ...(await checkCluster(credential, kubeconfig)), kubeconfig };
  }
  return { inputs, topology, clusters, progress };
}

function arcClusters(ctx: DeployContext): Array<{ credential: string; kubeconfig: string }> {
  return Object.entries(ctx.clusters).map(([credential, c]) => ({ credential, kubeconfig: c.kubeconfig }));
}

function kubeconfigOf(ctx: DeployContext, level: string): string {
  return ctx.clusters[credentialOf(ctx.inputs, level)]!.kubeconfig;
}

/** Per-install broker credentials, kept in a Secret at the top level so a re-install reuses them. */
async function loadCredentials(ctx: DeployContext): Promise<Credentials> {
  const root = rootLevel(ctx.topology);
  const { core } = apiFor(kubeconfigOf(ctx, root.name));
  const ns = namespaceOf(ctx.inputs, root.name);
  await ensureNamespace(core, ns, root.name);
  const stored = await readSecretKey(core, ns, CREDENTIALS_SECRET, 'credentials.json');
  const creds = ensureCredentials(ctx.topology, stored ? (JSON.parse(stored) as Credentials) : undefined);
  await applySecret(core, ns, { name: CREDENTIALS_SECRET, stringData: { 'credentials.json': JSON.stringify(creds) } }, root.name);
  return creds;
}

/**
 * Runs `body` on the bridge links' PKI, kept in a Secret at the top level beside the credentials,
 * copied into a private temporary directory (removed at once); `save` stores it back.
 */
async function withStoredPki<T>(ctx: DeployContext, body: (pki: BrokerPki, save: () => Promise<void>) => Promise<T>): Promise<T> {
  const root = rootLevel(ctx.topology);
  const { core } = apiFor(kubeconfigOf(ctx, root.name));
  const ns = namespaceOf(ctx.inputs, root.name);
  const dir = mkdtempSync(join(tmpdir(), 'edge-pki-'));
  try {
    const layout = brokerPkiLayout(ctx.topology, join(dir, 'pki'));
    writePkiEntries(layout, (await readSecretData(core, ns, PKI_SECRET)) ?? {});
    return await body(layout, async () => void (await applySecret(core, ns, { name: PKI_SECRET, stringData: pkiEntries(layout) }, root.name)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const listenerHosts = (ctx: DeployContext) => (level: string) => childListenerNames(ctx.topology, ctx.inputs, level);
/** Always issued, telemetry on or off: turning it on or off then never touches the PKI. */
const collectorHosts = (ctx: DeployContext) => (level: string) => collectorListenerNames(ctx.topology, ctx.inputs, level);

/**
 * The PKI, made on the first install and reused by every later one (a new CA would cut every
 * bridge until all levels have rolled: that is what rotate-certs is for).
 */
async function loadBrokerPki(ctx: DeployContext): Promise<PkiMaterial> {
  return withStoredPki(ctx, async (layout, save) => {
    const pki = await ensureBrokerPki(ctx.topology, layout.dir, listenerHosts(ctx), collectorHosts(ctx));
    await save();
    return readPkiMaterial(pki);
  });
}

function daprChartDir(ctx: DeployContext): string | undefined {
  const candidates = [ctx.inputs.daprChartDir, join(ctx.inputs.chartsDir, '..', 'vendor-charts', `dapr-${ctx.inputs.daprVersion}`), join(toolsDir(), 'charts', `dapr-${ctx.inputs.daprVersion}`)];
  return candidates.find((d): d is string => !!d && existsSync(join(d, 'Chart.yaml')));
}

/** Values for the upstream Dapr chart: every image as a full (possibly relocated) reference. */
export function daprValues(inputs: BundleInputs, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const ref = (name: 'dapr-operator' | 'dapr-placement' | 'dapr-scheduler' | 'dapr-sentry' | 'dapr-injector' | 'daprd') => refString(imageRef(inputs, name, DEFAULT_IMAGES[name]!));
  return {
    // The workloads use pub/sub only: no actors, workflows or jobs, so no scheduler (three
    // replicas with a volume each) is installed at the edge.
    global: { ha: { enabled: false }, scheduler: { enabled: false } },
    dapr_operator: { image: { name: ref('dapr-operator') } },
    dapr_placement: { image: { name: ref('dapr-placement') } },
    dapr_scheduler: { image: { name: ref('dapr-scheduler') } },
    dapr_sentry: { image: { name: ref('dapr-sentry') } },
    dapr_sidecar_injector: { image: { name: ref('daprd') }, injectorImage: { name: ref('dapr-injector') } },
    ...extra,
  };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' ? deepMerge(out[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  return out;
}

export async function installOrUpgrade(ctx: DeployContext, extraDaprValues: Record<string, unknown> = {}): Promise<StepReport> {
  const started = Date.now();
  const report: StepReport = { action: ctx.inputs.action, topology: ctx.topology.name, platform: {}, levels: {}, changes: 0, durationS: 0 };
  if (!ctx.inputs.telemetry && ctx.inputs.otlpEndpoint) ctx.progress(`otlp-endpoint ${ctx.inputs.otlpEndpoint} is set but telemetry is false: no collector runs, nothing is exported there`);
  const creds = await loadCredentials(ctx);
  const pki = await loadBrokerPki(ctx);
  const rendered = renderDeployment(ctx.topology, ctx.inputs, creds, pki);
  const chart = (name: string): string => join(ctx.inputs.chartsDir, name);
  for (const dir of new Set(rendered.flatMap((l) => l.releases.map((r) => r.chart)))) await ensureDependencies(chart(dir));

  // Platform: Dapr once per cluster, then broker, proxy, collector and Dapr resources per level, parent first.
  const daprChart = daprChartDir(ctx);
  if (!daprChart) throw new Error(`the Dapr ${ctx.inputs.daprVersion} chart was not found: run \`npm run setup -- --all\` (it extracts charts/dapr from the Go module) or set EDGE_DAPR_CHART_DIR`);
  for (const [credential, c] of Object.entries(ctx.clusters)) {
    ctx.progress(`platform: Dapr ${ctx.inputs.daprVersion} on ${c.server}`);
    const outcome = await applyRelease({ kubeconfig: c.kubeconfig, namespace: DAPR_NAMESPACE }, 'dapr', daprChart, deepMerge(daprValues(ctx.inputs), extraDaprValues), { timeout: '10m' });
    report.platform[`dapr@${credential}`] = outcome;
    if (outcome !== 'unchanged') report.changes += 1;
    // The levels' components need Dapr's CRDs: check them before touching any level.
    await requireCrds(apiFor(c.kubeconfig).apiext, DAPR_CRDS, `Dapr on ${c.server} did not install its CRDs`);
  }
  for (const level of rendered) await applyLevel(ctx, creds, level, report, (r) => PLATFORM_RELEASES.includes(r));
  // Optional Arc + Flux, once the egress proxies Arc's agents go through exist.
  Object.assign(report.platform, await connectClusters(ctx.inputs, ctx.topology, arcClusters(ctx), ctx.progress, ctx.inputs.azCli));
  // Application layer: the workloads, parent first (the gateway before the producers).
  for (const level of rendered) await applyLevel(ctx, creds, level, report, (r) => !PLATFORM_RELEASES.includes(r));
  // What the rendering no longer has (the collectors with telemetry turned off, a workload the
  // topology dropped) goes last, children first, once nothing rendered points at it any more.
  for (const level of [...rendered].reverse()) await removeStale(ctx, level, report);
  report.durationS = (Date.now() - started) / 1000;
  return report;
}

/** The bundle's charts (their directory names are their chart names). */
function bundleCharts(ctx: DeployContext): Set<string> {
  return new Set(readdirSync(ctx.inputs.chartsDir).filter((d) => existsSync(join(ctx.inputs.chartsDir, d, 'Chart.yaml'))));
}

/**
 * Uninstalls each release of one of the bundle's charts in the level's namespace that the
 * rendering does not have, and the collector's TLS Secret once its release is gone. Releases of
 * other charts (someone else's) are left alone.
 */
async function removeStale(ctx: DeployContext, level: LevelRender, report: StepReport): Promise<void> {
  const target = { kubeconfig: kubeconfigOf(ctx, level.level.name), namespace: level.namespace };
  const ours = bundleCharts(ctx);
  const wanted = new Set(level.releases.map((r) => r.name));
  const entry = report.levels[level.level.name]!;
  for (const rel of await releasesIn(target)) {
    const chart = rel.chart.replace(/-\d+\.\d+\.\d+([-+][0-9A-Za-z.+-]*)?$/, '');
    if (wanted.has(rel.name) || !ours.has(chart)) continue;
    ctx.progress(`${level.level.name}: removing ${rel.name} (no longer rendered)`);
    await uninstallRelease(target, rel.name);
    entry.releases[rel.name] = 'removed';
    report.changes += 1;
  }
  if (!level.secrets.some((s) => s.name === OTEL_COLLECTOR_SECRET) && (await deleteSecret(apiFor(target.kubeconfig).core, level.namespace, OTEL_COLLECTOR_SECRET))) {
    entry.secrets[OTEL_COLLECTOR_SECRET] = 'deleted';
    report.changes += 1;
  }
}

async function applyLevel(ctx: DeployContext, creds: Credentials, level: LevelRender, report: StepReport, which: (release: string) => boolean): Promise<void> {
  const kubeconfig = kubeconfigOf(ctx, level.level.name);
  const { core } = apiFor(kubeconfig);
  const entry = (report.levels[level.level.name] ??= { namespace: level.namespace, cluster: ctx.clusters[level.credential]!.server, secrets: {}, releases: {} });
  if (which('broker')) {
    if ((await ensureNamespace(core, level.namespace, level.level.name)) === 'created') report.changes += 1;
    for (const secret of level.secrets) {
      // The password file's salts are random: keep the stored file while its hashes still match.
      const users = secret.stringData.passwd !== undefined ? levelUsers(level.level.name, creds) : undefined;
      const outcome = await applySecret(core, level.namespace, secret, level.level.name, users);
      entry.secrets[secret.name] = outcome;
      if (outcome !== 'unchanged') report.changes += 1;
    }
  }
  for (const release of level.releases.filter((r) => which(r.name))) {
    ctx.progress(`${level.level.name}: ${release.name}`);
    const outcome = await applyRelease({ kubeconfig, namespace: level.namespace }, release.name, join(ctx.inputs.chartsDir, release.chart), release.values);
    entry.releases[release.name] = outcome;
    if (outcome !== 'unchanged') report.changes += 1;
  }
}

/**
 * rotate-certs: a new CA and new certificates for every broker while the edge runs. Each phase
 * (trust both CAs, reissue every leaf, drop the old CA) is stored in the PKI Secret first, then
 * rolled through every level's broker, parent first; helm waits for each rollout before the
 * next, so at every moment each bridge and its parent trust each other. With keep-ca, only the
 * leaves are reissued (one phase). Interrupted, it can be run again: it starts over from the CA
 * stored in the Secret, which every broker still trusts.
 */
export async function rotateCertificates(ctx: DeployContext): Promise<StepReport> {
  const started = Date.now();
  const report: StepReport = { action: ctx.inputs.action, topology: ctx.topology.name, platform: {}, levels: {}, changes: 0, durationS: 0 };
  const creds = await loadCredentials(ctx);
  await ensureDependencies(join(ctx.inputs.chartsDir, 'broker'));
  report.rotation = await withStoredPki(ctx, (pki, save) =>
    rotateBrokerPki(
      ctx.topology,
      pki.dir,
      listenerHosts(ctx),
      async (phase) => {
        await save();
        ctx.progress(`rotate-certs: ${phase}: rolling every broker${ctx.inputs.telemetry ? ' and collector' : ''}, parent first`);
        const rendered = renderDeployment(ctx.topology, ctx.inputs, creds, readPkiMaterial(pki));
        // Only the TLS holders' Secrets and releases (the broker; the collector with telemetry):
        // nothing else of a level is touched.
        const tlsSecrets = [BROKER_SECRET, OTEL_COLLECTOR_SECRET];
        for (const level of rendered) await applyLevel(ctx, creds, { ...level, secrets: level.secrets.filter((s) => tlsSecrets.includes(s.name)) }, report, (r) => r === 'broker' || r === OTEL_COLLECTOR_RELEASE);
      },
      { keepCa: ctx.inputs.keepCa, collectorHostsOf: collectorHosts(ctx) },
    ),
  );
  report.durationS = (Date.now() - started) / 1000;
  return report;
}

export async function uninstall(ctx: DeployContext): Promise<StepReport> {
  const started = Date.now();
  const report: StepReport = { action: 'uninstall', topology: ctx.topology.name, platform: {}, levels: {}, changes: 0, durationS: 0 };
  Object.assign(report.platform, await disconnectClusters(ctx.inputs, arcClusters(ctx), ctx.progress, ctx.inputs.azCli));
  // Children first: nothing is left bridging into a level that is already gone.
  for (const level of [...parentFirst(ctx.topology)].reverse()) {
    const kubeconfig = kubeconfigOf(ctx, level.name);
    const namespace = namespaceOf(ctx.inputs, level.name);
    const entry: LevelReport = { namespace, cluster: ctx.clusters[credentialOf(ctx.inputs, level.name)]!.server, secrets: {}, releases: {} };
    const names = [...level.workloads.map((w) => w.name).reverse(), ...[...PLATFORM_RELEASES].reverse()];
    for (const name of names) {
      ctx.progress(`${level.name}: removing ${name}`);
      const removed = await uninstallRelease({ kubeconfig, namespace }, name);
      entry.releases[name] = removed ? 'removed' : 'absent';
      if (removed) report.changes += 1;
    }
    entry.swept = await sweepNamespace(apiFor(kubeconfig).core, namespace, ctx.inputs.keepData);
    report.changes += entry.swept.deleted.length;
    report.levels[level.name] = entry;
  }
  for (const [credential, c] of Object.entries(ctx.clusters)) {
    const removed = await uninstallRelease({ kubeconfig: c.kubeconfig, namespace: DAPR_NAMESPACE }, 'dapr');
    report.platform[`dapr@${credential}`] = removed ? 'removed' : 'absent';
    if (removed) report.changes += 1;
  }
  report.durationS = (Date.now() - started) / 1000;
  return report;
}
