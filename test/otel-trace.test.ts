// One message, one trace, across three levels: the default edge with --otel (real collectors,
// Mosquitto bridges, daprd and the workloads). A reading the level-2 sensor publishes is traced
// from its publish span (l2) to the gateway's handling (l4) and the store write under it, read
// back from the top level's collector file; the trace context rides in the payload over MQTT.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitFor } from '../src/common/proc.js';
import { readRecords } from '../workloads/data-gateway/src/file-sink.js';
import { processesMentioning, withCleanup } from './helpers.js';
import { KIND, spansIn, startDefaultEdgeWithOtel, type FlatSpan } from './otel-edge.js';

const SENSOR_COUNT = 20;

test('a level-2 reading is one trace: sensor publish (l2) -> gateway handling (l4) -> store write', async () => {
  let dir = '';
  await withCleanup(async (c) => {
    const started = await startDefaultEdgeWithOtel(c, { sensorCount: SENSOR_COUNT, sensorIntervalMs: 50 });
    const { edge, plan } = started;
    dir = started.dir;
    // Every sidecar reads a Dapr Configuration that sends its spans to its own level's collector.
    for (const w of plan.workloads.filter((x) => x.daprd)) {
      const args = w.daprd!.args;
      const configFile = args[args.indexOf('--config') + 1]!;
      assert.ok(args.includes('--config') && configFile.endsWith('dapr-config.yaml'), `${w.daprd!.name} gets --config`);
      const collector = plan.collectors.find((c) => c.level.name === w.level.name)!;
      assert.match(readFileSync(configFile, 'utf8'), `endpointAddress: ${collector.host}:${collector.ports.grpc}`);
    }
    await waitFor(`${SENSOR_COUNT} sensor readings acknowledged`, () => (edge.check(), edge.readReports().find((r) => r.source === 'temperature-sensor')?.acknowledged === SENSOR_COUNT), 60_000, 200);
    await waitFor('an OPC UA batch acknowledged', () => (edge.readReports().find((r) => r.source === 'opc-publisher')?.acknowledged ?? 0) >= 1, 60_000, 200);
    await edge.stopProducers();
    await edge.drain(30_000);
    await edge.stopAll(); // each workload and collector flushes on the way out
    const file = plan.telemetryFile!;
    const spans = spansIn(file);
    const stored = readRecords(plan.sinkFile);

    const byTrace = new Map<string, FlatSpan[]>();
    for (const s of spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
    /** The trace of one stored message, found from its producer span. */
    const traceOf = (messageId: string) => {
      const publishes = spans.filter((s) => s.name === 'publish telemetry' && s.attributes['messaging.message.id'] === messageId);
      assert.is(publishes.length, 1, `one publish span for ${messageId}`);
      const publish = publishes[0]!;
      return { publish, all: byTrace.get(publish.traceId)! };
    };

    const sensorRecords = stored.filter((r) => r.source === 'temperature-sensor');
    assert.is(sensorRecords.length, SENSOR_COUNT);
    for (const record of sensorRecords) {
      const { publish, all } = traceOf(record.id);
      assert.is(publish.service, 'temperature-sensor');
      assert.is(publish.level, 'l2');
      assert.is(publish.kind, KIND.producer);
      assert.is(publish.parentSpanId, undefined, 'the publish span starts the trace');
      const handling = all.filter((s) => s.name === 'process telemetry');
      assert.is(handling.length, 1, `one gateway span in the trace of ${record.id}`);
      const handle = handling[0]!;
      assert.is(handle.service, 'data-gateway');
      assert.is(handle.level, 'l4');
      assert.is(handle.kind, KIND.consumer);
      assert.is(handle.parentSpanId, publish.spanId, 'the gateway continues the producer span across both bridges');
      assert.is(handle.attributes['edge.outcome'], 'stored');
      assert.is(handle.attributes['messaging.message.id'], record.id);
      const writes = all.filter((s) => s.name === 'store file');
      assert.is(writes.length, 1, 'one store write');
      assert.is(writes[0]!.parentSpanId, handle.spanId, 'the store write is a child of the handling');
      assert.is(writes[0]!.level, 'l4');
      assert.is(writes[0]!.kind, KIND.client);
    }

    // Dapr's own spans: the l2 sidecar's publish joins the producer's trace (traceparent header).
    const sample = traceOf(sensorRecords[0]!.id);
    const dapr = sample.all.filter((s) => s.service === 'temperature-sensor' && s.scope !== 'nested-edge');
    assert.ok(dapr.length >= 1, `daprd spans in the sensor's trace; the trace holds: ${JSON.stringify(sample.all.map((s) => [s.service, s.level, s.name, s.scope]))}`);
    for (const s of dapr) assert.is(s.parentSpanId, sample.publish.spanId, `daprd span ${s.name} is a child of the publish span`);

    // An OPC UA batch: one span per network message, continued at l4 the same way.
    const opc = stored.find((r) => r.source === 'opc-publisher');
    assert.ok(opc, 'an OPC UA batch was stored');
    const batch = traceOf(opc!.id);
    assert.is(batch.publish.service, 'opc-publisher');
    const handle = batch.all.find((s) => s.name === 'process telemetry');
    assert.is(handle?.parentSpanId, batch.publish.spanId);
    assert.ok(batch.all.some((s) => s.name === 'store file' && s.parentSpanId === handle!.spanId));
  });
  assert.ok(dir);
  assert.is(await processesMentioning(dir), '', 'every process of the run is gone');
});

test.run();
