// The broker exporter: $SYS topics -> broker metrics (pure), its configuration, and a real run:
// two Mosquitto levels (l3 <- l2, bridged with mTLS), a collector and a broker exporter per level
// as LocalEdge starts them; the figures are read back the way `edge status` reads them.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { freePort, waitFor } from '../src/common/proc.js';
import { toolPath } from '../src/common/tools.js';
import { loadOrCreateCredentials } from '../src/config/credentials.js';
import { buildLocalPlan } from '../src/local/plan.js';
import { LocalEdge, writePlanFiles } from '../src/local/run.js';
import { ensureBrokerPki, pkiDirOf } from '../src/pki/broker-pki.js';
import { configFromEnv } from '../src/telemetry/broker-exporter.js';
import { pointsOfLines } from '../src/telemetry/otlp-points.js';
import { edgeStatus, levelMetricsFileOf } from '../src/telemetry/status-source.js';
import { BROKER_METRICS, BrokerFigures, bridgeStateTopic } from '../src/telemetry/sys-metrics.js';
import { hasEstablished, procAddress } from '../src/telemetry/tcp-peer.js';
import { parseTopology } from '../src/topology/parse.js';
import { processesMentioning, withCleanup } from './helpers.js';

test('$SYS topics map to the broker metrics; bad payloads and foreign topics are ignored; retained $SYS topics are counted', () => {
  const f = new BrokerFigures('bridge-l2');
  assert.equal(f.topics(), ['$SYS/#']);
  assert.ok(f.update('$SYS/broker/clients/connected', '4'));
  assert.ok(f.update('$SYS/broker/publish/messages/received', '1200'));
  assert.ok(f.update('$SYS/broker/publish/messages/sent', '1100'));
  assert.ok(f.update('$SYS/broker/store/messages/count', '37'));
  assert.ok(f.update('$SYS/broker/publish/messages/dropped', '0'));
  assert.ok(f.update(bridgeStateTopic('bridge-l2'), '0'));
  assert.equal(f.snapshot(), { clientsConnected: 4, messagesReceived: 1200, messagesSent: 1100, storeMessages: 37, messagesDropped: 0, bridgeUp: 0, retainedMessages: 6, sysDelivered: 6 });
  assert.ok(f.update(bridgeStateTopic('bridge-l2'), '1'));
  assert.is(f.snapshot().bridgeUp, 1);
  // All packets (pings, acks) are not the telemetry rate; another bridge's state is not ours.
  assert.not.ok(f.update('$SYS/broker/messages/received', '99999'));
  assert.not.ok(f.update('$SYS/broker/connection/bridge-l9/state', '0'));
  assert.not.ok(f.update('$SYS/broker/store/messages/count', 'n/a'));
  assert.not.ok(f.update(bridgeStateTopic('bridge-l2'), 'maybe'));
  assert.equal(f.snapshot(), { clientsConnected: 4, messagesReceived: 1200, messagesSent: 1100, storeMessages: 37, messagesDropped: 0, bridgeUp: 1, retainedMessages: 8, sysDelivered: 11 });
  // Every $SYS topic with a payload is one retained message; an empty payload removes it; logs are not retained.
  f.update('$SYS/broker/connection/bridge-l9/state', '');
  f.update('$SYS/broker/log/N', 'hello');
  assert.is(f.snapshot().retainedMessages, 7);
  f.reset();
  assert.equal(f.snapshot(), { sysDelivered: 13 }, 'a reconnect forgets the broker\'s figures, not what this exporter counted');
  // The top level has no bridge: no bridge figure.
  const top = new BrokerFigures();
  assert.not.ok(top.update(bridgeStateTopic('bridge-l2'), '1'));
  assert.is(top.snapshot().bridgeUp, undefined);
});

