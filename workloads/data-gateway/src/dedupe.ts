// Remembers which (source, epoch, seq) were already stored, in memory bounded by the disorder:
// per producer run, the highest contiguous seq plus the few seen beyond it.
export class SeenMessages {
  private readonly runs = new Map<string, { contiguous: number; beyond: Set<number> }>();

  private run(source: string, epoch: number): { contiguous: number; beyond: Set<number> } {
    const key = `${source}:${epoch}`;
    let run = this.runs.get(key);
    if (!run) {
      run = { contiguous: 0, beyond: new Set() };
      this.runs.set(key, run);
    }
    return run;
  }

  has(source: string, epoch: number, seq: number): boolean {
    const run = this.run(source, epoch);
    return seq <= run.contiguous || run.beyond.has(seq);
  }

  /** Returns false when it was already there. */
  add(source: string, epoch: number, seq: number): boolean {
    const run = this.run(source, epoch);
    if (seq <= run.contiguous || run.beyond.has(seq)) return false;
    run.beyond.add(seq);
    while (run.beyond.delete(run.contiguous + 1)) run.contiguous += 1;
    return true;
  }
}
