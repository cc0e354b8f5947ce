// The invocation image run as Porter's kubernetes driver runs it (cnab-go driver/kubernetes):
// a Job in its own namespace, one container "invocation" running /cnab/app/run, no retry
// (backoffLimit 0), no service-account token; the environment (CNAB_*, parameters, env
// credentials) from a Secret through envFrom; a claim shared with the driver, holding the input
// files (credential files, file parameters, the relocation mapping), each mounted at its path by
// subPath, and the outputs directory mounted at /cnab/app/outputs. The driver is this process, so
// the claim is a hostPath volume on a directory of this machine, as porter's own pod would mount
// it. Afterwards the Job and its Secret are deleted, as CLEANUP_JOBS=true does.
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { actionEnv, actionFiles, BUNDLE_DIR, BUNDLE_GID, BUNDLE_UID, type PorterManifest } from '../images/porter-template.js';
import type { TestCluster } from './cluster.js';

export const DRIVER_NAMESPACE = 'porter-runs';
const CLAIM = 'porter-shared';
const CONTAINER = 'invocation';

export interface CnabOperation {
  installation: string;
  action: string;
  image: string;
  /** CNAB_* and the parameters and credentials that travel as environment variables. */
  environment: Record<string, string>;
  /** Absolute path in the container -> content. */
  files: Record<string, string>;
  /** The outputs the action has (collected from /cnab/app/outputs). */
  outputs?: string[];
  revision?: string;
}

export interface CnabResult {
  /** The invocation container's exit code (cnab-go reports only that the Job failed). */
  exitCode: number;
  /** Its stdout and stderr, as the driver streams them. */
  logs: string;
  outputs: Record<string, string>;
  job: string;
  ms: number;
}

export interface CnabJobDriver {
  run(op: CnabOperation, timeoutMs?: number): Promise<CnabResult>;
}

const api = (cluster: TestCluster) => {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  return { core: kc.makeApiClient(k8s.CoreV1Api), batch: kc.makeApiClient(k8s.BatchV1Api) };
};

/**
 * The driver's namespace and shared claim, on a directory under the cluster's own (removed with
 * it). Owned by the bundle user: in a real cluster porter's agent runs as that user too.
 */
export async function prepareJobDriver(cluster: TestCluster): Promise<CnabJobDriver> {
  const shared = join(cluster.dir, 'porter-shared');
  mkdirSync(shared, { recursive: true });
  chownSync(shared, BUNDLE_UID, BUNDLE_GID);
  const { core, batch } = api(cluster);
  await core.createNamespace({ body: { metadata: { name: DRIVER_NAMESPACE } } });
  await core.createPersistentVolume({
    body: {
      metadata: { name: `${DRIVER_NAMESPACE}-${CLAIM}` },
      spec: {
        capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: shared, type: 'Directory' }, persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '', claimRef: { namespace: DRIVER_NAMESPACE, name: CLAIM },
      },
    },
  });
  await core.createNamespacedPersistentVolumeClaim({
    namespace: DRIVER_NAMESPACE,
    body: { metadata: { name: CLAIM }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: '', volumeName: `${DRIVER_NAMESPACE}-${CLAIM}`, resources: { requests: { storage: '1Gi' } } } },
  });
  return { run: (op, timeoutMs) => runOperation(core, batch, shared, op, timeoutMs) };
}

/** inputs/ and outputs/ on the shared volume, fresh for each run, owned by the bundle user. */
function stageFiles(shared: string, files: Record<string, string>): void {
  for (const sub of ['inputs', 'outputs']) {
    rmSync(join(shared, sub), { recursive: true, force: true });
    mkdirSync(join(shared, sub), { mode: 0o700 });
    chownSync(join(shared, sub), BUNDLE_UID, BUNDLE_GID);
  }
  for (const [path, content] of Object.entries(files)) {
    const target = join(shared, 'inputs', path);
    let dir = dirname(target);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(target, content, { mode: 0o600 });
    chownSync(target, BUNDLE_UID, BUNDLE_GID);
    for (; dir.startsWith(join(shared, 'inputs')); dir = dirname(dir)) chownSync(dir, BUNDLE_UID, BUNDLE_GID);
  }
}

function jobSpec(op: CnabOperation, envSecret: string): k8s.V1Job {
  const labels = { 'cnab.io/driver': 'kubernetes' };
  const annotations = { 'cnab.io/installation': op.installation, 'cnab.io/action': op.action, 'cnab.io/revision': op.revision ?? '' };
  const mounts: k8s.V1VolumeMount[] = [
    { name: 'cnab-driver-share', mountPath: '/cnab/app/outputs', subPath: 'outputs' },
    ...Object.keys(op.files).map((path) => ({ name: 'cnab-driver-share', mountPath: path, subPath: join('inputs', path) })),
  ];
  return {
    metadata: { generateName: `${op.installation}-${op.action}-`, namespace: DRIVER_NAMESPACE, labels, annotations },
    spec: {
      completions: 1,
      backoffLimit: 0,
      template: {
        metadata: { labels, annotations },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          volumes: [{ name: 'cnab-driver-share', persistentVolumeClaim: { claimName: CLAIM } }],
          containers: [{ name: CONTAINER, image: op.image, command: ['/cnab/app/run'], imagePullPolicy: 'IfNotPresent', envFrom: [{ secretRef: { name: envSecret } }], volumeMounts: mounts }],
        },
      },
    },
  };
}

