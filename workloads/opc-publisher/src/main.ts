// opc-publisher: subscribes to the OPC UA nodes of a publishednodes.json and publishes OPC UA
// PubSub JSON network messages to the Dapr `telemetry` topic, each in the telemetry envelope.
import { ConfigError } from '../../shared/src/env.js';
import { Sequencer } from '../../shared/src/envelope.js';
import { createLogger } from '../../shared/src/log.js';
import { onShutdown, runMain } from '../../shared/src/lifecycle.js';
import { TelemetryPublisher } from '../../shared/src/publisher.js';
import { healthPort, startHealthServer } from '../../shared/src/health.js';
import { PUBLISHER_USAGE, readPublisherConfig, type PublisherConfig } from './config.js';
import { routeOpcuaLogs } from '../../shared/src/opcualog.js';
import { startPipeline, type Pipeline } from './pipeline.js';
import { loadPublishedNodes, type PublishedNodesEntry } from './publishednodes.js';
import { startTelemetry } from '../../shared/src/telemetry.js';
import { opcuaMetrics } from './metrics.js';

const log = createLogger(process.env.EDGE_SOURCE ?? 'opc-publisher', process.env.EDGE_LEVEL ?? 'l2');

/** The environment and the publishednodes.json, with the problems of both reported together. */
function readEverything(): { config: PublisherConfig; entries: PublishedNodesEntry[] } {
  let config: PublisherConfig | undefined;
  const problems: string[] = [];
  try {
    config = readPublisherConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const file = config?.publishedNodesFile ?? process.env.PUBLISHED_NODES_FILE;
  const parsed = file ? loadPublishedNodes(file) : undefined;
  if (parsed && !parsed.ok) problems.push(...parsed.problems);
  if (problems.length > 0 || !config || !parsed?.ok) throw new ConfigError(problems);
  return { config, entries: parsed.entries };
}

async function main(): Promise<void> {
  routeOpcuaLogs(log);
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(PUBLISHER_USAGE);
    return;
  }
  const { config, entries } = readEverything();

  const telemetry = await startTelemetry(config.source, log);
  const opcua = opcuaMetrics(telemetry.meter);
  const publisher = new TelemetryPublisher(config, log, telemetry);
  const sequencer = new Sequencer(config.source, config.levelName);
  let pipeline: Pipeline | undefined;
  onShutdown(log, async () => {
    await pipeline?.stop(3000); // publishes the pending batch
    await publisher.stop();
    await telemetry.shutdown(); // after the last batch: its span and the final counts are exported
    log.info('final report', { ...publisher.report() });
  });

  let ready = false;
  startHealthServer(healthPort(), () => ready);
  await publisher.start();
  ready = true;
  const reportTimer = setInterval(() => publisher.writeReport(), 1000);
  reportTimer.unref();
  pipeline = await startPipeline({
    entries,
    publisherId: config.source,
    batchSize: config.batchSize,
    batchIntervalMs: config.batchIntervalMs,
    reconnectMaxDelayMs: config.reconnectMaxDelayMs,
    pkiDir: config.pkiDir,
    autoAcceptCertificates: config.autoAcceptCertificates,
    log,
    endpointEvents: opcua.endpointEvents,
    // one span per network message (one OPC UA batch): TelemetryPublisher.publish
    publish: (networkMessage) => {
      opcua.batchPublished(networkMessage);
      return publisher.publish(sequencer.next('ua-data', networkMessage));
    },
  });
  log.info('publishing', { file: config.publishedNodesFile, epoch: sequencer.epoch, batchSize: config.batchSize, batchIntervalMs: config.batchIntervalMs });
  await pipeline.failed; // only a failed publish ends main; signals end the process through onShutdown
}

runMain(log, main);
