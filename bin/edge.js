#!/usr/bin/env node
// The `edge` CLI: runs the compiled entry point (build with `npm run build`, done by `npm run setup`).
import { existsSync } from 'node:fs';
const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('edge: not built yet. Run `npm run setup` (or `npm run build`) first.');
  process.exit(2);
}
await import(entry.href);