async function runOperation(core: k8s.CoreV1Api, batch: k8s.BatchV1Api, shared: string, op: CnabOperation, timeoutMs = 900_000): Promise<CnabResult> {
  const started = Date.now();
  stageFiles(shared, op.files);
  const secret = await core.createNamespacedSecret({
    namespace: DRIVER_NAMESPACE,
    body: { metadata: { generateName: `${op.installation}-${op.action}-env-`, labels: { 'cnab.io/driver': 'kubernetes' } }, stringData: op.environment },
  });
  const secretName = secret.metadata!.name!;
  let jobName = '';
  try {
    const job = await batch.createNamespacedJob({ namespace: DRIVER_NAMESPACE, body: jobSpec(op, secretName) });
    jobName = job.metadata!.name!;
    const pod = await finishedPod(core, batch, jobName, started + timeoutMs);
    const logs = await core.readNamespacedPodLog({ namespace: DRIVER_NAMESPACE, name: pod.metadata!.name!, container: CONTAINER }).catch((err: Error) => `(no logs: ${err.message})`);
    const terminated = pod.status?.containerStatuses?.find((c) => c.name === CONTAINER)?.state?.terminated;
    const outputs: Record<string, string> = {};
    const outDir = join(shared, 'outputs');
    for (const name of readdirSync(outDir)) if (!op.outputs || op.outputs.includes(name)) outputs[name] = readFileSync(join(outDir, name), 'utf8');
    return { exitCode: terminated?.exitCode ?? -1, logs, outputs, job: jobName, ms: Date.now() - started };
  } finally {
    const propagationPolicy = 'Background';
    if (jobName) await batch.deleteNamespacedJob({ namespace: DRIVER_NAMESPACE, name: jobName, propagationPolicy }).catch(() => undefined);
    await core.deleteNamespacedSecret({ namespace: DRIVER_NAMESPACE, name: secretName }).catch(() => undefined);
  }
}

/** Waits for the Job to complete or fail, then for its pod's container to have terminated. */
async function finishedPod(core: k8s.CoreV1Api, batch: k8s.BatchV1Api, job: string, deadline: number): Promise<k8s.V1Pod> {
  for (;;) {
    const status = (await batch.readNamespacedJob({ namespace: DRIVER_NAMESPACE, name: job })).status;
    const done = status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    const pods = (await core.listNamespacedPod({ namespace: DRIVER_NAMESPACE, labelSelector: `job-name=${job}` })).items;
    const pod = pods.find((p) => p.status?.containerStatuses?.some((c) => c.name === CONTAINER && c.state?.terminated));
    if (done && pod) return pod;
    if (Date.now() > deadline) {
      const waiting = pods.flatMap((p) => p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.reason).filter(Boolean);
      throw new Error(`job ${DRIVER_NAMESPACE}/${job} did not finish in time${waiting.length ? ` (container waiting: ${waiting.join(', ')})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export interface PorterInputs {
  installation: string;
  image: string;
  /** Parameter values by name (the rest take their defaults). */
  parameters?: Record<string, unknown>;
  /** File parameters by name -> content. */
  parameterFiles?: Record<string, string>;
  /** Credentials with a path, by name -> content; with an env, by name -> value. */
  credentialFiles?: Record<string, string>;
  credentialEnv?: Record<string, string>;
  /** CNAB relocation mapping: original image reference -> the reference to deploy. */
  relocation?: Record<string, string>;
  revision?: string;
}

/** What Porter hands the driver for `action` of this manifest: the environment, the files, the outputs. */
export function porterOperation(m: PorterManifest, action: string, p: PorterInputs): CnabOperation {
  const environment = { ...actionEnv(m, action, p.parameters, p.credentialEnv), CNAB_INSTALLATION_NAME: p.installation, CNAB_REVISION: p.revision ?? `${Date.now()}` };
  const files = actionFiles(m, action, p.parameterFiles, p.credentialFiles);
  if (p.relocation) files[`${BUNDLE_DIR}/relocation-mapping.json`] = JSON.stringify(p.relocation);
  const outputs = (m.actions[action] ?? []).flatMap((s) => s.outputs.map((o) => o.name));
  return { installation: p.installation, action, image: p.image, environment, files, outputs, revision: environment.CNAB_REVISION };
}
