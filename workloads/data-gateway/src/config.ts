import { readFileSync } from 'node:fs';
import { EnvReader, readCommon, type CommonConfig } from '../../shared/src/env.js';
import { resolveRouting, SINK_KINDS, type Route, type SinkKind } from './routes.js';

export { parseSinks, SINK_KINDS, type Route, type SinkKind } from './routes.js';

export interface BatchConfig {
  /** A batch is written as soon as it holds this many records... */
  maxBatch: number;
  /** ...or when its oldest record has waited this long. */
  maxWaitMs: number;
}

export interface PostgresConfig {
  /** `postgres://user:password@host:port/db`; when absent, `pg` reads PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE. */
  url?: string;
  table: string;
}

export interface EventHubsConfig {
  /** The Dapr output binding of type bindings.azure.eventhubs (the hub is in its connection string). */
  bindingName: string;
}

export interface GatewayConfig extends CommonConfig {
  appHost: string;
  appPort: number;
  /** Every selected sink (GATEWAY_SINKS). */
  sinks: SinkKind[];
  /** Topic -> sinks: a message is acknowledged once every sink of its route has it. */
  routes: Route[];
  sinkFile: string;
  deadLetterTopic: string;
  /** fdatasync before acknowledging: durable before ack. Off only for throwaway benchmarks. */
  fsync: boolean;
  batch: Record<SinkKind, BatchConfig>;
  /**
   * How long an out-of-order message waits for the seqs before it (0: no resequencing). Measured
   * here (Dapr 1.16 mqtt3, 2 cores, loaded): in steady flow the disorder is a few ms, but in the
   * burst after a 30 s store outage (100 in flight, re-opened connections) a message arrived up
   * to 1.3 s after its successors, so 200 ms would write ~7% out of order. Waiting is safe: a
   * missing predecessor is already in flight (the broker sent it before its successor), and it
   * costs latency only while a gap exists.
   */
  resequenceHoldMs: number;
  /**
   * ...as long as deliveries keep coming: after this long without one, the waiting messages'
   * predecessors are not on their way (see resequencer.ts) and waiting ends.
   */
  resequenceQuietMs: number;
  /** A sink failing for longer than this is reported loudly (the gateway keeps holding). */
  holdAlarmMs: number;
  /** Backoff between attempts on a failing sink: 100 ms doubling up to this. */
  retryMaxMs: number;
  /** A sink's circuit opens after this many consecutive failed writes... */
  breakerFailures: number;
  /** ...and stays open (no writes, messages held) this long before one probe write. */
  breakerOpenMs: number;
  /** Larger messages are dead-lettered. */
  maxMessageBytes: number;
  postgres: PostgresConfig;
  eventHubs: EventHubsConfig;
  /**
   * The sidecar's own broker URL (GATEWAY_SESSION_BROKER_URL[_FILE]), to release its session after
   * a restart (session-release.ts); absent: not done. Its client id is the sidecar's consumerID.
   */
  sessionBrokerUrl?: string;
  sessionClientId: string;
}

const PG_TABLE = /^[a-z_][a-z0-9_]{0,62}$/;

