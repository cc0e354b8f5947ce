// Unit tests of the data gateway's parts: routing configuration, the resequencer, per-sink
// batching (size, max wait, holding while a sink is down, rejected records), the router.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../workloads/shared/src/env.js';
import { Sequencer } from '../workloads/shared/src/envelope.js';
import type { Logger } from '../workloads/shared/src/log.js';
import { SinkBatcher } from '../workloads/data-gateway/src/batcher.js';
import { parseSinks, readGatewayConfig } from '../workloads/data-gateway/src/config.js';
import { resolveRouting } from '../workloads/data-gateway/src/routes.js';
import { parseTopology } from '../src/topology/parse.js';
import { JsonLinesSink, readRecords, type StoredRecord } from '../workloads/data-gateway/src/file-sink.js';
import { Resequencer } from '../workloads/data-gateway/src/resequencer.js';
import { Router, SinkSet } from '../workloads/data-gateway/src/router.js';
import { RejectedRecordError, type Sink } from '../workloads/data-gateway/src/sink.js';
import { workloadEnv } from '../src/topology/workload-env.js';
import { withCleanup } from './helpers.js';

const quiet: Logger & { lines: string[] } = Object.assign(
  { lines: [] as string[] },
  {
    debug: () => undefined,
    info: () => undefined,
    warn: (m: string) => void quiet.lines.push(`warn ${m}`),
    error: (m: string) => void quiet.lines.push(`error ${m}`),
  },
);

const rec = (seq: number, source = 's'): StoredRecord => ({ id: `${source}:1:${seq}`, source, level: 'l4', epoch: 1, seq, timestamp: 't', receivedAt: 'r', type: 'x', data: { seq } });

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    readGatewayConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test('routing config: file is the default; sinks validated with every problem listed at once', () => {
  const base = { GATEWAY_SINK_FILE: '/tmp/x.jsonl' };
  const config = readGatewayConfig(base);
  assert.equal(config.sinks, ['file']);
  assert.equal(config.batch.file, { maxBatch: 100, maxWaitMs: 10 });
  assert.is(config.resequenceHoldMs, 2_000);

  assert.equal(parseSinks('file, postgresql').sinks, ['file', 'postgresql']);
  assert.equal(parseSinks('file,kafka,file,').problems, ['GATEWAY_SINKS: unknown sink "kafka"; known: file, postgresql, eventhubs', 'GATEWAY_SINKS lists "file" twice', 'GATEWAY_SINKS has an empty entry ("file,kafka,file,")']);
  assert.match(parseSinks(' ').problems[0]!, /names no sink/);

  const problems = problemsOf({ GATEWAY_SINKS: 'file,postgresql,eventhubs,s3', GATEWAY_PG_TABLE: 'Drop Table', GATEWAY_POSTGRESQL_BATCH_SIZE: '0', GATEWAY_RESEQUENCE_HOLD_MS: '-1', GATEWAY_EVENTHUBS_BINDING: 'pubsub' });
  const text = problems.join('\n');
  for (const expected of [/unknown sink "s3"/, /GATEWAY_SINK_FILE is required/, /GATEWAY_PG_TABLE must be a lower-case SQL identifier/, /set GATEWAY_PG_URL_FILE .* or GATEWAY_PG_URL .*, or PGHOST/, /GATEWAY_POSTGRESQL_BATCH_SIZE must be an integer between 1/, /GATEWAY_RESEQUENCE_HOLD_MS must be an integer/, /GATEWAY_EVENTHUBS_BINDING must name the Event Hubs output binding/]) {
    assert.match(text, expected);
  }
  assert.is(problems.length, 7, text);

  // A URL with a password is never echoed back.
  const secret = problemsOf({ GATEWAY_SINKS: 'postgresql', GATEWAY_PG_URL: 'mysql://u:hunter2@h/db' });
  assert.equal(secret.length, 1);
  assert.not.match(secret[0]!, /hunter2/);

  const pg = readGatewayConfig({ GATEWAY_SINKS: 'postgresql', PGHOST: '127.0.0.1', GATEWAY_BATCH_SIZE: '20', GATEWAY_POSTGRESQL_BATCH_MAX_WAIT_MS: '50' });
  assert.equal(pg.sinks, ['postgresql']);
  assert.equal(pg.batch.postgresql, { maxBatch: 20, maxWaitMs: 50 }, 'per-sink override over the shared default');
  assert.is(pg.sinkFile, '');
});

