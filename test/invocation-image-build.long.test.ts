// The invocation image built with buildah from cnab/Dockerfile.tmpl, as `porter build` would
// build it (stand-in runtime: docs/invocation-image.md), then run as a CNAB driver runs it: as
// the bundle user, CNAB_ACTION=install, the parameters' defaults in the environment, and no
// kubeconfig credential. Cached: a second build with the same inputs only looks the image up.
// Cold: npm ci, the steps compiled, helm compiled from its module (minutes); warm: seconds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inspectImage } from '../src/images/buildah.js';
import { buildInvocationImage, smokeInvocationImage, type InvocationImage } from '../src/images/invocation.js';

const say = (line: string): void => void process.stderr.write(`[invocation] ${line}\n`);
let image: InvocationImage;

test.before(async () => {
  image = await buildInvocationImage({ log: say });
  say(`${image.ref} (${image.keyed}): ${image.cached ? 'cached' : 'built'} in ${image.seconds.toFixed(1)} s`);
});

test('the image runs the steps: install without a kubeconfig fails with one JSON document naming it; helm, the Dapr chart, the steps; uid 65532', async () => {
  const checks = await smokeInvocationImage(image.ref);
  for (const c of checks) say(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail.slice(0, 300)}`);
  assert.ok(checks.length >= 5);
  assert.equal(checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`), []);
});

test('a rebuild with the same inputs is the same image, found by its key', async () => {
  const again = await buildInvocationImage({ log: say });
  assert.ok(again.cached, 'found, not rebuilt');
  assert.is(again.id, image.id);
  assert.is(again.keyed, image.keyed);
  assert.ok(again.seconds < 30, `lookup took ${again.seconds} s`);
  assert.is((await inspectImage(again.ref))?.id, image.id, 'the readable tag points at it');
});

test.run();
