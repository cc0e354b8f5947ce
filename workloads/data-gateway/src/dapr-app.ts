// The gateway's side of Dapr, built from the SDK's own HTTP app server (express, the
// /dapr/subscribe list, the pub/sub status answers) and its pub/sub subscription registry, but
// without DaprServer: DaprServer always builds a DaprClient, whose HTTP client loads the whole
// SDK index (gRPC, protobuf, actors, workflow) for the one call the gateway makes to its sidecar
// (a dead-letter publish). Measured on Node 20: 87 MB resident after loading the SDK index,
// 56 MB after loading these parts, 39 MB bare. The publish is one POST, as the producers do it.
// These paths are the SDK's own modules, not its index: @dapr/dapr is pinned, and a new version
// must keep them (the gateway tests run them against a real daprd).
import httpServerModule from '@dapr/dapr/implementation/Server/HTTPServer/HTTPServer.js';
import httpPubSubModule from '@dapr/dapr/implementation/Server/HTTPServer/pubsub.js';
import protocolModule from '@dapr/dapr/enum/CommunicationProtocol.enum.js';
import pubSubStatusModule from '@dapr/dapr/enum/DaprPubSubStatus.enum.js';
import { LogLevel } from '@dapr/dapr/types/logger/LogLevel.js';
import type { DaprClient } from '@dapr/dapr';
import { sleep } from '../../shared/src/lifecycle.js';
import { sidecarRequest } from '../../shared/src/sidecar-http.js';

const HTTPServer = httpServerModule.default;
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

export class DaprApp {
  private readonly server: InstanceType<typeof HTTPServer>;
  private readonly pubsub: InstanceType<typeof HTTPServerPubSub>;
  private readonly sidecar: string;

  constructor(private readonly opts: DaprAppOptions) {
    // The SDK's HTTP server reads only `options.logger` of its client (for its own log lines).
    const loggerOnly = { options: { logger: { level: LogLevel.Error } } } as unknown as DaprClient;
    this.server = new HTTPServer(loggerOnly, { serverHost: opts.appHost, serverPort: String(opts.appPort), communicationProtocol: protocolModule.default.HTTP, maxBodySizeMb: opts.maxBodySizeMb });
    this.pubsub = new HTTPServerPubSub(this.server);
    this.sidecar = `http://${opts.daprHost}:${opts.daprHttpPort}/v1.0`;
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

  async listen(): Promise<void> {
    await this.server.start(this.opts.appHost, String(this.opts.appPort));
    // The sidecar, our only client, decides when an idle connection closes. With Node's default
    // (the server closes after 5 s idle), a delivery the sidecar sends on a pooled connection
    // just as we close it gets a reset, and daprd 1.16's mqtt3 component leaves that message
    // unacknowledged until it reconnects to the broker: seen as 3 messages stuck at once at
    // 5,000 OPC UA nodes (daprd: "connection reset by peer" for each), which the run counted lost.
    if (this.server.serverInstance) this.server.serverInstance.keepAliveTimeout = 0;
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

  stop(): Promise<void> {
    return this.server.stop();
  }
}
