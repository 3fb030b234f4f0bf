/**
 * The real centre as a child process, started as an operator starts it
 * (`gate-centre run -c centre.yaml`), and its API spoken to over real HTTP
 * with a bearer token `gate-centre token` made.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { exitOf, startChild, type AgentProcess } from './agent-process.js';
import { until } from './wait.js';

export const CENTRE_CLI = fileURLToPath(new URL('../../centre/cli/main.js', import.meta.url));

/** `gate-centre token`: the token for the client, and the SHA-256 the config keeps. */
export async function centreToken(): Promise<{ token: string; tokenSha256: string }> {
  const { stdout } = await promisify(execFile)(process.execPath, [CENTRE_CLI, 'token']);
  return JSON.parse(stdout) as { token: string; tokenSha256: string };
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export interface CentreProcess {
  process: AgentProcess;
  /** The API's base URL the centre printed. */
  url: string;
  /** As the client of the token given at start, or of `token` (another client's: an operator's). */
  api(method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<ApiAnswer>;
  /** SIGTERM, and the exit within `timeoutMs`. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Resolves once the centre has printed where its API is (it has started: store, broker, duties, API). */
export async function startCentreProcess(t: TestContext, configFile: string, token: string): Promise<CentreProcess> {
  const child = startChild(t, CENTRE_CLI, ['run', '-c', configFile]);
  const started = (): RegExpMatchArray | null => /^centre: API (\S+),/m.exec(child.stdout());
  try {
    await until('the centre to start', () => started() !== null || child.child.exitCode !== null, 20_000);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nstdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`);
  }
  assert.ok(started(), `the centre exited before it started\nstdout:\n${child.stdout()}\nstderr:\n${child.stderr()}`);
  const url = started()![1]!.replace(/,$/, '');
  return {
    process: child,
    url,
    async api(method, path, body, as = token) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${as}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: kept as text for the assertion message
      }
      return { status: response.status, body: parsed };
    },
    async stop(timeoutMs = 15_000) {
      child.child.kill('SIGTERM');
      return exitOf(child, timeoutMs);
    },
  };
}
