/**
 * The centre's leader election with real processes (centre-leader-child.ts)
 * on a real PostgreSQL (a scratch database per test: advisory locks are per
 * database) and on SQLite files. The leader killed with SIGKILL, its session
 * terminated by the server, the leader paused with SIGSTOP past the takeover,
 * a leader and two standbys: each time one process leads within 10 s, never
 * two at once (checked on the acts they print and by asking them), and a
 * leader that lost its lock acts no more. The takeover times are printed as
 * diagnostics; only the 10 s bound is asserted.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { leaderTimings } from '../../centre/leader/election.js';
import { PostgresLeaderElection } from '../../centre/leader/postgres-election.js';
import { SqliteLeaderElection } from '../../centre/leader/sqlite-election.js';
import { cleanupStack } from '../support/cleanups.js';
import { POSTGRES_URL, requirePostgres, scratchDatabase, type ScratchDatabase } from '../support/postgres.js';
import { until } from '../support/wait.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'centre-leader-child.js');
const LOCK_KEY = 4_143_001;
/** The default: the bounds below are the ones a centre runs with. */
const CHECK_MS = 1000;
const TAKEOVER_BOUND_MS = 10_000;
const mono = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Probe {
  probe: string;
  mono: number;
  reason?: string;
  code?: string | null;
  message?: string;
  leading?: boolean;
}

interface Candidate {
  name: string;
  child: ChildProcess;
  probes: Probe[];
  paused: boolean;
  exit: Promise<number | null>;
}

function spawnCandidate(t: TestContext, cleanups: Array<() => unknown>, name: string, args: string[]): Candidate {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const candidate: Candidate = { name, child, probes: [], paused: false, exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim()) candidate.probes.push(JSON.parse(line) as Probe);
  });
  child.stderr!.on('data', (chunk: Buffer) => t.diagnostic(`${name} stderr: ${chunk.toString('utf8').trim()}`));
  cleanups.push(() => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    return candidate.exit;
  });
  return candidate;
}

const pgCandidate = (t: TestContext, cleanups: Array<() => unknown>, db: ScratchDatabase, name: string): Candidate =>
  spawnCandidate(t, cleanups, name, ['postgres', db.url, String(LOCK_KEY), String(CHECK_MS), name]);

/** The first probe at or after `from` that matches, within a bounded wait. */
async function probeOf(c: Candidate, kind: string, timeoutMs: number, from = 0): Promise<Probe> {
  let found: Probe | undefined;
  await until(`${c.name}: ${kind}`, () => (found = c.probes.slice(from).find((p) => p.probe === kind)) !== undefined, timeoutMs);
  return found!;
}

/** Asks a running candidate whether it leads; null when it does not answer within 2 s. */
async function ask(c: Candidate): Promise<boolean | null> {
  const from = c.probes.length;
  c.child.stdin!.write('state\n');
  try {
    return (await probeOf(c, 'state', 2_000, from)).leading ?? null;
  } catch {
    return null;
  }
}

/** Asks every live candidate, every 150 ms until stopped, who leads; each round's answers are kept. */
function sampleLeaders(candidates: Candidate[]): { rounds: string[][]; stop: () => Promise<void> } {
  const rounds: string[][] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const live = candidates.filter((c) => !c.paused && c.child.exitCode === null && c.child.signalCode === null);
      const answers = await Promise.all(live.map(async (c) => [c.name, await ask(c)] as const));
      rounds.push(answers.filter(([, leading]) => leading === true).map(([name]) => name));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  })();
  return { rounds, stop: async () => { running = false; await loop; } };
}

/** Exactly one of `candidates` says it leads; its name. */
async function soleLeader(candidates: Candidate[]): Promise<string> {
  const answers = await Promise.all(candidates.map(async (c) => [c.name, await ask(c)] as const));
  const leaders = answers.filter(([, leading]) => leading === true).map(([name]) => name);
  assert.equal(leaders.length, 1, `leaders: ${JSON.stringify(answers)}`);
  return leaders[0]!;
}

