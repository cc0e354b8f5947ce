// The telemetry plumbing without the edge: configuration from the OTEL_* environment, W3C trace
// context in and out, the gateway's metric categories and counters, and the spans the gateway
// and the producers make (with the real SDK, exporting to memory or to a real HTTP listener).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ConfigError } from '../workloads/shared/src/env.js';
import { Sequencer, traceparentInMessage } from '../workloads/shared/src/envelope.js';
import { spanContextFromTraceparent, noTelemetry, parseResourceAttributes, readTelemetryConfig, startTelemetry, traceparentOf, DEFAULT_METRIC_EXPORT_INTERVAL_MS, type EdgeTracer } from '../workloads/shared/src/telemetry.js';
import { edgeTracer } from '../workloads/shared/src/telemetry-sdk.js';
import { TelemetryPublisher } from '../workloads/shared/src/publisher.js';
import type { Logger } from '../workloads/shared/src/log.js';
import { deadLetterCategory, type GatewayMetrics } from '../workloads/data-gateway/src/metrics.js';
import { Router, SinkSet } from '../workloads/data-gateway/src/router.js';
import { SinkBatcher } from '../workloads/data-gateway/src/batcher.js';
import type { Sink } from '../workloads/data-gateway/src/sink.js';
import type { StoredRecord } from '../workloads/data-gateway/src/file-sink.js';
import { valuesIn } from '../workloads/opc-publisher/src/metrics.js';

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function memoryTracer(): { tracer: EdgeTracer; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  return { tracer: edgeTracer(provider.getTracer('test')), exporter };
}

