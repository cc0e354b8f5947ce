// The data gateway's instruments. Names are read by `edge status`; each counter counts exactly
// what the gateway's own stats count (Router.stats, SinkBatcher.stats.written), so the totals
// can be compared with the end-to-end summary.
import type { EdgeMeter } from '../../shared/src/telemetry.js';

export interface GatewayMetrics {
  /** A delivery from the sidecar, valid or not ('unknown' when it names no source). */
  consumed(source: string): void;
  /** Records a sink now holds (SinkBatcher.stats.written). */
  stored(sink: string, sources: readonly string[]): void;
  deadLettered(reason: string): void;
  duplicate(source: string): void;
  /** A delivery handled (stored, duplicate or dead-lettered), from arrival to answer. */
  handled(ms: number, outcome: string): void;
  /** Stored in every sink of its route, ms after the producer's timestamp. */
  endToEndLag(source: string, ms: number): void;
}

/**
 * A short, bounded category for a dead-letter reason: the reason text names fields and sizes, a
 * metric attribute must not (one series per distinct text would be unbounded).
 */
export function deadLetterCategory(reason: string): string {
  if (reason.startsWith('not JSON')) return 'not-json';
  if (/over the \d+-byte limit/.test(reason)) return 'too-large';
  if (reason.startsWith('message must be a JSON object')) return 'not-an-object';
  if (reason.startsWith('invalid or missing field')) return 'invalid-fields';
  if (reason.startsWith('id must be')) return 'bad-id';
  if (/ rejected the record: /.test(reason)) return 'rejected-by-sink';
  return 'other';
}

/** Milliseconds histograms: sub-millisecond to a 10-minute outage held in a broker. */
const MS_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000];

export function gatewayMetrics(meter: EdgeMeter): GatewayMetrics {
  const consumed = meter.createCounter('edge.messages.consumed', { description: 'Deliveries received from the Dapr sidecar', unit: '{message}' });
  const stored = meter.createCounter('edge.messages.stored', { description: 'Records written to a sink (per sink)', unit: '{message}' });
  const deadLettered = meter.createCounter('edge.messages.deadlettered', { description: 'Messages sent to the dead-letter topic, by reason category', unit: '{message}' });
  const duplicates = meter.createCounter('edge.messages.duplicates', { description: 'Redelivered messages skipped (already stored)', unit: '{message}' });
  const handlerDuration = meter.createHistogram('edge.handler.duration', { description: 'Time to handle one delivery, arrival to answer', unit: 'ms', advice: { explicitBucketBoundaries: MS_BUCKETS } });
  const lag = meter.createHistogram('edge.e2e.lag', { description: 'Store time minus the producer timestamp', unit: 'ms', advice: { explicitBucketBoundaries: MS_BUCKETS } });
  return {
    consumed: (source) => consumed.add(1, { source }),
    stored: (sink, sources) => {
      const bySource = new Map<string, number>();
      for (const s of sources) bySource.set(s, (bySource.get(s) ?? 0) + 1);
      for (const [source, n] of bySource) stored.add(n, { sink, source });
    },
    deadLettered: (reason) => deadLettered.add(1, { reason: deadLetterCategory(reason) }),
    duplicate: (source) => duplicates.add(1, { source }),
    handled: (ms, outcome) => handlerDuration.record(ms, { outcome }),
    endToEndLag: (source, ms) => lag.record(Math.max(0, ms), { source }),
  };
}
