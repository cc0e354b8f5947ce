// opc-plc: the simulation functions, the publishednodes.json generator, the configuration, and a
// real node-opcua server browsed and read by a real node-opcua client on 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AttributeIds,
  BrowseDirection,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  type ClientSession,
} from 'node-opcua';
import { freePort } from '../src/common/proc.js';
import { ConfigError } from '../workloads/shared/src/env.js';
import { createLogger } from '../workloads/shared/src/log.js';
import { readPlcConfig, type PlcConfig } from '../workloads/opc-plc/src/config.js';
import { PLC_NAMESPACE_URI, plcNodes } from '../workloads/opc-plc/src/nodes.js';
import { publishedNodesFor } from '../workloads/opc-plc/src/publishednodes.js';
import { routeOpcuaLogs } from '../workloads/shared/src/opcualog.js';
import { startPlcServer } from '../workloads/opc-plc/src/server.js';
import {
  ANOMALY_PERIOD_TICKS,
  DIP_VALUE,
  SINE_AMPLITUDE,
  SPIKE_VALUE,
  alternatingBoolean,
  counterValue,
  dipData,
  negativeTrend,
  positiveTrend,
  randomSignedInt32,
  randomUnsignedInt32,
  spikeData,
  stepUp,
} from '../workloads/opc-plc/src/simulation.js';
import { parsePublishedNodes } from '../workloads/opc-publisher/src/publishednodes.js';

const quiet = createLogger('opc-plc-test', 'l2', 'error');
routeOpcuaLogs(quiet);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('SpikeData: a spike at tick 5 of every 100, and only there', () => {
  const ticks = range(3 * ANOMALY_PERIOD_TICKS);
  const spikes = ticks.filter((t) => spikeData(t) === SPIKE_VALUE);
  assert.equal(spikes, [5, 105, 205]);
  for (const t of ticks) if (!spikes.includes(t)) assert.ok(Math.abs(spikeData(t)) <= SINE_AMPLITUDE, `tick ${t}: ${spikeData(t)}`);
  // the cycles without a spike still reach the crest of the plain sine
  assert.is(spikeData(25), SINE_AMPLITUDE);
  assert.ok(spikeData(1) > 0 && spikeData(11) < 0, 'it is a sine');
});

test('DipData: a dip at tick 15 of every 100, and only there', () => {
  const ticks = range(3 * ANOMALY_PERIOD_TICKS);
  const dips = ticks.filter((t) => dipData(t) === DIP_VALUE);
  assert.equal(dips, [15, 115, 215]);
  for (const t of ticks) if (!dips.includes(t)) assert.ok(Math.abs(dipData(t)) <= SINE_AMPLITUDE, `tick ${t}: ${dipData(t)}`);
  assert.is(dipData(35), -SINE_AMPLITUDE);
});

test('trends are strictly monotonic', () => {
  for (const t of range(1000)) {
    assert.ok(positiveTrend(t + 1) > positiveTrend(t), `positive trend at ${t}`);
    assert.ok(negativeTrend(t + 1) < negativeTrend(t), `negative trend at ${t}`);
  }
  assert.is(positiveTrend(10), 101);
  assert.is(negativeTrend(10), 99);
});

test('StepUp counts by one and wraps at 2^32; AlternatingBoolean alternates', () => {
  assert.equal(range(4).map(stepUp), [0, 1, 2, 3]);
  assert.is(stepUp(2 ** 32 - 1), 2 ** 32 - 1);
  assert.is(stepUp(2 ** 32), 0);
  const bools = range(10).map(alternatingBoolean);
  for (let i = 1; i < bools.length; i++) assert.is.not(bools[i], bools[i - 1]);
  assert.equal(range(3).map((t) => counterValue('Bool', t)), [false, true, false]);
  assert.equal(range(3).map((t) => counterValue('Double', t)), [0, 1, 2]);
});

