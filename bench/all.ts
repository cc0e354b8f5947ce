// `npm run bench [-- --quick]`: every benchmark in turn, each printing its table and writing
// its JSON under bench/results/, then the plots and summary.md from the latest results.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/local/plan.js';

const args = process.argv.slice(2);
let failed = 0;
const run = (script: string, scriptArgs: string[]): void => {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'bench', `${script}.js`), ...scriptArgs], { stdio: 'inherit' });
  if (r.status !== 0) failed += 1;
};
const started = Date.now();
for (const bench of ['pipeline', 'opcua', 'install-time']) {
  process.stdout.write(`\n## ${bench}\n\n`);
  run(bench, args);
}
// Whatever ran: a failed benchmark leaves its previous JSON, and the summary says when each is from.
process.stdout.write('\n');
run('write-report', args); // --quick: the summary says install-time was skipped
process.stdout.write(`all benchmarks: ${Math.round((Date.now() - started) / 1000)} s${failed ? `, ${failed} failed` : ''}\n`);
process.exit(failed ? 1 : 0);
