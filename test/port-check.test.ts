// The local target's pre-flight over the topology's fixed ports, and `edge certs rotate` giving up
// at once when the edge it asked is gone.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort } from '../src/common/proc.js';
import { checkFixedPorts, ephemeralPortRange } from '../src/local/port-check.js';
import { requestRotation, runFiles } from '../src/local/rotate.js';
import { fixedPorts, loadTopology, parseTopology } from '../src/topology/parse.js';
import { withCleanup } from './helpers.js';

const topologyWith = (ports: { l4: [number, number]; l2: [number, number]; plc?: number }): string =>
  `name: ports\nlevels:\n  - { name: l4, broker: { workloadPort: ${ports.l4[0]}, childPort: ${ports.l4[1]} }, workloads: [{ type: data-gateway }] }\n` +
  `  - { name: l2, parent: l4, broker: { workloadPort: ${ports.l2[0]}, childPort: ${ports.l2[1]} }, workloads: [{ type: opc-plc${ports.plc ? `, config: { port: ${ports.plc} }` : ''} }] }\n`;

const listen = (port: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });

test('fixed ports: every broker port and the OPC UA server, its default included, with where to change each', () => {
  const t = parseTopology(topologyWith({ l4: [20001, 20002], l2: [20003, 20004] }));
  assert.equal(fixedPorts(t).map((p) => [p.port, p.setting]), [
    [20001, 'levels[l4].broker.workloadPort'],
    [20002, 'levels[l4].broker.childPort'],
    [20003, 'levels[l2].broker.workloadPort'],
    [20004, 'levels[l2].broker.childPort'],
    [50000, 'levels[l2].workloads[opc-plc].config.port'],
  ]);
});

test('the shipped default fixes no port in the Linux default ephemeral range (32768-60999)', () => {
  const inRange = fixedPorts(loadTopology()).filter((p) => p.port >= 32768 && p.port <= 60999);
  assert.equal(inRange, []);
});

test('a port already held stops the local target before it starts, naming the port, the holder to look for and the setting', async () => {
  await withCleanup(async (c) => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()] as const;
    const held = await listen(ports[4]);
    c.add(() => new Promise<void>((r) => held.close(() => r())));
    const t = parseTopology(topologyWith({ l4: [ports[0], ports[1]], l2: [ports[2], ports[3]], plc: ports[4] }));
    const result = await checkFixedPorts(t, '127.0.0.1', [60000, 60001]);
    assert.is(result.problems.length, 1, result.problems.join('\n'));
    assert.match(result.problems[0]!, new RegExp(`port ${ports[4]} \\(l2/opc-plc port\\) is already in use on 127\\.0\\.0\\.1`));
    assert.match(result.problems[0]!, /ss -ltnp/);
    assert.match(result.problems[0]!, /levels\[l2\]\.workloads\[opc-plc\]\.config\.port/);
    held.close();
    assert.equal(await checkFixedPorts(t, '127.0.0.1', [60000, 60001]), { problems: [], warnings: [] }, 'free once released');
  });
});

test('a free port inside the ephemeral range is a warning, not a refusal', async () => {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()] as const;
  const t = parseTopology(topologyWith({ l4: [ports[0], ports[1]], l2: [ports[2], ports[3]], plc: ports[4] }));
  const result = await checkFixedPorts(t, '127.0.0.1', [ports[4], ports[4]]);
  assert.equal(result.problems, []);
  assert.is(result.warnings.length, 1);
  assert.match(result.warnings[0]!, /ephemeral range .*prefer a port below/);
});

test('the ephemeral range is read from the kernel file as two ports; an unreadable file means no range', async () => {
  await withCleanup(async (c) => {
    const dir = c.dir('port-range');
    writeFileSync(join(dir, 'range'), '32768\t60999\n');
    assert.equal(ephemeralPortRange(join(dir, 'range')), [32768, 60999]);
    writeFileSync(join(dir, 'garbage'), 'none\n');
    assert.is(ephemeralPortRange(join(dir, 'garbage')), undefined);
    assert.is(ephemeralPortRange(join(dir, 'missing')), undefined);
  });
});

test('`edge certs rotate` stops waiting as soon as the edge it asked has exited', async () => {
  await withCleanup(async (c) => {
    const dataDir = c.dir('rotate-gone');
    // A stand-in for the edge: SIGUSR2's default action ends it, without an answer.
    const standIn = spawn('sleep', ['60'], { stdio: 'ignore' });
    c.add(() => standIn.exitCode === null && standIn.kill('SIGKILL'));
    writeFileSync(runFiles(dataDir).pid, `${standIn.pid}\n`);
    const started = Date.now();
    const err = await requestRotation(dataDir, false, 60_000).then(() => undefined, (e: Error) => e);
    assert.ok(err, 'rejected');
    assert.match(err!.message, new RegExp(`the running edge \\(pid ${standIn.pid}\\) stopped before it answered`));
    assert.ok(Date.now() - started < 10_000, `gave up after ${Date.now() - started} ms, not at the timeout`);
  });
});

test.run();
