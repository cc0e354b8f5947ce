// P4 install time: platform + app install of the default three levels against the test control
// plane (real kube-apiserver, kwok nodes), a no-op upgrade, and uninstall. Prints the figures
// and writes bench/results/install-time.json. A benchmark, not a test: nothing is asserted
// beyond each step succeeding.
//
// --real-node (root): the same on one real node, every action through the invocation image run
// as a Job (as Porter's kubernetes driver does), and two more figures: until every pod is Ready
// and until the gateway has stored the first message. Writes install-time-real-node.json.
import { rmSync } from 'node:fs';
import { startTestCluster } from '../src/testcluster/cluster.js';
import { bundleEnv, bundleWorkDir, createFakeVolumes, runStep } from '../src/testcluster/bundle-harness.js';
import { K8S_VERSION, HELM_VERSION, KWOK_VERSION } from '../src/testcluster/versions.js';
import { waitFor } from '../src/common/proc.js';
import { everyPodReady, prepareBundleOnNode, storedSequences } from '../src/testcluster/bundle-on-node.js';
import { machine, writeResult } from './harness.js';
import { TARGETS as ALL_TARGETS } from './targets.js';

const TARGETS = ALL_TARGETS.p4;

/** Printed (and put in the summary) when `--quick` skips this benchmark. */
const SKIPPED_IN_QUICK = 'skipped in --quick: it starts a Kubernetes control plane and installs three levels with Helm (minutes, not seconds); run `npm run bench:install`';

async function main(): Promise<void> {
  if (process.argv.includes('--quick')) {
    process.stdout.write(`install-time: ${SKIPPED_IN_QUICK}\n`);
    return;
  }
  if (process.argv.includes('--real-node')) return realNode();
  const work = bundleWorkDir();
  const cluster = await startTestCluster({ nodes: 2 });
  const figures: Record<string, number> = {};
  try {
    await createFakeVolumes(cluster.kubeconfigPath, 8);
    const env = bundleEnv(cluster.kubeconfigPath, work);
    for (const [name, action] of [['installS', 'install'], ['noopUpgradeS', 'upgrade'], ['uninstallS', 'uninstall']] as const) {
      const r = await runStep(action, env);
      if (r.code !== 0) throw new Error(`${action} failed: ${r.stderr}`);
      figures[name] = r.ms / 1000;
      process.stderr.write(`${action}: ${(r.ms / 1000).toFixed(1)} s (${r.report.changes ?? '?'} changes)\n`);
    }
  } finally {
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const result = {
    benchmark: 'install-time',
    at: new Date().toISOString(),
    machine: machine(),
    versions: { kubernetes: K8S_VERSION, helm: HELM_VERSION, kwok: KWOK_VERSION, dapr: '1.16.2' },
    parameters: { topology: 'default (l4 <- l3 <- l2, namespaces per level in one API server)', helmWait: true, clusterStartupMs: cluster.startupMs },
    figures,
    targets: TARGETS,
    met: { install: figures.installS! < TARGETS.installS, noopUpgrade: figures.noopUpgradeS! < TARGETS.noopUpgradeS },
  };
  writeResult('install-time', result);
  process.stdout.write(`| step | seconds | target |\n|---|---|---|\n| install (platform + app, 3 levels) | ${figures.installS!.toFixed(1)} | < ${TARGETS.installS} |\n| no-op upgrade | ${figures.noopUpgradeS!.toFixed(1)} | < ${TARGETS.noopUpgradeS} |\n| uninstall | ${figures.uninstallS!.toFixed(1)} | |\n`);
}

/** Seconds since `t0`. */
const since = (t0: number): number => (Date.now() - t0) / 1000;

async function realNode(): Promise<void> {
  const cluster = await startTestCluster({ realNode: true });
  const figures: Record<string, number> = {};
  try {
    const bundle = await prepareBundleOnNode(cluster, {}, (line) => process.stderr.write(`${line}\n`));
    const t0 = Date.now();
    const install = await bundle.porter('install');
    if (install.exitCode !== 0) throw new Error(`install failed: ${install.logs.slice(-2000)}`);
    figures.installJobS = install.ms / 1000;
    await everyPodReady(cluster.kubeconfigPath);
    figures.everyPodReadyS = since(t0);
    await waitFor('the first message stored', async () => (await storedSequences(cluster.kubeconfigPath).catch(() => new Map())).size > 0, 300_000, 500);
    figures.firstMessageStoredS = since(t0);
    for (const [name, action] of [['noopUpgradeS', 'upgrade'], ['uninstallS', 'uninstall']] as const) {
      const r = await bundle.porter(action);
      if (r.exitCode !== 0) throw new Error(`${action} failed: ${r.logs.slice(-2000)}`);
      figures[name] = r.ms / 1000;
      process.stderr.write(`${action}: ${figures[name]!.toFixed(1)} s (${String(r.summary.changes ?? '-')} changes)\n`);
    }
  } finally {
    await cluster.stop();
  }
  writeResult('install-time-real-node', {
    benchmark: 'install-time-real-node',
    at: new Date().toISOString(),
    machine: machine(),
    versions: { kubernetes: K8S_VERSION, helm: HELM_VERSION, dapr: '1.16.2' },
    parameters: { topology: 'default (l4 <- l3 <- l2, namespaces per level), one real node, images imported, actions as Jobs of the invocation image', clusterStartupMs: cluster.startupMs },
    figures,
    targets: TARGETS,
    met: { install: figures.everyPodReadyS! < TARGETS.installS, noopUpgrade: figures.noopUpgradeS! < TARGETS.noopUpgradeS },
  });
  process.stdout.write(
    `| real node, through the invocation image | seconds | target |\n|---|---|---|\n` +
      `| install Job (platform + app, 3 levels, helm --wait) | ${figures.installJobS!.toFixed(1)} | |\n` +
      `| install until every pod Ready | ${figures.everyPodReadyS!.toFixed(1)} | < ${TARGETS.installS} |\n` +
      `| install until the first message is stored | ${figures.firstMessageStoredS!.toFixed(1)} | |\n` +
      `| no-op upgrade Job | ${figures.noopUpgradeS!.toFixed(1)} | < ${TARGETS.noopUpgradeS} |\n` +
      `| uninstall Job | ${figures.uninstallS!.toFixed(1)} | |\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`install-time: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
