// The air-gap rehearsal: push the images built here to the connected registry (A), copy
// everything to the air-gapped site's registry (B) with skopeo keeping every digest, and write
// the relocation mapping the bundle's steps receive as EDGE_IMAGES (what `porter publish
// --archive` hands them after relocating the bundle's images).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageRef } from '../kubernetes/inputs.js';
import { storageFlags, sh } from './buildah.js';
import type { BuiltImage } from './build.js';
import { getManifest } from './registry.js';
import type { ImageName } from './versions.js';

export interface PushedImage {
  name: ImageName;
  /** host/path, without tag or digest. */
  repository: string;
  tag: string;
  /** Digest of the multi-arch index. */
  digest: string;
  /** Compressed bytes per architecture, as stored in the registry. */
  compressed: Record<string, number>;
}

/** Repository path of an image in any of our registries. */
export const repoPath = (name: string): string => `nested-edge/${name}`;

async function withDigestFile(fn: (file: string) => Promise<unknown>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-digest-'));
  try {
    await fn(join(dir, 'digest'));
    return readFileSync(join(dir, 'digest'), 'utf8').trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function compressedSizes(host: string, repository: string, digest: string): Promise<Record<string, number>> {
  const { manifest } = await getManifest(host, repository, digest);
  const out: Record<string, number> = {};
  for (const m of manifest.manifests ?? []) {
    const image = await getManifest(host, repository, m.digest);
    out[m.platform?.architecture ?? 'unknown'] = (image.manifest.layers ?? []).reduce((n, l) => n + l.size, 0);
  }
  return out;
}

/** Pushes each local multi-arch list (every architecture) to `host`. */
export async function pushImages(images: BuiltImage[], host: string): Promise<PushedImage[]> {
  const pushed: PushedImage[] = [];
  for (const image of images) {
    const repository = `${host}/${repoPath(image.name)}`;
    const digest = await withDigestFile((file) => sh`buildah ${storageFlags()} manifest push --all --tls-verify=false --digestfile ${file} ${image.ref} ${`docker://${repository}:${image.tag}`}`);
    pushed.push({ name: image.name, repository, tag: image.tag, digest, compressed: await compressedSizes(host, repoPath(image.name), digest) });
  }
  return pushed;
}

/** Copies every image from its registry to `host`, same path and tag; throws if a digest changed. */
export async function copyImages(images: PushedImage[], host: string): Promise<PushedImage[]> {
  const copied: PushedImage[] = [];
  for (const image of images) {
    const repository = `${host}/${repoPath(image.name)}`;
    const digest = await withDigestFile((file) => sh`skopeo copy --all --preserve-digests --src-tls-verify=false --dest-tls-verify=false --digestfile ${file} ${`docker://${image.repository}@${image.digest}`} ${`docker://${repository}:${image.tag}`}`);
    if (digest !== image.digest) throw new Error(`${image.name}: copied to ${host} as ${digest}, but it was ${image.digest} at the source`);
    copied.push({ ...image, repository, digest });
  }
  return copied;
}

/** EDGE_IMAGES for the images copied to the site's registry: repository, tag and digest of each. */
export function relocationMapping(copied: PushedImage[]): Record<string, ImageRef> {
  const images: Record<string, ImageRef> = {};
  for (const c of copied) images[c.name] = { repository: c.repository, tag: c.tag, digest: c.digest };
  return images;
}