test('routes: topic -> sinks from configuration, every problem at once with what to do', () => {
  const base = { topic: 'telemetry', deadLetterTopic: 'deadletter' };
  assert.equal(resolveRouting({ ...base, sinks: 'file,postgresql' }).routes, [{ topic: 'telemetry', sinks: ['file', 'postgresql'] }], 'no routes: one route, every sink');
  const ok = resolveRouting({ ...base, sinks: 'file,postgresql,eventhubs', routes: ' telemetry=file,postgresql ; telemetry/alarms = file,eventhubs;' });
  assert.equal(ok.problems, []);
  assert.equal(ok.routes, [{ topic: 'telemetry', sinks: ['file', 'postgresql'] }, { topic: 'telemetry/alarms', sinks: ['file', 'eventhubs'] }]);

  const bad = resolveRouting({ ...base, sinks: 'file,postgresql', routes: 'telemetry=file,kafka;alarms=file;telemetry/+=file;telemetry=postgresql;telemetry/x=eventhubs;nonsense' });
  const text = bad.problems.join('\n');
  for (const expected of [
    /GATEWAY_ROUTES \(topic "telemetry"\): unknown sink "kafka"/,
    /topic "alarms"\): only telemetry and telemetry\/<name> reach the gateway .*use telemetry\/alarms/,
    /topic "telemetry\/\+"\): .*no wildcards/,
    /lists topic "telemetry" twice/,
    /topic "telemetry\/x"\) sends to eventhubs, which GATEWAY_SINKS does not select: add eventhubs to the sinks/,
    /"nonsense" must be topic=sink\[,sink...\]/,
  ]) assert.match(text, expected);
  assert.is(bad.problems.length, 6, text);
  assert.match(resolveRouting({ ...base, sinks: 'file,postgresql', routes: 'telemetry=file' }).problems.join(), /selects postgresql but no route sends to it/);

  // The gateway refuses to start on them; the topology refuses them before anything runs.
  assert.match(problemsOf({ GATEWAY_SINK_FILE: '/tmp/x', GATEWAY_ROUTES: 'telemetry=kafka' }).join('\n'), /unknown sink "kafka"/);
  const routed = readGatewayConfig({ GATEWAY_SINK_FILE: '/tmp/x', GATEWAY_SINKS: 'file', GATEWAY_ROUTES: 'telemetry=file;telemetry/alarms=file' });
  assert.equal(routed.routes.map((r) => r.topic), ['telemetry', 'telemetry/alarms']);
  const topology = (config: string) => `name: t\nlevels:\n  - name: l4\n    isa95: 4\n    broker: { workloadPort: 2000, childPort: 2001 }\n    workloads:\n      - type: data-gateway\n        config: ${config}\n`;
  assert.throws(() => parseTopology(topology('{ sinks: "file,s3" }')), /l4\/data-gateway: config sinks: unknown sink "s3"/);
  assert.throws(() => parseTopology(topology('{ sinks: "file", routes: "alarms=file" }')), /config routes \(topic "alarms"\): only telemetry/);
  assert.equal(parseTopology(topology('{ sinks: "file,postgresql", routes: "telemetry=file,postgresql" }')).levels[0]!.workloads[0]!.config.routes, 'telemetry=file,postgresql');
});

