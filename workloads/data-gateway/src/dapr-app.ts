// The gateway's side of Dapr: the SDK's pub/sub subscription registry and dispatch (the
// /dapr/subscribe list, the route per topic, how a delivery's data is taken from its CloudEvent,
// the status answers), served by node:http instead of the SDK's express app. Profiled at 2,000
// msg/s, express and body-parser took about half of the gateway's busy CPU per delivery; the
// registry and dispatch are the SDK's, so Dapr's contract stays the SDK's.
// Not DaprServer either: it always builds a DaprClient, whose HTTP client loads the whole SDK
// index (gRPC, protobuf, actors, workflow) for the one call the gateway makes to its sidecar (a
// dead-letter publish, one POST here as the producers do it). Measured on Node 20: 87 MB resident
// after loading the SDK index, 56 MB with its express server, 39 MB bare.
// These paths are the SDK's own modules, not its index: @dapr/dapr is pinned, and a new version
// must keep them (the gateway tests run them against a real daprd).
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import httpServerImplModule from '@dapr/dapr/implementation/Server/HTTPServer/HTTPServerImpl.js';
import httpPubSubModule from '@dapr/dapr/implementation/Server/HTTPServer/pubsub.js';
import pubSubStatusModule from '@dapr/dapr/enum/DaprPubSubStatus.enum.js';
import { LogLevel } from '@dapr/dapr/types/logger/LogLevel.js';
import { sleep } from '../../shared/src/lifecycle.js';
import { sidecarRequest } from '../../shared/src/sidecar-http.js';

const HTTPServerImpl = httpServerImplModule.default;
const HTTPServerPubSub = httpPubSubModule.default;
export const DaprPubSubStatus = pubSubStatusModule.default;
type Status = (typeof DaprPubSubStatus)[keyof typeof DaprPubSubStatus];

export interface DaprAppOptions {
  appHost: string;
  appPort: number;
  daprHost: string;
  daprHttpPort: number;
  /** Request bodies above this are refused by the app server (413). */
  maxBodySizeMb: number;
}

const SIDECAR_WAIT_MS = 120_000;
/** How long stop() lets deliveries in progress finish before it closes their connections. */
const STOP_GRACE_MS = 1_000;
const LOGGER = { level: LogLevel.Error };

/** What the SDK's route handlers read of a request and call on a response (express's names). */
type RouteHandler = (req: { body: unknown; headers: IncomingHttpHeaders }, res: { send(body: unknown): void }) => Promise<unknown>;

/** A request body decoded as the SDK's server decodes it: JSON types parsed, text as a string, octet-stream as bytes. */
export function decodeBody(raw: Buffer, contentType: string | undefined): unknown {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || /^application\/[\w.+-]*\+json$/.test(type)) return raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'));
  if (type === 'application/octet-stream') return raw;
  return raw.toString('utf8');
}

export class DaprApp {
  private readonly routes = new Map<string, RouteHandler>();
  private readonly impl: InstanceType<typeof HTTPServerImpl>;
  private readonly pubsub: InstanceType<typeof HTTPServerPubSub>;
  private readonly sidecar: string;
  private readonly server: Server;
  private readonly maxBodyBytes: number;
  private inProgress = 0;

  constructor(private readonly opts: DaprAppOptions) {
    // The SDK's registry registers each route with `post(path, handler)`, as on an express app.
    const registrar = { post: (path: string, handler: RouteHandler) => void this.routes.set(path, handler) };
    this.impl = new HTTPServerImpl(registrar as never, LOGGER);
    // Its pub/sub front reads only the client's logger options and the registry.
    this.pubsub = new HTTPServerPubSub({ client: { options: { logger: LOGGER } }, getServerImpl: () => this.impl } as never);
    this.sidecar = `http://${opts.daprHost}:${opts.daprHttpPort}/v1.0`;
    this.maxBodyBytes = opts.maxBodySizeMb * 1_048_576;
    this.server = createServer((req, res) => void this.serve(req, res).catch(() => res.destroy()));
    // The sidecar, our only client, decides when an idle connection closes. With Node's default
    // (the server closes after 5 s idle), a delivery the sidecar sends on a pooled connection
    // just as we close it gets a reset, and daprd 1.16's mqtt3 component leaves that message
    // unacknowledged until it reconnects to the broker: seen as 3 messages stuck at once at
    // 5,000 OPC UA nodes (daprd: "connection reset by peer" for each), which the run counted lost.
    this.server.keepAliveTimeout = 0;
  }

  /** Registers a handler for a topic; call before start() (Dapr reads /dapr/subscribe once). */
  subscribe(pubsubName: string, topic: string, handler: (data: unknown) => Promise<Status>, metadata: Record<string, string | boolean>): Promise<void> {
    return this.pubsub.subscribe(pubsubName, topic, handler, undefined, metadata);
  }

  /** Listens, then waits until the sidecar answers (as DaprServer.start does). */
  async start(): Promise<void> {
    await this.listen();
    await this.waitForSidecar();
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.appPort, this.opts.appHost, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && path === '/dapr/subscribe') return answer(res, 200, this.impl.generateDaprPubSubSubscriptionList());
    const route = req.method === 'POST' ? this.routes.get(path) : undefined;
    if (!route) {
      req.resume();
      return answer(res, 404, { error: `no route ${req.method} ${path}` });
    }
    this.inProgress++;
    try {
      const raw = await readBody(req, this.maxBodyBytes);
      if (raw === undefined) return answer(res, 413, { error: `body over ${this.opts.maxBodySizeMb} MB` }, true);
      let body: unknown;
      try {
        body = decodeBody(raw, req.headers['content-type']);
      } catch (err) {
        return answer(res, 400, { error: `body is not JSON: ${(err as Error).message}` });
      }
      await route({ body, headers: req.headers }, { send: (out) => answer(res, 200, out) });
    } finally {
      this.inProgress--;
    }
  }

  private async waitForSidecar(): Promise<void> {
    const deadline = Date.now() + SIDECAR_WAIT_MS;
    while (!(await sidecarRequest(`${this.sidecar}/metadata`, { timeoutMs: 2_000 }).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error(`the Dapr sidecar at ${this.sidecar} did not answer within ${SIDECAR_WAIT_MS / 1000} s`);
      await sleep(250);
    }
  }

  /** Publishes through the sidecar; resolves once it acknowledged (the broker's PUBACK at QoS 1). */
  async publish(pubsubName: string, topic: string, payload: object, metadata: Record<string, string>): Promise<void> {
    const query = new URLSearchParams(Object.fromEntries(Object.entries(metadata).map(([k, v]) => [`metadata.${k}`, v])));
    const url = `${this.sidecar}/publish/${encodeURIComponent(pubsubName)}/${encodeURIComponent(topic)}?${query}`;
    const res = await sidecarRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload), timeoutMs: 30_000 });
    const text = res.text;
    if (!res.ok) throw new Error(`sidecar answered ${res.status}: ${text.slice(0, 300)}`);
  }

  /** Stops accepting; deliveries in progress get STOP_GRACE_MS to be answered, then their connections close. */
  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const deadline = Date.now() + STOP_GRACE_MS;
    while (this.inProgress > 0 && Date.now() < deadline) await sleep(20);
    this.server.closeAllConnections();
    await closed;
  }
}

function answer(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...(close ? { connection: 'close' } : {}) });
  res.end(text);
}

/** The whole body, or undefined once it passes `limit` bytes (the rest is not read). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve(undefined);
      } else chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}
