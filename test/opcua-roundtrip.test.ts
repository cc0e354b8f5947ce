// opc-plc → opc-publisher pipeline, in process, over real OPC UA on 127.0.0.1: a real
// node-opcua server and client, the Dapr publisher replaced by a sink function.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, waitFor } from '../src/common/proc.js';
import { createLogger } from '../workloads/shared/src/log.js';
import { readPlcConfig, type PlcConfig } from '../workloads/opc-plc/src/config.js';
import { routeOpcuaLogs } from '../workloads/shared/src/opcualog.js';
import { plcNodes } from '../workloads/opc-plc/src/nodes.js';
import { publishedNodesFor } from '../workloads/opc-plc/src/publishednodes.js';
import { startPlcServer, type PlcServer } from '../workloads/opc-plc/src/server.js';
import { dipData, positiveTrend, spikeData } from '../workloads/opc-plc/src/simulation.js';
import type { NetworkMessage } from '../workloads/opc-publisher/src/networkmessage.js';
import { startPipeline, type Pipeline } from '../workloads/opc-publisher/src/pipeline.js';
import { parsePublishedNodes, type PublishedNodesEntry } from '../workloads/opc-publisher/src/publishednodes.js';

const quiet = createLogger('opcua-roundtrip-test', 'l2', 'error');
routeOpcuaLogs(quiet);

function plcConfig(port: number, pkiDir: string): PlcConfig {
  return {
    ...readPlcConfig({ OPC_PORT: String(port), OPC_PKI_DIR: pkiDir, EDGE_SOURCE: 'plc-rt' }),
    fast: { count: 2, rateMs: 100, type: 'UInt' },
    slow: { count: 2, rateMs: 250, type: 'Double' },
  };
}

function entriesFor(endpointUrl: string, config: PlcConfig): PublishedNodesEntry[] {
  const doc = publishedNodesFor(endpointUrl, plcNodes(config), { group: config.source, useSecurity: false, rateMs: { fast: config.fast.rateMs, slow: config.slow.rateMs } });
  const parsed = parsePublishedNodes(JSON.stringify(doc)); // the file the PLC writes is one the publisher reads
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return parsed.ok ? parsed.entries : [];
}

interface Seen {
  writer: string;
  seq: number;
  name: string;
  value: unknown;
  sourceTimestamp: string | null;
}

/** A sink standing in for Dapr: keeps what it got, as it would arrive (JSON on the wire). */
function collector(): { messages: NetworkMessage[]; seen: () => Seen[]; publish: (m: NetworkMessage) => Promise<void> } {
  const messages: NetworkMessage[] = [];
  return {
    messages,
    publish: async (m) => {
      messages.push(JSON.parse(JSON.stringify(m)) as NetworkMessage);
    },
    seen: () =>
      messages.flatMap((nm) =>
        nm.Messages.flatMap((dm) =>
          Object.entries(dm.Payload).map(([name, f]) => ({ writer: `${nm.DataSetWriterGroup}/${dm.DataSetWriterId}`, seq: dm.SequenceNumber, name, value: f.Value, sourceTimestamp: f.SourceTimestamp })),
        ),
      ),
  };
}

/** Per DataSetWriter, the SequenceNumbers in arrival order must be 1, 2, 3, ... */
function assertGapless(messages: NetworkMessage[]): void {
  const byWriter = new Map<string, number[]>();
  for (const nm of messages) {
    for (const dm of nm.Messages) {
      const key = `${nm.DataSetWriterGroup}/${dm.DataSetWriterId}`;
      byWriter.set(key, [...(byWriter.get(key) ?? []), dm.SequenceNumber]);
    }
  }
  assert.ok(byWriter.size > 0, 'some DataSetMessages');
  for (const [writer, seqs] of byWriter) {
    assert.equal(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), `${writer}: ${seqs.join(',')}`);
  }
}

async function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

