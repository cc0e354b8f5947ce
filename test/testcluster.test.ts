// The real control plane (etcd + kube-apiserver + controller-manager + scheduler + kwok)
// runs the four workload kinds to Ready/Complete. Needs `bash tools/build-k8s-tools.sh` first.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdmissionregistrationV1Api, AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig, type V1PodTemplateSpec } from '@kubernetes/client-node';
import { waitFor } from '../src/common/proc.js';
import { KWOK_CIDR, pidAlive, serverVersion, startTestCluster } from '../src/testcluster/cluster.js';
import { listGuards } from '../src/testcluster/guard.js';
import { COREDNS_VERSION, ETCD_VERSION, HELM_VERSION, K8S_VERSION, KUBE_ROUTER_VERSION, KWOK_VERSION, PAUSE_VERSION } from '../src/testcluster/versions.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_WITHIN_MS = 60_000;

test('the pins in versions.ts match tools/build-k8s-tools.sh and tools/build-node-images.sh', () => {
  const pinIn = (file: string) => {
    const script = readFileSync(join(repo, 'tools', file), 'utf8');
    return (name: string) => script.match(new RegExp(`^${name}=(\\S+)`, 'm'))?.[1];
  };
  const pin = pinIn('build-k8s-tools.sh');
  assert.is(pin('K8S_VERSION'), K8S_VERSION);
  assert.is(pin('ETCD_VERSION'), ETCD_VERSION);
  assert.is(pin('KWOK_VERSION'), KWOK_VERSION);
  assert.is(pin('HELM_VERSION'), HELM_VERSION);
  assert.is(pin('COREDNS_VERSION'), COREDNS_VERSION);
  assert.is(pin('KUBE_ROUTER_VERSION'), KUBE_ROUTER_VERSION);
  assert.is(pinIn('build-node-images.sh')('PAUSE_VERSION'), PAUSE_VERSION);
});

