// The bundle's steps install the default topology onto the real node: every pod runs and is Ready
// on its real probes, Dapr injects the sidecars, each broker bridges to its parent over mTLS, and
// the gateway stores what the level-2 producers send, every sequence once. Then a no-op upgrade
// changes nothing and restarts no pod, and uninstall leaves no pod. Needs root and
// `npm run setup -- --all` (the images are built here, or found cached, and imported).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../src/common/proc.js';
import { toolPath } from '../src/common/tools.js';
import { bundleEnv, bundleWorkDir, runStep, type StepRun } from '../src/testcluster/bundle-harness.js';
import { startTestCluster, type TestCluster } from '../src/testcluster/cluster.js';
import { createNodeVolumes, importBundleImages } from '../src/testcluster/node-bundle.js';

const run = promisify(execFile);
const LEVELS = ['l4', 'l3', 'l2'] as const;
const say = (line: string) => console.log(`  ${line}`);
let cluster: TestCluster | undefined;
let work = '';
let images = '';

function step(action: string, env: Record<string, string> = {}): Promise<StepRun> {
  // The injector on: sidecars are injected exactly as on a customer's cluster.
  return runStep(action, { ...bundleEnv(cluster!.kubeconfigPath, work), EDGE_IMAGES: images, EDGE_DAPR_VALUES: '{}', ...env });
}

function api() {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster!.kubeconfigPath);
  return { core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api) };
}

async function kubectl(args: string[]): Promise<string> {
  return (await run(toolPath('kubectl'), ['--kubeconfig', cluster!.kubeconfigPath, ...args], { timeout: 60_000, maxBuffer: 64 << 20 })).stdout;
}

const ready = (pod: k8s.V1Pod) => pod.status?.phase === 'Running' && (pod.status.containerStatuses ?? []).every((c) => c.ready);

async function podsOf(namespace: string): Promise<k8s.V1Pod[]> {
  return (await api().core.listNamespacedPod({ namespace })).items.filter((p) => p.status?.phase !== 'Succeeded');
}

/** Every pod of the three levels and of dapr-system, with uid and restarts. */
async function podIdentities(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const ns of ['dapr-system', ...LEVELS.map((l) => `edge-${l}`)]) {
    for (const p of await podsOf(ns)) out[`${ns}/${p.metadata!.name}`] = `${p.metadata!.uid} restarts=${(p.status?.containerStatuses ?? []).map((c) => c.restartCount).join(',')}`;
  }
  return out;
}

test.before(async () => {
  try {
    work = bundleWorkDir();
    cluster = await startTestCluster({ realNode: true, log: say });
    const started = Date.now();
    images = JSON.stringify(await importBundleImages(cluster, say));
    say(`images built or found, and imported into the node in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await createNodeVolumes(cluster, 8);
  } catch (err) {
    // uvu reports a failed hook without its error: say it here.
    console.error(err);
    throw err;
  }
});

test.after(async () => {
  await cluster?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  if (cluster?.node) assert.equal(cluster.node.leftovers(), [], 'the node left nothing behind');
});

test('install: every pod Ready, sidecars injected, bridges up over mTLS, the gateway stores every sequence once', async () => {
  const r = await step('install');
  assert.is(r.code, 0, r.stderr);
  say(`install step ${(r.ms / 1000).toFixed(1)} s`);
  for (const ns of ['dapr-system', ...LEVELS.map((l) => `edge-${l}`)]) {
    await waitFor(`every pod in ${ns} Ready`, async () => {
      const pods = await podsOf(ns);
      return pods.length > 0 && pods.every(ready);
    }, 300_000, 1_000);
  }
  // Dapr workloads carry an injected daprd beside their own container.
  const l2 = await podsOf('edge-l2');
  for (const name of ['temperature-sensor', 'opc-publisher']) {
    const pod = l2.find((p) => p.metadata?.labels?.['app.kubernetes.io/name'] === name);
    assert.ok(pod, `${name} runs at l2`);
    assert.ok(pod!.spec!.containers.some((c) => c.name === 'daprd'), `${name} has an injected daprd`);
  }
  // Each child's bridge is connected, as its parent broker logs it (mTLS: the children listener requires a certificate).
  for (const [child, parent] of [['l3', 'l4'], ['l2', 'l3']] as const) {
    const connected = new RegExp(`New bridge connected from \\S+ as bridge-${child}\\b`);
    await waitFor(`${parent}'s broker logs bridge-${child} connected`, async () => connected.test(await kubectl(['-n', `edge-${parent}`, 'logs', 'statefulset/broker'])), 120_000, 2_000);
  }
  // The gateway's store: per source, sequences 1..n, each once.
  let records: { source: string; epoch: number; seq: number }[] = [];
  await waitFor('the gateway stores the sensor and the publisher', async () => {
    const text = await kubectl(['-n', 'edge-l4', 'exec', 'deploy/data-gateway', '-c', 'data-gateway', '--', 'cat', '/data/sink.jsonl']);
    records = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { source: string; epoch: number; seq: number });
    const sources = new Set(records.map((r) => r.source));
    return [...sources].some((s) => s.includes('temperature-sensor')) && [...sources].some((s) => s.includes('opc-publisher')) && records.length >= 20;
  }, 180_000, 2_000);
  const bySource = new Map<string, number[]>();
  for (const rec of records) bySource.set(`${rec.source}@${rec.epoch}`, [...(bySource.get(`${rec.source}@${rec.epoch}`) ?? []), rec.seq]);
  for (const [source, seqs] of bySource) {
    const sorted = [...seqs].sort((a, b) => a - b);
    assert.is(new Set(sorted).size, sorted.length, `${source}: no duplicates`);
    assert.is(sorted[sorted.length - 1], sorted.length, `${source}: sequences 1..${sorted.length} without a gap (none lost)`);
  }
  say(`stored: ${[...bySource].map(([s, q]) => `${s} ${q.length}`).join(', ')}`);
});

test('a no-op upgrade changes nothing and restarts no pod', async () => {
  const before = await podIdentities();
  const r = await step('upgrade');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.report.changes, 0, JSON.stringify(r.report));
  assert.equal(await podIdentities(), before, 'same pods, same uids, no restart');
});

test('uninstall leaves no pod of the bundle', async () => {
  const r = await step('uninstall');
  assert.is(r.code, 0, r.stderr);
  for (const l of LEVELS) {
    await waitFor(`no pod left in edge-${l}`, async () => (await podsOf(`edge-${l}`)).length === 0, 120_000, 1_000);
  }
});

test.run();