test('the bridge socket: an ESTABLISHED row to the parent in /proc/net/tcp (or IPv4-mapped tcp6); listeners and other peers do not count', () => {
  assert.is(procAddress('127.0.0.1', 8080), '0100007F:1F90');
  assert.is(procAddress('10.77.0.9', 18841), '09004D0A:4999');
  const head = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
  const row = (local: string, remote: string, st: string) => `   0: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000     0        0 1 1 0 20 4 30 10 -1\n`;
  assert.ok(hasEstablished(head + row('0A004D0A:B2C4', '09004D0A:4999', '01'), '10.77.0.9', 18841));
  assert.not.ok(hasEstablished(head + row('0A004D0A:B2C4', '09004D0A:4999', '02'), '10.77.0.9', 18841), 'SYN_SENT: a reconnect attempt, not a connection');
  assert.not.ok(hasEstablished(head + row('09004D0A:4999', '00000000:0000', '0A'), '10.77.0.9', 18841), 'a listener');
  assert.not.ok(hasEstablished(head + row('0A004D0A:B2C4', '09004D0A:1F90', '01'), '10.77.0.9', 18841), 'another port');
  assert.ok(hasEstablished(head + row('0000000000000000FFFF00000A004D0A:B2C4', '0000000000000000FFFF000009004D0A:4999', '01'), '10.77.0.9', 18841));
});

