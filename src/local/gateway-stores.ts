// The data stores behind the local target's data gateway, from its `sinks` (and `routes`):
//   file        the JSON-lines file in the gateway's directory (read back by SinkAccounting)
//   postgresql  a throwaway PostgreSQL the runner starts on 127.0.0.1 before the gateway and
//               destroys at the end; the gateway reads its URL (with the password) from a file
//               of mode 0600 (GATEWAY_PG_URL_FILE), never from argv, env values, logs or a
//               generated non-secret file
//   eventhubs   only with EDGE_EVENTHUBS_CONNECTION_STRING set for `edge up` (there is no Azure
//               here): the connection string goes into the gateway's secrets file (0600) and the
//               Dapr binding refers to it through the local secret store
// The summary then checks every readable store: rows in PostgreSQL as well as lines in the file.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { eventHubsBinding, gatewaySinkResiliency } from '../config/dapr.js';
import { writeSecretFile } from '../config/credentials.js';
import { PostgresServer } from '../postgres/server.js';
import type { Workload } from '../topology/model.js';
import { resolveRouting, type SinkKind } from '../../workloads/data-gateway/src/routes.js';
import { PostgresAccounting } from './postgres-accounting.js';
import type { ProducerRun, RunSummary, SinkAccounting } from './summary.js';

export interface GatewayStoresPlan {
  gateway: string;
  sinks: SinkKind[];
  /** The gateway's report (per-sink hold and breaker figures). */
  reportFile: string;
  postgres?: { urlFile: string; table: string };
}

export interface GatewayStoresInput {
  workload: Workload;
  /** The gateway's directory (its secrets file, sink file and logs are there). */
  wdir: string;
  /** The gateway's environment so far (from the topology). */
  env: Record<string, string>;
  /** The app id = secret store scope = the component's scope. */
  appId: string;
  /** True when levels run in network namespaces: the throwaway PostgreSQL cannot follow there yet. */
  isolated: boolean;
  hostEnv?: NodeJS.ProcessEnv;
}

export interface GatewayStoresOutput {
  stores: GatewayStoresPlan;
  /** Added to the gateway's environment (paths and names only, never a secret). */
  env: Record<string, string>;
  /** Added to the gateway's secrets file (mode 0600), read by its sidecar's secret store. */
  secrets: Record<string, string>;
  /** Added to the gateway's Dapr resources. */
  components: Array<Record<string, unknown>>;
}

const EVENTHUBS_SECRET = 'eventhubs-connection-string';
const PG_TABLE = /^[a-z_][a-z0-9_]{0,62}$/;

export function planGatewayStores(input: GatewayStoresInput, secretStore: string): GatewayStoresOutput {
  const routing = resolveRouting({ sinks: input.env.GATEWAY_SINKS, routes: input.env.GATEWAY_ROUTES, topic: input.env.TOPIC ?? 'telemetry', deadLetterTopic: input.env.DEADLETTER_TOPIC ?? 'deadletter' });
  if (routing.problems.length) throw new Error(`data-gateway ${input.workload.name}: ${routing.problems.join('; ')}`);
  const out: GatewayStoresOutput = { stores: { gateway: input.workload.name, sinks: routing.sinks, reportFile: join(input.wdir, 'report.json') }, env: {}, secrets: {}, components: [] };
  if (routing.sinks.includes('postgresql')) {
    if (input.isolated) throw new Error('the postgresql sink runs on the local target only (`edge up`): the throwaway PostgreSQL cannot run inside a level\'s network namespace yet; use sinks: file for --target netns');
    const table = input.env.GATEWAY_PG_TABLE ?? 'telemetry';
    if (!PG_TABLE.test(table)) throw new Error(`data-gateway ${input.workload.name}: pgTable must be a lower-case SQL identifier (got "${table}")`);
    out.stores.postgres = { urlFile: join(input.wdir, 'secrets', 'postgres-url'), table };
    out.env.GATEWAY_PG_URL_FILE = out.stores.postgres.urlFile;
  }
  if (routing.sinks.includes('eventhubs')) {
    const connectionString = (input.hostEnv ?? process.env).EDGE_EVENTHUBS_CONNECTION_STRING;
    if (!connectionString) throw new Error('the eventhubs sink needs Azure, which the local target cannot reach by itself: set EDGE_EVENTHUBS_CONNECTION_STRING (Endpoint=sb://...;EntityPath=<hub>) in the environment of `edge up`, or choose sinks: file,postgresql');
    const bindingName = input.env.GATEWAY_EVENTHUBS_BINDING ?? 'eventhubs';
    out.secrets[EVENTHUBS_SECRET] = connectionString;
    out.components.push(
      eventHubsBinding({ componentName: bindingName, appId: input.appId, connectionStringSecret: { name: EVENTHUBS_SECRET, key: EVENTHUBS_SECRET }, secretStore }),
      gatewaySinkResiliency(input.appId, [bindingName]),
    );
  }
  return out;
}

export interface SinkFigures {
  sent: number;
  delivered: number;
  lost: number;
  duplicates: number;
  out_of_order: number;
}

export type StoresSummary = RunSummary & { sinks: Record<string, SinkFigures | { verified: false; written: number | null; why: string }> };

/** Starts, reads back and stops the stores of a local run. */
export class LocalStores {
  private pg: PostgresServer | undefined;
  private pgAccounting: PostgresAccounting | undefined;

