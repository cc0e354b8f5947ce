// CONTRACT TEST of infra=aks (src/kubernetes/aks.ts, steps/infra.ts) against a FAKE ARM endpoint.
//
// Azure cannot be reached from here. test/fakes/arm.ts is a FAKE Azure Resource Manager + Azure AD
// token endpoint that answers as Azure documents; the real @azure/identity and
// @azure/arm-containerservice clients talk to it, and the test asserts what they sent (request
// sequence, api-version, body shape, bearer token) and what the bundle made of the answers.
// Passing here says the bundle and the SDK agree with the documented contract, not that Azure
// accepts this cluster definition.
//
// Why a child process: the Azure SDK sends bearer tokens only over https, so the FAKE serves TLS
// with a throw-away CA made by openssl per run. A child Node started with NODE_EXTRA_CA_CERTS
// trusts that CA for every connection (ARM pipeline and MSAL's own HTTP client alike) without
// weakening TLS in the test process or threading a custom httpClient through two SDKs. The child
// is the same code the bundle step runs: readInputs from the environment, then aksKubeconfigs
// (or infra(), which reads EDGE_ARM_ENDPOINT / EDGE_AZURE_AUTHORITY_HOST).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { $ } from 'zx';
import { FakeArm, type FakeArmFault, type RecordedRequest } from './fakes/arm.js';
import { tempDir, withCleanup, type Cleanup } from './helpers.js';

$.verbose = false;
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIST = new URL('../', import.meta.url);

const TENANT = '72f988bf-0000-4000-8000-00000000fa4e';
const CLIENT = '0f0e0d0c-0000-4000-8000-00000000c1e7';
const SUBSCRIPTION = '5a1b5c41-0000-4000-8000-000000000000';
const SECRET = `fake-secret-${randomUUID()}`;
const RG = 'rg-edge-contract';
const CLUSTER = 'edge-contract';
const IN_PROGRESS_POLLS = 3;

let pki = '';
let cert = '';
let key = '';
let caFile = '';

/** A throw-away CA and a server certificate for 127.0.0.1 signed by it. */
async function makePki(): Promise<void> {
  // node-opcua-crypto (loaded by other suites in this process) can leave OPENSSL_CONF="undefined".
  if (process.env.OPENSSL_CONF === 'undefined') delete process.env.OPENSSL_CONF;
  pki = tempDir('aks-pki');
  caFile = join(pki, 'ca.pem');
  const caKey = join(pki, 'ca.key');
  const srvKey = join(pki, 'server.key');
  const srvCert = join(pki, 'server.pem');
  await $`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj ${'/CN=FAKE ARM contract-test CA'} -keyout ${caKey} -out ${caFile} -addext ${'basicConstraints=critical,CA:TRUE'} -addext ${'keyUsage=critical,keyCertSign,cRLSign'}`;
  await $`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj ${'/CN=127.0.0.1'} -CA ${caFile} -CAkey ${caKey} -keyout ${srvKey} -out ${srvCert} -addext ${'subjectAltName=IP:127.0.0.1'} -addext ${'basicConstraints=critical,CA:FALSE'} -addext ${'keyUsage=critical,digitalSignature'} -addext ${'extendedKeyUsage=serverAuth'}`;
  cert = readFileSync(srvCert, 'utf8');
  key = readFileSync(srvKey, 'utf8');
}

async function startFake(c: Cleanup, fault: FakeArmFault = 'none'): Promise<FakeArm> {
  const fake = await FakeArm.start({ tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET, subscriptionId: SUBSCRIPTION, cert, key, inProgressPolls: IN_PROGRESS_POLLS });
  c.add(() => fake.stop());
  fake.fault = fault;
  return fake;
}

interface ChildResult {
  code: number | null;
  stderr: string;
  stdout: string;
  out: { ok: true; kubeconfigs: Record<string, string>; files: Record<string, { path: string; mode: number; content: string }> } | { ok: false; name?: string; message: string };
}

