// Shared test plumbing: temp dirs and a cleanup list that stops every process a test started,
// even when the test fails.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { listNamespaces } from '../src/netns/net.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type ManagedProcess } from '../src/common/proc.js';
import { toolPath } from '../src/common/tools.js';
import { loadOrCreateCredentials } from '../src/config/credentials.js';
import { buildLocalPlan } from '../src/local/plan.js';
import { ensureBrokerPki, pkiDirOf } from '../src/pki/broker-pki.js';
import { writePlanFiles } from '../src/local/run.js';
import { parseTopology } from '../src/topology/parse.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `edge-${prefix}-`));
}

export class Cleanup {
  private readonly steps: Array<() => Promise<unknown> | unknown> = [];
  processes: ManagedProcess[] = [];

  add(step: () => Promise<unknown> | unknown): void {
    this.steps.push(step);
  }

  track<T extends ManagedProcess>(proc: T): T {
    this.processes.push(proc);
    this.add(() => proc.stop(5_000));
    return proc;
  }

  dir(prefix: string): string {
    const dir = tempDir(prefix);
    this.add(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch {
        // keep cleaning up
      }
    }
  }

  /** True when every tracked process has exited. */
  allStopped(): boolean {
    return this.processes.every((p) => !p.isRunning());
  }
}

/** Runs `body` with a fresh Cleanup that always runs afterwards. */
export async function withCleanup<T>(body: (c: Cleanup) => Promise<T>): Promise<T> {
  const c = new Cleanup();
  try {
    return await body(c);
  } finally {
    await c.run();
  }
}

/**
 * The default topology's three levels and ports with only a steady sensor at l2 (`rate` msg/s),
 * so a test's figures measure the links and brokers, not the OPC UA chain.
 */
export function sensorChainTopology(name: string, rate: number) {
  return parseTopology(`
name: ${name}
levels:
  - name: l4
    isa95: 4
    broker: { workloadPort: 18830, childPort: 18831 }
    workloads:
      - type: data-gateway
  - name: l3
    isa95: 3
    parent: l4
    broker: { workloadPort: 18840, childPort: 18841 }
  - name: l2
    isa95: 2
    parent: l3
    broker: { workloadPort: 18850, childPort: 18851 }
    workloads:
      - type: temperature-sensor
        config: { intervalMs: ${1000 / rate} }
storeAndForward: { rateMsgPerS: 1000, messageBytes: 1024, retentionS: 600 }
`);
}

/**
 * A one-level topology (l4 on free loopback ports) holding `workloadsYaml` (the YAML list items,
 * indented by six spaces), planned for the local target in `dir`, its files written.
 */
export async function singleLevelPlan(dir: string, name: string, workloadsYaml: string) {
  const [wp, cp] = [await freePort(), await freePort()];
  const topology = parseTopology(`name: ${name}\nlevels:\n  - name: l4\n    isa95: 4\n    broker: { workloadPort: ${wp}, childPort: ${cp} }\n    workloads:\n${workloadsYaml}`);
  const creds = loadOrCreateCredentials(topology, join(dir, 'secrets', 'credentials.json'));
  const pki = await ensureBrokerPki(topology, pkiDirOf(dir), () => ['127.0.0.1']);
  const plan = await buildLocalPlan(topology, creds, { dataDir: dir, pki, daprdPath: toolPath('daprd'), mosquittoPath: toolPath('mosquitto'), nodePath: process.execPath, hostOf: () => '127.0.0.1', runAsUser: process.env.USER ?? 'root', allocatePort: freePort });
  writePlanFiles(plan);
  return { topology, creds, plan, brokerPort: wp };
}

/** Command lines of the processes still running that mention `text` (e.g. a test's temp dir). */
export function processesMentioning(text: string): Promise<string> {
  return new Promise((r) => {
    const ps = spawn('pgrep', ['-af', text]);
    let out = '';
    ps.stdout.on('data', (d) => (out += d));
    ps.on('exit', () => r(out.trim()));
  });
}

/** Network namespaces and /etc/netns dirs of this process's runs still present (should be none). */
export async function netnsLeftByThisProcess(): Promise<{ namespaces: string[]; etcDirs: string[] }> {
  const mine = `edge-${process.pid}-`;
  const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns') : [];
  return { namespaces: (await listNamespaces()).filter((n) => n.startsWith(mine)), etcDirs: etc.filter((n) => n.startsWith(mine)) };
}
