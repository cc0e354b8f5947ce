// The bundle's steps (steps/main.ts) against a real kube-apiserver with kwok nodes: install of
// three levels (namespaces per level in one API server), idempotence, a one-value upgrade,
// relocation, uninstall by label, and bad inputs refused before any change.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as k8s from '@kubernetes/client-node';
import { $ } from 'zx';
import { toolPath } from '../src/common/tools.js';
import { bundleEnv, bundleWorkDir, createFakeVolumes, runStep, type StepRun } from '../src/testcluster/bundle-harness.js';
import { startTestCluster, type TestCluster } from '../src/testcluster/cluster.js';
import { KNOWN_IMAGES } from '../src/kubernetes/inputs.js';

$.verbose = false;
const LEVELS = ['l4', 'l3', 'l2'];
let cluster: TestCluster | undefined;
let work = '';

function step(action: string, env: Record<string, string> = {}): Promise<StepRun> {
  return runStep(action, { ...bundleEnv(cluster!.kubeconfigPath, work), ...env });
}

function api() {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster!.kubeconfigPath);
  return { core: kc.makeApiClient(k8s.CoreV1Api), apps: kc.makeApiClient(k8s.AppsV1Api), custom: kc.makeApiClient(k8s.CustomObjectsApi) };
}

async function edgeNamespaces(): Promise<string[]> {
  const list = await api().core.listNamespace();
  return list.items.map((n) => n.metadata!.name!).filter((n) => n.startsWith('edge-')).sort();
}

async function revisions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const l of LEVELS) {
    const r = await $`${toolPath('helm')} list --kubeconfig ${cluster!.kubeconfigPath} -n ${`edge-${l}`} -o json`;
    for (const rel of JSON.parse(r.stdout) as Array<{ name: string; revision: string }>) out[`${l}/${rel.name}`] = rel.revision;
  }
  return out;
}

test.before(async () => {
  work = bundleWorkDir();
  cluster = await startTestCluster({ nodes: 2 });
  await createFakeVolumes(cluster.kubeconfigPath, 16); // released volumes are not reused: enough for every install here
});

test.after(async () => {
  await cluster?.stop();
  await $`rm -rf ${work}`;
});

test('bad inputs are refused before anything changes, each with what to fix', async () => {
  const before = await edgeNamespaces();
  const unreachable = join(work, 'unreachable.kubeconfig');
  writeFileSync(unreachable, readFileSync(cluster!.kubeconfigPath, 'utf8').replace(/server: https:\/\/127\.0\.0\.1:\d+/, 'server: https://127.0.0.1:1'));
  const wrongUser = join(work, 'wrong-user.kubeconfig');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster!.kubeconfigPath);
  kc.users = [{ name: kc.users[0]!.name, token: 'not-a-valid-token' }];
  writeFileSync(wrongUser, kc.exportConfig());
  const badTopology = join(work, 'cycle.yaml');
  writeFileSync(badTopology, 'name: x\nlevels:\n  - { name: a, parent: b, broker: { workloadPort: 2000, childPort: 2001 } }\n  - { name: b, parent: a, broker: { workloadPort: 2010, childPort: 2011 } }\n');
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['unreachable cluster', { EDGE_KUBECONFIG: unreachable }, /not reachable.*check the kubeconfig's server address/],
    ['wrong credentials', { EDGE_KUBECONFIG: wrongUser }, /refused the credentials.*cluster-admin/],
    ['missing parameter', { EDGE_INFRA: 'aks' }, /aks-resource-group is required.*azure-client-id is required/s],
    ['invalid topology', { EDGE_TOPOLOGY_FILE: badTopology }, /parent cycle/],
    ['unknown image', { EDGE_IMAGES: JSON.stringify({ toaster: { repository: 'x', tag: '1' } }) }, /unknown image "toaster"/],
    ['missing kubeconfig', { EDGE_KUBECONFIG: join(work, 'nope') }, /no kubeconfig at .*credential set/],
  ];
  for (const [name, env, message] of cases) {
    const r = await step('install', env);
    assert.ok(r.code !== 0, `${name}: must fail`);
    assert.match(r.stderr, message, `${name}: ${r.stderr}`);
    assert.ok(r.report?.error, `${name}: stdout carries one JSON document with the error`);
  }
  assert.equal(await edgeNamespaces(), before, 'the cluster is untouched');
});

