// A circuit breaker for one sink written in-process (the PostgreSQL driver, the file): after
// `failureThreshold` consecutive failed writes it opens, and no write is tried for `openMs`; then
// ONE probe write is let through (half-open): success closes the circuit, failure opens it again.
// It only decides WHEN to try: the records it keeps from the store stay queued in the batcher,
// their deliveries unacknowledged (held in the broker session), never dropped. The Event Hubs
// sink goes through a Dapr binding, whose sidecar has the same policy (src/config/dapr.ts).
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  failureThreshold: number;
  openMs: number;
}

export type Permit = { ok: true } | { ok: false; retryInMs: number };

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private openedAt = 0;
  private probing = false;
  /** Times the circuit opened. */
  opens = 0;

  constructor(
    private readonly opts: BreakerOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.opts.openMs) this.current = 'half-open';
    return this.current;
  }

  /** May a write be tried now? In half-open, only one probe at a time. */
  permit(): Permit {
    const state = this.state;
    if (state === 'closed') return { ok: true };
    if (state === 'half-open' && !this.probing) {
      this.probing = true;
      return { ok: true };
    }
    const left = state === 'open' ? this.openedAt + this.opts.openMs - this.now() : this.opts.openMs;
    return { ok: false, retryInMs: Math.max(1, left) };
  }

  succeeded(): void {
    this.current = 'closed';
    this.consecutiveFailures = 0;
    this.probing = false;
  }

  /** Returns true when this failure opened the circuit. */
  failed(): boolean {
    this.consecutiveFailures += 1;
    const wasProbe = this.probing;
    this.probing = false;
    if (wasProbe || (this.current === 'closed' && this.consecutiveFailures >= this.opts.failureThreshold)) {
      this.current = 'open';
      this.openedAt = this.now();
      this.opens += 1;
      return true;
    }
    return false;
  }
}
