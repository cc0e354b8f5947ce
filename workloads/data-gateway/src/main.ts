// data-gateway: at the top level, receives `telemetry` through its Dapr sidecar, de-duplicates
// by message id, stores each message durably, and only then acknowledges it to Dapr.
import { writeFileSync, renameSync } from 'node:fs';
import { CommunicationProtocolEnum, DaprPubSubStatusEnum, DaprServer, LogLevel } from '@dapr/dapr';
import { createLogger } from '../../shared/src/log.js';
import { onShutdown, runMain } from '../../shared/src/lifecycle.js';
import { readGatewayConfig } from './config.js';
import { RAW_PAYLOAD } from '../../shared/src/publisher.js';
import { FileSink } from './file-sink.js';
import { Router } from './router.js';
import { healthPort, startHealthServer } from '../../shared/src/health.js';

const log = createLogger(process.env.EDGE_SOURCE ?? 'data-gateway', process.env.EDGE_LEVEL ?? 'l4');

async function main(): Promise<void> {
  const config = readGatewayConfig();
  const sink = new FileSink(config.sinkFile, config.fsync);
  const existing = sink.open();
  const server = new DaprServer({
    serverHost: config.appHost,
    serverPort: String(config.appPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    clientOptions: { daprHost: config.daprHost, daprPort: String(config.daprHttpPort) },
    logger: { level: LogLevel.Error },
  });
  const router = new Router(sink, async (payload) => {
    const { error } = await server.client.pubsub.publish(config.pubsubName, config.deadLetterTopic, payload, RAW_PAYLOAD);
    if (error) throw new Error(`dead-letter publish failed: ${error.message}`);
    log.warn('dead-lettered', { reason: payload.reason });
  });
  router.remember(existing);

  const writeReport = (): void => {
    if (!config.reportFile) return;
    writeFileSync(`${config.reportFile}.tmp`, JSON.stringify({ source: config.source, ...router.stats }) + '\n');
    renameSync(`${config.reportFile}.tmp`, config.reportFile);
  };

  await server.pubsub.subscribe(config.pubsubName, config.topic, async (data: unknown) => {
    try {
      const outcome = await router.handle(data);
      if (outcome.kind === 'duplicate') log.debug('duplicate skipped', { id: outcome.id });
      return DaprPubSubStatusEnum.SUCCESS;
    } catch (err) {
      // Not stored and not acknowledged: Dapr redelivers, so nothing is lost.
      log.error('message not stored, asking for redelivery', { error: String(err) });
      return DaprPubSubStatusEnum.RETRY;
    }
  }, undefined, { rawPayload: true }); // the SDK JSON-encodes values: a boolean arrives as "true"

  onShutdown(log, async () => {
    clearInterval(reportTimer);
    await server.stop();
    await sink.close();
    writeReport();
    log.info('final stats', { ...router.stats });
  });

  const reportTimer = setInterval(writeReport, 1000);
  let ready = false;
  startHealthServer(healthPort(), () => ready);
  await server.start();
  ready = true;
  log.info('gateway ready', { sink: config.sinkFile, alreadyStored: existing.length, topic: config.topic });
}

runMain(log, main);
