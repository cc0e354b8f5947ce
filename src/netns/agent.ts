// A small agent that runs inside one namespace (`ip netns exec NS node agent.js`) and does what
// the host's process cannot do from outside it: open connections from there, and serve there.
// Protocol: one JSON request per stdin line `{id, op, ...}`, one JSON reply per stdout line
// `{id, ...result}`. It exits when stdin closes.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, request } from 'node:http';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';

export type AgentRequest =
  | { op: 'tcp'; host: string; port: number; timeoutMs: number }
  | { op: 'http-proxy'; proxyHost: string; proxyPort: number; url: string; timeoutMs: number }
  | { op: 'connect-proxy'; proxyHost: string; proxyPort: number; target: string; timeoutMs: number }
  | { op: 'serve-http'; host: string; port: number }
  | { op: 'serve-tcp'; host: string; port: number }
  | { op: 'lookup'; name: string }
  | { op: 'mqtt-subscribe'; url: string; username: string; password: string; topic: string; timeoutMs: number }
  | { op: 'mqtt-publish'; url: string; username: string; password: string; topic: string; payload: string; timeoutMs: number; tls?: AgentTls }
  | { op: 'mqtt-received' }
  | { op: 'http-get'; url: string; timeoutMs: number }
  | { op: 'mqtt-watch'; url: string; username: string; password: string; clientId: string; topics: string[]; timeoutMs: number }
  | { op: 'mqtt-latest'; watch: number; topic: string }
  | { op: 'mqtt-unwatch'; watch: number };

export interface AgentReply {
  ok: boolean;
  /** errno code or a short reason when ok is false (ECONNREFUSED, ENETUNREACH, ETIMEDOUT...). */
  error?: string;
  /** HTTP status of a proxied GET, or of the proxy's answer to CONNECT. */
  status?: number;
  /** Body of a proxied GET, or the first line the CONNECT target sent through the tunnel. */
  body?: string;
  address?: string;
  /** Payloads received by this agent's MQTT subscriptions so far. */
  messages?: string[];
  /** The id of a watch opened by `mqtt-watch`. */
  watch?: number;
  ms: number;
}

const SERVICE_BANNER = 'edge-internet-stand-in';
const servers: Server[] = [];

function tcp(req: Extract<AgentRequest, { op: 'tcp' }>): Promise<Omit<AgentReply, 'ms'>> {
  return new Promise((resolve) => {
    const socket = connect({ host: req.host, port: req.port });
    const done = (r: Omit<AgentReply, 'ms'>): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, error: 'ETIMEDOUT' }), req.timeoutMs);
    socket.once('connect', () => done({ ok: true }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
  });
}

function httpViaProxy(req: Extract<AgentRequest, { op: 'http-proxy' }>): Promise<Omit<AgentReply, 'ms'>> {
  return new Promise((resolve) => {
    const url = new URL(req.url);
    const r = request({ host: req.proxyHost, port: req.proxyPort, method: 'GET', path: req.url, headers: { host: url.host }, timeout: req.timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c.length + body.length > 4096 ? '' : c));
      res.on('end', () => resolve({ ok: true, status: res.statusCode ?? 0, body }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
    });
    r.on('timeout', () => r.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    r.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
    r.end();
  });
}

function connectViaProxy(req: Extract<AgentRequest, { op: 'connect-proxy' }>): Promise<Omit<AgentReply, 'ms'>> {
  return new Promise((resolve) => {
    const r = request({ host: req.proxyHost, port: req.proxyPort, method: 'CONNECT', path: req.target, headers: { host: req.target }, timeout: req.timeoutMs });
    let settled = false;
    const finish = (result: Omit<AgentReply, 'ms'>, socket?: Socket): void => {
      if (settled) return;
      settled = true;
      socket?.destroy();
      r.destroy();
      resolve(result);
    };
    r.on('connect', (res, socket, head) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) return finish({ ok: true, status }, socket);
      // Tunnel established: the target speaks first (one banner line).
      let line = '';
      const timer = setTimeout(() => finish({ ok: true, status, body: line }, socket), req.timeoutMs);
      const take = (c: Buffer): void => {
        line += c.toString('utf8');
        if (line.includes('\n')) {
          clearTimeout(timer);
          finish({ ok: true, status, body: line.split('\n')[0] }, socket);
        }
      };
      socket.on('data', take);
      take(head);
      socket.on('error', () => undefined);
    });
    // Squid answers a denied CONNECT with a normal response, which ends up here.
    r.on('response', (res) => finish({ ok: true, status: res.statusCode ?? 0 }));
    r.on('timeout', () => finish({ ok: false, error: 'ETIMEDOUT' }));
    r.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, error: err.code ?? err.message }));
    r.end();
  });
}