test('random ints stay in range, are deterministic per tick, and vary', () => {
  const unsigned = range(5000).map((t) => randomUnsignedInt32(t));
  const signed = range(5000).map((t) => randomSignedInt32(t));
  for (const v of unsigned) assert.ok(Number.isInteger(v) && v >= 0 && v <= 2 ** 32 - 1, String(v));
  for (const v of signed) assert.ok(Number.isInteger(v) && v >= -(2 ** 31) && v <= 2 ** 31 - 1, String(v));
  assert.ok(new Set(unsigned).size > 4990, 'values vary');
  assert.ok(signed.some((v) => v < 0) && signed.some((v) => v > 0), 'both signs');
  assert.ok(unsigned.some((v) => v > 2 ** 31), 'upper half reached');
  assert.is(randomUnsignedInt32(42), randomUnsignedInt32(42));
  assert.is.not(randomUnsignedInt32(42, 1), randomUnsignedInt32(42, 2));
});

test('node catalogue: stable ids, anomalies optional', () => {
  const nodes = plcNodes({ fast: { count: 2, rateMs: 1000, type: 'UInt' }, slow: { count: 1, rateMs: 10000, type: 'Double' }, anomalies: true });
  assert.equal(
    nodes.map((n) => n.id),
    ['FastUInt1', 'FastUInt2', 'SlowDouble1', 'StepUp', 'AlternatingBoolean', 'RandomSignedInt32', 'RandomUnsignedInt32', 'SpikeData', 'DipData', 'PositiveTrendData', 'NegativeTrendData'],
  );
  const plain = plcNodes({ fast: { count: 0, rateMs: 1000, type: 'UInt' }, slow: { count: 0, rateMs: 1000, type: 'UInt' }, anomalies: false });
  assert.equal(
    plain.map((n) => n.id),
    ['StepUp', 'AlternatingBoolean', 'RandomSignedInt32', 'RandomUnsignedInt32'],
  );
});

test('publishedNodesFor: one writer per clock, nsu ids, and the publisher accepts it', () => {
  const nodes = plcNodes({ fast: { count: 2, rateMs: 500, type: 'UInt' }, slow: { count: 1, rateMs: 5000, type: 'UInt' }, anomalies: true });
  const doc = publishedNodesFor('opc.tcp://127.0.0.1:50000', nodes, { group: 'plc-a', useSecurity: false, rateMs: { fast: 500, slow: 5000 } });
  assert.is(doc.length, 2);
  assert.equal(
    doc.map((e) => [e.EndpointUrl, e.UseSecurity, e.DataSetWriterGroup, e.DataSetWriterId, e.DataSetPublishingInterval]),
    [
      ['opc.tcp://127.0.0.1:50000', false, 'plc-a', 'plc-a-fast', 500],
      ['opc.tcp://127.0.0.1:50000', false, 'plc-a', 'plc-a-slow', 5000],
    ],
  );
  assert.equal(doc[1].OpcNodes, [{ Id: `nsu=${PLC_NAMESPACE_URI};s=SlowUInt1`, DisplayName: 'SlowUInt1', OpcSamplingInterval: 0, OpcPublishingInterval: 5000 }]);
  assert.is(doc[0].OpcNodes.length, nodes.length - 1);
  assert.ok(doc[0].OpcNodes.some((n) => n.Id === `nsu=${PLC_NAMESPACE_URI};s=SpikeData`));
  const parsed = parsePublishedNodes(JSON.stringify(doc));
  assert.ok(parsed.ok, JSON.stringify(parsed));
  const empty = publishedNodesFor('opc.tcp://h:1', nodes.filter((n) => n.clock === 'fast'), { group: 'g', useSecurity: true, rateMs: { fast: 1, slow: 1 } });
  assert.equal(empty.map((e) => e.DataSetWriterId), ['g-fast'], 'a clock without nodes gets no entry');
});

