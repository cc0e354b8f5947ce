// Reads the latest bench/results/*.json and writes the plots and summary.md beside them.
//   node dist/bench/write-report.js [--quick]   (--quick: this run skipped install-time)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR } from './harness.js';
import { charts, summaryMarkdown, type BenchResults } from './report.js';

function readResult<T>(name: string): T | undefined {
  const file = join(RESULTS_DIR, `${name}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

function main(): void {
  const results: BenchResults = {
    pipeline: readResult('pipeline'),
    install: readResult('install-time'),
    opcua: readResult('opcua'),
  };
  const files = { ...charts(results), 'summary.md': summaryMarkdown(results, { installSkippedInQuick: process.argv.includes('--quick') }) };
  mkdirSync(RESULTS_DIR, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(RESULTS_DIR, name), content);
  process.stdout.write(`wrote ${Object.keys(files).map((f) => `bench/results/${f}`).join(', ')}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`write-report: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