test('install brings up three levels parent first; bridges and components point at the right parent', async () => {
  const r = await step('install');
  assert.is(r.code, 0, r.stderr);
  assert.equal(Object.keys(r.report.levels ?? {}), ['l4', 'l3', 'l2'], 'parent first');
  assert.equal(r.report.levels!.l2!.releases, { broker: 'installed', proxy: 'installed', 'dapr-resources': 'installed', 'temperature-sensor': 'installed', 'opc-plc': 'installed', 'opc-publisher': 'installed' });
  const { core, apps, custom } = api();
  for (const l of LEVELS) {
    const ns = `edge-${l}`;
    for (const d of (await apps.listNamespacedDeployment({ namespace: ns })).items) assert.is(d.status?.readyReplicas, d.spec?.replicas, `${ns}/${d.metadata?.name} ready`);
    for (const s of (await apps.listNamespacedStatefulSet({ namespace: ns })).items) assert.is(s.status?.readyReplicas, 1, `${ns}/${s.metadata?.name} ready`);
    const conf = Buffer.from((await core.readNamespacedSecret({ name: 'broker-config', namespace: ns })).data!['mosquitto.conf']!, 'base64').toString();
    const parent = { l4: undefined, l3: 'l4', l2: 'l3' }[l];
    if (parent) assert.equal(conf.match(/^address .*$/gm), [`address broker.edge-${parent}.svc.cluster.local:1884`]);
    else assert.not.match(conf, /^connection /m);
    if (parent) assert.match(conf, /^topic telemetry\/# out 1$/m);
  }
  const comp = (await custom.getNamespacedCustomObject({ group: 'dapr.io', version: 'v1alpha1', namespace: 'edge-l2', plural: 'components', name: 'pubsub-temperature-sensor' })) as any;
  assert.is(comp.spec.type, 'pubsub.mqtt3');
  assert.equal(comp.spec.metadata.find((m: any) => m.name === 'url').secretKeyRef, { name: 'broker-url-temperature-sensor', key: 'url' });
  assert.ok(!JSON.stringify(comp).includes('tcp://'), 'no broker URL (with its password) in the component');
  const url = Buffer.from((await core.readNamespacedSecret({ name: 'broker-url-temperature-sensor', namespace: 'edge-l2' })).data!.url!, 'base64').toString();
  assert.match(url, /^tcp:\/\/temperature-sensor:[^@]+@broker\.edge-l2\.svc\.cluster\.local:1883$/);
  const daprReady = (await apps.listNamespacedDeployment({ namespace: 'dapr-system' })).items;
  assert.ok(daprReady.length >= 2 && daprReady.every((d) => d.status?.readyReplicas === d.spec?.replicas), 'Dapr control plane ready');
});

test('a second install and a no-op upgrade change nothing', async () => {
  const before = await revisions();
  for (const action of ['install', 'upgrade']) {
    const r = await step(action);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.report.changes, 0, JSON.stringify(r.report));
  }
  assert.equal(await revisions(), before, 'no new Helm revision');
});

test('an upgrade changing the sensor interval changes only the sensor release', async () => {
  const before = await revisions();
  const r = await step('upgrade', { EDGE_SENSOR_INTERVAL_MS: '250' });
  assert.is(r.code, 0, r.stderr);
  const after = await revisions();
  const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
  assert.equal(changed, ['l2/temperature-sensor']);
  assert.is(r.report.changes, 1);
});

test('with relocated images, every image in every rendered manifest is the relocated reference', async () => {
  const digest = (i: number) => `sha256:${i.toString(16).padStart(2, '0').repeat(32)}`;
  const images = Object.fromEntries(KNOWN_IMAGES.map((name, i) => [name, { repository: `airgap.registry.test/nested-edge/${name}`, tag: 'ignored', digest: digest(i) }]));
  const r = await step('upgrade', { EDGE_IMAGES: JSON.stringify(images), EDGE_SENSOR_INTERVAL_MS: '250' });
  assert.is(r.code, 0, r.stderr);
  const refs: string[] = [];
  const targets = [...LEVELS.flatMap((l) => Object.keys(r.report.levels![l]!.releases).map((rel) => [`edge-${l}`, rel])), ['dapr-system', 'dapr']];
  for (const [ns, rel] of targets) {
    const m = await $`${toolPath('helm')} get manifest ${rel} --kubeconfig ${cluster!.kubeconfigPath} -n ${ns}`;
    refs.push(...[...m.stdout.matchAll(/(?:image|dapr\.io\/sidecar-image):\s*"?([^"\s]+)"?/g)].map((x) => x[1]!));
  }
  assert.ok(refs.length >= 12, `found ${refs.length} image references`);
  const escaped = refs.filter((ref) => !/^airgap\.registry\.test\/nested-edge\/[a-z-]+@sha256:[0-9a-f]{64}$/.test(ref));
  assert.equal(escaped, [], 'no image escapes the relocation');
});

test('uninstall removes every object the bundle created', async () => {
  const r = await step('uninstall');
  assert.is(r.code, 0, r.stderr);
  const { core, apps } = api();
  const selector = 'app.kubernetes.io/part-of=nested-edge';
  assert.is((await apps.listDeploymentForAllNamespaces({ labelSelector: selector })).items.length, 0);
  assert.is((await apps.listStatefulSetForAllNamespaces({ labelSelector: selector })).items.length, 0);
  assert.is((await core.listSecretForAllNamespaces({ labelSelector: selector })).items.length, 0);
  assert.is((await core.listPersistentVolumeClaimForAllNamespaces({ labelSelector: selector })).items.length, 0, 'data volumes go too unless keep-data');
  assert.is((await core.listConfigMapForAllNamespaces({ labelSelector: selector })).items.length, 0);
  const remaining = (await core.listNamespace()).items.filter((n) => n.metadata!.name!.startsWith('edge-') && n.status?.phase !== 'Terminating');
  assert.equal(remaining.map((n) => n.metadata!.name), []);
});

test('uninstall with keep-data keeps the broker volumes and the credentials, and a re-install reuses them', async () => {
  const { core } = api();
  const first = await step('install');
  assert.is(first.code, 0, first.stderr);
  const creds = (await core.readNamespacedSecret({ name: 'edge-credentials', namespace: 'edge-l4' })).data!['credentials.json'];
  const r = await step('uninstall', { EDGE_KEEP_DATA: 'true' });
  assert.is(r.code, 0, r.stderr);
  const selector = 'app.kubernetes.io/part-of=nested-edge';
  const claims = (await core.listPersistentVolumeClaimForAllNamespaces({ labelSelector: selector })).items.map((c) => `${c.metadata!.namespace}/${c.metadata!.name}`).sort();
  assert.equal(claims.filter((c) => c.includes('broker')).length, 3, `broker claims kept: ${claims.join(', ')}`);
  const again = await step('install');
  assert.is(again.code, 0, again.stderr);
  assert.is((await core.readNamespacedSecret({ name: 'edge-credentials', namespace: 'edge-l4' })).data!['credentials.json'], creds, 'same broker credentials after re-install');
  const final = await step('uninstall');
  assert.is(final.code, 0, final.stderr);
});

test.run();
