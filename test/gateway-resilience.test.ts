// Unit tests of how the data gateway behaves when things fail: the in-process circuit breaker of
// a sink (opens after N consecutive failures, one half-open probe, closes on success) with its
// messages held while open; the hold bound's overflow counted; and the delivery answer, which is
// never RETRY (a failing dead-letter publish and a shutdown hold the delivery instead).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sequencer } from '../workloads/shared/src/envelope.js';
import type { Logger } from '../workloads/shared/src/log.js';
import { SinkBatcher } from '../workloads/data-gateway/src/batcher.js';
import { CircuitBreaker } from '../workloads/data-gateway/src/circuit-breaker.js';
import { DeliveryGate, holdUntilDone } from '../workloads/data-gateway/src/delivery.js';
import type { StoredRecord } from '../workloads/data-gateway/src/file-sink.js';
import { Router, SinkSet } from '../workloads/data-gateway/src/router.js';
import { RejectedRecordError, type Sink } from '../workloads/data-gateway/src/sink.js';
import { REPO_ROOT } from '../src/local/plan.js';

const lines: string[] = [];
const log: Logger = {
  debug: () => undefined,
  info: (m) => void lines.push(`info ${m}`),
  warn: (m) => void lines.push(`warn ${m}`),
  error: (m) => void lines.push(`error ${m}`),
};

const rec = (seq: number): StoredRecord => ({ id: `s:1:${seq}`, source: 's', level: 'l4', epoch: 1, seq, timestamp: 't', receivedAt: 'r', type: 'x', data: {} });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Settles-or-not probe: 'pending' when the promise has not settled within `ms`. */
async function stateAfter(p: Promise<unknown>, ms: number): Promise<'resolved' | 'rejected' | 'pending'> {
  return Promise.race([p.then(() => 'resolved' as const, () => 'rejected' as const), sleep(ms).then(() => 'pending' as const)]);
}

class FlakySink implements Sink {
  readonly name = 'flaky';
  down = false;
  attempts: number[] = [];
  written: number[] = [];
  async open(): Promise<void> {}
  async write(batch: readonly StoredRecord[]): Promise<void> {
    this.attempts.push(Date.now());
    if (this.down) throw new Error('ECONNREFUSED');
    this.written.push(...batch.map((r) => r.seq));
  }
  async close(): Promise<void> {}
}

test('circuit breaker: opens after N consecutive failures, lets one probe through after the open time, closes on success', () => {
  let now = 0;
  const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000 }, () => now);
  assert.is(b.state, 'closed');
  assert.is(b.failed(), false);
  b.succeeded(); // a success resets the count: failures must be consecutive
  assert.is(b.failed(), false);
  assert.is(b.failed(), false);
  assert.is(b.failed(), true, 'the third consecutive failure opens it');
  assert.is(b.state, 'open');
  assert.equal(b.permit(), { ok: false, retryInMs: 1_000 }, 'no write while open');
  now = 999;
  assert.equal(b.permit(), { ok: false, retryInMs: 1 });
  now = 1_000;
  assert.is(b.state, 'half-open');
  assert.equal(b.permit(), { ok: true }, 'one probe');
  assert.is(b.permit().ok, false, 'only one probe at a time');
  assert.is(b.failed(), true, 'a failed probe opens it again at once');
  assert.is(b.state, 'open');
  assert.is(b.opens, 2);
  now = 2_000;
  assert.equal(b.permit(), { ok: true });
  b.succeeded();
  assert.is(b.state, 'closed');
  assert.equal(b.permit(), { ok: true });
  assert.is(b.failed(), false, 'closed again: it takes N failures to open');
});

test('batcher with a breaker: no writes while open, messages held (not acknowledged, not dropped), then written once, in order', async () => {
  lines.length = 0;
  const sink = new FlakySink();
  sink.down = true;
  const b = new SinkBatcher(sink, { maxBatch: 10, maxWaitMs: 1, retryInitialMs: 5, retryMaxMs: 20, holdAlarmMs: 60_000, breaker: { failureThreshold: 3, openMs: 400 } }, log);
  let settled = 0;
  const writes = [1, 2, 3].map((n) => b.add(rec(n)).then(() => void (settled += 1)));
  await sleep(150);
  assert.is(sink.attempts.length, 3, 'three attempts, then the circuit opened');
  assert.is(b.stats.breaker, 'open');
  assert.is(b.stats.breakerOpens, 1);
  assert.ok(lines.some((l) => /circuit open/.test(l)));
  await sleep(150);
  assert.is(sink.attempts.length, 3, 'nothing tried while open');
  assert.is(settled, 0, 'nothing acknowledged while open');
  assert.is(b.pending, 3, 'nothing dropped');
  // The half-open probe (~400 ms after opening) fails: open again.
  await sleep(250);
  assert.is(sink.attempts.length, 4, 'one probe after the open time');
  assert.is(b.stats.breakerOpens, 2);
  sink.down = false;
  await Promise.all(writes);
  assert.is(sink.attempts.length, 5, 'the next probe succeeds and closes the circuit');
  assert.is(b.stats.breaker, 'closed');
  assert.equal(sink.written, [1, 2, 3], 'each once, in order');
  const gap = sink.attempts[4]! - sink.attempts[3]!;
  assert.ok(gap >= 350, `the second probe waited the open time (${gap} ms)`);
  await b.close();
});

