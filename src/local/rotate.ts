// Certificate rotation of a running edge (local or netns target). The `edge up` process owns the
// brokers, so `edge certs rotate` asks it: it writes a request beside the run's data, signals
// the process (SIGUSR2), and waits for the answer file. With no edge running, it rotates the
// files alone and the next `edge up` uses them.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WaitAborted, waitFor } from '../common/proc.js';
import { pkiDirOf, rotateBrokerPki, type ListenerHosts, type RotationPhase } from '../pki/broker-pki.js';
import type { Topology } from '../topology/model.js';
import type { LocalEdge, Progress } from './run.js';

export interface RotationRequest {
  keepCa: boolean;
  /** Echoed in the answer, so a caller never reads an older rotation's answer. */
  id: string;
}

export interface RotationAnswer {
  id: string;
  ok: boolean;
  error?: string;
  phases?: RotationPhase[];
  oldCaFingerprint?: string;
  newCaFingerprint?: string;
  seconds?: number;
}

export const runFiles = (dataDir: string) => ({
  pid: join(dataDir, 'edge.pid'),
  request: join(dataDir, 'rotate-request.json'),
  answer: join(dataDir, 'rotate-answer.json'),
});

/** Rotates the bridge links' PKI under a running edge: each phase ends with a rolling restart. */
export async function rotateRunning(edge: LocalEdge, topology: Topology, dataDir: string, hostsOf: ListenerHosts, keepCa: boolean, progress: Progress): Promise<Omit<RotationAnswer, 'id' | 'ok'>> {
  const started = Date.now();
  const result = await rotateBrokerPki(
    topology,
    pkiDirOf(dataDir),
    hostsOf,
    async (phase) => {
      progress(`certificate rotation: ${phase}; restarting brokers parent first`);
      await edge.restartBrokers();
    },
    { keepCa },
  );
  progress(`certificate rotation done: CA ${result.newCaFingerprint.slice(0, 23)}…`);
  return { ...result, seconds: (Date.now() - started) / 1000 };
}

/** The running `edge up` of a data dir, if any. */
export function runningEdgePid(dataDir: string): number | undefined {
  const { pid } = runFiles(dataDir);
  if (!existsSync(pid)) return undefined;
  const n = Number(readFileSync(pid, 'utf8').trim());
  try {
    process.kill(n, 0);
    return n;
  } catch {
    return undefined;
  }
}

/** `edge certs rotate`: asks the running edge, and waits for its answer. */
export async function requestRotation(dataDir: string, keepCa: boolean, timeoutMs = 300_000): Promise<RotationAnswer> {
  const pid = runningEdgePid(dataDir);
  if (pid === undefined) throw new Error(`no edge is running with data dir ${dataDir}`);
  const files = runFiles(dataDir);
  const request: RotationRequest = { keepCa, id: `${process.pid}-${Date.now()}` };
  rmSync(files.answer, { force: true });
  writeFileSync(files.request, JSON.stringify(request));
  process.kill(pid, 'SIGUSR2');
  let answer: RotationAnswer | undefined;
  await waitFor(`the running edge (pid ${pid}) to finish the rotation`, () => {
    if (!existsSync(files.answer)) {
      if (runningEdgePid(dataDir) !== pid) throw new WaitAborted(`the running edge (pid ${pid}) stopped before it answered the rotation; its output says why`);
      return false;
    }
    const a = JSON.parse(readFileSync(files.answer, 'utf8')) as RotationAnswer;
    if (a.id !== request.id) return false;
    answer = a;
    return true;
  }, timeoutMs, 500);
  return answer!;
}
