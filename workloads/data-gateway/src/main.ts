// data-gateway: at the top level, receives each routed topic (`telemetry` by default) through its
// Dapr sidecar, de-duplicates by message id, puts each source's messages back in order, stores
// each message in every sink of its route (file, PostgreSQL, Event Hubs), and only then
// acknowledges it to Dapr. While a sink is down the gateway holds the acknowledgement (the
// message stays in the broker session) instead of answering RETRY, which would wedge the mqtt3
// subscription; it never answers RETRY at all (see delivery.ts).
import { writeFileSync, renameSync } from 'node:fs';
import { createLogger } from '../../shared/src/log.js';
import { onShutdown, runMain } from '../../shared/src/lifecycle.js';
import { readGatewayConfig, type GatewayConfig, type SinkKind } from './config.js';
import { RAW_PAYLOAD } from '../../shared/src/publisher.js';
import { JsonLinesSink } from './file-sink.js';
import { DaprApp, DaprPubSubStatus } from './dapr-app.js';
import { SinkBatcher } from './batcher.js';
import { Router, SinkSet, type DeadLetter } from './router.js';
import { DeliveryGate, holdUntilDone } from './delivery.js';
import type { Sink } from './sink.js';
import { healthPort, startHealthServer } from '../../shared/src/health.js';
import { releaseOwnSession } from './session-release.js';
import { traceparentInMessage } from '../../shared/src/envelope.js';
import { SPAN_KIND, spanContextFromTraceparent, startTelemetry } from '../../shared/src/telemetry.js';
import { gatewayMetrics } from './metrics.js';

const log = createLogger(process.env.EDGE_SOURCE ?? 'data-gateway', process.env.EDGE_LEVEL ?? 'l4');

/** A store's client library loads only when that store is selected (pg alone is ~15 MB resident). */
async function createSink(kind: SinkKind, config: GatewayConfig): Promise<Sink> {
  switch (kind) {
    case 'file':
      return new JsonLinesSink(config.sinkFile, config.fsync);
    case 'postgresql': {
      const { PostgresSink } = await import('./postgres-sink.js');
      return new PostgresSink({ url: config.postgres.url, table: config.postgres.table }, log);
    }
    case 'eventhubs': {
      const { EventHubsSink } = await import('./eventhubs-sink.js');
      return new EventHubsSink({ daprHost: config.daprHost, daprHttpPort: config.daprHttpPort, bindingName: config.eventHubs.bindingName });
    }
  }
}

