// CONTRACT TEST of the optional Arc + Flux step against a FAKE az CLI (a script that records its
// arguments and answers like az would): Azure cannot be reached from here. It checks the calls the
// bundle makes, their order, idempotence, uninstall, and that the client secret never leaks.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { arcProxy, connectClusters, disconnectClusters } from '../src/kubernetes/arc.js';
import { readInputs } from '../src/kubernetes/inputs.js';
import { loadTopology } from '../src/topology/parse.js';
import { REPO_ROOT } from '../src/local/plan.js';
import { withCleanup } from './helpers.js';

const SECRET = 'fake-sp-secret-do-not-leak';

/** A FAKE az: logs argv as JSON lines; `show` succeeds only for what was created (state files). */
function fakeAz(dir: string): { path: string; calls: () => string[][] } {
  const log = join(dir, 'az.log');
  const state = join(dir, 'state');
  const path = join(dir, 'az');
  writeFileSync(path, `#!/usr/bin/env bash
node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "$@" >> ${log}
key=$(printf '%s' "$*" | sed -E 's/.*--name ([^ ]+).*/\\1/')
case "$1 $2" in
  "connectedk8s show") [ -f ${state}-arc-$key ] || { echo "ERROR: (ResourceNotFound) not found" >&2; exit 3; } ;;
  "connectedk8s connect") touch ${state}-arc-$key ;;
  "connectedk8s delete") rm -f ${state}-arc-$key ;;
  "k8s-configuration flux") case "$3" in
      show) [ -f ${state}-flux ] || { echo "ERROR: (ResourceNotFound)" >&2; exit 3; } ;;
      create) touch ${state}-flux ;;
      delete) rm -f ${state}-flux ;;
    esac ;;
  "login --service-principal") [ "$6" = "${SECRET}" ] || { echo "ERROR: AADSTS7000215: Invalid client secret provided." >&2; exit 1; } ;;
esac
exit 0
`);
  chmodSync(path, 0o755);
  return { path, calls: () => (readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[])) };
}

function inputsFor(az: string, extra: Record<string, string> = {}) {
  return readInputs('install', {
    EDGE_DEFAULT_TOPOLOGY_FILE: join(REPO_ROOT, 'src/topology/default-topology.yaml'),
    EDGE_KUBECONFIG: join(REPO_ROOT, 'package.json'), // exists; never read here
    EDGE_ARC_ENABLED: 'true',
    EDGE_FLUX_ENABLED: 'true',
    EDGE_FLUX_REPO_URL: 'https://git.plant.example/edge-config.git',
    EDGE_AKS_RESOURCE_GROUP: 'rg-plant',
    EDGE_AKS_LOCATION: 'westeurope',
    EDGE_AKS_CLUSTER_NAME: 'plant1',
    AZURE_CLIENT_ID: 'sp-id',
    AZURE_CLIENT_SECRET: SECRET,
    AZURE_TENANT_ID: 'tenant',
    AZURE_SUBSCRIPTION_ID: 'sub',
    EDGE_AZ_CLI: az,
    ...extra,
  });
}

