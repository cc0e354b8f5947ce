// `edge up`: the local target, end to end, with a live line and a final account.
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../common/proc.js';
import { toolPath } from '../common/tools.js';
import { loadOrCreateCredentials } from '../config/credentials.js';
import { buildLocalPlan } from '../local/plan.js';
import { checkFixedPorts } from '../local/port-check.js';
import { ensureBrokerPki, pkiDirOf } from '../pki/broker-pki.js';
import { BrokerMonitor } from '../local/monitor.js';
import { LocalEdge, writePlanFiles, type TopicWatch } from '../local/run.js';
import { storeWarnings } from '../local/gateway-stores.js';
import { bridgeClientId } from '../config/mosquitto.js';
import { childListenerHosts, FORBIDDEN_EXAMPLE, NetnsEdge } from '../netns/edge.js';
import { rotateRunning, runFiles, type RotationAnswer, type RotationRequest } from '../local/rotate.js';
import type { ListenerHosts } from '../pki/broker-pki.js';
import { egressOf, parentFirst, type Topology } from '../topology/model.js';
import { edgeStatus } from '../telemetry/status-source.js';
import { compactStatus } from '../telemetry/status.js';
import { INTERNET, netnsUnavailable, sweepLeftovers } from '../netns/net.js';
import { loadTopology } from '../topology/parse.js';
import type { OtlpUpstream } from '../config/otel-collector.js';

export interface UpOptions {
  /** `local` (processes on 127.0.0.1) or `netns` (each level in its own network namespace). */
  target?: 'local' | 'netns';
  topologyFile?: string;
  durationS?: number;
  dataDir: string;
  summaryJson?: string;
  drainTimeoutS: number;
  quiet: boolean;
  /** An OpenTelemetry Collector and a broker exporter per level (off by default). */
  otel?: { upstream?: OtlpUpstream };
}

const say = (msg: string): void => void process.stderr.write(`edge: ${msg}\n`);

export async function up(opts: UpOptions): Promise<number> {
  if (opts.target === 'netns') return upNetns(opts);
  const topology = loadTopology(opts.topologyFile);
  const dataDir = resolve(opts.dataDir);
  const ports = await checkFixedPorts(topology, '127.0.0.1');
  for (const warning of ports.warnings) say(`warning: ${warning}`);
  if (ports.problems.length > 0) throw new Error(`the local target cannot start:\n  ${ports.problems.join('\n  ')}`);
  const creds = loadOrCreateCredentials(topology, join(dataDir, 'secrets', 'credentials.json'));
  const pki = await ensureBrokerPki(topology, pkiDirOf(dataDir), () => ['127.0.0.1']);
  const plan = await buildLocalPlan(topology, creds, {
    dataDir,
    pki,
    daprdPath: toolPath('daprd'),
    mosquittoPath: toolPath('mosquitto'),
    nodePath: process.execPath,
    hostOf: () => '127.0.0.1',
    runAsUser: userInfo().username,
    allocatePort: freePort,
    ...(opts.otel ? { otel: { collectorPath: toolPath('otelcol-edge'), ...opts.otel } } : {}),
  });
  writePlanFiles(plan);
  say(`topology ${topology.name}: ${topology.levels.map((l) => l.name).join(' <- ')} (data in ${dataDir})`);
  if (plan.telemetryFile) say(`telemetry: a collector per level, each forwarding to its parent's; the top level writes ${plan.telemetryFile}${opts.otel?.upstream ? ` and exports to ${opts.otel.upstream.endpoint}` : ''}; \`edge status --data-dir ${dataDir}\` reads each level's own figures`);
  return run(new LocalEdge(plan, say), new BrokerMonitor(), { topology, dataDir, hostsOf: () => ['127.0.0.1'] }, opts);
}

