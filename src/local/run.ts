// The local target: the whole nested edge as processes on this machine. Starts brokers parent
// first, then each workload beside its daprd, watches, and on stop drains and accounts.
import { chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import mqtt from 'mqtt';
import { startProcess, waitFor, WaitAborted, type ManagedProcess } from '../common/proc.js';
import { writeSecretFile } from '../config/credentials.js';
import type { BrokerPlan, LocalPlan, ProcessPlan, WorkloadPlan } from './plan.js';
import type { CollectorPlan } from './otel-plan.js';
import { SinkAccounting, type ProducerRun } from './summary.js';
import { LocalStores } from './gateway-stores.js';
import { bridgeClientId } from '../config/mosquitto.js';
import { DEFAULT_OPC_PORT } from '../../workloads/opc-plc/src/config.js';

export interface Progress {
  (msg: string): void;
}

const PRODUCERS = new Set(['temperature-sensor', 'opc-publisher']);

export function writePlanFiles(plan: LocalPlan, owner?: { uid: number; gid: number }): void {
  for (const f of plan.files) {
    if (f.secret) writeSecretFile(f.path, f.content);
    else {
      mkdirSync(dirname(f.path), { recursive: true });
      writeFileSync(f.path, f.content);
    }
  }
  for (const b of plan.brokers) {
    // Mosquitto must be able to write here, or persistence silently does nothing.
    mkdirSync(b.persistenceDir, { recursive: true });
    if (owner) chownSync(b.persistenceDir, owner.uid, owner.gid);
  }
}

export function tcpReachable(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export type BrokerEndpoint = LocalPlan['monitor'][number];

/** The latest payload per topic of one MQTT subscription. */
export interface TopicWatch {
  latest(topic: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/**
 * How the runner looks at what it started. The host's view by default; the netns target probes
 * from inside each level's namespace, where the level's addresses are.
 */
export interface EdgeProbe {
  /** Can `level` open a TCP connection to host:port? */
  tcp(level: string, host: string, port: number): Promise<boolean>;
  /** The status of a GET from `level` (throws when nothing answers). */
  httpStatus(level: string, url: string): Promise<number>;
  /** Subscribes, from `level`, to `topics` at a broker (clean session, QoS 0). */
  watch(level: string, broker: BrokerEndpoint, clientId: string, topics: string[]): Promise<TopicWatch>;
}

export const hostProbe: EdgeProbe = {
  tcp: (_level, host, port) => tcpReachable(host, port),
  httpStatus: async (_level, url) => (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status,
  async watch(_level, ep, clientId, topics) {
    const client = await mqtt.connectAsync({ host: ep.host, port: ep.port, username: ep.username, password: ep.password, clientId, clean: true, reconnectPeriod: 0 });
    const latest = new Map<string, string>();
    client.on('message', (t, payload) => latest.set(t, payload.toString()));
    try {
      await client.subscribeAsync(topics);
    } catch (err) {
      await client.endAsync(true);
      throw err;
    }
    return { latest: async (t) => latest.get(t), close: () => client.endAsync(true) };
  },
};

interface Started {
  plan: WorkloadPlan;
  app: ManagedProcess;
  daprd?: ManagedProcess;
}

export class LocalEdge {
  private readonly collectors: ManagedProcess[] = [];
  private readonly brokerExporters: ManagedProcess[] = [];
  private readonly brokers: ManagedProcess[] = [];
  private readonly started: Started[] = [];
  private unexpected: string | undefined;
  private stopping = false;
  /** The sink file's accounting (the stores' summary covers every sink). */
  readonly accounting: SinkAccounting;
  /** The data gateway's stores: started before it, read back for the summary, stopped last. */
  readonly stores: LocalStores;
  private producerRuns: ProducerRun[] = [];
  /** Processes stopped on purpose by `kill` (fault injection): their exit is no failure. */
  private readonly expectedExits = new WeakSet<ManagedProcess>();
  readonly probe: EdgeProbe;

  constructor(
    readonly plan: LocalPlan,
    private readonly progress: Progress,
    options: { probe?: EdgeProbe } = {},
  ) {
    this.accounting = new SinkAccounting(plan.sinkFile, () => this.producerRuns);
    this.stores = new LocalStores(plan.gatewayStores, this.accounting, () => this.producerRuns, progress);
    this.probe = options.probe ?? hostProbe;
  }

  /** Set when a process died on its own: the run cannot be trusted any more. */
  get failure(): string | undefined {
    return this.unexpected;
  }

  /** Starts `p`; its exit counts as a failure of the run unless `mayFinish` (a producer done with its count) and it exits 0. */
  private launch(p: ProcessPlan, mayFinish = false): ManagedProcess {
    const proc = startProcess({ name: p.name, command: p.command, args: p.args, env: p.env, logFile: p.logFile });
    void proc.exited.then((code) => {
      if (mayFinish && code === 0) return;
      if (!this.stopping && !this.expectedExits.has(proc) && this.unexpected === undefined) this.unexpected = `${p.name} exited unexpectedly (${code}); see ${p.logFile}:\n${tail(p.logFile)}`;
    });
    return proc;
  }

  async start(): Promise<void> {
    // Collectors first, parent first: each forwards to an already listening parent.
    for (const c of this.plan.collectors) {
      this.progress(`starting collector ${c.level.name} (OTLP gRPC ${c.host}:${c.ports.grpc}, HTTP ${c.ports.http})${c.level.parent ? `, forwarding to ${c.level.parent}` : `, writing ${this.plan.telemetryFile}`}`);
      this.collectors.push(this.launch(c.process));
      await this.collectorReady(c);
    }
    for (const b of this.plan.brokers) {
      this.progress(`starting broker ${b.level.name} (ISA-95 ${b.level.isa95}) on ${b.host}:${b.level.broker.workloadPort}${b.childHosts.length ? `, children on ${b.childHosts.map((h) => `${h}:${b.level.broker.childPort}`).join(' ')} (mTLS)` : ''}${b.level.parent ? `, bridged to ${b.level.parent}` : ''}`);
      this.brokers.push(this.launch(b.process));
      await this.brokerReady(b);
      // Beside its broker: reconnects by itself should the broker restart.
      const exporter = this.plan.brokerExporters.find((e) => e.level.name === b.level.name);
      if (exporter) this.brokerExporters.push(this.launch(exporter.process));
    }
    await this.stores.start();
    for (const w of this.plan.workloads) {
      if (w.waitForFile) {
        const file = w.waitForFile;
        await waitFor(`${file} (written by the OPC UA server)`, () => (this.check(), existsSync(file)), 30_000);
      }
      this.progress(`starting ${w.level.name}/${w.workload.name}${w.daprd ? ' with its Dapr sidecar' : ''}`);
      const daprd = w.daprd ? this.launch(w.daprd) : undefined;
      const app = this.launch(w.app, PRODUCERS.has(w.workload.type));
      this.started.push({ plan: w, app, daprd });
      await this.workloadReady(w);
    }
  }

  private async brokerReady(b: BrokerPlan): Promise<void> {
    const level = b.level.name;
    await waitFor(`broker ${level}`, async () => {
      this.check();
      if (!(await this.probe.tcp(level, b.host, b.level.broker.workloadPort))) return false;
      for (const host of b.childHosts) if (!(await this.probe.tcp(level, host, b.level.broker.childPort))) return false;
      return true;
    }, 15_000);
  }

  private async collectorReady(c: CollectorPlan): Promise<void> {
    const level = c.level.name;
    const childListeners = c.ports.children === undefined ? [] : this.plan.brokers.find((b) => b.level.name === level)!.childHosts;
    const listening = async (): Promise<boolean> => {
      this.check();
      if (!(await this.probe.tcp(level, c.host, c.ports.grpc)) || !(await this.probe.tcp(level, c.host, c.ports.http))) return false;
      for (const host of childListeners) if (!(await this.probe.tcp(level, host, c.ports.children!))) return false;
      return true;
    };
    await waitFor(`collector ${level}`, listening, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}; its log ${c.process.logFile} ends:\n${tail(c.process.logFile)}`);
    });
  }

  private async workloadReady(w: WorkloadPlan): Promise<void> {
    if (w.daprd) {
      const url = `http://${w.app.env.DAPR_HOST}:${w.daprd.httpPort}/v1.0/healthz`;
      const logFile = w.daprd.logFile;
      await waitFor(`${w.daprd.name} healthy (${url})`, async () => (this.check(), (await this.probe.httpStatus(w.level.name, url)) === 204), 60_000, 250).catch((err: Error) => {
        throw new Error(`${err.message}; its log ${logFile} ends:\n${tail(logFile)}`);
      });
    }
    if (w.workload.type === 'data-gateway') {
      // The gateway then releases its sidecar's session itself (data-gateway/src/session-release.ts).
      await this.waitForSubscription(w);
    }
    if (w.workload.type === 'opc-plc') {
      const port = Number(w.app.env.OPC_PORT ?? DEFAULT_OPC_PORT);
      await waitFor(`${w.app.name} listening on ${port}`, async () => (this.check(), this.probe.tcp(w.level.name, w.app.env.OPC_HOSTNAME ?? '127.0.0.1', port)), 30_000);
    }
  }

  /**
   * Fault injection: sends `signal` to one process of the run, by name (`l3/mosquitto`,
   * `l4/data-gateway`, `l4/data-gateway/daprd`), and waits until it is gone. Its exit does not
   * count as a failure of the run; `relaunch` starts it again.
   */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.processByName(name);
    if (!proc) throw new Error(`no process named ${name}; known: ${this.processes().map((p) => p.name).join(', ')}`);
    this.expectedExits.add(proc);
    proc.kill(signal);
    await proc.exited;
  }

  /**
   * Starts again what `kill` stopped and waits until it is ready: a broker (`l3/mosquitto`), or a
   * workload (`l4/data-gateway`) with its sidecar, as a restarted pod would.
   */
  async relaunch(name: string): Promise<void> {
    const bi = this.plan.brokers.findIndex((b) => b.process.name === name);
    if (bi >= 0) {
      const b = this.plan.brokers[bi]!;
      if (this.brokers[bi]?.isRunning()) throw new Error(`${name} is still running`);
      this.progress(`restarting broker ${b.level.name}`);
      this.brokers[bi] = this.launch(b.process);
      await this.brokerReady(b);
      return;
    }
    const s = this.started.find((x) => x.plan.app.name === name || x.plan.daprd?.name === name);
    if (!s) throw new Error(`no broker or workload named ${name}`);
    this.progress(`restarting ${s.plan.app.name}`);
    if (s.plan.daprd && !s.daprd?.isRunning()) s.daprd = this.launch(s.plan.daprd);
    if (!s.app.isRunning()) s.app = this.launch(s.plan.app, PRODUCERS.has(s.plan.workload.type));
    await this.workloadReady(s.plan);
  }

  private processByName(name: string): ManagedProcess | undefined {
    return [...this.brokers, ...this.started.flatMap((s) => (s.daprd ? [s.app, s.daprd] : [s.app]))].find((p) => p.name === name && p.isRunning());
  }

  /**
   * On a brand-new install the consumer's MQTT session has no subscription yet, and a broker
   * drops what nobody subscribed to: producers start only once the broker counts the gateway's
   * subscription (its $SYS count includes our own probe's, hence the +1).
   */
  private async waitForSubscription(w: WorkloadPlan): Promise<void> {
    const ep = this.plan.monitor.find((m) => m.level === w.level.name);
    if (!ep) return;
    const consumers = this.plan.workloads.filter((o) => o.level.name === w.level.name && o.workload.type === 'data-gateway' && this.started.some((s) => s.plan === o)).length;
    const topic = '$SYS/broker/subscriptions/count';
    const watch = await this.probe.watch(w.level.name, ep, `edge-probe-${w.level.name}-${process.pid}`, [topic]);
    try {
      await waitFor(`${w.app.name}'s subscription at the ${w.level.name} broker`, async () => (this.check(), Number((await watch.latest(topic)) ?? 0) >= 1 + consumers), 30_000, 100);
    } finally {
      await watch.close();
    }
  }

  /**
   * Restarts every broker gracefully (SIGTERM: it saves its queues first), parent first, each
   * once its bridge is back at its parent, so every bridge reconnects to an already restarted
   * parent and reads its certificate files afresh. Producers' sidecars retry meanwhile; nothing
   * they had acknowledged is lost (persistent sessions, persistence on).
   */
  async restartBrokers(): Promise<void> {
    for (const b of this.plan.brokers) await this.restartBroker(b.level.name);
  }

  async restartBroker(level: string): Promise<void> {
    const b = this.plan.brokers.find((x) => x.level.name === level);
    if (!b) throw new Error(`no broker of level ${level}`);
    const parentLog = b.level.parent === undefined ? undefined : this.plan.brokers.find((x) => x.level.name === b.level.parent)?.process.logFile;
    const from = parentLog ? fileSize(parentLog) : 0;
    await this.kill(b.process.name, 'SIGTERM');
    await this.relaunch(b.process.name);
    if (!parentLog) return;
    // The parent logs each accepted bridge: "New client connected from <addr> as bridge-<level> (...".
    const accepted = new RegExp(`connected from \\S+ as ${bridgeClientId(level)} `);
    await waitFor(`${level}'s bridge accepted by ${b.level.parent} (see ${parentLog})`, () => (this.check(), accepted.test(readFrom(parentLog, from))), 30_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}; ${b.process.logFile} ends:\n${tail(b.process.logFile)}`);
    });
  }

  /** Every process started so far, by name (for footprint measurements). */
  processes(): Array<{ name: string; pid: number }> {
    const all = [...this.collectors, ...this.brokers, ...this.brokerExporters, ...this.started.flatMap((s) => (s.daprd ? [s.app, s.daprd] : [s.app]))];
    return all.map((p) => ({ name: p.name, pid: p.pid }));
  }

  /** Throws if some process died on its own. */
  check(): void {
    if (this.unexpected) throw new WaitAborted(this.unexpected);
  }

  readReports(): ProducerRun[] {
    const runs: ProducerRun[] = [];
    for (const s of this.started) {
      if (!PRODUCERS.has(s.plan.workload.type) || !existsSync(s.plan.reportFile)) continue;
      const r = JSON.parse(readFileSync(s.plan.reportFile, 'utf8')) as ProducerRun;
      if (r.epoch > 0) runs.push({ source: r.source, level: r.level, epoch: r.epoch, acknowledged: r.acknowledged });
    }
    this.producerRuns = runs;
    return runs;
  }

  /** Stops producers (they flush and write their final report), then the OPC UA servers. */
  async stopProducers(): Promise<void> {
    this.stopping = true;
    const producers = this.started.filter((s) => PRODUCERS.has(s.plan.workload.type));
    await Promise.all(producers.map((s) => s.app.stop(20_000)));
    await Promise.all(producers.map((s) => s.daprd?.stop(10_000)));
    await Promise.all(this.started.filter((s) => s.plan.workload.type === 'opc-plc').map((s) => s.app.stop(10_000)));
    this.readReports();
  }

  /** Waits until every acknowledged message is in every sink, or the timeout passes. */
  async drain(timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      await this.stores.poll();
      const missing = this.stores.missing();
      if (missing === 0 || Date.now() - started > timeoutMs) return (Date.now() - started) / 1000;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stops everything still running: workloads, sidecars, then brokers and collectors children first. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const s of [...this.started].reverse()) {
      await s.app.stop(15_000);
      await s.daprd?.stop(10_000);
    }
    // The exporters first: their last export goes to collectors still running.
    for (const e of [...this.brokerExporters].reverse()) await e.stop(10_000);
    for (const b of [...this.brokers].reverse()) await b.stop(10_000);
    // Last, children first: each flushes what it holds to a parent still running.
    for (const c of [...this.collectors].reverse()) await c.stop(10_000);
    await this.stores.stop();
  }
}

function fileSize(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

function readFrom(file: string, offset: number): string {
  return existsSync(file) ? readFileSync(file).subarray(offset).toString('utf8') : '';
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
