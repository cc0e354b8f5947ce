// The bundle on a real test node, as a site would run it with Porter's kubernetes driver: every
// image built here and imported into the node, the bundle's images handed over as a relocation
// mapping (as after `porter publish` into the site's registry), the invocation image run as a
// Job for each action. Shared by test/pods-install.test.ts and the install-time benchmark.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../common/proc.js';
import { toolPath } from '../common/tools.js';
import { buildInvocationImage } from '../images/invocation.js';
import { readManifest, type PorterManifest } from '../images/porter-template.js';
import { REPO_ROOT } from '../images/versions.js';
import { porterOperation, prepareJobDriver, type CnabJobDriver, type CnabResult, type PorterInputs } from './cnab-job.js';
import type { TestCluster } from './cluster.js';
import { createNodeVolumes, importBundleImages } from './node-bundle.js';
import { importLocalImages } from './node-images.js';

const run = promisify(execFile);
export const LEVEL_NAMESPACES = ['edge-l4', 'edge-l3', 'edge-l2'] as const;

export interface BundleOnNode {
  manifest: PorterManifest;
  /** The invocation image, in the node's containerd. */
  image: string;
  /** Listed image reference -> the one built here. */
  relocation: Record<string, string>;
  /** A workload image with node in it, for probe pods. */
  nodeImage: string;
  driver: CnabJobDriver;
  /** Seconds: bundle images built or found and imported; the invocation image likewise. */
  timings: { bundleImagesS: number; invocationImageS: number; invocationCached: boolean };
  /** One action through the invocation image; `summary` is the collected output, parsed. */
  porter(action: string, inputs?: Partial<PorterInputs>): Promise<CnabResult & { summary: Record<string, unknown> }>;
}

/**
 * Everything an install on the node needs: images, claims' volumes, the driver's namespace and
 * claim. `defaults` are the installation's parameters and credentials (Porter keeps them for the
 * later actions); each call can override them.
 */
export async function prepareBundleOnNode(cluster: TestCluster, defaults: Partial<PorterInputs> = {}, log: (line: string) => void = () => {}): Promise<BundleOnNode> {
  if (!cluster.node) throw new Error('prepareBundleOnNode needs a test cluster with a real node');
  const manifest = readManifest(readFileSync(join(REPO_ROOT, 'porter.yaml'), 'utf8'));
  let started = Date.now();
  const built = await importBundleImages(cluster, log);
  const relocation: Record<string, string> = {};
  for (const [name, local] of Object.entries(built)) {
    const listed = manifest.images[name];
    if (listed) relocation[`${listed.repository}:${listed.tag}`] = `${local.repository}:${local.tag}`;
  }
  const bundleImagesS = (Date.now() - started) / 1000;
  started = Date.now();
  const invocation = await buildInvocationImage({ log });
  await importLocalImages(cluster.node, [invocation.ref]);
  const invocationImageS = (Date.now() - started) / 1000;
  await createNodeVolumes(cluster, 8);
  const driver = await prepareJobDriver(cluster);
  const sensor = built['temperature-sensor']!;
  return {
    manifest, image: invocation.ref, relocation, nodeImage: `${sensor.repository}:${sensor.tag}`, driver,
    timings: { bundleImagesS, invocationImageS, invocationCached: invocation.cached },
    async porter(action, inputs = {}) {
      const op = porterOperation(manifest, action, {
        installation: 'edge', image: invocation.ref, relocation,
        credentialFiles: { kubeconfig: readFileSync(cluster.kubeconfigPath, 'utf8') },
        ...defaults, ...inputs,
      });
      const r = await driver.run(op);
      log(`${action}: exit ${r.exitCode} in ${(r.ms / 1000).toFixed(1)} s (job ${r.job})`);
      return { ...r, summary: r.outputs.summary ? (JSON.parse(r.outputs.summary) as Record<string, unknown>) : {} };
    },
  };
}

const coreApi = (kubeconfigPath: string) => {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc.makeApiClient(k8s.CoreV1Api);
};

export const podReady = (pod: k8s.V1Pod): boolean => pod.status?.phase === 'Running' && (pod.status.containerStatuses ?? []).every((c) => c.ready) && !pod.metadata?.deletionTimestamp;

/** The pods of a namespace that are not finished (a Job's pod that Succeeded does not count). */
export async function podsOf(kubeconfigPath: string, namespace: string): Promise<k8s.V1Pod[]> {
  return (await coreApi(kubeconfigPath).listNamespacedPod({ namespace })).items.filter((p) => p.status?.phase !== 'Succeeded');
}

/** Waits until every pod of dapr-system and the three levels is Running and Ready. */
export async function everyPodReady(kubeconfigPath: string, timeoutMs = 300_000): Promise<void> {
  for (const ns of ['dapr-system', ...LEVEL_NAMESPACES]) {
    await waitFor(`every pod in ${ns} Ready`, async () => {
      const pods = await podsOf(kubeconfigPath, ns);
      return pods.length > 0 && pods.every(podReady);
    }, timeoutMs, 1_000);
  }
}

/** The top level's file store, per source@epoch, the sequences in stored order. */
export async function storedSequences(kubeconfigPath: string): Promise<Map<string, number[]>> {
  const { stdout } = await run(toolPath('kubectl'), ['--kubeconfig', kubeconfigPath, '-n', 'edge-l4', 'exec', 'deploy/data-gateway', '-c', 'data-gateway', '--', 'cat', '/data/sink.jsonl'], { timeout: 60_000, maxBuffer: 64 << 20 });
  const bySource = new Map<string, number[]>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const rec = JSON.parse(line) as { source: string; epoch: number; seq: number };
    const key = `${rec.source}@${rec.epoch}`;
    bySource.set(key, [...(bySource.get(key) ?? []), rec.seq]);
  }
  return bySource;
}
