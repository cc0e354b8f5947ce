// The bundle's steps (steps/main.ts) against a real kube-apiserver with kwok nodes: install of
// three levels (namespaces per level in one API server), idempotence, a one-value upgrade,
// relocation, telemetry turned on and off by upgrades, uninstall by label, and bad inputs refused
// before any change. kwok runs no containers: these tests check the objects the API server holds.
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import yaml from 'js-yaml';
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
    // The stores are checked first: with an unreachable cluster too, the answer is about them.
    ['unknown sink', { EDGE_SINKS: 'file,kafka', EDGE_KUBECONFIG: unreachable }, /parameter sinks: unknown sink "kafka"; known: file, postgresql, eventhubs/],
    ['repeated sink', { EDGE_SINKS: 'file,file' }, /parameter sinks lists "file" twice/],
    ['sink without its credential', { EDGE_SINKS: 'file,postgresql,eventhubs', EDGE_KUBECONFIG: unreachable }, /supply the postgres-url credential.*\n.*supply the eventhubs-connection-string credential/],
    ['malformed credential', { EDGE_SINKS: 'postgresql', EDGE_POSTGRES_URL: 'mysql://edge:LeakMe@db/x' }, /postgres-url must be a postgres:\/\/ or postgresql:\/\/ URL \(value not shown/],
    ['bad otlp-endpoint', { EDGE_TELEMETRY: 'true', EDGE_OTLP_ENDPOINT: 'otlp.example.com:4317' }, /parameter otlp-endpoint: OTLP endpoint "otlp\.example\.com:4317": use http\(s\):\/\/host/],
    ['credentials in otlp-endpoint', { EDGE_TELEMETRY: 'true', EDGE_OTLP_ENDPOINT: 'https://edge:LeakMe@otlp.example.com' }, /otlp-endpoint must not carry credentials/],
    ['telemetry not a boolean', { EDGE_TELEMETRY: 'yes' }, /EDGE_TELEMETRY must be true or false/],
    ['namespace-prefix not a DNS label', { EDGE_NAMESPACE_PREFIX: 'Edge_' }, /parameter namespace-prefix "Edge_" must be lowercase letters, digits and '-'/],
  ];
  for (const [name, env, message] of cases) {
    const r = await step('install', env);
    assert.ok(r.code !== 0, `${name}: must fail`);
    assert.match(r.stderr, message, `${name}: ${r.stderr}`);
    assert.ok(r.report?.error, `${name}: stdout carries one JSON document with the error`);
    assert.not.match(r.stdout + r.stderr, /LeakMe/, `${name}: a credential is never echoed`);
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
    const brokerFiles = (await core.readNamespacedSecret({ name: 'broker-config', namespace: ns })).data!;
    const conf = Buffer.from(brokerFiles['mosquitto.conf']!, 'base64').toString();
    const parent = { l4: undefined, l3: 'l4', l2: 'l3' }[l];
    if (parent) assert.equal(conf.match(/^address .*$/gm), [`address broker.edge-${parent}.svc.cluster.local:1884`]);
    else assert.not.match(conf, /^connection /m);
    // mTLS on the children listener, from the install's CA; the server certificate names the Service children dial.
    assert.match(conf, /^listener 1884 0\.0\.0\.0\ncafile \/mosquitto\/config\/trust\.crt\ncertfile \/mosquitto\/config\/server\.crt\nkeyfile \/mosquitto\/config\/server\.key\nrequire_certificate true\ntls_version tlsv1\.2$/m);
    const pem = (key: string) => Buffer.from(brokerFiles[key]!, 'base64').toString();
    const server = new X509Certificate(pem('server.crt'));
    assert.ok(server.checkIssued(new X509Certificate(pem('trust.crt'))), `${l}'s server certificate comes from the trusted CA`);
    assert.match(server.subjectAltName ?? '', new RegExp(`DNS:broker\\.${ns}\\.svc\\.cluster\\.local`));
    assert.equal(Object.keys(brokerFiles).filter((k) => k.startsWith('bridge.')).sort(), parent ? ['bridge.crt', 'bridge.key'] : []);
    if (parent) assert.match(conf, /^topic telemetry\/# out 1$/m);
  }
  const comp = (await custom.getNamespacedCustomObject({ group: 'dapr.io', version: 'v1alpha1', namespace: 'edge-l2', plural: 'components', name: 'pubsub-temperature-sensor' })) as any;
  assert.is(comp.spec.type, 'pubsub.mqtt3');
  assert.equal(comp.spec.metadata.find((m: any) => m.name === 'url').secretKeyRef, { name: 'broker-url-temperature-sensor', key: 'url' });
  assert.ok(!JSON.stringify(comp).includes('tcp://'), 'no broker URL (with its password) in the component');
  const url = Buffer.from((await core.readNamespacedSecret({ name: 'broker-url-temperature-sensor', namespace: 'edge-l2' })).data!.url!, 'base64').toString();
  assert.match(url, /^tcp:\/\/temperature-sensor:[^@]+@broker\.edge-l2\.svc\.cluster\.local:1883$/);
  // The local targets' V8 heap settings reach the pods as NODE_OPTIONS; the gateway gets its sidecar's URL from the Secret.
  const envOf = async (ns: string, name: string) => (await apps.readNamespacedDeployment({ name, namespace: ns })).spec!.template.spec!.containers.find((c) => c.name !== 'daprd')!.env ?? [];
  assert.is((await envOf('edge-l2', 'temperature-sensor')).find((e) => e.name === 'NODE_OPTIONS')?.value, '--max-semi-space-size=1 --max-old-space-size=48');
  assert.not.ok((await envOf('edge-l2', 'opc-plc')).some((e) => e.name === 'NODE_OPTIONS'), 'no heap caps on the OPC UA workloads');
  const gatewayEnv = await envOf('edge-l4', 'data-gateway');
  assert.is(gatewayEnv.find((e) => e.name === 'NODE_OPTIONS')?.value, '--max-semi-space-size=4 --max-old-space-size=128');
  const sessionRef = gatewayEnv.find((e) => e.name === 'GATEWAY_SESSION_BROKER_URL')?.valueFrom?.secretKeyRef;
  assert.equal([sessionRef?.name, sessionRef?.key], ['broker-url-data-gateway', 'url'], JSON.stringify(gatewayEnv.map((e) => e.name)));
  const daprReady = (await apps.listNamespacedDeployment({ namespace: 'dapr-system' })).items;
  assert.ok(daprReady.length >= 2 && daprReady.every((d) => d.status?.readyReplicas === d.spec?.replicas), 'Dapr control plane ready');
});

