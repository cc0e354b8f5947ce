// Builds every image the bundle ships: the four workloads from workloads/Dockerfile, the
// broker and proxy from Debian packages, the OpenTelemetry Collector and Dapr's six images from
// binaries cross-compiled here, for each architecture asked for, then one multi-arch list per
// image under its git tag. A build is skipped when an image of the same inputs (content
// hash of the context, recipe, base image, architecture) is already in local storage.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { toolsDir } from '../common/tools.js';
import { ensureBaseImages, type BaseImages } from './base.js';
import { buildah, inspectImage, pruneDangling, runLogged, storageFlags, sh } from './buildah.js';
import { BASE_INPUTS, stageSource, tagFor, WORKLOAD_INPUTS, type Source } from './source.js';
import { daprBinary, GO_SERVICES, hostArch, IMAGES, isDaprImage, LOCAL_PREFIX, REPO_ROOT, SERVICES, type Arch, type DaprImageName, type ImageName, type ServiceName } from './versions.js';

export interface ArchImage {
  arch: Arch;
  /** Local per-architecture image (tagged with its cache key). */
  image: string;
  id: string;
  /** Uncompressed size of all layers. */
  bytes: number;
  cached: boolean;
  seconds: number;
}

export interface BuiltImage {
  name: ImageName;
  /** The local multi-arch list, `localhost/nested-edge/<name>:<tag>`. */
  ref: string;
  tag: string;
  version: string;
  arches: ArchImage[];
}

export interface BuildOptions {
  arches: Arch[];
  names?: readonly ImageName[];
  /** Build the architectures other than the host's only for these (default: every image). */
  foreignArchNames?: readonly ImageName[];
  /** Rebuild even when an image of the same inputs exists. */
  noCache?: boolean;
  log?: (line: string) => void;
}

/** The CA bundle this machine trusts (a TLS-intercepting proxy's CA is in it), for npm in the build. */
function caBundle(): string | undefined {
  return ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'].find((f) => existsSync(f));
}

const metaFile = (id: string): string => join(toolsDir(), 'images', 'meta', `${id}.json`);
const shortKey = (...parts: string[]): string => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);

interface Recipe {
  name: ImageName;
  /** Containerfile, relative to the context. */
  file: string;
  source: Source;
  args: (arch: Arch, bases: Record<Arch, BaseImages>) => Record<string, string>;
  /**
   * Pass --platform. Not for workloads/Dockerfile: buildah 1.28 then looks up every later stage's
   * base for the platform of the `FROM --platform=$BUILDPLATFORM` stage and finds no arm64 image.
   * Without it, that FROM is unconstrained, the final stage takes NODE_IMAGE whatever its
   * architecture, and the image inherits it (checked after the build).
   */
  platformFlag: boolean;
  /** The version in the tag: the package's, or the Debian package's read from the image. */
  version: (image: string) => Promise<string>;
}

async function buildArch(recipe: Recipe, arch: Arch, bases: Record<Arch, BaseImages>, opts: BuildOptions): Promise<ArchImage> {
  const started = Date.now();
  const args = recipe.args(arch, bases);
  const recipeText = readFileSync(join(recipe.source.dir, recipe.file), 'utf8');
  const baseIds = await Promise.all(Object.values(args).filter((v) => v.startsWith(`${LOCAL_PREFIX}/`)).map(async (ref) => (await inspectImage(ref))?.id ?? ref));
  // REVISION and CREATED come from the last commit that changed the sources: a later commit with
  // the same sources has the same key and reuses the image.
  const key = shortKey(recipe.name, arch, recipe.source.hash, recipeText, JSON.stringify(Object.entries(args)), ...baseIds);
  const image = `${LOCAL_PREFIX}/${recipe.name}:build-${key}`;
  const existing = opts.noCache ? undefined : await inspectImage(image);
  if (existing) return { arch, image, id: existing.id, bytes: existing.bytes, cached: true, seconds: (Date.now() - started) / 1000 };

  opts.log?.(`building ${recipe.name} (${arch})`);
  const ca = caBundle();
  await runLogged('buildah', [
    ...storageFlags(), 'build', '--isolation', 'chroot', '--layers', '--force-rm', '--pull=never',
    ...(recipe.platformFlag ? ['--platform', `linux/${arch}`] : []),
    '--timestamp', String(recipe.source.epoch),
    ...(ca ? ['--secret', `id=build-ca,src=${ca}`] : []),
    ...Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    '-f', join(recipe.source.dir, recipe.file), '-t', image, recipe.source.dir,
  ], join(toolsDir(), 'images', 'logs', `${recipe.name}-${arch}.log`));
  const info = await inspectImage(image);
  if (!info) throw new Error(`buildah reported success but ${image} is not in local storage`);
  if (info.architecture !== arch) throw new Error(`${image} is ${info.architecture}, not ${arch}`);
  return { arch, image, id: info.id, bytes: info.bytes, cached: false, seconds: (Date.now() - started) / 1000 };
}

