// How a workload's topology `config` becomes its environment: one table, used by the local,
// netns and kubernetes renderers alike.
import type { Workload, WorkloadType } from './model.js';

const ENV_NAMES: Record<WorkloadType, Record<string, string>> = {
  'temperature-sensor': { intervalMs: 'SENSOR_INTERVAL_MS', count: 'SENSOR_COUNT', burst: 'SENSOR_BURST', maxInFlight: 'SENSOR_MAX_IN_FLIGHT', seed: 'SENSOR_SEED', publishBatchMax: 'PUBLISH_BATCH_MAX' },
  'opc-plc': {
    port: 'OPC_PORT',
    security: 'OPC_SECURITY',
    fastNodes: 'PLC_FAST_NODES',
    fastRateMs: 'PLC_FAST_RATE_MS',
    fastType: 'PLC_FAST_TYPE',
    slowNodes: 'PLC_SLOW_NODES',
    slowRateMs: 'PLC_SLOW_RATE_MS',
    slowType: 'PLC_SLOW_TYPE',
    anomalies: 'PLC_ANOMALIES',
  },
  'opc-publisher': { batchSize: 'BATCH_SIZE', batchIntervalMs: 'BATCH_INTERVAL_MS', reconnectMaxDelayMs: 'OPC_RECONNECT_MAX_DELAY_MS', publishBatchMax: 'PUBLISH_BATCH_MAX' },
  'data-gateway': {
    fsync: 'GATEWAY_FSYNC',
    // Credentials (the PostgreSQL URL, the Event Hubs connection string) are secrets, never
    // topology config: the local target hands the URL over in a 0600 file, Kubernetes through
    // secretKeyRef (src/local/gateway-stores.ts, src/kubernetes/gateway-sinks.ts).
    sinks: 'GATEWAY_SINKS',
    routes: 'GATEWAY_ROUTES',
    batchSize: 'GATEWAY_BATCH_SIZE',
    batchMaxWaitMs: 'GATEWAY_BATCH_MAX_WAIT_MS',
    resequenceHoldMs: 'GATEWAY_RESEQUENCE_HOLD_MS',
    resequenceQuietMs: 'GATEWAY_RESEQUENCE_QUIET_MS',
    holdAlarmMs: 'GATEWAY_HOLD_ALARM_MS',
    retryMaxMs: 'GATEWAY_RETRY_MAX_MS',
    maxMessageBytes: 'GATEWAY_MAX_MESSAGE_BYTES',
    pgTable: 'GATEWAY_PG_TABLE',
    eventHubsBinding: 'GATEWAY_EVENTHUBS_BINDING',
  },
};

/** Keys the topology handles itself rather than passing through as env. */
const STRUCTURAL_KEYS = new Set(['endpointWorkload', 'endpointUrl']);

export function workloadEnv(workload: Workload): Record<string, string> {
  const names = ENV_NAMES[workload.type];
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(workload.config)) {
    if (STRUCTURAL_KEYS.has(key)) continue;
    const name = names[key];
    if (!name) throw new Error(`workload ${workload.name}: unknown config key \`${key}\` for ${workload.type}; known: ${Object.keys(names).join(', ')}`);
    env[name] = String(value);
  }
  return env;
}

export function knownConfigKeys(type: WorkloadType): string[] {
  return [...Object.keys(ENV_NAMES[type]), ...(type === 'opc-publisher' ? [...STRUCTURAL_KEYS] : [])];
}
