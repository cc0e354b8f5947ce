// Puts each producer run's messages back in seq order. Dapr's mqtt3 component hands messages to
// the app concurrently, so they arrive shuffled within a small window; a message that arrives
// ahead of its predecessors waits (at most `holdMs`) for them. When a gap does not fill in time
// the gap is skipped (counted) and what waits behind it is released in seq order; a straggler
// arriving after that is released at once (counted as late).
// A waiting message is an unanswered delivery, and the broker hands the gateway's sidecar only
// so many of those at once (max_inflight_messages). When nothing arrives and nothing else is
// being written while messages wait, the broker's window is full of the waiting deliveries: it
// cannot send the missing predecessor until some are answered. Waiting out the whole hold would
// only stop the flow (measured: at 4,000 msg/s, pauses of 2 s each that built a 15 s backlog),
// so after `quietMs` like that the waiting runs are released. (While writes are in progress,
// e.g. a slow fsync, their answers will free the window: then the hold still applies.)
// While a store is down the window fills with deliveries held for it, so a predecessor cannot
// arrive either: the hold does not run out then (`paused`), it starts again once the store is back.
export interface ResequencerStats {
  /** Released without skipping anything (possibly after a short wait). */
  inOrder: number;
  /** Released after a gap before them was given up. */
  afterGap: number;
  /** Seqs skipped over when a hold expired. */
  gaps: number;
  /** Arrived after their place was given up. */
  late: number;
}

interface Waiting<T> {
  item: T;
  at: number;
}

interface Run<T> {
  /** The seq expected next; undefined until known (a run first seen mid-way). */
  next: number | undefined;
  waiting: Map<number, Waiting<T>>;
  timer: NodeJS.Timeout | undefined;
}

export class Resequencer<T> {
  readonly stats: ResequencerStats = { inOrder: 0, afterGap: 0, gaps: 0, late: 0 };
  private readonly runs = new Map<string, Run<T>>();

  private lastArrival = -Infinity;
  private readonly maxWaiting: number;
  private readonly quietMs: number;
  private readonly busy: () => boolean;
  private readonly paused: () => boolean;
  private readonly now: () => number;

  constructor(
    private readonly holdMs: number,
    private readonly release: (item: T) => void,
    options: {
      /** Waiting messages per run beyond which the oldest gap is skipped without waiting out the hold. */
      maxWaiting?: number;
      /** No arrival for this long, and not `busy`, while messages wait: their gaps are skipped (0: only the hold counts). */
      quietMs?: number;
      /** Deliveries other than the waiting ones are being handled (their answers let the broker send more). */
      busy?: () => boolean;
      /** A store is down: nothing moves, so no hold runs out. */
      paused?: () => boolean;
      now?: () => number;
    } = {},
  ) {
    this.maxWaiting = options.maxWaiting ?? 10_000;
    this.quietMs = options.quietMs ?? 0;
    this.busy = options.busy ?? (() => false);
    this.paused = options.paused ?? (() => false);
    this.now = options.now ?? Date.now;
  }

  /** Tells the resequencer where a run stands (e.g. what a store already holds). */
  expect(key: string, nextSeq: number): void {
    const run = this.run(key);
    if (run.next === undefined || run.next < nextSeq) run.next = nextSeq;
    this.drain(run);
  }

  push(key: string, seq: number, item: T): void {
    if (this.holdMs <= 0) {
      this.stats.inOrder += 1;
      this.release(item);
      return;
    }
    this.lastArrival = this.now();
    const run = this.run(key);
    if (run.next === undefined && seq === 1) run.next = 1;
    if (run.next !== undefined && seq < run.next) {
      this.stats.late += 1;
      this.release(item);
      return;
    }
    run.waiting.set(seq, { item, at: this.now() });
    this.drain(run);
    while (run.waiting.size >= this.maxWaiting) this.skipGap(run);
    this.arm(run);
  }

  /** Messages waiting for a predecessor right now. */
  get waiting(): number {
    let n = 0;
    for (const run of this.runs.values()) n += run.waiting.size;
    return n;
  }

  /** Releases everything waiting, in seq order (shutdown). */
  flush(): void {
    for (const run of this.runs.values()) {
      while (run.waiting.size > 0) this.skipGap(run);
      this.arm(run);
    }
  }

  private run(key: string): Run<T> {
    let run = this.runs.get(key);
    if (!run) {
      run = { next: undefined, waiting: new Map(), timer: undefined };
      this.runs.set(key, run);
    }
    return run;
  }

  private drain(run: Run<T>, afterGap = false): void {
    if (run.next === undefined) return;
    for (let w = run.waiting.get(run.next); w !== undefined; w = run.waiting.get(run.next)) {
      run.waiting.delete(run.next);
      run.next += 1;
      if (afterGap) this.stats.afterGap += 1;
      else this.stats.inOrder += 1;
      this.release(w.item);
    }
  }

  /** Gives up on the seqs before the lowest waiting one and releases from there. */
  private skipGap(run: Run<T>): void {
    let lowest = Infinity;
    for (const seq of run.waiting.keys()) lowest = Math.min(lowest, seq);
    if (lowest === Infinity) return;
    // A run first seen mid-way has no known predecessor: its lowest seq is its start, not a gap.
    if (run.next !== undefined) this.stats.gaps += lowest - run.next;
    run.next = lowest;
    this.drain(run, true);
  }

  /** One timer per run, due when the oldest waiting message has waited `holdMs` (or arrivals went quiet). */
  private arm(run: Run<T>): void {
    if (run.timer) clearTimeout(run.timer);
    run.timer = undefined;
    if (run.waiting.size === 0) return;
    let due = Infinity;
    for (const w of run.waiting.values()) due = Math.min(due, w.at + this.holdMs);
    if (this.quietMs > 0) due = Math.min(due, this.lastArrival + this.quietMs);
    run.timer = setTimeout(() => this.expire(run), Math.max(0, due - this.now()));
  }

  private expire(run: Run<T>): void {
    run.timer = undefined;
    const now = this.now();
    if (this.paused()) {
      // Every waiting message gets its full hold again once the store is back.
      for (const w of run.waiting.values()) w.at = now;
      this.lastArrival = now;
      this.arm(run);
      return;
    }
    if (this.quietMs > 0 && now - this.lastArrival >= this.quietMs) {
      if (!this.busy()) {
        while (run.waiting.size > 0) this.skipGap(run);
        return;
      }
      this.lastArrival = now; // look again in quietMs
    }
    // Skip gaps while some waiting message is overdue: everything below it can wait no longer.
    for (;;) {
      let overdue = false;
      for (const w of run.waiting.values()) if (now - w.at >= this.holdMs) overdue = true;
      if (!overdue) break;
      this.skipGap(run);
    }
    this.arm(run);
  }
}
