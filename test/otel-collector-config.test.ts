// The OpenTelemetry Collector generator: golden output, the child -> parent-only rule, refused
// inputs, and the local plan's collectors (off by default). Pure: no process is started.
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import yaml from 'js-yaml';
import { ensureCredentials } from '../src/config/credentials.js';
import { OtelCollectorConfigError, parseOtlpEndpoint, renderOtelCollectorConfig, type OtelCollectorInput } from '../src/config/otel-collector.js';
import { buildLocalPlan, type PlanOptions } from '../src/local/plan.js';
import type { BrokerPki } from '../src/pki/broker-pki.js';
import { levelByName, parentFirst, type Topology } from '../src/topology/model.js';
import { loadTopology } from '../src/topology/parse.js';

const GOLDEN = new URL('../../test/golden/', import.meta.url);

function golden(name: string, actual: string): void {
  const file = new URL(name, GOLDEN);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  assert.fixture(actual, readFileSync(file, 'utf8'), `${name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it after review)`);
}

interface Parsed {
  receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } };
  processors: Record<string, unknown>;
  exporters: Record<string, Record<string, unknown>>;
  service: { telemetry: { metrics: { level: string } }; pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> };
}

/** A level of `t` as the local target lays it out: ports 4000 + 10 * index, parent from the model. */
function inputFor(t: Topology, name: string, extra: Partial<OtelCollectorInput> = {}): OtelCollectorInput {
  const portsOf = (n: string) => {
    const i = t.levels.findIndex((l) => l.name === n);
    return { grpc: 4000 + 10 * i, http: 4001 + 10 * i };
  };
  const level = levelByName(t, name);
  return {
    levelName: name,
    bindAddress: '127.0.0.1',
    ports: portsOf(name),
    ...(level.parent ? { parent: { host: '127.0.0.1', grpcPort: portsOf(level.parent).grpc } } : { top: { file: '/var/lib/edge/l4/otelcol/telemetry.jsonl' } }),
    ...extra,
  };
}

const parse = (text: string): Parsed => yaml.load(text) as Parsed;

test('collector config for a middle level and for the top level match the golden files', () => {
  const t = loadTopology();
  golden('l3-otelcol.yaml', renderOtelCollectorConfig(inputFor(t, 'l3', { selfMetrics: { host: '127.0.0.1', port: 8889 } })));
  golden('l4-otelcol.yaml', renderOtelCollectorConfig(inputFor(t, 'l4', { top: { file: '/var/lib/edge/l4/otelcol/telemetry.jsonl', upstream: parseOtlpEndpoint('https://otlp.example.com', 'http://127.0.0.1:3128') } })));
});

test('every lower level exports to its parent collector only; only the top level writes or exports', () => {
  const t = loadTopology();
  for (const level of parentFirst(t)) {
    const c = parse(renderOtelCollectorConfig(inputFor(t, level.name)));
    assert.equal(Object.keys(c.receivers), ['otlp']);
    assert.is(c.receivers.otlp.protocols.grpc.endpoint, `127.0.0.1:${inputFor(t, level.name).ports.grpc}`);
    assert.equal(Object.keys(c.service.pipelines).sort(), ['logs', 'metrics', 'traces']);
    for (const p of Object.values(c.service.pipelines)) {
      assert.equal(p.receivers, ['otlp']);
      assert.equal(p.processors, ['memory_limiter', 'batch'], 'memory_limiter first, then batch');
    }
    if (level.parent) {
      assert.equal(Object.keys(c.exporters), ['otlp_grpc/parent'], `${level.name} has one exporter: its parent`);
      assert.is(c.exporters['otlp_grpc/parent']!.endpoint, `127.0.0.1:${inputFor(t, level.parent).ports.grpc}`);
      for (const p of Object.values(c.service.pipelines)) assert.equal(p.exporters, ['otlp_grpc/parent']);
      // Bounded, counted hold while the parent is down.
      assert.equal(c.exporters['otlp_grpc/parent']!.sending_queue, { enabled: true, sizer: 'requests', queue_size: 1000 });
    } else {
      assert.equal(Object.keys(c.exporters), ['file'], 'the top level writes its file and, unless configured, nothing else');
      assert.is(c.exporters.file!.path, '/var/lib/edge/l4/otelcol/telemetry.jsonl');
    }
    // No self-metrics port unless asked: three collectors on one host must not all claim :8888.
    assert.is(c.service.telemetry.metrics.level, 'none');
  }
});

