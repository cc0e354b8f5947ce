// `edge certs rotate`: new bridge certificates for a run's brokers. A running `edge up` performs
// the rotation itself (it owns the brokers); with none running, only the files change.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { requestRotation, runningEdgePid } from '../local/rotate.js';
import { pkiDirOf, rotateBrokerPki } from '../pki/broker-pki.js';
import { loadTopology } from '../topology/parse.js';

const say = (msg: string): void => void process.stderr.write(`edge: ${msg}\n`);

export async function certsRotate(opts: { dataDir: string; keepCa: boolean; topologyFile?: string }): Promise<number> {
  const dataDir = resolve(opts.dataDir);
  const pid = runningEdgePid(dataDir);
  if (pid !== undefined) {
    say(`asking the running edge (pid ${pid}) to rotate${opts.keepCa ? ' the certificates (same CA)' : ' the CA and every certificate'}; its log shows each phase`);
    const answer = await requestRotation(dataDir, opts.keepCa);
    process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
    if (!answer.ok) return 1;
    say(`rotated in ${answer.seconds?.toFixed(1)} s: phases ${answer.phases?.join(' -> ')}`);
    return 0;
  }
  if (!existsSync(pkiDirOf(dataDir))) throw new Error(`no edge has run with data dir ${dataDir} (no ${pkiDirOf(dataDir)}); nothing to rotate`);
  // Nothing runs: the names in the certificates are made again by the next `edge up` anyway.
  const topology = loadTopology(opts.topologyFile);
  const result = await rotateBrokerPki(topology, pkiDirOf(dataDir), () => ['127.0.0.1'], async () => undefined, { keepCa: opts.keepCa });
  process.stdout.write(JSON.stringify({ ok: true, running: false, ...result }, null, 2) + '\n');
  say('no edge is running: the files are rotated, and the next `edge up` uses them');
  return 0;
}