function podTemplate(app: string): V1PodTemplateSpec {
  return {
    metadata: { labels: { app } },
    spec: { containers: [{ name: app, image: 'registry.invalid/edge/pause:1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
  };
}

test('control plane: Deployment, StatefulSet, DaemonSet and Job reach Ready/Complete', async () => {
  const t0 = Date.now();
  const cluster = await startTestCluster({ nodes: 2 });
  const pids = Object.entries(cluster.pids);
  console.log(`  test cluster ready in ${(cluster.startupMs / 1000).toFixed(1)} s (${pids.map(([n, p]) => `${n}=${p}`).join(' ')})`);
  try {
    assert.is(await serverVersion(cluster.kubeconfigPath), K8S_VERSION);

    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const batch = kc.makeApiClient(BatchV1Api);
    const namespace = 'edge-test';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // The namespace's default ServiceAccount must exist before pods are admitted.
    await waitFor('ServiceAccount edge-test/default', async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace });
      return true;
    }, READY_WITHIN_MS);

    const selector = (app: string) => ({ matchLabels: { app } });
    await core.createNamespacedService({
      namespace,
      body: { metadata: { name: 'db' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 5432 }] } },
    });
    await Promise.all([
      apps.createNamespacedDeployment({
        namespace,
        body: { metadata: { name: 'web' }, spec: { replicas: 2, selector: selector('web'), template: podTemplate('web') } },
      }),
      apps.createNamespacedStatefulSet({
        namespace,
        body: { metadata: { name: 'db' }, spec: { replicas: 2, serviceName: 'db', selector: selector('db'), template: podTemplate('db') } },
      }),
      apps.createNamespacedDaemonSet({
        namespace,
        body: { metadata: { name: 'agent' }, spec: { selector: selector('agent'), template: podTemplate('agent') } },
      }),
      batch.createNamespacedJob({
        namespace,
        body: {
          metadata: { name: 'migrate' },
          spec: { completions: 1, backoffLimit: 0, template: { ...podTemplate('migrate'), spec: { ...podTemplate('migrate').spec!, restartPolicy: 'Never' } } },
        },
      }),
    ]);

    const tWorkloads = Date.now();
    await Promise.all([
      waitFor('Deployment web 2/2 available', async () => {
        const d = await apps.readNamespacedDeployment({ name: 'web', namespace });
        return d.status?.availableReplicas === 2 && d.status?.updatedReplicas === 2 && d.status?.observedGeneration === d.metadata?.generation;
      }, READY_WITHIN_MS, 250),
      waitFor('StatefulSet db 2/2 ready', async () => {
        const s = await apps.readNamespacedStatefulSet({ name: 'db', namespace });
        return s.status?.readyReplicas === 2 && s.status?.availableReplicas === 2;
      }, READY_WITHIN_MS, 250),
      waitFor('DaemonSet agent ready on every node', async () => {
        const ds = await apps.readNamespacedDaemonSet({ name: 'agent', namespace });
        const st = ds.status;
        return !!st && st.desiredNumberScheduled === cluster.nodes.length && st.numberReady === st.desiredNumberScheduled && st.numberAvailable === st.desiredNumberScheduled;
      }, READY_WITHIN_MS, 250),
      waitFor('Job migrate Complete', async () => {
        const job = await batch.readNamespacedJob({ name: 'migrate', namespace });
        return job.status?.succeeded === 1 && (job.status.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True');
      }, READY_WITHIN_MS, 250),
    ]);
    console.log(`  workloads ready/complete in ${((Date.now() - tWorkloads) / 1000).toFixed(1)} s`);

    // Every pod was bound by the scheduler to one of the fake nodes.
    const pods = await core.listNamespacedPod({ namespace });
    assert.ok(pods.items.length >= 2 + 2 + cluster.nodes.length + 1, `pods: ${pods.items.length}`);
    for (const pod of pods.items) assert.ok(cluster.nodes.includes(pod.spec?.nodeName ?? ''), `${pod.metadata?.name} on ${pod.spec?.nodeName}`);
  } finally {
    await cluster.stop();
  }
  for (const [name, pid] of pids) assert.not.ok(pidAlive(pid), `${name} (pid ${pid}) still running after stop()`);
  assert.not.ok(existsSync(cluster.dir), `${cluster.dir} left behind`);
  console.log(`  whole test ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test('kwok tier: a call the API server makes to a fake pod or Service address is refused on this machine', async () => {
  const guardsBefore = listGuards().map((g) => g.id);
  const cluster = await startTestCluster({ nodes: 1 });
  try {
    const guard = listGuards().find((g) => g.pid === process.pid && !guardsBefore.includes(g.id));
    assert.ok(guard, 'the cluster installed its guard');
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const admission = kc.makeApiClient(AdmissionregistrationV1Api);
    const namespace = 'guarded';
    await core.createNamespace({ body: { metadata: { name: namespace, labels: { guarded: 'yes' } } } });
    await waitFor('ServiceAccount guarded/default', async () => Boolean(await core.readNamespacedServiceAccount({ name: 'default', namespace })), READY_WITHIN_MS);
    await apps.createNamespacedDeployment({ namespace, body: { metadata: { name: 'hook' }, spec: { replicas: 1, selector: { matchLabels: { app: 'hook' } }, template: podTemplate('hook') } } });
    await core.createNamespacedService({ namespace, body: { metadata: { name: 'hook' }, spec: { selector: { app: 'hook' }, ports: [{ port: 443 }] } } });
    let podIp = '';
    await waitFor('the fake pod has an address', async () => {
      podIp = (await core.listNamespacedPod({ namespace })).items[0]?.status?.podIP ?? '';
      return podIp !== '';
    }, READY_WITHIN_MS, 250);
    assert.ok(inCidr(podIp, KWOK_CIDR), `kwok's pod address ${podIp} is inside the guarded ${KWOK_CIDR}`);

    const service = (await core.readNamespacedService({ name: 'hook', namespace })).spec?.clusterIP ?? '';
    // One webhook at a time: by URL to the pod's address, then by Service (its ClusterIP).
    for (const [what, clientConfig] of [
      [`pod address ${podIp}`, { url: `https://${podIp}:443/validate` }],
      [`Service ${service}`, { service: { name: 'hook', namespace, path: '/validate', port: 443 } }],
    ] as const) {
      await admission.createValidatingWebhookConfiguration({
        body: {
          metadata: { name: 'guarded-hook' },
          webhooks: [{
            name: 'guarded.edge.test',
            clientConfig,
            rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
            namespaceSelector: { matchLabels: { guarded: 'yes' } },
            failurePolicy: 'Fail',
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            timeoutSeconds: 10,
          }],
        },
      });
      const started = Date.now();
      let message = '';
      await waitFor(`the webhook to ${what} is called`, async () => {
        try {
          await core.createNamespacedConfigMap({ namespace, body: { metadata: { generateName: 'probe-' } } });
          message = 'admitted';
        } catch (err) {
          message = err instanceof Error ? err.message : String(err);
        }
        return /failed calling webhook/.test(message);
      }, READY_WITHIN_MS, 250);
      assert.match(message, /connection refused/, `the call to ${what} is refused locally: ${message.slice(0, 300)}`);
      assert.ok(Date.now() - started < 9_000, 'refused at once, not after the webhook timeout');
      await admission.deleteValidatingWebhookConfiguration({ name: 'guarded-hook' });
    }
  } finally {
    await cluster.stop();
  }
  assert.equal(listGuards().map((g) => g.id), guardsBefore, 'the guard is removed with the cluster');
});

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(ip) / size) === Math.floor(n(base!) / size);
}

test.run();