// The child: the bundle's own input parsing, then either aksKubeconfigs with explicit options or
// infra() (which takes the FAKE's addresses from the environment). It reports the kubeconfig files
// it got (path, mode, content) before exiting, since infra() removes them at exit.
const CHILD = `
import { readFileSync, statSync } from 'node:fs';
const [mode, action, optionsJson] = process.argv.slice(1);
const dist = process.env.EDGE_TEST_DIST_URL;
const { readInputs } = await import(new URL('src/kubernetes/inputs.js', dist).href);
const { aksKubeconfigs } = await import(new URL('src/kubernetes/aks.js', dist).href);
const { infra } = await import(new URL('steps/infra.js', dist).href);
const progress = (m) => process.stderr.write('[edge] ' + m + '\\n');
try {
  const inputs = readInputs(action);
  const kubeconfigs = mode === 'infra' ? await infra(inputs, progress) : await aksKubeconfigs(inputs, progress, JSON.parse(optionsJson));
  const files = {};
  for (const [k, p] of Object.entries(kubeconfigs)) files[k] = { path: p, mode: statSync(p).mode & 0o777, content: readFileSync(p, 'utf8') };
  process.stdout.write(JSON.stringify({ ok: true, kubeconfigs, files }));
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, name: err?.name, message: String(err?.message ?? err) }));
  process.exitCode = 1;
}
`;

interface RunOptions {
  action?: 'install' | 'upgrade' | 'uninstall';
  /** 'aks': aksKubeconfigs with options; 'infra': steps/infra.ts with EDGE_ARM_ENDPOINT etc. */
  via?: 'aks' | 'infra';
  env?: Record<string, string>;
}

