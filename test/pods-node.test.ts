// The real node: pods run on this machine's kubelet + containerd, Services resolve through CoreDNS
// and route through kube-proxy, NetworkPolicy is enforced by kube-router, and the teardown leaves
// nothing behind. Needs root and `npm run setup -- --all`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, KubeConfig, NetworkingV1Api, type V1Deployment } from '@kubernetes/client-node';
import { waitFor } from '../src/common/proc.js';
import { toolPath } from '../src/common/tools.js';
import { defaultNodeImage } from '../src/images/base.js';
import { pidAlive, startTestCluster, type TestCluster } from '../src/testcluster/cluster.js';
import { listGuards } from '../src/testcluster/guard.js';
import { recordSysctls } from '../src/testcluster/host.js';
import { importLocalImages } from '../src/testcluster/node-images.js';

const run = promisify(execFile);
const NS = 'pods-test';

/** A pod running a small node program: the image is the project's own Node base. */
function nodeDeployment(name: string, labels: Record<string, string>, script: string, port?: number): V1Deployment {
  return {
    metadata: { name, namespace: NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...labels } },
        spec: {
          terminationGracePeriodSeconds: 1,
          securityContext: { runAsNonRoot: true, runAsUser: 1000 },
          containers: [
            {
              name,
              image: defaultNodeImage(),
              imagePullPolicy: 'Never',
              command: ['node', '-e', script],
              ...(port ? { readinessProbe: { httpGet: { path: '/', port }, periodSeconds: 1 } } : {}),
              resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
            },
          ],
        },
      },
    },
  };
}

const SERVER = `require('http').createServer((q, r) => r.end('hello from ' + require('os').hostname())).listen(8080)`;
const IDLE = 'setInterval(() => {}, 1 << 30)';
/** Prints what one GET of the URL answered, or the error's code. */
const FETCH = (url: string) =>
  `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }).then(r => r.text()).then(t => console.log('OK ' + t), e => console.log('ERR ' + (e.cause?.code ?? e.name)))`;
const LOOKUP = (host: string) => `require('dns').lookup(${JSON.stringify(host)}, (e, a) => console.log(e ? 'ERR ' + e.code : 'OK ' + a))`;

async function execIn(cluster: TestCluster, deployment: string, script: string): Promise<string> {
  const { stdout } = await run(toolPath('kubectl'), ['--kubeconfig', cluster.kubeconfigPath, '-n', NS, 'exec', `deploy/${deployment}`, '--', 'node', '-e', script], { timeout: 30_000 });
  return stdout.trim();
}

test('real node: pods run, Services resolve and route, NetworkPolicy is enforced, teardown leaves nothing', async () => {
  const sysctlsBefore = recordSysctls();
  const guardsBefore = listGuards().map((g) => g.id);
  const cluster = await startTestCluster({ realNode: true, log: (l) => console.log(`  ${l}`) });
  console.log(`  real node ready in ${(cluster.startupMs / 1000).toFixed(1)} s`);
  const pids = Object.values(cluster.pids);
  try {
    assert.ok(cluster.node, 'the cluster has a real node');
    assert.equal(cluster.nodes, ['edge-node']);
    assert.ok(listGuards().some((g) => g.pid === process.pid && !guardsBefore.includes(g.id)), 'the guard is installed');
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const net = kc.makeApiClient(NetworkingV1Api);

    await importLocalImages(cluster.node!, [defaultNodeImage()]);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await waitFor('ServiceAccount', async () => Boolean(await core.readNamespacedServiceAccount({ name: 'default', namespace: NS })), 30_000);
    await apps.createNamespacedDeployment({ namespace: NS, body: nodeDeployment('server', {}, SERVER, 8080) });
    await apps.createNamespacedDeployment({ namespace: NS, body: nodeDeployment('client', {}, IDLE) });
    await apps.createNamespacedDeployment({ namespace: NS, body: nodeDeployment('trusted', { access: 'allowed' }, IDLE) });
    await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'server' }, spec: { selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] } } });
    for (const name of ['server', 'client', 'trusted']) {
      await waitFor(`${name} ready`, async () => ((await apps.readNamespacedDeployment({ name, namespace: NS })).status?.readyReplicas ?? 0) === 1, 90_000, 500);
    }
    const pods = (await core.listNamespacedPod({ namespace: NS })).items;
    for (const pod of pods) assert.ok(pod.status?.podIP?.startsWith('10.244.0.'), `${pod.metadata?.name} has a pod address (${pod.status?.podIP})`);

    const url = 'http://server.pods-test.svc.cluster.local/';
    // kube-proxy and CoreDNS follow the API eventually: an answer may take a few seconds to be right.
    const expect = async (deployment: string, script: string, want: RegExp, what: string) => {
      let got = '';
      await waitFor(what, async () => want.test((got = await execIn(cluster, deployment, script))), 30_000, 1_000).catch(() => {});
      assert.match(got, want, `${what}: got ${JSON.stringify(got)}`);
    };
    await expect('client', LOOKUP('kube-dns.kube-system.svc.cluster.local'), /^OK 10\.96\.0\.10$/, 'CoreDNS answers through its Service');
    await expect('client', FETCH(url), /^OK hello from server-/, 'a Service name resolves through CoreDNS and routes to the pod');
    await expect('client', LOOKUP('example.com'), /^ERR /, 'nothing outside the cluster resolves (CoreDNS has no forward)');

    await net.createNamespacedNetworkPolicy({
      namespace: NS,
      body: {
        metadata: { name: 'server-ingress' },
        spec: { podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Ingress'], ingress: [{ _from: [{ podSelector: { matchLabels: { access: 'allowed' } } }] }] },
      },
    });
    await waitFor('the policy refuses the unlabelled client', async () => /^ERR /.test(await execIn(cluster, 'client', FETCH(url))), 30_000, 500);
    await expect('trusted', FETCH(url), /^OK hello from server-/, 'the allowed client still gets through');
  } finally {
    await cluster.stop();
  }
  for (const pid of pids) assert.not.ok(pidAlive(pid), `process ${pid} is gone`);
  assert.equal(cluster.node!.leftovers(), [], 'no shim, mount, namespace, cgroup, chain, ipset or bridge left');
  assert.equal(listGuards().map((g) => g.id), guardsBefore, 'the guard is removed');
  assert.equal(recordSysctls(), sysctlsBefore, 'sysctls restored');
});

test.run();