/** Runs `fn` on the root filesystem of a throw-away working container of `image`. */
export async function withImageRoot<T>(image: string, fn: (root: string) => T | Promise<T>): Promise<T> {
  const ctr = await buildah(['from', '--pull-never', image]);
  try {
    return await fn(await buildah(['mount', ctr]));
  } finally {
    await sh`buildah ${storageFlags()} rm ${ctr}`.nothrow();
  }
}

export const readImageFile = (image: string, path: string): Promise<string> => withImageRoot(image, (root) => readFileSync(join(root, path), 'utf8'));

/** (Re)creates the multi-arch list `ref` from the per-architecture images. */
async function makeList(ref: string, images: ArchImage[]): Promise<void> {
  await removeName(ref);
  await buildah(['manifest', 'create', ref]);
  for (const a of images) await buildah(['manifest', 'add', '--arch', a.arch, '--os', 'linux', ref, a.image]);
}

function workloadRecipe(name: ImageName, source: Source, version: string): Recipe {
  return {
    name,
    file: 'workloads/Dockerfile',
    source,
    platformFlag: false,
    args: (arch, bases) => ({
      NODE_IMAGE: bases[arch].node,
      // The build stages run on this machine's architecture, whatever the target.
      BUILD_NODE_IMAGE: bases[hostArch()].node,
      WORKLOAD: name,
      VERSION: version,
      REVISION: `${source.revision}${source.dirty ? '-dirty' : ''}`,
      CREATED: new Date(source.epoch * 1000).toISOString(),
    }),
    version: async () => version,
  };
}

function serviceRecipe(name: ServiceName, source: Source): Recipe {
  return {
    name,
    file: `tools/images/Containerfile.${name}`,
    source,
    platformFlag: true,
    args: (arch, bases) => ({ DEBIAN_IMAGE: bases[arch].debian, REVISION: `${source.revision}${source.dirty ? '-dirty' : ''}`, CREATED: new Date(source.epoch * 1000).toISOString() }),
    version: async (image) => (await readImageFile(image, '/usr/share/nested-edge/version')).trim(),
  };
}

/** A static binary cross-compiled for `arch` by one of the tools/build-*.sh scripts (cached there by its recipe). */
export interface GoBinary {
  arch: Arch;
  path: string;
  sha256: string;
  version: string;
}
/** The otelcol-edge binary for `arch`, from tools/build-otelcol.sh --arch. */
export type CollectorBinary = GoBinary;

const sha256File = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Runs `script args` and reads its last lines: `<binary>=<path>` and `version=<version>`. */
async function goBinary(arch: Arch, binary: string, script: string, args: string[]): Promise<GoBinary> {
  const out = (await $({ quiet: true })`bash ${join(REPO_ROOT, script)} ${args}`).stdout;
  const line = (name: string): string => {
    const m = new RegExp(`^${name}=(.+)$`, 'm').exec(out);
    if (!m) throw new Error(`${script} ${args.join(' ')} printed no ${name}= line:\n${out}`);
    return m[1]!;
  };
  const path = line(binary);
  return { arch, path, sha256: sha256File(path), version: line('version') };
}

export const buildCollectorBinary = (arch: Arch): Promise<CollectorBinary> => goBinary(arch, 'otelcol-edge', 'tools/build-otelcol.sh', ['--arch', arch]);

