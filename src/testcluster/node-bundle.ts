// What the bundle needs from a real test node before an install: every image it references,
// built here and imported into the node's containerd, and volumes for its claims (the node has no
// provisioner: hostPath directories under the cluster's own directory, removed with it).
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { buildImages } from '../images/build.js';
import { hostArch, IMAGES } from '../images/versions.js';
import type { TestCluster } from './cluster.js';
import { importLocalImages } from './node-images.js';

export interface ImageOverride {
  repository: string;
  tag: string;
}

/** Builds (or finds cached) every image for this machine's architecture and imports it into the node. */
export async function importBundleImages(cluster: TestCluster, log?: (line: string) => void): Promise<Record<string, ImageOverride>> {
  if (!cluster.node) throw new Error('importBundleImages needs a test cluster with a real node');
  const arch = hostArch();
  const built = await buildImages({ arches: [arch], names: IMAGES, log });
  const mapping: Record<string, ImageOverride> = {};
  const refs: string[] = [];
  for (const image of built) {
    const local = image.arches.find((a) => a.arch === arch)!.image;
    const colon = local.lastIndexOf(':');
    mapping[image.name] = { repository: local.slice(0, colon), tag: local.slice(colon + 1) };
    refs.push(local);
  }
  await importLocalImages(cluster.node, refs);
  return mapping;
}

/**
 * hostPath volumes for the claims (brokers, gateway, collector). World-writable: the workloads run
 * as their own non-root users and hostPath ignores fsGroup.
 */
export async function createNodeVolumes(cluster: TestCluster, count: number): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  for (let i = 0; i < count; i++) {
    const path = join(cluster.dir, 'volumes', `pv-${i}`);
    mkdirSync(path, { recursive: true });
    chmodSync(path, 0o777);
    await core.createPersistentVolume({
      body: {
        metadata: { name: `pv-${i}` },
        spec: { capacity: { storage: '50Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path, type: 'Directory' }, persistentVolumeReclaimPolicy: 'Retain' },
      },
    });
  }
}
