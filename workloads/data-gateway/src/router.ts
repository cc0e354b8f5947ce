// The gateway's decision for each delivered message: store it once in every routed sink, skip a
// duplicate, or send it to the dead-letter topic with the reason. Acknowledge (resolve) only
// after every sink has it. Messages of one producer run are put back in seq order before they
// reach the sinks, so each store holds every source's messages in order.
import type { SpanContext } from '@opentelemetry/api';
import { parseTelemetry } from '../../shared/src/envelope.js';
import { endSpan, noTelemetry, SPAN_KIND, type EdgeTracer } from '../../shared/src/telemetry.js';
import type { GatewayMetrics } from './metrics.js';
import type { SinkBatcher } from './batcher.js';
import { SeenMessages } from './dedupe.js';
import type { StoredRecord } from './file-sink.js';
import { Resequencer } from './resequencer.js';
import { RejectedRecordError } from './sink.js';

export type Outcome = { kind: 'stored'; id: string } | { kind: 'duplicate'; id: string } | { kind: 'dead-letter'; reason: string };

export interface GatewayStats {
  received: number;
  stored: number;
  duplicates: number;
  deadLettered: number;
}

/** Anything that stores one record and resolves once it is durable. */
export interface RecordWriter {
  /** `parent`: the span handling the delivery, for the store spans. */
  write(record: StoredRecord, parent?: SpanContext): Promise<void>;
}

export interface DeadLetter {
  reason: string;
  message: unknown;
  receivedAt: string;
  /** Set when `message` is only the start of an oversized message. */
  bytes?: number;
}

export interface RouterOptions {
  /** How long an early message waits for its predecessors; 0 turns resequencing off. */
  resequenceHoldMs?: number;
  /** ...but only while deliveries keep arriving or writes are in progress: after this long without either, it waits no more (0: off). */
  resequenceQuietMs?: number;
  /** Writes in progress anywhere in the gateway (every route's deliveries share the sidecar's window); default: this router's. */
  writesInProgress?: () => boolean;
  /** A store is down (its writes are held): the resequencer's holds do not run out meanwhile. */
  storesDown?: () => boolean;
  maxMessageBytes?: number;
  metrics?: GatewayMetrics;
}

/** The route's sinks: a record is written once every one of them has it. */
export class SinkSet implements RecordWriter {
  constructor(
    readonly batchers: readonly SinkBatcher[],
    private readonly tracer: EdgeTracer = noTelemetry.tracer,
  ) {}

  async write(record: StoredRecord, parent?: SpanContext): Promise<void> {
    // A span per store write: from handing the record over to the store having it durably.
    const stored = (b: SinkBatcher): Promise<void> => {
      const span = this.tracer.startSpan(`store ${b.sink.name}`, { kind: SPAN_KIND.CLIENT, attributes: { 'edge.sink': b.sink.name, 'messaging.message.id': record.id } }, parent);
      return b.add(record).then(
        () => endSpan(span),
        (err: unknown) => {
          endSpan(span, err);
          throw err;
        },
      );
    };
    const results = await Promise.allSettled(this.batchers.map(stored));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

const PREVIEW_CHARS = 2048;

export class Router {
  readonly stats: GatewayStats = { received: 0, stored: 0, duplicates: 0, deadLettered: 0 };
  readonly resequencer: Resequencer<() => void>;
  private readonly seen = new SeenMessages();
  /** Ids being written right now: a redelivery racing its original must not be written twice. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly maxMessageBytes: number;
  private readonly metrics: GatewayMetrics | undefined;

  constructor(
    private readonly sink: RecordWriter,
    private readonly deadLetter: (payload: DeadLetter) => Promise<void>,
    options: RouterOptions = {},
  ) {
    this.resequencer = new Resequencer<() => void>(options.resequenceHoldMs ?? 0, (release) => release(), {
      quietMs: options.resequenceQuietMs,
      busy: options.writesInProgress ?? (() => this.writing > 0),
      paused: options.storesDown,
    });
    this.maxMessageBytes = options.maxMessageBytes ?? 256 * 1024;
    this.metrics = options.metrics;
  }

  /** Messages on their way to the sinks (released by the resequencer, not yet stored). */
  get writing(): number {
    return this.inFlight.size - this.resequencer.waiting;
  }

  /** Loads what the sink already holds, so a restart does not store anything twice. */
  remember(existing: Array<Pick<StoredRecord, 'source' | 'epoch' | 'seq'>>): void {
    for (const r of existing) this.seen.add(r.source, r.epoch, r.seq);
  }

  private async reject(reason: string, message: unknown, receivedAt: Date, bytes?: number): Promise<Outcome> {
    const payload: DeadLetter = { reason, message, receivedAt: receivedAt.toISOString() };
    if (bytes !== undefined) {
      const text = typeof message === 'string' ? message : Buffer.isBuffer(message) ? message.toString() : JSON.stringify(message);
      payload.message = text.slice(0, PREVIEW_CHARS);
      payload.bytes = bytes;
    }
    await this.deadLetter(payload);
    this.stats.deadLettered += 1;
    this.metrics?.deadLettered(reason);
    return { kind: 'dead-letter', reason };
  }

  /** `parent`: the span handling the delivery (the store spans are its children). */
  async handle(message: unknown, receivedAt: Date = new Date(), parent?: SpanContext): Promise<Outcome> {
    this.stats.received += 1;
    const parsed = parseTelemetry(message);
    this.metrics?.consumed(parsed.ok ? parsed.value.source : 'unknown');
    if (!parsed.ok) {
      const bytes = /over the \d+-byte limit/.test(parsed.reason) && (typeof message === 'string' || Buffer.isBuffer(message)) ? message.length : undefined;
      return this.reject(parsed.reason, message, receivedAt, bytes);
    }
    const m = parsed.value;
    // The sidecar hands over parsed JSON, so the size check of parseTelemetry never saw text.
    if (typeof message === 'object' && message !== null && !Buffer.isBuffer(message)) {
      const bytes = Buffer.byteLength(JSON.stringify(message));
      if (bytes > this.maxMessageBytes) return this.reject(`message is ${bytes} bytes, over the ${this.maxMessageBytes}-byte limit`, message, receivedAt, bytes);
    }
    const pending = this.inFlight.get(m.id);
    if (pending) await pending.catch(() => undefined);
    if (this.seen.has(m.source, m.epoch, m.seq)) {
      this.stats.duplicates += 1;
      this.metrics?.duplicate(m.source);
      return { kind: 'duplicate', id: m.id };
    }
    const record: StoredRecord = { id: m.id, source: m.source, level: m.level, epoch: m.epoch, seq: m.seq, timestamp: m.timestamp, receivedAt: receivedAt.toISOString(), type: m.type, data: m.data };
    const write = new Promise<void>((resolve, reject) => {
      this.resequencer.push(`${m.source}:${m.epoch}`, m.seq, () => this.sink.write(record, parent).then(resolve, reject));
    });
    this.inFlight.set(m.id, write);
    try {
      await write;
    } catch (err) {
      // A store refused this record itself: retrying cannot help, so it is dead-lettered.
      if (err instanceof RejectedRecordError) return this.reject(err.message, message, receivedAt);
      throw err;
    } finally {
      this.inFlight.delete(m.id);
    }
    this.seen.add(m.source, m.epoch, m.seq);
    this.stats.stored += 1;
    this.metrics?.endToEndLag(m.source, Date.now() - Date.parse(m.timestamp));
    return { kind: 'stored', id: m.id };
  }
}
