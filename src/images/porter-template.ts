// What `porter build` makes of the bundle's Dockerfile template and manifest, as pure functions
// (no I/O): the generated Dockerfile, the build context's inputs, the step environment the exec
// mixin would run with. src/images/invocation.ts builds the image from them with buildah.
//
// The Dockerfile generation follows Porter v1 (pkg/build/dockerfile-generator.go):
//   1. a template without a `# syntax=` line gets `# syntax=docker/dockerfile-upstream:1.4.0` first;
//   2. the line `# PORTER_INIT` becomes the BUNDLE_* build arguments and the non-root user; the
//      line `# PORTER_MIXINS` becomes the mixins' build lines. A missing token: appended at the end;
//   3. then appended: `RUN rm ${BUNDLE_DIR}/<manifest>` (when the manifest is in the build
//      context), `RUN rm -fr ${BUNDLE_DIR}/.cnab`, `COPY --link .cnab /cnab` (buildkit driver),
//      `RUN chgrp -R ${BUNDLE_GID} /cnab && chmod -R g=u /cnab`, `USER ${BUNDLE_UID}`,
//      `WORKDIR ${BUNDLE_DIR}`, `CMD ["/cnab/app/run"]`;
//   4. lines joined with "\n", no final newline, written to .cnab/Dockerfile; the build runs with
//      the bundle directory as context and --build-arg BUNDLE_DIR=/cnab/app.
import yaml from 'js-yaml';

/** Where the bundle lives in the invocation image (Porter's BUNDLE_DIR build argument). */
export const BUNDLE_DIR = '/cnab/app';
/** The user PORTER_INIT creates: uid 65532 in group root (gid 0). */
export const BUNDLE_UID = 65532;
export const BUNDLE_USER = 'nonroot';
export const BUNDLE_GID = 0;
/** Porter's default for a template that declares no syntax. */
export const PORTER_DEFAULT_SYNTAX = 'docker/dockerfile-upstream:1.4.0';
export const PORTER_INIT_TOKEN = '# PORTER_INIT';
export const PORTER_MIXINS_TOKEN = '# PORTER_MIXINS';

export interface PorterTemplateOptions {
  /** What the mixins print for `build` (mixinBuildLines), in place of `# PORTER_MIXINS`. */
  mixinLines: readonly string[];
  /**
   * The manifest's path relative to the build context (porter.yaml), or undefined when it lies
   * outside the context: then Porter appends no `RUN rm` for it.
   */
  manifestPath?: string;
  /** Porter v1 builds with buildkit (`COPY --link .cnab /cnab`); the old docker driver without --link. */
  driver?: 'buildkit' | 'docker';
}

/** The lines that replace `# PORTER_INIT`. */
export function porterInitLines(): string[] {
  return [
    'ARG BUNDLE_DIR',
    `ARG BUNDLE_UID=${BUNDLE_UID}`,
    `ARG BUNDLE_USER=${BUNDLE_USER}`,
    `ARG BUNDLE_GID=${BUNDLE_GID}`,
    // -o: the uid may already exist; -m: a home directory (the kubeconfig credential lands there).
    'RUN useradd ${BUNDLE_USER} -m -u ${BUNDLE_UID} -g ${BUNDLE_GID} -o',
  ];
}

/** The lines Porter appends after the template. */
export function porterTailLines(opts: Pick<PorterTemplateOptions, 'manifestPath' | 'driver'>): string[] {
  const manifest = opts.manifestPath !== undefined && !opts.manifestPath.split('/').includes('..') ? [`RUN rm \${BUNDLE_DIR}/${opts.manifestPath}`] : [];
  return [
    ...manifest,
    'RUN rm -fr ${BUNDLE_DIR}/.cnab',
    (opts.driver ?? 'buildkit') === 'buildkit' ? 'COPY --link .cnab /cnab' : 'COPY .cnab /cnab',
    'RUN chgrp -R ${BUNDLE_GID} /cnab && chmod -R g=u /cnab',
    'USER ${BUNDLE_UID}',
    'WORKDIR ${BUNDLE_DIR}',
    'CMD ["/cnab/app/run"]',
  ];
}

/** What each mixin prints for `<mixin> build`. Only the exec mixin is known here (it adds nothing). */
export function mixinBuildLines(mixins: readonly string[]): string[] {
  return mixins.flatMap((m) => {
    if (m === 'exec') return ['# exec mixin has no buildtime dependencies'];
    throw new Error(`mixin ${m}: its Dockerfile lines come from the mixin binary (\`${m} build\`), which is not available here; only exec is supported`);
  });
}