function listen(server: Server, host: string, port: number): Promise<Omit<AgentReply, 'ms'>> {
  return new Promise((resolve) => {
    server.once('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
    server.listen(port, host, () => {
      servers.push(server);
      resolve({ ok: true });
    });
  });
}

/** The internet stand-in over plain HTTP: answers every name with a body naming the Host asked for. */
function serveHttp(req: Extract<AgentRequest, { op: 'serve-http' }>): Promise<Omit<AgentReply, 'ms'>> {
  const server = createHttpServer((q, s) => {
    s.writeHead(200, { 'content-type': 'text/plain' });
    s.end(`${SERVICE_BANNER} host=${q.headers.host ?? ''} path=${q.url ?? ''}\n`);
  });
  return listen(server, req.host, req.port);
}

/** The CONNECT target (standing for port 443): a TCP server that sends one banner line. */
function serveTcp(req: Extract<AgentRequest, { op: 'serve-tcp' }>): Promise<Omit<AgentReply, 'ms'>> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end(`${SERVICE_BANNER} port=${req.port}\n`);
  });
  return listen(server, req.host, req.port);
}

async function lookupName(req: Extract<AgentRequest, { op: 'lookup' }>): Promise<Omit<AgentReply, 'ms'>> {
  const { lookup } = await import('node:dns/promises');
  try {
    const r = await lookup(req.name, { family: 4 });
    return { ok: true, address: r.address };
  } catch (err) {
    return { ok: false, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

/** TLS for an mqtts:// URL: files the agent reads (it runs as root on the same filesystem). */
export interface AgentTls {
  ca: string;
  cert?: string;
  key?: string;
}

const received: string[] = [];
const mqttClients: mqtt.MqttClient[] = [];

function mqttConnect(url: string, username: string, password: string, timeoutMs: number, tls?: AgentTls): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const tlsOptions = tls ? { ca: readFileSync(tls.ca), ...(tls.cert && tls.key ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } : {}), rejectUnauthorized: true } : {};
    const client = mqtt.connect(url, { username, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: timeoutMs, clean: true, ...tlsOptions });
    const timer = setTimeout(() => {
      client.end(true);
      reject(new Error('ETIMEDOUT'));
    }, timeoutMs);
    client.once('connect', () => {
      clearTimeout(timer);
      mqttClients.push(client);
      resolve(client);
    });
    client.once('error', (err: Error & { code?: string | number }) => {
      clearTimeout(timer);
      client.end(true);
      reject(new Error(String(err.code ?? err.message)));
    });
  });
}

async function mqttSubscribe(req: Extract<AgentRequest, { op: 'mqtt-subscribe' }>): Promise<Omit<AgentReply, 'ms'>> {
  try {
    const client = await mqttConnect(req.url, req.username, req.password, req.timeoutMs);
    client.on('message', (_topic, payload) => received.push(payload.toString('utf8')));
    const granted = await client.subscribeAsync(req.topic, { qos: 1 });
    const qos = granted[0]?.qos ?? 128;
    return qos === 128 ? { ok: false, error: 'subscription refused' } : { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

async function mqttPublish(req: Extract<AgentRequest, { op: 'mqtt-publish' }>): Promise<Omit<AgentReply, 'ms'>> {
  let client: mqtt.MqttClient | undefined;
  try {
    client = await mqttConnect(req.url, req.username, req.password, req.timeoutMs, req.tls);
    await client.publishAsync(req.topic, req.payload, { qos: 1 });
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    await client?.endAsync().catch(() => undefined);
  }
}

/** A plain GET from inside the namespace (readiness probes: daprd's /v1.0/healthz). */
function httpGet(req: Extract<AgentRequest, { op: 'http-get' }>): Promise<Omit<AgentReply, 'ms'>> {
  return new Promise((resolve) => {
    const r = request(req.url, { method: 'GET', timeout: req.timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: true, status: res.statusCode ?? 0 }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
    });
    r.on('timeout', () => r.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    r.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, error: err.code ?? err.message }));
    r.end();
  });
}

