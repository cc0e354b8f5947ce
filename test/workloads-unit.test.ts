// Pure logic of the sensor and the gateway: the envelope contract, the random walk,
// de-duplication, the durable sink and the routing decision.
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseTelemetry, Sequencer } from '../workloads/shared/src/envelope.js';
import { ConfigError } from '../workloads/shared/src/env.js';
import { TemperatureModel } from '../workloads/temperature-sensor/src/model.js';
import { readSensorConfig } from '../workloads/temperature-sensor/src/config.js';
import { SeenMessages } from '../workloads/data-gateway/src/dedupe.js';
import { FileSink, readRecords } from '../workloads/data-gateway/src/file-sink.js';
import { Router } from '../workloads/data-gateway/src/router.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TelemetryPublisher } from '../workloads/shared/src/publisher.js';
import { createLogger } from '../workloads/shared/src/log.js';
import { EnvReader, readCommon } from '../workloads/shared/src/env.js';
import { failedEntryIds } from '../workloads/shared/src/bulk-publish.js';
import { withCleanup } from './helpers.js';

test('the sequencer numbers messages 1, 2, 3 and builds ids from source, epoch and seq', () => {
  const s = new Sequencer('sensor-a', 'l2', 1234);
  const msgs = [s.next('t', { v: 1 }), s.next('t', { v: 2 }), s.next('t', { v: 3 })];
  assert.equal(msgs.map((m) => m.seq), [1, 2, 3]);
  assert.equal(msgs.map((m) => m.id), ['sensor-a:1234:1', 'sensor-a:1234:2', 'sensor-a:1234:3']);
  for (const m of msgs) assert.ok(parseTelemetry(m).ok);
});

test('parseTelemetry names what is wrong', () => {
  const bad = (input: unknown): string => {
    const r = parseTelemetry(input);
    assert.not.ok(r.ok);
    return (r as { reason: string }).reason;
  };
  assert.match(bad('{not json'), /^not JSON/);
  assert.match(bad('[1,2]'), /must be a JSON object/);
  assert.match(bad({ source: 's', level: 'l2', epoch: 1, seq: 0, timestamp: 'x', type: 't', data: 1, id: 's:1:0' }), /seq \(integer >= 1\).*timestamp/);
  assert.match(bad({ source: 's', level: 'l2', epoch: 1, seq: 2, timestamp: new Date().toISOString(), type: 't', data: 1, id: 'other' }), /id must be "s:1:2"/);
  assert.match(bad('x'.repeat(300_000)), /over the 262144-byte limit/);
});

test('the sensor model is a correlated, bounded walk, reproducible from a seed', () => {
  const a = new TemperatureModel(42);
  const b = new TemperatureModel(42);
  const series = Array.from({ length: 500 }, () => a.next(new Date(0)));
  assert.equal(series.slice(0, 5), Array.from({ length: 5 }, () => b.next(new Date(0))), 'same seed, same series');
  const temps = series.map((r) => r.machine.temperature);
  const steps = temps.slice(1).map((t, i) => Math.abs(t - temps[i]!));
  const range = Math.max(...temps) - Math.min(...temps);
  assert.ok(Math.max(...steps) < range / 3, 'consecutive readings are close compared with the overall range (not uniform noise)');
  assert.ok(temps[499]! > temps[0]! + 10, 'the machine warms up towards its operating mean');
  for (const r of series) {
    assert.ok(r.ambient.humidity >= 0 && r.ambient.humidity <= 100);
    assert.ok(r.machine.pressure >= 0);
  }
});

test('sensor config reports every bad variable at once', () => {
  try {
    readSensorConfig({ SENSOR_INTERVAL_MS: 'fast', SENSOR_COUNT: '-1', DAPR_HTTP_PORT: '99999' });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const v of ['SENSOR_INTERVAL_MS', 'SENSOR_COUNT', 'DAPR_HTTP_PORT']) assert.ok(problems.includes(v), `${v} in ${problems}`);
  }
});

