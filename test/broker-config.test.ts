// The Mosquitto generator: golden output, semantic checks, and real brokers proving the
// security and the child -> parent-only bridge.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { freePort, startProcess, waitFor } from '../src/common/proc.js';
import { toolPath } from '../src/common/tools.js';
import { ensureCredentials, writeSecretFile, type Credentials } from '../src/config/credentials.js';
import { renderAclFile, renderMosquittoConf, renderPasswordFile } from '../src/config/mosquitto.js';
import { loadTopology, parseTopology } from '../src/topology/parse.js';
import { levelByName, parentFirst, type Topology } from '../src/topology/model.js';
import { tcpReachable } from '../src/local/run.js';
import { withCleanup, type Cleanup } from './helpers.js';

const GOLDEN = new URL('../../test/golden/', import.meta.url);

const fixedCreds: Credentials = {
  levels: {
    l4: { workloads: { 'data-gateway': { username: 'data-gateway', password: 'gw-pass' } }, bridges: { l3: { username: 'bridge-l3', password: 'l3-bridge-pass' } }, monitor: { username: 'edge-monitor', password: 'mon4' } },
    l3: { workloads: {}, bridges: { l2: { username: 'bridge-l2', password: 'l2-bridge-pass' } }, monitor: { username: 'edge-monitor', password: 'mon3' } },
    l2: { workloads: {}, bridges: {}, monitor: { username: 'edge-monitor', password: 'mon2' } },
  },
};

function confFor(t: Topology, name: string, creds: Credentials, dir = '/var/lib/edge', hostOf = (_: string) => '127.0.0.1'): string {
  const level = levelByName(t, name);
  const parent = level.parent ? levelByName(t, level.parent) : undefined;
  return renderMosquittoConf({
    level,
    bindAddress: hostOf(name),
    parent: parent ? { host: hostOf(parent.name), port: parent.broker.childPort, bridgeUser: creds.levels[parent.name]!.bridges[name]! } : undefined,
    storeAndForward: t.storeAndForward,
    paths: { persistenceDir: `${dir}/${name}/data`, passwordFile: `${dir}/${name}/passwd`, aclFile: `${dir}/${name}/acl` },
  });
}

function golden(name: string, actual: string): void {
  const file = new URL(name, GOLDEN);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  assert.fixture(actual, readFileSync(file, 'utf8'), `${name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it after review)`);
}

test('mosquitto.conf for a middle level matches the golden file', () => {
  golden('l3-mosquitto.conf', confFor(loadTopology(), 'l3', fixedCreds));
  golden('l4-acl', renderAclFile('l4', fixedCreds));
});

test('every non-root level bridges to its parent only, at QoS 1, with a persistent session', () => {
  const t = loadTopology();
  for (const level of t.levels) {
    const conf = confFor(t, level.name, fixedCreds);
    const connections = conf.split('\n').filter((l) => l.startsWith('connection '));
    if (!level.parent) {
      assert.is(connections.length, 0, 'the top level has no bridge');
      continue;
    }
    assert.equal(connections, [`connection ${level.name}-to-${level.parent}`]);
    const parent = levelByName(t, level.parent);
    assert.ok(conf.includes(`address 127.0.0.1:${parent.broker.childPort}\n`), 'bridge targets the parent child listener');
    for (const topicLine of conf.split('\n').filter((l) => l.startsWith('topic '))) assert.match(topicLine, / out 1$/, `bridge topic must be QoS 1 out-only: ${topicLine}`);
    assert.match(conf, /\ncleansession false\n/);
    assert.match(conf, new RegExp(`\nremote_clientid bridge-${level.name}\n`));
  }
});

test('persistence, autosave and queue bounds are set deliberately; anonymous access is off', () => {
  const t = parseTopology(readFileSync(new URL('../../src/topology/default-topology.yaml', import.meta.url), 'utf8').replace(/retentionS: \d+/, 'retentionS: 30'));
  const conf = confFor(t, 'l2', fixedCreds);
  assert.match(conf, /\npersistence true\n/);
  assert.match(conf, /\nautosave_interval 1\n/);
  assert.match(conf, new RegExp(`\nmax_queued_messages ${t.storeAndForward.rateMsgPerS * 30}\n`));
  assert.match(conf, /\nallow_anonymous false\n/);
  assert.not.match(conf, /allow_anonymous true/);
});

test('password lines use the PBKDF2-SHA512 format and never contain the password', () => {
  const lines = renderPasswordFile('l4', fixedCreds).trim().split('\n');
  assert.is(lines.length, 3);
  for (const line of lines) assert.match(line, /^[a-z0-9-]+:\$7\$101\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{88}$/);
  assert.not.ok(lines.join('\n').includes('gw-pass'));
});

interface Brokers {
  topology: Topology;
  creds: Credentials;
  ports: Record<string, { workloadPort: number; childPort: number }>;
}

