// The OPC UA path loses no value change, even when the PLC or the publisher is briefly stalled:
// the PLC's clock keeps its period, the publishednodes.json it writes asks for every change
// (not sampling at the clock's own period, which aliased), and the publisher's monitored-item
// queues hold seconds of values, not one publishing interval. Real node-opcua server and client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, waitFor } from '../src/common/proc.js';
import { createLogger } from '../workloads/shared/src/log.js';
import { routeOpcuaLogs } from '../workloads/shared/src/opcualog.js';
import { startClock } from '../workloads/opc-plc/src/clock.js';
import { readPlcConfig } from '../workloads/opc-plc/src/config.js';
import { EVERY_CHANGE, publishedNodesForConfig } from '../workloads/opc-plc/src/publishednodes.js';
import { startPlcServer, type PlcServer } from '../workloads/opc-plc/src/server.js';
import { monitoredItemQueueSize, QUEUE_SPAN_MS } from '../workloads/opc-publisher/src/endpoint.js';
import type { NetworkMessage } from '../workloads/opc-publisher/src/networkmessage.js';
import { startPipeline, type Pipeline } from '../workloads/opc-publisher/src/pipeline.js';
import { parsePublishedNodes } from '../workloads/opc-publisher/src/publishednodes.js';

const quiet = createLogger('opcua-every-change-test', 'l2', 'error');
routeOpcuaLogs(quiet);

/** Keeps the event loop (timers, sockets, everything in this process) busy for `ms`. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else runs
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('startClock: a tick that takes time does not stretch the period, and late ticks still run', async () => {
  const periodMs = 20;
  let ticks = 0;
  const started = performance.now();
  const clock = startClock(periodMs, () => {
    ticks += 1;
    stall(8); // setInterval would make that a 28 ms period: ~14 ticks in 400 ms instead of 20
    if (ticks === 3) stall(100); // five periods late: the missed ticks run afterwards, none skipped
  });
  await sleep(400);
  const due = Math.floor((performance.now() - started) / periodMs);
  clock.stop();
  assert.ok(ticks >= due - 2 && ticks <= due + 1, `${ticks} ticks, ${due} due`);
  const stoppedAt = ticks;
  await sleep(3 * periodMs);
  assert.is(ticks, stoppedAt, 'no tick after stop()');
});

test('monitoredItemQueueSize: room for QUEUE_SPAN_MS of values, or one publishing interval if longer', () => {
  assert.is(QUEUE_SPAN_MS, 5000);
  assert.is(monitoredItemQueueSize(100, 100), 51);
  assert.is(monitoredItemQueueSize(100, EVERY_CHANGE), 51, 'every change: counted at the publishing interval');
  assert.is(monitoredItemQueueSize(1000, -1), 6);
  assert.is(monitoredItemQueueSize(10_000, 1000), 11);
  assert.is(monitoredItemQueueSize(100, 1), 1000, 'capped');
});

test('a 20 ms PLC clock through a stall of both ends: every counter value of every node arrives', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opcua-every-change-'));
  const config = readPlcConfig({ OPC_PORT: String(await freePort()), OPC_PKI_DIR: join(dir, 'server'), EDGE_SOURCE: 'plc-fast', PLC_FAST_NODES: '50', PLC_FAST_RATE_MS: '20', PLC_SLOW_NODES: '0', PLC_ANOMALIES: 'false' });
  const messages: NetworkMessage[] = [];
  let server: PlcServer | undefined;
  let pipeline: Pipeline | undefined;
  try {
    server = await startPlcServer(config, quiet);
    const doc = publishedNodesForConfig(config, server.endpointUrl);
    assert.ok(doc.every((e) => e.OpcNodes.every((n) => n.OpcSamplingInterval === EVERY_CHANGE && n.OpcPublishingInterval === 20)));
    const parsed = parsePublishedNodes(JSON.stringify(doc));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    pipeline = await startPipeline({
      entries: parsed.ok ? parsed.entries : [],
      publisherId: 'pub-fast',
      batchSize: 200,
      batchIntervalMs: 50,
      reconnectMaxDelayMs: 500,
      pkiDir: join(dir, 'client'),
      autoAcceptCertificates: false,
      log: quiet,
      publish: async (m) => {
        messages.push(m);
      },
    });
    await pipeline.ready;
    const ticksAtStart = server.ticks('fast');
    const started = performance.now();
    await sleep(500);
    stall(300); // 15 ticks late; the server's publishing and our client wait too
    await sleep(700);
    const elapsed = performance.now() - started;
    const ticked = server.ticks('fast') - ticksAtStart;
    assert.ok(ticked >= Math.floor(elapsed / 20) - 3, `the clock kept its period: ${ticked} ticks in ${Math.round(elapsed)} ms`);
    const p = pipeline;
    await waitFor('values flowing', () => p.stats().values > 50 * 40, 5000);
  } finally {
    await pipeline?.stop(2000);
    await server?.stop(0);
    rmSync(dir, { recursive: true, force: true });
  }
  // FastUInt<n> holds the tick number: per node, the values must run without a gap
  const byNode = new Map<string, number[]>();
  for (const m of messages) {
    for (const dsm of m.Messages) {
      for (const [name, field] of Object.entries(dsm.Payload)) {
        if (!name.startsWith('FastUInt')) continue;
        assert.is(field.StatusCode.Symbol, 'Good', `${name}: ${field.StatusCode.Symbol}`);
        byNode.set(name, [...(byNode.get(name) ?? []), field.Value as number]);
      }
    }
  }
  assert.is(byNode.size, 50);
  for (const [name, values] of byNode) {
    const gaps = values.slice(1).filter((v, i) => v !== values[i]! + 1);
    assert.equal(gaps, [], `${name}: ${values.join(',')}`);
    assert.ok(values.length >= 60, `${name}: ${values.length} values in about 75 ticks`);
  }
  assert.equal([pipeline.stats().dropped, pipeline.stats().queued], [0, 0]);
});

test.run();