test('the broker PKI is kept at the top level, CA key included, and never in a ConfigMap', async () => {
  const { core } = api();
  const pki = (await core.readNamespacedSecret({ name: 'edge-broker-pki', namespace: 'edge-l4' })).data!;
  assert.ok(pki['ca.key'] && pki['ca.crt'] && pki['l2.bridge.key'] && pki['l4.server.key'], Object.keys(pki).join(' '));
  const caKey = Buffer.from(pki['ca.key']!, 'base64').toString().trim();
  for (const l of LEVELS) {
    for (const cm of (await core.listNamespacedConfigMap({ namespace: `edge-${l}` })).items) assert.not.ok(JSON.stringify(cm.data ?? {}).includes('PRIVATE KEY'), `no private key in ConfigMap ${cm.metadata?.name}`);
    const brokerFiles = (await core.readNamespacedSecret({ name: 'broker-config', namespace: `edge-${l}` })).data!;
    assert.not.ok(Object.values(brokerFiles).some((v) => Buffer.from(v, 'base64').toString().includes(caKey)), `the CA key is not handed to ${l}'s broker`);
  }
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

test('rotate-certs: a new CA rolled through every broker in three phases, parent first; keep-ca reissues only the leaves', async () => {
  const { core } = api();
  const text = (v: string | undefined): string => Buffer.from(v ?? '', 'base64').toString();
  const caOf = async (): Promise<X509Certificate> => new X509Certificate(text((await core.readNamespacedSecret({ name: 'edge-broker-pki', namespace: 'edge-l4' })).data!['ca.crt']));
  const brokerFiles = async (l: string): Promise<Record<string, string>> => Object.fromEntries(Object.entries((await core.readNamespacedSecret({ name: 'broker-config', namespace: `edge-${l}` })).data!).map(([k, v]) => [k, text(v)]));
  const oldCa = await caOf();
  const before = await revisions();
  const r = await step('rotate-certs');
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.report.rotation?.phases, ['trust-both', 'new-certs', 'drop-old']);
  assert.equal([...r.stderr.matchAll(/\[edge\] (l\d): broker$/gm)].map((m) => m[1]), [...LEVELS, ...LEVELS, ...LEVELS], 'each phase rolls every broker, parent first');
  const newCa = await caOf();
  assert.is.not(newCa.fingerprint256, oldCa.fingerprint256, 'a new CA');
  assert.is(r.report.rotation?.newCaFingerprint, newCa.fingerprint256);
  for (const l of LEVELS) {
    const files = await brokerFiles(l);
    assert.is(files['trust.crt']!.match(/BEGIN CERTIFICATE/g)?.length, 1, `${l} trusts one CA`);
    assert.is(new X509Certificate(files['trust.crt']!).fingerprint256, newCa.fingerprint256, `${l} trusts the new CA only`);
    for (const leaf of ['server.crt', 'bridge.crt'].filter((f) => files[f])) {
      const cert = new X509Certificate(files[leaf]!);
      assert.ok(cert.verify(newCa.publicKey) && !cert.verify(oldCa.publicKey), `${l}/${leaf} is signed by the new CA`);
    }
  }
  const after = await revisions();
  const changed = Object.keys(after).filter((k) => after[k] !== before[k]).sort();
  assert.equal(changed, ['l2/broker', 'l3/broker', 'l4/broker'], 'only the brokers rolled');
  for (const k of changed) assert.is(Number(after[k]) - Number(before[k]), 3, `${k}: one rollout per phase`);
  const upgrade = await step('upgrade');
  assert.is(upgrade.code, 0, upgrade.stderr);
  assert.is(upgrade.report.changes, 0, `the rotated PKI is what the next upgrade finds: ${JSON.stringify(upgrade.report)}`);

  const serials = Object.fromEntries(await Promise.all(LEVELS.map(async (l) => [l, new X509Certificate((await brokerFiles(l))['server.crt']!).serialNumber] as const)));
  const keep = await step('rotate-certs', { EDGE_KEEP_CA: 'true' });
  assert.is(keep.code, 0, keep.stderr);
  assert.equal(keep.report.rotation?.phases, ['new-certs']);
  assert.is((await caOf()).fingerprint256, newCa.fingerprint256, 'keep-ca keeps the CA');
  for (const l of LEVELS) assert.is.not(new X509Certificate((await brokerFiles(l))['server.crt']!).serialNumber, serials[l], `${l}: a new server certificate`);
  const last = await revisions();
  for (const k of changed) assert.is(Number(last[k]) - Number(after[k]), 1, `${k}: one rollout`);
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

test('sinks file,postgresql,eventhubs: each credential only in its Secret, read by secretKeyRef; nowhere else in the cluster', async () => {
  const pgUrl = 'postgres://edge:PgS3cretValue@db.plant.test:5432/telemetry';
  const ehcs = 'Endpoint=sb://plant.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=EhS3cretValue=;EntityPath=telemetry';
  const needles = ['PgS3cretValue', 'EhS3cretValue'];
  const r = await step('upgrade', { EDGE_SINKS: 'file,postgresql,eventhubs', EDGE_POSTGRES_URL: pgUrl, EDGE_EVENTHUBS_CONNECTION_STRING: ehcs });
  assert.is(r.code, 0, r.stderr);
  for (const n of needles) assert.not.ok((r.stdout + r.stderr).includes(n), 'the step never prints a credential');
  assert.equal(r.report.levels!.l4!.secrets['data-gateway-postgres'], 'created');
  assert.equal(r.report.levels!.l4!.secrets['data-gateway-eventhubs'], 'created');
  const { core, apps, custom } = api();
  const secret = async (name: string) => (await core.readNamespacedSecret({ name, namespace: 'edge-l4' })).data!;
  assert.is(Buffer.from((await secret('data-gateway-postgres')).url!, 'base64').toString(), pgUrl);
  assert.is(Buffer.from((await secret('data-gateway-eventhubs')).connectionString!, 'base64').toString(), ehcs);
  const gw = await apps.readNamespacedDeployment({ name: 'data-gateway', namespace: 'edge-l4' });
  const env = gw.spec!.template.spec!.containers.find((c) => c.name === 'data-gateway')!.env!;
  assert.equal(JSON.parse(JSON.stringify(env.find((e) => e.name === 'GATEWAY_PG_URL'))), { name: 'GATEWAY_PG_URL', valueFrom: { secretKeyRef: { name: 'data-gateway-postgres', key: 'url' } } }, 'from the Secret, no value');
  assert.is(env.find((e) => e.name === 'GATEWAY_SINKS')?.value, 'file,postgresql,eventhubs');
  const binding = (await custom.getNamespacedCustomObject({ group: 'dapr.io', version: 'v1alpha1', namespace: 'edge-l4', plural: 'components', name: 'eventhubs' })) as { spec: { type: string; metadata: unknown[] } };
  assert.is(binding.spec.type, 'bindings.azure.eventhubs');
  assert.equal(binding.spec.metadata[0], { name: 'connectionString', secretKeyRef: { name: 'data-gateway-eventhubs', key: 'connectionString' } });
  const resiliency = (await custom.getNamespacedCustomObject({ group: 'dapr.io', version: 'v1alpha1', namespace: 'edge-l4', plural: 'resiliencies', name: 'data-gateway-sinks-resiliency' })) as { spec: { targets: { components: Record<string, unknown> } } };
  assert.equal(resiliency.spec.targets.components.eventhubs, { outbound: { retry: 'sinkRetry', circuitBreaker: 'sinkBreaker', timeout: 'sinkTimeout' } });

  // Everything else in the bundle's namespaces, Helm's own release records (values and manifests,
  // gzipped) included, holds neither credential.
  const leaks: string[] = [];
  const scan = (what: string, text: string): void => void (needles.some((n) => text.includes(n)) && leaks.push(what));
  for (const ns of await edgeNamespaces()) {
    for (const s of (await core.listNamespacedSecret({ namespace: ns })).items) {
      const name = `${ns}/secret/${s.metadata!.name}`;
      if (['edge-l4/secret/data-gateway-postgres', 'edge-l4/secret/data-gateway-eventhubs'].includes(name)) continue;
      for (const [k, v] of Object.entries(s.data ?? {})) {
        const raw = Buffer.from(v, 'base64');
        scan(`${name}:${k}`, raw.toString());
        if (s.type === 'helm.sh/release.v1') scan(`${name}:${k} (release record)`, gunzipSync(Buffer.from(raw.toString(), 'base64')).toString());
      }
    }
    for (const cm of (await core.listNamespacedConfigMap({ namespace: ns })).items) scan(`${ns}/configmap/${cm.metadata!.name}`, JSON.stringify(cm));
    for (const d of (await apps.listNamespacedDeployment({ namespace: ns })).items) scan(`${ns}/deployment/${d.metadata!.name}`, JSON.stringify(d));
    for (const s of (await apps.listNamespacedStatefulSet({ namespace: ns })).items) scan(`${ns}/statefulset/${s.metadata!.name}`, JSON.stringify(s));
    for (const plural of ['components', 'resiliencies', 'configurations']) {
      const list = (await custom.listNamespacedCustomObject({ group: 'dapr.io', version: 'v1alpha1', namespace: ns, plural })) as { items: unknown[] };
      scan(`${ns}/${plural}`, JSON.stringify(list.items));
    }
  }
  assert.equal(leaks, [], 'a credential outside its Secret');
});

/** The objects of the collector release in a namespace: undefined where absent. */
async function collectorObjects(ns: string) {
  const { core, apps } = api();
  const net = (() => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cluster!.kubeconfigPath);
    return kc.makeApiClient(k8s.NetworkingV1Api);
  })();
  const get = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
  return {
    deployment: await get(() => apps.readNamespacedDeployment({ name: 'otel-collector', namespace: ns })),
    service: await get(() => core.readNamespacedService({ name: 'otel-collector', namespace: ns })),
    networkPolicy: await get(() => net.readNamespacedNetworkPolicy({ name: 'otel-collector', namespace: ns })),
    configMap: await get(() => core.readNamespacedConfigMap({ name: 'otel-collector', namespace: ns })),
    secret: await get(() => core.readNamespacedSecret({ name: 'otel-collector-tls', namespace: ns })),
    claims: (await core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: 'app.kubernetes.io/name=otel-collector' })).items,
  };
}

