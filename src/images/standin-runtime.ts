// STAND-IN for Porter's runtime: the one part of the invocation image that differs from a real
// `porter build`. Porter puts porter-runtime plus the exec mixin at /cnab/app/run; Porter cannot be
// built here, so /cnab/app/run starts /cnab/app/run.mjs, a small Node module generated from
// porter.yaml that does what they do for an exec step, at run time:
//   - picks the steps of $CNAB_ACTION;
//   - resolves `${ bundle.name }`, `${ bundle.version }` and `${ bundle.images.<name>.* }` in the
//     step's envs and arguments, applying /cnab/app/relocation-mapping.json when the driver
//     mounts one (CNAB's relocation mapping: original reference -> relocated one), so a bundle
//     moved into another registry deploys the moved images;
//   - runs command + arguments from the bundle directory with the driver's environment plus the
//     step's envs, stdout and stderr passed through;
//   - when the step succeeds, writes each output whose jsonPath is `$` (the whole stdout document)
//     to /cnab/app/outputs/<name>, where the driver collects it; exits with the step's exit code.
// Not done (refused when generating): more than one step per action, exec `flags`, other jsonPaths,
// parameter/credential templates (this bundle passes those through the driver's environment).
import type { PorterManifest } from './porter-template.js';
import { BUNDLE_DIR } from './porter-template.js';

export interface StandInStep {
  command: string;
  arguments: string[];
  envs: Record<string, string>;
  /** Output name -> file written from the step's stdout. */
  outputs: string[];
}

export interface StandInPlan {
  name: string;
  version: string;
  bundleDir: string;
  outputsDir: string;
  relocationMapping: string;
  images: PorterManifest['images'];
  actions: Record<string, StandInStep>;
}

export interface StandInOptions {
  /** Default /cnab/app; a test runs the script elsewhere. */
  bundleDir?: string;
}

/** What the stand-in needs from porter.yaml; throws on what it cannot do as Porter would. */
export function standInPlan(m: PorterManifest, opts: StandInOptions = {}): StandInPlan {
  const bundleDir = opts.bundleDir ?? BUNDLE_DIR;
  const actions: Record<string, StandInStep> = {};
  for (const [action, steps] of Object.entries(m.actions)) {
    if (steps.length !== 1) throw new Error(`porter.yaml: action ${action} has ${steps.length} steps; the stand-in runs exactly one`);
    const step = steps[0]!;
    if (Object.keys(step.flags).length) throw new Error(`porter.yaml: action ${action} uses exec flags, which the stand-in does not render`);
    const bad = step.outputs.filter((o) => o.jsonPath !== '$');
    if (bad.length) throw new Error(`porter.yaml: action ${action}: output ${bad[0]!.name} has jsonPath ${bad[0]!.jsonPath}; the stand-in writes only '$' (the whole stdout)`);
    for (const text of [...Object.values(step.envs), ...step.arguments]) checkExpressions(text, m);
    actions[action] = { command: step.command, arguments: step.arguments, envs: step.envs, outputs: step.outputs.map((o) => o.name) };
  }
  return { name: m.name, version: m.version, bundleDir, outputsDir: `${bundleDir}/outputs`, relocationMapping: `${bundleDir}/relocation-mapping.json`, images: m.images, actions };
}

function checkExpressions(text: string, m: PorterManifest): void {
  for (const [, expr] of text.matchAll(/\$\{\s*([^}]*?)\s*\}/g)) {
    if (expr === 'bundle.name' || expr === 'bundle.version') continue;
    const img = /^bundle\.images\.([A-Za-z0-9_-]+)\.(repository|tag|digest)$/.exec(expr!);
    if (img && m.images[img[1]!]) continue;
    throw new Error(`porter.yaml: the stand-in cannot resolve \${ ${expr} } (only bundle.name, bundle.version, bundle.images.* of listed images)`);
  }
}

