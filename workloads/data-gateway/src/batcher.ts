// Batching for one sink: records are grouped (size + max wait) and written one batch at a time,
// in arrival order, so the store sees them in the order the resequencer released them. A failing
// sink is retried with backoff for as long as it takes: the callers' promises stay pending, so
// their messages stay unacknowledged in the broker session (back-pressure, nothing dropped).
// Answering RETRY to Dapr instead would leave mqtt3 messages un-acked for good and stall the
// subscription once the broker's in-flight window is full. After repeated failures a circuit
// breaker stops the attempts for a while (one probe write then tells whether the store is back).
import type { Logger } from '../../shared/src/log.js';
import { CircuitBreaker, type BreakerOptions, type BreakerState } from './circuit-breaker.js';
import type { StoredRecord } from './file-sink.js';
import { RejectedRecordError, type Sink } from './sink.js';
import type { GatewayMetrics } from './metrics.js';

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  retryInitialMs?: number;
  retryMaxMs: number;
  /** The hold bound: a sink down longer than this is reported as an error (and counted); holding goes on. */
  holdAlarmMs: number;
  /** Circuit breaker; without it, attempts go on with backoff only. */
  breaker?: BreakerOptions;
  /** Counts what `stats.written` counts, as edge.messages.stored. */
  metrics?: Pick<GatewayMetrics, 'stored'>;
}

export interface BatcherStats {
  batches: number;
  written: number;
  failedAttempts: number;
  rejected: number;
  /** Times a sink stayed down beyond `holdAlarmMs` (one per alarm period). */
  holdAlarms: number;
  /** Longest continuous failure seen so far, ms. */
  longestOutageMs: number;
  /** Down right now, since (ISO time), or null. */
  downSince: string | null;
  /** Records that waited longer than the hold bound before the sink had them (written late, not lost). */
  heldBeyondBound: number;
  breaker: BreakerState;
  breakerOpens: number;
}