test('config: defaults, and every problem at once', () => {
  const c = readPlcConfig({});
  assert.equal([c.port, c.hostname, c.bindHost, c.security, c.fast.count, c.fast.rateMs, c.fast.type, c.slow.rateMs, c.anomalies, c.source], [50000, '127.0.0.1', '127.0.0.1', 'None', 5, 1000, 'UInt', 10000, true, 'opc-plc']);
  try {
    readPlcConfig({ OPC_PORT: '70000', OPC_SECURITY: 'Sign', PLC_FAST_TYPE: 'Float', PLC_ANOMALIES: 'yes' });
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of ['OPC_PORT', 'OPC_SECURITY', 'PLC_FAST_TYPE', 'PLC_ANOMALIES']) assert.match(problems, name);
  }
  try {
    readPlcConfig({ OPC_SECURITY: 'SignAndEncrypt' });
    assert.unreachable('should throw');
  } catch (err) {
    assert.match((err as Error).message, 'OPC_PKI_DIR is required');
  }
});

function plcConfig(port: number, pkiDir: string, overrides: Partial<PlcConfig> = {}): PlcConfig {
  return {
    ...readPlcConfig({ OPC_PORT: String(port), OPC_PKI_DIR: pkiDir }),
    fast: { count: 2, rateMs: 100, type: 'UInt' },
    slow: { count: 2, rateMs: 200, type: 'Double' },
    ...overrides,
  };
}

async function browseNames(session: ClientSession, nodeId: string): Promise<Map<string, string>> {
  const result = await session.browse({ nodeId, referenceTypeId: 'HierarchicalReferences', browseDirection: BrowseDirection.Forward, includeSubtypes: true, resultMask: 63 });
  assert.is(result.statusCode.value, StatusCodes.Good.value, `browse ${nodeId}`);
  return new Map((result.references ?? []).map((r) => [r.browseName.name ?? '', r.nodeId.toString()]));
}

test('a started server exposes every node under OpcPlc/Telemetry with its stable id', async () => {
  const pki = mkdtempSync(join(tmpdir(), 'opc-plc-test-'));
  const server = await startPlcServer(plcConfig(await freePort(), join(pki, 'server')), quiet);
  const clientPki = new OPCUACertificateManager({ rootFolder: join(pki, 'client'), automaticallyAcceptUnknownCertificate: true });
  const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 1, initialDelay: 100, maxDelay: 200 }, clientCertificateManager: clientPki });
  try {
    assert.match(server.endpointUrl, /^opc\.tcp:\/\/127\.0\.0\.1:\d+$/);
    await client.connect(server.endpointUrl);
    const session = await client.createSession();
    const namespaces = await session.readNamespaceArray();
    assert.is(namespaces.indexOf(PLC_NAMESPACE_URI), server.namespaceIndex);
    const ns = server.namespaceIndex;

    const objects = await browseNames(session, 'i=85');
    assert.is(objects.get('OpcPlc'), `ns=${ns};s=OpcPlc`);
    const plc = await browseNames(session, `ns=${ns};s=OpcPlc`);
    assert.is(plc.get('Telemetry'), `ns=${ns};s=Telemetry`);
    const telemetry = await browseNames(session, `ns=${ns};s=Telemetry`);
    for (const id of ['StepUp', 'AlternatingBoolean', 'RandomSignedInt32', 'RandomUnsignedInt32', 'SpikeData', 'DipData', 'PositiveTrendData', 'NegativeTrendData']) {
      assert.is(telemetry.get(id), `ns=${ns};s=${id}`, id);
    }
    const fast = await browseNames(session, telemetry.get('Fast') ?? '');
    assert.equal([...fast.values()].sort(), [`ns=${ns};s=FastUInt1`, `ns=${ns};s=FastUInt2`]);
    const slow = await browseNames(session, telemetry.get('Slow') ?? '');
    assert.equal([...slow.values()].sort(), [`ns=${ns};s=SlowDouble1`, `ns=${ns};s=SlowDouble2`]);

    const ids = ['FastUInt1', 'SlowDouble1', 'StepUp', 'AlternatingBoolean', 'RandomSignedInt32', 'RandomUnsignedInt32', 'SpikeData', 'DipData', 'PositiveTrendData', 'NegativeTrendData'];
    const read = async (): Promise<Map<string, { type: DataType; value: unknown }>> => {
      const values = await session.read(ids.map((id) => ({ nodeId: server.nodeId(id), attributeId: AttributeIds.Value })));
      return new Map(values.map((dv, i) => {
        assert.is(dv.statusCode.value, StatusCodes.Good.value, `${ids[i]}: ${dv.statusCode.name}`);
        return [ids[i], { type: dv.value.dataType, value: dv.value.value as unknown }];
      }));
    };
    const first = await read();
    const expectedTypes: Record<string, DataType> = {
      FastUInt1: DataType.UInt32,
      SlowDouble1: DataType.Double,
      StepUp: DataType.UInt32,
      AlternatingBoolean: DataType.Boolean,
      RandomSignedInt32: DataType.Int32,
      RandomUnsignedInt32: DataType.UInt32,
      SpikeData: DataType.Double,
      DipData: DataType.Double,
      PositiveTrendData: DataType.Double,
      NegativeTrendData: DataType.Double,
    };
    for (const [id, type] of Object.entries(expectedTypes)) assert.is(DataType[first.get(id)?.type ?? DataType.Null], DataType[type], id);

    // the clocks run: the values are what the simulation says for the server's current tick
    await new Promise((r) => setTimeout(r, 450));
    const second = await read();
    const stepUpBefore = first.get('StepUp')?.value as number;
    const stepUpAfter = second.get('StepUp')?.value as number;
    assert.ok(stepUpAfter >= stepUpBefore + 2, `StepUp went from ${stepUpBefore} to ${stepUpAfter}`);
    assert.is(second.get('PositiveTrendData')?.value, positiveTrend(stepUpAfter));
    assert.is(second.get('RandomUnsignedInt32')?.value, randomUnsignedInt32(stepUpAfter));
    await session.close();
  } finally {
    await client.disconnect();
    await server.stop(0);
    await clientPki.dispose();
    rmSync(pki, { recursive: true, force: true });
  }
});

