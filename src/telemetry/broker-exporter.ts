// A level's broker exporter: reads its broker's $SYS topics as the monitor user and exports them
// as OTel metrics (OTLP/HTTP protobuf) to the level's own collector. One per level, beside the
// broker; the collector forwards them upward and keeps them locally for `edge status`.
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import type { ObservableResult } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BROKER_METRICS, BrokerFigures, type BrokerSnapshot } from './sys-metrics.js';
import { establishedTo } from './tcp-peer.js';

export interface BrokerExporterConfig {
  level: string;
  /** mqtt://host:port of the level's broker (its workload listener). */
  brokerUrl: string;
  username: string;
  password: string;
  /**
   * The level's bridge: its client id at the parent, the parent's level name, and the address it
   * dials (parent host:port, to find its socket); absent at the top.
   */
  bridge?: { clientId: string; parent: string; peer: { host: string; port: number } };
  /** OTLP/HTTP metrics URL of the level's collector (…/v1/metrics). */
  otlpMetricsUrl: string;
  exportIntervalMs: number;
}

/**
 * The configuration, from the environment, all problems at once. The monitor password comes from
 * a file (0600), never from argv or the environment.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): BrokerExporterConfig {
  const problems: string[] = [];
  const need = (name: string): string => {
    const v = env[name];
    if (v === undefined || v === '') problems.push(`${name} is not set`);
    return v ?? '';
  };
  const level = need('EDGE_LEVEL');
  const brokerUrl = need('EDGE_BROKER_URL');
  const username = need('EDGE_MONITOR_USERNAME');
  const passwordFile = need('EDGE_MONITOR_PASSWORD_FILE');
  const otlpMetricsUrl = need('EDGE_OTLP_METRICS_URL');
  const intervalRaw = env.EDGE_EXPORT_INTERVAL_MS ?? '2000';
  const exportIntervalMs = Number(intervalRaw);
  if (!Number.isInteger(exportIntervalMs) || exportIntervalMs < 100) problems.push(`EDGE_EXPORT_INTERVAL_MS must be a whole number of milliseconds >= 100 (got "${intervalRaw}")`);
  const [clientId, parent, peerRaw] = [env.EDGE_BRIDGE_CLIENT_ID, env.EDGE_BRIDGE_PARENT, env.EDGE_BRIDGE_PEER];
  const bridgeVars = [clientId, parent, peerRaw].filter((v) => v !== undefined).length;
  if (bridgeVars !== 0 && bridgeVars !== 3) problems.push('set EDGE_BRIDGE_CLIENT_ID, EDGE_BRIDGE_PARENT and EDGE_BRIDGE_PEER together (a level with a parent), or none');
  const peerMatch = peerRaw === undefined ? undefined : /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(peerRaw);
  if (peerRaw !== undefined && !peerMatch) problems.push(`EDGE_BRIDGE_PEER must be IPv4:port, the address the bridge dials (got "${peerRaw}")`);
  let password = '';
  if (passwordFile) {
    try {
      password = readFileSync(passwordFile, 'utf8').trim();
    } catch (err) {
      problems.push(`EDGE_MONITOR_PASSWORD_FILE: ${(err as Error).message}`);
    }
  }
  if (problems.length) throw new Error(`broker exporter configuration:\n  - ${problems.join('\n  - ')}`);
  return { level, brokerUrl, username, password, otlpMetricsUrl, exportIntervalMs, ...(clientId !== undefined && parent !== undefined && peerMatch ? { bridge: { clientId, parent, peer: { host: peerMatch[1]!, port: Number(peerMatch[2]) } } } : {}) };
}

export interface RunningBrokerExporter {
  /** The latest figures read from $SYS. */
  snapshot(): BrokerSnapshot;
  /** Exports once more, then disconnects. */
  stop(): Promise<void>;
}