test('every node arrives, sequence numbers have no gaps, and values flow again after a server restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opcua-roundtrip-'));
  const config = plcConfig(await freePort(), join(dir, 'server'));
  let server: PlcServer | undefined = await startPlcServer(config, quiet);
  const sink = collector();
  let pipeline: Pipeline | undefined;
  // what feeds edge.opcua.session.state and edge.opcua.reconnects
  const events: string[] = [];
  try {
    const entries = entriesFor(server.endpointUrl, config);
    const names = entries.flatMap((e) => e.OpcNodes.map((n) => n.DisplayName));
    for (const id of ['SpikeData', 'DipData', 'PositiveTrendData', 'NegativeTrendData', 'StepUp', 'AlternatingBoolean', 'RandomSignedInt32', 'RandomUnsignedInt32', 'FastUInt1', 'SlowDouble2']) {
      assert.ok(names.includes(id), id);
    }
    pipeline = await startPipeline({
      entries,
      publisherId: 'pub-rt',
      batchSize: 25,
      batchIntervalMs: 200,
      reconnectMaxDelayMs: 500,
      pkiDir: join(dir, 'client'),
      autoAcceptCertificates: false,
      log: quiet,
      publish: sink.publish,
      endpointEvents: { sessionState: (_endpoint, connected) => events.push(connected ? 'connected' : 'not connected'), reconnecting: () => events.push('reconnecting') },
    });
    await within('subscribed', pipeline.ready, 10_000);
    assert.equal(events, ['connected']);
    const namesSince = (t: number): Set<string> => new Set(sink.seen().filter((s) => s.sourceTimestamp !== null && Date.parse(s.sourceTimestamp) >= t).map((s) => s.name));
    await waitFor('a value of every node', () => namesSince(0).size === names.length, 5000);

    // values are the simulation's: fast nodes of one tick share a SourceTimestamp, and StepUp is the tick
    const checkTicks = (): { checked: number; wrong: string[] } => {
      const ticks = new Map<string, Map<string, unknown>>();
      for (const s of sink.seen()) {
        if (s.sourceTimestamp === null) continue;
        const at = ticks.get(s.sourceTimestamp) ?? new Map<string, unknown>();
        at.set(s.name, s.value);
        ticks.set(s.sourceTimestamp, at);
      }
      const result = { checked: 0, wrong: [] as string[] };
      for (const at of ticks.values()) {
        const tick = at.get('StepUp');
        if (typeof tick !== 'number' || !at.has('SpikeData') || !at.has('DipData') || !at.has('PositiveTrendData')) continue;
        result.checked += 1;
        const expected = { SpikeData: spikeData(tick), DipData: dipData(tick), PositiveTrendData: positiveTrend(tick) };
        for (const [name, value] of Object.entries(expected)) if (at.get(name) !== value) result.wrong.push(`${name} at tick ${tick}: ${String(at.get(name))}, expected ${value}`);
      }
      return result;
    };
    await waitFor('values of 5 ticks', () => checkTicks().checked >= 5, 5000);
    assert.equal(checkTicks().wrong, []);
    const seen = sink.seen();
    assert.ok(sink.messages.every((m) => m.MessageType === 'ua-data' && m.PublisherId === 'pub-rt' && m.DataSetWriterGroup === 'plc-rt'));
    assert.equal([...new Set(seen.map((s) => s.writer))].sort(), ['plc-rt/plc-rt-fast', 'plc-rt/plc-rt-slow']);
    const valuesOf = (name: string): unknown[] => seen.filter((s) => s.name === name).map((s) => s.value);
    assert.ok(valuesOf('StepUp').every((v) => typeof v === 'number'), 'numbers stay numbers');
    assert.ok(valuesOf('AlternatingBoolean').every((v) => typeof v === 'boolean'), 'booleans stay booleans');
    const steps = valuesOf('StepUp') as number[];
    assert.ok(steps.length >= 3, `StepUp values: ${steps.join(',')}`);
    for (let i = 1; i < steps.length; i++) assert.ok(steps[i] > steps[i - 1], `StepUp rises: ${steps.join(',')}`);
    assertGapless(sink.messages);

    // restart the server on the same port: node-opcua reconnects, recreates session and subscription
    await server.stop(0);
    server = undefined;
    const restartedAt = Date.now();
    server = await startPlcServer(config, quiet);
    await waitFor('a value of every node after the restart', () => namesSince(restartedAt).size === names.length, 15_000);
    assertGapless(sink.messages);
    const lost = events.indexOf('not connected');
    assert.ok(lost > 0 && events.indexOf('reconnecting') > 0, `the restart was seen: ${events.join(', ')}`);
    assert.is(events.at(-1), 'connected', `connected again: ${events.join(', ')}`);
  } finally {
    await pipeline?.stop(2000);
    await server?.stop(0);
    rmSync(dir, { recursive: true, force: true });
  }
  const stats = pipeline.stats();
  assert.equal([stats.queued, stats.dropped], [0, 0]);
  assert.is(stats.published, sink.messages.length);
  assertGapless(sink.messages);
});