/** The binary of a Dapr image for `arch`: our daprd wrapper, or the control-plane service from the dapr module. */
export function buildDaprBinary(name: DaprImageName, arch: Arch): Promise<GoBinary> {
  const binary = daprBinary(name);
  return name === 'daprd'
    ? goBinary(arch, binary, 'tools/build-daprd.sh', ['--arch', arch])
    : goBinary(arch, binary, 'tools/build-dapr-control-plane.sh', ['--arch', arch, binary]);
}

/** Copies the binary into the staged context at `rel` unless the same file is already there. */
function stageBinary(contextDir: string, rel: string, bin: GoBinary): void {
  const target = join(contextDir, rel);
  if (existsSync(target) && sha256File(target) === bin.sha256) return;
  mkdirSync(join(target, '..'), { recursive: true });
  copyFileSync(bin.path, `${target}.tmp`);
  renameSync(`${target}.tmp`, target);
}

/** Each architecture's binary, built (or found in its cache) and staged into the context. */
async function stageBinaries(source: Source, arches: Arch[], rel: (arch: Arch) => string, build: (arch: Arch) => Promise<GoBinary>, log?: (line: string) => void): Promise<Record<Arch, GoBinary>> {
  const binaries = {} as Record<Arch, GoBinary>;
  for (const arch of arches) {
    log?.(`${rel(arch)} for linux/${arch}`);
    binaries[arch] = await build(arch);
    stageBinary(source.dir, rel(arch), binaries[arch]);
  }
  return binaries;
}

const revisionOf = (source: Source): string => `${source.revision}${source.dirty ? '-dirty' : ''}`;

/** The sources of the collector image: its recipe staged; the binary's sources hashed and dated too. */
const COLLECTOR_RECIPE = 'tools/images/Containerfile.otel-collector';
const COLLECTOR_BINARY_INPUTS = ['tools/build-otelcol.sh', 'tools/lib/go-tool-cache.sh', 'tools/otelcol'];

/**
 * The collector image: the binary of each architecture is put into the staged context
 * (otelcol/<arch>/otelcol-edge) and its sha256 is a build argument, so it is part of the cache
 * key and checked inside the build.
 */
async function collectorRecipe(source: Source, arches: Arch[], log?: (line: string) => void): Promise<Recipe> {
  const binaries = await stageBinaries(source, arches, (arch) => `otelcol/${arch}/otelcol-edge`, buildCollectorBinary, log);
  const version = binaries[arches[0]!]!.version;
  return {
    name: 'otel-collector',
    file: COLLECTOR_RECIPE,
    source,
    platformFlag: true,
    args: (arch, bases) => ({
      DEBIAN_IMAGE: bases[arch].debian,
      // Passed explicitly, so the recipe does not depend on the builder deriving it from --platform (docker buildx sets it itself).
      TARGETARCH: arch,
      OTELCOL_VERSION: version,
      OTELCOL_SHA256: binaries[arch].sha256,
      REVISION: revisionOf(source),
      CREATED: new Date(source.epoch * 1000).toISOString(),
    }),
    version: async () => version,
  };
}

/** The Dapr images' recipe, staged per image; each binary's sources hashed and dated with it. */
const DAPR_RECIPE = 'tools/images/Containerfile.dapr';
function daprBinaryInputs(name: DaprImageName): string[] {
  // The control plane's modfile takes components-contrib's go.sum lines from tools/daprd/go.sum.
  const own = name === 'daprd' ? ['tools/build-daprd.sh', 'tools/lib/go-tool-cache.sh', 'tools/daprd'] : ['tools/build-dapr-control-plane.sh', 'tools/daprd/go.sum'];
  return ['tools/lib/dapr-build.sh', ...own];
}

/** A Dapr image: as the collector's, with the binary at dapr/<arch>/<binary> in the context. */
async function daprRecipe(name: DaprImageName, source: Source, arches: Arch[], log?: (line: string) => void): Promise<Recipe> {
  const binary = daprBinary(name);
  const binaries = await stageBinaries(source, arches, (arch) => `dapr/${arch}/${binary}`, (arch) => buildDaprBinary(name, arch), log);
  const version = binaries[arches[0]!]!.version;
  return {
    name,
    file: DAPR_RECIPE,
    source,
    platformFlag: true,
    args: (arch, bases) => ({
      DEBIAN_IMAGE: bases[arch].debian,
      TARGETARCH: arch,
      DAPR_BINARY: binary,
      IMAGE_NAME: name,
      DAPR_VERSION: version,
      DAPR_SHA256: binaries[arch].sha256,
      REVISION: revisionOf(source),
      CREATED: new Date(source.epoch * 1000).toISOString(),
    }),
    version: async () => version,
  };
}

