// The gateway's decision for each delivered message: store it once, skip a duplicate, or send
// it to the dead-letter topic with the reason. Acknowledge only after the sink has it.
import { parseTelemetry } from '../../shared/src/envelope.js';
import { SeenMessages } from './dedupe.js';
import type { FileSink, StoredRecord } from './file-sink.js';

export type Outcome = { kind: 'stored'; id: string } | { kind: 'duplicate'; id: string } | { kind: 'dead-letter'; reason: string };

export interface GatewayStats {
  received: number;
  stored: number;
  duplicates: number;
  deadLettered: number;
}

export class Router {
  readonly stats: GatewayStats = { received: 0, stored: 0, duplicates: 0, deadLettered: 0 };
  private readonly seen = new SeenMessages();
  /** Ids being written right now: a redelivery racing its original must not be written twice. */
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly sink: FileSink,
    private readonly deadLetter: (payload: { reason: string; message: unknown; receivedAt: string }) => Promise<void>,
  ) {}

  /** Loads what the sink already holds, so a restart does not store anything twice. */
  remember(existing: StoredRecord[]): void {
    for (const r of existing) this.seen.add(r.source, r.epoch, r.seq);
  }

  async handle(message: unknown, receivedAt: Date = new Date()): Promise<Outcome> {
    this.stats.received += 1;
    const parsed = parseTelemetry(message);
    if (!parsed.ok) {
      await this.deadLetter({ reason: parsed.reason, message, receivedAt: receivedAt.toISOString() });
      this.stats.deadLettered += 1;
      return { kind: 'dead-letter', reason: parsed.reason };
    }
    const m = parsed.value;
    const pending = this.inFlight.get(m.id);
    if (pending) await pending;
    if (this.seen.has(m.source, m.epoch, m.seq)) {
      this.stats.duplicates += 1;
      return { kind: 'duplicate', id: m.id };
    }
    const write = this.sink.write({ id: m.id, source: m.source, level: m.level, epoch: m.epoch, seq: m.seq, timestamp: m.timestamp, receivedAt: receivedAt.toISOString(), type: m.type, data: m.data });
    this.inFlight.set(m.id, write);
    try {
      await write;
    } finally {
      this.inFlight.delete(m.id);
    }
    this.seen.add(m.source, m.epoch, m.seq);
    this.stats.stored += 1;
    return { kind: 'stored', id: m.id };
  }
}
