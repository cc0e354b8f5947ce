// The invocation image's Dockerfile as `porter build` generates it from cnab/Dockerfile.tmpl
// (src/images/porter-template.ts), and the stand-in runtime generated from porter.yaml. Fast:
// text only and the stand-in run by node, no buildah (test/invocation-image-build.long.test.ts
// builds and runs the image; test/pods-install.test.ts runs it as a Job on a real node).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { actionEnv, contextInputs, expandPorterTemplate, forBuildah, generatedDockerfile, readManifest } from '../src/images/invocation.js';
import { mixinBuildLines, porterInitLines, PORTER_DEFAULT_SYNTAX } from '../src/images/porter-template.js';
import { runScript, standInModule, standInPlan } from '../src/images/standin-runtime.js';
import { REPO_ROOT } from '../src/images/versions.js';
import { porterOperation } from '../src/testcluster/cnab-job.js';

const TEMPLATE = readFileSync(join(REPO_ROOT, 'cnab/Dockerfile.tmpl'), 'utf8');
const MANIFEST = readManifest(readFileSync(join(REPO_ROOT, 'porter.yaml'), 'utf8'));
const EXEC = ['# exec mixin has no buildtime dependencies'];
const TAIL = [
  'RUN rm ${BUNDLE_DIR}/porter.yaml',
  'RUN rm -fr ${BUNDLE_DIR}/.cnab',
  'COPY --link .cnab /cnab',
  'RUN chgrp -R ${BUNDLE_GID} /cnab && chmod -R g=u /cnab',
  'USER ${BUNDLE_UID}',
  'WORKDIR ${BUNDLE_DIR}',
  'CMD ["/cnab/app/run"]',
];
const INIT = [
  'ARG BUNDLE_DIR',
  'ARG BUNDLE_UID=65532',
  'ARG BUNDLE_USER=nonroot',
  'ARG BUNDLE_GID=0',
  'RUN useradd ${BUNDLE_USER} -m -u ${BUNDLE_UID} -g ${BUNDLE_GID} -o',
];

test('a small template: INIT and MIXINS replaced in place, the tail appended in order, no final newline', () => {
  const template = '# syntax=docker/dockerfile:1\nFROM base\n  # PORTER_INIT\nRUN a\n# PORTER_MIXINS\nCOPY x ${BUNDLE_DIR}/x\n';
  const out = expandPorterTemplate(template, { mixinLines: EXEC, manifestPath: 'porter.yaml' });
  assert.equal(out.split('\n'), ['# syntax=docker/dockerfile:1', 'FROM base', ...INIT, 'RUN a', ...EXEC, 'COPY x ${BUNDLE_DIR}/x', ...TAIL]);
  assert.not.ok(out.endsWith('\n'));
});

