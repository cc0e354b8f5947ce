// The bundle's invocation image, built here with buildah the way `porter build` builds it (Porter
// itself cannot be built on this machine): cnab/Dockerfile.tmpl expanded as Porter expands it
// (src/images/porter-template.ts), the repository files it COPYs staged as the build context
// with a .cnab directory, and the build run on this repo's own storage (src/images/buildah.ts).
//
// What differs from `porter build` (docs/invocation-image.md):
//   - .cnab/app/run is a STAND-IN: it starts .cnab/app/run.mjs, generated from porter.yaml, which
//     runs the exec step of $CNAB_ACTION (src/images/standin-runtime.ts), not porter-runtime + the
//     exec mixin binary; no .cnab/bundle.json, no .cnab/app/mixins, no runtimes;
//   - `--link` is dropped from COPY (buildah 1.28 rejects it; same files in the image);
//   - BASE_IMAGE and GO_IMAGE are images made here (Node on the Debian base; this machine's Go
//     toolchain on it), and the Go module/build caches and npm's cache are bind-mounted into the
//     build (--volume) so a rebuild after a change does not download and compile everything again.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { $ } from 'zx';
import { toolsDir } from '../common/tools.js';
import { defaultNodeImage, ensureBaseImages } from './base.js';
import { buildah, inspectImage, runLogged, sh, storageFlags } from './buildah.js';
import { actionEnv, BUNDLE_DIR, contextInputs, expandPorterTemplate, forBuildah, mixinBuildLines, readManifest, type PorterManifest } from './porter-template.js';
import { runScript, standInModule } from './standin-runtime.js';
import { stageSource, tagFor } from './source.js';
import { hostArch, LOCAL_PREFIX, readPins, REPO_ROOT } from './versions.js';

export { runScript, standInModule } from './standin-runtime.js';
export { expandPorterTemplate, forBuildah, contextInputs, actionEnv, readManifest, type PorterTemplateOptions } from './porter-template.js';

export const TEMPLATE = 'cnab/Dockerfile.tmpl';
export const MANIFEST = 'porter.yaml';
export const INVOCATION_REPO = `${LOCAL_PREFIX}/invocation`;

const execFileP = promisify(execFile);
const shortKey = (...parts: string[]): string => createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 16);

/**
 * Persistent caches bind-mounted into the build: host dir -> path in the build containers. They
 * are this machine's own Go and npm caches, which setup filled building helm (same toolchain,
 * -trimpath, CGO off: the package builds are found in the cache) and running npm ci on the same
 * lockfile, so even a first build neither downloads nor compiles them again.
 */
export async function buildCacheVolumes(goBin: string): Promise<Record<string, string>> {
  const go = await goEnv(goBin, ['GOMODCACHE', 'GOCACHE']);
  const npm = (await $({ quiet: true, nothrow: true })`npm config get cache`).stdout.trim() || join(process.env.HOME ?? '/root', '.npm');
  return { [go.GOMODCACHE!]: '/go/pkg/mod', [go.GOCACHE!]: '/root/.cache/go-build', [npm]: '/root/.npm' };
}

// ---- the Go image (GO_IMAGE) ------------------------------------------------------------------

export interface GoImage {
  /** `localhost/nested-edge/golang:<go version>`, what GO_IMAGE names. */
  ref: string;
  /** The same image under its cache key. */
  keyed: string;
  id: string;
  version: string;
  /** The host's go, whose toolchain the image holds. */
  goBin: string;
}

async function goEnv(goBin: string, names: string[]): Promise<Record<string, string>> {
  const out = JSON.parse((await $({ quiet: true })`${goBin} env -json ${names}`).stdout) as Record<string, string>;
  return out;
}

const hostCaBundle = (): string | undefined => ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'].find((f) => existsSync(f));

/** Bumped when ensureGoImage makes the image differently (part of its cache key). */
const GO_IMAGE_RECIPE = 'debian base + GOROOT at /usr/local/go + host CA bundle; GOPATH=/go GOTOOLCHAIN=local; v1';

/**
 * The Go image of the helm stage: the Debian base with this machine's Go toolchain copied to
 * /usr/local/go and this machine's CA bundle (the official golang:*-bookworm images have
 * ca-certificates; the minbase has none). Made with buildah from/copy/commit, tagged by a key
 * of its inputs (Go version and toolchain files' identity, base image id, CA bundle).
 */
