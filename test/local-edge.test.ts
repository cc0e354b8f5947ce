// The local target against real Mosquitto, real daprd and the real workloads.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { waitFor } from '../src/common/proc.js';
import { LocalEdge } from '../src/local/run.js';
import { loadTopology } from '../src/topology/parse.js';
import { levelByName } from '../src/topology/model.js';
import { readRecords } from '../workloads/data-gateway/src/file-sink.js';
import { REPO_ROOT } from '../src/local/plan.js';
import { singleLevelPlan, withCleanup, processesMentioning } from './helpers.js';

function singleLevel(dir: string, sensorCount: number) {
  return singleLevelPlan(dir, 'one-level', `      - type: data-gateway\n      - type: temperature-sensor\n        config: { intervalMs: 2, count: ${sensorCount}, seed: 7 }\n`);
}

test('temperature-sensor -> daprd -> Mosquitto -> daprd -> data-gateway: every seq stored once, in order', async () => {
  await withCleanup(async (c) => {
    const dir = c.dir('one-level');
    const { plan } = await singleLevel(dir, 300);
    const edge = new LocalEdge(plan, () => undefined);
    c.add(() => edge.stopAll());
    await edge.start();
    await waitFor('300 acknowledged by the sensor', () => edge.readReports()[0]?.acknowledged === 300, 60_000, 200);
    await edge.stopProducers();
    await edge.drain(30_000);
    const summary = edge.accounting.summary();
    assert.equal({ sent: summary.sent, delivered: summary.delivered, lost: summary.lost, duplicates: summary.duplicates }, { sent: 300, delivered: 300, lost: 0, duplicates: 0 });
    // Dapr's mqtt3 component hands messages to the app concurrently, so the sink's order is
    // not the publish order; what must hold is every seq exactly once.
    const seqs = readRecords(plan.sinkFile).filter((r) => r.source === 'temperature-sensor').map((r) => r.seq);
    assert.equal([...seqs].sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i + 1), 'every seq once, no gaps');
    const first = readRecords(plan.sinkFile)[0]!;
    assert.ok(typeof (first.data as { machine: { temperature: number } }).machine.temperature === 'number', 'data is a JSON object, not a string');
    await edge.stopAll();
    const alive = edge.processes().filter(({ pid }) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    assert.equal(alive, [], 'every broker, sidecar and workload stopped');
  });
});

test('poison messages go to the dead-letter topic with a reason; valid traffic around them is stored', async () => {
  await withCleanup(async (c) => {
    const dir = c.dir('poison');
    const { plan, creds, topology } = await singleLevel(dir, 50);
    const edge = new LocalEdge(plan, () => undefined);
    c.add(() => edge.stopAll());
    const gwUser = creds.levels.l4!.workloads['data-gateway']!;
    const port = topology.levels[0]!.broker.workloadPort;
    await edge.start();
    const client = await mqtt.connectAsync({ host: '127.0.0.1', port, username: gwUser.username, password: gwUser.password, clientId: 'poison-test', reconnectPeriod: 0 });
    c.add(() => client.endAsync(true));
    const dead: Array<{ reason: string }> = [];
    client.on('message', (_t, payload) => {
      dead.push(JSON.parse(payload.toString()) as { reason: string });
    });
    await client.subscribeAsync('deadletter', { qos: 1 });
    await client.publishAsync('telemetry', '{"this is": not json', { qos: 1 });
    await client.publishAsync('telemetry', JSON.stringify({ hello: 'world' }), { qos: 1 });
    await waitFor('two dead letters', () => dead.length >= 2, 30_000);
    await waitFor('50 acknowledged', () => edge.readReports()[0]?.acknowledged === 50, 60_000, 200);
    await edge.stopProducers();
    await edge.drain(30_000);
    const reasons = dead.map((d) => d.reason).join('\n');
    assert.match(reasons, /not JSON/);
    assert.match(reasons, /invalid or missing field\(s\): source/);
    assert.is(edge.accounting.summary().lost, 0);
    assert.is(readRecords(plan.sinkFile).length, 50, 'only valid messages reach the sink');
  });
});

