// The publisher's pipeline: OPC UA subscriptions → batcher → network messages → publish().
// publish is injected: main.ts hands in the Dapr publisher, tests a plain function. Messages are
// published one at a time, in order; the queue in front of publish is bounded and its overflow
// is counted and logged, never silent.
import { mkdirSync } from 'node:fs';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import type { DataValue } from 'node-opcua-client';
import type { Logger } from '../../shared/src/log.js';
import { Batcher } from './batcher.js';
import { EndpointSubscriber, type EndpointEvents, type EndpointSpec } from './endpoint.js';
import { DataSetSequences, toNetworkMessages, type NetworkMessage, type Sample } from './networkmessage.js';
import type { PublishedNodesEntry } from './publishednodes.js';
import { fieldFromDataValue } from './values.js';

export interface PipelineOptions {
  entries: readonly PublishedNodesEntry[];
  /** PublisherId, and the DataSetWriterGroup of entries that name none. */
  publisherId: string;
  batchSize: number;
  batchIntervalMs: number;
  reconnectMaxDelayMs: number;
  pkiDir: string;
  autoAcceptCertificates: boolean;
  log: Logger;
  /** Resolves once the message is delivered; a rejection is fatal (see Pipeline.failed). */
  publish: (message: NetworkMessage) => Promise<void>;
  /** Network messages held while publish is slow; beyond this the oldest are dropped (counted). */
  maxQueuedMessages?: number;
  /** Session state and reconnections of every endpoint (metrics). */
  endpointEvents?: EndpointEvents;
}

export interface PipelineStats {
  values: number;
  messages: number;
  published: number;
  queued: number;
  dropped: number;
}

