// npm run images [-- --arch amd64,arm64] [--only NAME,...] [--no-cache] [--json FILE]
//   Builds every image the bundle ships (buildah, local storage under $EDGE_TOOLS_DIR), prints
//   tags and sizes. Architectures default to every one this machine can build.
// node dist/src/images/main.js base
//   Only the base images (Debian, Node) of every buildable architecture: tools/setup.sh --images.
// npm run images:rehearse [-- same options]
//   Then the air-gap rehearsal: registries A (connected) and B (site) on 127.0.0.1, push to A,
//   skopeo copy to B keeping digests, and print the EDGE_IMAGES mapping for B.
// npm run images:invocation [-- --no-cache] [--smoke] [--json FILE]
//   The bundle's invocation image from cnab/Dockerfile.tmpl, as `porter build` makes it (with a
//   stand-in for Porter's runtime: docs/invocation-image.md); prints its ref. --smoke runs the checks.
import { writeFileSync } from 'node:fs';
import { ensureBaseImages } from './base.js';
import { buildImages, type BuiltImage } from './build.js';
import { buildInvocationImage, smokeInvocationImage } from './invocation.js';
import { copyImages, pushImages, relocationMapping, type PushedImage } from './relocate.js';
import { startRegistry } from './registry.js';
import { KNOWN_IMAGES } from '../kubernetes/inputs.js';
import { ARCHES, cannotBuild, IMAGES, type Arch, type ImageName } from './versions.js';

const say = (line: string): void => void process.stderr.write(`[images] ${line}\n`);

class UsageError extends Error {}

function parse(argv: string[]): { command: string; arches: Arch[]; only?: ImageName[]; noCache: boolean; smoke: boolean; json?: string } {
  const [command = 'build', ...rest] = argv;
  if (!['build', 'rehearse', 'base', 'invocation'].includes(command)) throw new UsageError(`unknown command ${command} (build, rehearse, base, invocation)`);
  let arches: Arch[] | undefined;
  let only: ImageName[] | undefined;
  let noCache = false;
  let smoke = false;
  let json: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const value = (): string => rest[++i] ?? (() => { throw new UsageError(`${a} needs a value`); })();
    if (a === '--arch') arches = value().split(',') as Arch[];
    else if (a === '--only') only = value().split(',') as ImageName[];
    else if (a === '--no-cache') noCache = true;
    else if (a === '--smoke' && command === 'invocation') smoke = true;
    else if (a === '--json') json = value();
    else throw new UsageError(`unknown option ${a}`);
  }
  const known: readonly string[] = IMAGES;
  const problems = [
    ...(arches ?? []).filter((x) => !ARCHES.includes(x)).map((x) => `--arch: unknown architecture ${x} (${ARCHES.join(', ')})`),
    ...(only ?? []).filter((x) => !known.includes(x)).map((x) => `--only: unknown image ${x} (${known.join(', ')})`),
    ...(arches ?? []).flatMap((x) => (cannotBuild(x) ? [`--arch ${x}: ${cannotBuild(x)}`] : [])),
  ];
  if (problems.length) throw new UsageError(problems.join('\n'));
  if (!arches) {
    arches = ARCHES.filter((x) => !cannotBuild(x));
    for (const x of ARCHES.filter((y) => cannotBuild(y))) say(`skipping ${x}: ${cannotBuild(x)}`);
  }
  return { command, arches, only, noCache, smoke, json };
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

function report(built: BuiltImage[], pushed?: PushedImage[]): string {
  const rows = built.flatMap((b) => b.arches.map((a) => {
    const compressed = pushed?.find((p) => p.name === b.name)?.compressed[a.arch];
    return `${b.ref.padEnd(72)} ${a.arch.padEnd(6)} ${mb(a.bytes).padStart(10)}${compressed ? ` ${mb(compressed).padStart(10)} compressed` : ''}`;
  }));
  return [`${'image'.padEnd(72)} ${'arch'.padEnd(6)} ${'size'.padStart(10)}`, ...rows].join('\n');
}

/** Builds (or finds) the invocation image, prints its ref; with --smoke, runs the checks too. */
async function invocation(noCache: boolean, smoke: boolean, json?: string): Promise<void> {
  const image = await buildInvocationImage({ noCache, log: say });
  say(`${image.cached ? 'found' : 'built'} ${image.keyed} in ${image.seconds.toFixed(1)} s (${mb(image.bytes)})`);
  const checks = smoke ? await smokeInvocationImage(image.ref) : [];
  for (const c of checks) say(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.ok ? '' : `: ${c.detail}`}`);
  if (json) writeFileSync(json, JSON.stringify({ image: { ...image, dockerfile: undefined, buildahDockerfile: undefined }, checks }, null, 2) + '\n');
  process.stdout.write(`${image.ref}\n`);
  if (checks.some((c) => !c.ok)) process.exitCode = 1;
}

async function main(argv: string[]): Promise<void> {
  const opts = parse(argv);
  const started = Date.now();
  if (opts.command === 'base') {
    for (const arch of opts.arches) say(`${arch}: ${Object.values(await ensureBaseImages(arch, say)).slice(1).join(', ')}`);
    return;
  }
  if (opts.command === 'invocation') return invocation(opts.noCache, opts.smoke, opts.json);
  const built = await buildImages({ arches: opts.arches, names: opts.only, noCache: opts.noCache, log: say });
  say(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (opts.command === 'build') {
    process.stdout.write(report(built) + '\n');
    if (opts.json) writeFileSync(opts.json, JSON.stringify({ built }, null, 2) + '\n');
    return;
  }
  const a = await startRegistry('a');
  const b = await startRegistry('b').catch(async (err: unknown) => {
    await a.stop();
    throw err;
  });
  try {
    say(`registry A (connected) ${a.host}, registry B (air-gapped site) ${b.host}`);
    const pushed = await pushImages(built, a.host);
    const copied = await copyImages(pushed, b.host);
    const mapping = relocationMapping(copied);
    process.stdout.write(report(built, pushed) + '\n\n');
    process.stdout.write(`EDGE_IMAGES for registry B (digests identical in A and B):\n${JSON.stringify(mapping, null, 2)}\n`);
    // After --only: what the bundle deploys that this run did not build, so did not relocate.
    const missing = KNOWN_IMAGES.filter((n) => !(n in mapping));
    if (missing.length) say(`not in this mapping (not built in this run): ${missing.join(', ')}`);
    if (opts.json) writeFileSync(opts.json, JSON.stringify({ built, pushed, copied, mapping }, null, 2) + '\n');
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    say('registries stopped');
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  say(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