test('Arc CONTRACT TEST (FAKE az): connect through the top proxy, configure Flux, then leave both alone', async () => {
  await withCleanup(async (c) => {
    const az = fakeAz(c.dir('az'));
    const inputs = inputsFor(az.path);
    const topology = loadTopology(inputs.topologyFile);
    const clusters = [{ credential: 'kubeconfig', kubeconfig: '/tmp/kc' }];
    const log: string[] = [];
    const first = await connectClusters(inputs, topology, clusters, (m) => log.push(m));
    assert.equal(first, { 'arc@kubeconfig': 'connected', 'flux@kubeconfig': 'created' });
    const verbs = az.calls().map((a) => a.slice(0, a[0] === 'k8s-configuration' ? 3 : 2).join(' '));
    assert.equal(verbs, ['login --service-principal', 'account set', 'connectedk8s show', 'connectedk8s connect', 'k8s-configuration flux show', 'k8s-configuration flux create']);
    const connect = az.calls().find((a) => a[1] === 'connect')!;
    const arg = (name: string) => connect[connect.indexOf(name) + 1];
    assert.is(arg('--name'), 'plant1-kubeconfig');
    assert.is(arg('--resource-group'), 'rg-plant');
    assert.is(arg('--kube-config'), '/tmp/kc');
    assert.is(arg('--proxy-https'), 'http://proxy.edge-l4.svc.cluster.local:3128', 'Arc agents leave through the top level proxy');
    const create = az.calls().find((a) => a[2] === 'create')!;
    assert.ok(create.includes('https://git.plant.example/edge-config.git') && create.includes('connectedClusters'));
    const second = await connectClusters(inputs, topology, clusters, () => undefined);
    assert.equal(second, { 'arc@kubeconfig': 'unchanged', 'flux@kubeconfig': 'unchanged' });
    assert.is(az.calls().filter((a) => a[1] === 'connect' || a[2] === 'create').length, 2, 'no second connect or create');
    assert.not.ok(log.join('\n').includes(SECRET));
  });
});

test('Arc CONTRACT TEST (FAKE az): uninstall removes the Flux configuration and the Arc connection', async () => {
  await withCleanup(async (c) => {
    const az = fakeAz(c.dir('az'));
    const inputs = inputsFor(az.path);
    const clusters = [{ credential: 'kubeconfig', kubeconfig: '/tmp/kc' }];
    await connectClusters(inputs, loadTopology(inputs.topologyFile), clusters, () => undefined);
    const removed = await disconnectClusters(inputs, clusters, () => undefined);
    assert.equal(removed, { 'flux@kubeconfig': 'removed', 'arc@kubeconfig': 'removed' });
    assert.ok(az.calls().some((a) => a[0] === 'connectedk8s' && a[1] === 'delete'));
  });
});

test('Arc CONTRACT TEST (FAKE az): a wrong secret names the credentials and never shows the secret', async () => {
  await withCleanup(async (c) => {
    const az = fakeAz(c.dir('az'));
    const inputs = inputsFor(az.path, { AZURE_CLIENT_SECRET: 'wrong-secret-value' });
    const err = await connectClusters(inputs, loadTopology(inputs.topologyFile), [{ credential: 'kubeconfig', kubeconfig: '/tmp/kc' }], () => undefined).catch((e: Error) => e);
    assert.instance(err, Error);
    assert.match((err as Error).message, /az login with the service principal sp-id failed: check azure-client-id, azure-client-secret/);
    assert.not.ok((err as Error).message.includes('wrong-secret-value'));
  });
});

test('Arc settings are checked before any call: flux without arc, missing resource group', async () => {
  await withCleanup(async (c) => {
    const az = fakeAz(c.dir('az'));
    const inputs = inputsFor(az.path, { EDGE_ARC_ENABLED: 'false', EDGE_AKS_RESOURCE_GROUP: '' });
    const err = await connectClusters(inputs, loadTopology(inputs.topologyFile), [], () => undefined).catch((e: Error) => e);
    assert.match((err as Error).message, /flux-enabled needs arc-enabled/);
    assert.match((err as Error).message, /aks-resource-group/);
  });
});

test('on a cluster holding only lower levels, Arc uses the highest of them', () => {
  const inputs = readInputs('install', { EDGE_DEFAULT_TOPOLOGY_FILE: join(REPO_ROOT, 'src/topology/default-topology.yaml'), EDGE_KUBECONFIG: join(REPO_ROOT, 'package.json'), EDGE_KUBECONFIG_DIR: REPO_ROOT, EDGE_CLUSTERS: '{"l2":"kubeconfig-package.json"}' });
  assert.is(arcProxy(inputs, loadTopology(inputs.topologyFile), 'kubeconfig-package.json'), 'http://proxy.edge-l2.svc.cluster.local:3128');
});

test.run();