test('a gateway killed with its sidecar comes back and releases its session: what the session held is stored, lost 0', async () => {
  await withCleanup(async (c) => {
    const dir = c.dir('gw-restart');
    const { plan } = await singleLevel(dir, 3000);
    const edge = new LocalEdge(plan, () => undefined);
    c.add(() => edge.stopAll());
    await edge.start();
    await waitFor('500 acknowledged', () => (edge.readReports()[0]?.acknowledged ?? 0) >= 500, 60_000, 100);
    await edge.kill('l4/data-gateway/daprd');
    await edge.kill('l4/data-gateway');
    // The sensor goes on: its messages wait in the gateway sidecar's persistent session.
    await new Promise((r) => setTimeout(r, 2_000));
    await edge.relaunch('l4/data-gateway');
    await waitFor('3000 acknowledged', () => edge.readReports()[0]?.acknowledged === 3000, 90_000, 200);
    await edge.stopProducers();
    await edge.drain(60_000);
    const s = edge.accounting.summary();
    assert.equal({ sent: s.sent, delivered: s.delivered, lost: s.lost, duplicates: s.duplicates }, { sent: 3000, delivered: 3000, lost: 0, duplicates: 0 });
    const gatewayLog = readFileSync(join(dir, 'l4', 'data-gateway', 'data-gateway.log'), 'utf8');
    assert.is(gatewayLog.match(/released the sidecar session/g)?.length, 2, 'released at the first start and after the restart');
  });
});

test('`edge up` runs the default three-level edge, drains, accounts, and leaves no process behind', async () => {
  await withCleanup(async (c) => {
    const dir = c.dir('up');
    const summaryFile = join(dir, 'out.json');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'edge.js'), 'up', '--duration', '20', '--data-dir', join(dir, 'data'), '--summary-json', summaryFile, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.add(() => child.exitCode === null && child.kill('SIGKILL'));
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    assert.is(code, 0, output);
    const s = JSON.parse(readFileSync(summaryFile, 'utf8'));
    assert.ok(s.sent > 50, `sent ${s.sent}`);
    assert.is(s.delivered, s.sent);
    assert.is(s.lost, 0);
    assert.is(s.duplicates, 0);
    assert.ok(s.per_source['temperature-sensor'].delivered > 0);
    assert.ok(s.per_source['opc-publisher'].delivered > 0);
    assert.ok(s.per_source['opc-plc'].values > 0, 'values from the PLC arrived through the publisher');
    // Everything the sink holds crossed the level-3 broker: l2's only bridge goes to l3.
    assert.ok(s.brokers.l3.received >= s.delivered, `l3 relayed ${s.brokers.l3.received} of ${s.delivered}`);
    const l2conf = readFileSync(join(dir, 'data', 'l2', 'broker', 'mosquitto.conf'), 'utf8');
    const l3ChildPort = levelByName(loadTopology(), 'l3').broker.childPort;
    assert.equal(l2conf.match(/^address .*$/gm), [`address 127.0.0.1:${l3ChildPort}`]);
    const left = await processesMentioning(dir);
    assert.is(left, '', 'no process of the run is left');
    assert.ok(existsSync(join(dir, 'data', 'l4', 'data-gateway', 'sink.jsonl')));
  });
});

test('`edge certs rotate` under a running `edge up`: a new CA and certificates, then lost = 0', async () => {
  await withCleanup(async (c) => {
    const dir = c.dir('rotate');
    const dataDir = join(dir, 'data');
    const summaryFile = join(dir, 'out.json');
    const edge = (args: string[]) => spawn(process.execPath, [join(REPO_ROOT, 'bin', 'edge.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (child: ReturnType<typeof edge>): Promise<{ code: number | null; out: string; err: string }> =>
      new Promise((r) => {
        let out = '';
        let err = '';
        child.stdout!.on('data', (d) => (out += d));
        child.stderr!.on('data', (d) => (err += d));
        child.on('exit', (code) => r({ code, out, err }));
      });
    const up = edge(['up', '--duration', '25', '--data-dir', dataDir, '--summary-json', summaryFile, '--quiet']);
    c.add(() => up.exitCode === null && up.kill('SIGKILL'));
    const upDone = collect(up);
    const caFile = join(dataDir, 'secrets', 'pki', 'ca.crt');
    await waitFor('the edge running (its pid file)', () => existsSync(join(dataDir, 'edge.pid')) && existsSync(join(dataDir, 'l4', 'data-gateway', 'sink.jsonl')), 60_000, 250);
    const oldCa = readFileSync(caFile, 'utf8');
    const rotate = await collect(edge(['certs', 'rotate', '--data-dir', dataDir]));
    assert.is(rotate.code, 0, rotate.err);
    const answer = JSON.parse(rotate.out);
    assert.equal(answer.phases, ['trust-both', 'new-certs', 'drop-old']);
    assert.is.not(readFileSync(caFile, 'utf8'), oldCa, 'the CA file changed');
    assert.is(readFileSync(join(dataDir, 'secrets', 'pki', 'trust.crt'), 'utf8').match(/BEGIN CERTIFICATE/g)?.length, 1, 'only the new CA is trusted');
    const done = await upDone;
    assert.is(done.code, 0, done.err);
    assert.match(done.err, /certificate rotation: drop-old/);
    const s = JSON.parse(readFileSync(summaryFile, 'utf8'));
    assert.ok(s.sent > 50, `sent ${s.sent}`);
    assert.is(s.lost, 0);
    assert.is(s.duplicates, 0);
  });
});

test.run();