test('SignAndEncrypt: Basic256Sha256 only, with node-opcua PKI in OPC_PKI_DIR', async () => {
  const pki = mkdtempSync(join(tmpdir(), 'opc-plc-test-'));
  const server = await startPlcServer(plcConfig(await freePort(), join(pki, 'server'), { security: 'SignAndEncrypt', autoAcceptCertificates: true }), quiet);
  const clientPki = new OPCUACertificateManager({ rootFolder: join(pki, 'client'), automaticallyAcceptUnknownCertificate: true });
  const insecure = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 }, clientCertificateManager: clientPki });
  const secure = OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    securityMode: MessageSecurityMode.SignAndEncrypt,
    securityPolicy: SecurityPolicy.Basic256Sha256,
    clientCertificateManager: clientPki,
  });
  try {
    const endpoints = await secure.getEndpoints({ endpointUrl: server.endpointUrl }).catch(async () => {
      await secure.connect(server.endpointUrl);
      return secure.getEndpoints();
    });
    await secure.disconnect();
    assert.ok(endpoints.length > 0);
    for (const e of endpoints) {
      assert.is(e.securityMode, MessageSecurityMode.SignAndEncrypt);
      assert.is(e.securityPolicyUri, SecurityPolicy.Basic256Sha256);
    }
    let refused = false;
    try {
      await insecure.connect(server.endpointUrl);
      await insecure.createSession();
    } catch {
      refused = true;
    }
    assert.ok(refused, 'an unsecured session is refused');

    await secure.connect(server.endpointUrl);
    const session = await secure.createSession();
    const dv = await session.read({ nodeId: server.nodeId('StepUp'), attributeId: AttributeIds.Value });
    assert.is(dv.statusCode.value, StatusCodes.Good.value);
    await session.close();
  } finally {
    await insecure.disconnect();
    await secure.disconnect();
    await server.stop(0);
    await clientPki.dispose();
    rmSync(pki, { recursive: true, force: true });
  }
});

test.run();
