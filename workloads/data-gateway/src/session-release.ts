// Why the gateway bounces its own sidecar's MQTT session once it has subscribed.
//
// A restarted consumer sidecar (a gateway pod rescheduled, a crash) reconnects to its persistent
// session before it subscribes, and the broker at once hands it what the session holds (up to
// max_inflight_messages). Dapr's mqtt3 component has no handler for the topic yet, so it
// acknowledges none of them, and Mosquitto resends in-flight messages only on a reconnect: the
// session would stay jammed for good. Once the sidecar lists the gateway's subscriptions, taking
// the session over for a moment makes the sidecar reconnect with its handlers ready, and the held
// messages are delivered again (the gateway drops the duplicates by message id). Harmless on a
// fresh session. Done by the gateway itself, so it works the same on every target.
import { bounceSession } from '../../shared/src/mqtt-session.js';
import type { Logger } from '../../shared/src/log.js';
import { sleep } from '../../shared/src/lifecycle.js';
import { sidecarRequest } from '../../shared/src/sidecar-http.js';

export interface SessionReleaseInput {
  /** The sidecar's broker URL (tcp://user:password@host:port): its credentials, never logged. */
  brokerUrl: string;
  /** The sidecar's MQTT client id: the mqtt3 component's consumerID. */
  clientId: string;
  daprHost: string;
  daprHttpPort: number;
  pubsubName: string;
  topics: string[];
  timeoutMs?: number;
}

interface DaprMetadata {
  subscriptions?: Array<{ pubsubname?: string; topic?: string }>;
}

/** True once the sidecar reports a subscription to every topic (its component has the handlers). */
export function subscribedToAll(metadata: DaprMetadata, pubsubName: string, topics: string[]): boolean {
  const subs = metadata.subscriptions ?? [];
  return topics.every((t) => subs.some((s) => s.pubsubname === pubsubName && s.topic === t));
}

export async function releaseOwnSession(input: SessionReleaseInput, log: Logger): Promise<void> {
  const url = new URL(input.brokerUrl);
  const deadline = Date.now() + (input.timeoutMs ?? 60_000);
  for (;;) {
    const metadata = await sidecarRequest(`http://${input.daprHost}:${input.daprHttpPort}/v1.0/metadata`, { timeoutMs: 2_000 })
      .then((r): DaprMetadata => (r.ok ? (JSON.parse(r.text) as DaprMetadata) : {}))
      .catch((): DaprMetadata => ({}));
    if (subscribedToAll(metadata, input.pubsubName, input.topics)) break;
    if (Date.now() > deadline) throw new Error(`the sidecar did not list subscriptions to ${input.topics.join(', ')} within ${input.timeoutMs ?? 60_000} ms`);
    await sleep(200);
  }
  const where = `mqtt://${url.hostname}:${url.port || 1883}`;
  await bounceSession(where, { clientId: input.clientId, username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) });
  log.info('released the sidecar session (it reconnects with its handlers ready)', { broker: where, clientId: input.clientId });
}