interface Pending {
  record: StoredRecord;
  queuedAt: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class SinkBatcher {
  readonly stats: BatcherStats = { batches: 0, written: 0, failedAttempts: 0, rejected: 0, holdAlarms: 0, longestOutageMs: 0, downSince: null, heldBeyondBound: 0, breaker: 'closed', breakerOpens: 0 };
  private readonly breaker: CircuitBreaker | undefined;
  private queue: Pending[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  private abandoned = false;

  constructor(
    readonly sink: Sink,
    private readonly opts: BatcherOptions,
    private readonly log: Logger,
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
    now: () => number = Date.now,
  ) {
    this.breaker = opts.breaker ? new CircuitBreaker(opts.breaker, now) : undefined;
  }

  /** Resolves once the record is in the sink; rejects only with RejectedRecordError (or on shutdown). */
  add(record: StoredRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`sink ${this.sink.name} is closing`));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ record, queuedAt: Date.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Records accepted but not yet in the sink. */
  get pending(): number {
    return this.queue.length + this.inFlight;
  }

  private schedule(): void {
    if (this.running) return; // the running loop takes what arrived meanwhile
    if (this.queue.length >= this.opts.maxBatch || this.opts.maxWaitMs === 0) {
      void this.run();
    } else if (!this.timer) {
      this.timer = setTimeout(() => void this.run(), this.opts.maxWaitMs);
    }
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    try {
      // What queued up while a batch was being written has waited long enough: group commit.
      while (this.queue.length > 0 && !this.abandoned) {
        const batch = this.queue.splice(0, this.opts.maxBatch);
        this.inFlight = batch.length;
        await this.deliver(batch);
        this.inFlight = 0;
      }
    } finally {
      this.running = false;
      this.inFlight = 0;
    }
  }

  private async deliver(batch: Pending[]): Promise<void> {
    let outcome: RejectedRecordError | undefined;
    try {
      outcome = await this.attempt(batch.map((p) => p.record));
    } catch (err) {
      for (const p of batch) p.reject(err as Error);
      return;
    }
    if (!outcome) {
      this.stats.batches += 1;
      this.stats.written += batch.length;
      this.opts.metrics?.stored(this.sink.name, batch.map((p) => p.record.source));
      this.countHeldBeyondBound(batch);
      for (const p of batch) p.resolve();
      return;
    }
    // Some record of the batch is refused by the store: find it, write the others one by one.
    for (const p of batch) {
      try {
        const one = batch.length === 1 ? outcome : await this.attempt([p.record]);
        if (one) {
          this.stats.rejected += 1;
          p.reject(one);
        } else {
          this.stats.batches += 1;
          this.stats.written += 1;
          this.opts.metrics?.stored(this.sink.name, [p.record.source]);
          p.resolve();
        }
      } catch (err) {
        p.reject(err as Error);
      }
    }
  }

  /** The hold bound overflowed for these records: counted and logged, never silent. */
  private countHeldBeyondBound(batch: Pending[]): void {
    const now = Date.now();
    const late = batch.filter((p) => now - p.queuedAt > this.opts.holdAlarmMs).length;
    if (late === 0) return;
    this.stats.heldBeyondBound += late;
    this.log.warn('records written after waiting beyond the hold bound (none lost; they were acknowledged only now)', { sink: this.sink.name, records: late, boundMs: this.opts.holdAlarmMs, total: this.stats.heldBeyondBound });
  }

  /** Waits while the circuit is open; resolves when a write may be tried. */
  private async permitted(): Promise<void> {
    for (;;) {
      const permit = this.breaker?.permit() ?? { ok: true };
      this.stats.breaker = this.breaker?.state ?? 'closed';
      if (permit.ok) return;
      if (this.abandoned) throw new Error(`sink ${this.sink.name} abandoned at shutdown while its circuit was open`);
      await this.sleep(Math.min(permit.retryInMs, this.opts.retryMaxMs));
    }
  }

  /** Writes until it works; returns the rejection when the store refuses the data itself. */
  private async attempt(records: StoredRecord[]): Promise<RejectedRecordError | undefined> {
    let delay = this.opts.retryInitialMs ?? 100;
    let since: number | undefined;
    let lastAlarm = 0;
    for (let attempt = 1; ; attempt++) {
      await this.permitted();
      try {
        await this.sink.write(records);
        this.breaker?.succeeded();
        this.stats.breaker = 'closed';
        if (since !== undefined) {
          const downMs = Date.now() - since;
          this.stats.longestOutageMs = Math.max(this.stats.longestOutageMs, downMs);
          this.stats.downSince = null;
          this.log.info('sink recovered', { sink: this.sink.name, downMs, attempts: attempt });
        }
        return undefined;
      } catch (err) {
        if (err instanceof RejectedRecordError) {
          this.breaker?.succeeded(); // the store answered: it is up, the record is what is wrong
          return err;
        }
        if (this.breaker?.failed()) {
          this.stats.breakerOpens = this.breaker.opens;
          this.log.warn('circuit open: no writes to this sink for a while, then one probe; its messages stay held', { sink: this.sink.name, openMs: this.opts.breaker?.openMs, opens: this.breaker.opens });
        }
        this.stats.breaker = this.breaker?.state ?? 'closed';
        if (this.abandoned) throw new Error(`sink ${this.sink.name} abandoned at shutdown while down: ${(err as Error).message}`);
        this.stats.failedAttempts += 1;
        const now = Date.now();
        if (since === undefined) {
          since = now;
          this.stats.downSince = new Date(now).toISOString();
          this.log.warn('sink write failed; holding acknowledgements and retrying', { sink: this.sink.name, records: records.length, error: String(err) });
        }
        const downMs = now - since;
        this.stats.longestOutageMs = Math.max(this.stats.longestOutageMs, downMs);
        if (downMs > this.opts.holdAlarmMs && now - lastAlarm > this.opts.holdAlarmMs) {
          lastAlarm = now;
          this.stats.holdAlarms += 1;
          this.log.error('SINK DOWN BEYOND THE HOLD BOUND: messages stay unacknowledged in the broker session; check the store', {
            sink: this.sink.name,
            downMs,
            boundMs: this.opts.holdAlarmMs,
            pending: this.pending,
            error: String(err),
          });
        }
        // An open circuit does its own waiting (permitted); otherwise back off before the next try.
        if (this.breaker?.state !== 'open') await this.sleep(delay);
        delay = Math.min(delay * 2, this.opts.retryMaxMs);
      }
    }
  }

  /** Writes what is queued (bounded by `timeoutMs` while the sink is down), then closes the sink. */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closed = true;
    if (this.queue.length > 0) void this.run();
    const deadline = Date.now() + timeoutMs;
    while ((this.running || this.queue.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (this.running || this.queue.length > 0) {
      this.abandoned = true;
      const left = this.queue.splice(0);
      for (const p of left) p.reject(new Error(`sink ${this.sink.name} closed with the record unwritten`));
      this.log.error('closing with records unwritten (they were never acknowledged: the broker redelivers them)', { sink: this.sink.name, records: left.length + this.inFlight });
    }
    await this.sink.close();
  }
}