/**
 * Never two at once, on what they did: each candidate's acts split into its
 * terms (from each 'leading'), and no two terms of different candidates
 * overlap in time.
 */
function assertActsNeverOverlap(candidates: Candidate[]): void {
  const terms: Array<{ name: string; from: number; to: number }> = [];
  for (const c of candidates) {
    let term: { name: string; from: number; to: number } | null = null;
    for (const p of c.probes) {
      if (p.probe === 'leading') term = null;
      if (p.probe !== 'act') continue;
      if (term) term.to = p.mono;
      else terms.push((term = { name: c.name, from: p.mono, to: p.mono }));
    }
  }
  terms.sort((a, b) => a.from - b.from);
  for (let i = 1; i < terms.length; i += 1) {
    const before = terms[i - 1]!;
    const after = terms[i]!;
    assert.ok(before.to < after.from, `${after.name} acted from ${after.from} while ${before.name} acted until ${before.to}`);
  }
}

async function leaderAndStandby(t: TestContext): Promise<{ db: ScratchDatabase; cleanups: Array<() => unknown>; a: Candidate; b: Candidate } | null> {
  if (!(await requirePostgres(t))) return null;
  const cleanups = cleanupStack(t);
  const db = await scratchDatabase();
  cleanups.push(() => db.drop());
  const a = pgCandidate(t, cleanups, db, 'a');
  await probeOf(a, 'leading', 15_000);
  const b = pgCandidate(t, cleanups, db, 'b');
  await probeOf(b, 'standby', 15_000);
  return { db, cleanups, a, b };
}

test('postgres: the leader killed with SIGKILL: the standby leads within 10 s', { timeout: 60_000 }, async (t) => {
  const setup = await leaderAndStandby(t);
  if (!setup) return;
  const { a, b } = setup;
  assert.equal(await soleLeader([a, b]), 'a');
  a.child.kill('SIGKILL');
  const killedAt = mono();
  const leading = await probeOf(b, 'leading', TAKEOVER_BOUND_MS);
  const takeoverMs = leading.mono - killedAt;
  t.diagnostic(`takeover after SIGKILL: ${takeoverMs.toFixed(0)} ms (timings ${JSON.stringify(leaderTimings(CHECK_MS))})`);
  assert.ok(takeoverMs < TAKEOVER_BOUND_MS, `${takeoverMs} ms`);
  assert.equal(await soleLeader([b]), 'b');
  await probeOf(b, 'act', 2_000);
  assertActsNeverOverlap([a, b]);
});

test("postgres: the leader's session terminated by the server: it says 'lost', acts no more, and the standby takes over", { timeout: 60_000 }, async (t) => {
  const setup = await leaderAndStandby(t);
  if (!setup) return;
  const { db, a, b } = setup;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  t.after(() => admin.end());
  // The holder as the server sees it, so the test needs nothing from the candidates to find it.
  const holder = await admin.query<{ pid: number; application_name: string }>(
    `SELECT l.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objid = $1::bigint::oid AND l.database = (SELECT oid FROM pg_database WHERE datname = $2)`,
    [LOCK_KEY, db.name],
  );
  assert.deepEqual(holder.rows.map((r) => r.application_name), ['leader-test-a']);
  await admin.query('SELECT pg_terminate_backend($1)', [holder.rows[0]!.pid]);
  const terminatedAt = mono();
  const lost = await probeOf(a, 'lost', 5_000);
  assert.ok(lost.reason === 'connection-error' || lost.reason === 'connection-ended', JSON.stringify(lost));
  t.diagnostic(`the leader noticed after ${(lost.mono - terminatedAt).toFixed(0)} ms: ${lost.reason} (${lost.message})`);
  const leading = await probeOf(b, 'leading', TAKEOVER_BOUND_MS);
  const takeoverMs = leading.mono - terminatedAt;
  t.diagnostic(`takeover after pg_terminate_backend: ${takeoverMs.toFixed(0)} ms`);
  assert.ok(takeoverMs < TAKEOVER_BOUND_MS, `${takeoverMs} ms`);
  // Once lost, the old leader did nothing as a leader; it waits as a standby now.
  assert.equal(a.probes.filter((p) => p.probe === 'act' && p.mono > lost.mono).length, 0);
  await probeOf(a, 'standby', 10_000, a.probes.indexOf(lost) + 1);
  assert.equal(await soleLeader([a, b]), 'b');
  await probeOf(b, 'act', 2_000);
  assertActsNeverOverlap([a, b]);
});

