// The cloud store: Azure Event Hubs behind the gateway's own Dapr sidecar, through a
// `bindings.azure.eventhubs` output binding (no Azure code here). One `create` per message with
// metadata partitionKey = source, so the hub keeps each source's messages in one partition, in
// order: within a batch, a source's messages are sent one after another, sources in parallel.
// The envelope goes as the JSON object in `data`: daprd marshals it once, so the event body is
// the envelope's JSON (sending a JSON *string* would arrive double-encoded).
//
// Event Hubs has no insert-if-absent: delivery to the hub is at least once (a retry after a lost
// response repeats an event); the envelope's `id` lets consumers drop repeats. Within one
// process, ids already sent are remembered, so a retried batch skips what already went.
import type { StoredRecord } from './file-sink.js';
import { RejectedRecordError, type Sink } from './sink.js';
import { sidecarRequest } from '../../shared/src/sidecar-http.js';

export interface EventHubsSinkOptions {
  daprHost: string;
  daprHttpPort: number;
  /** The Dapr output binding's component name. */
  bindingName: string;
  timeoutMs?: number;
  /** How many sent ids to remember against retries. */
  remember?: number;
}

export interface BindingRequest {
  operation: 'create';
  data: StoredRecord;
  metadata: { partitionKey: string; contentType: 'application/json' };
}

/** The exact call the gateway makes to its sidecar for one record. */
export function bindingRequest(opts: Pick<EventHubsSinkOptions, 'daprHost' | 'daprHttpPort' | 'bindingName'>, record: StoredRecord): { url: string; body: BindingRequest } {
  return {
    url: `http://${opts.daprHost}:${opts.daprHttpPort}/v1.0/bindings/${encodeURIComponent(opts.bindingName)}`,
    body: { operation: 'create', data: record, metadata: { partitionKey: record.source, contentType: 'application/json' } },
  };
}

/** Splits a batch into per-source runs, keeping each source's order. */
export function groupBySource(records: readonly StoredRecord[]): StoredRecord[][] {
  const groups = new Map<string, StoredRecord[]>();
  for (const r of records) {
    let g = groups.get(r.source);
    if (!g) groups.set(r.source, (g = []));
    g.push(r);
  }
  return [...groups.values()];
}

export class EventHubsSink implements Sink {
  readonly name = 'eventhubs';
  private readonly sentIds = new Set<string>();
  sent = 0;

  constructor(private readonly opts: EventHubsSinkOptions) {}

  async open(): Promise<void> {
    // The sidecar loads the binding at start; nothing to prepare here.
  }

  async write(batch: readonly StoredRecord[]): Promise<void> {
    const fresh = batch.filter((r) => !this.sentIds.has(r.id));
    await Promise.all(
      groupBySource(fresh).map(async (group) => {
        for (const record of group) await this.send(record);
      }),
    );
  }

  private async send(record: StoredRecord): Promise<void> {
    const { url, body } = bindingRequest(this.opts, record);
    const res = await sidecarRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), timeoutMs: this.opts.timeoutMs ?? 30_000 });
    const text = res.text;
    if (res.ok) {
      this.remember(record.id);
      return;
    }
    // Only a request daprd cannot read is the record's fault; everything else (binding missing,
    // Azure unreachable, throttled) is retried while the acknowledgement is held.
    if (res.status === 400 && /ERR_MALFORMED_REQUEST/.test(text)) throw new RejectedRecordError(this.name, text.slice(0, 500));
    throw new Error(`event hubs binding via Dapr answered ${res.status}: ${text.slice(0, 500)}`);
  }

  private remember(id: string): void {
    this.sent += 1;
    this.sentIds.add(id);
    if (this.sentIds.size > (this.opts.remember ?? 10_000)) this.sentIds.delete(this.sentIds.values().next().value as string);
  }

  async close(): Promise<void> {}
}