// The script's body: plain JavaScript, no imports beyond Node's own (the image's node_modules are
// the steps'). PLAN is prepended as a constant.
const BODY = String.raw`
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const fail = (message, code = 2) => {
  process.stderr.write('run: ' + message + '\n');
  process.exit(code);
};

// A reference as repository, tag, digest (a registry port's colon is not a tag).
function parseRef(ref) {
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : '';
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const colon = name.lastIndexOf(':');
  const tagged = colon > name.lastIndexOf('/');
  return { repository: tagged ? name.slice(0, colon) : name, tag: tagged ? name.slice(colon + 1) : '', digest };
}

// Porter: an image's original reference is repository:tag (or @digest); a relocated one replaces
// the repository and brings its digest, and its tag when it has one.
function resolvedImages() {
  let mapping = {};
  if (existsSync(PLAN.relocationMapping)) {
    try {
      mapping = JSON.parse(readFileSync(PLAN.relocationMapping, 'utf8'));
    } catch (err) {
      fail(PLAN.relocationMapping + ' is not JSON (' + err.message + '): the driver mounts the relocation mapping there');
    }
  }
  const out = {};
  for (const [name, img] of Object.entries(PLAN.images)) {
    const original = img.digest ? img.repository + '@' + img.digest : img.repository + ':' + (img.tag ?? '');
    const moved = mapping[original];
    const r = { repository: img.repository, tag: img.tag ?? '', digest: img.digest ?? '' };
    if (typeof moved === 'string') {
      const p = parseRef(moved);
      r.repository = p.repository;
      if (p.tag) r.tag = p.tag;
      r.digest = p.digest;
    }
    out[name] = r;
  }
  return out;
}

const action = process.env.CNAB_ACTION ?? '';
const step = PLAN.actions[action];
if (!step) fail('unknown action "' + action + '" (' + Object.keys(PLAN.actions).join(', ') + ')');
const images = resolvedImages();
const resolve = (text) =>
  text.replace(/\$\{\s*([^}]*?)\s*\}/g, (_all, expr) => {
    if (expr === 'bundle.name') return PLAN.name;
    if (expr === 'bundle.version') return PLAN.version;
    const m = /^bundle\.images\.([A-Za-z0-9_-]+)\.(repository|tag|digest)$/.exec(expr);
    return m ? images[m[1]][m[2]] : fail('cannot resolve the expression ' + expr);
  });

const env = { ...process.env };
for (const [k, v] of Object.entries(step.envs)) env[k] = resolve(v);
const child = spawn(step.command, step.arguments.map(resolve), { cwd: PLAN.bundleDir, env, stdio: ['inherit', 'pipe', 'inherit'] });
let stdout = '';
child.stdout.on('data', (d) => {
  stdout += d;
  process.stdout.write(d);
});
child.on('error', (err) => fail(step.command + ': ' + err.message, 127));
child.on('close', (code, signal) => {
  // As the exec mixin: a failed step has no outputs.
  for (const name of code === 0 ? step.outputs : []) {
    try {
      mkdirSync(PLAN.outputsDir, { recursive: true });
      writeFileSync(PLAN.outputsDir + '/' + name, stdout.trim());
    } catch (err) {
      process.stderr.write('run: output ' + name + ' not written: ' + err.message + '\n');
    }
  }
  process.exit(signal ? 128 : code ?? 1);
});
`;

/** /cnab/app/run.mjs: Node (ESM whatever package.json says), the plan embedded. */
export function standInModule(m: PorterManifest, opts: StandInOptions = {}): string {
  return [
    "// STAND-IN for Porter's runtime (porter-runtime + the exec mixin), generated from porter.yaml by",
    '// src/images/standin-runtime.ts: NOT what `porter build` puts here. See docs/invocation-image.md.',
    `const PLAN = ${JSON.stringify(standInPlan(m, opts), null, 1)};`,
    BODY,
  ].join('\n');
}

/** /cnab/app/run, what the driver starts: the stand-in module beside it. */
export function runScript(opts: StandInOptions = {}): string {
  const dir = opts.bundleDir ?? BUNDLE_DIR;
  return ['#!/bin/sh', "# STAND-IN for Porter's runtime: see run.mjs beside it.", `exec node '${dir}/run.mjs' "$@"`, ''].join('\n');
}