test('exporter configuration: every problem at once; the password from its file', async () => {
  await withCleanup(async (c) => {
    const pw = join(c.dir('exporter-config'), 'pw');
    writeFileSync(pw, 's3cret\n', { mode: 0o600 });
    const ok = configFromEnv({ EDGE_LEVEL: 'l2', EDGE_BROKER_URL: 'mqtt://127.0.0.1:1883', EDGE_MONITOR_USERNAME: 'edge-monitor', EDGE_MONITOR_PASSWORD_FILE: pw, EDGE_OTLP_METRICS_URL: 'http://127.0.0.1:4318/v1/metrics', EDGE_BRIDGE_CLIENT_ID: 'bridge-l2', EDGE_BRIDGE_PARENT: 'l3', EDGE_BRIDGE_PEER: '10.77.0.9:18841' });
    assert.is(ok.password, 's3cret');
    assert.is(ok.exportIntervalMs, 2000);
    assert.equal(ok.bridge, { clientId: 'bridge-l2', parent: 'l3', peer: { host: '10.77.0.9', port: 18841 } });
    const err = (() => {
      try {
        configFromEnv({ EDGE_LEVEL: 'l2', EDGE_EXPORT_INTERVAL_MS: 'soon', EDGE_BRIDGE_PARENT: 'l3', EDGE_MONITOR_PASSWORD_FILE: join(pw, 'missing') });
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    for (const want of ['EDGE_BROKER_URL is not set', 'EDGE_MONITOR_USERNAME is not set', 'EDGE_OTLP_METRICS_URL is not set', 'EDGE_EXPORT_INTERVAL_MS', 'EDGE_BRIDGE_CLIENT_ID, EDGE_BRIDGE_PARENT and EDGE_BRIDGE_PEER together', 'EDGE_MONITOR_PASSWORD_FILE:']) assert.ok(err.includes(want), `${want} in:\n${err}`);
  });
});

test('real brokers: each level exports its $SYS figures; l2 sees its bridge go down and up; nothing leaks into another level\'s file', async () => {
  let dir = '';
  await withCleanup(async (c) => {
    dir = c.dir('broker-exporter');
    const [p3, c3, p2, c2] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const topology = parseTopology(`name: exporter\nlevels:\n  - name: l3\n    isa95: 3\n    broker: { workloadPort: ${p3}, childPort: ${c3} }\n    workloads:\n      - type: data-gateway\n  - name: l2\n    isa95: 2\n    parent: l3\n    broker: { workloadPort: ${p2}, childPort: ${c2} }\n`);
    const creds = loadOrCreateCredentials(topology, join(dir, 'secrets', 'credentials.json'));
    const pki = await ensureBrokerPki(topology, pkiDirOf(dir), () => ['127.0.0.1']);
    const plan = await buildLocalPlan(topology, creds, { dataDir: dir, pki, daprdPath: toolPath('daprd'), mosquittoPath: toolPath('mosquitto'), nodePath: process.execPath, hostOf: () => '127.0.0.1', runAsUser: process.env.USER ?? 'root', allocatePort: freePort, otel: { collectorPath: toolPath('otelcol-edge') } });
    writePlanFiles(plan);
    // Brokers, collectors and exporters only: the data gateway the topology requires is not needed here.
    const edge = new LocalEdge({ ...plan, workloads: [] }, () => undefined);
    c.add(() => edge.stopAll());
    await edge.start();
    const status = (level: string) => edgeStatus({ dataDir: dir, levels: [level] })[0]!;

    await waitFor('l2 reports its bridge up', () => (edge.check(), status('l2').bridge?.up === true), 30_000, 250);
    assert.is(status('l2').bridge!.parent, 'l3');
    assert.is(status('l3').bridge, null, 'the top level has no bridge');
    // Idle brokers queue nothing: their store holds only the retained $SYS messages.
    await waitFor('idle queues read 0', () => status('l2').queue === 0 && status('l3').queue === 0, 10_000, 250);
    assert.ok(gaugeLatest(dir, 'l2', BROKER_METRICS.storeMessages) > 20, 'the raw store count includes the retained $SYS messages');

    // 200 messages into l3 over its child listener, as l2's bridge would send them (mTLS + bridge user).
    await waitFor('l3 counts received messages', () => status('l3').inPerS !== null, 30_000, 250);
    const receivedBefore = receivedTotal(dir, 'l3');
    const bridgeUser = creds.levels.l3!.bridges.l2!;
    const client = await mqtt.connectAsync({ protocol: 'mqtts', host: '127.0.0.1', port: c3, ca: readFileSync(pki.trustFile), cert: readFileSync(pki.levels.l2!.bridge!.cert), key: readFileSync(pki.levels.l2!.bridge!.key), username: bridgeUser.username, password: bridgeUser.password, clientId: 'exporter-test', reconnectPeriod: 0 });
    for (let i = 0; i < 200; i++) await client.publishAsync('telemetry/test', `m${i}`, { qos: 1 });
    await client.endAsync();
    await waitFor('l3 counted the 200 messages', () => receivedTotal(dir, 'l3') - receivedBefore >= 200, 20_000, 250);
    assert.ok(receivedTotal(dir, 'l3') - receivedBefore < 260, `only those (and $SYS-free): ${receivedTotal(dir, 'l3') - receivedBefore}`);

    // l3's broker killed: l2's bridge is down at once (the TCP connection closes), then up again.
    await edge.kill('l3/mosquitto', 'SIGKILL');
    await waitFor('l2 reports its bridge down', () => status('l2').bridge?.up === false, 30_000, 250);
    await edge.relaunch('l3/mosquitto');
    await waitFor('l2 reports its bridge up again', () => status('l2').bridge?.up === true, 60_000, 250);

    // Each level's file holds its own level only; the top level's telemetry file has l2's too,
    // forwarded l2 -> l3 over the collectors' mTLS link.
    for (const level of ['l3', 'l2']) {
      const levels = new Set(pointsOfLines(readFileSync(levelMetricsFileOf(dir, level), 'utf8')).map((p) => p.level));
      assert.equal([...levels], [level], `${level}'s file`);
    }
    await waitFor('l2 broker metrics in the top level file', () => pointsOfLines(readFileSync(plan.telemetryFile!, 'utf8')).some((p) => p.level === 'l2' && p.name === BROKER_METRICS.bridgeUp), 20_000, 250);

    // The monitor password is in no process's command line or environment.
    const password = creds.levels.l2!.monitor.password;
    for (const { pid, name } of edge.processes().filter((p) => p.name.endsWith('broker-exporter'))) {
      assert.not.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(password), `${name}'s argv`);
      assert.not.ok(readFileSync(`/proc/${pid}/environ`, 'utf8').includes(password), `${name}'s environment`);
    }
  });
  assert.ok(dir && !existsSync(dir));
  assert.is(await processesMentioning(dir), '', 'every broker, collector and exporter the test started is gone');
});

/** The latest value of a metric in a level's own file. */
function gaugeLatest(dir: string, level: string, name: string): number {
  const points = pointsOfLines(readFileSync(levelMetricsFileOf(dir, level), 'utf8')).filter((p) => p.name === name);
  return points.sort((a, b) => a.timeMs - b.timeMs).at(-1)?.value ?? 0;
}

/** A level's cumulative received counter, as its own file says. */
const receivedTotal = (dir: string, level: string): number => gaugeLatest(dir, level, BROKER_METRICS.messagesReceived);

test.run();
