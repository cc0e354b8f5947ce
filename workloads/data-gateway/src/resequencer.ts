// Puts each producer run's messages back in seq order. Dapr's mqtt3 component hands messages to
// the app concurrently, so they arrive shuffled within a small window; a message that arrives
// ahead of its predecessors waits (at most `holdMs`) for them. When a gap does not fill in time
// the gap is skipped (counted) and what waits behind it is released in seq order; a straggler
// arriving after that is released at once (counted as late).
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

  constructor(
    private readonly holdMs: number,
    private readonly release: (item: T) => void,
    /** Waiting messages per run beyond which the oldest gap is skipped without waiting out the hold. */
    private readonly maxWaiting = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

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

  /** One timer per run, due when the oldest waiting message has waited `holdMs`. */
  private arm(run: Run<T>): void {
    if (run.timer) clearTimeout(run.timer);
    run.timer = undefined;
    if (run.waiting.size === 0) return;
    let oldest = Infinity;
    for (const w of run.waiting.values()) oldest = Math.min(oldest, w.at);
    run.timer = setTimeout(() => this.expire(run), Math.max(0, oldest + this.holdMs - this.now()));
  }

  private expire(run: Run<T>): void {
    run.timer = undefined;
    const now = this.now();
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
