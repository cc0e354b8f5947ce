// End-to-end accounting of `edge up`: producer reports against the sink, read incrementally.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SinkAccounting, type ProducerRun } from '../src/local/summary.js';
import { withCleanup } from './helpers.js';

const line = (source: string, epoch: number, seq: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id: `${source}:${epoch}:${seq}`, source, epoch, seq, timestamp: new Date(1000).toISOString(), receivedAt: new Date(1000 + seq).toISOString(), type: 't', data: {}, ...extra }) + '\n';

test('lines read before their producer reported are still counted; older runs are not', async () => {
  await withCleanup(async (c) => {
    const sink = join(c.dir('acct'), 'sink.jsonl');
    writeFileSync(sink, line('s', 1, 1) + line('s', 2, 1) + line('s', 2, 2));
    let runs: ProducerRun[] = [];
    const acct = new SinkAccounting(sink, () => runs);
    acct.poll(); // before any report exists
    appendFileSync(sink, line('s', 2, 3) + line('s', 2, 3));
    runs = [{ source: 's', level: 'l2', epoch: 2, acknowledged: 4 }];
    acct.poll();
    const s = acct.summary();
    assert.equal({ sent: s.sent, delivered: s.delivered, lost: s.lost, duplicates: s.duplicates }, { sent: 4, delivered: 3, lost: 1, duplicates: 1 });
    assert.is((s.per_source.s as { firstMissing?: number }).firstMissing, 4);
    assert.is(s.p99_ms, 3, 'latencies of this run only');
  });
});

test('a torn last line is completed by the next poll', async () => {
  await withCleanup(async (c) => {
    const sink = join(c.dir('acct'), 'sink.jsonl');
    const full = line('s', 1, 1);
    writeFileSync(sink, full.slice(0, 20));
    const acct = new SinkAccounting(sink, () => [{ source: 's', level: 'l2', epoch: 1, acknowledged: 1 }]);
    acct.poll();
    assert.is(acct.missing(), 1);
    appendFileSync(sink, full.slice(20));
    acct.poll();
    assert.is(acct.missing(), 0);
  });
});

test('OPC UA values are attributed to the PLC named by the DataSetWriterGroup', async () => {
  await withCleanup(async (c) => {
    const sink = join(c.dir('acct'), 'sink.jsonl');
    writeFileSync(sink, line('pub', 1, 1, { type: 'ua-data', data: { DataSetWriterGroup: 'plc-a', Messages: [{ Payload: { A: {}, B: {} } }, { Payload: { C: {} } }] } }));
    const acct = new SinkAccounting(sink, () => [{ source: 'pub', level: 'l2', epoch: 1, acknowledged: 1 }]);
    acct.poll();
    assert.equal(acct.summary({ 'plc-a': 'opc-plc' }).per_source['opc-plc'], { values: 3, via: 'pub' });
  });
});

test.run();