export async function ensureGoImage(log: (line: string) => void = () => {}): Promise<GoImage> {
  const goBin = existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
  const env = await goEnv(goBin, ['GOROOT', 'GOVERSION', 'GOPROXY', 'GOSUMDB']);
  const version = env.GOVERSION!.replace(/^go/, '');
  const pins = readPins();
  let debian = `${LOCAL_PREFIX}/debian:${pins.DEBIAN_SUITE}`;
  let base = await inspectImage(debian);
  if (!base) {
    debian = (await ensureBaseImages(hostArch(), log)).debian;
    base = await inspectImage(debian);
  }
  if (!base) throw new Error(`no Debian base image ${debian}`);
  const ca = hostCaBundle();
  const caHash = ca ? createHash('sha256').update(readFileSync(ca)).digest('hex') : 'none';
  const goHash = createHash('sha256').update(readFileSync(join(env.GOROOT!, 'VERSION'))).update(readFileSync(join(env.GOROOT!, 'bin', 'go'))).digest('hex');
  const key = shortKey(GO_IMAGE_RECIPE, version, goHash, hostArch(), base.id, caHash, env.GOPROXY!, env.GOSUMDB!);
  const keyed = `${LOCAL_PREFIX}/golang:${version}-${pins.DEBIAN_SUITE}-${hostArch()}-${key}`;
  const ref = `${LOCAL_PREFIX}/golang:${version}`;
  let info = await inspectImage(keyed);
  if (!info) {
    log(`making ${keyed} from ${env.GOROOT}`);
    const ctr = await buildah(['from', '--pull-never', debian]);
    try {
      await buildah(['copy', ctr, env.GOROOT!, '/usr/local/go']);
      if (ca) await buildah(['copy', ctr, ca, '/etc/ssl/certs/ca-certificates.crt']);
      await buildah(['run', '--isolation', 'chroot', ctr, '--', 'mkdir', '-p', '/go/bin', '/go/pkg/mod', '/root/.cache/go-build']);
      await buildah([
        'config',
        '--env', 'PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--env', 'GOPATH=/go', '--env', 'GOTOOLCHAIN=local', '--env', 'GOCACHE=/root/.cache/go-build',
        '--env', `GOPROXY=${env.GOPROXY}`, '--env', `GOSUMDB=${env.GOSUMDB}`,
        '--workingdir', '/go',
        '--label', `org.opencontainers.image.title=nested-edge golang`,
        '--label', `org.opencontainers.image.description=Go ${version} (this machine's toolchain) on the nested-edge Debian base`,
        '--label', `org.opencontainers.image.version=${version}`,
        '--cmd', 'go version',
        ctr,
      ]);
      await buildah(['commit', '--rm', ctr, keyed]);
    } finally {
      await sh`buildah ${storageFlags()} rm ${ctr}`.nothrow();
    }
    info = await inspectImage(keyed);
    if (!info) throw new Error(`${keyed} was committed but is not in local storage`);
  }
  if ((await inspectImage(ref))?.id !== info.id) await buildah(['tag', keyed, ref]);
  return { ref, keyed, id: info.id, version, goBin };
}

// ---- the invocation image -----------------------------------------------------------------------

export interface InvocationBuildOptions {
  /** Rebuild even when an image of the same inputs exists (buildah's layer cache still applies). */
  noCache?: boolean;
  log?: (line: string) => void;
}

export interface InvocationImage {
  /** `localhost/nested-edge/invocation:<version>-git.<commit>[.dirty.<hash>]`. */
  ref: string;
  /** The same image under its cache key, `localhost/nested-edge/invocation:build-<key>`. */
  keyed: string;
  id: string;
  bytes: number;
  cached: boolean;
  seconds: number;
  /** The generated Dockerfile as Porter would write it (.cnab/Dockerfile), and as built. */
  dockerfile: string;
  buildahDockerfile: string;
  buildArgs: Record<string, string>;
  contextDir: string;
}

/** The Dockerfile porter build would generate for this repository. */
export function generatedDockerfile(root = REPO_ROOT): { dockerfile: string; manifest: PorterManifest } {
  const manifest = readManifest(readFileSync(join(root, MANIFEST), 'utf8'));
  const dockerfile = expandPorterTemplate(readFileSync(join(root, TEMPLATE), 'utf8'), { mixinLines: mixinBuildLines(manifest.mixins), manifestPath: MANIFEST });
  return { dockerfile, manifest };
}

