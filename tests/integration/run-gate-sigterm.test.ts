/**
 * SIGTERM ends `gate-agent run` within its stated bound (docs/operations.md)
 * in every state the lane can be in until a signal comes, a fire alarm and a
 * red-code hold included, and leaves the lock-release relay safe: locked,
 * except during a fire alarm, when the leaf stays released for egress. The
 * run is runGate in a child process on the wire-level virtual lane
 * (run-gate-child.ts), which drives the lane into the state and reports the
 * relay after the stop. Reading and deciding last no longer than a verify
 * and a look-up (bounded, and settled by the lane's stop) and are not held.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { STOP_BOUND_MS } from '../../edge-agent/cli/run-gate.js';
import { exitOf, startChild, untilLogged, type AgentProcess } from '../support/agent-process.js';
import { until } from '../support/wait.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'run-gate-child.js');
/** The stated bound: the stop bound, then at most 1 s for the process to exit (the CLI's exit grace). */
const GONE_WITHIN_MS = STOP_BOUND_MS + 1_000;
/** A shortened stop bound, for a driver that never lets go. */
const SHORT_BOUND_MS = 300;

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'run-gate-sigterm-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function probes(agent: AgentProcess, kind: string): Array<Record<string, unknown>> {
  return agent.logs().filter((line) => line.probe === kind);
}

/** Runs the gate, drives its lane to `state`, sends SIGTERM; resolves with the exit code, how long it took, and the relay. */
async function sigtermIn(t: TestContext, state: string, options: { stuck?: boolean } = {}): Promise<{ code: number | null; elapsedMs: number; released: unknown }> {
  const agent = startChild(t, CHILD, [dir, '-', options.stuck ? String(SHORT_BOUND_MS) : 'default', state, ...(options.stuck ? ['stuck'] : [])]);
  await untilLogged(agent, 'gate agent running');
  const reached = (): boolean => probes(agent, 'lane-state').some((line) => line.state === state);
  try {
    await until(`the lane to be ${state}`, () => reached() || probes(agent, 'drive-failed').length > 0 || agent.child.exitCode !== null, 15_000);
  } catch (error) {
    throw new Error(`${(error as Error).message}\nstdout:\n${agent.stdout()}\nstderr:\n${agent.stderr()}`);
  }
  assert.ok(reached(), `the lane never got to ${state}\nstdout:\n${agent.stdout()}\nstderr:\n${agent.stderr()}`);
  const lastState = probes(agent, 'lane-state').at(-1)?.state;
  assert.equal(lastState, state, `the lane left ${state} before the signal: ${agent.stdout()}`);
  const sentAt = Date.now();
  agent.child.kill('SIGTERM');
  const exit = await exitOf(agent, 2 * GONE_WITHIN_MS);
  const elapsedMs = Date.now() - sentAt;
  assert.equal(exit.signal, null, agent.stdout());
  const relay = probes(agent, 'relay');
  assert.equal(relay.length, 1, `no relay report\nstdout:\n${agent.stdout()}\nstderr:\n${agent.stderr()}`);
  return { code: exit.code, elapsedMs, released: relay[0]!.released };
}

const STATES = ['idle', 'measuring', 'open', 'locked', 'held', 'staff', 'emergency'] as const;

for (const state of STATES) {
  test(`SIGTERM while the lane is ${state}: exit 0 within ${GONE_WITHIN_MS} ms, the relay ${state === 'emergency' ? 'left released for egress' : 'locked'}`, { timeout: 60_000 }, async (t) => {
    const { code, elapsedMs, released } = await sigtermIn(t, state);
    assert.equal(code, 0);
    assert.ok(elapsedMs < GONE_WITHIN_MS, `took ${elapsedMs} ms`);
    assert.equal(released, state === 'emergency');
  });
}

for (const state of ['emergency', 'held', 'open'] as const) {
  test(`SIGTERM while the lane is ${state} and a driver never lets go: exit 1 at the stop bound, the relay safe`, { timeout: 60_000 }, async (t) => {
    const { code, elapsedMs, released } = await sigtermIn(t, state, { stuck: true });
    assert.equal(code, 1);
    assert.ok(elapsedMs >= SHORT_BOUND_MS && elapsedMs < SHORT_BOUND_MS + 1_000, `took ${elapsedMs} ms`);
    assert.equal(released, state === 'emergency');
  });
}