test('concurrent publishes: acknowledged counts only a prefix whose every seq the sidecar acknowledged', async () => {
  // A stand-in sidecar that answers seq 1 last.
  const waiting: Array<() => void> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const answer = (): void => void res.writeHead(204).end();
      if ((JSON.parse(body) as { seq: number }).seq === 1) waiting.push(answer);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const config = readCommon(new EnvReader({ DAPR_HOST: '127.0.0.1', DAPR_HTTP_PORT: String(port), PUBLISH_BATCH_MAX: '1' }), 'sensor');
    const publisher = new TelemetryPublisher(config, createLogger('sensor', 'l2', 'error'));
    const seq = new Sequencer('sensor', 'l2');
    const model = new TemperatureModel(1);
    const first = publisher.publish(seq.next('temperature', model.next()));
    await Promise.all([2, 3].map(() => publisher.publish(seq.next('temperature', model.next()))));
    assert.is(publisher.report().acknowledged, 0, 'seq 2 and 3 are in, but seq 1 is not yet');
    while (waiting.length === 0) await new Promise((r) => setTimeout(r, 5));
    waiting.shift()!();
    await first;
    assert.is(publisher.report().acknowledged, 3);
  } finally {
    server.close();
  }
});

test('bulk publish: messages in flight share a request; an entry daprd reports failed is retried alone, the rest count', async () => {
  // A stand-in sidecar: holds the first request until three more messages wait, fails entry 1 of the second.
  const requests: Array<{ url: string; entries: Array<{ entryId: string; event: string; contentType: string }> }> = [];
  let releaseFirst: (() => void) | undefined;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({ url: req.url!, entries: JSON.parse(body) });
      if (requests.length === 1) releaseFirst = () => void res.writeHead(204).end();
      else if (requests.length === 2) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ failedEntries: [{ entryId: '1', error: 'broker said no' }], errorCode: 'ERR_PUBSUB_PUBLISH_MESSAGE' }));
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const config = readCommon(new EnvReader({ DAPR_HOST: '127.0.0.1', DAPR_HTTP_PORT: String(port) }), 'sensor');
    assert.is(config.publishBatchMax, 10, 'batches are on by default');
    const publisher = new TelemetryPublisher(config, createLogger('sensor', 'l2', 'error'));
    const seq = new Sequencer('sensor', 'l2');
    const messages = Array.from({ length: 4 }, (_, i) => seq.next('temperature', { celsius: 20 + i }));
    const sent = messages.map((m) => publisher.publish(m));
    while (!releaseFirst) await new Promise((r) => setTimeout(r, 5));
    assert.is(publisher.report().acknowledged, 0);
    releaseFirst();
    await Promise.all(sent);
    assert.equal(requests.map((r) => r.entries.length), [1, 3, 1], 'one alone, then the three that waited, then the failed one again');
    assert.is(requests[0]!.url, '/v1.0-alpha1/publish/bulk/pubsub/telemetry?metadata.rawPayload=true');
    assert.equal(requests[1]!.entries.map((e) => [e.entryId, e.contentType, JSON.parse(e.event).seq]), [['0', 'text/plain', 2], ['1', 'text/plain', 3], ['2', 'text/plain', 4]]);
    assert.is(requests[1]!.entries[0]!.event, JSON.stringify(messages[1]), 'the bytes of a single publish, unchanged');
    assert.is(JSON.parse(requests[2]!.entries[0]!.event).seq, 3, 'only the failed entry is sent again');
    assert.equal(publisher.report(), { source: 'sensor', level: 'l2', epoch: messages[0]!.epoch, acknowledged: 4, failedAttempts: 1 });
  } finally {
    server.close();
  }
});

