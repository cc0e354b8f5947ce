// Publishes telemetry through the Dapr sidecar. A message counts as sent only once the sidecar
// acknowledged it (Dapr returns after the broker's PUBACK at QoS 1); failures are retried with
// backoff, never dropped, so a broker outage back-pressures the producer instead of losing data.
import { writeFileSync, renameSync } from 'node:fs';
import { CommunicationProtocolEnum, DaprClient, LogLevel } from '@dapr/dapr';
import type { CommonConfig } from './env.js';
import type { TelemetryMessage } from './envelope.js';
import type { Logger } from './log.js';
import { sleep } from './lifecycle.js';

/**
 * Messages travel as the bare JSON envelope, not wrapped in a CloudEvent: smaller on every hop,
 * the same bytes a plain MQTT client sees, and a malformed message still reaches the gateway
 * (which dead-letters it) instead of failing inside the sidecar's CloudEvent parser.
 */
export const RAW_PAYLOAD = { metadata: { rawPayload: 'true' } };

export interface ProducerReport {
  source: string;
  level: string;
  epoch: number;
  /** Messages the sidecar acknowledged: seq 1..acknowledged of this epoch. */
  acknowledged: number;
  failedAttempts: number;
  finishedAt?: string;
}

export class TelemetryPublisher {
  private readonly client: DaprClient;
  private acknowledged = 0;
  private failedAttempts = 0;
  private epoch = 0;
  private stopped = false;

  constructor(
    private readonly config: CommonConfig,
    private readonly log: Logger,
  ) {
    this.client = new DaprClient({
      daprHost: config.daprHost,
      daprPort: String(config.daprHttpPort),
      communicationProtocol: CommunicationProtocolEnum.HTTP,
      logger: { level: LogLevel.Error },
    });
  }

  /** Waits for the sidecar to be ready (it connects to the broker first). */
  async start(): Promise<void> {
    await this.client.start();
  }

  async publish(message: TelemetryMessage): Promise<void> {
    this.epoch = message.epoch;
    for (let attempt = 1; ; attempt++) {
      const { error } = await this.client.pubsub.publish(this.config.pubsubName, this.config.topic, message as unknown as object, RAW_PAYLOAD);
      if (!error) {
        this.acknowledged = Math.max(this.acknowledged, message.seq);
        return;
      }
      this.failedAttempts += 1;
      if (this.stopped && attempt >= 3) throw new Error(`publish of ${message.id} failed while stopping: ${error.message}`);
      const delay = Math.min(5_000, 100 * 2 ** Math.min(attempt, 6));
      this.log.warn('publish failed, retrying', { id: message.id, attempt, delayMs: delay, error: error.message });
      await sleep(delay);
    }
  }

  report(): ProducerReport {
    return { source: this.config.source, level: this.config.levelName, epoch: this.epoch, acknowledged: this.acknowledged, failedAttempts: this.failedAttempts };
  }

  /** Writes the report atomically, so a reader never sees half a file. */
  writeReport(final = false): void {
    if (!this.config.reportFile) return;
    const report = { ...this.report(), ...(final ? { finishedAt: new Date().toISOString() } : {}) };
    const tmp = `${this.config.reportFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(report) + '\n');
    renameSync(tmp, this.config.reportFile);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.writeReport(true);
    await this.client.stop();
  }
}
