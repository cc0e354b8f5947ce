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
import { ensureBrokerPki, type BrokerPki } from '../src/pki/broker-pki.js';
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
  const pki = `${dir}/pki`;
  return renderMosquittoConf({
    level,
    bindAddress: hostOf(name),
    tls: { trustFile: `${pki}/trust.crt`, serverCert: `${pki}/${name}/server.crt`, serverKey: `${pki}/${name}/server.key`, ...(parent ? { bridgeCert: `${pki}/${name}/bridge.crt`, bridgeKey: `${pki}/${name}/bridge.key` } : {}) },
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

test('the child listener requires TLS 1.2+ and a client certificate; the bridge verifies its parent', () => {
  const t = loadTopology();
  const conf = confFor(t, 'l3', fixedCreds);
  const child = conf.slice(conf.indexOf(`listener ${levelByName(t, 'l3').broker.childPort} `));
  for (const line of ['cafile /var/lib/edge/pki/trust.crt', 'require_certificate true', 'tls_version tlsv1.2', 'certfile /var/lib/edge/pki/l3/server.crt']) assert.ok(child.includes(`\n${line}\n`), `child listener has ${line}`);
  for (const line of ['bridge_cafile /var/lib/edge/pki/trust.crt', 'bridge_certfile /var/lib/edge/pki/l3/bridge.crt', 'bridge_tls_version tlsv1.2', 'bridge_insecure false']) assert.ok(conf.includes(`\n${line}\n`), `bridge has ${line}`);
  const workload = conf.slice(conf.indexOf(`listener ${levelByName(t, 'l3').broker.workloadPort} `), conf.indexOf(`listener ${levelByName(t, 'l3').broker.childPort} `));
  assert.not.match(workload, /certfile/, 'the workload listener (loopback or pod-local) has credentials, no TLS');
});

test('one child listener per address when a level has several children', () => {
  const t = loadTopology();
  const level = levelByName(t, 'l3');
  const conf = renderMosquittoConf({
    level,
    bindAddress: '127.0.0.1',
    childBindAddresses: ['10.77.0.1', '10.77.0.5'],
    tls: { trustFile: '/p/trust.crt', serverCert: '/p/s.crt', serverKey: '/p/s.key', bridgeCert: '/p/b.crt', bridgeKey: '/p/b.key' },
    storeAndForward: t.storeAndForward,
    paths: { persistenceDir: '/d', passwordFile: '/p/passwd', aclFile: '/p/acl' },
  });
  const listeners = conf.split('\n').filter((l) => l.startsWith('listener '));
  assert.equal(listeners, [`listener ${level.broker.workloadPort} 127.0.0.1`, `listener ${level.broker.childPort} 10.77.0.1`, `listener ${level.broker.childPort} 10.77.0.5`]);
  assert.is(conf.split('\nrequire_certificate true\n').length - 1, 2, 'each child listener requires a client certificate');
});

interface Brokers {
  topology: Topology;
  creds: Credentials;
  ports: Record<string, { workloadPort: number; childPort: number }>;
  pki: BrokerPki;
}

async function startChain(c: Cleanup): Promise<Brokers> {
  const base = loadTopology();
  const topology: Topology = { ...base, levels: [] };
  for (const l of base.levels) topology.levels.push({ ...l, broker: { workloadPort: await freePort(), childPort: await freePort() }, workloads: l.name === 'l2' ? [{ name: 'sensor', type: 'temperature-sensor', config: {} }] : l.workloads.filter((w) => w.type === 'data-gateway') });
  const creds = ensureCredentials(topology);
  const dir = c.dir('brokers');
  const pki = await ensureBrokerPki(topology, join(dir, 'pki'), () => ['127.0.0.1']);
  for (const level of parentFirst(topology)) {
    const parent = level.parent ? levelByName(topology, level.parent) : undefined;
    const paths = { persistenceDir: join(dir, level.name, 'data'), passwordFile: join(dir, level.name, 'passwd'), aclFile: join(dir, level.name, 'acl') };
    writeSecretFile(paths.passwordFile, renderPasswordFile(level.name, creds));
    writeSecretFile(paths.aclFile, renderAclFile(level.name, creds));
    const files = pki.levels[level.name]!;
    const tls = { trustFile: pki.trustFile, serverCert: files.server.cert, serverKey: files.server.key, bridgeCert: files.bridge?.cert, bridgeKey: files.bridge?.key };
    const conf = renderMosquittoConf({ level, bindAddress: '127.0.0.1', tls, parent: parent ? { host: '127.0.0.1', port: parent.broker.childPort, bridgeUser: creds.levels[parent.name]!.bridges[level.name]! } : undefined, storeAndForward: topology.storeAndForward, paths, runAsUser: process.env.USER ?? 'root' });
    writeSecretFile(join(dir, level.name, 'mosquitto.conf'), conf);
    const proc = c.track(startProcess({ name: `mosquitto-${level.name}`, command: toolPath('mosquitto'), args: ['-c', join(dir, level.name, 'mosquitto.conf')], logFile: join(dir, level.name, 'log') }));
    await waitFor(`broker ${level.name}`, async () => proc.isRunning() && (await tcpReachable('127.0.0.1', level.broker.childPort)), 10_000);
  }
  return { topology, creds, ports: Object.fromEntries(topology.levels.map((l) => [l.name, l.broker])), pki };
}

interface TlsClient {
  ca: string;
  cert?: string;
  key?: string;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
}

async function connect(port: number, username?: string, password?: string, tls?: TlsClient): Promise<mqtt.MqttClient> {
  const tlsOptions = tls
    ? { protocol: 'mqtts' as const, ca: readFileSync(tls.ca), ...(tls.cert ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key!) } : {}), rejectUnauthorized: true, minVersion: tls.minVersion, maxVersion: tls.maxVersion }
    : {};
  return mqtt.connectAsync({ host: '127.0.0.1', port, username, password, reconnectPeriod: 0, connectTimeout: 3000, clientId: `t-${Math.random().toString(16).slice(2)}`, ...tlsOptions });
}