async function main(): Promise<void> {
  const config = readGatewayConfig();
  const telemetry = await startTelemetry(config.source, log);
  const metrics = gatewayMetrics(telemetry.meter);
  const sinks = await Promise.all(config.sinks.map((kind) => createSink(kind, config)));
  for (const sink of sinks) {
    try {
      await sink.open();
    } catch (err) {
      // The file must open (a local disk problem is fatal); a remote store may come up later:
      // writes then wait for it, holding their acknowledgements.
      if (sink.name === 'file') throw err;
      log.warn('sink not reachable at start; messages will wait for it', { sink: sink.name, error: String(err) });
    }
  }
  const breaker = { failureThreshold: config.breakerFailures, openMs: config.breakerOpenMs };
  const batchers = new Map(sinks.map((sink) => [sink.name as SinkKind, new SinkBatcher(sink, { ...config.batch[sink.name as SinkKind], retryMaxMs: config.retryMaxMs, holdAlarmMs: config.holdAlarmMs, breaker, metrics }, log)]));
  const server = new DaprApp({
    appHost: config.appHost,
    appPort: config.appPort,
    daprHost: config.daprHost,
    daprHttpPort: config.daprHttpPort,
    // Above the message limit, so an oversized message reaches the router (and the dead-letter
    // topic) instead of a 413 that Dapr would treat as a failed delivery.
    maxBodySizeMb: Math.max(8, Math.ceil((config.maxMessageBytes * 2) / 1_048_576)),
  });
  let stopping = false;
  const hold = { retryMaxMs: config.retryMaxMs };
  // A failed dead-letter publish (broker away) is tried again while its delivery stays held.
  const deadLetter = (payload: DeadLetter): Promise<void> =>
    holdUntilDone(async () => {
      await server.publish(config.pubsubName, config.deadLetterTopic, payload, RAW_PAYLOAD.metadata).catch((err: Error) => {
        throw new Error(`dead-letter publish failed: ${err.message}`);
      });
      log.warn('dead-lettered', { reason: payload.reason });
    }, 'dead-letter publish', log, () => stopping, hold);
  // One router per route: its own de-duplication and resequencing, the route's sinks only. The
  // routes share the sidecar's broker connection (its delivery window), so a write on any route
  // means more deliveries will come.
  const writesInProgress = (): boolean => routes.some((r) => r.router.writing > 0);
  const storesDown = (): boolean => [...batchers.values()].some((b) => b.stats.downSince !== null);
  const routes = config.routes.map((route) => {
    const router = new Router(new SinkSet(route.sinks.map((k) => batchers.get(k)!), telemetry.tracer), deadLetter, { resequenceHoldMs: config.resequenceHoldMs, resequenceQuietMs: config.resequenceQuietMs, writesInProgress, storesDown, maxMessageBytes: config.maxMessageBytes, metrics });
    return { route, router, gate: new DeliveryGate((data, parent) => router.handle(data, new Date(), parent), log, hold) };
  });

  const stats = () => {
    const total = { received: 0, stored: 0, duplicates: 0, deadLettered: 0 };
    const resequencer = { inOrder: 0, afterGap: 0, gaps: 0, late: 0 };
    const delivery = { retried: 0, unanswered: 0 };
    for (const { router, gate } of routes) {
      for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += router.stats[k];
      for (const k of Object.keys(resequencer) as Array<keyof typeof resequencer>) resequencer[k] += router.resequencer.stats[k];
      delivery.retried += gate.stats.retried;
      delivery.unanswered += gate.stats.unanswered;
    }
    return {
      source: config.source,
      ...total,
      resequencer,
      delivery,
      routes: Object.fromEntries(routes.map(({ route, router }) => [route.topic, { sinks: route.sinks, ...router.stats }])),
      sinks: Object.fromEntries([...batchers.values()].map((b) => [b.sink.name, { ...b.stats, pending: b.pending }])),
    };
  };
  const writeReport = (): void => {
    if (!config.reportFile) return;
    writeFileSync(`${config.reportFile}.tmp`, JSON.stringify(stats()) + '\n');
    renameSync(`${config.reportFile}.tmp`, config.reportFile);
  };

  for (const { route, gate } of routes) {
    await server.subscribe(config.pubsubName, route.topic, async (data: unknown) => {
      const started = performance.now();
      // The trace continues from the producer's span: its traceparent travels in the payload.
      const parent = telemetry.enabled ? spanContextFromTraceparent(traceparentInMessage(data)) : undefined;
      const span = telemetry.tracer.startSpan(`process ${route.topic}`, { kind: SPAN_KIND.CONSUMER, attributes: { 'messaging.system': 'dapr', 'messaging.operation.type': 'process', 'messaging.destination.name': route.topic } }, parent);
      // SUCCESS once stored (or dead-lettered, or a duplicate); otherwise held, never RETRY.
      const outcome = await gate.deliver(data, span.spanContext());
      span.setAttribute('edge.outcome', outcome.kind);
      if (outcome.kind !== 'dead-letter') span.setAttribute('messaging.message.id', outcome.id);
      span.end();
      metrics.handled(performance.now() - started, outcome.kind);
      if (outcome.kind === 'duplicate') log.debug('duplicate skipped', { id: outcome.id });
      return DaprPubSubStatus.SUCCESS;
    }, { rawPayload: true }); // the SDK JSON-encodes values: a boolean arrives as "true"
  }

  onShutdown(log, async () => {
    clearInterval(reportTimer);
    // New deliveries are held unanswered; those in progress finish (they need the sinks), the
    // sinks flush and close (bounded), then the server answers what finished and closes.
    stopping = true;
    for (const { gate, router } of routes) {
      gate.stop();
      router.resequencer.flush();
    }
    await Promise.all([...batchers.values()].map((b) => b.close(8_000)));
    await server.stop();
    writeReport();
    await telemetry.shutdown(); // after the last store: the final counts and spans are exported
    log.info('final stats', stats());
  });

  const reportTimer = setInterval(writeReport, 1000);
  let ready = false;
  startHealthServer(healthPort(), () => ready);
  await server.start();
  if (config.sessionBrokerUrl) {
    const release = { brokerUrl: config.sessionBrokerUrl, clientId: config.sessionClientId, daprHost: config.daprHost, daprHttpPort: config.daprHttpPort, pubsubName: config.pubsubName, topics: routes.map((r) => r.route.topic) };
    await releaseOwnSession(release, log).catch((err: unknown) => log.warn('could not release the sidecar session: messages it held before a restart wait for its next reconnect', { error: err instanceof Error ? err.message : String(err) }));
  }
  ready = true;
  log.info('gateway ready', { sinks: config.sinks, routes: config.routes, file: config.sinkFile || undefined, resequenceHoldMs: config.resequenceHoldMs });
}

runMain(log, main);
