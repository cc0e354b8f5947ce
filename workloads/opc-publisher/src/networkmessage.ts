// OPC UA PubSub JSON network messages (Part 14, as OPC Publisher emits them), built from a batch
// of sampled values. The result is a plain JSON object: values stay JSON values, never strings
// of JSON.
import { randomUUID } from 'node:crypto';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface StatusCodeJson {
  Code: number;
  Symbol: string;
}

export interface DataSetField {
  Value: JsonValue;
  SourceTimestamp: string | null;
  StatusCode: StatusCodeJson;
}

export interface DataSetMessage {
  DataSetWriterId: string;
  /** Monotonic per DataSetWriter (group + writer id), starting at 1. */
  SequenceNumber: number;
  Timestamp: string;
  /** Keyed by the nodes' DisplayNames. */
  Payload: Record<string, DataSetField>;
}

export interface NetworkMessage {
  MessageId: string;
  MessageType: 'ua-data';
  PublisherId: string;
  DataSetWriterGroup: string;
  Messages: DataSetMessage[];
}

/** One value change of one node, tagged with where it belongs. */
export interface Sample {
  group: string;
  writerId: string;
  /** The node's DisplayName. */
  name: string;
  field: DataSetField;
}

/** The last SequenceNumber handed out per DataSetWriter. */
export class DataSetSequences {
  private readonly last = new Map<string, number>();

  next(group: string, writerId: string): number {
    const key = JSON.stringify([group, writerId]);
    const n = (this.last.get(key) ?? 0) + 1;
    this.last.set(key, n);
    return n;
  }
}

export interface NetworkMessageContext {
  publisherId: string;
  sequences: DataSetSequences;
  now?: Date;
  messageId?: () => string;
}

/**
 * One network message per DataSetWriterGroup (in order of first appearance), holding one
 * DataSetMessage per DataSetWriter; when a node appears again in the same batch its value opens a
 * further DataSetMessage for that writer, so no value is overwritten and order is kept.
 */
export function toNetworkMessages(samples: readonly Sample[], ctx: NetworkMessageContext): NetworkMessage[] {
  const timestamp = (ctx.now ?? new Date()).toISOString();
  const newId = ctx.messageId ?? randomUUID;
  const groups = new Map<string, Map<string, Array<Record<string, DataSetField>>>>();
  for (const s of samples) {
    let writers = groups.get(s.group);
    if (!writers) groups.set(s.group, (writers = new Map()));
    let payloads = writers.get(s.writerId);
    if (!payloads) writers.set(s.writerId, (payloads = []));
    let open = payloads[payloads.length - 1];
    if (!open || Object.hasOwn(open, s.name)) payloads.push((open = {}));
    // defineProperty, so that even a DisplayName like "__proto__" is just a key
    Object.defineProperty(open, s.name, { value: s.field, enumerable: true, writable: true, configurable: true });
  }
  return [...groups].map(([group, writers]) => ({
    MessageId: newId(),
    MessageType: 'ua-data',
    PublisherId: ctx.publisherId,
    DataSetWriterGroup: group,
    Messages: [...writers].flatMap(([writerId, payloads]) =>
      payloads.map((Payload) => ({ DataSetWriterId: writerId, SequenceNumber: ctx.sequences.next(group, writerId), Timestamp: timestamp, Payload })),
    ),
  }));
}