export async function startBrokerExporter(config: BrokerExporterConfig, log: (msg: string) => void): Promise<RunningBrokerExporter> {
  const figures = new BrokerFigures(config.bridge?.clientId);
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'broker-exporter', 'edge.level': config.level }),
    readers: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: config.otlpMetricsUrl }), exportIntervalMillis: config.exportIntervalMs, exportTimeoutMillis: Math.min(config.exportIntervalMs, 10_000) })],
  });
  const bridge = config.bridge;
  // The bridge is up when the broker says so ($SYS) and its socket to the parent exists (tcp-peer.ts).
  const bridgeUp = (): 0 | 1 | undefined => {
    const said = figures.snapshot().bridgeUp;
    return said === 1 && bridge && establishedTo(bridge.peer.host, bridge.peer.port) === false ? 0 : said;
  };
  registerInstruments(provider, () => figures.snapshot(), bridge ? { parent: bridge.parent, up: bridgeUp } : undefined);

  // Clean session, a fresh client id per run: $SYS figures are retained or republished every
  // sys_interval, so nothing is lost by not keeping a session; reconnects resubscribe.
  const client: MqttClient = mqtt.connect(config.brokerUrl, {
    username: config.username,
    password: config.password,
    clientId: `edge-broker-exporter-${config.level}-${process.pid}`,
    clean: true,
    reconnectPeriod: 1_000,
    connectTimeout: 5_000,
  });
  client.on('connect', () => {
    log(`connected to ${config.brokerUrl}`);
    figures.reset();
    client.subscribe(figures.topics(), { qos: 0 }, (err) => err && log(`subscribe failed: ${err.message}`));
  });
  client.on('error', (err) => log(`broker: ${err.message}`));
  client.on('message', (topic, payload) => void figures.update(topic, payload.toString('utf8')));
  return {
    snapshot: () => figures.snapshot(),
    async stop() {
      await provider.shutdown().catch((err: Error) => log(`last export failed: ${err.message}`));
      await client.endAsync(true);
    },
  };
}

/** Observable instruments: each export reads the latest $SYS figures; absent figures are not reported. */
function registerInstruments(provider: MeterProvider, read: () => BrokerSnapshot, bridge: { parent: string; up: () => 0 | 1 | undefined } | undefined): void {
  const meter = provider.getMeter('edge-broker-exporter');
  const observe = (key: keyof BrokerSnapshot, attrs: Record<string, string> = {}) => (result: ObservableResult) => {
    const value = read()[key];
    if (value !== undefined) result.observe(value, attrs);
  };
  meter.createObservableGauge(BROKER_METRICS.clientsConnected, { description: 'clients connected to the broker ($SYS/broker/clients/connected)' }).addCallback(observe('clientsConnected'));
  // Mosquitto's counters are cumulative since the broker started: an observable counter reports them as they are.
  meter.createObservableCounter(BROKER_METRICS.messagesReceived, { description: 'PUBLISH messages received by the broker' }).addCallback(observe('messagesReceived'));
  meter.createObservableCounter(BROKER_METRICS.messagesSent, { description: 'PUBLISH messages sent by the broker' }).addCallback(observe('messagesSent'));
  meter.createObservableCounter(BROKER_METRICS.messagesDropped, { description: 'PUBLISH messages the broker dropped (queue limits)' }).addCallback(observe('messagesDropped'));
  meter.createObservableCounter(BROKER_METRICS.sysDelivered, { description: '$SYS messages this exporter received (the broker counts them as sent)' }).addCallback(observe('sysDelivered'));
  meter.createObservableGauge(BROKER_METRICS.storeMessages, { description: 'messages in the broker store: queued for sessions and the bridge, and the retained $SYS messages' }).addCallback(observe('storeMessages'));
  meter.createObservableGauge(BROKER_METRICS.retainedMessages, { description: 'retained $SYS messages among those in the store' }).addCallback(observe('retainedMessages'));
  if (bridge) {
    meter.createObservableGauge(BROKER_METRICS.bridgeUp, { description: '1 while the bridge to the parent level is connected, else 0' }).addCallback((result) => {
      const up = bridge.up();
      if (up !== undefined) result.observe(up, { bridge: bridge.parent });
    });
  }
}
