// What the steps do to a cluster besides Helm: check it before touching it, namespaces, the
// Secrets that carry generated configuration, and the label sweep of uninstall.
import * as k8s from '@kubernetes/client-node';
import { pbkdf2Sync } from 'node:crypto';
import type { SecretSpec } from './render.js';
import { PART_OF } from './render.js';

export interface ClusterCheck {
  server: string;
  version: string;
}

export function apiFor(kubeconfigPath: string): { core: k8s.CoreV1Api; apiext: k8s.ApiextensionsV1Api; version: k8s.VersionApi; config: k8s.KubeConfig } {
  const config = new k8s.KubeConfig();
  config.loadFromFile(kubeconfigPath);
  return { core: config.makeApiClient(k8s.CoreV1Api), apiext: config.makeApiClient(k8s.ApiextensionsV1Api), version: config.makeApiClient(k8s.VersionApi), config };
}

const MIN_MINOR = 28;

/** Reachable, authorised, and recent enough; throws with what to fix otherwise. */
export async function checkCluster(credential: string, kubeconfigPath: string): Promise<ClusterCheck> {
  let api: ReturnType<typeof apiFor>;
  try {
    api = apiFor(kubeconfigPath);
  } catch (err) {
    throw new Error(`credential ${credential}: ${kubeconfigPath} is not a usable kubeconfig (${(err as Error).message})`);
  }
  const server = api.config.getCurrentCluster()?.server ?? '?';
  let version: k8s.VersionInfo;
  try {
    version = await api.version.getCode();
  } catch (err) {
    if (isAuthError(err)) throw refused(credential, server, err);
    throw new Error(`credential ${credential}: cluster ${server} is not reachable (${shortError(err)}); check the kubeconfig's server address and your network`);
  }
  try {
    await api.core.listNamespace({ limit: 1 });
  } catch (err) {
    throw refused(credential, server, err);
  }
  const minor = Number.parseInt(version.minor, 10);
  if (!(minor >= MIN_MINOR)) throw new Error(`credential ${credential}: cluster ${server} runs Kubernetes ${version.gitVersion}; the bundle needs 1.${MIN_MINOR} or newer`);
  return { server, version: version.gitVersion };
}