test('porter quirks: no syntax line gets the default; missing tokens are appended; a manifest outside the context is not removed; the docker driver copies without --link', () => {
  const out = expandPorterTemplate('FROM base\r\nRUN a\r\n', { mixinLines: EXEC, driver: 'docker' }).split('\n');
  assert.equal(out, [`# syntax=${PORTER_DEFAULT_SYNTAX}`, 'FROM base', 'RUN a', ...INIT, ...EXEC, ...TAIL.slice(1).map((l) => (l === 'COPY --link .cnab /cnab' ? 'COPY .cnab /cnab' : l))]);
  const outside = expandPorterTemplate('FROM b\n# PORTER_INIT\n', { mixinLines: [], manifestPath: '../elsewhere/porter.yaml' });
  assert.not.match(outside, /RUN rm \$\{BUNDLE_DIR\}\/\.\.\//);
  assert.equal(porterInitLines(), INIT);
  assert.equal(mixinBuildLines(['exec']), EXEC);
  assert.throws(() => mixinBuildLines(['helm3']), /only exec is supported/);
});

test('cnab/Dockerfile.tmpl: each token once in the final stage, replaced; user, workdir and CMD come last, from porter', () => {
  const { dockerfile } = generatedDockerfile();
  const lines = dockerfile.split('\n');
  assert.not.ok(lines.some((l) => l.trim() === '# PORTER_INIT' || l.trim() === '# PORTER_MIXINS'), 'no token left');
  const finalFrom = lines.findLastIndex((l) => l.startsWith('FROM '));
  assert.is(lines[finalFrom], 'FROM ${BASE_IMAGE}');
  const init = lines.indexOf(INIT[0]!);
  assert.ok(init > finalFrom, 'PORTER_INIT is in the final stage');
  assert.equal(lines.slice(init, init + INIT.length), INIT);
  assert.is(lines.filter((l) => l.startsWith('RUN useradd')).length, 1, 'the user is created once, by porter');
  const mixins = lines.indexOf(EXEC[0]!);
  assert.ok(mixins > init, 'mixins after init');
  assert.ok(lines.findIndex((l) => l.includes('apt-get install')) > init && lines.findIndex((l) => l.includes('apt-get install')) < mixins, 'the template line between the tokens stays between them');
  assert.equal(lines.slice(-TAIL.length), TAIL, 'the tail is porter\'s, in order');
  // The template's own lines all precede the tail: porter.yaml is copied before it is removed.
  assert.ok(lines.findIndex((l) => /^COPY .*porter\.yaml \$\{BUNDLE_DIR\}\//.test(l)) < lines.length - TAIL.length);
  assert.is(lines.filter((l) => l.startsWith('USER ')).join(), 'USER ${BUNDLE_UID}');
  assert.is(lines.at(-1), 'CMD ["/cnab/app/run"]');
});

test('for buildah: --link dropped from COPY only, nothing else changed', () => {
  const { dockerfile } = generatedDockerfile();
  const built = forBuildah(dockerfile);
  assert.not.match(built, /--link/);
  assert.is(built.split('\n').length, dockerfile.split('\n').length);
  assert.is(built.replace(/\s+/g, ' '), dockerfile.replace(/ --link/g, '').replace(/\s+/g, ' '));
  assert.is(forBuildah('COPY --link --from=build /a /b\nRUN echo --link'), 'COPY --from=build /a /b\nRUN echo --link');
});

test('the build context: the repository paths the Dockerfile COPYs, without --from sources', () => {
  const { dockerfile } = generatedDockerfile();
  assert.equal(contextInputs(dockerfile), ['package.json', 'package-lock.json', 'tsconfig.json', 'cnab/tsconfig.steps.json', 'src', 'steps', 'workloads', 'porter.yaml', 'charts', 'src/topology/default-topology.yaml', '.cnab']);
});

test('the stand-in runtime plan: one step per action, node main.js <action>, summary captured for install and upgrade', () => {
  const plan = standInPlan(MANIFEST);
  assert.equal(Object.keys(plan.actions).sort(), ['install', 'rotate-certs', 'uninstall', 'upgrade']);
  for (const [action, step] of Object.entries(plan.actions)) {
    assert.is(step.command, 'node', action);
    assert.equal(step.arguments, ['/cnab/app/dist/steps/main.js', action]);
    assert.match(step.envs.EDGE_BUNDLE_VERSION!, /\$\{ bundle\.version \}/, 'resolved at run time, not at build time');
  }
  assert.equal(plan.actions.install!.outputs, ['summary']);
  assert.equal(plan.actions.uninstall!.outputs, []);
  assert.is(plan.relocationMapping, '/cnab/app/relocation-mapping.json');
  assert.match(runScript(), /^#!\/bin\/sh\n[^]*exec node '\/cnab\/app\/run\.mjs' "\$@"\n$/);
  const broken = { ...MANIFEST, actions: { install: [{ ...MANIFEST.actions.install![0]!, envs: { X: '${ bundle.parameters.infra }' } }] } };
  assert.throws(() => standInPlan(broken), /cannot resolve \$\{ bundle\.parameters\.infra \}/);
});

test('the stand-in runs the step: relocated images resolved, stdout passed through and kept as the output, the exit code returned', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-standin-'));
  try {
    // The real install step's envs, a command that prints what it got.
    const probe = 'console.log(JSON.stringify({ images: JSON.parse(process.env.EDGE_IMAGES), version: process.env.EDGE_BUNDLE_VERSION, cwd: process.cwd(), infra: process.env.EDGE_INFRA })); process.exit(Number(process.env.EXIT || 0))';
    const manifest = { ...MANIFEST, actions: { ...MANIFEST.actions, install: [{ ...MANIFEST.actions.install![0]!, command: process.execPath, arguments: ['-e', probe] }] } };
    writeFileSync(join(dir, 'run.mjs'), standInModule(manifest, { bundleDir: dir }));
    writeFileSync(join(dir, 'run'), runScript({ bundleDir: dir }), { mode: 0o755 });
    writeFileSync(join(dir, 'relocation-mapping.json'), JSON.stringify({
      'ghcr.io/dapr/daprd:1.16.2': 'registry.site.local:5000/edge/daprd@sha256:' + 'a'.repeat(64),
      'ghcr.io/nested-edge/opc-plc:0.1.0': 'localhost/nested-edge/opc-plc:0.1.0-git.abc',
    }));
    const run = (env: Record<string, string>) => spawnSync(join(dir, 'run'), [], { env: { PATH: dirname(process.execPath) + ':/usr/bin:/bin', ...env }, encoding: 'utf8' });
    const ok = run({ CNAB_ACTION: 'install', EDGE_INFRA: 'kubeconfig' });
    assert.is(ok.status, 0, ok.stderr);
    const got = JSON.parse(ok.stdout) as { images: Record<string, { repository: string; tag: string; digest: string }>; version: string; cwd: string; infra: string };
    assert.equal(got.images.daprd, { repository: 'registry.site.local:5000/edge/daprd', tag: '1.16.2', digest: 'sha256:' + 'a'.repeat(64) });
    assert.equal(got.images['opc-plc'], { repository: 'localhost/nested-edge/opc-plc', tag: '0.1.0-git.abc', digest: '' });
    assert.equal(got.images.squid, { repository: 'docker.io/ubuntu/squid', tag: '6.10-24.10_beta', digest: '' }, 'not relocated: as listed');
    assert.is(got.version, '0.1.0');
    assert.is(got.cwd, dir);
    assert.is(got.infra, 'kubeconfig', 'the driver environment reaches the step');
    assert.is(readFileSync(join(dir, 'outputs', 'summary'), 'utf8'), ok.stdout.trim(), 'the summary output is the stdout document');
    rmSync(join(dir, 'outputs'), { recursive: true });
    assert.is(run({ CNAB_ACTION: 'install', EXIT: '3' }).status, 3, 'the step exit code');
    assert.not.ok(existsSync(join(dir, 'outputs', 'summary')), 'a failed step has no output');
    const unknown = run({ CNAB_ACTION: 'dance' });
    assert.is(unknown.status, 2);
    assert.match(unknown.stderr, /unknown action "dance" \(install, upgrade, uninstall, rotate-certs\)/);
    writeFileSync(join(dir, 'relocation-mapping.json'), '{');
    const badMapping = run({ CNAB_ACTION: 'install' });
    assert.is(badMapping.status, 2);
    assert.match(badMapping.stderr, /relocation-mapping\.json is not JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the driver environment of an action: parameters that apply, with their defaults as strings', () => {
  const install = actionEnv(MANIFEST, 'install');
  assert.is(install.CNAB_ACTION, 'install');
  assert.is(install.EDGE_CLUSTERS, '{}');
  assert.is(install.EDGE_TELEMETRY, 'false');
  assert.is(install.EDGE_AKS_NODE_COUNT, '1');
  assert.not.ok('EDGE_KEEP_DATA' in install, 'keep-data applies to uninstall only');
  assert.not.ok('AZURE_CLIENT_ID' in install, 'no credential unless given');
  const uninstall = actionEnv(MANIFEST, 'uninstall', { 'keep-data': true }, { 'azure-client-id': 'id' });
  assert.is(uninstall.EDGE_KEEP_DATA, 'true');
  assert.is(uninstall.AZURE_CLIENT_ID, 'id');
  assert.not.ok('EDGE_SINKS' in uninstall);
});

test('what Porter hands the kubernetes driver: the environment, the files at their paths, the outputs of the action', () => {
  const install = porterOperation(MANIFEST, 'install', {
    installation: 'edge', image: 'reg/invocation:1', parameters: { 'sensor-interval-ms': 500 },
    credentialFiles: { kubeconfig: 'apiVersion: v1' }, credentialEnv: { 'postgres-url': 'postgres://u:p@h/d' },
    relocation: { 'ghcr.io/dapr/daprd:1.16.2': 'site/daprd:1.16.2' }, revision: 'r1',
  });
  assert.is(install.environment.CNAB_ACTION, 'install');
  assert.is(install.environment.CNAB_INSTALLATION_NAME, 'edge');
  assert.is(install.environment.CNAB_REVISION, 'r1');
  assert.is(install.environment.EDGE_SENSOR_INTERVAL_MS, '500');
  assert.is(install.environment.EDGE_POSTGRES_URL, 'postgres://u:p@h/d', 'an env credential travels in the environment (a Secret)');
  assert.equal(Object.keys(install.files).sort(), ['/cnab/app/relocation-mapping.json', '/cnab/app/topology.yaml', '/home/nonroot/.kube/config']);
  assert.is(install.files['/cnab/app/topology.yaml'], '', 'the file parameter is written with its default, empty');
  assert.equal(JSON.parse(install.files['/cnab/app/relocation-mapping.json']!), { 'ghcr.io/dapr/daprd:1.16.2': 'site/daprd:1.16.2' });
  assert.equal(install.outputs, ['summary']);
  const uninstall = porterOperation(MANIFEST, 'uninstall', { installation: 'edge', image: 'i', parameters: { 'keep-data': true } });
  assert.is(uninstall.environment.EDGE_KEEP_DATA, 'true');
  assert.not.ok('EDGE_POSTGRES_URL' in uninstall.environment, 'postgres-url applies to install and upgrade only');
  assert.equal(Object.keys(uninstall.files), ['/cnab/app/topology.yaml'], 'no credential given, none mounted');
  assert.equal(uninstall.outputs, []);
});

test.run();
