// Entry of a level's broker exporter (see broker-exporter.ts): configuration from the environment
// (configFromEnv), exports until SIGTERM/SIGINT, then exports once more and leaves.
import { configFromEnv, startBrokerExporter } from './broker-exporter.js';

function log(level: string, msg: string): void {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'info', workload: 'broker-exporter', edgeLevel: level, msg }) + '\n');
}

async function main(): Promise<void> {
  const config = configFromEnv(process.env);
  const exporter = await startBrokerExporter(config, (msg) => log(config.level, msg));
  log(config.level, `exporting $SYS of ${config.brokerUrl} to ${config.otlpMetricsUrl} every ${config.exportIntervalMs} ms`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await exporter.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`broker-exporter: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
