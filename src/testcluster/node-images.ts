// Images built here (the project's buildah storage) into a real node's containerd: no registry
// pull can succeed on this machine, so pods use imagePullPolicy Never or IfNotPresent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { $ } from 'zx';
import { storageRef } from '../images/buildah.js';
import type { RealNode } from './realnode.js';

/** Copies each image out of buildah's storage as a docker-archive and imports it into the node. */
export async function importLocalImages(node: RealNode, refs: string[]): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'edge-node-images-'));
  try {
    for (const [i, ref] of refs.entries()) {
      const archive = join(work, `${i}.tar`);
      await $({ quiet: true })`skopeo copy --quiet ${storageRef(ref)} ${`docker-archive:${archive}:${ref}`}`;
      node.importImage(archive);
      rmSync(archive, { force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
