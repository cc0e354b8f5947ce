#!/usr/bin/env node
// Runs the uvu suite (compiled tests in dist/test), streams its output, and ends with one plain
// line "N passed, N failed" that any CI can read. Exit code: uvu's.
// Usage: node tools/run-tests.mjs [--long] [pattern]   e.g. `npm test -- broker` runs only matching files.
// Files named *.long.test.ts need minutes by design (a cold image build, a long outage): they run
// only with --long (`npm run test:long`), or when the pattern names them.
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const long = args.includes('--long');
const filter = args.find((a) => a !== '--long');
const pattern = filter ? `(${filter}).*\\.test\\.js$` : '\\.test\\.js$';
const ignore = long || (filter && /long/.test(filter)) ? [] : ['-i', '\\.long\\.test\\.js$'];
const child = spawn(process.execPath, ['node_modules/uvu/bin.js', 'dist/test', pattern, ...ignore], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  out += chunk.toString();
});
child.on('exit', (code, signal) => {
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const total = [...plain.matchAll(/Total:\s+(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  const passed = [...plain.matchAll(/Passed:\s+(\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  const exit = code ?? (signal ? 1 : 0);
  if (total === 0) {
    process.stdout.write('\nno tests ran\n');
    process.exit(exit || 1);
  }
  process.stdout.write(`\n${passed} passed, ${total - passed} failed\n`);
  process.exit(exit !== 0 ? exit : total === passed ? 0 : 1);
});