/** Throws unless every named CRD is established on the cluster. */
export async function requireCrds(apiext: k8s.ApiextensionsV1Api, names: string[], what: string): Promise<void> {
  const missing: string[] = [];
  for (const name of names) {
    try {
      const crd = await apiext.readCustomResourceDefinition({ name });
      if (!crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) missing.push(`${name} (not established)`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      missing.push(name);
    }
  }
  if (missing.length) throw new Error(`${what}: missing CRDs ${missing.join(', ')}`);
}

function isAuthError(err: unknown): boolean {
  const code = (err as { code?: number }).code;
  return code === 401 || code === 403;
}

function refused(credential: string, server: string, err: unknown): Error {
  return new Error(`credential ${credential}: cluster ${server} refused the credentials (${shortError(err)}); the kubeconfig's user needs cluster-admin to install the bundle`);
}

function shortError(err: unknown): string {
  const e = err as { code?: number; message?: string; body?: unknown };
  if (typeof e.code === 'number') return `HTTP ${e.code}`;
  return (e.message ?? String(err)).split('\n')[0]!.slice(0, 200);
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}

/** Waits until a namespace is gone (a terminating one refuses new content). */
export async function waitNamespaceGone(core: k8s.CoreV1Api, name: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await core.readNamespace({ name });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    if (Date.now() > deadline) throw new Error(`namespace ${name} is still terminating after ${timeoutMs / 1000} s: check what holds it (kubectl get all,pvc -n ${name}) and retry`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function ensureNamespace(core: k8s.CoreV1Api, name: string, level: string): Promise<'created' | 'unchanged'> {
  try {
    const ns = await core.readNamespace({ name });
    if (ns.status?.phase !== 'Terminating') return 'unchanged';
    await waitNamespaceGone(core, name); // an uninstall that just ran
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await core.createNamespace({ body: { metadata: { name, labels: { 'app.kubernetes.io/part-of': PART_OF, 'app.kubernetes.io/managed-by': 'nested-edge-bundle', 'edge.example/level': level } } } });
  return 'created';
}

/** True when every line of `file` is a Mosquitto hash of the matching user's password. */
export function passwordFileMatches(file: string, users: Array<{ username: string; password: string }>): boolean {
  const lines = file.trim().split('\n').filter(Boolean);
  if (lines.length !== users.length) return false;
  return users.every((u) => {
    const line = lines.find((l) => l.startsWith(`${u.username}:`));
    const m = line && /^[^:]+:\$7\$(\d+)\$([^$]+)\$(.+)$/.exec(line);
    if (!m) return false;
    return pbkdf2Sync(u.password, Buffer.from(m[2]!, 'base64'), Number(m[1]), 64, 'sha512').toString('base64') === m[3];
  });
}

/** Creates or replaces a Secret when its content differs; a Mosquitto password file whose hashes still match is kept. */
export async function applySecret(core: k8s.CoreV1Api, namespace: string, spec: SecretSpec, level: string, passwordUsers?: Array<{ username: string; password: string }>): Promise<'created' | 'updated' | 'unchanged'> {
  let existing: k8s.V1Secret | undefined;
  try {
    existing = await core.readNamespacedSecret({ name: spec.name, namespace });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const current = Object.fromEntries(Object.entries(existing?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  const wanted = { ...spec.stringData };
  if (passwordUsers && typeof current.passwd === 'string' && passwordFileMatches(current.passwd, passwordUsers)) wanted.passwd = current.passwd;
  const body: k8s.V1Secret = {
    metadata: { name: spec.name, namespace, labels: { 'app.kubernetes.io/part-of': PART_OF, 'app.kubernetes.io/managed-by': 'nested-edge-bundle', 'edge.example/level': level } },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(wanted).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
  if (!existing) {
    await core.createNamespacedSecret({ namespace, body });
    return 'created';
  }
  const same = Object.keys(wanted).length === Object.keys(current).length && Object.entries(wanted).every(([k, v]) => current[k] === v);
  if (same) return 'unchanged';
  await core.replaceNamespacedSecret({ name: spec.name, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } } });
  return 'updated';
}

/** Deletes a Secret the bundle made; false when there is none. */
export async function deleteSecret(core: k8s.CoreV1Api, namespace: string, name: string): Promise<boolean> {
  try {
    await core.deleteNamespacedSecret({ name, namespace });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

export async function readSecretKey(core: k8s.CoreV1Api, namespace: string, name: string, key: string): Promise<string | undefined> {
  return (await readSecretData(core, namespace, name))?.[key];
}

/** Every key of a Secret, decoded; undefined when there is no such Secret. */
export async function readSecretData(core: k8s.CoreV1Api, namespace: string, name: string): Promise<Record<string, string> | undefined> {
  try {
    const s = await core.readNamespacedSecret({ name, namespace });
    return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Deletes what Helm leaves behind, by label: claims (unless kept), Secrets, then the namespace. */
export async function sweepNamespace(core: k8s.CoreV1Api, namespace: string, keepData: boolean): Promise<{ deleted: string[]; kept: string[] }> {
  const selector = `app.kubernetes.io/part-of=${PART_OF}`;
  const deleted: string[] = [];
  const kept: string[] = [];
  const claims = await core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: selector });
  for (const pvc of claims.items) {
    const name = pvc.metadata!.name!;
    if (keepData) kept.push(`pvc/${name}`);
    else {
      await core.deleteNamespacedPersistentVolumeClaim({ name, namespace });
      deleted.push(`pvc/${name}`);
    }
  }
  const secrets = await core.listNamespacedSecret({ namespace, labelSelector: selector });
  for (const s of secrets.items) {
    if (keepData && s.metadata!.name === 'edge-credentials') {
      kept.push('secret/edge-credentials');
      continue;
    }
    await core.deleteNamespacedSecret({ name: s.metadata!.name!, namespace });
    deleted.push(`secret/${s.metadata!.name}`);
  }
  if (kept.length === 0) {
    try {
      await core.deleteNamespace({ name: namespace });
      deleted.push(`namespace/${namespace}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await waitNamespaceGone(core, namespace);
  }
  return { deleted, kept };
}
