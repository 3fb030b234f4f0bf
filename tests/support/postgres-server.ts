/**
 * A PostgreSQL server of the test's own (postgres.ts shares the machine's):
 * initdb into a fresh temp dir, the server run in the foreground as a child
 * on a free loopback port, so the test may stop it (fast or immediate, as a
 * crash) and start it again on the same port and data, while its clients
 * stay configured. As root the server runs as the `postgres` user (it
 * refuses to run as root). Skipped where no PostgreSQL binaries are
 * installed, failed in CI.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { freePort } from './mosquitto.js';
import { pause } from './wait.js';

export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:port/postgres */
  url: string;
  port: number;
  /** fast: SIGINT (sessions ended, a checkpoint); immediate: SIGQUIT (no checkpoint: recovery at the next start, as after a crash). */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** A new database on this server; its URL. */
  createDatabase(name: string): Promise<string>;
  close(): Promise<void>;
}

function binDir(): string | null {
  const candidates = [...(process.env.PATH ?? '').split(':'), ...safeList('/usr/lib/postgresql').map((v) => `/usr/lib/postgresql/${v}/bin`)];
  for (const dir of candidates) {
    try {
      accessSync(join(dir, 'initdb'), constants.X_OK);
      accessSync(join(dir, 'postgres'), constants.X_OK);
      return dir;
    } catch {
      // not here
    }
  }
  return null;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir).sort().reverse();
  } catch {
    return [];
  }
}

/** True when initdb and postgres are installed; otherwise skips the test (fails it in CI). */
export function requirePostgresServer(t: TestContext): boolean {
  if (binDir()) return true;
  const message = 'PostgreSQL server binaries (initdb, postgres) not installed: apt-get install -y postgresql';
  if (process.env.CI) throw new Error(message);
  t.skip(message);
  return false;
}

/** The uid/gid to run the server as: the postgres user when this process is root. */
function runAs(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) throw new Error('running as root and there is no postgres user to run PostgreSQL as');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const bin = binDir();
  if (!bin) throw new Error('PostgreSQL server binaries not installed');
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'centre-pg-'));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-instructions'], { encoding: 'utf8', ...(user ?? {}) });
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const answers = async (): Promise<boolean> => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  const start = async (): Promise<void> => {
    if (child) throw new Error('PostgreSQL is already running');
    output = '';
    // fsync off: the test kills the server, never the machine, and the disk is shared with other tests.
    const proc = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=60'], { stdio: ['ignore', 'pipe', 'pipe'], ...(user ?? {}) });
    child = proc;
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-10_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    let gone = false;
    exited = new Promise((resolve) =>
      proc.once('exit', () => {
        gone = true;
        resolve();
      }),
    );
    const deadline = Date.now() + 30_000;
    while (!(await answers())) {
      if (gone) throw new Error(`PostgreSQL exited before answering:\n${output}`);
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not answer within 30 s:\n${output}`);
      await pause(50);
    }
  };

  const stop = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
    const proc = child;
    if (!proc) return;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
      const killed = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killed);
    }
    child = null;
  };

  process.once('exit', () => child?.kill('SIGKILL'));
  await start();
  return {
    url,
    port,
    stop,
    start,
    createDatabase: async (name) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a database name: ${name}`);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url.replace(/\/postgres$/, `/${name}`);
    },
    close: async () => {
      await stop('immediate');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