/** Lines as Go's bufio.Scanner yields them: no trailing empty line, "\r" dropped. */
function scanLines(text: string): string[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Replaces the line equal (trimmed) to `token` with `insert`, or appends `insert` when there is none. */
function substitute(lines: string[], token: string, insert: readonly string[]): string[] {
  const at = lines.findIndex((l) => l.trim() === token);
  return at === -1 ? [...lines, ...insert] : [...lines.slice(0, at), ...insert, ...lines.slice(at + 1)];
}

/** The Dockerfile `porter build` generates from `template` (pure). */
export function expandPorterTemplate(template: string, opts: PorterTemplateOptions): string {
  let lines = scanLines(template);
  if (!lines.some((l) => l.startsWith('# syntax='))) lines = [`# syntax=${PORTER_DEFAULT_SYNTAX}`, ...lines];
  lines = substitute(lines, PORTER_INIT_TOKEN, porterInitLines());
  lines = substitute(lines, PORTER_MIXINS_TOKEN, opts.mixinLines);
  return [...lines, ...porterTailLines(opts)].join('\n');
}

/** Splits an instruction's words into its `--flags` and the rest (no quoting: none is used here). */
function instructionWords(line: string): { keyword: string; flags: string[]; args: string[] } | undefined {
  const words = line.trim().split(/\s+/);
  const keyword = (words[0] ?? '').toUpperCase();
  if (keyword !== 'COPY' && keyword !== 'ADD') return undefined;
  const rest = words.slice(1);
  const firstArg = rest.findIndex((w) => !w.startsWith('--'));
  const split = firstArg === -1 ? rest.length : firstArg;
  return { keyword, flags: rest.slice(0, split), args: rest.slice(split) };
}

/**
 * The generated Dockerfile as buildah 1.28 accepts it: without `--link` on COPY/ADD (buildah
 * rejects the flag; it only lets BuildKit build the layer independently of the ones below: the
 * files in the image are the same). Instructions continued over several lines are not COPY/ADD
 * in this template; a `--link` there is left alone.
 */
export function forBuildah(dockerfile: string): string {
  return dockerfile
    .split('\n')
    .map((line) => {
      const w = instructionWords(line);
      if (!w || !w.flags.some((f) => f === '--link' || f.startsWith('--link='))) return line;
      const indent = /^\s*/.exec(line)?.[0] ?? '';
      return [indent + w.keyword, ...w.flags.filter((f) => f !== '--link' && !f.startsWith('--link=')), ...w.args].join(' ');
    })
    .join('\n');
}

/**
 * The build-context paths the Dockerfile reads (COPY/ADD sources without --from), as written
 * (trailing "/" dropped), in order, each once: what has to be staged for the build.
 */
export function contextInputs(dockerfile: string): string[] {
  const out: string[] = [];
  for (const line of dockerfile.split('\n')) {
    const w = instructionWords(line);
    if (!w || w.flags.some((f) => f.startsWith('--from=')) || w.args.length < 2) continue;
    for (const src of w.args.slice(0, -1)) {
      const p = src.replace(/^\.\//, '').replace(/\/+$/, '');
      if (p && !out.includes(p)) out.push(p);
    }
  }
  return out;
}

// ---- the manifest: what Porter's runtime and exec mixin do with it ----------------------------

export interface ExecStep {
  description?: string;
  command: string;
  arguments: string[];
  flags: Record<string, string>;
  envs: Record<string, string>;
  /** The exec mixin's outputs: name and where in stdout (jsonPath). */
  outputs: { name: string; jsonPath: string }[];
}

export interface ManifestParameter {
  name: string;
  type?: string;
  env?: string;
  path?: string;
  default?: unknown;
  applyTo?: string[];
}

export interface ManifestCredential {
  name: string;
  env?: string;
  path?: string;
  required?: boolean;
  applyTo?: string[];
}

export interface PorterManifest {
  name: string;
  version: string;
  mixins: string[];
  parameters: ManifestParameter[];
  credentials: ManifestCredential[];
  images: Record<string, { repository: string; tag?: string; digest?: string }>;
  /** Every action (install, upgrade, uninstall, custom ones) -> its exec steps. */
  actions: Record<string, ExecStep[]>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
const stringMap = (v: unknown): Record<string, string> => (isObj(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) : {});

const outputsOf = (v: unknown): ExecStep['outputs'] =>
  (Array.isArray(v) ? v.filter(isObj) : []).map((o) => ({ name: String(o.name), jsonPath: typeof o.jsonPath === 'string' ? o.jsonPath : '' }));

function execSteps(action: string, v: unknown): ExecStep[] {
  if (!Array.isArray(v)) throw new Error(`porter.yaml: action ${action} is not a list of steps`);
  return v.map((step, i) => {
    if (!isObj(step) || !isObj(step.exec)) throw new Error(`porter.yaml: step ${i + 1} of ${action} is not an exec step (only the exec mixin is supported here)`);
    const e = step.exec;
    if (typeof e.command !== 'string') throw new Error(`porter.yaml: step ${i + 1} of ${action} has no command`);
    return { ...(typeof e.description === 'string' ? { description: e.description } : {}), command: e.command, arguments: strings(e.arguments), flags: stringMap(e.flags), envs: stringMap(e.envs), outputs: outputsOf(e.outputs) };
  });
}

/** The parts of porter.yaml the invocation image needs. */
export function readManifest(text: string): PorterManifest {
  const m = yaml.load(text);
  if (!isObj(m) || typeof m.name !== 'string' || typeof m.version !== 'string') throw new Error('porter.yaml: no name or version');
  const list = <T>(v: unknown): T[] => (Array.isArray(v) ? v.filter(isObj).map((x) => x as unknown as T) : []);
  const mixins = (Array.isArray(m.mixins) ? m.mixins : []).map((x) => (typeof x === 'string' ? x : isObj(x) ? Object.keys(x)[0] ?? '' : ''));
  const actions: Record<string, ExecStep[]> = {};
  for (const a of ['install', 'upgrade', 'uninstall', ...(isObj(m.customActions) ? Object.keys(m.customActions) : [])]) if (m[a] !== undefined) actions[a] = execSteps(a, m[a]);
  const images: PorterManifest['images'] = {};
  for (const [k, v] of Object.entries(isObj(m.images) ? m.images : {})) {
    if (!isObj(v) || typeof v.repository !== 'string') throw new Error(`porter.yaml: image ${k} has no repository`);
    images[k] = { repository: v.repository, ...(v.tag !== undefined ? { tag: String(v.tag) } : {}), ...(v.digest !== undefined ? { digest: String(v.digest) } : {}) };
  }
  return { name: m.name, version: m.version, mixins, parameters: list<ManifestParameter>(m.parameters), credentials: list<ManifestCredential>(m.credentials), images, actions };
}

const applies = (applyTo: string[] | undefined, action: string): boolean => !applyTo || applyTo.includes(action);

/** A parameter value as the CNAB driver puts it into the environment. */
function envValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

/**
 * The environment the CNAB driver gives the invocation image for `action`: CNAB_ACTION, and each
 * parameter that applies to it and has an `env`, with its default unless `values` overrides it
 * (by parameter name). Credentials with an `env` come from `credentials` (by name) when given.
 */
export function actionEnv(m: PorterManifest, action: string, values: Record<string, unknown> = {}, credentials: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { CNAB_ACTION: action, CNAB_BUNDLE_NAME: m.name, CNAB_BUNDLE_VERSION: m.version };
  for (const p of m.parameters) if (p.env && applies(p.applyTo, action)) env[p.env] = envValue(p.name in values ? values[p.name] : p.default);
  for (const c of m.credentials) if (c.env && applies(c.applyTo, action) && c.name in credentials) env[c.env] = credentials[c.name]!;
  return env;
}

/**
 * The files the CNAB driver mounts for `action`: each file parameter at its path (its value, or
 * its default; Porter writes the file either way) and each credential with a path that is given.
 */
export function actionFiles(m: PorterManifest, action: string, parameterFiles: Record<string, string> = {}, credentialFiles: Record<string, string> = {}): Record<string, string> {
  const files: Record<string, string> = {};
  for (const p of m.parameters) if (p.type === 'file' && p.path && applies(p.applyTo, action)) files[p.path] = p.name in parameterFiles ? parameterFiles[p.name]! : envValue(p.default);
  for (const c of m.credentials) if (c.path && applies(c.applyTo, action) && c.name in credentialFiles) files[c.path] = credentialFiles[c.name]!;
  return files;
}
