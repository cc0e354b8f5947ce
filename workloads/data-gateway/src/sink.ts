// What every store behind the gateway implements. `write` must be idempotent by record id (a
// redelivered message may be written again after a crash) and must keep the order of `batch`.
import type { StoredRecord } from './file-sink.js';

export interface Sink {
  readonly name: string;
  /** Connects and creates what is missing (schema, file). May be retried. */
  open(): Promise<void>;
  write(batch: readonly StoredRecord[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * A store refused a record for what it is (not because the store is down): retrying cannot help,
 * so the record is dead-lettered instead of holding the pipeline forever.
 */
export class RejectedRecordError extends Error {
  constructor(
    readonly sink: string,
    message: string,
  ) {
    super(`${sink} rejected the record: ${message}`);
    this.name = 'RejectedRecordError';
  }
}
