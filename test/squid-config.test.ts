// The generated squid.conf as real Squid reads it (`squid -k parse`), with the allow-list a Porter
// user gets by default (porter.yaml's egress-allow-domains, the Azure Arc endpoint list): Squid
// refuses to start on a list where a wildcard covers another entry, which is what the first real
// install of the bundle on pods ran into.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderSquidConf } from '../src/config/squid.js';
import { readManifest } from '../src/images/porter-template.js';
import { REPO_ROOT } from '../src/images/versions.js';
import { SQUID } from '../src/netns/proxies.js';

const run = promisify(execFile);

test("porter.yaml's default allow-list: the top level's squid.conf parses in real Squid", async () => {
  const manifest = readManifest(readFileSync(join(REPO_ROOT, 'porter.yaml'), 'utf8'));
  const allowDomains = String(manifest.parameters.find((p) => p.name === 'egress-allow-domains')!.default).split(',');
  const dir = mkdtempSync(join(tmpdir(), 'edge-squid-parse-'));
  try {
    const conf = join(dir, 'squid.conf');
    writeFileSync(conf, renderSquidConf({
      levelName: 'l4', bindAddress: '127.0.0.1', port: 3128, allowDomains, connectPorts: [443], clientCidrs: ['10.0.0.0/8'],
      paths: { pidFile: join(dir, 'squid.pid'), accessLog: '/dev/stdout', cacheLog: '/dev/stderr', coredumpDir: dir },
    }));
    const parsed = await run(SQUID, ['-k', 'parse', '-f', conf], { timeout: 30_000 }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    assert.is(parsed.code, 0, parsed.out);
    assert.not.match(parsed.out, /ERROR|FATAL|Bungled/, parsed.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