/** Version read from an image once, remembered by its image id (reading needs a container copy). */
async function versionOf(recipe: Recipe, image: ArchImage): Promise<string> {
  const file = metaFile(image.id);
  if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  const version = await recipe.version(image.image);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify({ version }) + '\n');
  return version;
}

/** Earlier builds of `name` (other inputs, other tags): vfs stores each as full copies. */
async function removeStale(name: ImageName, keep: string[]): Promise<void> {
  const list = JSON.parse(await buildah(['images', '--json'])) as Array<{ names?: string[] | null }>;
  const prefix = `${LOCAL_PREFIX}/${name}:`;
  for (const n of list.flatMap((i) => i.names ?? [])) if (n.startsWith(prefix) && !keep.includes(n)) await removeName(n);
}

/**
 * Removes a list, or an image, by name. Never `rmi` a list: buildah 1.28 resolves a list's name
 * to its instance for this machine's platform and removes that image instead.
 */
async function removeName(name: string): Promise<void> {
  if ((await sh`buildah ${storageFlags()} manifest rm ${name}`.nothrow()).exitCode !== 0) await sh`buildah ${storageFlags()} rmi ${name}`.nothrow();
}

/** The recipe of `name`; workloads share one staged source (`workload`). */
async function recipeFor(name: ImageName, arches: Arch[], workload: () => Recipe, log?: (line: string) => void): Promise<Recipe> {
  if (isDaprImage(name)) return daprRecipe(name, await stageSource(name, [DAPR_RECIPE], [...daprBinaryInputs(name), ...BASE_INPUTS]), arches, log);
  if ((GO_SERVICES as readonly string[]).includes(name)) return collectorRecipe(await stageSource(name, [COLLECTOR_RECIPE], [...COLLECTOR_BINARY_INPUTS, ...BASE_INPUTS]), arches, log);
  if ((SERVICES as readonly string[]).includes(name)) return serviceRecipe(name as ServiceName, await stageSource(name, [`tools/images/Containerfile.${name}`], BASE_INPUTS));
  return workload();
}

export async function buildImages(opts: BuildOptions): Promise<BuiltImage[]> {
  const names = opts.names ?? IMAGES;
  // The host's architecture always: the build stages run on it.
  const arches = [hostArch(), ...opts.arches.filter((a) => a !== hostArch())];
  const bases = {} as Record<Arch, BaseImages>;
  for (const arch of arches) bases[arch] = await ensureBaseImages(arch, opts.log);

  const packageVersion = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const workloadSource = await stageSource('workloads', WORKLOAD_INPUTS, BASE_INPUTS);
  const built: BuiltImage[] = [];
  for (const name of names) {
    const archesOf = opts.foreignArchNames && !opts.foreignArchNames.includes(name) ? [hostArch()] : arches;
    const recipe = await recipeFor(name, archesOf, () => workloadRecipe(name, workloadSource, packageVersion), opts.log);
    const images: ArchImage[] = [];
    for (const arch of archesOf) images.push(await buildArch(recipe, arch, bases, opts));
    const version = await versionOf(recipe, images[0]!);
    const tag = tagFor(version, recipe.source);
    const ref = `${LOCAL_PREFIX}/${name}:${tag}`;
    await makeList(ref, images);
    built.push({ name, ref, tag, version, arches: images });
    await removeStale(name, [ref, ...images.map((i) => i.image)]);
    opts.log?.(`${ref}: ${images.map((i) => `${i.arch} ${(i.bytes / 1e6).toFixed(0)} MB${i.cached ? ' (cached)' : ` (${i.seconds.toFixed(0)} s)`}`).join(', ')}`);
  }
  // vfs keeps a full copy per intermediate image: drop them once every image of this run exists.
  await pruneDangling();
  return built;
}
