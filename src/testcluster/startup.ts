// What a test cluster's start shares between its parts: processes that fail the start when they
// exit early, waits bounded by one deadline, and a teardown stack run last-in first-out, so every
// part is undone after whatever was started on top of it.
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, waitFor, type ManagedProcess } from '../common/proc.js';

export function tail(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export class Startup {
  readonly procs: ManagedProcess[] = [];
  private readonly undo: { what: string; fn: () => Promise<void> | void }[] = [];
  private stopping = false;
  private stopped?: Promise<string[]>;
  private failStartup: (err: Error) => void = () => {};
  private readonly startupFailed: Promise<never>;
  private readonly started = Date.now();

  constructor(
    readonly dir: string,
    readonly logDir: string,
    private readonly deadline: number,
    private readonly say: (line: string) => void,
  ) {
    mkdirSync(logDir, { recursive: true });
    this.startupFailed = new Promise<never>((_, reject) => (this.failStartup = reject));
    this.startupFailed.catch(() => {});
  }

  step(what: string): void {
    this.say(`[testcluster] ${((Date.now() - this.started) / 1000).toFixed(1)}s ${what}`);
  }

  elapsedMs(): number {
    return Date.now() - this.started;
  }

  remaining(): number {
    return Math.max(1_000, this.deadline - Date.now());
  }

  /** Registers an undo step; stop() runs them newest first. */
  defer(what: string, fn: () => Promise<void> | void): void {
    this.undo.push({ what, fn });
  }

  /** A process whose early exit fails the start; stopped (SIGTERM, then SIGKILL) at teardown. */
  launch(name: string, command: string, args: string[], env?: Record<string, string>, graceMs = 5_000): ManagedProcess {
    const logFile = join(this.logDir, `${name}.log`);
    const p = startProcess({ name, command, args, logFile, cwd: this.dir, env });
    this.procs.push(p);
    void p.exited.then((code) => {
      if (!this.stopping) this.failStartup(new Error(`${name} exited (${code}) during startup; last lines of ${logFile}:\n${tail(logFile)}`));
    });
    this.defer(`stop ${name}`, async () => {
      await p.stop(graceMs);
    });
    return p;
  }

  async until(what: string, probe: () => Promise<boolean> | boolean, ms = this.remaining()): Promise<void> {
    await Promise.race([waitFor(what, probe, ms, 200), this.startupFailed]);
    this.step(`${what}: ok`);
  }

  /** Last lines of every process's log, for a start that failed. */
  logTails(lines = 15): string {
    return this.procs.map((p) => `--- ${p.name} (pid ${p.pid}, ${p.isRunning() ? 'running' : 'exited'}):\n${tail(join(this.logDir, `${p.name}.log`), lines)}`).join('\n');
  }

  /** Runs every undo step, newest first, even when some fail; resolves with the failures. Idempotent. */
  stop(): Promise<string[]> {
    this.stopped ??= (async () => {
      this.stopping = true;
      const failures: string[] = [];
      for (const { what, fn } of this.undo.reverse()) {
        try {
          await fn();
        } catch (err) {
          failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      return failures;
    })();
    return this.stopped;
  }
}