test('the top level exports OTLP only when configured: http with the egress proxy, or grpc', () => {
  const t = loadTopology();
  const http = parse(renderOtelCollectorConfig(inputFor(t, 'l4', { top: { file: '/f', upstream: parseOtlpEndpoint('http://collector.example.com:4318/', 'http://127.0.0.1:3128') } })));
  assert.equal(Object.keys(http.exporters), ['file', 'otlp_http/upstream']);
  assert.is(http.exporters['otlp_http/upstream']!.endpoint, 'http://collector.example.com:4318');
  assert.is(http.exporters['otlp_http/upstream']!.proxy_url, 'http://127.0.0.1:3128');
  for (const p of Object.values(http.service.pipelines)) assert.equal(p.exporters, ['file', 'otlp_http/upstream']);
  const grpc = parse(renderOtelCollectorConfig(inputFor(t, 'l4', { top: { file: '/f', upstream: parseOtlpEndpoint('grpc://10.0.0.9:4317') } })));
  assert.equal(grpc.exporters['otlp_grpc/upstream']!.endpoint, '10.0.0.9:4317');
  assert.equal(grpc.exporters['otlp_grpc/upstream']!.tls, { insecure: true });
  const tls = parse(renderOtelCollectorConfig(inputFor(t, 'l4', { top: { file: '/f', upstream: parseOtlpEndpoint('grpcs://otlp.example.com:443') } })));
  assert.is(tls.exporters['otlp_grpc/upstream']!.tls, undefined, 'grpcs: TLS (the default)');
});

