// Gathers the messages a producer has in flight into Dapr bulk publish requests
// (POST /v1.0-alpha1/publish/bulk/...): one HTTP request per batch instead of one per message.
// At a few thousand messages per second the per-request cost (HTTP parsing in Node and in
// daprd) was most of the pipeline's CPU: measured at 3,000 msg/s on 2 cores, the four sensors
// and their sidecars took 121 % of the 196 % in use. daprd still publishes every entry to the
// broker on its own at QoS 1 and reports the entries that failed, so each message keeps its own
// outcome; the caller retries a failed one exactly as it retries a failed single publish.
// One request is out at a time, and batches form by themselves: while it is out, new messages
// wait for the next one, so a quiet producer still sends each message at once. Never two at
// once: daprd would publish them side by side, and at 4,000 msg/s that shuffled messages across
// requests further than the gateway's resequencer could put back.
import { sidecarRequest } from './sidecar-http.js';

export interface BulkLimits {
  /** Entries per request. */
  maxMessages: number;
  /** Bytes of events per request (daprd refuses bodies above its --max-body-size, 4 MiB by default). */
  maxBytes: number;
  timeoutMs: number;
}

interface Entry {
  event: string;
  done: (error: Error | undefined) => void;
}

/** Entries daprd names as failed; undefined when the answer does not say (then all failed). */
export function failedEntryIds(status: number, text: string): Map<string, string> | undefined {
  if (status !== 500) return undefined;
  try {
    const body = JSON.parse(text) as { failedEntries?: Array<{ entryId?: unknown; error?: unknown }> };
    if (!Array.isArray(body.failedEntries) || body.failedEntries.length === 0) return undefined;
    return new Map(body.failedEntries.map((f) => [String(f.entryId), String(f.error ?? 'failed')]));
  } catch {
    return undefined;
  }
}

export class BulkPublisher {
  private readonly waiting: Entry[] = [];
  private sending = false;

  /** `url`: the bulk endpoint with its query (e.g. metadata.rawPayload=true). */
  constructor(private readonly url: string, private readonly limits: BulkLimits) {}

  /** Resolves with undefined once daprd has the broker's acknowledgement, else with what went wrong. */
  send(event: string): Promise<Error | undefined> {
    return new Promise((done) => {
      this.waiting.push({ event, done });
      this.pump();
    });
  }

  private pump(): void {
    if (this.sending || this.waiting.length === 0) return;
    this.sending = true;
    void this.post(this.takeBatch()).finally(() => {
      this.sending = false;
      this.pump();
    });
  }

  /** The oldest waiting entries within the limits; always at least one (an oversized event goes alone). */
  private takeBatch(): Entry[] {
    let bytes = this.waiting[0]!.event.length;
    let n = 1;
    while (n < this.waiting.length && n < this.limits.maxMessages && bytes + this.waiting[n]!.event.length <= this.limits.maxBytes) {
      bytes += this.waiting[n]!.event.length;
      n += 1;
    }
    return this.waiting.splice(0, n);
  }

  private async post(batch: Entry[]): Promise<void> {
    // text/plain: daprd passes the bytes through untouched (with application/json it would
    // re-encode the event, sorting its keys); with rawPayload nothing wraps them either.
    const body = JSON.stringify(batch.map((e, i) => ({ entryId: String(i), event: e.event, contentType: 'text/plain' })));
    let res;
    try {
      res = await sidecarRequest(this.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, timeoutMs: this.limits.timeoutMs });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      for (const e of batch) e.done(error);
      return;
    }
    if (res.ok) {
      for (const e of batch) e.done(undefined);
      return;
    }
    // Only a 500 naming its failed entries says the others were published; anything else
    // counts as all failed (a retry at worst repeats a message, which the gateway de-duplicates).
    const failed = failedEntryIds(res.status, res.text);
    const whole = new Error(`sidecar answered ${res.status}: ${res.text.slice(0, 300)}`);
    batch.forEach((e, i) => {
      if (!failed) return e.done(whole);
      const error = failed.get(String(i));
      e.done(error === undefined ? undefined : new Error(`sidecar could not publish it: ${error.slice(0, 300)}`));
    });
  }
}