/** Why a connection failed, or undefined when it succeeded. */
async function refusal(port: number, username?: string, password?: string, tls?: TlsClient): Promise<string | undefined> {
  try {
    const client = await connect(port, username, password, tls);
    await client.endAsync(true);
    return undefined;
  } catch (err) {
    return String(err);
  }
}

async function refused(port: number, username?: string, password?: string): Promise<boolean> {
  return /not authori[sz]ed|Bad username or password/i.test((await refusal(port, username, password)) ?? '');
}

test('real brokers: anonymous and wrong passwords are refused on every listener', async () => {
  await withCleanup(async (c) => {
    const { ports, creds, pki } = await startChain(c);
    const bridgeCert = { ca: pki.trustFile, cert: pki.levels.l2!.bridge!.cert, key: pki.levels.l2!.bridge!.key };
    for (const [level, p] of Object.entries(ports)) {
      assert.ok(await refused(p.workloadPort), `anonymous refused at ${level}:${p.workloadPort}`);
      assert.ok(await refused(p.workloadPort, 'edge-monitor', 'wrong'), `wrong password refused at ${level}:${p.workloadPort}`);
      assert.ok(/not authori[sz]ed|Bad username or password/i.test((await refusal(p.childPort, undefined, undefined, bridgeCert)) ?? ''), `anonymous refused at ${level}:${p.childPort} even with a valid certificate`);
      assert.ok(/not authori[sz]ed|Bad username or password/i.test((await refusal(p.childPort, 'edge-monitor', 'wrong', bridgeCert)) ?? ''), `wrong password refused at ${level}:${p.childPort}`);
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

test('real brokers: the child listener refuses plain MQTT, no certificate, another CA\'s certificate and TLS 1.1', async () => {
  await withCleanup(async (c) => {
    const { ports, creds, pki } = await startChain(c);
    const bridge = creds.levels.l4!.bridges.l3!;
    const own = { ca: pki.trustFile, cert: pki.levels.l3!.bridge!.cert, key: pki.levels.l3!.bridge!.key };
    const other = await ensureBrokerPki(loadTopology(), join(c.dir('other-ca'), 'pki'), () => ['127.0.0.1']);
    const port = ports.l4!.childPort;
    assert.ok(await refusal(port, bridge.username, bridge.password), 'plain MQTT (no TLS) is refused');
    assert.ok(await refusal(port, bridge.username, bridge.password, { ca: pki.trustFile }), 'TLS without a client certificate is refused');
    assert.ok(await refusal(port, bridge.username, bridge.password, { ca: pki.trustFile, cert: other.levels.l3!.bridge!.cert, key: other.levels.l3!.bridge!.key }), 'a client certificate from another CA is refused');
    assert.ok(await refusal(port, bridge.username, bridge.password, { ca: other.trustFile, cert: own.cert, key: own.key }), "a client that trusts another CA refuses the broker's certificate");
    assert.ok(await refusal(port, bridge.username, bridge.password, { ...own, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }), 'TLS 1.1 is refused');
    assert.is(await refusal(port, bridge.username, bridge.password, { ...own, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }), undefined, 'TLS 1.2 with the right certificate and password is accepted');
    assert.is(await refusal(port, bridge.username, bridge.password, own), undefined, 'TLS 1.3 too');
  });
});

test('real brokers: a child bridge user may write telemetry but not read it', async () => {
  await withCleanup(async (c) => {
    const { ports, creds, pki } = await startChain(c);
    const bridge = creds.levels.l4!.bridges.l3!;
    const gwUser = creds.levels.l4!.workloads['data-gateway']!;
    const asBridge = await connect(ports.l4!.childPort, bridge.username, bridge.password, { ca: pki.trustFile, cert: pki.levels.l3!.bridge!.cert, key: pki.levels.l3!.bridge!.key });
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