test('the publisher waits for a server that is not up yet, heartbeats repeat unchanged values, stop() publishes the pending batch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opcua-roundtrip-'));
  // the slow nodes do not change during the test: only their heartbeat (0.2 s) re-sends them
  const base = plcConfig(await freePort(), join(dir, 'server'));
  const config: PlcConfig = { ...base, anomalies: false, slow: { ...base.slow, rateMs: 60_000 } };
  let server: PlcServer | undefined;
  const sink = collector();
  let pipeline: Pipeline | undefined;
  try {
    const entries = entriesFor(`opc.tcp://127.0.0.1:${config.port}`, config).map((e) => ({
      ...e,
      OpcNodes: e.OpcNodes.map((n) => (n.DisplayName === 'SlowDouble1' ? { ...n, HeartbeatInterval: 0.2 } : n)),
    }));
    pipeline = await startPipeline({
      entries,
      publisherId: 'pub-late',
      batchSize: 100_000, // neither trigger fires: only stop() publishes
      batchIntervalMs: 600_000,
      reconnectMaxDelayMs: 300,
      pkiDir: join(dir, 'client'),
      autoAcceptCertificates: false,
      log: quiet,
      publish: sink.publish,
    });
    await new Promise((r) => setTimeout(r, 700)); // a few refused connection attempts
    server = await startPlcServer(config, quiet);
    await within('subscribed after the server came up', pipeline.ready, 10_000);
    const p = pipeline;
    await waitFor('values pending', () => p.stats().values >= 10, 5000);
    await new Promise((r) => setTimeout(r, 700)); // a few heartbeats
    assert.is(sink.messages.length, 0, 'nothing published before stop');
  } finally {
    await pipeline?.stop(2000);
    await server?.stop(0);
    rmSync(dir, { recursive: true, force: true });
  }
  const stats = pipeline.stats();
  const values = sink.seen().length;
  assert.ok(values >= 10, `flushed ${values} values`);
  assert.is(values, stats.values, 'every received value was published at stop');
  assert.is(sink.messages.length, 1, 'one group, one network message');
  const slow1 = sink.seen().filter((s) => s.name === 'SlowDouble1');
  const slow2 = sink.seen().filter((s) => s.name === 'SlowDouble2');
  assert.is(slow2.length, 1, 'no heartbeat: the one initial value');
  assert.ok(slow1.length >= 3, `heartbeat: ${slow1.length} values of SlowDouble1`);
  assert.ok(slow1.every((s) => s.value === 0 && s.sourceTimestamp === slow1[0].sourceTimestamp), 'a heartbeat repeats the last value as it was');
  assertGapless(sink.messages);
});

test('UseSecurity: values flow over SignAndEncrypt / Basic256Sha256', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'opcua-roundtrip-'));
  const config: PlcConfig = { ...plcConfig(await freePort(), join(dir, 'server')), security: 'SignAndEncrypt', autoAcceptCertificates: true, anomalies: false };
  const server = await startPlcServer(config, quiet);
  const sink = collector();
  let pipeline: Pipeline | undefined;
  try {
    const doc = publishedNodesFor(server.endpointUrl, server.nodes, { group: 'secure', useSecurity: true, rateMs: { fast: 100, slow: 250 } });
    assert.ok(doc.every((e) => e.UseSecurity));
    const parsed = parsePublishedNodes(JSON.stringify(doc));
    assert.ok(parsed.ok);
    pipeline = await startPipeline({
      entries: parsed.ok ? parsed.entries : [],
      publisherId: 'pub-secure',
      batchSize: 10,
      batchIntervalMs: 100,
      reconnectMaxDelayMs: 500,
      pkiDir: join(dir, 'client'),
      autoAcceptCertificates: true,
      log: quiet,
      publish: sink.publish,
    });
    await within('subscribed over SignAndEncrypt', pipeline.ready, 15_000);
    const names = new Set(server.nodes.map((n) => n.id));
    await waitFor('a value of every node', () => new Set(sink.seen().map((s) => s.name)).size === names.size, 5000);
  } finally {
    await pipeline?.stop(2000);
    await server.stop(0);
    rmSync(dir, { recursive: true, force: true });
  }
  assertGapless(sink.messages);
});

test.run();