test('the PostgreSQL URL comes from a 0600 file or a Secret-filled variable, and is never echoed', async () => {
  await withCleanup(async (c) => {
    const file = join(c.dir('gw-url'), 'postgres-url');
    writeFileSync(file, 'postgres://edge:s3cret-pw@127.0.0.1:5432/postgres\n', { mode: 0o600 });
    const config = readGatewayConfig({ GATEWAY_SINKS: 'postgresql', GATEWAY_PG_URL_FILE: file });
    assert.is(config.postgres.url, 'postgres://edge:s3cret-pw@127.0.0.1:5432/postgres');
    const both = problemsOf({ GATEWAY_SINKS: 'postgresql', GATEWAY_PG_URL_FILE: file, GATEWAY_PG_URL: 'postgres://x:y@h/d' });
    assert.equal(both, ['set GATEWAY_PG_URL or GATEWAY_PG_URL_FILE, not both']);
    const missing = problemsOf({ GATEWAY_SINKS: 'postgresql', GATEWAY_PG_URL_FILE: `${file}.nope` });
    assert.equal(missing.length, 1);
    assert.match(missing[0]!, /GATEWAY_PG_URL_FILE: cannot read .*postgres-url\.nope \(ENOENT\); point it at the file/);
    writeFileSync(file, 'mysql://edge:s3cret-pw@h/db\n');
    const wrong = problemsOf({ GATEWAY_SINKS: 'postgresql', GATEWAY_PG_URL_FILE: file });
    assert.match(wrong.join(), /the URL in GATEWAY_PG_URL_FILE must start with postgres:\/\//);
    assert.not.match(wrong.join(), /s3cret/, 'the password is never in a message');
  });
});

test('topology config keys of the data gateway map to its env', () => {
  const env = workloadEnv({ name: 'data-gateway', type: 'data-gateway', config: { sinks: 'file,postgresql', batchSize: 50, resequenceHoldMs: 300, pgTable: 'telemetry' } });
  assert.equal(env, { GATEWAY_SINKS: 'file,postgresql', GATEWAY_BATCH_SIZE: '50', GATEWAY_RESEQUENCE_HOLD_MS: '300', GATEWAY_PG_TABLE: 'telemetry' });
});

test('resequencer: shuffled arrivals come out in seq order; a gap is waited for, then skipped and counted', async () => {
  const out: number[] = [];
  const r = new Resequencer<number>(50, (n) => out.push(n));
  for (const seq of [2, 1, 4, 3, 5]) r.push('a:1', seq, seq);
  assert.equal(out, [1, 2, 3, 4, 5], 'reordered without waiting once the gap fills');
  r.push('a:1', 7, 7);
  r.push('a:1', 8, 8);
  assert.equal(out.length, 5, '7 and 8 wait for 6');
  await new Promise((res) => setTimeout(res, 120));
  assert.equal(out, [1, 2, 3, 4, 5, 7, 8], 'released in order when the hold expires');
  assert.is(r.stats.gaps, 1);
  r.push('a:1', 6, 6);
  assert.equal(out.at(-1), 6, 'a straggler goes at once');
  assert.is(r.stats.late, 1);
  assert.is(r.waiting, 0);
});

test('resequencer: runs are independent; a run first seen mid-way starts at its lowest seq; a sustained flow does not expire early', async () => {
  let now = 0;
  const out: string[] = [];
  const r = new Resequencer<string>(200, (s) => out.push(s), { now: () => now });
  r.push('b:1', 11, 'b11');
  r.push('b:1', 10, 'b10');
  r.push('a:1', 1, 'a1');
  assert.equal(out, ['a1'], 'b waits: its start is unknown');
  // Keep something waiting for a long time, each message only briefly: nothing is skipped.
  let seq = 2;
  for (; seq < 60; seq += 2) {
    now += 20;
    r.push('a:1', seq + 1, `a${seq + 1}`);
    now += 20;
    r.push('a:1', seq, `a${seq}`);
  }
  assert.is(r.stats.gaps, 0);
  assert.equal(out.filter((s) => s.startsWith('a')).map((s) => Number(s.slice(1))), Array.from({ length: seq - 1 }, (_, i) => i + 1));
  r.flush();
  assert.equal(out.slice(-2), ['b10', 'b11']);
  assert.is(r.stats.gaps, 0, 'a run first seen mid-way has no gap before its first message');
});

test('resequencer: when deliveries stop arriving, the waiting runs go at once instead of waiting out the hold', async () => {
  const out: number[] = [];
  const r = new Resequencer<number>(10_000, (n) => out.push(n), { quietMs: 60 });
  r.push('a:1', 1, 1);
  r.push('a:1', 3, 3);
  r.push('a:1', 4, 4);
  // Arrivals of another run keep coming: 3 and 4 keep waiting for 2.
  for (let i = 1; i <= 4; i++) {
    await new Promise((res) => setTimeout(res, 30));
    r.push('b:1', i, 100 + i);
  }
  assert.equal(out.filter((n) => n < 100), [1], 'still waiting while deliveries arrive');
  // Then nothing arrives (the broker's window is full of waiting deliveries): released after ~60 ms.
  await new Promise((res) => setTimeout(res, 150));
  assert.equal(out.filter((n) => n < 100), [1, 3, 4]);
  assert.is(r.stats.gaps, 1);
  r.push('a:1', 2, 2);
  assert.is(r.stats.late, 1, 'the predecessor, once the window moved, is late');
});

test('resequencer: quiet while writes are in progress is a slow store, not a full window: the hold still applies', async () => {
  const out: number[] = [];
  let writing = true;
  const r = new Resequencer<number>(10_000, (n) => out.push(n), { quietMs: 40, busy: () => writing });
  r.push('a:1', 1, 1);
  r.push('a:1', 3, 3);
  await new Promise((res) => setTimeout(res, 130));
  assert.equal(out, [1], 'still waiting: the writes will free the window');
  writing = false;
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(out, [1, 3], 'released once the writes are done and nothing came');
});

test('resequencer: while a store is down no hold runs out; after it, each waiting message gets its full hold again', async () => {
  const out: number[] = [];
  let down = true;
  const r = new Resequencer<number>(50, (n) => out.push(n), { quietMs: 20, paused: () => down });
  r.push('a:1', 1, 1);
  r.push('a:1', 3, 3);
  await new Promise((res) => setTimeout(res, 150));
  assert.equal(out, [1], 'held through the outage: the predecessor cannot arrive while the window is full');
  r.push('a:1', 2, 2);
  assert.equal(out, [1, 2, 3], 'and it came, in order');
  r.push('a:1', 5, 5);
  down = false;
  await new Promise((res) => setTimeout(res, 150));
  assert.equal(out, [1, 2, 3, 5], 'once the store is back the hold runs out as usual');
  assert.is(r.stats.gaps, 1);
});

test('resequencer with hold 0 passes everything straight through', () => {
  const out: number[] = [];
  const r = new Resequencer<number>(0, (n) => out.push(n));
  for (const seq of [3, 1, 2]) r.push('a:1', seq, seq);
  assert.equal(out, [3, 1, 2]);
});

class MemorySink implements Sink {
  readonly name = 'memory';
  batches: number[][] = [];
  down = false;
  attempts = 0;
  rejectSeq: number | undefined;
  async open(): Promise<void> {}
  async write(batch: readonly StoredRecord[]): Promise<void> {
    this.attempts += 1;
    if (this.down) throw new Error('connection refused');
    if (this.rejectSeq !== undefined && batch.some((r) => r.seq === this.rejectSeq)) throw new RejectedRecordError(this.name, 'bad data');
    this.batches.push(batch.map((r) => r.seq));
  }
  async close(): Promise<void> {}
}

test('batcher: a full batch goes at once, a partial one after max wait, in order', async () => {
  const sink = new MemorySink();
  const b = new SinkBatcher(sink, { maxBatch: 3, maxWaitMs: 40, retryMaxMs: 50, holdAlarmMs: 10_000 }, quiet);
  const t0 = Date.now();
  await Promise.all([1, 2, 3].map((n) => b.add(rec(n))));
  assert.ok(Date.now() - t0 < 35, 'a full batch does not wait');
  await Promise.all([4, 5].map((n) => b.add(rec(n))));
  assert.ok(Date.now() - t0 >= 38, 'a partial batch waits for max wait');
  assert.equal(sink.batches, [[1, 2, 3], [4, 5]]);
  assert.equal({ batches: b.stats.batches, written: b.stats.written }, { batches: 2, written: 5 });
  await b.close();
});

test('batcher: while the sink is down, callers wait (no error), then everything is written once, in order; the hold bound is reported', async () => {
  const sink = new MemorySink();
  sink.down = true;
  quiet.lines.length = 0;
  const b = new SinkBatcher(sink, { maxBatch: 2, maxWaitMs: 0, retryInitialMs: 5, retryMaxMs: 20, holdAlarmMs: 100 }, quiet);
  let settled = 0;
  const writes = [1, 2, 3, 4, 5].map((n) => b.add(rec(n)).then(() => void (settled += 1)));
  await new Promise((res) => setTimeout(res, 250));
  assert.is(settled, 0, 'nothing resolves (is acknowledged) while the sink is down');
  assert.ok(b.pending === 5 && b.stats.downSince !== null);
  assert.ok(b.stats.holdAlarms >= 1 && quiet.lines.some((l) => /SINK DOWN BEYOND THE HOLD BOUND/.test(l)), 'the bound is reported loudly');
  sink.down = false;
  await Promise.all(writes);
  assert.equal(sink.batches.flat(), [1, 2, 3, 4, 5]);
  assert.ok(b.stats.longestOutageMs >= 200 && b.stats.downSince === null);
  await b.close();
});

test('batcher: a record the store refuses is rejected alone; the rest of its batch is written', async () => {
  const sink = new MemorySink();
  sink.rejectSeq = 2;
  const b = new SinkBatcher(sink, { maxBatch: 3, maxWaitMs: 0, retryMaxMs: 20, holdAlarmMs: 10_000 }, quiet);
  const results = await Promise.allSettled([1, 2, 3].map((n) => b.add(rec(n))));
  assert.equal(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.ok((results[1] as PromiseRejectedResult).reason instanceof RejectedRecordError);
  assert.equal(sink.batches.flat(), [1, 3]);
  assert.is(b.stats.rejected, 1);
  await b.close();
});

test('batcher: close gives up on a dead sink within its bound (nothing was acknowledged)', async () => {
  const sink = new MemorySink();
  sink.down = true;
  const b = new SinkBatcher(sink, { maxBatch: 10, maxWaitMs: 0, retryInitialMs: 5, retryMaxMs: 10, holdAlarmMs: 10_000 }, quiet);
  const w = b.add(rec(1));
  const t0 = Date.now();
  await b.close(150);
  assert.ok(Date.now() - t0 < 2_000);
  await w.then(() => assert.unreachable('must not resolve'), (err: Error) => assert.match(err.message, /abandoned|closed/));
  await b.add(rec(2)).then(() => assert.unreachable('closed'), (err: Error) => assert.match(err.message, /closing/));
});

test('router over file + another sink: resolves only after both, resequences, dead-letters a refused record', async () => {
  await withCleanup(async (c) => {
    const file = new JsonLinesSink(join(c.dir('gw-router'), 'sink.jsonl'));
    await file.open();
    const other = new MemorySink();
    other.rejectSeq = 4;
    const opts = { maxBatch: 10, maxWaitMs: 2, retryInitialMs: 5, retryMaxMs: 20, holdAlarmMs: 10_000 };
    const batchers = [new SinkBatcher(file, opts, quiet), new SinkBatcher(other, opts, quiet)];
    const dead: string[] = [];
    const router = new Router(new SinkSet(batchers), async (p) => void dead.push(p.reason), { resequenceHoldMs: 100 });
    const s = new Sequencer('sensor', 'l2', 7);
    const msgs = [1, 2, 3, 4, 5].map(() => s.next('t', { v: 1 }));
    const outcomes = await Promise.all([msgs[2], msgs[0], msgs[1], msgs[0], msgs[4], msgs[3]].map((m) => router.handle(m)));
    assert.equal(outcomes.map((o) => o.kind), ['stored', 'stored', 'stored', 'duplicate', 'stored', 'dead-letter']);
    assert.match(dead[0]!, /memory rejected the record: bad data/);
    assert.equal(other.batches.flat(), [1, 2, 3, 5], 'in seq order, without the refused one');
    await Promise.all(batchers.map((b) => b.close()));
    assert.equal(readRecords(file.file).map((r) => r.seq), [1, 2, 3, 4, 5], 'the file has them in seq order');

    // A restarted file sink skips what the file already holds (exactly once after redelivery).
    const again = new JsonLinesSink(file.file);
    await again.open();
    assert.is(again.alreadyStored, 5);
    await again.write([msgs[4]!, s.next('t', { v: 6 })].map((m) => ({ ...m, receivedAt: 'r' })));
    await again.close();
    assert.equal(readRecords(file.file).map((r) => r.seq), [1, 2, 3, 4, 5, 6]);
  });
});

test('router: oversized messages given as parsed JSON are dead-lettered with their size and a preview', async () => {
  const dead: Array<{ reason: string; bytes?: number; message: unknown }> = [];
  const written: string[] = [];
  const router = new Router({ write: async (r) => void written.push(r.id) }, async (p) => void dead.push(p), { maxMessageBytes: 2048 });
  const s = new Sequencer('sensor', 'l2', 7);
  const outcome = await router.handle(s.next('t', { blob: 'x'.repeat(5000) }));
  assert.is(outcome.kind, 'dead-letter');
  assert.match(dead[0]!.reason, /over the 2048-byte limit/);
  assert.ok((dead[0]!.bytes ?? 0) > 5000 && String(dead[0]!.message).length <= 2048);
  assert.equal(written, []);
});

test.run();