/** The same edge with each level in its own network namespace; torn down at the end. */
async function upNetns(opts: UpOptions): Promise<number> {
  const reason = await netnsUnavailable();
  if (reason) throw new Error(reason);
  const topology = loadTopology(opts.topologyFile);
  const dataDir = resolve(opts.dataDir);
  await sweepLeftovers();
  const n = await NetnsEdge.create(topology, { dataDir, progress: say, egress: true, ...(opts.otel ? { otel: { collectorPath: toolPath('otelcol-edge'), ...opts.otel } } : {}) });
  try {
    say(`topology ${topology.name}: ${topology.levels.map((l) => l.name).join(' <- ')} in network namespaces (data in ${dataDir})`);
    for (const link of n.net.links.filter((l) => l.upper !== INTERNET)) say(`  link ${link.name}: ${link.lower}=${link.lowerAddress} ${link.upper}=${link.upperAddress}`);
    for (const level of topology.levels) say(`  ${level.name}: namespace ${n.ns(level.name)}`);
    if (n.edge.plan.telemetryFile) say(`telemetry: a collector per level in its namespace, each forwarding to its parent's over its link (mTLS); the top level writes ${n.edge.plan.telemetryFile}; \`edge status --data-dir ${dataDir}\` reads each level's own figures`);
    const leaf = topology.levels.find((l) => !topology.levels.some((c) => c.parent === l.name) && l.parent !== undefined);
    if (leaf) {
      say(`to watch an outage, in another shell (as root):`);
      say(`  ip -n ${n.ns(leaf.name)} link set up0 down   # cut ${leaf.name}'s link to ${leaf.parent}: its broker holds what its producers send ("held" grows)`);
      say(`  ip -n ${n.ns(leaf.name)} link set up0 up     # restore: the bridge reconnects and the queue drains upward`);
      say(`  ip netns exec ${n.ns(leaf.name)} ip route    # ${leaf.name} has one route: the link to its parent`);
      const proxy = n.proxyOf(leaf.name);
      const allowed = egressOf(topology).allowDomains[0]!.replace(/^\./, '');
      say(`and to watch the egress proxies (Squid per level, chained to the top; the internet namespace stands for the cloud):`);
      say(`  ip netns exec ${proxy.ns} curl -s -x ${proxy.url} http://${allowed}/          # allow-listed: answered through every level's proxy`);
      say(`  ip netns exec ${proxy.ns} curl -s -o /dev/null -w '%{http_code}\\n' -x ${proxy.url} http://${FORBIDDEN_EXAMPLE}/   # 403: not on the allow-list`);
      say(`  ip netns exec ${proxy.ns} curl -s --max-time 3 http://${allowed}/             # fails: no level has a direct way out`);
    }
    say('starting the egress proxies (a Squid per level) and the internet stand-in');
    await n.startEgress();
    return await run(n.edge, new NetnsMonitor(n.edge), { topology, dataDir, hostsOf: (level) => childListenerHosts(topology, n.net, level) }, opts);
  } finally {
    await n.down();
    say('network namespaces removed');
  }
}

/** Performs a requested rotation and writes the answer `edge certs rotate` waits for. */
async function answerRotation(edge: LocalEdge, ctx: RunContext): Promise<void> {
  const files = runFiles(ctx.dataDir);
  let request: RotationRequest = { keepCa: false, id: 'signal' };
  if (existsSync(files.request)) request = JSON.parse(readFileSync(files.request, 'utf8')) as RotationRequest;
  let answer: RotationAnswer;
  try {
    answer = { id: request.id, ok: true, ...(await rotateRunning(edge, ctx.topology, ctx.dataDir, ctx.hostsOf, request.keepCa, say)) };
  } catch (err) {
    answer = { id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) };
    say(`certificate rotation failed: ${answer.error}`);
  }
  writeFileSync(files.answer, JSON.stringify(answer, null, 2) + '\n');
}

interface LiveMonitor {
  start(endpoints: LocalEdge['plan']['monitor']): void;
  line(): string;
  snapshot(): Array<{ level: string; receivedTotal: number; sentTotal: number; droppedTotal: number }>;
  stop(): Promise<void>;
}

/**
 * The live figures of the netns target: the host cannot reach a broker inside a namespace, so
 * each level's $SYS figures are read through the runner's probe, from inside the namespace.
 */
class NetnsMonitor implements LiveMonitor {
  private readonly watches = new Map<string, TopicWatch>();
  private readonly figures = new Map<string, { level: string; receivedTotal: number; sentTotal: number; droppedTotal: number; stored: number; bridgeUp: boolean | null }>();
  private timer: NodeJS.Timeout | undefined;
  private static readonly TOPICS = ['$SYS/broker/publish/messages/received', '$SYS/broker/publish/messages/sent', '$SYS/broker/publish/messages/dropped', '$SYS/broker/store/messages/count'];

  constructor(private readonly edge: LocalEdge) {}