test('bulk publish: an answer that does not name the failed entries fails them all', () => {
  assert.equal(failedEntryIds(500, JSON.stringify({ failedEntries: [{ entryId: '2', error: 'x' }] })), new Map([['2', 'x']]));
  assert.is(failedEntryIds(500, JSON.stringify({ failedEntries: [] })), undefined);
  assert.is(failedEntryIds(500, 'not json'), undefined);
  assert.is(failedEntryIds(403, JSON.stringify({ failedEntries: [{ entryId: '2' }] })), undefined, 'only a 500 lists partial failures');
});

test('SeenMessages remembers out-of-order and repeated sequence numbers per producer run', () => {
  const seen = new SeenMessages();
  assert.ok(seen.add('a', 1, 2));
  assert.ok(seen.add('a', 1, 1));
  assert.not.ok(seen.add('a', 1, 2), 'a redelivery is a duplicate');
  assert.ok(seen.add('a', 2, 1), 'another epoch is another run');
  assert.ok(seen.add('b', 1, 1), 'another source');
  assert.ok(seen.has('a', 1, 1) && seen.has('a', 1, 2) && !seen.has('a', 1, 3));
});

test('the file sink is durable, keeps order, and ignores a torn last line', async () => {
  await withCleanup(async (c) => {
    const file = join(c.dir('sink'), 'sink.jsonl');
    const sink = new FileSink(file);
    assert.equal(sink.open(), []);
    const rec = (seq: number) => ({ id: `s:1:${seq}`, source: 's', level: 'l4', epoch: 1, seq, timestamp: 't', receivedAt: 'r', type: 'x', data: { seq } });
    await Promise.all([1, 2, 3].map((n) => sink.write(rec(n))));
    await sink.close();
    appendFileSync(file, '{"id":"s:1:4","sour'); // a crash mid-write
    assert.equal(readRecords(file).map((r) => r.seq), [1, 2, 3]);
    writeFileSync(file, readFileSync(file, 'utf8').replace('"seq":2', 'garbage'));
    assert.throws(() => readRecords(file), /sink.jsonl:2: corrupt record in the middle/, 'corruption before the end is an error, not silently skipped');
  });
});

test('the router stores once, skips duplicates, and dead-letters what it cannot parse', async () => {
  await withCleanup(async (c) => {
    const file = join(c.dir('router'), 'sink.jsonl');
    const sink = new FileSink(file);
    sink.open();
    const dead: Array<{ reason: string }> = [];
    const router = new Router(sink, async (p) => void dead.push(p));
    const s = new Sequencer('sensor', 'l2', 7);
    const m1 = s.next('t', { v: 1 });
    const m2 = s.next('t', { v: 2 });
    const outcomes = await Promise.all([router.handle(m1), router.handle(m1), router.handle('{oops'), router.handle(m2)]);
    assert.equal(outcomes.map((o) => o.kind), ['stored', 'duplicate', 'dead-letter', 'stored']);
    assert.match(dead[0]!.reason, /not JSON/);
    await sink.close();
    assert.equal(readRecords(file).map((r) => r.id), [m1.id, m2.id]);

    // A restarted gateway remembers what the sink holds.
    const again = new FileSink(file);
    const router2 = new Router(again, async () => undefined);
    router2.remember(again.open());
    assert.is((await router2.handle(m2)).kind, 'duplicate');
    await again.close();
    assert.equal(router2.stats, { received: 1, stored: 0, duplicates: 1, deadLettered: 0 });
  });
});

test('a failed dead-letter publish is not acknowledged (the error reaches Dapr as RETRY)', async () => {
  await withCleanup(async (c) => {
    const sink = new FileSink(join(c.dir('router'), 'sink.jsonl'));
    sink.open();
    const router = new Router(sink, async () => {
      throw new Error('broker down');
    });
    let failed = false;
    await router.handle('{oops').catch(() => (failed = true));
    assert.ok(failed);
    assert.is(router.stats.deadLettered, 0);
    await sink.close();
  });
});

test.run();
