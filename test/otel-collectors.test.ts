// Real collectors (otelcol-edge) on loopback, one per level of the default topology, planned as
// the local target plans them: telemetry sent to l2 with OTLP/HTTP JSON reaches the top level's
// file intact, through l3 only; with l3 down it is held at l2 (never sent around l3) and arrives
// once l3 is back; with an upstream configured, the top level also exports it over OTLP/HTTP.
// And the configs the Kubernetes renderer puts into the collector charts, run by the real binary.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, startProcess, waitFor, type ManagedProcess } from '../src/common/proc.js';
import { toolPath } from '../src/common/tools.js';
import { planCollectors, type CollectorPlan } from '../src/local/otel-plan.js';
import { parseOtlpEndpoint, renderOtelCollectorConfig, type OtlpUpstream } from '../src/config/otel-collector.js';
import { tcpReachable } from '../src/local/run.js';
import { brokerPkiLayout, ensureBrokerPki, pkiDirOf, readPkiMaterial } from '../src/pki/broker-pki.js';
import { ensureCredentials } from '../src/config/credentials.js';
import type { BundleInputs } from '../src/kubernetes/inputs.js';
import { childListenerNames, collectorListenerNames, OTEL_COLLECTOR_PORTS, OTEL_COLLECTOR_RELEASE, OTEL_COLLECTOR_SECRET, renderDeployment } from '../src/kubernetes/render.js';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { loadTopology } from '../src/topology/parse.js';
import { processesMentioning, withCleanup, type Cleanup } from './helpers.js';

const run = promisify(execFile);

test('every golden collector config is accepted by the real collector', async () => {
  for (const name of ['l3-otelcol.yaml', 'l4-otelcol.yaml']) {
    const file = new URL(`../../test/golden/${name}`, import.meta.url).pathname;
    await run(toolPath('otelcol-edge'), ['validate', '--config', file]).catch((err: Error & { stderr?: string }) => {
      throw new Error(`${name} refused: ${err.stderr ?? err.message}`);
    });
  }
});

interface Chain {
  dir: string;
  byLevel: (level: string) => CollectorPlan;
  telemetryFile: string;
  start: (level: string) => Promise<ManagedProcess>;
}

/** Plans l4 <- l3 <- l2 collectors in a temp dir and starts them parent first. */
async function startChain(c: Cleanup, upstream?: OtlpUpstream): Promise<Chain> {
  const dir = c.dir('otelcol');
  const topology = loadTopology();
  const pki = await ensureBrokerPki(topology, pkiDirOf(dir), () => ['127.0.0.1']);
  const plan = await planCollectors(topology, { collectorPath: toolPath('otelcol-edge'), ...(upstream ? { upstream } : {}) }, { dataDir: dir, hostOf: () => '127.0.0.1', childHostsOf: () => ['127.0.0.1'], parentAddressOf: () => '127.0.0.1', pki, allocatePort: freePort, wrap: (_l, command, args) => ({ command, args }) });
  for (const f of plan.files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.content);
  }
  const byLevel = (level: string): CollectorPlan => plan.collectors.find((x) => x.level.name === level)!;
  const start = async (level: string): Promise<ManagedProcess> => {
    const { process: p, host, ports } = byLevel(level);
    const proc = c.track(startProcess({ name: p.name, command: p.command, args: p.args, env: p.env, logFile: p.logFile }));
    await waitFor(`collector ${level}`, async () => {
      if (!proc.isRunning()) throw new Error(`${p.name} exited: ${readFileSync(p.logFile, 'utf8').slice(-2000)}`);
      return (await tcpReachable(host, ports.grpc)) && (await tcpReachable(host, ports.http)) && (await tcpReachable(host, ports.metrics)) && (ports.children === undefined || (await tcpReachable(host, ports.children)));
    }, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${existsSync(p.logFile) ? readFileSync(p.logFile, 'utf8').slice(-2000) : ''}`);
    });
    return proc;
  };
  for (const col of plan.collectors) await start(col.level.name); // parent first
  return { dir, byLevel, telemetryFile: plan.telemetryFile, start };
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
const nowNs = (): string => `${BigInt(Date.now()) * 1_000_000n}`;
const attrs = (o: Record<string, string>) => Object.entries(o).map(([key, v]) => ({ key, value: { stringValue: v } }));

/** OTLP/HTTP JSON, as an SDK would send it: a trace of `n` spans (a root and its children). */
function traceRequest(resource: Record<string, string>, n: number) {
  const traceId = hex(16);
  const rootId = hex(8);
  const t0 = nowNs();
  const spans = Array.from({ length: n }, (_, i) => ({
    traceId,
    spanId: i === 0 ? rootId : hex(8),
    ...(i === 0 ? {} : { parentSpanId: rootId }),
    name: i === 0 ? 'read-plc' : `publish-${i}`,
    kind: 1,
    startTimeUnixNano: t0,
    endTimeUnixNano: `${BigInt(t0) + BigInt(1_000_000 * (i + 1))}`,
    attributes: attrs({ 'edge.step': String(i) }),
  }));
  return { traceId, body: { resourceSpans: [{ resource: { attributes: attrs(resource) }, scopeSpans: [{ scope: { name: 'edge-test' }, spans }] }] } };
}

function metricRequest(resource: Record<string, string>, value: number) {
  const t = nowNs();
  return { resourceMetrics: [{ resource: { attributes: attrs(resource) }, scopeMetrics: [{ scope: { name: 'edge-test' }, metrics: [{ name: 'edge.test.temperature', unit: 'Cel', gauge: { dataPoints: [{ asDouble: value, timeUnixNano: t, attributes: attrs({ sensor: 's1' }) }] } }] }] }] };
}

async function post(c: CollectorPlan, path: string, body: unknown): Promise<void> {
  const res = await fetch(`http://${c.host}:${c.ports.http}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.is(res.status, 200, `${path} at ${c.level.name}: ${res.status} ${await res.text()}`);
}

interface OtlpLine {
  resourceSpans?: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string }> }> }>;
  resourceMetrics?: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeMetrics: Array<{ metrics: Array<{ name: string; gauge?: { dataPoints: Array<{ asDouble?: number }> } }> }> }>;
}