  start(endpoints: LocalEdge['plan']['monitor']): void {
    for (const ep of endpoints) {
      this.figures.set(ep.level, { level: ep.level, receivedTotal: 0, sentTotal: 0, droppedTotal: 0, stored: 0, bridgeUp: null });
      const parent = this.edge.plan.brokers.find((b) => b.level.name === ep.level)?.level.parent;
      const stateTopic = parent ? `$SYS/broker/connection/${bridgeClientId(ep.level)}/state` : undefined;
      void this.edge.probe
        .watch(ep.level, ep, `edge-monitor-${ep.level}-${process.pid}`, [...NetnsMonitor.TOPICS, ...(stateTopic ? [stateTopic] : [])])
        .then((w) => this.watches.set(ep.level, w))
        .catch(() => undefined); // the live line shows zeros for that level
    }
    this.timer = setInterval(() => void this.poll(), 1000);
  }

  private async poll(): Promise<void> {
    for (const [level, w] of this.watches) {
      const f = this.figures.get(level)!;
      const num = async (t: string): Promise<number> => Number((await w.latest(`$SYS/broker/${t}`)) ?? 0);
      f.receivedTotal = await num('publish/messages/received');
      f.sentTotal = await num('publish/messages/sent');
      f.droppedTotal = await num('publish/messages/dropped');
      f.stored = await num('store/messages/count');
      const parent = this.edge.plan.brokers.find((b) => b.level.name === level)?.level.parent;
      const state = parent ? await w.latest(`$SYS/broker/connection/${bridgeClientId(level)}/state`) : undefined;
      f.bridgeUp = state === undefined ? null : state === '1';
    }
  }

  line(): string {
    return [...this.figures.values()].map((f) => `${f.level}: held ${f.stored}${f.droppedTotal ? ` DROPPED ${f.droppedTotal}` : ''}${f.bridgeUp === null ? '' : f.bridgeUp ? ' ↑up' : ' ↑DOWN'}`).join(' | ');
  }

  snapshot(): Array<{ level: string; receivedTotal: number; sentTotal: number; droppedTotal: number }> {
    return [...this.figures.values()].map((f) => ({ ...f }));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.watches.values()].map((w) => w.close().catch(() => undefined)));
    this.watches.clear();
  }
}

interface RunContext {
  topology: Topology;
  dataDir: string;
  /** The names in each level's server certificate (its child listeners' addresses). */
  hostsOf: ListenerHosts;
}

async function run(edge: LocalEdge, monitor: LiveMonitor, ctx: RunContext, opts: UpOptions): Promise<number> {
  const plan = edge.plan;
  const { dataDir } = ctx;
  const levelCount = ctx.topology.levels.length;
  const files = runFiles(dataDir);
  let interrupted = false;
  // `edge certs rotate` signals SIGUSR2; the rotation runs in the main loop, never during a stop.
  let rotationWanted = false;
  const onRotate = (): void => void (rotationWanted = true);
  process.on('SIGUSR2', onRotate);
  writeFileSync(files.pid, `${process.pid}\n`);
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
      if (rotationWanted) {
        rotationWanted = false;
        await answerRotation(edge, ctx);
      }
      if (!opts.quiet && Date.now() - lastPrint >= (process.stderr.isTTY ? 1000 : 5000)) {
        lastPrint = Date.now();
        edge.readReports();
        await edge.stores.poll();
        const s = edge.stores.summary();
        // With collectors, the line is `edge status` in short: each level's own exported metrics.
        const figures = plan.collectors.length ? compactStatus(edgeStatus({ dataDir, levels: parentFirst(ctx.topology).map((l) => l.name) })) : monitor.line();
        const line = `${figures} | stored ${s.delivered}/${s.sent}`;
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
    process.off('SIGUSR2', onRotate);
    rmSync(files.pid, { force: true });
  }
  if (failure) throw new Error(failure);

  edge.readReports();
  await edge.stores.poll();
  const summary = edge.stores.summary(plan.opcGroups);
  const gatewaySinks = edge.stores.gatewaySinkStats();
  const brokers = Object.fromEntries(monitor.snapshot().map((f) => [f.level, { received: f.receivedTotal, sent: f.sentTotal, dropped: f.droppedTotal }]));
  const result = { ...summary, gateway_sinks: gatewaySinks, broker_dropped: Object.values(brokers).reduce((n, b) => n + b.dropped, 0), brokers };
  for (const line of storeWarnings(summary, gatewaySinks)) say(line);
  if (opts.summaryJson) writeFileSync(opts.summaryJson, JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  if (summary.sent === 0) {
    say('nothing was sent: check the workload logs under ' + dataDir);
    return 1;
  }
  if (summary.lost > 0) {
    say(`${summary.lost} acknowledged message(s) did not reach every sink within the drain timeout`);
    return 1;
  }
  say(`ok: ${summary.delivered} of ${summary.sent} delivered through ${levelCount} levels, none lost, ${summary.duplicates} duplicates stored`);
  return 0;
}
