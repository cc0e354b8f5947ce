// temperature-sensor: publishes simulated machine/ambient readings to the `telemetry` topic.
import { Sequencer } from '../../shared/src/envelope.js';
import { createLogger } from '../../shared/src/log.js';
import { onShutdown, runMain, sleep } from '../../shared/src/lifecycle.js';
import { TelemetryPublisher } from '../../shared/src/publisher.js';
import { healthPort, startHealthServer } from '../../shared/src/health.js';
import { startTelemetry } from '../../shared/src/telemetry.js';
import { readSensorConfig } from './config.js';
import { TemperatureModel } from './model.js';

const log = createLogger(process.env.EDGE_SOURCE ?? 'temperature-sensor', process.env.EDGE_LEVEL ?? 'l2');

async function main(): Promise<void> {
  const config = readSensorConfig();
  const telemetry = await startTelemetry(config.source, log);
  const publisher = new TelemetryPublisher(config, log, telemetry);
  const sequencer = new Sequencer(config.source, config.levelName);
  const model = new TemperatureModel(config.seed);
  let running = true;
  let loop: Promise<void> = Promise.resolve();

  onShutdown(log, async () => {
    running = false;
    await loop; // the messages in flight are acknowledged or retried before we stop
    await publisher.stop();
    await telemetry.shutdown(); // after the last publish: its span and the final counts are exported
    log.info('final report', { ...publisher.report() });
  });

  let ready = false;
  startHealthServer(healthPort(), () => ready && running);
  await publisher.start();
  ready = true;
  log.info('publishing', { intervalMs: config.intervalMs, count: config.count, burst: config.burst, epoch: sequencer.epoch });
  const reportTimer = setInterval(() => publisher.writeReport(), 1000);
  reportTimer.unref();

  const inFlight = new Set<Promise<void>>();
  let failure: Error | undefined; // a publish that gave up (only while stopping), raised by the loop
  loop = (async () => {
    let next = Date.now();
    while (running && (config.count === 0 || sequencer.last < config.count)) {
      const reading = model.next();
      for (let i = 0; i < config.burst && running && (config.count === 0 || sequencer.last < config.count); i++) {
        const sending: Promise<void> = publisher
          .publish(sequencer.next('temperature', reading))
          .catch((err: Error) => void (failure ??= err))
          .finally(() => inFlight.delete(sending));
        inFlight.add(sending);
        if (inFlight.size >= config.maxInFlight) await Promise.race(inFlight);
        if (failure) throw failure;
      }
      next += config.intervalMs;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      else next = Date.now(); // fell behind: do not burst to catch up
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
  })();
  await loop;
  publisher.writeReport(true);
  await telemetry.shutdown(); // the process may end here: export before it does
  if (config.count > 0 && running) log.info('count reached', { sent: sequencer.last });
}

runMain(log, main);