function fileLines(file: string): OtlpLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as OtlpLine);
}

const resourceOf = (r: { attributes: Array<{ key: string; value: { stringValue?: string } }> }): Record<string, string | undefined> => Object.fromEntries(r.attributes.map((a) => [a.key, a.value.stringValue]));

function spansOf(file: string, traceId: string) {
  return fileLines(file).flatMap((l) => (l.resourceSpans ?? []).flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.filter((s) => s.traceId === traceId).map((s) => ({ ...s, resource: resourceOf(rs.resource) })))));
}

/** Sum of a collector's own counter over the series whose labels include `labels` (Prometheus text). */
async function selfMetric(c: { host: string; ports: { metrics: number } }, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://${c.host}:${c.ports.metrics}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Whether a TLS server keeps a connection open (accepted) or ends it with an alert (refused) within a second. */
function tlsOutcome(opts: ConnectionOptions): Promise<'accepted' | 'refused'> {
  return new Promise((resolve) => {
    const socket = tlsConnect(opts);
    let timer: NodeJS.Timeout | undefined;
    const done = (r: 'accepted' | 'refused'): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    // TLS 1.3 reports a refused client certificate after the handshake, on the first read.
    socket.once('secureConnect', () => (timer = setTimeout(() => done('accepted'), 1_000)));
    socket.once('error', () => done('refused'));
    socket.once('close', () => done('refused'));
  });
}

test('a trace and a metric sent to l2 reach the top level file intact, through l3 only', async () => {
  await withCleanup(async (c) => {
    const chain = await startChain(c);
    const [l4, l3, l2] = [chain.byLevel('l4'), chain.byLevel('l3'), chain.byLevel('l2')];
    // The child receiver requires a client certificate of the install's CA.
    const pki = brokerPkiLayout(loadTopology(), pkiDirOf(chain.dir));
    const tlsTo = (opts: ConnectionOptions) => tlsOutcome({ host: l3.host, port: l3.ports.children!, ca: readFileSync(pki.trustFile), ALPNProtocols: ['h2'], ...opts });
    assert.is(await tlsTo({}), 'refused', 'no client certificate: refused');
    assert.is(await tlsTo({ cert: readFileSync(pki.levels.l2!.bridge!.cert), key: readFileSync(pki.levels.l2!.bridge!.key) }), 'accepted', 'l2\'s certificate: accepted');
    const runId = hex(4);
    const resource = { 'service.name': 'temperature-sensor', 'edge.level': 'l2', 'edge.test.run': runId };
    const trace = traceRequest(resource, 3);
    await post(l2, '/v1/traces', trace.body);
    await post(l2, '/v1/metrics', metricRequest(resource, 21.5));

    await waitFor(`3 spans of trace ${trace.traceId} in ${chain.telemetryFile}`, () => spansOf(chain.telemetryFile, trace.traceId).length >= 3, 30_000, 200);
    const spans = spansOf(chain.telemetryFile, trace.traceId);
    assert.is(spans.length, 3, 'each span once');
    assert.equal(spans.map((s) => s.name).sort(), ['publish-1', 'publish-2', 'read-plc']);
    const root = spans.find((s) => s.name === 'read-plc')!;
    for (const s of spans.filter((x) => x !== root)) assert.is(s.parentSpanId, root.spanId, 'parent links survive two hops');
    for (const s of spans) assert.equal(s.resource, resource, 'resource attributes intact');

    await waitFor('the metric in the top level file', () => fileLines(chain.telemetryFile).some((l) => l.resourceMetrics?.some((rm) => resourceOf(rm.resource)['edge.test.run'] === runId)), 30_000, 200);
    const metrics = fileLines(chain.telemetryFile).flatMap((l) => (l.resourceMetrics ?? []).filter((rm) => resourceOf(rm.resource)['edge.test.run'] === runId));
    assert.is(metrics.length, 1);
    assert.equal(resourceOf(metrics[0]!.resource), resource);
    const metric = metrics[0]!.scopeMetrics[0]!.metrics[0]!;
    assert.is(metric.name, 'edge.test.temperature');
    assert.is(metric.gauge!.dataPoints[0]!.asDouble, 21.5);

    // Who received what, from the collectors' own metrics: l2 over HTTP (the test), l3 and l4
    // on their child receiver only (gRPC with mTLS from their child's exporter), exactly what l2 took in.
    const accepted = (col: CollectorPlan, transport: string, receiver = 'otlp') => selfMetric(col, 'otelcol_receiver_accepted_spans', { receiver, transport });
    await waitFor('receiver counts', async () => (await accepted(l4, 'grpc', 'otlp/child_0')) === 3, 10_000, 200);
    assert.is(await accepted(l2, 'http'), 3);
    assert.is(await accepted(l2, 'grpc'), 0);
    assert.is(await accepted(l3, 'grpc', 'otlp/child_0'), 3, 'l3 received what l2 forwarded, on its child receiver');
    assert.is(await accepted(l3, 'http') + (await accepted(l3, 'grpc')), 0, 'l3\'s own receiver got nothing: only its child collector sent');
    assert.is(await accepted(l4, 'http') + (await accepted(l4, 'grpc')), 0);
    assert.is(await selfMetric(l2, 'otelcol_exporter_sent_spans', { exporter: 'otlp_grpc/parent' }), 3);
    assert.is(await selfMetric(l3, 'otelcol_exporter_sent_spans', { exporter: 'otlp_grpc/parent' }), 3);
    assert.is(await selfMetric(l4, 'otelcol_exporter_sent_spans', { exporter: 'file' }), 3);
    assert.is(await selfMetric(l3, 'otelcol_receiver_accepted_metric_points', { transport: 'grpc' }), 1);
  });
});

test('with l3 down, l2 holds its telemetry (nothing goes around l3) and delivers it once l3 is back', async () => {
  let dir = '';
  await withCleanup(async (c) => {
    const chain = await startChain(c);
    dir = chain.dir;
    const [l3, l2] = [chain.byLevel('l3'), chain.byLevel('l2')];
    const l3proc = c.processes.find((p) => p.name === 'l3/otelcol')!;
    await l3proc.stop(5_000);

    const resource = { 'service.name': 'opc-publisher', 'edge.level': 'l2', 'edge.test.run': hex(4) };
    const trace = traceRequest(resource, 2);
    await post(l2, '/v1/traces', trace.body); // accepted into l2's queue
    await new Promise((r) => setTimeout(r, 3_000));
    assert.is(spansOf(chain.telemetryFile, trace.traceId).length, 0, 'nothing reached l4 while l3 was down');
    assert.ok((await selfMetric(l2, 'otelcol_exporter_queue_size', { exporter: 'otlp_grpc/parent' })) >= 1, 'l2 holds the trace in its queue');

    await chain.start('l3');
    await waitFor('the held trace at the top level', () => spansOf(chain.telemetryFile, trace.traceId).length >= 2, 60_000, 250);
    assert.is(spansOf(chain.telemetryFile, trace.traceId).length, 2, 'delivered once');
    assert.is(await selfMetric(l3, 'otelcol_receiver_accepted_spans', { transport: 'grpc' }), 2);
  });
  assert.ok(dir);
  assert.is(await processesMentioning(dir), '', 'every collector the test started, restarted one included, is gone');
});

test('the top level also exports over OTLP/HTTP to a configured endpoint (a stand-in for the cloud)', async () => {
  await withCleanup(async (c) => {
    // The stand-in: one more collector on loopback, writing its own file.
    const dir = c.dir('otelcol-cloud');
    const ports = { grpc: await freePort(), http: await freePort() };
    const cloudFile = join(dir, 'cloud.jsonl');
    writeFileSync(join(dir, 'config.yaml'), renderOtelCollectorConfig({ levelName: 'cloud', bindAddress: '127.0.0.1', ports, top: { file: cloudFile } }));
    c.track(startProcess({ name: 'cloud/otelcol', command: toolPath('otelcol-edge'), args: ['--config', join(dir, 'config.yaml')], logFile: join(dir, 'otelcol.log') }));
    await waitFor('the cloud stand-in', () => tcpReachable('127.0.0.1', ports.http), 30_000);

    const chain = await startChain(c, parseOtlpEndpoint(`http://127.0.0.1:${ports.http}`));
    const trace = traceRequest({ 'service.name': 'data-gateway', 'edge.level': 'l2' }, 2);
    await post(chain.byLevel('l2'), '/v1/traces', trace.body);
    await waitFor('the trace in the cloud stand-in', () => spansOf(cloudFile, trace.traceId).length >= 2, 30_000, 200);
    assert.is(spansOf(cloudFile, trace.traceId).length, 2);
    await waitFor('the trace in the top level file too', () => spansOf(chain.telemetryFile, trace.traceId).length >= 2, 30_000, 200);
    assert.is(await selfMetric(chain.byLevel('l3'), 'otelcol_exporter_sent_spans', { exporter: 'otlp_grpc/parent' }), 2, 'l3 still exports to its parent only');
  });
});

test('the configs rendered for Kubernetes run as rendered: l2 -> l3 -> l4 by the collector Service names, over mTLS, into the top file', async () => {
  await withCleanup(async (c) => {
    const dir = c.dir('otelcol-k8s');
    const topology = loadTopology();
    const inputs = { namespacePrefix: 'edge-', clusters: {}, images: {}, egressAllowDomains: ['management.azure.com'], sensorIntervalMs: 1000, telemetry: true } as unknown as BundleInputs;
    // The PKI as the install step makes it: each collector's server certificate names its Service.
    const pki = await ensureBrokerPki(topology, join(dir, 'pki'), (l) => childListenerNames(topology, inputs, l), (l) => collectorListenerNames(topology, inputs, l));
    const levels = renderDeployment(topology, inputs, ensureCredentials(topology), readPkiMaterial(pki));
    // The one thing a pod has that loopback has not: a Service name per level. Each collector runs
    // in a mount namespace of its own whose /etc/hosts maps those names to loopback addresses, so
    // the configs keep the Service names the children dial (and their certificates are checked
    // against them). Unavoidable replacements, and only these: 0.0.0.0 -> one loopback address
    // per level (the three would bind the same ports, and nothing here binds beyond loopback), and
    // the pod's mount paths (/etc/otelcol-tls/, /var/lib/otelcol/) -> this test's directories.
    const addressOf: Record<string, string> = { l4: '127.0.0.4', l3: '127.0.0.3', l2: '127.0.0.2' };
    const hostsFile = join(dir, 'hosts');
    writeFileSync(hostsFile, ['127.0.0.1 localhost', ...levels.map((l) => `${addressOf[l.level.name]} ${OTEL_COLLECTOR_RELEASE}.${l.namespace}.svc.cluster.local`)].join('\n') + '\n', { mode: 0o644 });
    const noProxy = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', ALL_PROXY: '', all_proxy: '' };
    for (const level of levels) {
      const name = level.level.name;
      const release = level.releases.find((r) => r.name === OTEL_COLLECTOR_RELEASE)!;
      const rendered = (release.values as { config: { collectorYaml: string } }).config.collectorYaml;
      const tlsDir = join(dir, name, 'tls');
      const dataDir = join(dir, name, 'data');
      mkdirSync(tlsDir, { recursive: true });
      mkdirSync(dataDir, { recursive: true });
      for (const [file, content] of Object.entries(level.secrets.find((s) => s.name === OTEL_COLLECTOR_SECRET)!.stringData)) writeFileSync(join(tlsDir, file), content, { mode: 0o600 });
      // (0.0.0.0 is every receiver's bind address and the self-metrics host.)
      const config = rendered.replaceAll('0.0.0.0', addressOf[name]!).replaceAll('/etc/otelcol-tls/', `${tlsDir}/`).replaceAll('/var/lib/otelcol/', `${dataDir}/`);
      assert.not.match(config, /0\.0\.0\.0/, 'nothing binds beyond loopback');
      // Nothing else differs: undoing the replacements gives the rendered text back.
      assert.is(config.replaceAll(addressOf[name]!, '0.0.0.0').replaceAll(`${tlsDir}/`, '/etc/otelcol-tls/').replaceAll(`${dataDir}/`, '/var/lib/otelcol/'), rendered);
      const configFile = join(dir, name, 'config.yaml');
      writeFileSync(configFile, config);
      const logFile = join(dir, name, 'otelcol.log');
      // unshare execs sh, sh execs the collector: one process, stopped by the cleanup.
      const proc = c.track(startProcess({ name: `${name}/otelcol-k8s`, command: 'unshare', args: ['--mount', '--', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile, toolPath('otelcol-edge'), '--config', configFile], env: noProxy, logFile }));
      const ports = [OTEL_COLLECTOR_PORTS.grpc, OTEL_COLLECTOR_PORTS.http, OTEL_COLLECTOR_PORTS.metrics, ...(name === 'l2' ? [] : [OTEL_COLLECTOR_PORTS.children])];
      await waitFor(`the ${name} collector as rendered for Kubernetes`, async () => {
        if (!proc.isRunning()) return false;
        for (const port of ports) if (!(await tcpReachable(addressOf[name]!, port))) return false;
        return true;
      }, 30_000).catch((err: Error) => {
        throw new Error(`${err.message}\n${existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : ''}`);
      });
    }
    const at = (l: string) => ({ host: addressOf[l]!, ports: { metrics: OTEL_COLLECTOR_PORTS.metrics } });
    const resource = { 'service.name': 'temperature-sensor', 'edge.level': 'l2', 'edge.test.run': hex(4) };
    const trace = traceRequest(resource, 2);
    // What a workload's SDK does with the OTEL_* env the renderer gives it: OTLP/HTTP to its level's collector.
    const res = await fetch(`http://${addressOf.l2}:${OTEL_COLLECTOR_PORTS.http}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(trace.body) });
    assert.is(res.status, 200, await res.text());
    const topFile = join(dir, 'l4', 'data', 'telemetry.jsonl');
    await waitFor(`trace ${trace.traceId} in the top level's file`, () => spansOf(topFile, trace.traceId).length >= 2, 30_000, 200);
    assert.is(spansOf(topFile, trace.traceId).length, 2, 'each span once');
    for (const span of spansOf(topFile, trace.traceId)) assert.equal(span.resource, resource);
    // Through every level's child receiver (gRPC, mTLS), and nothing else.
    for (const l of ['l3', 'l4']) assert.is(await selfMetric(at(l), 'otelcol_receiver_accepted_spans', { receiver: 'otlp/child_0', transport: 'grpc' }), 2, `${l}: from its child's collector`);
    for (const l of ['l2', 'l3']) assert.is(await selfMetric(at(l), 'otelcol_exporter_sent_spans', { exporter: 'otlp_grpc/parent' }), 2, `${l}: to its parent`);
    for (const l of ['l4', 'l3', 'l2']) assert.not.match(readFileSync(join(dir, l, 'otelcol.log'), 'utf8'), /"level":"error"/, `${l}: no error in its log`);
  });
});

test.run();
