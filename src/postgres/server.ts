// A throwaway PostgreSQL for tests and the local target: its own cluster (`initdb`) in a temp
// directory, listening on 127.0.0.1 only, on a free port, with a generated password and
// scram-sha-256 authentication. Never touches the system cluster (its own data directory, port
// and socket directory). PostgreSQL refuses to run as root: as root, the cluster's directory is
// handed to the `postgres` user and every binary runs as that user (setpriv execs, so signals
// reach the server itself).
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, startProcess, waitFor, type ManagedProcess } from '../common/proc.js';

const run = promisify(execFile);

export interface PostgresOptions {
  /** Parent directory for the cluster; a new temp directory by default. */
  dir?: string;
  port?: number;
  /** Directory of initdb/postgres; default: EDGE_PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
  binDir?: string;
  user?: string;
  database?: string;
}

export interface PostgresConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** The directory holding Debian's PostgreSQL binaries. */
export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EDGE_PG_BIN) return env.EDGE_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql: run `npm run setup -- --all` (installs the postgresql package) or set EDGE_PG_BIN');
  return join(root, versions[0]!, 'bin');
}

/** `postgres://` URL with the password percent-encoded: a secret, never log it. */
export function connectionUrl(c: PostgresConnection): string {
  return `postgres://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${encodeURIComponent(c.database)}`;
}

/** The libpq environment for a client of this server (what the gateway reads). */
export function libpqEnv(c: PostgresConnection): Record<string, string> {
  return { PGHOST: c.host, PGPORT: String(c.port), PGUSER: c.user, PGPASSWORD: c.password, PGDATABASE: c.database };
}

export class PostgresServer {
  private proc: ManagedProcess | undefined;
  private readonly asUser: { uid: number; gid: number } | undefined;

  private constructor(
    readonly dir: string,
    readonly binDir: string,
    readonly connection: PostgresConnection,
    private readonly ownsDir: boolean,
  ) {
    this.asUser = userInfo().uid === 0 ? postgresAccount() : undefined;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get logFile(): string {
    return join(this.dir, 'postgres.log');
  }

  get url(): string {
    return connectionUrl(this.connection);
  }

  get running(): boolean {
    return this.proc?.isRunning() ?? false;
  }

  /** Creates a fresh cluster and starts it. */
  static async create(opts: PostgresOptions = {}): Promise<PostgresServer> {
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'edge-pg-'));
    mkdirSync(dir, { recursive: true });
    const connection: PostgresConnection = {
      host: '127.0.0.1',
      port: opts.port ?? (await freePort()),
      user: opts.user ?? 'edge',
      password: randomBytes(18).toString('base64url'),
      database: opts.database ?? 'postgres',
    };
    const server = new PostgresServer(dir, opts.binDir ?? postgresBinDir(), connection, ownsDir);
    try {
      await server.init();
      await server.start();
    } catch (err) {
      await server.destroy();
      throw err;
    }
    return server;
  }

  private argv(bin: string, args: string[]): [string, string[]] {
    const path = join(this.binDir, bin);
    if (!this.asUser) return [path, args];
    return ['setpriv', [`--reuid=${this.asUser.uid}`, `--regid=${this.asUser.gid}`, '--init-groups', '--', path, ...args]];
  }

  private async init(): Promise<void> {
    const pwfile = join(this.dir, 'pwfile');
    writeFileSync(pwfile, this.connection.password + '\n', { mode: 0o600 });
    if (this.asUser) {
      chmodSync(this.dir, 0o700);
      chownSync(this.dir, this.asUser.uid, this.asUser.gid);
      chownSync(pwfile, this.asUser.uid, this.asUser.gid);
    }
    const [cmd, args] = this.argv('initdb', ['-D', this.dataDir, '-U', this.connection.user, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-sync']);
    try {
      await run(cmd, args, { cwd: this.dir, timeout: 120_000 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`initdb failed: ${e.stderr?.trim() || e.message}`);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  /** Starts (or restarts after stop()) the server on its port; resolves once it accepts logins. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) return;
    const [cmd, args] = this.argv('postgres', [
      '-D', this.dataDir,
      '-p', String(this.connection.port),
      '-c', `listen_addresses=${this.connection.host}`,
      '-c', `unix_socket_directories=${this.dir}`,
      '-c', 'max_connections=50',
      '-c', 'shared_buffers=16MB',
    ]);
    const proc = startProcess({ name: 'postgres', command: cmd, args, logFile: this.logFile, cwd: this.dir });
    this.proc = proc;
    const ready = waitFor(`postgres on ${this.connection.host}:${this.connection.port} accepting logins`, async () => {
      const client = new pg.Client({ ...this.connection, connectionTimeoutMillis: 2_000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    }, timeoutMs, 100);
    const died = proc.exited.then((code) => {
      throw new Error(`postgres exited (${code}) while starting; see ${this.logFile}`);
    });
    await Promise.race([ready, died]).catch(async (err: Error) => {
      await this.stop();
      throw new Error(`${err.message}; see ${this.logFile}`);
    });
    died.catch(() => undefined);
  }

  /** Fast shutdown (SIGINT): open connections are cut, committed data is kept. */
  async stop(graceMs = 20_000): Promise<void> {
    const proc = this.proc;
    if (!proc || !proc.isRunning()) return;
    proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await proc.exited;
    clearTimeout(timer);
  }

  /** A client connected to this server (the caller ends it). */
  async client(): Promise<pg.Client> {
    const client = new pg.Client({ ...this.connection, connectionTimeoutMillis: 5_000 });
    await client.connect();
    return client;
  }

  /** Stops the server and removes its directory if this instance created it. */
  async destroy(): Promise<void> {
    await this.stop();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function postgresAccount(): { uid: number; gid: number } {
  // Debian's postgresql package creates this system user.
  const out = execFileSyncSafe('id', ['-u', 'postgres']);
  const gid = execFileSyncSafe('id', ['-g', 'postgres']);
  if (out === undefined || gid === undefined) throw new Error('running as root needs the `postgres` user (from the postgresql package) to run PostgreSQL');
  return { uid: Number(out), gid: Number(gid) };
}

function execFileSyncSafe(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}
