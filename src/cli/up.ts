// `edge up`: the local target, end to end, with a live line and a final account.
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileSync } from 'node:fs';
import { freePort } from '../common/proc.js';
import { toolPath } from '../common/tools.js';
import { loadOrCreateCredentials } from '../config/credentials.js';
import { buildLocalPlan } from '../local/plan.js';
import { BrokerMonitor } from '../local/monitor.js';
import { LocalEdge, writePlanFiles } from '../local/run.js';
import { loadTopology } from '../topology/parse.js';

export interface UpOptions {
  topologyFile?: string;
  durationS?: number;
  dataDir: string;
  summaryJson?: string;
  drainTimeoutS: number;
  quiet: boolean;
}

const say = (msg: string): void => void process.stderr.write(`edge: ${msg}\n`);

export async function up(opts: UpOptions): Promise<number> {
  const topology = loadTopology(opts.topologyFile);
  const dataDir = resolve(opts.dataDir);
  const creds = loadOrCreateCredentials(topology, join(dataDir, 'secrets', 'credentials.json'));
  const plan = await buildLocalPlan(topology, creds, {
    dataDir,
    daprdPath: toolPath('daprd'),
    mosquittoPath: toolPath('mosquitto'),
    nodePath: process.execPath,
    hostOf: () => '127.0.0.1',
    runAsUser: userInfo().username,
    allocatePort: freePort,
  });
  writePlanFiles(plan);
  say(`topology ${topology.name}: ${topology.levels.map((l) => l.name).join(' <- ')} (data in ${dataDir})`);

  const edge = new LocalEdge(plan, say);
  const monitor = new BrokerMonitor();
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    say('stopping: producers first, then draining what is queued');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let failure: string | undefined;
  try {
    await edge.start();
    monitor.start(plan.monitor);
    say(`running${opts.durationS ? ` for ${opts.durationS} s` : '; Ctrl-C stops'}`);
    const startedAt = Date.now();
    let lastPrint = 0;
    while (!interrupted && (opts.durationS === undefined || Date.now() - startedAt < opts.durationS * 1000)) {
      await new Promise((r) => setTimeout(r, 250));
      edge.check();
      if (!opts.quiet && Date.now() - lastPrint >= (process.stderr.isTTY ? 1000 : 5000)) {
        lastPrint = Date.now();
        edge.readReports();
        edge.accounting.poll();
        const s = edge.accounting.summary();
        const line = `${monitor.line()} | stored ${s.delivered}/${s.sent}`;
        process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : `${line}\n`);
      }
    }
    if (process.stderr.isTTY && !opts.quiet) process.stderr.write('\n');
    await edge.stopProducers();
    const drainS = await edge.drain(opts.drainTimeoutS * 1000);
    say(`drained in ${drainS.toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 1500)); // brokers publish $SYS figures once a second
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  } finally {
    await monitor.stop();
    await edge.stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (failure) throw new Error(failure);

  edge.readReports();
  edge.accounting.poll();
  const summary = edge.accounting.summary(plan.opcGroups);
  const brokers = Object.fromEntries(monitor.snapshot().map((f) => [f.level, { received: f.receivedTotal, sent: f.sentTotal, dropped: f.droppedTotal }]));
  const result = { ...summary, broker_dropped: Object.values(brokers).reduce((n, b) => n + b.dropped, 0), brokers };
  if (opts.summaryJson) writeFileSync(opts.summaryJson, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  if (summary.sent === 0) {
    say('nothing was sent: check the workload logs under ' + dataDir);
    return 1;
  }
  if (summary.lost > 0) {
    say(`${summary.lost} acknowledged message(s) did not reach the sink within the drain timeout`);
    return 1;
  }
  say(`ok: ${summary.delivered} of ${summary.sent} delivered through ${topology.levels.length} levels, none lost, ${summary.duplicates} duplicates stored`);
  return 0;
}