async function runChild(c: Cleanup, fake: FakeArm, run: RunOptions = {}): Promise<ChildResult & { tmp: string }> {
  const tmp = c.dir('aks-child');
  const via = run.via ?? 'aks';
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: tmp,
    TMPDIR: tmp,
    NODE_EXTRA_CA_CERTS: caFile,
    NO_PROXY: '127.0.0.1',
    no_proxy: '127.0.0.1',
    EDGE_TEST_DIST_URL: DIST.href,
    EDGE_APP_DIR: REPO,
    EDGE_DEFAULT_TOPOLOGY_FILE: join(REPO, 'src/topology/default-topology.yaml'),
    EDGE_INFRA: 'aks',
    EDGE_AKS_RESOURCE_GROUP: RG,
    EDGE_AKS_CLUSTER_NAME: CLUSTER,
    EDGE_AKS_LOCATION: 'westeurope',
    EDGE_AKS_NODE_COUNT: '2',
    EDGE_AKS_NODE_SIZE: 'Standard_D4s_v5',
    AZURE_CLIENT_ID: CLIENT,
    AZURE_CLIENT_SECRET: SECRET,
    AZURE_TENANT_ID: TENANT,
    AZURE_SUBSCRIPTION_ID: SUBSCRIPTION,
    ...(via === 'infra' ? { EDGE_ARM_ENDPOINT: fake.url, EDGE_AZURE_AUTHORITY_HOST: fake.url } : {}),
    ...run.env,
  };
  const options = JSON.stringify({ armEndpoint: fake.url, authorityHost: fake.url, pollIntervalMs: 20 });
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, via, run.action ?? 'install', options], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  c.add(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not finish in 60 s; stderr:\n${stderr}`)), 60_000);
    child.on('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  let out: ChildResult['out'];
  try {
    out = JSON.parse(stdout) as ChildResult['out'];
  } catch {
    throw new Error(`child printed no JSON (exit ${code}); stdout: ${stdout}\nstderr: ${stderr}`);
  }
  return { code, stdout, stderr, out, tmp };
}

function failure(r: ChildResult): string {
  assert.is(r.out.ok, false, `expected a failure, got ${r.stdout}`);
  assert.is.not(r.code, 0);
  return (r.out as { message: string }).message;
}

const arm = (fake: FakeArm): RecordedRequest[] => fake.requests.filter((r) => r.kind === 'arm' || r.kind === 'operation');
const methods = (fake: FakeArm, method: string): RecordedRequest[] => arm(fake).filter((r) => r.method === method);

function assertOneLine(message: string): void {
  assert.not.match(message, /\n/, 'the message is one line');
  assert.ok(message.length < 600, `the message is short: ${message}`);
}

// ---------------------------------------------------------------------------------------------
const Create = suite('aks CONTRACT TEST against a FAKE ARM endpoint: create, reuse, uninstall');
Create.before(makePki);
Create.after(() => rmSync(pki, { recursive: true, force: true }));

Create('creates the cluster when absent: GET 404, PUT, polls the Azure-AsyncOperation, GET, admin credentials', () =>
  withCleanup(async (c) => {
    const fake = await startFake(c);
    const r = await runChild(c, fake);
    assert.ok(r.out.ok, `install failed: ${r.stdout}\n${r.stderr}`);
    assert.is(r.code, 0);

    // The request sequence the SDK sent, as ARM saw it.
    const polls = Array.from({ length: IN_PROGRESS_POLLS + 1 }, () => 'GET operation');
    assert.equal(fake.armSequence(), [`GET managedClusters/${CLUSTER}`, `PUT managedClusters/${CLUSTER}`, ...polls, `GET managedClusters/${CLUSTER}`, `POST managedClusters/${CLUSTER}/listClusterAdminCredential`]);

    // Azure AD: client credentials for the ARM scope of this endpoint.
    const token = fake.requests.find((q) => q.kind === 'token');
    assert.ok(token, 'a token was requested');
    const form = token!.body as Record<string, string>;
    assert.is(form.grant_type, 'client_credentials');
    assert.is(form.client_id, CLIENT);
    assert.is(form.scope, fake.scope);

    // Every ARM call: api-version and the FAKE's bearer token.
    for (const q of arm(fake)) {
      assert.ok(q.apiVersion && /^\d{4}-\d{2}-\d{2}/.test(q.apiVersion), `api-version on ${q.method} ${q.path}: ${q.apiVersion}`);
      assert.is(q.authorization, `Bearer ${fake.token}`, `bearer token on ${q.method} ${q.path}`);
    }

    // The PUT body.
    const put = methods(fake, 'PUT')[0]!;
    assert.is(put.ifNoneMatch, '*', 'the PUT only creates');
    assert.match(put.contentType ?? '', /application\/json/);
    const body = put.body as { location: string; tags: Record<string, string>; identity: { type: string }; properties: Record<string, unknown> };
    assert.is(body.location, 'westeurope');
    assert.equal(body.tags, { 'app.kubernetes.io/part-of': 'nested-edge' });
    assert.equal(body.identity, { type: 'SystemAssigned' });
    assert.is(body.properties.dnsPrefix, 'edge-contract');
    assert.is(body.properties.kubernetesVersion, undefined, 'the Kubernetes version is left to Azure');
    const pools = body.properties.agentPoolProfiles as Array<Record<string, unknown>>;
    assert.is(pools.length, 1);
    assert.equal({ name: pools[0]!.name, mode: pools[0]!.mode, count: pools[0]!.count, vmSize: pools[0]!.vmSize }, { name: 'system', mode: 'System', count: 2, vmSize: 'Standard_D4s_v5' });
    const net = body.properties.networkProfile as Record<string, unknown>;
    assert.equal({ plugin: net.networkPlugin, mode: net.networkPluginMode, policy: net.networkPolicy }, { plugin: 'azure', mode: 'overlay', policy: 'cilium' });
    assert.is(fake.cluster(RG, CLUSTER)?.properties.provisioningState, 'Succeeded');

    // The kubeconfig: what the FAKE served, mode 0600, under the child's temp dir.
    const file = r.out.files.kubeconfig!;
    assert.equal(Object.keys(r.out.kubeconfigs), ['kubeconfig']);
    assert.is(file.mode, 0o600);
    assert.is(file.content, fake.kubeconfigOf(RG, CLUSTER));
    assert.ok(file.path.startsWith(r.tmp), `kubeconfig under TMPDIR: ${file.path}`);
    assert.ok(r.stderr.includes('creating AKS cluster edge-contract'), r.stderr);
    assert.is(methods(fake, 'DELETE').length, 0);

    // A second install finds it Succeeded and changes nothing.
    const before = fake.requests.length;
    const again = await runChild(c, fake);
    assert.ok(again.out.ok, again.stdout);
    const second = fake.requests.slice(before).filter((q) => q.kind === 'arm' || q.kind === 'operation');
    assert.equal(second.map((q) => q.method), ['GET', 'POST'], 'second install: GET and credentials only, no PUT');
    assert.ok(again.stderr.includes('nothing to change'), again.stderr);
  }),
);

Create('leaves an existing Succeeded cluster alone (no PUT), reports a node count it does not apply; infra() reads EDGE_ARM_ENDPOINT and removes the kubeconfig at exit', () =>
  withCleanup(async (c) => {
    const fake = await startFake(c);
    fake.seedCluster(RG, CLUSTER, { location: 'westeurope', nodeCount: 3 });
    const r = await runChild(c, fake, { via: 'infra', action: 'upgrade' });
    assert.ok(r.out.ok, `upgrade failed: ${r.stdout}\n${r.stderr}`);
    assert.equal(fake.armSequence(), [`GET managedClusters/${CLUSTER}`, `POST managedClusters/${CLUSTER}/listClusterAdminCredential`]);
    assert.is(methods(fake, 'PUT').length, 0);
    assert.match(r.stderr, /aks-node-count is 2 but node pool system has 3 nodes; the bundle does not resize/);
    assert.match(r.stderr, /tag \(it was not created by this bundle\)/);
    const file = r.out.files.kubeconfig!;
    assert.is(file.mode, 0o600);
    assert.is(file.content, fake.kubeconfigOf(RG, CLUSTER));
    assert.not.ok(existsSync(file.path), 'infra() removed the admin kubeconfig when the step ended');
    const pools = fake.cluster(RG, CLUSTER)!.properties.agentPoolProfiles as Array<{ count: number }>;
    assert.is(pools[0]!.count, 3, 'not resized');
  }),
);

Create('uninstall fetches credentials only: no GET-then-PUT, never DELETE', () =>
  withCleanup(async (c) => {
    const fake = await startFake(c);
    fake.seedCluster(RG, CLUSTER, { location: 'westeurope' });
    const r = await runChild(c, fake, { action: 'uninstall', env: { EDGE_AKS_LOCATION: '' } });
    assert.ok(r.out.ok, `uninstall failed: ${r.stdout}\n${r.stderr}`);
    assert.equal(fake.armSequence(), [`POST managedClusters/${CLUSTER}/listClusterAdminCredential`]);
    assert.is(methods(fake, 'DELETE').length, 0);
    assert.ok(fake.cluster(RG, CLUSTER), 'the cluster is still there');
    assert.match(r.stderr, /kept \(deleting a cluster is a user decision outside the bundle\)/);
    assert.is(r.out.files.kubeconfig!.content, fake.kubeconfigOf(RG, CLUSTER));
  }),
);

Create.run();

// ---------------------------------------------------------------------------------------------
const Errors = suite('aks CONTRACT TEST against a FAKE ARM endpoint: errors become one line that says what to fix');
Errors.before(makePki);
Errors.after(() => rmSync(pki, { recursive: true, force: true }));

Errors('403 AuthorizationFailed: names the missing role, the service principal and the resource group', () =>
  withCleanup(async (c) => {
    const fake = await startFake(c, 'forbidden');
    const message = failure(await runChild(c, fake));
    assertOneLine(message);
    assert.match(message, /lacks the Contributor role on resource group rg-edge-contract/);
    assert.ok(message.includes(CLIENT), message);
    assert.ok(message.includes('Microsoft.ContainerService/managedClusters/read'), message);
    assert.ok(message.includes(`--scope /subscriptions/${SUBSCRIPTION}/resourceGroups/${RG}`), message);
    assert.not.ok(message.includes(fake.token), 'no token in the message');
    assert.is(methods(fake, 'PUT').length, 0);
  }),
);

Errors('wrong client secret: names the credential to fix, never the secret, sends nothing to ARM', () =>
  withCleanup(async (c) => {
    const fake = await startFake(c);
    const wrong = `wrong-secret-${randomUUID()}`;
    const r = await runChild(c, fake, { env: { AZURE_CLIENT_SECRET: wrong } });
    const message = failure(r);
    assertOneLine(message);
    assert.match(message, /rejected credential azure-client-secret/);
    assert.match(message, /AADSTS7000215/);
    assert.ok(message.includes(CLIENT), message);
    for (const s of [wrong, SECRET]) {
      assert.not.ok(r.stdout.includes(s), 'secret not in stdout');
      assert.not.ok(r.stderr.includes(s), 'secret not in stderr');
    }
    assert.not.match(message, /Trace ID|Correlation ID/);
    assert.ok(fake.requests.some((q) => q.kind === 'token'), 'the token endpoint was asked');
    assert.is(arm(fake).length, 0, 'no ARM call without a token');
  }),
);

Errors('provisioning ends Failed: the step fails with what happened and what to do', () =>
  withCleanup(async (c) => {
    const fake = await startFake(c, 'provisioning-failed');
    const message = failure(await runChild(c, fake));
    assertOneLine(message);
    assert.match(message, /creating AKS cluster edge-contract in resource group rg-edge-contract failed in Azure: VMExtensionProvisioningError/);
    assert.match(message, /az aks delete -g rg-edge-contract -n edge-contract/);
    assert.is(methods(fake, 'PUT').length, 1);
    assert.is(fake.armSequence().filter((s) => s === 'GET operation').length, IN_PROGRESS_POLLS + 1, 'polled until the operation ended');
    assert.is(fake.cluster(RG, CLUSTER)?.properties.provisioningState, 'Failed');
    assert.is(methods(fake, 'POST').length, 0, 'no credentials of a failed cluster');
  }),
);

Errors('an existing cluster in provisioningState Failed: clear error, no PUT', () =>
  withCleanup(async (c) => {
    const fake = await startFake(c);
    fake.seedCluster(RG, CLUSTER, { location: 'westeurope', provisioningState: 'Failed' });
    const message = failure(await runChild(c, fake));
    assertOneLine(message);
    assert.match(message, /AKS cluster edge-contract in resource group rg-edge-contract is in provisioningState Failed: the bundle does not modify a failed cluster/);
    assert.equal(fake.armSequence(), [`GET managedClusters/${CLUSTER}`]);
  }),
);

Errors('409, quota, invalid parameter and a missing resource group each say what to fix', () =>
  withCleanup(async (c) => {
    const cases: Array<[FakeArmFault, RegExp]> = [
      ['conflict', /another operation is in progress on AKS cluster edge-contract \(OperationNotAllowed\): wait until az aks show/],
      ['quota', /not enough quota in westeurope for 2 x Standard_D4s_v5 \(QuotaExceeded\): request more vCPU quota/],
      ['invalid-parameter', /Azure rejected the cluster definition \(InvalidParameter\): The value of parameter agentPoolProfile\.vmSize is invalid.*check aks-cluster-name, aks-location, aks-node-size/],
      ['resource-group-not-found', /resource group rg-edge-contract does not exist in subscription .*: create it \(az group create -n rg-edge-contract -l westeurope\)/],
    ];
    for (const [fault, expected] of cases) {
      const fake = await startFake(c, fault);
      const message = failure(await runChild(c, fake));
      assertOneLine(message);
      assert.match(message, expected, `${fault}: ${message}`);
      if (fault === 'resource-group-not-found') assert.is(methods(fake, 'PUT').length, 0, 'a 404 for the resource group is not "cluster absent"');
    }
  }),
);

Errors('infra=aks with levels on other credentials is refused before any call to Azure', () =>
  withCleanup(async (c) => {
    const fake = await startFake(c);
    const message = failure(await runChild(c, fake, { env: { EDGE_CLUSTERS: JSON.stringify({ l2: 'kubeconfig', l3: 'kubeconfig-l3' }) } }));
    assert.match(message, /clusters\.l3 uses credential kubeconfig-l3, but with infra=aks every level runs on the one AKS cluster/);
    assert.is(fake.requests.length, 0);
  }),
);

Errors.run();
