// The workloads' metrics against the run's own accounting: the default edge with --otel, and the
// counters the top level's collector wrote equal, exactly, what the e2e summary counts (sent per
// producer from its reports, delivered per source from the sink file).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { waitFor } from '../src/common/proc.js';
import type { SourceSummary } from '../src/local/summary.js';
import { processesMentioning, withCleanup } from './helpers.js';
import { counterTotals, metricPointsIn, startDefaultEdgeWithOtel, type MetricPoint } from './otel-edge.js';

const SENSOR_COUNT = 200;
const EXPORT_INTERVAL_MS = 1_000;
const PRODUCERS = ['temperature-sensor', 'opc-publisher'];

test('metric totals in the top level file equal the summary: produced/acknowledged per source at l2, stored per sink at l4', async () => {
  let dir = '';
  await withCleanup(async (c) => {
    const started = await startDefaultEdgeWithOtel(c, { sensorCount: SENSOR_COUNT, sensorIntervalMs: 10, appEnv: { OTEL_METRIC_EXPORT_INTERVAL: String(EXPORT_INTERVAL_MS) } });
    const { edge, plan } = started;
    dir = started.dir;
    const file = plan.telemetryFile!;

    // While running: the sensor's counter is exported every OTEL_METRIC_EXPORT_INTERVAL, not only at exit.
    const sensorExports = (): MetricPoint[] => metricPointsIn(file).filter((p) => p.name === 'edge.messages.produced' && p.service === 'temperature-sensor');
    await waitFor('three periodic exports of the sensor counter', () => (edge.check(), sensorExports().length >= 3), 30_000, 250);
    const times = sensorExports().map((p) => Number(p.time / 1_000_000n)).sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(Math.min(...gaps) < EXPORT_INTERVAL_MS * 2.5, `exports ${gaps.join(', ')} ms apart: OTEL_METRIC_EXPORT_INTERVAL=${EXPORT_INTERVAL_MS} is honoured`);

    await waitFor(`${SENSOR_COUNT} sensor readings acknowledged`, () => (edge.check(), edge.readReports().find((r) => r.source === 'temperature-sensor')?.acknowledged === SENSOR_COUNT), 60_000, 200);
    await waitFor('OPC UA batches acknowledged', () => (edge.readReports().find((r) => r.source === 'opc-publisher')?.acknowledged ?? 0) >= 3, 60_000, 200);
    await edge.stopProducers();
    await edge.drain(30_000);
    await edge.stopAll(); // the workloads export their final values, the collectors flush upward
    await edge.stores.poll();
    const summary = edge.stores.summary(plan.opcGroups);
    assert.is(summary.lost, 0);
    const perSource = (source: string): SourceSummary => summary.per_source[source] as SourceSummary;

    const points = metricPointsIn(file);
    const bySource = (name: string) => counterTotals(points, name, (p) => `${p.service}@${p.level}:${p.attributes.source}`);
    const produced = bySource('edge.messages.produced');
    const acknowledged = bySource('edge.messages.acknowledged');
    for (const source of PRODUCERS) {
      assert.ok(perSource(source).sent > 0, `${source} sent something`);
      assert.is(produced[`${source}@l2:${source}`], perSource(source).sent, `edge.messages.produced of ${source} (l2) = summary sent`);
      assert.is(acknowledged[`${source}@l2:${source}`], perSource(source).sent, `edge.messages.acknowledged of ${source} (l2) = summary sent`);
    }
    assert.is(Object.keys(produced).length, PRODUCERS.length, `only the l2 producers produce: ${JSON.stringify(produced)}`);
    assert.equal(bySource('edge.messages.failed'), {}, 'no failed publish attempt in a healthy run');

    const stored = counterTotals(points, 'edge.messages.stored', (p) => `${p.service}@${p.level}:${p.attributes.sink}:${p.attributes.source}`);
    for (const source of PRODUCERS) assert.is(stored[`data-gateway@l4:file:${source}`], perSource(source).delivered, `edge.messages.stored (file) of ${source} = summary delivered`);
    assert.is(Object.values(stored).reduce((a, b) => a + b, 0), summary.delivered, 'nothing else stored');

    // The gateway's other figures hang together with what it stored.
    const consumed = bySource('edge.messages.consumed');
    const duplicates = bySource('edge.messages.duplicates');
    for (const source of PRODUCERS) {
      const key = `data-gateway@l4:${source}`;
      assert.is(consumed[key], perSource(source).delivered + (duplicates[key] ?? 0), `consumed = stored + duplicates for ${source}`);
    }
    assert.equal(counterTotals(points, 'edge.messages.deadlettered', (p) => String(p.attributes.reason)), {}, 'nothing dead-lettered');
    const histogramCount = (name: string, key: (p: MetricPoint) => string) => counterTotals(points, name, key);
    assert.equal(histogramCount('edge.e2e.lag', (p) => String(p.attributes.source)), Object.fromEntries(PRODUCERS.map((s) => [s, perSource(s).delivered])), 'one e2e lag per stored message');
    assert.is(histogramCount('edge.handler.duration', () => 'all').all, Object.values(consumed).reduce((a, b) => a + b, 0), 'one handler duration per delivery');
    assert.is(histogramCount('edge.publish.batch_size', (p) => `${p.service}@${p.level}`)['opc-publisher@l2'], perSource('opc-publisher').sent, 'one batch size per OPC UA network message');
    const session = points.filter((p) => p.name === 'edge.opcua.session.state');
    assert.ok(session.some((p) => p.value === 1 && p.service === 'opc-publisher' && p.level === 'l2' && String(p.attributes['opcua.endpoint']).startsWith('opc.tcp://')), 'the OPC UA session was reported connected');
  });
  assert.ok(dir);
  assert.is(await processesMentioning(dir), '', 'every process of the run is gone');
});

test.run();