/** Writes `content` unless the file already holds exactly that (the staged context is shared by runs). */
function writeIfChanged(path: string, content: string, mode?: number): void {
  if (!existsSync(path) || readFileSync(path, 'utf8') !== content) {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content);
  }
  if (mode !== undefined) chmodSync(path, mode);
}

/** Builds (or finds) the invocation image; the build log goes to $EDGE_TOOLS_DIR/images/logs/invocation.log. */
export async function buildInvocationImage(opts: InvocationBuildOptions = {}): Promise<InvocationImage> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const { dockerfile, manifest } = generatedDockerfile();
  const buildahDockerfile = forBuildah(dockerfile);
  // Porter's context is the whole bundle directory (minus .dockerignore); only what the
  // Dockerfile reads is staged, plus the recipe itself and .dockerignore.
  const inputs = contextInputs(dockerfile).filter((p) => p !== '.cnab');
  const source = await stageSource('invocation', [...inputs, '.dockerignore', TEMPLATE]);
  const run = runScript();
  const runModule = standInModule(manifest);
  writeIfChanged(join(source.dir, '.cnab', 'Dockerfile'), dockerfile);
  // Outside .cnab: COPY .cnab /cnab puts all of .cnab into the image, and Porter's has no such file.
  const buildahFile = join(source.dir, '.buildah', 'Dockerfile');
  writeIfChanged(buildahFile, buildahDockerfile);
  writeIfChanged(join(source.dir, '.cnab', 'app', 'run'), run, 0o755);
  writeIfChanged(join(source.dir, '.cnab', 'app', 'run.mjs'), runModule);
  // Porter puts the canonical manifest there; porter-runtime reads it (the stand-in does not).
  writeIfChanged(join(source.dir, '.cnab', 'app', MANIFEST), readFileSync(join(source.dir, MANIFEST), 'utf8'));

  let node = defaultNodeImage();
  let nodeInfo = await inspectImage(node);
  if (!nodeInfo) {
    node = (await ensureBaseImages(hostArch(), log)).node;
    nodeInfo = await inspectImage(node);
  }
  if (!nodeInfo) throw new Error(`no Node base image ${node}`);
  const go = await ensureGoImage(log);
  const buildArgs = { BUNDLE_DIR, BASE_IMAGE: node, GO_IMAGE: go.ref };
  const key = shortKey('invocation', hostArch(), source.hash, buildahDockerfile, run, runModule, JSON.stringify(buildArgs), nodeInfo.id, go.id);
  const keyed = `${INVOCATION_REPO}:build-${key}`;
  const version = manifest.version;
  const ref = `${INVOCATION_REPO}:${tagFor(version, source)}`;
  const result = (info: { id: string; bytes: number }, cached: boolean): InvocationImage => ({
    ref, keyed, id: info.id, bytes: info.bytes, cached, seconds: (Date.now() - started) / 1000, dockerfile, buildahDockerfile, buildArgs, contextDir: source.dir,
  });

  const existing = opts.noCache ? undefined : await inspectImage(keyed);
  if (existing) {
    if ((await inspectImage(ref))?.id !== existing.id) await buildah(['tag', keyed, ref]);
    return result(existing, true);
  }

  log(`building ${ref} (context ${source.dir})`);
  const volumes = Object.entries(await buildCacheVolumes(go.goBin));
  const ca = hostCaBundle();
  for (const [host] of volumes) mkdirSync(host, { recursive: true });
  await runLogged('buildah', [
    ...storageFlags(), 'build', '--isolation', 'chroot', '--layers', '--force-rm', '--pull=never',
    '--timestamp', String(source.epoch),
    // This machine's trust store (a TLS-intercepting proxy's CA is in it) for npm in stage 1.
    ...(ca ? ['--secret', `id=build-ca,src=${ca}`] : []),
    ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    ...volumes.flatMap(([host, target]) => ['--volume', `${host}:${target}`]),
    '-f', buildahFile, '-t', keyed, source.dir,
  ], join(toolsDir(), 'images', 'logs', 'invocation.log'));
  const info = await inspectImage(keyed);
  if (!info) throw new Error(`buildah reported success but ${keyed} is not in local storage`);
  await buildah(['tag', keyed, ref]);
  log(`${ref}: ${(info.bytes / 1e6).toFixed(0)} MB in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return result(info, false);
}

// ---- the smoke check ---------------------------------------------------------------------------

export interface SmokeCheck {
  name: string;
  ok: boolean;
  detail: string;
}

type Run = (command: string[], env?: Record<string, string>, timeoutMs?: number) => Promise<{ code: number; stdout: string; stderr: string }>;

/**
 * One working container of `image` for several commands (vfs copies the whole root filesystem
 * per container: one copy, not one per check). Each command runs as the image's user, in its
 * working directory, with its environment plus `env`; a non-zero exit is returned, not thrown.
 */
async function withContainer<T>(image: string, fn: (run: Run) => Promise<T>): Promise<T> {
  const ctr = await buildah(['from', '--pull-never', image]);
  const run: Run = (command, env = {}, timeoutMs = 60_000) =>
    execFileP('buildah', [...storageFlags(), 'run', '--isolation', 'chroot', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), ctr, '--', ...command], { timeout: timeoutMs, maxBuffer: 16 << 20 }).then(
      (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
    );
  try {
    return await fn(run);
  } finally {
    await sh`buildah ${storageFlags()} rm ${ctr}`.nothrow();
  }
}

/**
 * Runs the image as a CNAB driver would, without any credential: the install must fail with one
 * JSON document naming the missing kubeconfig. Then checks what the image holds (helm, the Dapr
 * chart, the compiled steps) and its user. Every check is reported; none throws.
 */
export async function smokeInvocationImage(image: string, helmVersion = 'v3.22.0', daprVersion = '1.16.2'): Promise<SmokeCheck[]> {
  const manifest = readManifest(readFileSync(join(REPO_ROOT, MANIFEST), 'utf8'));
  const checks: SmokeCheck[] = [];
  const check = (name: string, ok: boolean, detail: string): void => void checks.push({ name, ok, detail });

  const info = await inspectImage(image);
  if (!info) return [{ name: `${image} is in local storage`, ok: false, detail: 'not found' }];
  check('config: user 65532, workdir /cnab/app, CMD /cnab/app/run', info.user === '65532' && info.workingDir === BUNDLE_DIR && JSON.stringify(info.cmd) === '["/cnab/app/run"]', JSON.stringify({ user: info.user, workingDir: info.workingDir, cmd: info.cmd }));

  await withContainer(image, async (run) => {
    // What the driver runs: the image's ENTRYPOINT + CMD (/cnab/app/run), the action's environment.
    const install = await run([...info.entrypoint, ...info.cmd], actionEnv(manifest, 'install'), 120_000);
    const docs = install.stdout.split('\n').filter((l) => l.trim() !== '');
    let error = '';
    try {
      error = docs.length === 1 ? String((JSON.parse(docs[0]!) as { error?: unknown }).error ?? '') : '';
    } catch {
      error = '';
    }
    check(
      'install without a kubeconfig: non-zero exit, one JSON document whose error names the kubeconfig',
      install.code !== 0 && docs.length === 1 && /credential kubeconfig: no kubeconfig at \/home\/nonroot\/\.kube\/config/.test(error),
      `exit ${install.code}; stdout ${JSON.stringify(install.stdout.trim())}; stderr ${JSON.stringify(install.stderr.trim().slice(-400))}`,
    );

    const helm = await run(['helm', 'version', '--short']);
    const helmOut = helm.stdout.trim();
    check(`helm version --short prints ${helmVersion}`, helm.code === 0 && (helmOut === helmVersion || helmOut.startsWith(`${helmVersion}+`)), helmOut || helm.stderr.trim());

    // porter.yaml: Porter's tail removes the copied one, then COPY .cnab /cnab brings the
    // canonical manifest (.cnab/app/porter.yaml), which porter-runtime reads.
    const files = ['dist/steps/main.js', `vendor-charts/dapr-${daprVersion}/Chart.yaml`, 'charts/broker/Chart.yaml', 'node_modules/js-yaml/package.json', 'src/topology/default-topology.yaml', 'package.json', 'porter.yaml', '/cnab/app/run'];
    const present = await run(['sh', '-c', `for f in ${files.join(' ')}; do test -e "$f" || echo "missing $f"; done; test -x /cnab/app/run || echo "run not executable"; pwd`]);
    check('the compiled steps, the charts, the vendored Dapr chart, the manifest and run under /cnab/app', present.code === 0 && present.stdout.trim() === BUNDLE_DIR, present.stdout.trim() || present.stderr.trim());

    const id = await run(['id']);
    check('runs as uid 65532 (nonroot), group root', id.code === 0 && /^uid=65532\(nonroot\) gid=0\(root\)/.test(id.stdout.trim()), id.stdout.trim() || id.stderr.trim());
  });
  return checks;
}
