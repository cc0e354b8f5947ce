// The invocation image's Dockerfile as `porter build` generates it from cnab/Dockerfile.tmpl
// (src/images/porter-template.ts), and the stand-in runtime generated from porter.yaml. Fast:
// text only, no buildah (test/invocation-image-build.long.test.ts builds and runs the image).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { actionEnv, contextInputs, expandPorterTemplate, forBuildah, generatedDockerfile, readManifest, runScript } from '../src/images/invocation.js';
import { mixinBuildLines, porterInitLines, PORTER_DEFAULT_SYNTAX, resolveBundleExpressions, shQuote } from '../src/images/porter-template.js';
import { REPO_ROOT } from '../src/images/versions.js';

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

test('the stand-in runtime: one case per action, the step envs with bundle.* resolved, node main.js <action> from /cnab/app', () => {
  const script = runScript(MANIFEST);
  assert.ok(script.startsWith('#!/bin/sh\n'));
  assert.match(script, /STAND-IN/);
  assert.match(script, /cd '\/cnab\/app'/);
  for (const action of ['install', 'upgrade', 'uninstall', 'rotate-certs']) {
    assert.match(script, new RegExp(`'${action}'\\)\\n(    export .*\\n)+    exec 'node' '/cnab/app/dist/steps/main\\.js' '${action}'\\n`), action);
  }
  assert.not.match(script, /\$\{ bundle/, 'every bundle expression resolved');
  const images = /export EDGE_IMAGES='([^']*)'/.exec(script)?.[1];
  const parsed = JSON.parse(images!) as Record<string, { repository: string; tag: string; digest: string }>;
  assert.equal(parsed.daprd, { repository: 'ghcr.io/dapr/daprd', tag: '1.16.2', digest: '' });
  assert.is(Object.keys(parsed).length, Object.keys(MANIFEST.images).length);
  assert.match(script, /export EDGE_BUNDLE_VERSION='0\.1\.0'/);
  assert.throws(() => resolveBundleExpressions('${ bundle.parameters.infra }', MANIFEST), /cannot resolve/);
  assert.is(shQuote(`it's`), `'it'\\''s'`);
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

test.run();
