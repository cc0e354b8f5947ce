// End-to-end accounting: what producers say the sidecar acknowledged, against what a sink
// holds. Fed incrementally (the sink can be large), so it can also watch a drain progress: from
// the sink file here, or record by record by another reader (PostgreSQL, postgres-accounting.ts).
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import type { StoredRecord } from '../../workloads/data-gateway/src/file-sink.js';

export interface ProducerRun {
  source: string;
  level: string;
  epoch: number;
  acknowledged: number;
}

export interface SourceSummary {
  level: string;
  sent: number;
  delivered: number;
  lost: number;
  duplicates: number;
  /** Delivered beyond what the producer had acknowledged when it stopped (sent, ack lost). */
  unacknowledgedDelivered: number;
  firstMissing?: number;
}

export interface RunSummary {
  sent: number;
  delivered: number;
  lost: number;
  duplicates: number;
  /** Records stored after a later seq of the same producer run (per-source order broken). */
  out_of_order: number;
  p50_ms: number | null;
  p99_ms: number | null;
  per_source: Record<string, SourceSummary | { values: number; via: string }>;
}

type SinkLine = StoredRecord;

export class SinkAccounting {
  private offset = 0;
  private partial = '';
  // Everything is kept per producer run (`${source}:${epoch}`): a line can be read before its
  // producer's first report says the run exists, and older runs' lines must not count.
  private readonly seqs = new Map<string, Map<number, number>>();
  private readonly latencies = new Map<string, number[]>();
  /** OPC UA values delivered per run and DataSetWriterGroup (the opc-plc they came from). */
  private readonly valuesByGroup = new Map<string, Map<string, number>>();
  /** Highest seq seen so far per run, in sink order, and how often a lower one came after it. */
  private readonly highest = new Map<string, number>();
  private readonly outOfOrder = new Map<string, number>();

  constructor(
    /** The JSON-lines file to read; undefined when the records are fed with `record`. */
    private readonly sinkFile: string | undefined,
    private readonly runs: () => ProducerRun[],
  ) {}

  /** Reads whatever the sink appended since the last call. */
  poll(): void {
    if (this.sinkFile === undefined || !existsSync(this.sinkFile)) return;
    const size = statSync(this.sinkFile).size;
    if (size <= this.offset) return;
    const fd = openSync(this.sinkFile, 'r');
    try {
      const chunk = Buffer.alloc(Math.min(size - this.offset, 64 * 1024 * 1024));
      const n = readSync(fd, chunk, 0, chunk.length, this.offset);
      this.offset += n;
      const text = this.partial + chunk.subarray(0, n).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.record(JSON.parse(line) as SinkLine);
    } finally {
      closeSync(fd);
    }
    if (this.offset < size) this.poll();
  }

  /** Counts one stored record, in the order the sink holds them. */
  record(r: SinkLine): void {
    const key = `${r.source}:${r.epoch}`;
    const highest = this.highest.get(key) ?? 0;
    if (r.seq < highest) this.outOfOrder.set(key, (this.outOfOrder.get(key) ?? 0) + 1);
    else this.highest.set(key, r.seq);
    let m = this.seqs.get(key);
    if (!m) this.seqs.set(key, (m = new Map()));
    m.set(r.seq, (m.get(r.seq) ?? 0) + 1);
    const latency = Date.parse(r.receivedAt) - Date.parse(r.timestamp);
    if (Number.isFinite(latency)) {
      const list = this.latencies.get(key);
      if (list) list.push(latency);
      else this.latencies.set(key, [latency]);
    }
    if (r.type === 'ua-data' && typeof r.data === 'object' && r.data !== null) {
      const nm = r.data as { DataSetWriterGroup?: string; Messages?: Array<{ Payload?: Record<string, unknown> }> };
      const values = (nm.Messages ?? []).reduce((n, dsm) => n + Object.keys(dsm.Payload ?? {}).length, 0);
      const group = nm.DataSetWriterGroup ?? 'unknown';
      let byGroup = this.valuesByGroup.get(key);
      if (!byGroup) this.valuesByGroup.set(key, (byGroup = new Map()));
      byGroup.set(group, (byGroup.get(group) ?? 0) + values);
    }
  }

  /** Acknowledged messages not yet in the sink. */
  missing(): number {
    return this.summary().lost;
  }

  summary(opcGroups: Record<string, string> = {}): RunSummary {
    const perSource: RunSummary['per_source'] = {};
    let sent = 0;
    let delivered = 0;
    let lost = 0;
    let duplicates = 0;
    for (const run of this.runs()) {
      const m = this.seqs.get(`${run.source}:${run.epoch}`) ?? new Map<number, number>();
      let got = 0;
      let firstMissing: number | undefined;
      for (let seq = 1; seq <= run.acknowledged; seq++) {
        if (m.has(seq)) got += 1;
        else firstMissing ??= seq;
      }
      let dups = 0;
      let beyond = 0;
      for (const [seq, count] of m) {
        dups += count - 1;
        if (seq > run.acknowledged) beyond += 1;
      }
      const s: SourceSummary = { level: run.level, sent: run.acknowledged, delivered: got + beyond, lost: run.acknowledged - got, duplicates: dups, unacknowledgedDelivered: beyond, ...(firstMissing ? { firstMissing } : {}) };
      perSource[run.source] = s;
      sent += s.sent;
      delivered += got;
      lost += s.lost;
      duplicates += dups;
    }
    const keys = this.runs().map((r) => `${r.source}:${r.epoch}`);
    for (const key of keys) {
      for (const [group, values] of this.valuesByGroup.get(key) ?? []) {
        const name = opcGroups[group] ?? group;
        const prev = perSource[name];
        perSource[name] = { values: values + (prev && 'values' in prev ? prev.values : 0), via: key.split(':')[0]! };
      }
    }
    const sorted = keys.flatMap((k) => this.latencies.get(k) ?? []).sort((a, b) => a - b);
    const pct = (p: number): number | null => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : null);
    const outOfOrder = keys.reduce((n, k) => n + (this.outOfOrder.get(k) ?? 0), 0);
    return { sent, delivered, lost, duplicates, out_of_order: outOfOrder, p50_ms: pct(50), p99_ms: pct(99), per_source: perSource };
  }
}
