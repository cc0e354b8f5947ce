import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadTopology, parseTopology, TopologyError } from '../src/topology/parse.js';
import { parentFirst, pathToRoot, queueBounds, rootLevel } from '../src/topology/model.js';

function problemsOf(text: string): string[] {
  try {
    parseTopology(text, 'bad.yaml');
  } catch (err) {
    assert.instance(err, TopologyError);
    assert.ok((err as Error).message.startsWith('bad.yaml:'), 'the error names the file');
    return (err as TopologyError).problems;
  }
  assert.unreachable('expected a TopologyError');
  return [];
}

const level = (name: string, parent: string | null, ports: [number, number], workloads = '[]'): string =>
  `  - { name: ${name}, ${parent ? `parent: ${parent}, ` : ''}broker: { workloadPort: ${ports[0]}, childPort: ${ports[1]} }, workloads: ${workloads} }\n`;

test('the shipped default is l4 <- l3 <- l2 with the workloads placed as designed', () => {
  const t = loadTopology();
  assert.equal(parentFirst(t).map((l) => l.name), ['l4', 'l3', 'l2']);
  assert.equal(rootLevel(t).name, 'l4');
  assert.equal(pathToRoot(t, 'l2'), ['l2', 'l3', 'l4']);
  const byLevel = Object.fromEntries(t.levels.map((l) => [l.name, l.workloads.map((w) => w.type)]));
  assert.equal(byLevel, { l4: ['data-gateway'], l3: [], l2: ['temperature-sensor', 'opc-plc', 'opc-publisher'] });
});

test('queue bounds follow rate x retention x size', () => {
  assert.equal(queueBounds({ rateMsgPerS: 500, retentionS: 60, messageBytes: 100 }), { maxQueuedMessages: 30000, maxQueuedBytes: 3_000_000 });
});

test('malformed YAML names the line', () => {
  const [p] = problemsOf('name: x\nlevels: [\n  - {');
  assert.match(p!, /not valid YAML at line \d+/);
});

test('a parent cycle is reported', () => {
  const problems = problemsOf(`name: x\nlevels:\n${level('top', null, [2000, 2001], '[data-gateway]')}${level('a', 'b', [2010, 2011])}${level('b', 'a', [2020, 2021])}`);
  assert.ok(problems.some((p) => /parent cycle: (a -> b -> a|b -> a -> b)/.test(p)), problems.join('\n'));
});

test('two roots are reported with their names', () => {
  const problems = problemsOf(`name: x\nlevels:\n${level('a', null, [2000, 2001], '[data-gateway]')}${level('b', null, [2010, 2011])}`);
  assert.ok(problems.some((p) => p.includes('two or more roots (a, b)')), problems.join('\n'));
});

test('an unknown parent lists the known levels', () => {
  const problems = problemsOf(`name: x\nlevels:\n${level('top', null, [2000, 2001], '[data-gateway]')}${level('a', 'nope', [2010, 2011])}`);
  assert.ok(problems.some((p) => p.includes('unknown parent "nope"') && p.includes('known levels: top, a')), problems.join('\n'));
});

test('an unknown workload type lists the known types', () => {
  const problems = problemsOf(`name: x\nlevels:\n${level('top', null, [2000, 2001], '[data-gateway, toaster]')}`);
  assert.ok(problems.some((p) => p.includes('unknown workload type "toaster"') && p.includes('temperature-sensor')), problems.join('\n'));
});

test('duplicate level and workload names are reported', () => {
  const problems = problemsOf(
    `name: x\nlevels:\n${level('top', null, [2000, 2001], '[data-gateway]')}${level('a', 'top', [2010, 2011], '[temperature-sensor]')}${level('a', 'top', [2020, 2021], '[temperature-sensor]')}`,
  );
  assert.ok(problems.some((p) => p.includes('level name "a" is used 2 times')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('workload name "temperature-sensor" is used 2 times')), problems.join('\n'));
});

test('port clashes name both claimants', () => {
  const problems = problemsOf(`name: x\nlevels:\n${level('top', null, [2000, 2001], '[data-gateway]')}${level('a', 'top', [2001, 2011])}`);
  assert.ok(problems.some((p) => p.includes('port 2001 is claimed by top broker childPort and a broker workloadPort')), problems.join('\n'));
});

test('all problems are reported at once', () => {
  const problems = problemsOf(
    `name: x\nlevels:\n${level('top', null, [2000, 2001], '[toaster]')}${level('a', 'nope', [2001, 2011], '[{ type: temperature-sensor, config: { speed: 3 } }]')}${level('b', null, [80, 2021])}`,
  );
  const expected = ['unknown workload type', 'unknown config key `speed`', 'must be an integer port 1024-65535'];
  for (const e of expected) assert.ok(problems.some((p) => p.includes(e)), `missing "${e}" in:\n${problems.join('\n')}`);
  assert.ok(problems.length >= 3);
});

test('structural problems are reported together: parents, ports, placement', () => {
  const problems = problemsOf(`name: x\nlevels:\n${level('top', null, [2000, 2001])}${level('a', 'top', [2001, 2011], '[data-gateway]')}${level('b', 'nope', [2020, 2021])}`);
  for (const e of ['unknown parent "nope"', 'port 2001', 'data-gateway must run at the top level', 'the top level top has no data-gateway']) {
    assert.ok(problems.some((p) => p.includes(e)), `missing "${e}" in:\n${problems.join('\n')}`);
  }
});

test('an opc-publisher must point at a PLC', () => {
  const problems = problemsOf(`name: x\nlevels:\n${level('top', null, [2000, 2001], '[data-gateway, opc-publisher]')}`);
  assert.ok(problems.some((p) => p.includes('set config.endpointWorkload')), problems.join('\n'));
});

test('a missing file says how to fix it', () => {
  try {
    loadTopology('/nonexistent/topology.yaml');
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /\/nonexistent\/topology.yaml: .*cannot read the file.*--topology/s);
  }
});

test.run();
