// `edge`: the project's CLI. Parses arguments, dispatches, and turns errors into exit codes in
// one place.
import { parseArgs } from 'node:util';
import { TopologyError } from '../topology/parse.js';
import { up } from './up.js';
import { status } from './status.js';
import { certsRotate } from './certs.js';
import { netnsUnavailable, sweepLeftovers } from '../netns/net.js';
import { validate } from './validate.js';
import { OtelCollectorConfigError, parseOtlpEndpoint, type OtlpUpstream } from '../config/otel-collector.js';

const USAGE = `usage: edge <command> [options]

commands:
  up         run the nested edge on this machine until Ctrl-C or --duration
  validate   check a topology file and print its levels
  status     per level: message rates, queue and its trend, bridge up/down, lag, dead letters
  certs      certs rotate: new bridge certificates (and CA) for the running edge, no message lost
  sweep      remove network namespaces left behind by crashed netns runs (never a live run's)
  help       this text

edge up options:
  --target local|netns  local: every level on 127.0.0.1 (default); netns: each level in its own
                        network namespace, linked child-parent only (Linux, as root)
  --topology FILE       topology YAML (default: the shipped three-level default)
  --duration S          stop after S seconds (default: run until Ctrl-C)
  --data-dir DIR        where configs, broker persistence, logs and the sink live (default: .edge)
  --summary-json FILE   write {sent, delivered, lost, duplicates, p50_ms, p99_ms, per_source}
  --drain-timeout S     how long to wait for queued messages after producers stop (default: 60)
  --quiet               no live line
  --otel                an OpenTelemetry Collector and a broker ($SYS) exporter per level, each
                        collector forwarding to its parent's (mTLS); the top one writes
                        <data-dir>/<top>/otelcol/telemetry.jsonl; the live line shows \`edge status\`
  --otel-endpoint URL   also export from the top level: http(s)://host:port (OTLP/HTTP),
                        grpc://host:port or grpcs://host:port (OTLP/gRPC); implies --otel

edge status options:
  --data-dir DIR        the data dir of \`edge up --otel\` (default: .edge); each level's figures
                        come from its own collector's file there, so a level cut off from its
                        parent still shows its own
  --topology FILE       the levels to show, top first (default: those found in the data dir)
  --window S            rates and trends over the last S seconds (default: 10)
  --json                one JSON document instead of the table

edge certs rotate options:
  --data-dir DIR        the data dir of the running \`edge up\` (default: .edge)
  --keep-ca             reissue the certificates from the current CA instead of a new CA
  With an edge running, it restarts the brokers one by one in three phases (trust both CAs,
  new certificates, drop the old CA); without one, it rotates the files for the next start.
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'up': {
      const { values } = parseArgs({
        args: rest,
        options: {
          topology: { type: 'string' },
          duration: { type: 'string' },
          'data-dir': { type: 'string' },
          'summary-json': { type: 'string' },
          'drain-timeout': { type: 'string' },
          target: { type: 'string' },
          quiet: { type: 'boolean' },
          otel: { type: 'boolean' },
          'otel-endpoint': { type: 'string' },
        },
        strict: true,
      });
      const duration = values.duration === undefined ? undefined : positive('--duration', values.duration);
      const drainTimeout = values['drain-timeout'] === undefined ? 60 : positive('--drain-timeout', values['drain-timeout']);
      const target = values.target ?? 'local';
      if (target !== 'local' && target !== 'netns') throw new UsageError(`--target ${target} is not available; use --target local or --target netns (Kubernetes installs go through porter)`);
      const endpoint = values['otel-endpoint'];
      let otel: { upstream?: OtlpUpstream } | undefined;
      try {
        otel = endpoint !== undefined ? { upstream: parseOtlpEndpoint(endpoint) } : values.otel === true ? {} : undefined;
      } catch (err) {
        if (err instanceof OtelCollectorConfigError) throw new UsageError(`--otel-endpoint: ${err.message}`);
        throw err;
      }
      return up({ target, topologyFile: values.topology, durationS: duration, dataDir: values['data-dir'] ?? '.edge', summaryJson: values['summary-json'], drainTimeoutS: drainTimeout, quiet: values.quiet ?? false, otel });
    }
    case 'status': {
      const { values } = parseArgs({ args: rest, options: { 'data-dir': { type: 'string' }, topology: { type: 'string' }, json: { type: 'boolean' }, window: { type: 'string' } }, strict: true });
      return status({ dataDir: values['data-dir'] ?? '.edge', topologyFile: values.topology, json: values.json ?? false, windowS: values.window === undefined ? 10 : positive('--window', values.window) });
    }
    case 'certs': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { 'data-dir': { type: 'string' }, 'keep-ca': { type: 'boolean' }, topology: { type: 'string' } }, strict: true });
      if (positionals[0] !== 'rotate' || positionals.length !== 1) throw new UsageError('edge certs: the one subcommand is `rotate`');
      return certsRotate({ dataDir: values['data-dir'] ?? '.edge', keepCa: values['keep-ca'] ?? false, topologyFile: values.topology });
    }
    case 'sweep': {
      parseArgs({ args: rest, strict: true });
      const reason = await netnsUnavailable();
      if (reason) throw new Error(reason);
      process.stdout.write(JSON.stringify({ removed: await sweepLeftovers() }) + '\n');
      return 0;
    }
    case 'validate': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true });
      return validate(positionals[0]);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function positive(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number of seconds (got "${raw}")`);
  return n;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof TopologyError) {
      process.stderr.write(`edge: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`edge: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    process.stderr.write(`edge: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
