// `edge status`: per level, what its own recent metrics say (broker rates, queue and its trend,
// bridge state, lag, dead letters). Read from each level's metrics file, never recomputed from
// the brokers or the sinks on the side.
import { resolve } from 'node:path';
import { parentFirst } from '../topology/model.js';
import { loadTopology } from '../topology/parse.js';
import { discoverLevels, edgeStatus } from '../telemetry/status-source.js';
import { formatStatus } from '../telemetry/status.js';

export interface StatusOptions {
  dataDir: string;
  topologyFile?: string;
  json: boolean;
  windowS: number;
}

export function status(opts: StatusOptions): number {
  const dataDir = resolve(opts.dataDir);
  const levels = opts.topologyFile !== undefined ? parentFirst(loadTopology(opts.topologyFile)).map((l) => l.name) : discoverLevels(dataDir);
  const statuses = edgeStatus({ dataDir, levels, windowMs: opts.windowS * 1000 });
  if (opts.json) process.stdout.write(JSON.stringify({ dataDir, windowS: opts.windowS, levels: statuses }, null, 2) + '\n');
  else process.stdout.write(formatStatus(statuses));
  if (!statuses.some((s) => s.ageS !== null)) {
    process.stderr.write(`edge: no level metrics under ${dataDir}: they are written while \`edge up --otel\` runs (<data-dir>/<level>/otelcol/level-metrics.jsonl)\n`);
    return 1;
  }
  return 0;
}