async function startChain(c: Cleanup): Promise<Brokers> {
  const base = loadTopology();
  const topology: Topology = { ...base, levels: [] };
  for (const l of base.levels) topology.levels.push({ ...l, broker: { workloadPort: await freePort(), childPort: await freePort() }, workloads: l.name === 'l2' ? [{ name: 'sensor', type: 'temperature-sensor', config: {} }] : l.workloads.filter((w) => w.type === 'data-gateway') });
  const creds = ensureCredentials(topology);
  const dir = c.dir('brokers');
  for (const level of parentFirst(topology)) {
    const parent = level.parent ? levelByName(topology, level.parent) : undefined;
    const paths = { persistenceDir: join(dir, level.name, 'data'), passwordFile: join(dir, level.name, 'passwd'), aclFile: join(dir, level.name, 'acl') };
    writeSecretFile(paths.passwordFile, renderPasswordFile(level.name, creds));
    writeSecretFile(paths.aclFile, renderAclFile(level.name, creds));
    const conf = renderMosquittoConf({ level, bindAddress: '127.0.0.1', parent: parent ? { host: '127.0.0.1', port: parent.broker.childPort, bridgeUser: creds.levels[parent.name]!.bridges[level.name]! } : undefined, storeAndForward: topology.storeAndForward, paths, runAsUser: process.env.USER ?? 'root' });
    writeSecretFile(join(dir, level.name, 'mosquitto.conf'), conf);
    const proc = c.track(startProcess({ name: `mosquitto-${level.name}`, command: toolPath('mosquitto'), args: ['-c', join(dir, level.name, 'mosquitto.conf')], logFile: join(dir, level.name, 'log') }));
    await waitFor(`broker ${level.name}`, async () => proc.isRunning() && (await tcpReachable('127.0.0.1', level.broker.childPort)), 10_000);
  }
  return { topology, creds, ports: Object.fromEntries(topology.levels.map((l) => [l.name, l.broker])) };
}

async function connect(port: number, username?: string, password?: string): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync({ host: '127.0.0.1', port, username, password, reconnectPeriod: 0, connectTimeout: 3000, clientId: `t-${Math.random().toString(16).slice(2)}` });
}

async function refused(port: number, username?: string, password?: string): Promise<boolean> {
  try {
    const client = await connect(port, username, password);
    await client.endAsync(true);
    return false;
  } catch (err) {
    return /not authori[sz]ed|Bad username or password/i.test(String(err));
  }
}

test('real brokers: anonymous and wrong passwords are refused on every listener', async () => {
  await withCleanup(async (c) => {
    const { ports, creds } = await startChain(c);
    for (const [level, p] of Object.entries(ports)) {
      for (const port of [p.workloadPort, p.childPort]) {
        assert.ok(await refused(port), `anonymous refused at ${level}:${port}`);
        assert.ok(await refused(port, 'edge-monitor', 'wrong'), `wrong password refused at ${level}:${port}`);
      }
    }
    const gw = creds.levels.l4!.workloads['data-gateway']!;
    const ok = await connect(ports.l4!.workloadPort, gw.username, gw.password);
    await ok.endAsync();
  });
});

test('real brokers: telemetry flows l2 -> l3 -> l4, and nothing flows downward', async () => {
  await withCleanup(async (c) => {
    const { ports, creds } = await startChain(c);
    const gwUser = creds.levels.l4!.workloads['data-gateway']!;
    const sensorUser = creds.levels.l2!.workloads.sensor!;
    const atL4 = await connect(ports.l4!.workloadPort, gwUser.username, gwUser.password);
    const atL2 = await connect(ports.l2!.workloadPort, sensorUser.username, sensorUser.password);
    c.add(() => atL4.endAsync(true));
    c.add(() => atL2.endAsync(true));
    const gotL4: string[] = [];
    const gotL2: string[] = [];
    atL4.on('message', (_t, p) => gotL4.push(p.toString()));
    atL2.on('message', (_t, p) => gotL2.push(p.toString()));
    await atL4.subscribeAsync('telemetry', { qos: 1 });
    await atL2.subscribeAsync('telemetry', { qos: 1 });
    await waitFor('bridges up', async () => {
      await atL2.publishAsync('telemetry', 'probe', { qos: 1 });
      await new Promise((r) => setTimeout(r, 200));
      return gotL4.includes('probe');
    }, 15_000, 300);
    for (let i = 0; i < 100; i++) await atL2.publishAsync('telemetry', `up-${i}`, { qos: 1 });
    await atL4.publishAsync('telemetry', 'down-0', { qos: 1 });
    await waitFor('100 messages at l4', () => gotL4.filter((m) => m.startsWith('up-')).length === 100, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(gotL4.filter((m) => m.startsWith('up-')), Array.from({ length: 100 }, (_, i) => `up-${i}`), 'in order, none missing');
    assert.not.ok(gotL2.includes('down-0'), 'a message published at l4 never reaches l2');
  });
});

test('real brokers: a child bridge user may write telemetry but not read it', async () => {
  await withCleanup(async (c) => {
    const { ports, creds } = await startChain(c);
    const bridge = creds.levels.l4!.bridges.l3!;
    const gwUser = creds.levels.l4!.workloads['data-gateway']!;
    const asBridge = await connect(ports.l4!.childPort, bridge.username, bridge.password);
    const gw = await connect(ports.l4!.workloadPort, gwUser.username, gwUser.password);
    c.add(() => asBridge.endAsync(true));
    c.add(() => gw.endAsync(true));
    const seenByBridge: string[] = [];
    asBridge.on('message', (_t, p) => seenByBridge.push(p.toString()));
    await asBridge.subscribeAsync('telemetry', { qos: 1 });
    const seenByGw: string[] = [];
    gw.on('message', (_t, p) => seenByGw.push(p.toString()));
    await gw.subscribeAsync('telemetry', { qos: 1 });
    await asBridge.publishAsync('telemetry', 'from-bridge', { qos: 1 });
    await gw.publishAsync('telemetry', 'from-gateway', { qos: 1 });
    await waitFor('both messages at the gateway', () => seenByGw.length === 2, 5_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(seenByBridge, [], 'the bridge user reads nothing');
  });
});

test.run();
