// P4 install time: platform + app install of the default three levels against the test control
// plane (real kube-apiserver, kwok nodes), a no-op upgrade, and uninstall. Prints the figures
// and writes bench/results/install-time.json. A benchmark, not a test: nothing is asserted
// beyond each step succeeding.
import { rmSync } from 'node:fs';
import { startTestCluster } from '../src/testcluster/cluster.js';
import { bundleEnv, bundleWorkDir, createFakeVolumes, runStep } from '../src/testcluster/bundle-harness.js';
import { K8S_VERSION, HELM_VERSION, KWOK_VERSION } from '../src/testcluster/versions.js';
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

main().catch((err: unknown) => {
  process.stderr.write(`install-time: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