  constructor(
    private readonly plan: GatewayStoresPlan | undefined,
    private readonly file: SinkAccounting,
    private readonly runs: () => ProducerRun[],
    private readonly progress: (msg: string) => void,
  ) {}

  private get sinks(): SinkKind[] {
    return this.plan?.sinks ?? ['file'];
  }

  /** Starts what the gateway needs before it starts. */
  async start(): Promise<void> {
    const want = this.plan?.postgres;
    if (!want || this.pg) return;
    this.progress('starting a throwaway PostgreSQL on 127.0.0.1 for the data gateway');
    const pg = await PostgresServer.create();
    this.pg = pg;
    writeSecretFile(want.urlFile, `${pg.url}\n`);
    this.pgAccounting = new PostgresAccounting(() => pg.client(), want.table, this.runs);
    const c = pg.connection;
    this.progress(`postgresql ready on ${c.host}:${c.port} (database ${c.database}, user ${c.user}, table ${want.table}); the gateway reads its URL from ${want.urlFile} (mode 0600)`);
  }

  /** The server, while it runs (tests query it directly). */
  get postgres(): PostgresServer | undefined {
    return this.pg?.running ? this.pg : undefined;
  }

  async poll(): Promise<void> {
    this.file.poll();
    if (this.pg?.running) await this.pgAccounting?.poll();
  }

  private readable(): Array<[SinkKind, SinkAccounting]> {
    const out: Array<[SinkKind, SinkAccounting]> = [];
    for (const sink of this.sinks) {
      if (sink === 'file') out.push(['file', this.file]);
      if (sink === 'postgresql' && this.pgAccounting) out.push(['postgresql', this.pgAccounting.tally]);
    }
    return out;
  }

  /** Acknowledged messages missing from at least one readable store. */
  missing(): number {
    return Math.max(0, ...this.readable().map(([, a]) => a.missing()));
  }

  /**
   * The run's summary: latencies and per-source figures from the first readable store, and the
   * delivery figures of the worst one (`lost` is what some store lacks), with each store's own.
   */
  summary(opcGroups: Record<string, string> = {}): StoresSummary {
    const readable = this.readable();
    const each = readable.map(([name, a]) => [name, a.summary(opcGroups)] as const);
    const primary = each[0]?.[1] ?? this.file.summary(opcGroups);
    const sinks: StoresSummary['sinks'] = {};
    for (const [name, s] of each) sinks[name] = { sent: s.sent, delivered: s.delivered, lost: s.lost, duplicates: s.duplicates, out_of_order: s.out_of_order };
    if (this.sinks.includes('eventhubs')) sinks.eventhubs = { verified: false, written: this.gatewaySinkStats().eventhubs?.written ?? null, why: 'Azure Event Hubs cannot be read back from here: `written` is what the gateway says the binding accepted' };
    const worst = (pick: (s: RunSummary) => number, max = true): number => (each.length ? (max ? Math.max : Math.min)(...each.map(([, s]) => pick(s))) : pick(primary));
    return { ...primary, delivered: worst((s) => s.delivered, false), lost: worst((s) => s.lost), duplicates: worst((s) => s.duplicates), out_of_order: worst((s) => s.out_of_order), sinks };
  }

  /** Per-sink figures from the gateway's own report: outages, hold-bound overflow, breaker. */
  gatewaySinkStats(): Record<string, { written?: number; holdAlarms?: number; heldBeyondBound?: number; longestOutageMs?: number; breakerOpens?: number }> {
    const file = this.plan?.reportFile;
    if (!file || !existsSync(file)) return {};
    try {
      return (JSON.parse(readFileSync(file, 'utf8')) as { sinks?: Record<string, Record<string, number>> }).sinks ?? {};
    } catch {
      return {}; // a report being replaced; the next read gets it
    }
  }

  /** Reads the stores one last time, then stops and removes the throwaway PostgreSQL. */
  async stop(): Promise<void> {
    try {
      await this.poll();
    } catch (err) {
      this.progress(`could not read the postgresql sink back: ${(err as Error).message}`);
    }
    await this.pgAccounting?.close();
    const pg = this.pg;
    this.pg = undefined;
    if (pg) {
      await pg.destroy();
      this.progress('throwaway postgresql stopped and removed');
    }
    if (this.plan?.postgres) rmSync(this.plan.postgres.urlFile, { force: true });
  }
}

/** What the end of `edge up` says about the stores: per-sink losses, holds beyond the bound. */
export function storeWarnings(summary: StoresSummary, gatewaySinks: ReturnType<LocalStores['gatewaySinkStats']>): string[] {
  const lines: string[] = [];
  for (const [name, s] of Object.entries(summary.sinks)) {
    if ('verified' in s) lines.push(`${name}: not verified here (${s.why}); written ${s.written ?? 'unknown'}`);
    else lines.push(`${name}: ${s.delivered} of ${s.sent} stored, ${s.lost} lost, ${s.duplicates} duplicates, ${s.out_of_order} out of per-source order`);
  }
  for (const [name, g] of Object.entries(gatewaySinks)) {
    if (g.holdAlarms || g.heldBeyondBound) {
      lines.push(`WARNING ${name} was down beyond the gateway's hold bound ${g.holdAlarms ?? 0} time(s) (longest ${((g.longestOutageMs ?? 0) / 1000).toFixed(1)} s); ${g.heldBeyondBound ?? 0} message(s) waited longer than the bound (stored late, not lost); circuit opened ${g.breakerOpens ?? 0} time(s)`);
    }
  }
  return lines;
}
