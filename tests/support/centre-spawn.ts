/**
 * The real centre as a child process for reliability tests:
 * `node dist/centre/cli/main.js run -c <config>`, with a config the test
 * writes (its broker, a fixed API port so a restarted centre answers where
 * the client already sends, a platform client with a known token). Ready
 * when the command line prints its "centre: API …" line, after every part
 * has started. Plus a platform client that sends batches and sends again,
 * with the same batch id, whatever was not answered 2xx: the API's
 * idempotency makes that safe, and what it was answered is kept.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeToken } from '../../centre/api/tokens.js';
import { freePort } from './mosquitto.js';
import { pause } from './wait.js';

const MAIN = fileURLToPath(new URL('../../centre/cli/main.js', import.meta.url));
const READY = /^centre: API (\S+), broker /;

export interface CentreProcessConfig {
  dataDir: string;
  brokerUrl: string;
  /** Absent: SQLite in dataDir. */
  postgresUrl?: string;
  httpPort?: number;
  publisher?: Record<string, unknown>;
  department?: Record<string, unknown>;
  leader?: Record<string, unknown>;
  sites?: Array<Record<string, unknown>>;
  logLevel?: string;
}

export interface CentreSetup {
  file: string;
  token: string;
  url: string;
  config: Record<string, unknown>;
}

/** Writes a centre config (JSON) under dataDir; the API port is chosen now and kept across restarts. */
export async function writeCentreConfig(options: CentreProcessConfig, name = 'centre.json'): Promise<CentreSetup> {
  const { token, tokenSha256 } = makeToken();
  const port = options.httpPort ?? (await freePort());
  const config = {
    broker: { url: options.brokerUrl },
    http: { host: '127.0.0.1', port },
    store: { sqlite: { path: join(options.dataDir, 'centre.db') }, ...(options.postgresUrl ? { postgres: { url: options.postgresUrl, poolSize: 4 } } : {}) },
    record: { sqlite: { path: join(options.dataDir, 'centre-record.db') } },
    dataDir: options.dataDir,
    clients: [{ id: 'platform', tokenSha256, role: 'platform', sites: ['*'], requestsPerMinute: 1_000_000 }],
    ...(options.sites ? { sites: options.sites } : {}),
    publisher: { heartbeatSeconds: 1, snapshotDelayMs: 200, ...options.publisher },
    ...(options.department ? { department: options.department } : {}),
    ...(options.leader ? { leader: options.leader } : {}),
    logLevel: options.logLevel ?? 'warn',
  };
  const file = join(options.dataDir, name);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, token, url: `http://127.0.0.1:${port}`, config };
}

export interface CentreProcess {
  child: ChildProcess;
  /** The API's URL, from the ready line. */
  url: string;
  /** performance.now() when it printed its ready line. */
  readyAt: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines it wrote (stdout and stderr), for a failure's message. */
  output(): string;
  /** Sends the signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooked = false;

/** Starts the centre and resolves once it is ready; rejects with its output if it exits first or takes longer than timeoutMs. */
export async function spawnCentre(configFile: string, timeoutMs = 60_000): Promise<CentreProcess> {
  const child = spawn(process.execPath, [MAIN, 'run', '-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  const lines: string[] = [];
  const keep = (line: string): void => {
    lines.push(line);
    if (lines.length > 300) lines.shift();
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  let readyLine: ((url: string) => void) | null = null;
  const ready = new Promise<string>((resolve) => (readyLine = resolve));
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const line of parts) {
      keep(line);
      const match = READY.exec(line);
      if (match) readyLine?.(match[1]!);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => keep(chunk.toString('utf8').trimEnd()));
  const output = (): string => lines.slice(-60).join('\n');
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then((url) => ({ url })),
    exited.then((e) => ({ exit: e })),
    new Promise<{ timeout: true }>((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (!('url' in outcome)) {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`the centre did not start (${'exit' in outcome ? `exit ${JSON.stringify(outcome.exit)}` : `not ready within ${timeoutMs} ms`}):\n${output()}`);
  }
  return {
    child,
    url: outcome.url,
    readyAt: performance.now(),
    exited,
    output,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface SentBatch {
  batchId: string;
  changes: Array<{ subject: string; colour: string; effectiveAt: number }>;
}

export interface StoredAnswer {
  batchId: string;
  seq: number;
  rows: number;
  replayed: boolean;
  /** performance.now() of the answer. */
  at: number;
  /** Tries it took (1: answered the first time). */
  tries: number;
  url: string;
}

/**
 * Sends one batch until a 2xx answers it: a refusal of the centre's (5xx,
 * a connection refused or reset, no answer within timeoutMs) is tried
 * again after retryMs, at the next of `urls` (a standby says not-leader).
 * A 4xx other than 429 is the test's own fault: thrown.
 */
export async function sendUntilStored(urls: () => readonly string[], site: string, token: string, batch: SentBatch, options: { timeoutMs?: number; retryMs?: number; giveUpMs?: number; onRefused?: (why: string) => void } = {}): Promise<StoredAnswer> {
  const body = JSON.stringify(batch);
  const deadline = performance.now() + (options.giveUpMs ?? 120_000);
  for (let tries = 1, at = 0; ; tries++, at++) {
    const list = urls();
    const url = list[at % list.length]!;
    let why: string;
    try {
      const response = await fetch(`${url}/v1/sites/${site}/changes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      });
      const text = await response.text();
      if (response.ok) {
        const answer = JSON.parse(text) as { seq: number; rows: number; replayed: boolean };
        return { batchId: batch.batchId, ...answer, at: performance.now(), tries, url };
      }
      if (response.status < 500 && response.status !== 429) throw new Error(`batch ${batch.batchId} refused by the centre: ${response.status} ${text}`);
      why = `${response.status} ${(JSON.parse(text) as { error?: string }).error ?? text.slice(0, 80)}`;
    } catch (error) {
      if ((error as Error).message.startsWith(`batch ${batch.batchId} refused`)) throw error;
      why = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    }
    options.onRefused?.(why);
    if (performance.now() > deadline) throw new Error(`batch ${batch.batchId} not stored after ${tries} tries (last: ${why})`);
    await pause(options.retryMs ?? 50);
  }
}
