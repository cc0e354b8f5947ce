// Build-stage helper of workloads/Dockerfile: gathers what ONE workload needs at run time into
// an output directory, the final image's /app:
//   dist/...        the compiled files its entry points reach (static imports only)
//   package.json    dependencies = only the packages those files import
//   node_modules/   the lock file's tree pruned to those packages' production dependencies
//   sbom/           npm.cdx.json (CycloneDX) and npm-dependencies.txt (npm ls)
// Usage (in /src, after tsc and npm ci): node tools/images/workload-deps.mjs <workload> <outdir>
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { isBuiltin } from 'node:module';

const [workload, outArg] = process.argv.slice(2);
if (!workload || !outArg) throw new Error('usage: workload-deps.mjs <workload> <outdir>');
const out = resolve(outArg);
const roots = [`dist/workloads/${workload}/src/main.js`, 'dist/workloads/shared/src/image-entry.js'];
for (const r of roots) if (!existsSync(r)) throw new Error(`${r} not found: is "${workload}" a workload (workloads/<name>/src/main.ts)?`);

// `import x from '...'`, `export ... from '...'`, `import '...'`, `import('...')` with a literal
// specifier (the gateway loads a store's client only when that store is selected; telemetry.js
// loads telemetry-sdk.js only when telemetry is on) and `require('<package>')` (telemetry-sdk.js
// requires the OpenTelemetry SDK): the image must hold them all. Dynamic imports are not followed
// in the image entry, which reaches the other workloads only that way.
const SPECIFIER = /^\s*(?:import|export)\s(?:[^'"]*?\sfrom\s)?['"]([^'"]+)['"]/gm;
const DYNAMIC_SPECIFIER = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
const REQUIRED_PACKAGE = /\brequire\(\s*['"]([^'"./][^'"]*)['"]\s*\)/g;
const IMAGE_ENTRY = resolve('dist/workloads/shared/src/image-entry.js');
const files = new Set();
const packages = new Set();
const queue = roots.map((r) => resolve(r));
while (queue.length > 0) {
  const file = queue.pop();
  if (files.has(file)) continue;
  files.add(file);
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(SPECIFIER), ...text.matchAll(REQUIRED_PACKAGE), ...(file === IMAGE_ENTRY ? [] : text.matchAll(DYNAMIC_SPECIFIER))].map((m) => m[1]);
  for (const spec of specs) {
    if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
    else if (!isBuiltin(spec)) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
  }
}

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const missing = [...packages].filter((p) => !(p in (pkg.dependencies ?? {})));
if (missing.length) throw new Error(`${workload} imports ${missing.join(', ')}, which package.json does not list under dependencies`);
pkg.dependencies = Object.fromEntries([...packages].sort().map((p) => [p, pkg.dependencies[p]]));
for (const k of ['devDependencies', 'scripts', 'bin']) delete pkg[k];

mkdirSync(join(out, 'sbom'), { recursive: true });
writeFileSync(join(out, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
for (const file of files) {
  const target = join(out, relative(process.cwd(), file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}

const run = (command, args, stdoutFile) => {
  const r = spawnSync(command, args, { cwd: out, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed in ${out} (${r.status ?? r.signal})`);
  if (stdoutFile) writeFileSync(join(out, stdoutFile), r.stdout);
};
// The full tree, then npm removes what the trimmed package.json no longer needs (no download).
copyFileSync('package-lock.json', join(out, 'package-lock.json'));
run('cp', ['-a', resolve('node_modules'), join(out, 'node_modules')]);
run('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund', '--loglevel=error']);
run('npm', ['sbom', '--omit=dev', '--sbom-format=cyclonedx'], 'sbom/npm.cdx.json');
run('npm', ['ls', '--omit=dev', '--all'], 'sbom/npm-dependencies.txt');
rmSync(join(out, 'package-lock.json'));
for (const p of packages) if (!existsSync(join(out, 'node_modules', p, 'package.json'))) throw new Error(`${p} is missing from ${out}/node_modules after the prune`);
console.log(`${workload}: ${files.size} files, dependencies ${[...packages].sort().join(', ') || '(none)'}`);
