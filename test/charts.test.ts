// The Helm charts, with the real helm: `helm dependency build`, `helm lint --strict`, and
// `helm template` whose output is parsed and checked object by object (labels, selectors,
// security contexts, images, Dapr annotations, NetworkPolicies), plus the schema's strictness and
// the `fail` messages of bad values. The minimal values come from the real generators (squid.conf,
// Dapr components, the workload env table, the collector config), so the values contract is
// checked end to end; the collector's release per level comes from the install step's renderer.
// The charts are copied to a temp directory first: the test writes nothing into the work tree.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { toolPath } from '../src/common/tools.js';
import { daprConfiguration, pubsubComponent, resiliencyPolicy } from '../src/config/dapr.js';
import { renderOtelCollectorConfig, type OtelCollectorInput } from '../src/config/otel-collector.js';
import { workloadOtelEnv } from '../src/config/otel-env.js';
import { renderSquidConf } from '../src/config/squid.js';
import { ensureCredentials } from '../src/config/credentials.js';
import { ensureBrokerPki, readPkiMaterial } from '../src/pki/broker-pki.js';
import { childListenerNames, collectorListenerNames, renderDeployment, type LevelRender } from '../src/kubernetes/render.js';
import { usesDapr, type Level, type Workload, type WorkloadType } from '../src/topology/model.js';
import { loadTopology } from '../src/topology/parse.js';
import { workloadEnv } from '../src/topology/workload-env.js';
import { gatewaySinkProblems, renderGatewaySinks } from '../src/kubernetes/gateway-sinks.js';
import type { BundleInputs } from '../src/kubernetes/inputs.js';

const SOURCE = fileURLToPath(new URL('../../charts/', import.meta.url)); // dist/test -> repo/charts
const WORKLOAD_CHARTS: WorkloadType[] = ['temperature-sensor', 'opc-plc', 'opc-publisher', 'data-gateway'];
const APP_CHARTS = ['broker', 'proxy', 'otel-collector', 'dapr-resources', ...WORKLOAD_CHARTS] as const;
type AppChart = (typeof APP_CHARTS)[number];
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const NS = 'edge-l2';

// ---- rendered-object types (the subset checked here) ------------------------------------------
type StringMap = Record<string, string>;
interface Meta {
  name: string;
  namespace?: string;
  labels?: StringMap;
  annotations?: StringMap;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec?: Record<string, unknown>;
  data?: StringMap;
  scopes?: string[];
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: Array<{ name: string; value: string }>;
  ports?: Array<{ name: string; containerPort: number }>;
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; runAsUser?: number; capabilities?: { drop?: string[] } };
  resources?: { requests?: StringMap; limits?: StringMap };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface Volume {
  name: string;
  emptyDir?: object;
  secret?: { secretName: string; defaultMode?: number; items?: Array<{ key: string; path: string }> };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
}
interface PodTemplate {
  metadata: { labels?: StringMap; annotations?: StringMap };
  spec: {
    securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number; seccompProfile?: { type: string } };
    containers: Container[];
    volumes?: Volume[];
  };
}
interface Peer {
  podSelector?: { matchLabels?: StringMap };
  namespaceSelector?: { matchLabels?: StringMap };
  ipBlock?: { cidr: string };
}
interface PolicyRule {
  from?: Peer[];
  to?: Peer[];
  ports?: Array<{ port: string | number; protocol?: string }>;
}
interface NetworkPolicySpec {
  podSelector: { matchLabels: StringMap };
  policyTypes: string[];
  ingress?: PolicyRule[];
  egress?: PolicyRule[];
}