test('postgres: the leader paused with SIGSTOP past the takeover steps down on SIGCONT before it acts again', { timeout: 60_000 }, async (t) => {
  const setup = await leaderAndStandby(t);
  if (!setup) return;
  const { a, b } = setup;
  await probeOf(a, 'act', 2_000);
  a.child.kill('SIGSTOP');
  a.paused = true;
  const stoppedAt = mono();
  // A paused process keeps its socket (its kernel answers TCP keep-alive): the server ends the idle session.
  const leading = await probeOf(b, 'leading', TAKEOVER_BOUND_MS);
  const takeoverMs = leading.mono - stoppedAt;
  t.diagnostic(`takeover after SIGSTOP: ${takeoverMs.toFixed(0)} ms`);
  assert.ok(takeoverMs < TAKEOVER_BOUND_MS, `${takeoverMs} ms`);
  await probeOf(b, 'act', 2_000);
  const resumedAt = mono();
  a.child.kill('SIGCONT');
  a.paused = false;
  const lost = await probeOf(a, 'lost', 5_000);
  t.diagnostic(`the old leader stepped down ${(lost.mono - resumedAt).toFixed(0)} ms after SIGCONT: ${lost.reason}`);
  assert.ok(lost.mono > resumedAt);
  // Its act timer was due at once on resuming: `leading` said no, so not one act after the pause.
  const actsAfter = a.probes.filter((p) => p.probe === 'act' && p.mono > stoppedAt);
  assert.deepEqual(actsAfter, [], 'the old leader acted after its pause');
  await probeOf(a, 'standby', 10_000, a.probes.indexOf(lost) + 1);
  assert.equal(await soleLeader([a, b]), 'b');
  assertActsNeverOverlap([a, b]);
});

test('postgres: a leader and two standbys: exactly one leads at any time, through two takeovers', { timeout: 90_000 }, async (t) => {
  const setup = await leaderAndStandby(t);
  if (!setup) return;
  const { db, cleanups, a, b } = setup;
  const c = pgCandidate(t, cleanups, db, 'c');
  await probeOf(c, 'standby', 15_000);
  const all = [a, b, c];
  const sampler = sampleLeaders(all);
  cleanups.push(() => sampler.stop());
  let live = all;
  /** Waits until the sampler has heard `name`, and only it, lead in three more rounds. */
  const heardLeading = (name: string): Promise<void> => {
    const seen = () => sampler.rounds.filter((leaders) => leaders.length === 1 && leaders[0] === name).length;
    const before = seen();
    return until(`three rounds in which ${name} leads`, () => seen() >= before + 3, 10_000);
  };
  for (let round = 0; round < 2; round += 1) {
    const name = await soleLeader(live);
    await heardLeading(name);
    const old = live.find((x) => x.name === name)!;
    const standbys = live.filter((x) => x !== old);
    const marks = standbys.map((s) => s.probes.length);
    old.child.kill('SIGKILL');
    const killedAt = mono();
    await until('a standby leads', () => standbys.some((s, i) => s.probes.slice(marks[i]).some((p) => p.probe === 'leading')), TAKEOVER_BOUND_MS);
    const next = standbys.find((s, i) => s.probes.slice(marks[i]).some((p) => p.probe === 'leading'))!;
    const takeoverMs = next.probes.slice(marks[standbys.indexOf(next)]).find((p) => p.probe === 'leading')!.mono - killedAt;
    t.diagnostic(`takeover ${round + 1} (${name} killed, ${next.name} leads): ${takeoverMs.toFixed(0)} ms`);
    assert.ok(takeoverMs < TAKEOVER_BOUND_MS);
    await old.exit;
    live = standbys;
    assert.equal(await soleLeader(live), next.name);
  }
  await heardLeading(live[0]!.name);
  await sampler.stop();
  const rounds = sampler.rounds;
  t.diagnostic(`${rounds.length} sample rounds; leaders seen: ${[...new Set(rounds.flat())].join(', ')}`);
  assert.ok(rounds.length >= 10, `only ${rounds.length} rounds`);
  const two = rounds.filter((leaders) => leaders.length > 1);
  assert.deepEqual(two, [], 'two leaders answered in one round');
  assert.deepEqual([...new Set(rounds.flat())].sort(), ['a', 'b', 'c']);
  assertActsNeverOverlap(all);
});

