// Reads what the OPC UA benchmark put in the sink, value by value. The PLC's counter nodes hold
// their clock's tick number, so a gap in one node's values is a value change that never arrived
// (lost before the sidecar acknowledged anything, where the message accounting cannot see it),
// and the ticks seen give the rate the PLC really produced at.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface MeasurementWindow {
  /** ms since the epoch */
  from: number;
  to: number;
}

export interface OpcSinkFigures {
  /** Every OPC UA value in the sink. */
  values: number;
  /** Values whose SourceTimestamp lies in the window. */
  valuesInWindow: number;
  /** Fast-clock ticks the PLC made in the window (all fast nodes of a tick share its SourceTimestamp), delivered or not. */
  ticksInWindow: number;
  /** Counter nodes seen. */
  counterNodes: number;
  /** Counter values that never arrived between a node's first and last value. */
  missedChanges: number;
  /** Counter values that arrived more than once. */
  duplicateValues: number;
  /** SourceTimestamp -> gateway receipt, per value in the window (not the start-up), ascending. */
  latenciesMs: Float64Array;
}

interface UaField {
  Value?: unknown;
  SourceTimestamp?: string | null;
}

interface UaRecord {
  type?: string;
  receivedAt?: string;
  data?: { Messages?: Array<{ Payload?: Record<string, UaField> }> };
}

/** Counter nodes are named Fast<Type><n> / Slow<Type><n> by the PLC's catalogue; UInt ones count ticks. */
const COUNTER = /^(Fast|Slow)UInt\d+$/;

export async function analyseOpcSink(sinkFile: string, window: MeasurementWindow): Promise<OpcSinkFigures> {
  const ticksByNode = new Map<string, Set<number>>();
  let firstWindowTick = Infinity;
  let lastWindowTick = -Infinity;
  const latencies: number[] = [];
  let values = 0;
  let valuesInWindow = 0;
  let duplicateValues = 0;
  const lines = createInterface({ input: createReadStream(sinkFile, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const record = JSON.parse(line) as UaRecord;
    if (record.type !== 'ua-data') continue;
    const receivedAt = Date.parse(record.receivedAt ?? '');
    for (const dsm of record.data?.Messages ?? []) {
      for (const [name, field] of Object.entries(dsm.Payload ?? {})) {
        values += 1;
        const sourceAt = Date.parse(field.SourceTimestamp ?? '');
        const inWindow = sourceAt >= window.from && sourceAt < window.to;
        if (inWindow) valuesInWindow += 1;
        if (inWindow && Number.isFinite(receivedAt)) latencies.push(receivedAt - sourceAt);
        if (!COUNTER.test(name) || typeof field.Value !== 'number') continue;
        let ticks = ticksByNode.get(name);
        if (!ticks) ticksByNode.set(name, (ticks = new Set()));
        if (ticks.has(field.Value)) duplicateValues += 1;
        ticks.add(field.Value);
        if (inWindow && name.startsWith('Fast')) {
          firstWindowTick = Math.min(firstWindowTick, field.Value);
          lastWindowTick = Math.max(lastWindowTick, field.Value);
        }
      }
    }
  }
  let missedChanges = 0;
  for (const ticks of ticksByNode.values()) {
    let min = Infinity;
    let max = -Infinity;
    for (const t of ticks) {
      if (t < min) min = t;
      if (t > max) max = t;
    }
    missedChanges += max - min + 1 - ticks.size;
  }
  return { values, valuesInWindow, ticksInWindow: lastWindowTick >= firstWindowTick ? lastWindowTick - firstWindowTick + 1 : 0, counterNodes: ticksByNode.size, missedChanges, duplicateValues, latenciesMs: Float64Array.from(latencies).sort() };
}
