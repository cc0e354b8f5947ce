import { EnvReader, readCommon, type CommonConfig } from '../../shared/src/env.js';

export interface GatewayConfig extends CommonConfig {
  appHost: string;
  appPort: number;
  sinkFile: string;
  deadLetterTopic: string;
  /** fdatasync before acknowledging: durable before ack. Off only for throwaway benchmarks. */
  fsync: boolean;
}

export function readGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const r = new EnvReader(env);
  const config: GatewayConfig = {
    ...readCommon(r, 'data-gateway'),
    appHost: r.string('APP_HOST', '127.0.0.1'),
    appPort: r.int('APP_PORT', 3000, 1, 65535),
    sinkFile: r.string('GATEWAY_SINK_FILE'),
    deadLetterTopic: r.string('DEADLETTER_TOPIC', 'deadletter'),
    fsync: r.bool('GATEWAY_FSYNC', true),
  };
  r.done();
  return config;
}
