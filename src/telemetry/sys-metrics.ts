// Mosquitto's $SYS figures as the broker metrics of the edge (a contract shared with `edge status`
// and the workloads' instrumentation): which topic feeds which metric, and the latest values.
// Pure: the exporter feeds it every $SYS message and reads a snapshot at each export.

/** The broker metric names (OTel instruments of the level's broker exporter). */
export const BROKER_METRICS = {
  clientsConnected: 'edge.broker.clients.connected',
  messagesReceived: 'edge.broker.messages.received',
  messagesSent: 'edge.broker.messages.sent',
  /** Beyond the shared contract: messages the broker dropped (queue full), never silent. */
  messagesDropped: 'edge.broker.messages.dropped',
  storeMessages: 'edge.broker.store.messages',
  /**
   * Beyond the contract: the $SYS messages the broker sent to its exporter (counted in
   * messages.sent too): `edge status` leaves them out of the outgoing rate.
   */
  sysDelivered: 'edge.broker.sys.delivered',
  /**
   * Beyond the contract: the retained $SYS messages among those stored (about fifty, one per
   * $SYS topic): store minus retained is what is queued, 0 on an idle broker.
   */
  retainedMessages: 'edge.broker.retained.messages',
  bridgeUp: 'edge.broker.bridge.up',
} as const;

/**
 * PUBLISH packets only (`publish/messages/*`), not every MQTT packet (`messages/*` counts pings
 * and acks too): the rates an operator reads are telemetry messages.
 */
export const SYS_TOPICS = {
  clientsConnected: '$SYS/broker/clients/connected',
  messagesReceived: '$SYS/broker/publish/messages/received',
  messagesSent: '$SYS/broker/publish/messages/sent',
  messagesDropped: '$SYS/broker/publish/messages/dropped',
  storeMessages: '$SYS/broker/store/messages/count',
} as const;

/**
 * Where the broker announces its bridge's state (1 connected, 0 not), with `notifications true`:
 * `$SYS/broker/connection/<the bridge's remote client id>/state`.
 */
export function bridgeStateTopic(bridgeClientId: string): string {
  return `$SYS/broker/connection/${bridgeClientId}/state`;
}

export type BrokerFigure = keyof typeof SYS_TOPICS;

export interface BrokerSnapshot {
  clientsConnected?: number;
  messagesReceived?: number;
  messagesSent?: number;
  messagesDropped?: number;
  storeMessages?: number;
  retainedMessages?: number;
  /** $SYS messages received by this exporter since it started (not reset with the broker's figures). */
  sysDelivered?: number;
  /** 1 up, 0 down; absent until the broker said (or for the top level, which has no bridge). */
  bridgeUp?: 0 | 1;
}

/**
 * The latest $SYS figures of one broker. Mosquitto keeps every $SYS figure as a retained message
 * in its store (log topics aside), so the distinct $SYS topics seen with a payload are the
 * retained messages counted in store/messages/count: measured here equal on idle brokers.
 */
export class BrokerFigures {
  private figures: BrokerSnapshot = {};
  private readonly retained = new Set<string>();
  private delivered = 0;
  private readonly byTopic = new Map<string, BrokerFigure>(Object.entries(SYS_TOPICS).map(([k, t]) => [t, k as BrokerFigure]));

  /** `bridgeClientId`: the level's bridge (undefined for the top level). */
  constructor(private readonly bridgeClientId?: string) {}

  /** The topics to subscribe to: all of $SYS, to count the retained ones too. */
  topics(): string[] {
    return ['$SYS/#'];
  }

  /** Forgets everything (on a new connection: the broker may have restarted). */
  reset(): void {
    this.figures = {};
    this.retained.clear();
  }

  /** Takes one $SYS message; returns false for a topic or payload it does not map to a figure. */
  update(topic: string, payload: string): boolean {
    this.delivered++;
    if (topic.startsWith('$SYS/') && !topic.startsWith('$SYS/broker/log/')) {
      if (payload === '') this.retained.delete(topic);
      else this.retained.add(topic);
      this.figures.retainedMessages = this.retained.size;
    }
    if (this.bridgeClientId && topic === bridgeStateTopic(this.bridgeClientId)) {
      const state = payload.trim();
      if (state !== '0' && state !== '1') return false;
      this.figures.bridgeUp = state === '1' ? 1 : 0;
      return true;
    }
    const figure = this.byTopic.get(topic);
    const value = Number(payload.trim());
    if (!figure || payload.trim() === '' || !Number.isFinite(value) || value < 0) return false;
    this.figures[figure] = value;
    return true;
  }

  snapshot(): BrokerSnapshot {
    return { ...this.figures, ...(this.delivered ? { sysDelivered: this.delivered } : {}) };
  }
}
