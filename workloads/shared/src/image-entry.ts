// The container images' entry point (workloads/Dockerfile): runs the workload the image was
// built for (EDGE_WORKLOAD). With --check it only validates that workload's configuration and
// loads every production dependency the image carries, then exits 0: the image smoke test, and a
// pre-flight a user can run with the same environment as the pod.
import { readFileSync } from 'node:fs';
import { ConfigError } from './env.js';
import { runMain } from './lifecycle.js';
import { createLogger } from './log.js';
import { readTelemetryConfig } from './telemetry.js';

interface Entry {
  run: () => Promise<unknown>;
  /** Throws a ConfigError listing every problem, like the workload itself would at start. */
  check: () => Promise<void>;
}

const WORKLOADS: Record<string, Entry> = {
  'temperature-sensor': {
    run: () => import('../../temperature-sensor/src/main.js'),
    check: async () => {
      (await import('../../temperature-sensor/src/config.js')).readSensorConfig();
      readTelemetryConfig('temperature-sensor');
    },
  },
  'opc-plc': {
    run: () => import('../../opc-plc/src/main.js'),
    check: async () => void (await import('../../opc-plc/src/config.js')).readPlcConfig(),
  },
  'opc-publisher': {
    run: () => import('../../opc-publisher/src/main.js'),
    check: async () => {
      const config = (await import('../../opc-publisher/src/config.js')).readPublisherConfig();
      const nodes = (await import('../../opc-publisher/src/publishednodes.js')).loadPublishedNodes(config.publishedNodesFile);
      if (!nodes.ok) throw new ConfigError(nodes.problems);
      readTelemetryConfig('opc-publisher');
    },
  },
  'data-gateway': {
    run: () => import('../../data-gateway/src/main.js'),
    check: async () => {
      (await import('../../data-gateway/src/config.js')).readGatewayConfig();
      readTelemetryConfig('data-gateway');
    },
  },
};

const name = process.env.EDGE_WORKLOAD ?? '';
const log = createLogger(process.env.EDGE_SOURCE ?? (name || 'image-entry'), process.env.EDGE_LEVEL ?? '');

async function check(entry: Entry): Promise<void> {
  await entry.check();
  // The image's package.json lists exactly the packages this workload imports (tools/images/workload-deps.mjs).
  const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { dependencies?: Record<string, string> };
  const loaded: Record<string, string> = {};
  for (const [dep, version] of Object.entries(pkg.dependencies ?? {})) {
    await import(dep);
    loaded[dep] = version;
  }
  process.stdout.write(JSON.stringify({ workload: name, config: 'valid', node: process.versions.node, dependencies: loaded }) + '\n');
}

async function main(): Promise<void> {
  const entry = WORKLOADS[name];
  if (!entry) throw new ConfigError([`EDGE_WORKLOAD must be one of ${Object.keys(WORKLOADS).join(', ')} (got "${name}")`]);
  if (!process.argv.includes('--check')) {
    await entry.run();
    return;
  }
  await check(entry);
  process.exit(0); // a loaded dependency may hold a timer; the check is done

}

runMain(log, main);
