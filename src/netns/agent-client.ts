// Starts an agent (agent.ts) inside a namespace and talks to it: the host's way of connecting
// from, and serving in, a level's namespace.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { AgentReply, AgentRequest, AgentTls } from './agent.js';
import { inNamespace } from './net.js';

const AGENT = fileURLToPath(new URL('./agent.js', import.meta.url));
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class NsAgent {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: AgentReply) => void>();
  private readonly ready: Promise<void>;
  private readonly exited: Promise<void>;

  private constructor(
    readonly ns: string,
    private readonly child: ChildProcess,
  ) {
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      live.delete(child);
      for (const [, answer] of this.pending) answer({ ok: false, error: 'agent exited', ms: 0 });
      this.pending.clear();
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let reply: AgentReply & { id: number };
      try {
        reply = JSON.parse(line) as AgentReply & { id: number };
      } catch {
        return;
      }
      if (reply.id === 0) return markReady();
      const answer = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      answer?.(reply);
    });
  }

  /** Starts an agent in namespace `ns`; its stderr goes to `logFile`. Resolves once it answers. */
  static async start(ns: string, logFile: string, timeoutMs = 20_000): Promise<NsAgent> {
    mkdirSync(dirname(logFile), { recursive: true });
    const cmd = inNamespace(ns, process.execPath, [AGENT]);
    const child = spawn(cmd.command, cmd.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    child.stderr!.pipe(createWriteStream(logFile, { flags: 'a' }));
    const agent = new NsAgent(ns, child);
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`agent in ${ns} did not start within ${timeoutMs} ms (see ${logFile})`)), timeoutMs);
      void agent.exited.then(() => reject(new Error(`agent in ${ns} exited before it was ready (see ${logFile})`)));
    });
    failed.catch(() => undefined);
    try {
      await Promise.race([agent.ready, failed]);
    } catch (err) {
      await agent.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return agent;
  }

  request(req: AgentRequest): Promise<AgentReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.stdin!.write(JSON.stringify({ id, ...req }) + '\n');
    });
  }

  /** Can this namespace open a TCP connection to host:port? Fails fast on unreachable networks. */
  tcp(host: string, port: number, timeoutMs = 1_500): Promise<AgentReply> {
    return this.request({ op: 'tcp', host, port, timeoutMs });
  }

  httpViaProxy(proxyHost: string, proxyPort: number, url: string, timeoutMs = 10_000): Promise<AgentReply> {
    return this.request({ op: 'http-proxy', proxyHost, proxyPort, url, timeoutMs });
  }

  connectViaProxy(proxyHost: string, proxyPort: number, target: string, timeoutMs = 10_000): Promise<AgentReply> {
    return this.request({ op: 'connect-proxy', proxyHost, proxyPort, target, timeoutMs });
  }

  serveHttp(host: string, port: number): Promise<AgentReply> {
    return this.request({ op: 'serve-http', host, port });
  }

  serveTcp(host: string, port: number): Promise<AgentReply> {
    return this.request({ op: 'serve-tcp', host, port });
  }

  lookup(name: string): Promise<AgentReply> {
    return this.request({ op: 'lookup', name });
  }

  mqttSubscribe(url: string, username: string, password: string, topic: string, timeoutMs = 5_000): Promise<AgentReply> {
    return this.request({ op: 'mqtt-subscribe', url, username, password, topic, timeoutMs });
  }

  /** Publishes one QoS 1 message; an mqtts:// URL needs `tls` (file paths). */
  mqttPublish(url: string, username: string, password: string, topic: string, payload: string, timeoutMs = 5_000, tls?: AgentTls): Promise<AgentReply> {
    return this.request({ op: 'mqtt-publish', url, username, password, topic, payload, timeoutMs, tls });
  }

  async mqttReceived(): Promise<string[]> {
    return (await this.request({ op: 'mqtt-received' })).messages ?? [];
  }

  /** GET `url` from inside the namespace: its status, or ok=false with the error. */
  httpGet(url: string, timeoutMs = 2_000): Promise<AgentReply> {
    return this.request({ op: 'http-get', url, timeoutMs });
  }

  /** Subscribes from inside the namespace; `latest` reads the newest payload of a topic. */
  async mqttWatch(url: string, username: string, password: string, clientId: string, topics: string[], timeoutMs = 5_000): Promise<{ latest(topic: string): Promise<string | undefined>; close(): Promise<void> }> {
    const r = await this.request({ op: 'mqtt-watch', url, username, password, clientId, topics, timeoutMs });
    if (!r.ok || r.watch === undefined) throw new Error(`cannot subscribe to ${topics.join(', ')} at ${url} from ${this.ns}: ${r.error ?? 'no watch'}`);
    const watch = r.watch;
    return {
      latest: async (topic) => (await this.request({ op: 'mqtt-latest', watch, topic })).body,
      close: async () => void (await this.request({ op: 'mqtt-unwatch', watch })),
    };
  }

  /** Closes stdin (the agent exits), then SIGKILL if it lingers. */
  async stop(graceMs = 2_000): Promise<void> {
    if (!live.has(this.child)) return;
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