test('telemetry off loads nothing of OpenTelemetry; on, it loads the SDK', async () => {
  // A fresh Node each time: what it loaded is in its CommonJS cache (the SDK is required, see
  // telemetry-sdk.ts), and no workload module but telemetry-sdk.js imports OpenTelemetry at run time.
  const probe = (env: Record<string, string>): string[] => {
    const script = `import { createRequire } from 'node:module';
      const { startTelemetry } = await import(${JSON.stringify(new URL('../workloads/shared/src/telemetry.js', import.meta.url).href)});
      const t = await startTelemetry('probe');
      console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes('@opentelemetry')).map((f) => f.split('@opentelemetry/')[1].split('/')[0])));
      await t.shutdown();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
    return [...new Set(JSON.parse(out.trim().split('\n').pop()!) as string[])].sort();
  };
  assert.equal(probe({}), []);
  const loaded = probe({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
  for (const pkg of ['api', 'sdk-metrics', 'sdk-trace', 'exporter-trace-otlp-proto']) assert.ok(loaded.includes(pkg), `${pkg} loaded: ${loaded.join(', ')}`);
  const imports = (file: string): string[] => [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(@opentelemetry\/[^']+)'/gm)].map((m) => m[1]!);
  const workloadsDir = new URL('../workloads/', import.meta.url).pathname;
  const offenders = readdirSync(workloadsDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js') && !f.endsWith('telemetry-sdk.js') && imports(join(workloadsDir, f)).length > 0);
  assert.equal(offenders, [], 'compiled workload modules importing OpenTelemetry at run time');
});

test('telemetry is off without OTEL_EXPORTER_OTLP_ENDPOINT: the no-op instruments', async () => {
  assert.is(readTelemetryConfig('svc', {}), undefined);
  const t = await startTelemetry('svc', quiet, {});
  assert.is(t, noTelemetry);
  assert.not.ok(t.enabled);
  const span = t.tracer.startSpan('x');
  assert.is(traceparentOf(span), undefined, 'a no-op span has no trace context to pass on');
  span.end();
});

test('the OTEL_* environment: endpoint, service name, resource attributes, export interval', () => {
  const config = readTelemetryConfig('default-name', {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_SERVICE_NAME: 'temperature-sensor',
    OTEL_RESOURCE_ATTRIBUTES: 'edge.level=l2, site=plant%2C1',
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
  });
  assert.equal(config, { endpoint: 'http://127.0.0.1:4318', serviceName: 'temperature-sensor', resource: { 'edge.level': 'l2', site: 'plant,1', 'service.name': 'temperature-sensor' }, metricExportIntervalMs: 1000 });
  const defaults = readTelemetryConfig('gw', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://h:4318' })!;
  assert.is(defaults.serviceName, 'gw');
  assert.is(defaults.metricExportIntervalMs, DEFAULT_METRIC_EXPORT_INTERVAL_MS);
});

test('a bad OTEL_* environment is refused with every problem named', () => {
  const err = (() => {
    try {
      readTelemetryConfig('svc', { OTEL_EXPORTER_OTLP_ENDPOINT: '127.0.0.1:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_RESOURCE_ATTRIBUTES: 'edge.level=l2,oops', OTEL_METRIC_EXPORT_INTERVAL: 'soon' });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.instance(err, ConfigError);
  const problems = (err as ConfigError).problems.join('\n');
  assert.match(problems, /OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\):\/\/ URL/);
  assert.match(problems, /OTEL_EXPORTER_OTLP_PROTOCOL must be http\/protobuf/);
  assert.match(problems, /OTEL_RESOURCE_ATTRIBUTES: "oops" must be key=value/);
  assert.match(problems, /OTEL_METRIC_EXPORT_INTERVAL must be an integer/);
  assert.equal(parseResourceAttributes('a=1,=2,b=%E0%A4%A').problems.length, 2, 'an empty key and a broken percent-encoding');
});

test('the SDK starts and stops, and never logs credentials of the endpoint URL', async () => {
  const lines: string[] = [];
  const log: Logger = { ...quiet, info: (msg, fields) => void lines.push(`${msg} ${JSON.stringify(fields)}`) };
  const t = await startTelemetry('svc', log, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://edge:s3cret@127.0.0.1:9/otlp', OTEL_RESOURCE_ATTRIBUTES: 'edge.level=l2' });
  assert.ok(t.enabled);
  await t.shutdown();
  const text = lines.join('\n');
  assert.match(text, /telemetry on .*"endpoint":"http:\/\/127\.0\.0\.1:9\/otlp"/);
  assert.match(text, /"edge.level":"l2"/);
  assert.not.match(text, /s3cret/);
  assert.throws(() => readTelemetryConfig('svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://[::1' }), /OTEL_EXPORTER_OTLP_ENDPOINT must be/);
});

test('W3C trace context: a span becomes a traceparent, and the traceparent a parent again', () => {
  const { tracer, exporter } = memoryTracer();
  const producer = tracer.startSpan('publish telemetry');
  const tp = traceparentOf(producer)!;
  assert.match(tp, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  producer.end();
  const child = tracer.startSpan('process telemetry', {}, spanContextFromTraceparent(tp));
  child.end();
  const [p, c] = exporter.getFinishedSpans();
  assert.is(c!.spanContext().traceId, p!.spanContext().traceId);
  assert.is(c!.parentSpanContext?.spanId, p!.spanContext().spanId);
  // absent or malformed: a new trace, never an error
  for (const bad of [undefined, 42, 'garbage', '00-00000000000000000000000000000000-b7ad6b7169203331-01', 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra']) {
    assert.is(spanContextFromTraceparent(bad), undefined, `no parent from ${String(bad)}`);
    tracer.startSpan('orphan', {}, spanContextFromTraceparent(bad)).end();
    assert.is(exporter.getFinishedSpans().at(-1)!.parentSpanContext, undefined, 'a new trace');
  }
  assert.equal(spanContextFromTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00'), { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 0, isRemote: true }, 'not sampled stays not sampled');
});

test('traceparentInMessage reads the field from parsed JSON and from text', () => {
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const m = { ...new Sequencer('s', 'l2', 1).next('t', { v: 1 }), traceparent: tp };
  assert.is(traceparentInMessage(m), tp);
  assert.is(traceparentInMessage(JSON.stringify(m)), tp);
  assert.is(traceparentInMessage(Buffer.from(JSON.stringify(m))), tp);
  assert.is(traceparentInMessage({ traceparent: 7 }), undefined);
  assert.is(traceparentInMessage('{"no":"trace"}'), undefined);
  assert.is(traceparentInMessage(null), undefined);
});

test('dead-letter reasons become a few fixed categories', () => {
  assert.is(deadLetterCategory('not JSON: Unexpected token'), 'not-json');
  assert.is(deadLetterCategory('message is 300000 bytes, over the 262144-byte limit'), 'too-large');
  assert.is(deadLetterCategory('message must be a JSON object'), 'not-an-object');
  assert.is(deadLetterCategory('invalid or missing field(s): source (non-empty string)'), 'invalid-fields');
  assert.is(deadLetterCategory('id must be "s:1:2" (source:epoch:seq), got "x"'), 'bad-id');
  assert.is(deadLetterCategory('postgresql rejected the record: value too long'), 'rejected-by-sink');
  assert.is(deadLetterCategory('something new'), 'other');
});

test('valuesIn counts the values of every DataSetMessage of a network message', () => {
  const field = { Value: 1, SourceTimestamp: null, StatusCode: { Code: 0, Symbol: 'Good' } };
  const dsm = (n: number) => ({ DataSetWriterId: 'w', SequenceNumber: 1, Timestamp: '', Payload: Object.fromEntries(Array.from({ length: n }, (_, i) => [`n${i}`, field])) });
  assert.is(valuesIn({ MessageId: 'm', MessageType: 'ua-data', PublisherId: 'p', DataSetWriterGroup: 'g', Messages: [dsm(3), dsm(2)] }), 5);
});

/** Records what the gateway reports, call by call. */
function recordingMetrics(): GatewayMetrics & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    consumed: (s) => calls.push(`consumed ${s}`),
    stored: (sink, sources) => calls.push(`stored ${sink} ${sources.join(',')}`),
    deadLettered: (r) => calls.push(`deadlettered ${deadLetterCategory(r)}`),
    duplicate: (s) => calls.push(`duplicate ${s}`),
    handled: () => undefined,
    endToEndLag: (s, ms) => calls.push(`lag ${s} ${ms >= 0 ? 'ok' : 'negative'}`),
  };
}

class MemorySink implements Sink {
  readonly name = 'memory';
  async open(): Promise<void> {}
  async write(): Promise<void> {}
  async close(): Promise<void> {}
}

test('the gateway counts what its stats count, and its store spans are children of the handling', async () => {
  const metrics = recordingMetrics();
  const { tracer, exporter } = memoryTracer();
  const batcher = new SinkBatcher(new MemorySink(), { maxBatch: 10, maxWaitMs: 0, retryMaxMs: 10, holdAlarmMs: 10_000, metrics }, quiet);
  const router = new Router(new SinkSet([batcher], tracer), async () => undefined, { metrics });
  const seq = new Sequencer('sensor', 'l2', 1);
  const first = seq.next('t', { v: 1 });
  const handling = tracer.startSpan('process telemetry');
  await router.handle(first, new Date(), handling.spanContext());
  handling.end();
  await router.handle(first); // redelivered
  await router.handle('{oops');
  assert.equal(metrics.calls, ['consumed sensor', 'stored memory sensor', 'lag sensor ok', 'consumed sensor', 'duplicate sensor', 'consumed unknown', 'deadlettered not-json']);
  assert.equal(router.stats, { received: 3, stored: 1, duplicates: 1, deadLettered: 1 });
  const spans = exporter.getFinishedSpans();
  const store = spans.find((s) => s.name === 'store memory')!;
  assert.ok(store, `spans: ${spans.map((s) => s.name).join(', ')}`);
  assert.is(store.parentSpanContext?.spanId, handling.spanContext().spanId);
  assert.is(store.attributes['messaging.message.id'], first.id);
  await batcher.close();
});

test('a producer passes its span to the sidecar twice: the traceparent header and the payload field', async () => {
  const seen: Array<{ header?: string; body: { traceparent?: string; id: string } }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ header: req.headers.traceparent as string | undefined, body: JSON.parse(body) });
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const common = { source: 'sensor', levelName: 'l2', daprHost: '127.0.0.1', daprHttpPort: port, pubsubName: 'pubsub', topic: 'telemetry', publishBatchMax: 1 };
    const { tracer, exporter } = memoryTracer();
    const traced = new TelemetryPublisher(common, quiet, { meter: noTelemetry.meter, tracer });
    const seq = new Sequencer('sensor', 'l2', 1);
    await traced.publish(seq.next('t', { v: 1 }));
    const span = exporter.getFinishedSpans()[0]!;
    const expected = `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
    assert.is(span.name, 'publish telemetry');
    assert.is(seen[0]!.header, expected);
    assert.is(seen[0]!.body.traceparent, expected);
    // Without telemetry the message is the bare envelope, as before.
    await new TelemetryPublisher(common, quiet).publish(seq.next('t', { v: 2 }));
    assert.is(seen[1]!.header, undefined);
    assert.not.ok('traceparent' in seen[1]!.body);
  } finally {
    server.close();
  }
});

test.run();
