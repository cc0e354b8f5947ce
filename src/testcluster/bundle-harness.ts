// Runs the bundle's step script against a test cluster the way Porter's exec mixin would:
// a child process with the bundle's environment, stdout parsed as the one JSON document.
// Shared by the bundle tests and the install-time benchmark.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { toolsDir } from '../common/tools.js';
import { REPO_ROOT } from '../local/plan.js';
import type { StepReport } from '../kubernetes/deploy.js';

export interface StepRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The step's stdout JSON: a report, or `{ error }`. */
  report: Partial<StepReport> & { error?: string };
  ms: number;
}

/** A work dir with a copy of the charts (helm writes dependency archives into them). */
export function bundleWorkDir(): string {
  const work = mkdtempSync(join(tmpdir(), 'edge-bundle-'));
  cpSync(join(REPO_ROOT, 'charts'), join(work, 'charts'), { recursive: true });
  return work;
}

export function bundleEnv(kubeconfigPath: string, work: string): Record<string, string> {
  return {
    EDGE_APP_DIR: REPO_ROOT,
    EDGE_CHARTS_DIR: join(work, 'charts'),
    EDGE_DEFAULT_TOPOLOGY_FILE: join(REPO_ROOT, 'src/topology/default-topology.yaml'),
    EDGE_KUBECONFIG: kubeconfigPath,
    EDGE_DAPR_CHART_DIR: join(toolsDir(), 'charts', 'dapr-1.16.2'),
    // No pod runs under kwok: the injector's webhook would have no server. Its address is a
    // guarded one (refused on this machine), but a refused call per pod only slows the tier down.
    EDGE_DAPR_VALUES: JSON.stringify({ dapr_sidecar_injector: { enabled: false } }),
    HELM_CACHE_HOME: join(work, 'helm', 'cache'),
    HELM_CONFIG_HOME: join(work, 'helm', 'config'),
    HELM_DATA_HOME: join(work, 'helm', 'data'),
  };
}

export function runStep(action: string, env: Record<string, string>): Promise<StepRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist/steps/main.js'), action], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => {
      let report: StepRun['report'] = {};
      try {
        report = JSON.parse(stdout) as StepRun['report'];
      } catch {
        report = { error: `stdout was not one JSON document: ${stdout.slice(0, 200)}` };
      }
      resolve({ code, stdout, stderr, report, ms: Date.now() - started });
    });
  });
}

/** Volumes for the claims (brokers, gateway): kwok never mounts them, the binder binds them. */
export async function createFakeVolumes(kubeconfigPath: string, count: number): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (let i = 0; i < count; i++) {
    await core.createPersistentVolume({ body: { metadata: { name: `pv-${i}` }, spec: { capacity: { storage: '50Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: `/nonexistent/pv-${i}` }, persistentVolumeReclaimPolicy: 'Retain' } } });
  }
}