export function readGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const r = new EnvReader(env);
  const common = readCommon(r, 'data-gateway');
  const { sinks, routes, problems } = resolveRouting({ sinks: env.GATEWAY_SINKS, routes: env.GATEWAY_ROUTES, topic: common.topic, deadLetterTopic: env.DEADLETTER_TOPIC || 'deadletter' });
  r.problems.push(...problems);
  const batchDefault = { maxBatch: r.int('GATEWAY_BATCH_SIZE', 100, 1, 10_000), maxWaitMs: r.int('GATEWAY_BATCH_MAX_WAIT_MS', 10, 0, 60_000) };
  const batch = {} as Record<SinkKind, BatchConfig>;
  for (const kind of SINK_KINDS) {
    const prefix = `GATEWAY_${kind.toUpperCase()}`;
    batch[kind] = { maxBatch: r.int(`${prefix}_BATCH_SIZE`, batchDefault.maxBatch, 1, 10_000), maxWaitMs: r.int(`${prefix}_BATCH_MAX_WAIT_MS`, batchDefault.maxWaitMs, 0, 60_000) };
  }
  const postgres: PostgresConfig = { url: readSecretUrl(r, 'GATEWAY_PG_URL', 'postgres://'), table: r.string('GATEWAY_PG_TABLE', 'telemetry') };
  if (!PG_TABLE.test(postgres.table)) r.problems.push(`GATEWAY_PG_TABLE must be a lower-case SQL identifier (got "${postgres.table}")`);
  if (sinks.includes('postgresql') && postgres.url === undefined && !env.GATEWAY_PG_URL_FILE && !env.PGHOST && !env.PGDATABASE) {
    r.problems.push('GATEWAY_SINKS has postgresql: set GATEWAY_PG_URL_FILE (a 0600 file holding the URL) or GATEWAY_PG_URL (from a Secret), or PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE');
  }
  if (postgres.url !== undefined && !/^postgres(ql)?:\/\//.test(postgres.url)) r.problems.push(`${env.GATEWAY_PG_URL_FILE ? 'the URL in GATEWAY_PG_URL_FILE' : 'GATEWAY_PG_URL'} must start with postgres:// or postgresql:// (value not shown: it holds a password)`);
  const eventHubs: EventHubsConfig = { bindingName: r.string('GATEWAY_EVENTHUBS_BINDING', 'eventhubs') };
  const config: GatewayConfig = {
    ...common,
    appHost: r.string('APP_HOST', '127.0.0.1'),
    appPort: r.int('APP_PORT', 3000, 1, 65535),
    sinks,
    routes,
    sinkFile: sinks.includes('file') ? r.string('GATEWAY_SINK_FILE') : (r.optionalString('GATEWAY_SINK_FILE') ?? ''),
    deadLetterTopic: r.string('DEADLETTER_TOPIC', 'deadletter'),
    fsync: r.bool('GATEWAY_FSYNC', true),
    batch,
    resequenceHoldMs: r.int('GATEWAY_RESEQUENCE_HOLD_MS', 2_000, 0, 60_000),
    resequenceQuietMs: r.int('GATEWAY_RESEQUENCE_QUIET_MS', 200, 0, 60_000),
    holdAlarmMs: r.int('GATEWAY_HOLD_ALARM_MS', 60_000, 100, 86_400_000),
    retryMaxMs: r.int('GATEWAY_RETRY_MAX_MS', 2_000, 10, 60_000),
    breakerFailures: r.int('GATEWAY_BREAKER_FAILURES', 5, 1, 1_000),
    breakerOpenMs: r.int('GATEWAY_BREAKER_OPEN_MS', 5_000, 10, 600_000),
    maxMessageBytes: r.int('GATEWAY_MAX_MESSAGE_BYTES', 256 * 1024, 1024, 16 * 1024 * 1024),
    postgres,
    eventHubs,
    sessionBrokerUrl: readSecretUrl(r, 'GATEWAY_SESSION_BROKER_URL', 'tcp://'),
    sessionClientId: r.string('GATEWAY_SESSION_CLIENT_ID', common.source),
  };
  if (config.sessionBrokerUrl !== undefined && !/^(tcp|mqtt):\/\//.test(config.sessionBrokerUrl)) r.problems.push(`${env.GATEWAY_SESSION_BROKER_URL_FILE ? 'the URL in GATEWAY_SESSION_BROKER_URL_FILE' : 'GATEWAY_SESSION_BROKER_URL'} must start with tcp:// or mqtt:// (value not shown: it holds a password)`);
  if (sinks.includes('eventhubs') && config.eventHubs.bindingName === config.pubsubName) {
    r.problems.push(`GATEWAY_EVENTHUBS_BINDING must name the Event Hubs output binding, not the MQTT pub/sub component ("${config.pubsubName}")`);
  }
  r.done();
  return config;
}

/**
 * A URL holding a password (PostgreSQL's, the sidecar's broker URL) comes from a file only its
 * owner can read (`<NAME>_FILE`: the local target writes one, mode 0600) or from an env variable
 * filled from a Secret (`<NAME>`: Kubernetes secretKeyRef); it never appears in an argument
 * list, a log line or a generated config.
 */
function readSecretUrl(r: EnvReader, name: string, example: string): string | undefined {
  const direct = r.optionalString(name);
  const file = r.optionalString(`${name}_FILE`);
  if (file === undefined) return direct;
  if (direct !== undefined) {
    r.problems.push(`set ${name} or ${name}_FILE, not both`);
    return direct;
  }
  try {
    const url = readFileSync(file, 'utf8').trim();
    if (url === '') r.problems.push(`${name}_FILE: ${file} is empty; write the ${example} URL into it`);
    return url || undefined;
  } catch (err) {
    r.problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); point it at the file holding the ${example} URL`);
    return undefined;
  }
}
