// The local target: the whole nested edge as processes on this machine. Starts brokers parent
// first, then each workload beside its daprd, watches, and on stop drains and accounts.
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import mqtt from 'mqtt';
import { startProcess, waitFor, type ManagedProcess } from '../common/proc.js';
import { writeSecretFile } from '../config/credentials.js';
import type { LocalPlan, ProcessPlan, WorkloadPlan } from './plan.js';
import { SinkAccounting, type ProducerRun } from './summary.js';

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

interface Started {
  plan: WorkloadPlan;
  app: ManagedProcess;
  daprd?: ManagedProcess;
}

export class LocalEdge {
  private readonly brokers: ManagedProcess[] = [];
  private readonly started: Started[] = [];
  private unexpected: string | undefined;
  private stopping = false;
  readonly accounting: SinkAccounting;
  private producerRuns: ProducerRun[] = [];

  constructor(
    readonly plan: LocalPlan,
    private readonly progress: Progress,
  ) {
    this.accounting = new SinkAccounting(plan.sinkFile, () => this.producerRuns);
  }

  /** Set when a process died on its own: the run cannot be trusted any more. */
  get failure(): string | undefined {
    return this.unexpected;
  }

  private launch(p: ProcessPlan): ManagedProcess {
    const proc = startProcess({ name: p.name, command: p.command, args: p.args, env: p.env, logFile: p.logFile });
    void proc.exited.then((code) => {
      if (!this.stopping && this.unexpected === undefined) this.unexpected = `${p.name} exited unexpectedly (${code}); see ${p.logFile}:\n${tail(p.logFile)}`;
    });
    return proc;
  }

  async start(): Promise<void> {
    for (const b of this.plan.brokers) {
      this.progress(`starting broker ${b.level.name} (ISA-95 ${b.level.isa95}) on ${b.host}:${b.level.broker.workloadPort}/${b.level.broker.childPort}${b.level.parent ? `, bridged to ${b.level.parent}` : ''}`);
      this.brokers.push(this.launch(b.process));
      await waitFor(`broker ${b.level.name}`, async () => {
        this.check();
        return (await tcpReachable(b.host, b.level.broker.workloadPort)) && (await tcpReachable(b.host, b.level.broker.childPort));
      }, 15_000);
    }
    for (const w of this.plan.workloads) {
      if (w.waitForFile) {
        const file = w.waitForFile;
        await waitFor(`${file} (written by the OPC UA server)`, () => (this.check(), existsSync(file)), 30_000);
      }
      this.progress(`starting ${w.level.name}/${w.workload.name}${w.daprd ? ' with its Dapr sidecar' : ''}`);
      const daprd = w.daprd ? this.launch(w.daprd) : undefined;
      const app = this.launch(w.app);
      this.started.push({ plan: w, app, daprd });
      if (w.daprd) {
        const url = `http://${w.app.env.DAPR_HOST}:${w.daprd.httpPort}/v1.0/healthz`;
        const logFile = w.daprd.logFile;
        await waitFor(`${w.daprd.name} healthy (${url})`, async () => (this.check(), (await fetch(url)).status === 204), 60_000, 250).catch((err: Error) => {
          throw new Error(`${err.message}; its log ${logFile} ends:\n${tail(logFile)}`);
        });
      }
      if (w.workload.type === 'data-gateway') await this.waitForSubscription(w);
      if (w.workload.type === 'opc-plc') {
        const port = Number(w.app.env.OPC_PORT ?? 50000);
        await waitFor(`${w.app.name} listening on ${port}`, async () => (this.check(), tcpReachable(w.app.env.OPC_HOSTNAME ?? '127.0.0.1', port)), 30_000);
      }
    }
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
    const client = await mqtt.connectAsync({ host: ep.host, port: ep.port, username: ep.username, password: ep.password, clientId: `edge-probe-${w.level.name}-${process.pid}`, clean: true, reconnectPeriod: 0 });
    let count = 0;
    client.on('message', (_t, payload) => (count = Number(payload.toString())));
    try {
      await client.subscribeAsync('$SYS/broker/subscriptions/count');
      await waitFor(`${w.app.name}'s subscription at the ${w.level.name} broker`, () => (this.check(), count >= 1 + consumers), 30_000, 100);
    } finally {
      await client.endAsync(true);
    }
  }

  /** Every process started so far, by name (for footprint measurements). */
  processes(): Array<{ name: string; pid: number }> {
    const all = [...this.brokers, ...this.started.flatMap((s) => (s.daprd ? [s.app, s.daprd] : [s.app]))];
    return all.map((p) => ({ name: p.name, pid: p.pid }));
  }

  /** Throws if some process died on its own. */
  check(): void {
    if (this.unexpected) throw new Error(this.unexpected);
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

  /** Waits until every acknowledged message is in the sink, or the timeout passes. */
  async drain(timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
      this.accounting.poll();
      const missing = this.accounting.missing();
      if (missing === 0 || Date.now() - started > timeoutMs) return (Date.now() - started) / 1000;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stops everything still running: workloads, sidecars, then brokers children first. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const s of [...this.started].reverse()) {
      await s.app.stop(15_000);
      await s.daprd?.stop(10_000);
    }
    for (const b of [...this.brokers].reverse()) await b.stop(10_000);
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
