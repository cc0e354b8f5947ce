// Collects values into batches: a batch closes when it holds maxSize items, or when its oldest
// item has waited maxAgeMs, or on flush. Time is passed in, so the logic needs no timers to test;
// the pipeline calls due(now) from a timer. Items keep their arrival order within and across
// batches.
export interface BatcherOptions {
  maxSize: number;
  maxAgeMs: number;
}

export class Batcher<T> {
  private items: T[] = [];
  private openedAt = 0;

  constructor(private readonly options: BatcherOptions) {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1) throw new Error(`batch size must be an integer >= 1, got ${options.maxSize}`);
  }

  /** Adds an item; returns the batch if this item filled it. */
  add(item: T, now: number = Date.now()): T[] | undefined {
    if (this.items.length === 0) this.openedAt = now;
    this.items.push(item);
    return this.items.length >= this.options.maxSize ? this.take() : undefined;
  }

  /** Returns the pending batch if its oldest item has waited maxAgeMs or longer. */
  due(now: number = Date.now()): T[] | undefined {
    return this.items.length > 0 && now - this.openedAt >= this.options.maxAgeMs ? this.take() : undefined;
  }

  /** Returns whatever is pending (for shutdown), or undefined when nothing is. */
  flush(): T[] | undefined {
    return this.items.length > 0 ? this.take() : undefined;
  }

  get pending(): number {
    return this.items.length;
  }

  /** When the pending batch becomes due, or undefined when nothing is pending. */
  get dueAt(): number | undefined {
    return this.items.length > 0 ? this.openedAt + this.options.maxAgeMs : undefined;
  }

  private take(): T[] {
    const batch = this.items;
    this.items = [];
    return batch;
  }
}
