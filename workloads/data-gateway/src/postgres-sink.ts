// The on-premises store: one row per message, the message id as PRIMARY KEY, so a redelivered
// message (after a crash between store and acknowledgement) inserts nothing. `pos` is a
// BIGSERIAL assigned in insert order: per-source order in the table is the order of `pos`.
// One connection, one batch at a time; a broken connection is dropped and re-opened on the next
// attempt (the batcher retries with backoff). Credentials never reach a log line.
import pg from 'pg';
import type { Logger } from '../../shared/src/log.js';
import type { StoredRecord } from './file-sink.js';
import { RejectedRecordError, type Sink } from './sink.js';

export interface PostgresSinkOptions {
  /** postgres:// URL; when absent `pg` uses PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE. */
  url?: string;
  table: string;
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
}

export function tableDdl(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  pos         BIGSERIAL,
  id          TEXT PRIMARY KEY,
  source      TEXT NOT NULL,
  level       TEXT NOT NULL,
  epoch       BIGINT NOT NULL,
  seq         BIGINT NOT NULL,
  ts          TIMESTAMPTZ NOT NULL,
  received_at TIMESTAMPTZ NOT NULL,
  type        TEXT NOT NULL,
  data        JSONB NOT NULL
)`;
}

/** One statement per batch: arrays in, rows out in array order, existing ids skipped. */
export function insertSql(table: string): string {
  return `INSERT INTO ${table} (id, source, level, epoch, seq, ts, received_at, type, data)
SELECT id, source, level, epoch, seq, ts, received_at, type, data::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[])
  WITH ORDINALITY AS r(id, source, level, epoch, seq, ts, received_at, type, data, n)
ORDER BY n
ON CONFLICT (id) DO NOTHING`;
}

/** SQLSTATE classes that mean "the data is wrong", not "the server is unavailable". */
const DATA_ERROR_CLASSES = ['22', '23'];

export class PostgresSink implements Sink {
  readonly name = 'postgresql';
  private client: pg.Client | undefined;
  private schemaReady = false;
  inserted = 0;

  constructor(
    private readonly opts: PostgresSinkOptions,
    private readonly log: Logger,
  ) {}

  /** Where it connects, for logs: never the password. */
  describe(): Record<string, string> {
    const c = new pg.Client(this.clientConfig());
    return { host: String(c.host), port: String(c.port), database: String(c.database), user: String(c.user), table: this.opts.table };
  }

  private clientConfig(): pg.ClientConfig {
    return {
      ...(this.opts.url ? { connectionString: this.opts.url } : {}),
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 5_000,
      query_timeout: this.opts.queryTimeoutMs ?? 30_000,
      application_name: 'data-gateway',
    };
  }

  private async connection(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client(this.clientConfig());
    // A server that goes away while idle emits 'error' on the client: drop it, reconnect later.
    client.on('error', (err) => {
      this.log.warn('postgresql connection lost', { error: err.message });
      if (this.client === client) this.client = undefined;
    });
    try {
      await client.connect();
      if (!this.schemaReady) {
        await client.query(tableDdl(this.opts.table));
        this.schemaReady = true;
      }
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    this.log.info('postgresql connected', this.describe());
    return client;
  }

  async open(): Promise<void> {
    await this.connection();
  }

  async write(batch: readonly StoredRecord[]): Promise<void> {
    if (batch.length === 0) return;
    const client = await this.connection();
    const columns: unknown[][] = [[], [], [], [], [], [], [], [], []];
    for (const r of batch) {
      const row = [r.id, r.source, r.level, r.epoch, r.seq, r.timestamp, r.receivedAt, r.type, JSON.stringify(r.data)];
      row.forEach((v, i) => columns[i]!.push(v));
    }
    try {
      const result = await client.query(insertSql(this.opts.table), columns);
      this.inserted += result.rowCount ?? 0;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && DATA_ERROR_CLASSES.includes(code.slice(0, 2))) throw new RejectedRecordError(this.name, `${code} ${(err as Error).message}`);
      // Anything else (connection refused, terminated, timeout): a fresh connection next time.
      if (this.client === client) this.client = undefined;
      client.end().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
