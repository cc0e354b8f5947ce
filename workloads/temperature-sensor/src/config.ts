import { EnvReader, readCommon, type CommonConfig } from '../../shared/src/env.js';

export interface SensorConfig extends CommonConfig {
  intervalMs: number;
  /** Stop after this many messages; 0 runs until stopped. */
  count: number;
  /** Messages per tick, for load tests; readings within a tick share the same walk step. */
  burst: number;
  /**
   * Publishes waiting for the sidecar's acknowledgement at once (default 1: one at a time). A
   * load test raises it so the offered rate is not capped by one round trip per message.
   */
  maxInFlight: number;
  seed?: number;
}

export function readSensorConfig(env: NodeJS.ProcessEnv = process.env): SensorConfig {
  const r = new EnvReader(env);
  const config: SensorConfig = {
    ...readCommon(r, 'temperature-sensor'),
    intervalMs: r.int('SENSOR_INTERVAL_MS', 1000, 1, 3_600_000),
    count: r.int('SENSOR_COUNT', 0, 0),
    burst: r.int('SENSOR_BURST', 1, 1, 10_000),
    maxInFlight: r.int('SENSOR_MAX_IN_FLIGHT', 1, 1, 1_000),
    seed: env.SENSOR_SEED ? r.int('SENSOR_SEED', 0) : undefined,
  };
  r.done();
  return config;
}
