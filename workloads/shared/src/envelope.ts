// The data contract: every telemetry message names its source and level, carries a per-source
// monotonically increasing sequence number and a timestamp, so loss, duplication and latency
// can be measured anywhere downstream.
export interface TelemetryMessage<T = unknown> {
  /** `${source}:${epoch}:${seq}`: unique, and the de-duplication key. */
  id: string;
  source: string;
  level: string;
  /** Producer start time (ms): (epoch, seq) stays monotonic across producer restarts. */
  epoch: number;
  seq: number;
  timestamp: string;
  type: string;
  data: T;
  /**
   * W3C trace context of the producer's span, when telemetry is on. In the payload because the
   * messages travel raw over MQTT 3.1.1, which has no headers: nothing else crosses the bridges.
   */
  traceparent?: string;
}

export function messageId(source: string, epoch: number, seq: number): string {
  return `${source}:${epoch}:${seq}`;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const MAX_MESSAGE_BYTES = 256 * 1024;

/** Validates an incoming message; the reason says exactly which field is wrong. */
export function parseTelemetry(input: unknown): Parsed<TelemetryMessage> {
  let value = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    const text = input.toString();
    if (text.length > MAX_MESSAGE_BYTES) return { ok: false, reason: `message is ${text.length} bytes, over the ${MAX_MESSAGE_BYTES}-byte limit` };
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { ok: false, reason: `not JSON: ${(err as Error).message}` };
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'message must be a JSON object' };
  const m = value as Record<string, unknown>;
  const missing: string[] = [];
  if (typeof m.source !== 'string' || m.source === '') missing.push('source (non-empty string)');
  if (typeof m.level !== 'string' || m.level === '') missing.push('level (non-empty string)');
  if (!Number.isSafeInteger(m.epoch)) missing.push('epoch (integer)');
  if (!Number.isSafeInteger(m.seq) || (m.seq as number) < 1) missing.push('seq (integer >= 1)');
  if (typeof m.timestamp !== 'string' || Number.isNaN(Date.parse(m.timestamp))) missing.push('timestamp (ISO 8601)');
  if (typeof m.type !== 'string') missing.push('type (string)');
  if (!('data' in m)) missing.push('data');
  if (missing.length > 0) return { ok: false, reason: `invalid or missing field(s): ${missing.join(', ')}` };
  const expectedId = messageId(m.source as string, m.epoch as number, m.seq as number);
  if (m.id !== expectedId) return { ok: false, reason: `id must be "${expectedId}" (source:epoch:seq), got ${JSON.stringify(m.id)}` };
  return { ok: true, value: m as unknown as TelemetryMessage };
}

/** Produces messages for one source with a monotonic sequence. */
export class Sequencer {
  private seq = 0;
  readonly epoch: number;
  constructor(
    readonly source: string,
    readonly level: string,
    epoch: number = Date.now(),
  ) {
    this.epoch = epoch;
  }

  next<T>(type: string, data: T, now: Date = new Date()): TelemetryMessage<T> {
    this.seq += 1;
    return { id: messageId(this.source, this.epoch, this.seq), source: this.source, level: this.level, epoch: this.epoch, seq: this.seq, timestamp: now.toISOString(), type, data };
  }

  get last(): number {
    return this.seq;
  }
}

/** The `traceparent` a message carries (parsed JSON, or its text), without parsing it whole twice. */
export function traceparentInMessage(input: unknown): string | undefined {
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    const m = /"traceparent"\s*:\s*"([0-9a-f-]{55,})"/.exec(input.toString());
    return m?.[1];
  }
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const tp = (input as { traceparent?: unknown }).traceparent;
    return typeof tp === 'string' ? tp : undefined;
  }
  return undefined;
}