async function tracingOf(ns: string): Promise<{ samplingRate: string; otel?: { endpointAddress: string; isSecure: boolean; protocol: string } }> {
  const conf = (await api().custom.getNamespacedCustomObject({ group: 'dapr.io', version: 'v1alpha1', namespace: ns, plural: 'configurations', name: 'edge-tracing' })) as { spec: { tracing: { samplingRate: string; otel?: { endpointAddress: string; isSecure: boolean; protocol: string } } } };
  return conf.spec.tracing;
}

async function workloadEnvs(): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const l of LEVELS) {
    for (const d of (await api().apps.listNamespacedDeployment({ namespace: `edge-${l}`, labelSelector: 'app.kubernetes.io/name!=otel-collector,app.kubernetes.io/name!=proxy' })).items) {
      const c = d.spec!.template.spec!.containers[0]!;
      out[`${l}/${d.metadata!.name}`] = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    }
  }
  return out;
}

const TELEMETRY = { EDGE_TELEMETRY: 'true' };

test('telemetry on (an upgrade): a collector per level, parent first after the broker; the sidecars and workloads point at it; no key in any ConfigMap', async () => {
  const r = await step('upgrade', TELEMETRY);
  assert.is(r.code, 0, r.stderr);
  const order = [...r.stderr.matchAll(/\[edge\] (l\d): (broker|otel-collector)$/gm)].map((m) => `${m[1]}/${m[2]}`);
  assert.equal(order, ['l4/broker', 'l4/otel-collector', 'l3/broker', 'l3/otel-collector', 'l2/broker', 'l2/otel-collector'], 'parent first, each after its level\'s broker');
  const { core } = api();
  const parents: Record<string, string | undefined> = { l4: undefined, l3: 'l4', l2: 'l3' };
  for (const l of LEVELS) {
    const ns = `edge-${l}`;
    assert.is(r.report.levels![l]!.releases['otel-collector'], 'installed', l);
    const o = await collectorObjects(ns);
    assert.ok(o.deployment && o.service && o.networkPolicy && o.configMap && o.secret, `${ns}: Deployment, Service, NetworkPolicy, ConfigMap and TLS Secret`);
    assert.is(o.deployment!.status?.readyReplicas, 1, `${ns}: ready (kwok)`);
    const pod = o.deployment!.spec!.template.spec!;
    assert.is(pod.securityContext?.runAsNonRoot, true);
    assert.is(pod.containers[0]!.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(o.service!.spec!.ports!.map((p) => [p.name, p.port]), [['otlp-grpc', 4317], ['otlp-http', 4318], ['children', 4319]]);
    // The NetworkPolicy: the own namespace on the OTLP ports, the child level's collector on the child port.
    const ingress = JSON.parse(JSON.stringify(o.networkPolicy!.spec!.ingress!)) as Array<{ _from: Array<{ podSelector?: object; namespaceSelector?: { matchLabels: Record<string, string> } }> }>;
    assert.equal(ingress[0]!._from, [{ podSelector: {} }]);
    const child = { l4: 'edge-l3', l3: 'edge-l2', l2: undefined }[l];
    if (child) assert.equal(ingress[1]!._from[0]!.namespaceSelector!.matchLabels, { 'kubernetes.io/metadata.name': child });
    else assert.is(ingress.length, 1, `${ns}: no child, no child port open`);
    // The config as generated: a lower level exports to its parent's collector Service only, over mTLS.
    const config = yaml.load(o.configMap!.data!['config.yaml']!) as { exporters: Record<string, { endpoint?: string; tls?: Record<string, string>; path?: string }> };
    if (parents[l]) {
      assert.equal(Object.keys(config.exporters), ['otlp_grpc/parent']);
      assert.is(config.exporters['otlp_grpc/parent']!.endpoint, `otel-collector.edge-${parents[l]}.svc.cluster.local:4319`);
      assert.is(config.exporters['otlp_grpc/parent']!.tls!.cert_file, '/etc/otelcol-tls/client.crt');
    } else {
      assert.equal(Object.keys(config.exporters), ['file'], 'the top level writes its file; no upstream unless otlp-endpoint');
      assert.is(o.claims.length, 1, 'the top level\'s file on a claim');
      assert.is(o.claims[0]!.status?.phase, 'Bound');
    }
    if (child) {
      const server = new X509Certificate(Buffer.from(o.secret!.data!['server.crt']!, 'base64').toString());
      assert.match(server.subjectAltName ?? '', new RegExp(`DNS:otel-collector\\.${ns}\\.svc\\.cluster\\.local`), `${ns}: the server certificate names the Service the child dials`);
    }
    // The sidecars' spans go to the level's collector Service.
    assert.equal(await tracingOf(ns), { samplingRate: '1', otel: { endpointAddress: `otel-collector.${ns}.svc.cluster.local:4317`, isSecure: false, protocol: 'grpc' } });
    // No secret material in any ConfigMap of the level.
    for (const cm of (await core.listNamespacedConfigMap({ namespace: ns })).items) assert.not.match(JSON.stringify(cm.data ?? {}), /PRIVATE KEY/, `${ns}/configmap/${cm.metadata!.name}`);
  }
  const envs = await workloadEnvs();
  assert.equal(Object.keys(envs).sort(), ['l2/opc-plc', 'l2/opc-publisher', 'l2/temperature-sensor', 'l4/data-gateway']);
  for (const [where, env] of Object.entries(envs)) {
    const [l, name] = where.split('/') as [string, string];
    assert.is(env.OTEL_EXPORTER_OTLP_ENDPOINT, `http://otel-collector.edge-${l}.svc.cluster.local:4318`, where);
    assert.is(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf', where);
    assert.is(env.OTEL_SERVICE_NAME, name, where);
    assert.is(env.OTEL_RESOURCE_ATTRIBUTES, `edge.level=${l}`, where);
    assert.is(env.OTEL_METRIC_EXPORT_INTERVAL, '2000', where);
  }
});

test('telemetry on: a no-op upgrade changes nothing; rotate-certs (keep-ca) rolls the brokers and the collectors only', async () => {
  const before = await revisions();
  const r = await step('upgrade', TELEMETRY);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.report.changes, 0, JSON.stringify(r.report));
  assert.equal(await revisions(), before, 'no new Helm revision');

  const serial = async (l: string) => new X509Certificate(Buffer.from((await collectorObjects(`edge-${l}`)).secret!.data!['client.crt']!, 'base64').toString()).serialNumber;
  const serials = { l3: await serial('l3'), l2: await serial('l2') };
  const rotated = await step('rotate-certs', { ...TELEMETRY, EDGE_KEEP_CA: 'true' });
  assert.is(rotated.code, 0, rotated.stderr);
  const after = await revisions();
  const changed = Object.keys(after).filter((k) => after[k] !== before[k]).sort();
  assert.equal(changed, ['l2/broker', 'l2/otel-collector', 'l3/broker', 'l3/otel-collector', 'l4/broker', 'l4/otel-collector'], 'the TLS holders only');
  for (const l of ['l3', 'l2'] as const) assert.is.not(await serial(l), serials[l], `${l}: a new collector client certificate`);
});

test('telemetry off (an upgrade): the collector releases and their Secrets are removed, the Configuration loses its endpoint, the workloads their OTEL_* env', async () => {
  const before = await revisions();
  const r = await step('upgrade');
  assert.is(r.code, 0, r.stderr);
  for (const l of LEVELS) {
    const ns = `edge-${l}`;
    assert.is(r.report.levels![l]!.releases['otel-collector'], 'removed', l);
    assert.is(r.report.levels![l]!.secrets['otel-collector-tls'], 'deleted', l);
    const o = await collectorObjects(ns);
    assert.equal([o.deployment, o.service, o.networkPolicy, o.configMap, o.secret].filter(Boolean), [], `${ns}: nothing of the collector left`);
    assert.equal(o.claims.filter((c) => !c.metadata?.deletionTimestamp), [], `${ns}: the file's claim goes with its release`);
    assert.equal(await tracingOf(ns), { samplingRate: '1' });
  }
  assert.match(r.stderr, /l2: removing otel-collector \(no longer rendered\)[\s\S]*l3: removing otel-collector[\s\S]*l4: removing otel-collector/, 'children first');
  for (const [where, env] of Object.entries(await workloadEnvs())) assert.equal(Object.keys(env).filter((k) => k.startsWith('OTEL_')), [], where);
  // Besides the collectors: the Configuration and the workloads' env, nothing else.
  const after = await revisions();
  assert.equal(Object.keys(after).filter((k) => after[k] !== before[k]).sort(), ['l2/dapr-resources', 'l2/opc-plc', 'l2/opc-publisher', 'l2/temperature-sensor', 'l3/dapr-resources', 'l4/dapr-resources', 'l4/data-gateway']);
  assert.equal(Object.keys(after).filter((k) => k.endsWith('/otel-collector')), []);
  const again = await step('upgrade');
  assert.is(again.code, 0, again.stderr);
  assert.is(again.report.changes, 0, `off stays off: ${JSON.stringify(again.report)}`);
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