test('postgres: stop() releases the lock at once; a server that is not there leaves start() resolved as a standby', { timeout: 30_000 }, async (t) => {
  if (!(await requirePostgres(t))) return;
  const cleanups = cleanupStack(t);
  const db = await scratchDatabase();
  cleanups.push(() => db.drop());
  const first = new PostgresLeaderElection({ url: db.url, lockKey: LOCK_KEY, checkMs: 200 });
  const second = new PostgresLeaderElection({ url: db.url, lockKey: LOCK_KEY, checkMs: 200 });
  cleanups.push(() => first.stop(), () => second.stop());
  await first.start();
  assert.equal(first.leading, true);
  const events: string[] = [];
  second.on('standby', () => events.push('standby')).on('leading', () => events.push('leading'));
  await second.start();
  assert.deepEqual([second.leading, events], [false, ['standby']]);
  await first.stop();
  assert.equal(first.leading, false);
  await until('the second leads', () => second.leading, 5_000);
  assert.deepEqual(events, ['standby', 'leading']);

  // Nothing listens on this port: each attempt is refused, start() settles as a standby, and it keeps trying.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  const nowhere = new PostgresLeaderElection({ url: `postgres://u:secret@127.0.0.1:${port}/none`, lockKey: LOCK_KEY, checkMs: 200 });
  cleanups.push(() => nowhere.stop());
  let standby = false;
  nowhere.on('standby', () => (standby = true));
  await nowhere.start();
  assert.deepEqual([nowhere.leading, standby], [false, true]);
});

test('sqlite: a second process on the same file refuses to start (already-running); once the first is killed, a new one leads', { timeout: 30_000 }, async (t) => {
  const cleanups = cleanupStack(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'centre-leader-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'data', 'centre.db');
  const first = spawnCandidate(t, cleanups, 'first', ['sqlite', file]);
  await probeOf(first, 'leading', 10_000);
  const second = spawnCandidate(t, cleanups, 'second', ['sqlite', file]);
  const refused = await probeOf(second, 'refused', 10_000);
  assert.equal(refused.code, 'already-running');
  assert.match(refused.message!, /another centre process runs on .*centre\.db/);
  assert.equal(await second.exit, 2);
  assert.equal(await ask(first), true);
  // The kernel drops a dead process's lock: no stale lock file stands in the way.
  first.child.kill('SIGKILL');
  await first.exit;
  const third = spawnCandidate(t, cleanups, 'third', ['sqlite', file]);
  await probeOf(third, 'leading', 10_000);
  assert.equal(await ask(third), true);
  // In one process too (another connection), and stop() frees the file for the next.
  const inProcess = new SqliteLeaderElection({ path: file });
  await assert.rejects(inProcess.start(), { code: 'already-running' });
  assert.equal(inProcess.leading, false);
  third.child.stdin!.write('stop\n');
  assert.equal(await third.exit, 0);
  await inProcess.start();
  assert.equal(inProcess.leading, true);
  await inProcess.stop();
  assert.equal(inProcess.leading, false);
  const memory = new SqliteLeaderElection({ path: ':memory:' });
  await memory.start();
  assert.equal(memory.leading, true);
  await memory.stop();
});
