// The local target with the file + postgresql sinks, against real Mosquitto, real daprd, the real
// gateway and a real (throwaway) PostgreSQL that the runner itself starts and stops: every
// acknowledged message once in each store, in per-source order, and the connection URL only in
// a 0600 file (never in argv, an environment, a log or a generated non-secret file).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, waitFor } from '../src/common/proc.js';
import { REPO_ROOT } from '../src/local/plan.js';
import { LocalEdge } from '../src/local/run.js';
import type { PostgresServer } from '../src/postgres/server.js';
import { readRecords } from '../workloads/data-gateway/src/file-sink.js';
import { singleLevelPlan, withCleanup, processesMentioning } from './helpers.js';

const PER_SOURCE = 400;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

const gatewayAndSensors = (count: number | undefined, intervalMs: number): string => `      - type: data-gateway
        config: { sinks: "file,postgresql", batchSize: 50, batchMaxWaitMs: 5 }
      - type: temperature-sensor
        name: sensor-a
        config: { intervalMs: ${intervalMs},${count ? ` count: ${count},` : ''} seed: 1 }
      - type: temperature-sensor
        name: sensor-b
        config: { intervalMs: ${intervalMs},${count ? ` count: ${count},` : ''} seed: 2 }
`;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('local edge, file + postgresql: the runner starts PostgreSQL; N rows = N lines = sent, ids unique, per-source order; the URL stays in a 0600 file', async () => {
  await withCleanup(async (c) => {
    const started = Date.now();
    const dir = c.dir('edge-pg');
    const { plan } = await singleLevelPlan(dir, 'edge-pg', gatewayAndSensors(PER_SOURCE, 3));
    const progress: string[] = [];
    const edge = new LocalEdge(plan, (m) => progress.push(m));
    c.add(() => edge.stopAll());
    await edge.start();
    const pg = edge.stores.postgres as PostgresServer;
    assert.ok(pg, 'a PostgreSQL runs for the gateway');
    assert.is(pg.connection.host, '127.0.0.1', 'loopback only');
    const urlFile = plan.gatewayStores!.postgres!.urlFile;
    assert.is(statSync(urlFile).mode & 0o777, 0o600, 'the URL file is readable by its owner only');
    assert.is(readFileSync(urlFile, 'utf8').trim(), pg.url);

    await waitFor(`${2 * PER_SOURCE} acknowledged`, () => edge.readReports().reduce((n, r) => n + r.acknowledged, 0) === 2 * PER_SOURCE, 90_000, 200);

    // The secret is nowhere but in that file (and the server's own directory): not in any
    // process's argv or environment, not in a log, not in a generated non-secret file.
    const password = pg.connection.password;
    const running = edge.processes().filter((p) => alive(p.pid) && existsSync(`/proc/${p.pid}`));
    assert.ok(running.some((p) => p.name === 'l4/data-gateway'), 'the gateway is among the processes checked');
    for (const p of running) {
      for (const what of ['cmdline', 'environ']) {
        const text = readFileSync(`/proc/${p.pid}/${what}`).toString().replace(/\0/g, ' ');
        assert.not.ok(text.includes(password), `${p.name}: the password is in its ${what}`);
      }
    }
    const gw = plan.workloads.find((w) => w.workload.type === 'data-gateway')!;
    assert.is(gw.app.env.GATEWAY_PG_URL_FILE, urlFile);
    assert.is(gw.app.env.GATEWAY_PG_URL, undefined);
    for (const f of plan.files.filter((x) => !x.secret)) assert.not.ok(f.content.includes(password), `${f.path} (not secret) holds the password`);
    for (const f of filesUnder(dir).filter((x) => x.endsWith('.log'))) assert.not.ok(readFileSync(f, 'utf8').includes(password), `${f} logs the password`);
    assert.not.ok(progress.join('\n').includes(password), 'the runner printed the password');

    await edge.stopProducers();
    await edge.drain(60_000);

    // Read the stores back directly, not through the runner's accounting.
    const client = await pg.client();
    let byPos: Array<{ source: string; seq: number }>;
    let distinctIds: number;
    try {
      byPos = (await client.query<{ source: string; seq: string }>('SELECT source, seq FROM telemetry ORDER BY pos')).rows.map((r) => ({ source: r.source, seq: Number(r.seq) }));
      distinctIds = Number((await client.query<{ n: string }>('SELECT count(DISTINCT id) AS n FROM telemetry')).rows[0]!.n);
    } finally {
      await client.end();
    }
    const lines = readRecords(plan.sinkFile);
    const sent = edge.readReports().reduce((n, r) => n + r.acknowledged, 0);
    assert.is(sent, 2 * PER_SOURCE);
    assert.is(byPos.length, sent, 'N rows = sent');
    assert.is(lines.length, sent, 'N lines = sent');
    assert.is(distinctIds, sent, 'row ids unique');
    assert.is(new Set(lines.map((l) => l.id)).size, sent, 'file ids unique');
    for (const source of ['sensor-a', 'sensor-b']) {
      assert.equal(byPos.filter((r) => r.source === source).map((r) => r.seq), range(PER_SOURCE), `${source}: rows in seq order`);
      assert.equal(lines.filter((l) => l.source === source).map((l) => l.seq), range(PER_SOURCE), `${source}: lines in seq order`);
    }

    // The runner's own account (what `edge up` prints) agrees, store by store.
    const summary = edge.stores.summary();
    for (const sink of ['file', 'postgresql']) assert.equal(summary.sinks[sink], { sent, delivered: sent, lost: 0, duplicates: 0, out_of_order: 0 }, sink);
    assert.equal({ sent: summary.sent, delivered: summary.delivered, lost: summary.lost }, { sent, delivered: sent, lost: 0 });

    const pids = edge.processes().map((p) => p.pid);
    await edge.stopAll();
    assert.not.ok(pg.running, 'PostgreSQL stopped');
    assert.not.ok(existsSync(pg.dir), 'its cluster directory removed');
    assert.not.ok(existsSync(urlFile), 'the URL file removed');
    assert.equal(pids.filter(alive), [], 'every process of the run stopped');
    assert.is((edge.stores.summary().sinks.postgresql as { lost: number }).lost, 0, 'the account survives the stop');
    console.log(`    file + postgresql, 2 x ${PER_SOURCE}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});

test('`edge up` with sinks file,postgresql: the summary checks both stores, and the throwaway PostgreSQL is gone afterwards', async () => {
  await withCleanup(async (c) => {
    const dir = c.dir('up-pg');
    // PostgreSQL's cluster goes under this run's TMPDIR, so a leftover would show in pgrep.
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    chmodSync(dir, 0o755);
    chmodSync(tmp, 0o755); // as root, PostgreSQL runs as `postgres`, which must reach its directory
    const [wp, cp] = [await freePort(), await freePort()];
    const topologyFile = join(dir, 'topology.yaml');
    writeFileSync(topologyFile, `name: up-pg\nlevels:\n  - name: l4\n    isa95: 4\n    broker: { workloadPort: ${wp}, childPort: ${cp} }\n    workloads:\n${gatewayAndSensors(undefined, 20)}`);
    const summaryFile = join(dir, 'out.json');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'edge.js'), 'up', '--topology', topologyFile, '--duration', '8', '--data-dir', join(dir, 'data'), '--summary-json', summaryFile, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
    c.add(() => child.exitCode === null && child.kill('SIGKILL'));
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((r) => child.on('exit', (x) => r(x)));
    assert.is(code, 0, output);
    const s = JSON.parse(readFileSync(summaryFile, 'utf8')) as { sent: number; lost: number; sinks: Record<string, { sent: number; delivered: number; lost: number; duplicates: number; out_of_order: number }> };
    assert.ok(s.sent > 0, `sent ${s.sent}`);
    assert.is(s.lost, 0);
    assert.equal(Object.keys(s.sinks), ['file', 'postgresql']);
    for (const sink of ['file', 'postgresql']) assert.equal(s.sinks[sink], { sent: s.sent, delivered: s.sent, lost: 0, duplicates: 0, out_of_order: 0 }, `${sink}: ${output}`);
    assert.match(output, /throwaway PostgreSQL on 127\.0\.0\.1/);
    assert.match(output, /postgresql: \d+ of \d+ stored, 0 lost/);
    assert.match(output, /throwaway postgresql stopped and removed/);
    const left = await processesMentioning(dir);
    assert.is(left, '', 'no process of the run is left, PostgreSQL included');
    assert.equal(readdirSync(tmp).filter((f) => f.startsWith('edge-pg-')), [], 'the cluster directory was removed');
  });
});

test.run();