// ---- helm in a temp directory -------------------------------------------------------------------
const helm = toolPath('helm');
const work = mkdtempSync(join(tmpdir(), 'edge-charts-'));
const CHARTS = join(work, 'charts');
let valuesCounter = 0;

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function runHelm(args: string[]): Run {
  const r = spawnSync(helm, args, {
    cwd: work,
    encoding: 'utf8',
    timeout: 60_000,
    // helm's own config, cache and data stay in the temp directory too
    env: { ...process.env, HELM_CACHE_HOME: join(work, 'helm', 'cache'), HELM_CONFIG_HOME: join(work, 'helm', 'config'), HELM_DATA_HOME: join(work, 'helm', 'data') },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function valuesFile(values: unknown): string {
  const file = join(work, `values-${++valuesCounter}.yaml`);
  writeFileSync(file, yaml.dump(values, { lineWidth: -1, noRefs: true }));
  return file;
}

function templateArgs(chart: string, values: unknown, release: string, extra: string[]): string[] {
  return ['template', release, join(CHARTS, chart), '--namespace', NS, '-f', valuesFile(values), ...extra];
}

function render(chart: string, values: unknown, release = `rel-${chart}`, extra: string[] = []): K8sObject[] {
  const r = runHelm(templateArgs(chart, values, release, extra));
  assert.is(r.status, 0, `helm template ${chart} failed:\n${r.stderr}`);
  return yaml.loadAll(r.stdout).filter((d): d is K8sObject => d !== null && typeof d === 'object');
}

/** The error of a render that must fail. */
function renderError(chart: string, values: unknown, extra: string[] = []): string {
  const r = runHelm(templateArgs(chart, values, `rel-${chart}`, extra));
  assert.is.not(r.status, 0, `helm template ${chart} should have failed, rendered:\n${r.stdout.slice(0, 400)}`);
  return r.stderr;
}

function only(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  assert.is(found.length, 1, `expected one ${kind}, got ${found.length}: ${objects.map((o) => o.kind).join(', ')}`);
  return found[0]!;
}

function podTemplate(o: K8sObject): PodTemplate {
  return (o.spec as { template: PodTemplate }).template;
}

function mainContainer(objects: K8sObject[]): Container {
  const owner = objects.find((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
  assert.ok(owner, 'a Deployment or StatefulSet');
  return podTemplate(owner).spec.containers[0]!;
}

function envOf(c: Container): StringMap {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
}

function daprAnnotations(o: K8sObject): StringMap {
  return Object.fromEntries(Object.entries(podTemplate(o).metadata.annotations ?? {}).filter(([k]) => k.startsWith('dapr.io/')));
}

// ---- minimal values, from the generators --------------------------------------------------------
const topology = loadTopology();

function placed(type: WorkloadType): { level: Level; workload: Workload } {
  for (const level of topology.levels) {
    const workload = level.workloads.find((w) => w.type === type);
    if (workload) return { level, workload };
  }
  throw new Error(`the default topology places no ${type}`);
}

const squidConf = renderSquidConf({
  levelName: 'l3',
  bindAddress: '0.0.0.0',
  port: 3128,
  parent: { host: 'rel-proxy.edge-l4.svc', port: 3128 },
  allowDomains: ['.servicebus.windows.net'],
  connectPorts: [443, 5671],
  clientCidrs: ['10.0.0.0/8'],
  paths: { pidFile: '/var/run/squid.pid', accessLog: '/dev/stdout', cacheLog: '/dev/stderr', coredumpDir: '/var/spool/squid' },
});

/** A middle level's collector as the install step lays it out on Kubernetes (see the renderer test below). */
const TLS_DIR = '/etc/otelcol-tls';
const collectorInput = (level: string, parent: string | undefined, children: boolean): OtelCollectorInput => ({
  levelName: level,
  bindAddress: '0.0.0.0',
  ports: { grpc: 4317, http: 4318 },
  ...(parent
    ? { parent: { host: `otel-collector.edge-${parent}.svc.cluster.local`, grpcPort: 4319, tls: { ca: `${TLS_DIR}/trust.crt`, cert: `${TLS_DIR}/client.crt`, key: `${TLS_DIR}/client.key` } } }
    : { top: { file: '/var/lib/otelcol/telemetry.jsonl' } }),
  ...(children ? { children: { hosts: ['0.0.0.0'], port: 4319, tls: { ca: `${TLS_DIR}/trust.crt`, cert: `${TLS_DIR}/server.crt`, key: `${TLS_DIR}/server.key` } } } : {}),
  selfMetrics: { host: '0.0.0.0', port: 8888 },
  memoryLimitMiB: 200,
});
const collectorYaml = renderOtelCollectorConfig(collectorInput('l3', 'l4', true));

const publishedNodes = JSON.stringify([
  { EndpointUrl: 'opc.tcp://rel-opc-plc:50000', UseSecurity: false, OpcNodes: [{ Id: 'nsu=urn:nested-edge:opc-plc;s=FastUInt1', OpcSamplingInterval: 1000 }] },
]);

function minimalValues(chart: AppChart): Record<string, unknown> {
  switch (chart) {
    case 'broker':
      return { level: { name: 'l2' }, config: { existingSecret: 'l2-broker-config' } };
    case 'proxy':
      return { level: { name: 'l3' }, config: { squidConf } };
    case 'otel-collector':
      return { level: { name: 'l3', parent: 'l4' }, config: { collectorYaml }, tls: { existingSecret: 'otel-collector-tls' }, networkPolicy: { parentNamespace: 'edge-l4' } };
    case 'dapr-resources':
      return {
        level: { name: 'l2' },
        resources: [
          pubsubComponent({ componentName: 'pubsub-ts', appId: 'ts', urlSecret: { name: 'l2-broker-url-ts', key: 'url' } }),
          resiliencyPolicy('pubsub-ts', 'ts'),
          { apiVersion: 'dapr.io/v1alpha1', kind: 'Configuration', metadata: { name: 'edge-tracing' }, spec: { tracing: { samplingRate: '1' } } },
        ],
      };
    default: {
      const { level, workload } = placed(chart);
      const values: Record<string, unknown> = { level: { name: level.name }, env: workloadEnv(workload) };
      if (chart === 'opc-publisher') values.publishedNodes = publishedNodes;
      // As render.ts does: the chart sets OPC_PORT from opc.port, so the two must agree.
      if (chart === 'opc-plc' && typeof workload.config.port === 'number') values.opc = { port: workload.config.port };
      return values;
    }
  }
}

function levelOf(chart: AppChart): string {
  return (minimalValues(chart).level as { name: string }).name;
}

function withValues(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(patch)) {
    const cur = out[k];
    out[k] = cur && typeof cur === 'object' && !Array.isArray(cur) && v && typeof v === 'object' && !Array.isArray(v) ? withValues(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

// ---- setup ----------------------------------------------------------------------------------------
test.before(() => {
  // the packaged library is never taken from the work tree: `helm dependency build` makes it
  cpSync(SOURCE, CHARTS, { recursive: true, filter: (src) => !src.endsWith('.tgz') });
});

test.after(() => {
  rmSync(work, { recursive: true, force: true });
});

// ---- tests ---------------------------------------------------------------------------------------
test('helm dependency build vendors the edge-workload library offline for every workload chart', () => {
  for (const chart of WORKLOAD_CHARTS) {
    const r = runHelm(['dependency', 'build', join(CHARTS, chart)]);
    assert.is(r.status, 0, `${chart}: ${r.stderr}`);
    assert.ok(existsSync(join(CHARTS, chart, 'charts', 'edge-workload-0.1.0.tgz')), `${chart}: the library archive`);
    const meta = yaml.load(readFileSync(join(CHARTS, chart, 'Chart.yaml'), 'utf8')) as { dependencies?: Array<{ name: string; version: string; repository: string }> };
    assert.equal(meta.dependencies, [{ name: 'edge-workload', version: '0.1.0', repository: 'file://../edge-workload' }]);
  }
  const lib = yaml.load(readFileSync(join(CHARTS, 'edge-workload', 'Chart.yaml'), 'utf8')) as { type?: string };
  assert.is(lib.type, 'library');
});

test('every chart passes helm lint --strict with minimal values', () => {
  for (const chart of APP_CHARTS) {
    const r = runHelm(['lint', '--strict', join(CHARTS, chart), '-f', valuesFile(minimalValues(chart))]);
    assert.is(r.status, 0, `${chart}:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.not.match(r.stdout, /\[(WARNING|ERROR)\]/, `${chart}:\n${r.stdout}`);
  }
  const lib = runHelm(['lint', '--strict', join(CHARTS, 'edge-workload')]);
  assert.is(lib.status, 0, lib.stdout + lib.stderr);
});

test('every chart is apiVersion v2, version 0.1.0 with an appVersion, and has the standard files', () => {
  for (const chart of [...APP_CHARTS, 'edge-workload']) {
    const meta = yaml.load(readFileSync(join(CHARTS, chart, 'Chart.yaml'), 'utf8')) as { apiVersion: string; version: string; appVersion?: string };
    assert.is(meta.apiVersion, 'v2', chart);
    assert.is(meta.version, '0.1.0', chart);
    assert.ok(meta.appVersion, `${chart}: appVersion`);
    assert.ok(existsSync(join(CHARTS, chart, 'templates', '_helpers.tpl')), `${chart}: _helpers.tpl`);
    if (chart !== 'edge-workload') {
      for (const f of ['values.yaml', 'values.schema.json', 'templates/NOTES.txt']) assert.ok(existsSync(join(CHARTS, chart, f)), `${chart}: ${f}`);
      const helpers = readFileSync(join(CHARTS, chart, 'templates', '_helpers.tpl'), 'utf8');
      for (const h of ['name', 'fullname', 'chart', 'labels', 'selectorLabels']) assert.ok(helpers.includes(`define "${chart}.${h}"`), `${chart}: helper ${chart}.${h}`);
    }
  }
});

test('every object carries the standard labels and part-of; selectors use only name and instance', () => {
  for (const chart of APP_CHARTS) {
    const release = `rel-${chart}`;
    const objects = render(chart, minimalValues(chart), release);
    assert.ok(objects.length > 0, chart);
    const selector = { 'app.kubernetes.io/name': chart, 'app.kubernetes.io/instance': release };
    for (const o of objects) {
      const where = `${chart}: ${o.kind}/${o.metadata.name}`;
      const labels = o.metadata.labels ?? {};
      assert.is(labels['app.kubernetes.io/name'], chart, where);
      assert.is(labels['app.kubernetes.io/instance'], release, where);
      assert.ok(labels['app.kubernetes.io/version'], `${where}: version`);
      assert.is(labels['app.kubernetes.io/managed-by'], 'Helm', where);
      assert.is(labels['helm.sh/chart'], `${chart}-0.1.0`, where);
      assert.is(labels['app.kubernetes.io/part-of'], 'nested-edge', where);
      assert.is(labels['edge.example/level'], levelOf(chart), where);
      assert.is(o.metadata.namespace, NS, `${where}: namespace`);
      const spec = o.spec ?? {};
      if (o.kind === 'Deployment' || o.kind === 'StatefulSet') {
        assert.equal((spec.selector as { matchLabels: StringMap }).matchLabels, selector, `${where}: selector`);
        const podLabels = podTemplate(o).metadata.labels ?? {};
        for (const [k, v] of Object.entries(selector)) assert.is(podLabels[k], v, `${where}: pod label ${k}`);
        assert.is(podLabels['app.kubernetes.io/part-of'], 'nested-edge', `${where}: pod part-of`);
      }
      if (o.kind === 'Service') assert.equal(spec.selector, selector, `${where}: selector`);
      if (o.kind === 'NetworkPolicy') assert.equal((spec as unknown as NetworkPolicySpec).podSelector.matchLabels, selector, `${where}: podSelector`);
    }
  }
});

test('pods run non-root with a read-only root filesystem, no capabilities, and bounded resources', () => {
  for (const chart of APP_CHARTS) {
    for (const o of render(chart, minimalValues(chart)).filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
      const where = `${chart}: ${o.kind}/${o.metadata.name}`;
      const pod = podTemplate(o).spec;
      assert.is(pod.securityContext?.runAsNonRoot, true, where);
      // A workload sets its user on its own container (an injected daprd keeps its image's).
      const user = pod.securityContext?.runAsUser ?? pod.containers[0]?.securityContext?.runAsUser ?? 0;
      assert.ok(user > 0, `${where}: runAsUser`);
      assert.type(pod.securityContext?.fsGroup, 'number', `${where}: fsGroup`);
      assert.is(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', where);
      for (const c of pod.containers) {
        assert.is(c.securityContext?.allowPrivilegeEscalation, false, `${where} ${c.name}`);
        assert.is(c.securityContext?.readOnlyRootFilesystem, true, `${where} ${c.name}`);
        assert.ok(c.securityContext?.capabilities?.drop?.includes('ALL'), `${where} ${c.name}: drop ALL`);
        for (const kind of ['requests', 'limits'] as const) {
          assert.ok(c.resources?.[kind]?.cpu && c.resources[kind]?.memory, `${where} ${c.name}: ${kind}`);
        }
      }
    }
  }
  assert.is(podTemplate(only(render('broker', minimalValues('broker')), 'StatefulSet')).spec.securityContext?.runAsUser, 1883);
  assert.is(podTemplate(only(render('proxy', minimalValues('proxy')), 'Deployment')).spec.securityContext?.runAsUser, 13);
  assert.is(podTemplate(only(render('otel-collector', minimalValues('otel-collector')), 'Deployment')).spec.securityContext?.runAsUser, 10001);
});

test('a digest wins over the tag; the tag defaults as documented', () => {
  const expected: Record<string, string> = {
    broker: 'eclipse-mosquitto:2.0.22',
    proxy: 'ubuntu/squid:6.10-24.10_beta',
    'otel-collector': 'ghcr.io/nested-edge/otel-collector:0.165.0-edge',
    ...Object.fromEntries(WORKLOAD_CHARTS.map((c) => [c, `ghcr.io/nested-edge/${c}:0.1.0`])),
  };
  for (const chart of APP_CHARTS.filter((c) => c !== 'dapr-resources')) {
    assert.is(mainContainer(render(chart, minimalValues(chart))).image, expected[chart], chart);
    const relocated = withValues(minimalValues(chart), { image: { repository: 'registry.plant.local/edge/x', tag: '9.9.9', digest: DIGEST } });
    assert.is(mainContainer(render(chart, relocated)).image, `registry.plant.local/edge/x@${DIGEST}`, chart);
  }
  const err = renderError('broker', withValues(minimalValues('broker'), { image: { digest: 'latest' } }));
  assert.match(err, /digest/);
});

test('missing required values fail with a clear message', () => {
  assert.match(renderError('broker', { level: { name: 'l2' } }), /config\.existingSecret is required: the Secret \(keys mosquitto\.conf, passwd, acl\)/);
  assert.match(renderError('proxy', { level: { name: 'l3' } }), /config\.squidConf is required/);
  assert.match(renderError('otel-collector', { level: { name: 'l3' } }), /config\.collectorYaml is required: the collector configuration that the install step renders/);
  assert.match(renderError('opc-publisher', { level: { name: 'l2' } }), /publishedNodes is required/);
  for (const chart of APP_CHARTS) {
    const values = minimalValues(chart);
    delete values.level;
    assert.match(renderError(chart, values), new RegExp(`${chart}: level\\.name is required: the ISA-95 level`), chart);
  }
});

test('a value the schema does not know is rejected, at the top and nested', () => {
  for (const chart of APP_CHARTS) {
    const err = renderError(chart, { ...minimalValues(chart), replicas: 3 });
    assert.match(err, /additional properties 'replicas' not allowed/, chart);
    const nested = renderError(chart, withValues(minimalValues(chart), { level: { nmae: 'l2' } }));
    assert.match(nested, /additional properties 'nmae' not allowed/, chart);
  }
  for (const chart of WORKLOAD_CHARTS) {
    assert.match(renderError(chart, withValues(minimalValues(chart), { dapr: { appport: 1 } })), /'appport' not allowed/, chart);
    assert.match(renderError(chart, withValues(minimalValues(chart), { resources: { limits: { gpu: '1' } } })), /'gpu' not allowed/, chart);
    // env values are strings: a number is an error, not a silent conversion
    assert.match(renderError(chart, withValues(minimalValues(chart), { env: { SENSOR_COUNT: 5 } })), /SENSOR_COUNT/, chart);
  }
  assert.match(renderError('broker', withValues(minimalValues('broker'), { networkPolicy: { childCIDRs: ['10.0.0.0'] } })), /childCIDRs/);
});

test('every schema is strict: each object level closes additionalProperties (open only for passed-through API objects)', () => {
  for (const chart of APP_CHARTS) {
    const schema = JSON.parse(readFileSync(join(CHARTS, chart, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
    assert.is(schema.$schema, 'http://json-schema.org/draft-07/schema#', chart);
    const problems: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      if (n.type === 'object') {
        const ap = n.additionalProperties;
        const closed = ap === false || (typeof ap === 'object' && ap !== null);
        const documentedOpen = ap === true && typeof n.$comment === 'string';
        if (!closed && !documentedOpen) problems.push(`${path}: additionalProperties is ${JSON.stringify(ap)}`);
      }
      for (const [k, v] of Object.entries(n)) walk(v, `${path}/${k}`);
    };
    walk(schema, chart);
    assert.equal(problems, [], problems.join('\n'));
    assert.is(schema.additionalProperties, false, chart);
  }
  // the four workload charts share one contract: their common parts must not drift apart
  const schemas = WORKLOAD_CHARTS.map((c) => JSON.parse(readFileSync(join(CHARTS, c, 'values.schema.json'), 'utf8')) as { properties: Record<string, unknown>; definitions: unknown });
  for (const s of schemas.slice(1)) {
    assert.equal(s.definitions, schemas[0]!.definitions);
    for (const key of ['level', 'appId', 'image', 'env', 'dapr', 'health', 'podSecurityContext', 'resources', 'podLabels']) assert.equal(s.properties[key], schemas[0]!.properties[key], key);
  }
});

test('every value is documented with a ## @param, and every @param names a value', () => {
  for (const chart of APP_CHARTS) {
    const text = readFileSync(join(CHARTS, chart, 'values.yaml'), 'utf8');
    const params = new Set([...text.matchAll(/^\s*## @param (\S+) \S/gm)].map((m) => m[1]!));
    const paths: string[] = [];
    const walk = (v: unknown, path: string): void => {
      if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && !params.has(path)) {
        for (const [k, child] of Object.entries(v)) walk(child, path ? `${path}.${k}` : k);
      } else paths.push(path);
    };
    walk(yaml.load(text), '');
    const undocumented = paths.filter((p) => !params.has(p));
    assert.equal(undocumented, [], `${chart}: undocumented values`);
    const stale = [...params].filter((p) => !paths.includes(p));
    assert.equal(stale, [], `${chart}: @param without a value`);
  }
});

test('Dapr annotations and the broker-client label follow dapr.*; defaults match the topology model', () => {
  for (const chart of WORKLOAD_CHARTS) {
    const deployment = only(render(chart, minimalValues(chart), 'edge-l2-w'), 'Deployment');
    const annotations = daprAnnotations(deployment);
    const labels = podTemplate(deployment).metadata.labels ?? {};
    if (usesDapr(chart)) {
      const expected: StringMap = { 'dapr.io/enabled': 'true', 'dapr.io/app-id': 'edge-l2-w', 'dapr.io/config': 'edge-tracing', 'dapr.io/log-level': 'info', 'dapr.io/enable-metrics': 'true' };
      if (chart === 'data-gateway') expected['dapr.io/app-port'] = '3000';
      assert.equal(annotations, expected, chart);
      assert.is(labels['edge.example/broker-client'], 'true', chart);
    } else {
      assert.equal(annotations, {}, chart);
      assert.is(labels['edge.example/broker-client'], undefined, chart);
    }
  }
  const custom = only(
    render('temperature-sensor', withValues(minimalValues('temperature-sensor'), { appId: 'ts-7', dapr: { sidecarImage: `registry.plant.local/daprio/daprd@${DIGEST}`, logLevel: 'debug', config: '', enableMetrics: false } })),
    'Deployment',
  );
  assert.equal(daprAnnotations(custom), {
    'dapr.io/enabled': 'true',
    'dapr.io/app-id': 'ts-7',
    'dapr.io/log-level': 'debug',
    'dapr.io/enable-metrics': 'false',
    'dapr.io/sidecar-image': `registry.plant.local/daprio/daprd@${DIGEST}`,
  });
  const off = only(render('temperature-sensor', withValues(minimalValues('temperature-sensor'), { dapr: { enabled: false } })), 'Deployment');
  assert.equal(daprAnnotations(off), {});
  assert.match(renderError('temperature-sensor', withValues(minimalValues('temperature-sensor'), { podAnnotations: { 'dapr.io/app-port': '1' } })), /Dapr annotations come from the dapr\.\* values/);
  assert.match(renderError('temperature-sensor', withValues(minimalValues('temperature-sensor'), { health: { port: 3500 } })), /health\.port 3500 is taken by the Dapr sidecar/);
  assert.match(renderError('data-gateway', withValues(minimalValues('data-gateway'), { dapr: { appPort: 8080 } })), /dapr\.appPort and health\.port are both 8080/);
});

test('the environment holds the fixed names, the topology settings as strings, and nothing conflicting', () => {
  for (const chart of WORKLOAD_CHARTS) {
    const { workload } = placed(chart);
    const c = mainContainer(render(chart, minimalValues(chart), 'w1'));
    const env = envOf(c);
    assert.is(env.EDGE_SOURCE, 'w1', chart);
    assert.is(env.EDGE_LEVEL, levelOf(chart), chart);
    assert.is(env.DAPR_HTTP_PORT, '3500', chart);
    assert.is(env.PUBSUB_NAME, 'pubsub-w1', chart);
    assert.is(env.HEALTH_PORT, '8080', chart);
    for (const [k, v] of Object.entries(workloadEnv(workload))) assert.is(env[k], v, `${chart}: ${k} from the topology`);
    assert.ok(c.volumeMounts?.some((m) => m.mountPath === '/tmp'), `${chart}: writable /tmp`);
    const probes = [c.livenessProbe, c.readinessProbe];
    if (chart === 'opc-plc') assert.ok(probes.every((p) => p?.tcpSocket?.port === 'opcua'), chart);
    else assert.equal(probes.map((p) => p?.httpGet?.path), ['/healthz', '/readyz'], chart);
  }
  const named = envOf(mainContainer(render('temperature-sensor', withValues(minimalValues('temperature-sensor'), { dapr: { pubsubName: 'pubsub-shared' } }))));
  assert.is(named.PUBSUB_NAME, 'pubsub-shared');
  assert.match(renderError('temperature-sensor', withValues(minimalValues('temperature-sensor'), { env: { EDGE_LEVEL: 'l9' } })), /env\.EDGE_LEVEL is "l9" but the chart sets it to "l2"/);
});

test('opc-plc serves OPC UA on opc.port; opc-publisher reads publishednodes.json from a ConfigMap', () => {
  const plc = render('opc-plc', { ...minimalValues('opc-plc'), opc: { port: 4840 }, env: {} }, 'plc');
  const svc = only(plc, 'Service');
  assert.equal((svc.spec as { ports: unknown }).ports, [{ name: 'opcua', port: 4840, targetPort: 'opcua', protocol: 'TCP' }]);
  const env = envOf(mainContainer(plc));
  assert.equal([env.OPC_PORT, env.OPC_HOSTNAME, env.OPC_BIND_HOST], ['4840', 'plc-opc-plc', '0.0.0.0']);
  assert.ok(mainContainer(plc).ports?.some((p) => p.name === 'opcua' && p.containerPort === 4840));

  const pub = render('opc-publisher', minimalValues('opc-publisher'), 'pub');
  const cm = only(pub, 'ConfigMap');
  assert.equal(JSON.parse(cm.data?.['publishednodes.json'] ?? ''), JSON.parse(publishedNodes));
  const deployment = only(pub, 'Deployment');
  const c = mainContainer(pub);
  assert.is(envOf(c).PUBLISHED_NODES_FILE, '/config/publishednodes.json');
  const mount = c.volumeMounts?.find((m) => m.mountPath === '/config');
  const volume = podTemplate(deployment).spec.volumes?.find((v) => v.name === mount?.name);
  assert.is(volume?.configMap?.name, cm.metadata.name);
  assert.ok(podTemplate(deployment).metadata.annotations?.['checksum/published-nodes'], 'a nodes change rolls the pod');
  // the document itself (not a string) is accepted too
  const asArray = render('opc-publisher', withValues(minimalValues('opc-publisher'), { publishedNodes: JSON.parse(publishedNodes) }));
  assert.equal(JSON.parse(only(asArray, 'ConfigMap').data?.['publishednodes.json'] ?? ''), JSON.parse(publishedNodes));
  assert.match(renderError('opc-publisher', withValues(minimalValues('opc-publisher'), { publishedNodes: '{not json' })), /publishedNodes is not a JSON array/);
});

test('data-gateway: Recreate strategy, a ReadWriteOnce claim at /data, APP_PORT from dapr.appPort', () => {
  const objects = render('data-gateway', withValues(minimalValues('data-gateway'), { persistence: { size: '5Gi', storageClass: 'local-path' } }), 'gw');
  const deployment = only(objects, 'Deployment');
  assert.equal((deployment.spec as { strategy: unknown }).strategy, { type: 'Recreate' });
  const pvc = only(objects, 'PersistentVolumeClaim');
  assert.equal(pvc.spec, { accessModes: ['ReadWriteOnce'], storageClassName: 'local-path', resources: { requests: { storage: '5Gi' } } });
  assert.is(pvc.metadata.annotations, undefined, 'deleted with the release unless persistence.keep');
  const c = mainContainer(objects);
  const mount = c.volumeMounts?.find((m) => m.mountPath === '/data');
  const volume = podTemplate(deployment).spec.volumes?.find((v) => v.name === mount?.name);
  assert.is(volume?.persistentVolumeClaim?.claimName, pvc.metadata.name);
  const env = envOf(c);
  assert.equal([env.APP_PORT, env.GATEWAY_SINK_FILE], ['3000', '/data/sink.jsonl']);
  assert.ok(c.ports?.some((p) => p.name === 'app' && p.containerPort === 3000));

  const kept = only(render('data-gateway', withValues(minimalValues('data-gateway'), { persistence: { keep: true } })), 'PersistentVolumeClaim');
  assert.is(kept.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
  const ephemeral = render('data-gateway', withValues(minimalValues('data-gateway'), { persistence: { enabled: false } }));
  assert.ok(!ephemeral.some((o) => o.kind === 'PersistentVolumeClaim'));
  assert.ok(podTemplate(only(ephemeral, 'Deployment')).spec.volumes?.some((v) => v.name === 'data' && v.emptyDir));
  assert.match(renderError('data-gateway', withValues(minimalValues('data-gateway'), { dapr: { appPort: 0 } })), /dapr\.appPort must be > 0/);
  // the other workloads replace their one pod without overlap (one MQTT client id)
  const ts = only(render('temperature-sensor', minimalValues('temperature-sensor')), 'Deployment');
  assert.equal((ts.spec as { strategy: unknown; replicas: number }).strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
  assert.is((ts.spec as { replicas: number }).replicas, 1);
});

test('data-gateway: the sink selection from values; the PostgreSQL and session URLs only through secretKeyRef; credentials in values refused', () => {
  const gw = (patch: Record<string, unknown>) => withValues(minimalValues('data-gateway'), patch);
  assert.is(envOf(mainContainer(render('data-gateway', minimalValues('data-gateway')))).GATEWAY_SINKS, 'file', 'file by default');
  const c = mainContainer(render('data-gateway', gw({ sinks: ['file', 'postgresql'], postgresql: { urlSecret: { name: 'gw-postgres', key: 'url' } } }), 'gw'));
  assert.is(envOf(c).GATEWAY_SINKS, 'file,postgresql');
  const pgEnv = (c.env as Array<{ name: string; value?: string; valueFrom?: unknown }>).find((e) => e.name === 'GATEWAY_PG_URL');
  assert.equal(pgEnv, { name: 'GATEWAY_PG_URL', valueFrom: { secretKeyRef: { name: 'gw-postgres', key: 'url' } } }, 'from the Secret, no value');
  assert.match(renderError('data-gateway', gw({ sinks: ['postgresql'] })), /sinks has postgresql: set postgresql\.urlSecret\.name .* the Secret holding the postgres:\/\/ URL/);
  assert.not.ok(envOf(c).GATEWAY_SESSION_BROKER_URL, 'no session release unless its Secret is named');
  const released = mainContainer(render('data-gateway', gw({ sessionRelease: { urlSecret: { name: 'broker-url-gw', key: 'url' } } }), 'gw'));
  const sessionEnv = (released.env as Array<{ name: string; value?: string; valueFrom?: unknown }>).find((e) => e.name === 'GATEWAY_SESSION_BROKER_URL');
  assert.equal(sessionEnv, { name: 'GATEWAY_SESSION_BROKER_URL', valueFrom: { secretKeyRef: { name: 'broker-url-gw', key: 'url' } } }, 'the sidecar URL from its Secret, no value');
  for (const name of ['GATEWAY_PG_URL', 'PGPASSWORD', 'GATEWAY_SESSION_BROKER_URL']) {
    assert.match(renderError('data-gateway', gw({ env: { [name]: 'postgres://u:pw@h/db' } })), new RegExp(`env\\.${name} would put a credential in the Helm values: name the Secret`));
  }
  assert.match(renderError('data-gateway', gw({ sinks: ['file', 'kafka'] })), /sinks\/1.*value must be one of 'file', 'postgresql', 'eventhubs'/);
  assert.match(renderError('data-gateway', gw({ sinks: [] })), /sinks.*minimum 1 items|sinks.*minItems/i);
  assert.match(renderError('data-gateway', gw({ sinks: ['file', 'file'] })), /sinks'?: items at 0 and 1 are equal/);
  assert.match(renderError('data-gateway', gw({ env: { GATEWAY_SINKS: 'postgresql' } })), /env\.GATEWAY_SINKS is "postgresql" but the chart sets it to "file"/);
});

test('the gateway\'s stores as the install step renders them: each credential only in its Secret, never in values or any rendered object', () => {
  const pgUrl = 'postgres://edge:pg-Secret-123@db.plant.local:5432/telemetry';
  const ehcs = 'Endpoint=sb://plant.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=eh-Secret-456=;EntityPath=telemetry';
  const inputs = { sinks: 'file,postgresql,eventhubs', postgresUrl: pgUrl, eventHubsConnectionString: ehcs } as BundleInputs;
  const { workload } = placed('data-gateway');
  assert.equal(gatewaySinkProblems(loadTopology(), inputs), []);
  const r = renderGatewaySinks(inputs, workload);
  assert.equal(r.secrets, [
    { name: 'data-gateway-postgres', stringData: { url: pgUrl } },
    { name: 'data-gateway-eventhubs', stringData: { connectionString: ehcs } },
  ]);
  const gatewayValues = withValues(minimalValues('data-gateway'), { ...r.values, env: r.env });
  const daprValues = { level: { name: 'l4' }, resources: r.resources };
  const rendered = runHelm(templateArgs('data-gateway', gatewayValues, 'data-gateway', [])).stdout + runHelm(templateArgs('dapr-resources', daprValues, 'dr', [])).stdout;
  const text = `${JSON.stringify(gatewayValues)}\n${JSON.stringify(daprValues)}\n${rendered}`;
  assert.ok(rendered.includes('kind: Deployment') && rendered.includes('bindings.azure.eventhubs'), rendered);
  for (const secret of [pgUrl, ehcs, 'pg-Secret-123', 'eh-Secret-456']) assert.not.ok(text.includes(secret), `a credential leaked into values or a rendered object: ${secret}`);
  const binding = render('dapr-resources', daprValues).find((o) => (o.spec as { type?: string } | undefined)?.type === 'bindings.azure.eventhubs')!;
  assert.equal((binding.spec as { metadata: unknown[] }).metadata[0], { name: 'connectionString', secretKeyRef: { name: 'data-gateway-eventhubs', key: 'connectionString' } });
  const resiliency = render('dapr-resources', daprValues).find((o) => o.kind === 'Resiliency')!;
  const spec = resiliency.spec as { targets: { components: Record<string, { outbound: Record<string, string> }> }; policies: { retries: Record<string, { policy: string }>; circuitBreakers: Record<string, { trip: string }> } };
  assert.equal(spec.targets.components.eventhubs?.outbound, { retry: 'sinkRetry', circuitBreaker: 'sinkBreaker', timeout: 'sinkTimeout' }, 'retries and a circuit breaker for the binding');
  assert.is(spec.policies.retries.sinkRetry?.policy, 'exponential');
  assert.match(spec.policies.circuitBreakers.sinkBreaker?.trip ?? '', /consecutiveFailures/);

  // Missing or malformed credentials are refused, with what to do, and never echoed.
  const missing = gatewaySinkProblems(loadTopology(), { sinks: 'postgresql,eventhubs' } as BundleInputs).join('\n');
  assert.match(missing, /supply the postgres-url credential .* then run the action again/);
  assert.match(missing, /supply the eventhubs-connection-string credential/);
  const wrong = gatewaySinkProblems(loadTopology(), { sinks: 'postgresql,eventhubs', postgresUrl: 'mysql://u:pw-XYZ@h/d', eventHubsConnectionString: 'Endpoint=sb://x/;SharedAccessKey=k-XYZ' } as BundleInputs).join('\n');
  assert.match(wrong, /postgres-url must be a postgres:\/\/ or postgresql:\/\/ URL/);
  assert.match(wrong, /eventhubs-connection-string must look like .*EntityPath=<hub>/);
  assert.not.match(wrong, /XYZ/);
  assert.match(gatewaySinkProblems(loadTopology(), { sinks: 'file,s3' } as BundleInputs).join(), /parameter sinks: sinks: unknown sink "s3"/);
});

test('broker: one StatefulSet pod on the config Secret (config and TLS files), a data claim, a checksum that rolls it', () => {
  const values = withValues(minimalValues('broker'), { config: { checksum: 'sha256:feedface' }, persistence: { size: '2Gi' } });
  const objects = render('broker', values, 'b');
  const sts = only(objects, 'StatefulSet');
  const spec = sts.spec as { replicas: number; serviceName: string; volumeClaimTemplates: Array<{ metadata: Meta; spec: Record<string, unknown> }> };
  assert.is(spec.replicas, 1);
  const pod = podTemplate(sts);
  assert.is(pod.metadata.annotations?.['checksum/config'], 'sha256:feedface');
  const c = pod.spec.containers[0]!;
  assert.equal(c.command, ['mosquitto', '-c', '/mosquitto/config/mosquitto.conf']);
  const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
  assert.equal(mounts['/mosquitto/config'], { name: 'config', mountPath: '/mosquitto/config', readOnly: true });
  assert.is(mounts['/mosquitto/data']?.name, 'data');
  const volumes = Object.fromEntries((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  assert.is(volumes.config?.secret?.secretName, 'l2-broker-config');
  assert.is(volumes.config?.secret?.items, undefined, 'every key of the Secret is a file: config, passwd, acl and the TLS files');
  assert.is(volumes.config?.secret?.defaultMode, 0o440, 'readable through fsGroup, by no one else');
  assert.is(volumes.data, undefined, 'data comes from the claim template');
  assert.is(spec.volumeClaimTemplates.length, 1);
  const claim = spec.volumeClaimTemplates[0]!;
  assert.is(claim.metadata.name, 'data');
  assert.equal(claim.spec.resources, { requests: { storage: '2Gi' } });
  // what the uninstall step deletes the claims by; nothing that changes between chart versions
  assert.is(claim.metadata.labels?.['app.kubernetes.io/part-of'], 'nested-edge');
  assert.is(claim.metadata.labels?.['helm.sh/chart'], undefined);
  for (const p of [c.livenessProbe, c.readinessProbe]) assert.is(p?.tcpSocket?.port, 'workloads');

  const services = objects.filter((o) => o.kind === 'Service');
  assert.equal(services.map((s) => s.metadata.name).sort(), ['b-broker', 'b-broker-headless']);
  assert.is(spec.serviceName, 'b-broker-headless');
  const main = services.find((s) => s.metadata.name === 'b-broker')!;
  assert.equal((main.spec as { ports: Array<{ name: string; port: number }> }).ports.map((p) => [p.name, p.port]), [['workloads', 1883], ['children', 1884]]);

  const plain = render('broker', withValues(minimalValues('broker'), { persistence: { enabled: false } }));
  const plainSts = only(plain, 'StatefulSet');
  assert.is((plainSts.spec as { volumeClaimTemplates?: unknown }).volumeClaimTemplates, undefined);
  assert.ok(podTemplate(plainSts).spec.volumes?.some((v) => v.name === 'data' && v.emptyDir));
  assert.is(podTemplate(plainSts).metadata.annotations?.['checksum/config'], undefined);
  assert.match(renderError('broker', withValues(minimalValues('broker'), { ports: { children: 1883 } })), /ports\.workloads and ports\.children are both 1883/);
});

test('broker NetworkPolicy: workloads port from broker clients, children port from child levels, egress DNS and the parent only', () => {
  const values = withValues(minimalValues('broker'), {
    level: { name: 'l3', isa95: 3, parent: 'l4' },
    networkPolicy: { childNamespaces: ['edge-l2', 'edge-l2b'], childCIDRs: ['10.20.0.0/16'], parentNamespace: 'edge-l4', parentPort: 18831 },
  });
  const np = only(render('broker', values), 'NetworkPolicy').spec as unknown as NetworkPolicySpec;
  assert.equal(np.policyTypes, ['Ingress', 'Egress']);
  assert.is(np.ingress?.length, 2);
  const [workloads, children] = np.ingress!;
  assert.equal(workloads!.from, [{ podSelector: { matchLabels: { 'edge.example/broker-client': 'true' } } }]);
  assert.equal(workloads!.ports, [{ port: 'workloads', protocol: 'TCP' }]);
  assert.equal(children!.ports, [{ port: 'children', protocol: 'TCP' }]);
  assert.equal(children!.from, [
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'edge-l2' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'broker' } } },
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'edge-l2b' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'broker' } } },
    { ipBlock: { cidr: '10.20.0.0/16' } },
  ]);
  assert.is(np.egress?.length, 2);
  const [dns, parent] = np.egress!;
  assert.is(dns!.to, undefined);
  assert.equal(dns!.ports, [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }]);
  assert.equal(parent!.to, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'edge-l4' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'broker' } } }]);
  assert.equal(parent!.ports, [{ port: 18831, protocol: 'TCP' }]);

  // a parent outside the cluster, by CIDR
  const byCidr = only(render('broker', withValues(values, { networkPolicy: { parentNamespace: '', parentCIDR: '192.168.40.0/24' } })), 'NetworkPolicy').spec as unknown as NetworkPolicySpec;
  assert.equal(byCidr.egress?.[1]?.to, [{ ipBlock: { cidr: '192.168.40.0/24' } }]);

  // the top level with no children: the children port is closed, egress is DNS only
  const top = only(render('broker', withValues(minimalValues('broker'), { level: { name: 'l4', isa95: 4 } })), 'NetworkPolicy').spec as unknown as NetworkPolicySpec;
  assert.is(top.ingress?.length, 1);
  assert.equal(top.ingress?.[0]?.ports, [{ port: 'workloads', protocol: 'TCP' }]);
  assert.is(top.egress?.length, 1);
  assert.equal(top.egress?.[0]?.ports?.map((p) => p.port), [53, 53]);

  assert.match(renderError('broker', withValues(minimalValues('broker'), { level: { parent: 'l3' } })), /level\.parent is l3 but networkPolicy has neither parentNamespace nor parentCIDR/);
  assert.match(renderError('broker', withValues(minimalValues('broker'), { networkPolicy: { parentNamespace: 'edge-l3' } })), /level\.parent is empty/);
  const disabled = render('broker', withValues(minimalValues('broker'), { level: { parent: 'l3' }, networkPolicy: { enabled: false } }));
  assert.ok(!disabled.some((o) => o.kind === 'NetworkPolicy'));
});

test('every workload chart: a NetworkPolicy on its own pods, ingress from its own namespace only', () => {
  for (const chart of WORKLOAD_CHARTS) {
    const objects = render(chart, minimalValues(chart));
    const np = only(objects, 'NetworkPolicy');
    const spec = np.spec as unknown as NetworkPolicySpec;
    assert.equal(spec.podSelector.matchLabels, (only(objects, 'Deployment').spec as { selector: { matchLabels: StringMap } }).selector.matchLabels, `${chart}: its own pods`);
    assert.equal(spec.policyTypes, ['Ingress'], `${chart}: egress is not its business`);
    assert.equal(spec.ingress, [{ from: [{ podSelector: {} }] }], `${chart}: from pods of its namespace, no namespaceSelector, no ipBlock`);
  }
});

test('proxy: the generated squid.conf in a ConfigMap, its checksum on the pod, http_port checked, ingress from clients only', () => {
  const objects = render('proxy', withValues(minimalValues('proxy'), { networkPolicy: { childNamespaces: ['edge-l2'], childCIDRs: ['10.30.0.0/16'] } }), 'p');
  const cm = only(objects, 'ConfigMap');
  assert.is(cm.data?.['squid.conf'], squidConf.replace(/\n$/, ''));
  const deployment = only(objects, 'Deployment');
  const pod = podTemplate(deployment);
  assert.is(pod.metadata.annotations?.['checksum/config'], createHash('sha256').update(squidConf).digest('hex'));
  const c = pod.spec.containers[0]!;
  assert.equal(c.command, ['squid', '-N', '-f', '/etc/squid-edge/squid.conf']);
  const mounts = (c.volumeMounts ?? []).map((m) => m.mountPath);
  for (const dir of ['/etc/squid-edge', '/var/spool/squid', '/var/run', '/var/log/squid']) assert.ok(mounts.includes(dir), dir);
  for (const p of [c.livenessProbe, c.readinessProbe]) assert.is(p?.tcpSocket?.port, 'proxy');
  const svc = only(objects, 'Service');
  assert.equal((svc.spec as { ports: unknown }).ports, [{ name: 'proxy', port: 3128, targetPort: 'proxy', protocol: 'TCP' }]);

  const np = only(objects, 'NetworkPolicy').spec as unknown as NetworkPolicySpec;
  assert.equal(np.policyTypes, ['Ingress']);
  assert.is(np.ingress?.length, 1);
  assert.equal(np.ingress?.[0]?.from, [
    { podSelector: { matchLabels: { 'edge.example/proxy-client': 'true' } } },
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'edge-l2' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'proxy' } } },
    { ipBlock: { cidr: '10.30.0.0/16' } },
  ]);
  assert.equal(np.ingress?.[0]?.ports, [{ port: 'proxy', protocol: 'TCP' }]);

  assert.match(renderError('proxy', withValues(minimalValues('proxy'), { port: 3129 })), /squidConf listens on 0\.0\.0\.0:3128 but port is 3129/);
  assert.match(renderError('proxy', withValues(minimalValues('proxy'), { config: { squidConf: 'http_access deny all\n' } })), /has no http_port line/);
});

test('dapr-resources: applies the generated resources with the labels and namespace, rejects non-Dapr kinds and plain credentials', () => {
  const objects = render('dapr-resources', withValues(minimalValues('dapr-resources'), {}), 'dr');
  const expected = minimalValues('dapr-resources').resources as K8sObject[];
  assert.equal(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort(), expected.map((o) => `${o.kind}/${o.metadata.name}`).sort());
  for (const want of expected) {
    const got = objects.find((o) => o.kind === want.kind && o.metadata.name === want.metadata.name)!;
    assert.equal(got.spec, want.spec, `${want.kind}/${want.metadata.name}: spec as generated`);
    assert.equal(got.scopes, want.scopes, `${want.kind}/${want.metadata.name}: scopes`);
  }
  // own labels kept, the standard ones win; an explicit namespace is kept
  const labelled = render('dapr-resources', {
    level: { name: 'l2' },
    resources: [{ apiVersion: 'dapr.io/v1alpha1', kind: 'Configuration', metadata: { name: 'c', namespace: 'other', labels: { team: 'edge', 'app.kubernetes.io/part-of': 'x' } }, spec: {} }],
  });
  assert.is(labelled[0]?.metadata.labels?.team, 'edge');
  assert.is(labelled[0]?.metadata.labels?.['app.kubernetes.io/part-of'], 'nested-edge');
  assert.is(labelled[0]?.metadata.namespace, 'other');

  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { url: 'x' } };
  assert.match(renderError('dapr-resources', { level: { name: 'l2' }, resources: [secret] }), /apiVersion/);
  const wrongKind = { apiVersion: 'dapr.io/v1alpha1', kind: 'Secret', metadata: { name: 's' }, spec: {} };
  assert.match(renderError('dapr-resources', { level: { name: 'l2' }, resources: [wrongKind] }), /value must be one of 'Component', 'Resiliency', 'Configuration', 'Subscription'/);
  // the template repeats the checks for a caller that skips schema validation
  assert.match(renderError('dapr-resources', { level: { name: 'l2' }, resources: [wrongKind] }, ['--skip-schema-validation']), /kind "Secret" is not one of Component, Resiliency, Configuration, Subscription/);
  const wrongApi = { ...wrongKind, apiVersion: 'v1', kind: 'Component' };
  assert.match(renderError('dapr-resources', { level: { name: 'l2' }, resources: [wrongApi] }, ['--skip-schema-validation']), /apiVersion "v1" is not a Dapr API version/);
  // secrets never travel in values
  const leaky = pubsubComponent({ componentName: 'pubsub-ts', appId: 'ts', urlSecret: { name: 'n', key: 'k' } }) as { spec: { metadata: Array<Record<string, unknown>> } };
  leaky.spec.metadata[0] = { name: 'url', value: 'tcp://ts:s3cret@rel-broker:1883' };
  assert.match(renderError('dapr-resources', { level: { name: 'l2' }, resources: [leaky] }), /metadata item "url" carries a credential as a plain value: put it in a Secret/);
  const dup = minimalValues('dapr-resources');
  (dup.resources as unknown[]).push((dup.resources as unknown[])[0]);
  assert.match(renderError('dapr-resources', dup), /Component edge-l2\/pubsub-ts is listed twice/);
});

test('NOTES.txt renders copy-pasteable kubectl commands for every chart', () => {
  // helm renders NOTES.txt only on install; a copy of each chart renders it as a document instead
  const notesDir = join(work, 'notes');
  mkdirSync(notesDir);
  for (const chart of APP_CHARTS) {
    const dir = join(notesDir, chart);
    cpSync(join(CHARTS, chart), dir, { recursive: true });
    const notes = readFileSync(join(dir, 'templates', 'NOTES.txt'), 'utf8');
    rmSync(join(dir, 'templates', 'NOTES.txt'));
    writeFileSync(join(dir, 'templates', '_notes_check.tpl'), `{{- define "notes.check" -}}\n${notes}{{- end }}\n`);
    writeFileSync(join(dir, 'templates', 'notes-check.yaml'), 'notes: {{ include "notes.check" . | toJson }}\n');
    const r = runHelm(['template', 'n1', dir, '--namespace', NS, '-f', valuesFile(minimalValues(chart)), '--show-only', 'templates/notes-check.yaml']);
    assert.is(r.status, 0, `${chart}: ${r.stderr}`);
    const text = (yaml.load(r.stdout) as { notes: string }).notes;
    assert.not.match(text, /<no value>|%!/, `${chart}:\n${text}`);
    const commands = text.split('\n').filter((l) => /^\s+kubectl /.test(l));
    assert.ok(commands.length >= 2, `${chart}: kubectl commands\n${text}`);
    for (const cmd of commands) assert.match(cmd, new RegExp(`^\\s+kubectl -n ${NS} `), `${chart}: ${cmd}`);
  }
  assert.is(readdirSync(notesDir).length, APP_CHARTS.length);
});

test('otel-collector: the generated config in a ConfigMap, the TLS files from the Secret, a pod that rolls on either', () => {
  const objects = render('otel-collector', withValues(minimalValues('otel-collector'), { tls: { checksum: 'sha256:c0ffee' } }), 'otel-collector');
  const cm = only(objects, 'ConfigMap');
  assert.is(cm.data?.['config.yaml'], collectorYaml.replace(/\n$/, ''), 'the config exactly as generated');
  assert.not.match(JSON.stringify(cm), /PRIVATE KEY/);
  const deployment = only(objects, 'Deployment');
  assert.is((deployment.spec as { replicas: number }).replicas, 1);
  assert.equal((deployment.spec as { strategy: unknown }).strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  const pod = podTemplate(deployment);
  assert.is(pod.metadata.annotations?.['checksum/config'], createHash('sha256').update(collectorYaml).digest('hex'));
  assert.is(pod.metadata.annotations?.['checksum/tls'], 'sha256:c0ffee');
  assert.is(pod.metadata.labels?.['edge.example/proxy-client'], undefined, 'no egress proxy below the top');
  const c = pod.spec.containers[0]!;
  assert.equal((c as { args?: string[] }).args, ['--config', '/etc/otelcol/config.yaml']);
  assert.equal(c.ports?.map((p) => [p.name, p.containerPort]), [['otlp-grpc', 4317], ['otlp-http', 4318], ['children', 4319], ['metrics', 8888]]);
  assert.is(c.livenessProbe?.tcpSocket?.port, 'otlp-grpc');
  assert.is(c.readinessProbe?.tcpSocket?.port, 'otlp-http');
  assert.is(c.env, undefined, 'no proxy variables without an egress proxy');
  const mounts = Object.fromEntries((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
  assert.equal(mounts['/etc/otelcol'], { name: 'config', mountPath: '/etc/otelcol', readOnly: true });
  assert.equal(mounts['/etc/otelcol-tls'], { name: 'tls', mountPath: '/etc/otelcol-tls', readOnly: true });
  assert.is(mounts['/var/lib/otelcol']?.name, 'data');
  const volumes = Object.fromEntries((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  assert.is(volumes.config?.configMap?.name, cm.metadata.name);
  assert.is(volumes.tls?.secret?.secretName, 'otel-collector-tls');
  assert.is(volumes.tls?.secret?.defaultMode, 0o440, 'the keys readable through fsGroup, by no one else');
  assert.ok(volumes.data?.emptyDir, 'a lower level writes no file: an emptyDir');
  assert.not.ok(objects.some((o) => o.kind === 'PersistentVolumeClaim'));
  const svc = only(objects, 'Service');
  assert.is(svc.metadata.name, 'otel-collector', 'the name the renderer points the workloads, sidecars and children at');
  assert.equal((svc.spec as { ports: unknown }).ports, [
    { name: 'otlp-grpc', port: 4317, targetPort: 'otlp-grpc', protocol: 'TCP', appProtocol: 'grpc' },
    { name: 'otlp-http', port: 4318, targetPort: 'otlp-http', protocol: 'TCP', appProtocol: 'http' },
    { name: 'children', port: 4319, targetPort: 'children', protocol: 'TCP', appProtocol: 'grpc' },
  ]);

  // The top level: its file on a claim (Recreate, the claim is ReadWriteOnce), and through the proxy when it exports.
  const topValues = { level: { name: 'l4' }, config: { collectorYaml: renderOtelCollectorConfig(collectorInput('l4', undefined, true)) }, tls: { existingSecret: 'otel-collector-tls' }, persistence: { enabled: true, size: '2Gi' }, egressProxy: { enabled: true, url: 'http://proxy.edge-l4.svc.cluster.local:3128' } };
  const top = render('otel-collector', topValues, 'otel-collector');
  const pvc = only(top, 'PersistentVolumeClaim');
  assert.equal(pvc.spec, { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } } });
  const topDeployment = only(top, 'Deployment');
  assert.equal((topDeployment.spec as { strategy: unknown }).strategy, { type: 'Recreate' });
  const topPod = podTemplate(topDeployment);
  assert.is(topPod.spec.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName, pvc.metadata.name);
  assert.is(topPod.metadata.labels?.['edge.example/proxy-client'], 'true', 'admitted by the proxy NetworkPolicy');
  assert.equal(envOf(topPod.spec.containers[0]!), { HTTPS_PROXY: 'http://proxy.edge-l4.svc.cluster.local:3128', NO_PROXY: '.svc,.svc.cluster.local,localhost,127.0.0.1' });
});

test('otel-collector NetworkPolicy: OTLP from this namespace, the children port from child levels only, egress DNS, the parent and the proxy only', () => {
  const values = withValues(minimalValues('otel-collector'), { networkPolicy: { childNamespaces: ['edge-l2'], childCIDRs: ['10.20.0.0/16'] } });
  const np = only(render('otel-collector', values), 'NetworkPolicy').spec as unknown as NetworkPolicySpec;
  assert.equal(np.policyTypes, ['Ingress', 'Egress']);
  assert.is(np.ingress?.length, 2);
  const [own, children] = np.ingress!;
  assert.equal(own!.from, [{ podSelector: {} }], "every pod of the level's own namespace");
  assert.equal(own!.ports, [{ port: 'otlp-grpc', protocol: 'TCP' }, { port: 'otlp-http', protocol: 'TCP' }]);
  assert.equal(children!.from, [
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'edge-l2' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'otel-collector' } } },
    { ipBlock: { cidr: '10.20.0.0/16' } },
  ]);
  assert.equal(children!.ports, [{ port: 'children', protocol: 'TCP' }]);
  assert.is(np.egress?.length, 2);
  assert.equal(np.egress![0]!.ports, [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }]);
  assert.equal(np.egress![1], { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'edge-l4' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'otel-collector' } } }], ports: [{ port: 4319, protocol: 'TCP' }] });

  // The top level: no parent; with an upstream, the proxy of its own namespace and nothing else.
  const top = only(render('otel-collector', { level: { name: 'l4' }, config: { collectorYaml: renderOtelCollectorConfig(collectorInput('l4', undefined, false)) }, tls: { existingSecret: 'otel-collector-tls' }, egressProxy: { enabled: true } }), 'NetworkPolicy').spec as unknown as NetworkPolicySpec;
  assert.is(top.ingress?.length, 1, 'no children: the children port is closed');
  assert.equal(top.egress?.slice(1), [{ to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'proxy' } } }], ports: [{ port: 3128, protocol: 'TCP' }] }]);
  const disabled = render('otel-collector', withValues(minimalValues('otel-collector'), { networkPolicy: { enabled: false, parentNamespace: '' } }));
  assert.not.ok(disabled.some((o) => o.kind === 'NetworkPolicy'));
});

test('otel-collector: bad values are refused, by the schema or with what to change', () => {
  const v = (patch: Record<string, unknown>) => withValues(minimalValues('otel-collector'), patch);
  assert.match(renderError('otel-collector', v({ ports: { grpc: 0 } })), /ports\/grpc|ports\.grpc/);
  assert.match(renderError('otel-collector', v({ egressProxy: { url: 'https://proxy:3128' } })), /egressProxy/);
  assert.match(renderError('otel-collector', v({ persistence: { size: 'lots' } })), /size/);
  assert.match(renderError('otel-collector', v({ networkPolicy: { childCIDRs: ['10.0.0.0'] } })), /childCIDRs/);
  assert.match(renderError('otel-collector', v({ ports: { grpc: 14317 } })), /config\.collectorYaml has no receiver endpoint on port 14317 \(ports\.grpc\)/);
  assert.match(renderError('otel-collector', v({ ports: { metrics: 4318 } })), /must all differ/);
  assert.match(renderError('otel-collector', v({ tls: { existingSecret: '' } })), /refers to TLS files under \/etc\/otelcol-tls\/ but tls\.existingSecret is empty/);
  assert.match(renderError('otel-collector', v({ persistence: { enabled: true } })), /persistence\.enabled is for the top level's file exporter, but level l3 forwards to its parent l4/);
  assert.match(renderError('otel-collector', v({ networkPolicy: { parentNamespace: '' } })), /level\.parent is l4 but networkPolicy has neither parentNamespace nor parentCIDR/);
  assert.match(renderError('otel-collector', v({ egressProxy: { url: 'http://proxy:3128' } })), /egressProxy\.url is set but egressProxy\.enabled is false/);
  const leaf = renderOtelCollectorConfig(collectorInput('l2', 'l3', false));
  assert.match(renderError('otel-collector', v({ config: { collectorYaml: leaf }, networkPolicy: { childNamespaces: ['edge-l1'] } })), /admits child levels but config\.collectorYaml has no receiver on ports\.children \(4319\)/);
});

/** Inputs of the install step for the renderer (the parts it reads). */
const k8sInputs = (extra: Partial<BundleInputs> = {}): BundleInputs => ({ namespacePrefix: 'edge-', clusters: {}, images: {}, egressAllowDomains: ['management.azure.com'], sensorIntervalMs: 1000, telemetry: true, ...extra }) as BundleInputs;

async function renderLevels(inputs: BundleInputs): Promise<LevelRender[]> {
  const t = loadTopology();
  const dir = join(work, `pki-${++valuesCounter}`);
  const pki = await ensureBrokerPki(t, dir, (l) => childListenerNames(t, inputs, l), (l) => collectorListenerNames(t, inputs, l));
  return renderDeployment(t, inputs, ensureCredentials(t), readPkiMaterial(pki));
}

const releaseOf = (level: LevelRender, name: string) => level.releases.find((r) => r.name === name);

test('with telemetry, the install step renders a collector per level whose config is the generator\'s output; sidecars and workloads point at it', async () => {
  const levels = await renderLevels(k8sInputs());
  const parents: Record<string, string | undefined> = { l4: undefined, l3: 'l4', l2: 'l3' };
  for (const level of levels) {
    const name = level.level.name;
    const ns = `edge-${name}`;
    const names = level.releases.map((r) => r.name);
    assert.equal(names.slice(0, 4), ['broker', 'proxy', 'otel-collector', 'dapr-resources'], `${name}: the collector in the platform layer, after the broker and proxy`);
    const values = releaseOf(level, 'otel-collector')!.values as { config: { collectorYaml: string }; persistence: { enabled: boolean }; networkPolicy: Record<string, unknown>; tls: { existingSecret: string } };
    // One generator: the release carries exactly what it renders for this level's place in the tree.
    assert.is(values.config.collectorYaml, renderOtelCollectorConfig(collectorInput(name, parents[name], name !== 'l2')), `${name}: the generator's output`);
    assert.is(values.persistence.enabled, name === 'l4', `${name}: a claim for the top level's file only`);
    assert.equal(values.networkPolicy, { enabled: true, childNamespaces: name === 'l2' ? [] : [`edge-${name === 'l4' ? 'l3' : 'l2'}`], childCIDRs: [], ...(parents[name] ? { parentNamespace: `edge-${parents[name]}`, parentPort: 4319 } : {}) });
    // The chart places it as is, and the ConfigMap holds no secret.
    const objects = render('otel-collector', values, 'otel-collector');
    assert.is(only(objects, 'ConfigMap').data?.['config.yaml'], values.config.collectorYaml.replace(/\n$/, ''));
    assert.not.match(JSON.stringify(objects.filter((o) => o.kind === 'ConfigMap')), /PRIVATE KEY|BEGIN CERTIFICATE/);
    // Its TLS files are in their Secret: the server pair only with children, the client pair only with a parent.
    const tls = level.secrets.find((x) => x.name === values.tls.existingSecret)!;
    assert.equal(Object.keys(tls.stringData).sort(), ['trust.crt', ...(name !== 'l2' ? ['server.crt', 'server.key'] : []), ...(parents[name] ? ['client.crt', 'client.key'] : [])].sort(), name);
    if (name !== 'l2') {
      const cert = new X509Certificate(tls.stringData['server.crt']!);
      assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:otel-collector\\.${ns}\\.svc\\.cluster\\.local`), `${name}: the server certificate names the Service the children dial`);
      assert.ok(cert.checkIssued(new X509Certificate(tls.stringData['trust.crt']!)), `${name}: issued by the trusted CA`);
      const brokerKey = level.secrets.find((x) => x.name === 'broker-config')!.stringData['server.key'];
      assert.is.not(tls.stringData['server.key'], brokerKey, `${name}: the collector has its own key, not the broker's`);
    }
    // The sidecars export their spans to the level's collector; the workloads get the OTEL_* set of every target.
    const resources = (releaseOf(level, 'dapr-resources')!.values as { resources: Array<{ kind: string }> }).resources;
    assert.equal(resources.find((r) => r.kind === 'Configuration'), daprConfiguration('edge-tracing', { samplingRate: '1', otlpEndpoint: `otel-collector.${ns}.svc.cluster.local:4317` }));
    for (const w of level.level.workloads) {
      const env = (releaseOf(level, w.name)!.values as { env: Record<string, string> }).env;
      const otel = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('OTEL_')));
      assert.equal(otel, workloadOtelEnv({ endpoint: `http://otel-collector.${ns}.svc.cluster.local:4318`, serviceName: w.name, level: name }), `${name}/${w.name}`);
      assert.is(otel.OTEL_RESOURCE_ATTRIBUTES, `edge.level=${name}`);
    }
  }

  // Without telemetry: no collector, no endpoint, no OTEL_* (as before).
  for (const level of await renderLevels(k8sInputs({ telemetry: false, otlpEndpoint: 'https://otlp.example.com' }))) {
    assert.not.ok(releaseOf(level, 'otel-collector'), level.level.name);
    assert.not.ok(level.secrets.some((x) => x.name === 'otel-collector-tls'));
    const resources = (releaseOf(level, 'dapr-resources')!.values as { resources: Array<{ kind: string }> }).resources;
    assert.equal(resources.find((r) => r.kind === 'Configuration'), daprConfiguration('edge-tracing'));
    for (const w of level.level.workloads) assert.not.ok(Object.keys((releaseOf(level, w.name)!.values as { env: Record<string, string> }).env).some((k) => k.startsWith('OTEL_')));
    assert.not.match((releaseOf(level, 'proxy')!.values as { config: { squidConf: string } }).config.squidConf, /otlp\.example\.com/, 'nothing allowed for an endpoint nothing exports to');
  }
});

test('otlp-endpoint: the top level exports through its own egress proxy, which allows that host and nothing more', async () => {
  const squidOf = (l: LevelRender) => (releaseOf(l, 'proxy')!.values as { config: { squidConf: string } }).config.squidConf;
  const collectorOf = (l: LevelRender) => releaseOf(l, 'otel-collector')!.values as { config: { collectorYaml: string }; egressProxy: { enabled: boolean; url: string } };
  const http = await renderLevels(k8sInputs({ otlpEndpoint: 'https://otlp.example.com:4318' }));
  const top = http[0]!;
  const exporters = (yaml.load(collectorOf(top).config.collectorYaml) as { exporters: Record<string, Record<string, unknown>> }).exporters;
  assert.equal(exporters['otlp_http/upstream']!.proxy_url, 'http://proxy.edge-l4.svc.cluster.local:3128');
  assert.is(exporters['otlp_http/upstream']!.endpoint, 'https://otlp.example.com:4318');
  assert.equal(collectorOf(top).egressProxy, { enabled: true, port: 3128, url: '' }, 'OTLP/HTTP: proxy_url in the config, no HTTPS_PROXY');
  assert.match(squidOf(top), /^acl allowed_domains dstdomain management\.azure\.com otlp\.example\.com$/m);
  assert.match(squidOf(top), /^acl connect_ports port 443 4318$/m, 'the CONNECT tunnel to the endpoint port');
  for (const lower of http.slice(1)) {
    assert.not.match(squidOf(lower), /otlp\.example\.com/, `${lower.level.name}: a lower level's proxy does not allow it`);
    assert.equal(collectorOf(lower).egressProxy.enabled, false);
    assert.equal(Object.keys((yaml.load(collectorOf(lower).config.collectorYaml) as { exporters: object }).exporters), ['otlp_grpc/parent'], `${lower.level.name}: to its parent only`);
  }
  const grpc = (await renderLevels(k8sInputs({ otlpEndpoint: 'grpcs://otlp.example.com:4317' })))[0]!;
  assert.equal(collectorOf(grpc).egressProxy, { enabled: true, port: 3128, url: 'http://proxy.edge-l4.svc.cluster.local:3128' }, 'OTLP/gRPC: HTTPS_PROXY');
  assert.match(squidOf(grpc), /^acl connect_ports port 443 4317$/m);
  const env = envOf(mainContainer(render('otel-collector', collectorOf(grpc), 'otel-collector')));
  assert.is(env.HTTPS_PROXY, 'http://proxy.edge-l4.svc.cluster.local:3128');
});

test.run();