interface Watch {
  client: mqtt.MqttClient;
  latest: Map<string, string>;
}
const watches = new Map<number, Watch>();
let nextWatch = 1;

/** A subscription that keeps the latest payload per topic (a broker's $SYS figures). */
async function mqttWatch(req: Extract<AgentRequest, { op: 'mqtt-watch' }>): Promise<Omit<AgentReply, 'ms'>> {
  let client: mqtt.MqttClient | undefined;
  try {
    client = await mqtt.connectAsync(req.url, { username: req.username, password: req.password, clientId: req.clientId, protocolVersion: 4, clean: true, reconnectPeriod: 1_000, connectTimeout: req.timeoutMs });
    const latest = new Map<string, string>();
    client.on('message', (topic, payload) => latest.set(topic, payload.toString('utf8')));
    client.on('error', () => undefined); // reconnects by itself
    await client.subscribeAsync(req.topics, { qos: 0 });
    const id = nextWatch++;
    watches.set(id, { client, latest });
    return { ok: true, watch: id };
  } catch (err) {
    await client?.endAsync(true).catch(() => undefined);
    return { ok: false, error: (err as Error).message };
  }
}

export async function handle(req: AgentRequest): Promise<AgentReply> {
  const started = Date.now();
  let result: Omit<AgentReply, 'ms'>;
  switch (req.op) {
    case 'tcp':
      result = await tcp(req);
      break;
    case 'http-proxy':
      result = await httpViaProxy(req);
      break;
    case 'connect-proxy':
      result = await connectViaProxy(req);
      break;
    case 'serve-http':
      result = await serveHttp(req);
      break;
    case 'serve-tcp':
      result = await serveTcp(req);
      break;
    case 'lookup':
      result = await lookupName(req);
      break;
    case 'mqtt-subscribe':
      result = await mqttSubscribe(req);
      break;
    case 'mqtt-publish':
      result = await mqttPublish(req);
      break;
    case 'mqtt-received':
      result = { ok: true, messages: [...received] };
      break;
    case 'http-get':
      result = await httpGet(req);
      break;
    case 'mqtt-watch':
      result = await mqttWatch(req);
      break;
    case 'mqtt-latest': {
      const w = watches.get(req.watch);
      const body = w?.latest.get(req.topic);
      result = w ? { ok: true, ...(body === undefined ? {} : { body }) } : { ok: false, error: `no watch ${req.watch}` };
      break;
    }
    case 'mqtt-unwatch': {
      const w = watches.get(req.watch);
      watches.delete(req.watch);
      await w?.client.endAsync(true).catch(() => undefined);
      result = { ok: true };
      break;
    }
    default:
      result = { ok: false, error: `unknown op ${(req as { op: string }).op}` };
  }
  return { ...result, ms: Date.now() - started };
}

function main(): void {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    let msg: AgentRequest & { id: number };
    try {
      msg = JSON.parse(line) as AgentRequest & { id: number };
    } catch {
      return;
    }
    void handle(msg).then((reply) => process.stdout.write(JSON.stringify({ id: msg.id, ...reply }) + '\n'));
  });
  lines.on('close', () => {
    for (const s of servers) s.close();
    for (const c of mqttClients) c.end(true);
    for (const w of watches.values()) w.client.end(true);
    process.exit(0);
  });
  process.stdout.write(JSON.stringify({ id: 0, ok: true, ms: 0, body: 'ready' }) + '\n');
}

main();
