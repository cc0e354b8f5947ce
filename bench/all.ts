// `npm run bench [-- --quick]`: every benchmark in turn, each printing its table and writing
// its JSON under bench/results/.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/local/plan.js';

const args = process.argv.slice(2);
let failed = 0;
for (const bench of ['pipeline', 'install-time']) {
  process.stdout.write(`\n## ${bench}\n\n`);
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'bench', `${bench}.js`), ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed += 1;
}
process.exit(failed ? 1 : 0);