test('refused inputs name every problem at once', () => {
  const t = loadTopology();
  const err = (() => {
    try {
      renderOtelCollectorConfig({ ...inputFor(t, 'l3'), ports: { grpc: 70000, http: 70000 }, top: { file: '', upstream: { protocol: 'http', endpoint: 'collector:4318' } } });
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  assert.instance(err, OtelCollectorConfigError);
  for (const want of ['ports.grpc must be a TCP port', 'ports.http must be a TCP port', 'must differ', 'either a parent', 'top.file', 'must be an http(s):// URL']) assert.ok(err!.message.includes(want), `${want} in:\n${err!.message}`);
  assert.throws(() => renderOtelCollectorConfig({ levelName: 'x', bindAddress: '127.0.0.1', ports: { grpc: 4317, http: 4318 } }), /`parent` \(a lower level\) or `top`/);
  assert.throws(() => parseOtlpEndpoint('collector:4317'), /use http\(s\):\/\/host/);
  assert.throws(() => parseOtlpEndpoint('grpc://collector'), /needs host:port/);
  assert.throws(() => parseOtlpEndpoint('grpc://collector:4317/v1'), /no path/);
});

const fakePki: BrokerPki = {
  dir: '/pki',
  ca: { cert: '/pki/ca.crt', key: '/pki/ca.key' },
  trustFile: '/pki/trust.crt',
  levels: Object.fromEntries(['l4', 'l3', 'l2'].map((l) => [l, { server: { cert: `/pki/${l}/server.crt`, key: `/pki/${l}/server.key` }, bridge: { cert: `/pki/${l}/bridge.crt`, key: `/pki/${l}/bridge.key` } }])),
};

async function plan(otel?: PlanOptions['otel']) {
  const t = loadTopology();
  let next = 30000;
  return buildLocalPlan(t, ensureCredentials(t), { dataDir: '/data', pki: fakePki, daprdPath: '/bin/daprd', mosquittoPath: '/bin/mosquitto', nodePath: '/bin/node', hostOf: () => '127.0.0.1', allocatePort: async () => next++, ...(otel ? { otel } : {}) });
}

test('local plan: collectors are off by default, and then nothing about them is planned', async () => {
  const p = await plan();
  assert.equal(p.collectors, []);
  assert.is(p.telemetryFile, undefined);
  assert.not.ok(p.files.some((f) => f.path.includes('otelcol')));
  for (const w of p.workloads) assert.is(w.app.env.OTEL_EXPORTER_OTLP_ENDPOINT, undefined);
});

test('local plan with --otel: a collector per level, parent first, each forwarding to its parent; workloads pointed at their own level', async () => {
  const p = await plan({ collectorPath: '/bin/otelcol-edge' });
  assert.equal(p.collectors.map((c) => c.level.name), ['l4', 'l3', 'l2']);
  assert.is(p.telemetryFile, '/data/l4/otelcol/telemetry.jsonl');
  for (const c of p.collectors) {
    assert.equal(c.process.args, ['--config', `/data/${c.level.name}/otelcol/config.yaml`]);
    const conf = parse(p.files.find((f) => f.path === `/data/${c.level.name}/otelcol/config.yaml`)!.content);
    const parent = p.collectors.find((o) => o.level.name === c.level.parent);
    if (parent) {
      // To the parent's child receiver, with mTLS: this level's bridge certificate, the install's trust.
      assert.equal(conf.exporters['otlp_grpc/parent']!.endpoint, `127.0.0.1:${parent.ports.children}`);
      assert.equal(conf.exporters['otlp_grpc/parent']!.tls, { ca_file: '/pki/trust.crt', cert_file: `/pki/${c.level.name}/bridge.crt`, key_file: `/pki/${c.level.name}/bridge.key`, min_version: '1.2', reload_interval: '1m' });
    } else assert.is(conf.exporters.file!.path, p.telemetryFile);
    // Its own metrics only (receiver otlp, not its children's), kept in its own data dir.
    assert.is(conf.exporters['file/level']!.path, `/data/${c.level.name}/otelcol/level-metrics.jsonl`);
    assert.equal(conf.service.pipelines['metrics/level'], { receivers: ['otlp'], processors: ['memory_limiter', 'batch'], exporters: ['file/level'] });
    const children = p.collectors.filter((o) => o.level.parent === c.level.name);
    if (children.length) {
      const child = (conf.receivers as unknown as Record<string, { protocols: { grpc: { endpoint: string; tls: Record<string, string> } } }>)['otlp/child_0']!;
      assert.is(child.protocols.grpc.endpoint, `127.0.0.1:${c.ports.children}`);
      assert.is(child.protocols.grpc.tls.client_ca_file, '/pki/trust.crt', 'children must present a certificate of the install\'s CA');
      assert.is(child.protocols.grpc.tls.cert_file, `/pki/${c.level.name}/server.crt`);
      assert.equal(conf.service.pipelines.metrics!.receivers, ['otlp', 'otlp/child_0']);
    } else assert.is(c.ports.children, undefined, 'a level without children has no child receiver');
    assert.is(conf.service.telemetry.metrics.level, 'normal', 'the local target reads each collector\'s own metrics');
  }
  const ports = p.collectors.flatMap((c) => [c.ports.grpc, c.ports.http, c.ports.metrics, ...(c.ports.children ? [c.ports.children] : [])]);
  // A broker exporter per level, on its own level's broker and collector; the password in a 0600 file only.
  assert.equal(p.brokerExporters.map((e) => e.level.name), ['l4', 'l3', 'l2']);
  for (const e of p.brokerExporters) {
    const col = p.collectors.find((c) => c.level.name === e.level.name)!;
    const mon = p.monitor.find((m) => m.level === e.level.name)!;
    assert.is(e.process.env.EDGE_OTLP_METRICS_URL, `http://127.0.0.1:${col.ports.http}/v1/metrics`);
    assert.is(e.process.env.EDGE_BROKER_URL, `mqtt://127.0.0.1:${mon.port}`);
    assert.is(e.process.env.EDGE_BRIDGE_PARENT, e.level.parent);
    const pwFile = p.files.find((f) => f.path === e.process.env.EDGE_MONITOR_PASSWORD_FILE)!;
    assert.ok(pwFile.secret, 'the password file is written 0600');
    assert.is(pwFile.content.trim(), mon.password);
    assert.not.ok([...e.process.args, ...Object.values(e.process.env)].some((v) => v.includes(mon.password)), 'the password is in no argument and no variable');
  }
  assert.is(new Set(ports).size, ports.length, 'no port is planned twice');
  const sensor = p.workloads.find((w) => w.workload.name === 'temperature-sensor')!;
  const l2 = p.collectors.find((c) => c.level.name === 'l2')!;
  assert.is(sensor.app.env.OTEL_EXPORTER_OTLP_ENDPOINT, `http://127.0.0.1:${l2.ports.http}`);
  assert.is(sensor.app.env.OTEL_RESOURCE_ATTRIBUTES, 'edge.level=l2');
});

test.run();