test('hold bound: records stored after waiting longer than the bound are counted and logged', async () => {
  lines.length = 0;
  const sink = new FlakySink();
  sink.down = true;
  const b = new SinkBatcher(sink, { maxBatch: 10, maxWaitMs: 0, retryInitialMs: 5, retryMaxMs: 20, holdAlarmMs: 100 }, log);
  const w = Promise.all([1, 2].map((n) => b.add(rec(n))));
  await sleep(250);
  sink.down = false;
  await w;
  const fresh = b.add(rec(3));
  await fresh;
  assert.is(b.stats.heldBeyondBound, 2, 'the two held ones, not the fresh one');
  assert.ok(b.stats.holdAlarms >= 1);
  assert.ok(lines.some((l) => /beyond the hold bound/.test(l)), lines.join('\n'));
  await b.close();
});

test('delivery: a failing dead-letter publish holds the delivery and is tried again; the answer is never RETRY', async () => {
  lines.length = 0;
  let publishes = 0;
  const dead: string[] = [];
  const publish = async (reason: string): Promise<void> => {
    publishes += 1;
    if (publishes <= 3) throw new Error('dead-letter publish failed: broker away');
    dead.push(reason);
  };
  let stopping = false;
  const refusing = { write: async () => Promise.reject(new RejectedRecordError('postgresql', '22P05 unsupported Unicode escape sequence')) };
  const router = new Router(refusing, (p) => holdUntilDone(() => publish(p.reason), 'dead-letter publish', log, () => stopping, { retryInitialMs: 5, retryMaxMs: 20 }), {});
  const gate = new DeliveryGate((data) => router.handle(data), log, { retryInitialMs: 5, retryMaxMs: 20 });
  const outcome = await gate.deliver(new Sequencer('sensor', 'l2', 1).next('t', { text: 'nul' }));
  assert.is(outcome.kind, 'dead-letter');
  assert.is(publishes, 4, 'tried until the publish went through');
  assert.equal(dead.length, 1);
  assert.is(router.stats.deadLettered, 1);
  assert.is(gate.stats.unanswered, 0);
  stopping = true;
});

test('delivery: an unexpected failure is retried while held; at shutdown what cannot finish stays unanswered (no RETRY, no ack)', async () => {
  lines.length = 0;
  // A store that throws once for no good reason (not a down store: the batcher handles that).
  let calls = 0;
  const writer = {
    write: async (): Promise<void> => {
      calls += 1;
      if (calls === 1) throw new Error('EMFILE: too many open files');
    },
  };
  const router = new Router(writer, async () => undefined, {});
  const gate = new DeliveryGate((data) => router.handle(data), log, { retryInitialMs: 5, retryMaxMs: 20 });
  const s = new Sequencer('sensor', 'l2', 1);
  assert.is((await gate.deliver(s.next('t', {}))).kind, 'stored');
  assert.is(gate.stats.retried, 1);

  // Shutdown while the sink is down: the batcher gives up within its bound, the delivery is not answered.
  const sink = new FlakySink();
  sink.down = true;
  const batcher = new SinkBatcher(sink, { maxBatch: 10, maxWaitMs: 0, retryInitialMs: 5, retryMaxMs: 20, holdAlarmMs: 60_000 }, log);
  const held = new Router(new SinkSet([batcher]), async () => undefined, {});
  const gate2 = new DeliveryGate((data) => held.handle(data), log, { retryInitialMs: 5, retryMaxMs: 20 });
  const inFlight = gate2.deliver(s.next('t', {}));
  await sleep(50);
  gate2.stop();
  await batcher.close(100);
  assert.is(await stateAfter(inFlight, 200), 'pending', 'not answered: neither SUCCESS (it is not stored) nor RETRY');
  const late = gate2.deliver(s.next('t', {}));
  assert.is(await stateAfter(late, 50), 'pending', 'a delivery arriving during shutdown is not answered either');
  assert.is(gate2.stats.unanswered, 2);
  assert.equal(sink.written, [], 'nothing stored, so nothing acknowledged');
});

test('the gateway never answers RETRY: no RETRY status anywhere in its code', () => {
  const dir = join(REPO_ROOT, 'workloads', 'data-gateway', 'src');
  for (const file of ['main.ts', 'delivery.ts', 'router.ts', 'batcher.ts']) {
    const code = readFileSync(join(dir, file), 'utf8').split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*\*)/.test(l)).join('\n');
    assert.not.match(code, /DaprPubSubStatusEnum\.RETRY|['"]RETRY['"]/, `${file} answers RETRY somewhere`);
  }
});

test.run();
