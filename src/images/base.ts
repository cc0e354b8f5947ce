// The base images, made here and never pulled: Debian (debootstrap minbase) and Node on top of
// it. Their inputs come from tools/images/base-rootfs.sh (cached tars); the images are tagged
// with a key of those inputs, so a warm run only looks them up.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { $ } from 'zx';
import { buildah, inspectImage, runLogged, storageFlags } from './buildah.js';
import { LOCAL_PREFIX, REPO_ROOT, hostArch, readPins, type Arch } from './versions.js';

export interface BaseImages {
  arch: Arch;
  debian: string;
  node: string;
}

/** The Node base of the host's architecture under a fixed name: workloads/Dockerfile's default. */
export function defaultNodeImage(): string {
  const pins = readPins();
  return `${LOCAL_PREFIX}/node:${pins.NODE_VERSION}-${pins.DEBIAN_SUITE}`;
}

const shortHash = (...parts: string[]): string => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12);

async function buildFrom(containerfile: string, context: string, tag: string, arch: Arch, args: Record<string, string>, log: (line: string) => void): Promise<void> {
  const buildArgs = Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  log(`building ${tag}`);
  await runLogged('buildah', [...storageFlags(), 'build', '--isolation', 'chroot', '--pull=never', '--platform', `linux/${arch}`, '-f', containerfile, ...buildArgs, '-t', tag, context], join(context, 'logs', `${basename(containerfile)}-${arch}.log`));
}

/** Makes (or finds) the Debian and Node base images of one architecture. */
export async function ensureBaseImages(arch: Arch, log: (line: string) => void = () => {}): Promise<BaseImages> {
  const pins = readPins();
  const out = (await $`bash ${join(REPO_ROOT, 'tools/images/base-rootfs.sh')} ${arch}`).stdout;
  const tar = (name: string): string => {
    const m = new RegExp(`^${name}=(.+)$`, 'm').exec(out);
    if (!m) throw new Error(`tools/images/base-rootfs.sh printed no ${name}= line:\n${out}`);
    return m[1]!;
  };
  const [debianTar, nodeTar] = [tar('debian'), tar('node')];
  const context = dirname(debianTar);
  const files = { debian: join(REPO_ROOT, 'tools/images/Containerfile.debian'), node: join(REPO_ROOT, 'tools/images/Containerfile.node') };

  const debianKey = shortHash(basename(debianTar), readFileSync(files.debian, 'utf8'));
  const debian = `${LOCAL_PREFIX}/debian:${pins.DEBIAN_SUITE}-${arch}-${debianKey}`;
  if (!(await inspectImage(debian))) await buildFrom(files.debian, context, debian, arch, { ROOTFS: basename(debianTar), DEBIAN_SUITE: pins.DEBIAN_SUITE }, log);

  const nodeKey = shortHash(debianKey, basename(nodeTar), readFileSync(files.node, 'utf8'));
  const node = `${LOCAL_PREFIX}/node:${pins.NODE_VERSION}-${pins.DEBIAN_SUITE}-${arch}-${nodeKey}`;
  if (!(await inspectImage(node))) {
    await buildFrom(files.node, context, node, arch, { DEBIAN_IMAGE: debian, NODE_TAR: basename(nodeTar), NODE_VERSION: pins.NODE_VERSION, NPM_VERSION: pins.NPM_VERSION }, log);
  }
  // Fixed names for the host's architecture: the recipes' defaults, for a manual `buildah build`.
  if (arch === hostArch()) {
    await buildah(['tag', node, defaultNodeImage()]);
    await buildah(['tag', debian, `${LOCAL_PREFIX}/debian:${pins.DEBIAN_SUITE}`]);
  }
  return { arch, debian, node };
}