export interface Pipeline {
  /** Resolves once every endpoint is subscribed (the first time). */
  readonly ready: Promise<void>;
  /** Rejects if publish fails: the values in that message are lost, so the process should stop. */
  readonly failed: Promise<never>;
  stats(): PipelineStats;
  /** Stops the subscriptions, publishes the pending batch and waits for the queue to drain. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Where a node's values go: one per OpcNodes entry, found by its subscriber and index. */
interface Route {
  group: string;
  writerId: string;
  name: string;
}

const DEFAULT_PUBLISHING_INTERVAL_MS = 1000;

/** Groups entries by endpoint (and security): one client, session and subscription each. */
export function planEndpoints(entries: readonly PublishedNodesEntry[], publisherId: string): Array<{ spec: EndpointSpec; routes: Route[] }> {
  const plans = new Map<string, { spec: EndpointSpec; routes: Route[]; intervals: number[] }>();
  for (const entry of entries) {
    const key = `${entry.EndpointUrl}|${entry.UseSecurity}`;
    let plan = plans.get(key);
    if (!plan) {
      plan = { spec: { url: entry.EndpointUrl, useSecurity: entry.UseSecurity, publishingIntervalMs: 0, nodes: [] }, routes: [], intervals: [] };
      plans.set(key, plan);
    }
    if (entry.DataSetPublishingInterval !== undefined) plan.intervals.push(entry.DataSetPublishingInterval);
    for (const node of entry.OpcNodes) {
      if (node.OpcPublishingInterval !== undefined) plan.intervals.push(node.OpcPublishingInterval);
      plan.spec.nodes.push({
        id: node.Id,
        samplingIntervalMs: node.OpcSamplingInterval,
        heartbeatMs: node.HeartbeatInterval === undefined ? undefined : node.HeartbeatInterval * 1000,
      });
      plan.routes.push({ group: entry.DataSetWriterGroup ?? publisherId, writerId: entry.DataSetWriterId, name: node.DisplayName });
    }
  }
  return [...plans.values()].map(({ spec, routes, intervals }) => ({
    // one subscription per endpoint: it publishes as often as its most demanding node asks
    spec: { ...spec, publishingIntervalMs: intervals.length > 0 ? Math.min(...intervals) : DEFAULT_PUBLISHING_INTERVAL_MS },
    routes,
  }));
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { log } = options;
  const maxQueued = options.maxQueuedMessages ?? 10_000;
  const batcher = new Batcher<Sample>({ maxSize: options.batchSize, maxAgeMs: options.batchIntervalMs });
  const sequences = new DataSetSequences();
  const stats: PipelineStats = { values: 0, messages: 0, published: 0, queued: 0, dropped: 0 };
  const queue: NetworkMessage[] = [];
  let draining: Promise<void> | undefined;
  let fatal: Error | undefined;
  let rejectFailed!: (err: Error) => void;
  const failed = new Promise<never>((_, reject) => (rejectFailed = reject));
  failed.catch(() => undefined); // observed through stop() and by whoever awaits it

  const drain = async (): Promise<void> => {
    while (queue.length > 0 && !fatal) {
      const message = queue.shift() as NetworkMessage;
      stats.queued = queue.length;
      try {
        await options.publish(message);
        stats.published += 1;
      } catch (err) {
        fatal = err instanceof Error ? err : new Error(String(err));
        log.error('publish failed: stopping the pipeline', { messageId: message.MessageId, error: fatal.message });
        rejectFailed(fatal);
      }
    }
  };
  const enqueue = (batch: Sample[] | undefined): void => {
    if (!batch || fatal) return;
    for (const message of toNetworkMessages(batch, { publisherId: options.publisherId, sequences })) {
      stats.messages += 1;
      queue.push(message);
      if (queue.length > maxQueued) {
        const dropped = queue.shift() as NetworkMessage;
        stats.dropped += 1;
        if (stats.dropped === 1 || stats.dropped % 100 === 0) {
          log.warn('publish queue full: dropped the oldest network message', { messageId: dropped.MessageId, maxQueued, droppedTotal: stats.dropped });
        }
      }
    }
    stats.queued = queue.length;
    kick();
  };
  const kick = (): void => {
    draining ??= drain().finally(() => {
      draining = undefined;
      if (queue.length > 0 && !fatal) kick(); // a message queued as the loop was ending
    });
  };

  // a batch is due maxAgeMs after its first value: one timer, armed while a batch is open
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const dueAt = batcher.dueAt;
    if (timer || dueAt === undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      enqueue(batcher.due());
      arm();
    }, Math.max(0, dueAt - Date.now()));
  };

  mkdirSync(options.pkiDir, { recursive: true });
  const certificateManager = new OPCUACertificateManager({ rootFolder: options.pkiDir, automaticallyAcceptUnknownCertificate: options.autoAcceptCertificates });
  await certificateManager.initialize();

  const subscribers = planEndpoints(options.entries, options.publisherId).map(({ spec, routes }) => {
    const onValue = (index: number, value: DataValue): void => {
      const route = routes[index];
      stats.values += 1;
      enqueue(batcher.add({ ...route, field: fieldFromDataValue(value) }));
      arm();
    };
    return new EndpointSubscriber(spec, {
      log,
      applicationName: options.publisherId,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs,
      certificateManager,
      onValue,
      ...(options.endpointEvents ? { events: options.endpointEvents } : {}),
    });
  });
  for (const s of subscribers) s.start();
  log.info('pipeline started', { endpoints: subscribers.map((s) => s.spec.url), nodes: subscribers.reduce((n, s) => n + s.spec.nodes.length, 0) });

  let stopped: Promise<void> | undefined;
  const stop = async (timeoutMs = 5000): Promise<void> => {
    await Promise.all(subscribers.map((s) => s.stop(timeoutMs)));
    clearTimeout(timer);
    timer = undefined;
    const pending = batcher.pending;
    enqueue(batcher.flush());
    while (draining) await draining;
    await certificateManager.dispose();
    log.info('pipeline stopped', { flushedValues: pending, ...stats });
    if (fatal) throw fatal;
  };

  return {
    ready: Promise.all(subscribers.map((s) => s.ready)).then(() => undefined),
    failed,
    stats: () => ({ ...stats }),
    stop: (timeoutMs) => (stopped ??= stop(timeoutMs)),
  };
}
