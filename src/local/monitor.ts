// Per-level live figures from each broker's $SYS topics: publish rates in and out, messages
// held in the store, messages dropped by queue bounds, and the state of the bridge upward.
import mqtt, { type MqttClient } from 'mqtt';

export interface LevelFigures {
  level: string;
  receivedTotal: number;
  sentTotal: number;
  droppedTotal: number;
  stored: number;
  bridgeUp: boolean | null;
  inPerS: number;
  outPerS: number;
}

export interface BrokerEndpoint {
  level: string;
  host: string;
  port: number;
  username: string;
  password: string;
}

const TOPICS = ['$SYS/broker/publish/messages/received', '$SYS/broker/publish/messages/sent', '$SYS/broker/publish/messages/dropped', '$SYS/broker/store/messages/count', '$SYS/broker/connection/+/state'];

export class BrokerMonitor {
  private readonly clients: MqttClient[] = [];
  private readonly figures = new Map<string, LevelFigures>();
  private readonly previous = new Map<string, { at: number; received: number; sent: number }>();

  start(endpoints: BrokerEndpoint[]): void {
    for (const ep of endpoints) {
      this.figures.set(ep.level, { level: ep.level, receivedTotal: 0, sentTotal: 0, droppedTotal: 0, stored: 0, bridgeUp: null, inPerS: 0, outPerS: 0 });
      const client = mqtt.connect({ host: ep.host, port: ep.port, username: ep.username, password: ep.password, clientId: `edge-monitor-${ep.level}-${process.pid}`, clean: true, reconnectPeriod: 1000, connectTimeout: 5000 });
      client.on('connect', () => client.subscribe(TOPICS, { qos: 0 }));
      client.on('error', () => undefined); // reconnects by itself; the live line shows stale figures meanwhile
      client.on('message', (topic, payload) => this.onMessage(ep.level, topic, payload.toString()));
      this.clients.push(client);
    }
  }

  private onMessage(level: string, topic: string, value: string): void {
    const f = this.figures.get(level);
    if (!f) return;
    const n = Number(value);
    if (topic.endsWith('/publish/messages/received')) f.receivedTotal = n;
    else if (topic.endsWith('/publish/messages/sent')) f.sentTotal = n;
    else if (topic.endsWith('/publish/messages/dropped')) f.droppedTotal = n;
    else if (topic.endsWith('/store/messages/count')) f.stored = n;
    else if (topic.endsWith('/state')) f.bridgeUp = value === '1';
    const now = Date.now();
    const prev = this.previous.get(level);
    if (!prev) this.previous.set(level, { at: now, received: f.receivedTotal, sent: f.sentTotal });
    else if (now - prev.at >= 900) {
      const dt = (now - prev.at) / 1000;
      f.inPerS = Math.max(0, (f.receivedTotal - prev.received) / dt);
      f.outPerS = Math.max(0, (f.sentTotal - prev.sent) / dt);
      this.previous.set(level, { at: now, received: f.receivedTotal, sent: f.sentTotal });
    }
  }

  snapshot(): LevelFigures[] {
    return [...this.figures.values()].map((f) => ({ ...f }));
  }

  line(): string {
    return this.snapshot()
      .map((f) => `${f.level}: in ${f.inPerS.toFixed(0)}/s out ${f.outPerS.toFixed(0)}/s held ${f.stored}${f.droppedTotal ? ` DROPPED ${f.droppedTotal}` : ''}${f.bridgeUp === null ? '' : f.bridgeUp ? ' ↑up' : ' ↑DOWN'}`)
      .join(' | ');
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.endAsync(true)));
  }
}
