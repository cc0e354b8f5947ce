// The PostgreSQL sink, read back for the summary: rows in insertion order (`pos`), fed to the
// same accounting as the sink file, so sent / delivered / lost / duplicates / order mean the same
// for both stores. Read incrementally by `pos`: the gateway writes with one connection, one batch
// at a time, so rows become visible in `pos` order and none is skipped behind the last one read.
import type pg from 'pg';
import { SinkAccounting, type ProducerRun } from './summary.js';

const PAGE = 5_000;
/** SQLSTATE: the table does not exist yet (the gateway creates it on its first connection). */
const UNDEFINED_TABLE = '42P01';

interface Row {
  pos: string;
  id: string;
  source: string;
  level: string;
  epoch: string;
  seq: string;
  ts: Date;
  received_at: Date;
  type: string;
  data: unknown;
}

export class PostgresAccounting {
  readonly tally: SinkAccounting;
  private lastPos = '0';
  private client: pg.Client | undefined;
  private closed = false;

  constructor(
    private readonly connect: () => Promise<pg.Client>,
    private readonly table: string,
    runs: () => ProducerRun[],
  ) {
    this.tally = new SinkAccounting(undefined, runs);
  }

  /** Reads the rows added since the last call; after `close`, keeps what it has. */
  async poll(): Promise<void> {
    if (this.closed) return;
    this.client ??= await this.connect();
    for (;;) {
      let rows: Row[];
      try {
        // `table` is checked by the gateway's config (a lower-case SQL identifier).
        ({ rows } = await this.client.query<Row>(`SELECT pos, id, source, level, epoch, seq, ts, received_at, type, data FROM ${this.table} WHERE pos > $1 ORDER BY pos LIMIT ${PAGE}`, [this.lastPos]));
      } catch (err) {
        if ((err as { code?: string }).code === UNDEFINED_TABLE) return;
        throw err;
      }
      for (const r of rows) {
        this.tally.record({ id: r.id, source: r.source, level: r.level, epoch: Number(r.epoch), seq: Number(r.seq), timestamp: r.ts.toISOString(), receivedAt: r.received_at.toISOString(), type: r.type, data: r.data });
        this.lastPos = r.pos;
      }
      if (rows.length < PAGE) return;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
