// The gateway's answer to each delivery from its sidecar. It is SUCCESS once the message is
// handled, or nothing at all: never RETRY. Dapr's mqtt3 component leaves a message it was told
// to retry un-acknowledged in the MQTT session, and once the broker's in-flight window (20 by
// default) is full of those, nothing more is delivered. So a delivery that cannot be handled yet
// is HELD: its answer waits (the message stays in the session, nothing is lost) while the work is
// tried again with backoff. At shutdown, what cannot finish stays unanswered: the process exits,
// daprd sees the connection close, and the broker delivers the message again when the sidecar's
// session reconnects (the runner bounces it after a gateway restart; see LocalEdge.releaseSession).
// (The SDK answers SUCCESS when a handler throws: a handler that throws would lose the message,
// so `deliver` never throws either.)
import type { SpanContext } from '@opentelemetry/api';
import type { Logger } from '../../shared/src/log.js';

export interface HoldOptions {
  retryInitialMs?: number;
  retryMaxMs: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A promise that never settles: the delivery it answers stays open until the process exits. */
const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

export interface DeliveryStats {
  /** Attempts that failed and were tried again (held meanwhile). */
  retried: number;
  /** Deliveries left unanswered at shutdown (not acknowledged: the broker delivers them again). */
  unanswered: number;
}

export class DeliveryGate<T> {
  readonly stats: DeliveryStats = { retried: 0, unanswered: 0 };
  private stopping = false;

  constructor(
    private readonly handle: (data: unknown, parent?: SpanContext) => Promise<T>,
    private readonly log: Logger,
    private readonly opts: HoldOptions,
  ) {}

  get isStopping(): boolean {
    return this.stopping;
  }

  /** From now on, deliveries that cannot finish are held unanswered. */
  stop(): void {
    this.stopping = true;
  }

  /** Resolves with the outcome once handled; never rejects; at shutdown may never settle. */
  /** `parent`: the span handling the delivery, handed to `handle`. */
  async deliver(data: unknown, parent?: SpanContext): Promise<T> {
    if (this.stopping) return this.leaveUnanswered('arrived during shutdown');
    let delay = this.opts.retryInitialMs ?? 100;
    for (;;) {
      try {
        return await this.handle(data, parent);
      } catch (err) {
        if (this.stopping) return this.leaveUnanswered(String(err));
        this.stats.retried += 1;
        this.log.error('message not handled yet: holding it (no RETRY) and trying again', { error: String(err), retryInMs: delay });
        await (this.opts.sleep ?? defaultSleep)(delay);
        delay = Math.min(delay * 2, this.opts.retryMaxMs);
      }
    }
  }

  private leaveUnanswered(reason: string): Promise<T> {
    this.stats.unanswered += 1;
    this.log.warn('delivery left unanswered at shutdown: not acknowledged, the broker delivers it again after the sidecar reconnects', { reason, unanswered: this.stats.unanswered });
    return never<T>();
  }
}

/**
 * Runs `task` until it succeeds, with backoff (e.g. publishing to the dead-letter topic while the
 * broker is away): the delivery that needs it stays held meanwhile. Gives up only when
 * `stopping()` says the process is shutting down, by throwing the last error.
 */
export async function holdUntilDone<T>(task: () => Promise<T>, what: string, log: Logger, stopping: () => boolean, opts: HoldOptions): Promise<T> {
  let delay = opts.retryInitialMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (err) {
      if (stopping()) throw err;
      if (attempt === 1 || attempt % 10 === 0) log.warn(`${what} failed; holding the delivery and retrying`, { attempt, error: String(err) });
      await (opts.sleep ?? defaultSleep)(delay);
      delay = Math.min(delay * 2, opts.retryMaxMs);
    }
  }
}
