/**
 * A gate agent in a child process, for tests that run it as a service
 * manager does: its output collected, its pino lines parsed, and its exit
 * awaited within a bound (a process that does not exit fails the test).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { until } from './wait.js';

export interface AgentProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** The JSON lines written so far (pino's, and a test child's probes). */
  logs: () => Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `script` under this Node; killed at the end of the test if still there. */
export function startChild(t: TestContext, script: string, args: string[]): AgentProcess {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const logs = (): Array<Record<string, unknown>> =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { child, stdout: () => stdout, stderr: () => stderr, logs, exited };
}

/** The exit, or a failure naming what the process wrote if it is still there after `timeoutMs`. */
export async function exitOf(agent: AgentProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the agent did not exit within ${timeoutMs} ms\nstdout:\n${agent.stdout()}\nstderr:\n${agent.stderr()}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([agent.exited, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

export function logged(agent: AgentProcess, message: string | RegExp): boolean {
  return agent.logs().some((line) => (typeof message === 'string' ? line.msg === message : message.test(String(line.msg))));
}

export async function untilLogged(agent: AgentProcess, message: string | RegExp, timeoutMs = 15_000): Promise<void> {
  try {
    await until(`the agent to log ${String(message)}`, () => logged(agent, message) || agent.child.exitCode !== null, timeoutMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nstdout:\n${agent.stdout()}\nstderr:\n${agent.stderr()}`);
  }
  assert.ok(logged(agent, message), `the agent exited before logging ${String(message)}\nstdout:\n${agent.stdout()}\nstderr:\n${agent.stderr()}`);
}
