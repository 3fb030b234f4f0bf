/**
 * `npm run bench -- crash`: the gate killed with SIGKILL at random moments
 * while it decides, and restarted on the same journal file each time; do the
 * centre's events all arrive? A child process (crash-child.ts) runs the real
 * agent on the simulator's virtual hardware with people walking through one
 * after another, and reports each decision on stdout once it is committed.
 * The parent kills it a uniformly random time after its first decision
 * (seeded: the seed is printed), starts it again, and after the last kill
 * lets a last child drain its outbox. A consumer with a persistent QoS 1
 * session on a real Mosquitto, as the centre's, counts what arrives by event
 * id. Lost: reported committed and never delivered (goal 0); duplicates:
 * deliveries of an id already delivered (at-least-once allows them).
 * Once per journal sync mode. docs/benchmarks.md has the figures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { Journal } from '../../edge-agent/journal/journal.js';
import { Outbox } from '../../edge-agent/link/outbox.js';
import { laneTopic } from '../../protocol/topics.js';
import { mosquittoAvailable, startMosquitto } from '../support/mosquitto.js';
import { median, percentile, round } from './stats.js';

export type JournalSync = 'normal' | 'full';

export interface CrashBenchOptions {
  /** SIGKILLs per sync mode. */
  kills: number;
  /** Each kill comes a uniformly random time in [0, windowMs) after the child's first decision. */
  windowMs: number;
  modes: JournalSync[];
  /** Of the kill delays; the same seed gives the same delays (the moments they land on still depend on the machine). */
  seed: number;
  progress: (message: string) => void;
}

const CHILD = fileURLToPath(new URL('./crash-child.js', import.meta.url));
const SITE = 'bench';
const LANE = 'crash';
const BASE = 'hc/v1';
/** Bounds, so a hung child or a lost event ends the run instead of stalling it. */
const FIRST_DECISION_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 90_000;
const DELIVERY_TIMEOUT_MS = 15_000;

/**
 * mulberry32, a small seeded generator: Math.random cannot be seeded, and
 * none of the project's dependencies offers one outside the fuzz harness.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Reported {
  id: string;
  verdict: string;
  colour: string | null;
}

/** The outbox ids one decision puts on the wire: the event, and for a red hold its alert (GateLink.enqueueDecision). */
function outboxIds(event: { id: string; verdict: string; colour: string | null }): string[] {
  return event.verdict === 'hold' && event.colour === 'red' ? [event.id, `${event.id}.alert`] : [event.id];
}

interface Life {
  child: ChildProcess;
  /** performance.now() when the first decision line came. */
  firstDecision: Promise<number>;
  /** The drain report of a child told to drain. */
  drained: Promise<{ drained: boolean; depth: number; deadLetters: number }>;
  /** Every decision this child reported. */
  decisions: Reported[];
  /** Resolves once the process has exited and its stdout is read to the end. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderrTail: string[];
}

function startChild(journalPath: string, url: string, sync: JournalSync, label: string, progress: (message: string) => void): Life {
  const child = spawn(process.execPath, [CHILD, journalPath, url, sync], { stdio: ['pipe', 'pipe', 'pipe'] });
  const decisions: Reported[] = [];
  const stderrTail: string[] = [];
  let first: (at: number) => void = () => {};
  let drained: (report: { drained: boolean; depth: number; deadLetters: number }) => void = () => {};
  const firstDecision = new Promise<number>((resolve) => (first = resolve));
  const drainedReport = new Promise<{ drained: boolean; depth: number; deadLetters: number }>((resolve) => (drained = resolve));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let message: Partial<Reported> & { drained?: boolean; depth?: number; deadLetters?: number };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      // Writes of a line are atomic on a pipe, so a torn line would be news: say so.
      progress(`${label}: unreadable line on stdout: ${JSON.stringify(line.slice(0, 200))}`);
      return;
    }
    if (typeof message.id === 'string') {
      decisions.push({ id: message.id, verdict: String(message.verdict), colour: typeof message.colour === 'string' ? message.colour : null });
      if (decisions.length === 1) first(performance.now());
    } else if (typeof message.drained === 'boolean') {
      drained({ drained: message.drained, depth: Number(message.depth), deadLetters: Number(message.deadLetters) });
    }
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.shift();
    progress(`${label} stderr: ${line.slice(0, 300)}`);
  });
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => {
      stderrTail.push(`spawn failed: ${error.message}`);
      resolve({ code: -1, signal: null });
    });
  });
  return { child, firstDecision, drained: drainedReport, decisions, closed, stderrTail };
}

/** Resolves with what `promise` gives, or rejects naming `what` when the child ends first or time runs out. */
async function fromChild<T>(life: Life, promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms\n${life.stderrTail.join('\n')}`)), timeoutMs);
  });
  const ended = life.closed.then(({ code, signal }) => {
    throw new Error(`${what}: the child exited first (code ${code}, signal ${signal})\n${life.stderrTail.join('\n')}`);
  });
  try {
    return await Promise.race([promise, timedOut, ended]);
  } finally {
    clearTimeout(timer);
  }
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function oneMode(options: CrashBenchOptions, sync: JournalSync): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-crash-'));
  const journalPath = join(dir, 'journal.db');
  // The consumer's queue on the broker unbounded: Mosquitto would drop QoS 1 messages past its default 1,000.
  const broker = await startMosquitto({ extra: 'max_queued_messages 0' });
  let consumer: MqttClient | null = null;
  const lives: Life[] = [];
  try {
    consumer = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5, clientId: `bench-crash-centre-${sync}`, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 100,
    });
    consumer.on('error', () => {});
    const deliveries = new Map<string, number>();
    consumer.on('message', (_topic, payload) => {
      let id: unknown;
      try {
        id = (JSON.parse(payload.toString('utf8')) as { id?: unknown }).id;
      } catch {
        return;
      }
      if (typeof id === 'string') deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
    });
    await consumer.subscribeAsync([laneTopic(BASE, SITE, LANE, 'decision'), laneTopic(BASE, SITE, LANE, 'alert')], { qos: 1 });

    const random = seededRandom(options.seed);
    const restartMs: number[] = [];
    const delaysMs: number[] = [];
    let killedAt: number | null = null;
    const started = performance.now();
    for (let kill = 1; kill <= options.kills + 1; kill++) {
      const last = kill > options.kills;
      const life = startChild(journalPath, broker.url, sync, `${sync} child ${kill}`, options.progress);
      lives.push(life);
      const firstAt = await fromChild(life, life.firstDecision, FIRST_DECISION_TIMEOUT_MS, `${sync} child ${kill}: first decision`);
      if (killedAt !== null) restartMs.push(firstAt - killedAt);
      if (last) {
        life.child.stdin!.end('drain\n');
        const report = await fromChild(life, life.drained, DRAIN_TIMEOUT_MS, `${sync} last child: outbox drained`);
        const { code } = await life.closed;
        if (!report.drained || code !== 0) throw new Error(`${sync} last child: outbox not drained (${JSON.stringify(report)}, exit ${code})\n${life.stderrTail.join('\n')}`);
        break;
      }
      const delay = random() * options.windowMs;
      delaysMs.push(delay);
      await pause(delay);
      killedAt = performance.now();
      life.child.kill('SIGKILL');
      const { signal } = await life.closed;
      if (signal !== 'SIGKILL') throw new Error(`${sync} child ${kill} ended by itself (signal ${signal}) before the kill\n${life.stderrTail.join('\n')}`);
      if (kill % 10 === 0 || kill === options.kills) options.progress(`${sync}: ${kill}/${options.kills} kills, ${lives.reduce((n, l) => n + l.decisions.length, 0)} decisions reported`);
    }
    const runMs = performance.now() - started;

    const reported = lives.flatMap((l) => l.decisions);
    const expected = new Set(reported.flatMap(outboxIds));
    const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
    while ([...expected].some((id) => !deliveries.has(id)) && Date.now() < deadline) await pause(20);

    // What the journal holds at the end is what was committed, reported or not.
    const journal = Journal.open(journalPath, { sync });
    let journaled: ReturnType<Journal['list']>;
    let outboxLeft: number;
    let deadLetters: number;
    try {
      journaled = journal.list();
      const outbox = Outbox.attach(journal.database, { maxMessages: 200_000, maxAgeDays: 30, warnAtFraction: 0.8 });
      outboxLeft = outbox.depth;
      deadLetters = outbox.deadCount;
    } finally {
      journal.close();
    }
    const journaledIds = new Set(journaled.flatMap(outboxIds));
    const lostIds = [...expected].filter((id) => !deliveries.has(id));
    const delivered = [...deliveries.keys()];
    const result = {
      sync,
      lost: lostIds.length,
      lostIds: lostIds.slice(0, 20),
      kills: options.kills,
      seed: options.seed,
      windowMs: options.windowMs,
      decisionsCommitted: reported.length,
      eventsCommitted: expected.size,
      alertsCommitted: expected.size - reported.length,
      delivered: delivered.length,
      duplicates: [...deliveries.values()].reduce((sum, n) => sum + n - 1, 0),
      idsDeliveredMoreThanOnce: [...deliveries.values()].filter((n) => n > 1).length,
      deliveredUnreported: delivered.filter((id) => !expected.has(id)).length,
      journaledEvents: journaled.length,
      // Committed and not reported (killed between the commit and the line), and never delivered: lost as well.
      journaledNotDelivered: [...journaledIds].filter((id) => !deliveries.has(id)).length,
      reportedNotJournaled: reported.filter((r) => !journaledIds.has(r.id)).length,
      deliveredNotJournaled: delivered.filter((id) => !journaledIds.has(id)).length,
      outboxLeft,
      deadLetters,
      medianRestartMs: round(median(restartMs), 0),
      p95RestartMs: round(percentile(restartMs, 95), 0),
      maxRestartMs: round(Math.max(...restartMs), 0),
      medianDecisionsPerLife: median(lives.slice(0, -1).map((l) => l.decisions.length)),
      medianKillDelayMs: round(median(delaysMs), 0),
      runSeconds: round(runMs / 1000, 1),
    };
    options.progress(
      `${sync}: ${result.lost === 0 ? 'lost 0' : `LOST ${result.lost}`} of ${result.eventsCommitted} committed events; ${result.duplicates} duplicates, ` +
        `${result.deliveredUnreported} delivered unreported; restart median ${result.medianRestartMs} ms`,
    );
    return result;
  } finally {
    for (const life of lives) if (life.child.exitCode === null && life.child.signalCode === null) life.child.kill('SIGKILL');
    await Promise.all(lives.map((l) => l.closed));
    await consumer?.endAsync(true);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchCrash(options: CrashBenchOptions): Promise<Record<string, unknown>> {
  if (!mosquittoAvailable()) throw new Error('the crash bench needs Mosquitto: apt-get install -y mosquitto');
  options.progress(`seed ${options.seed} (CRASH_SEED=${options.seed} replays the kill delays), ${options.kills} kills per mode, window ${options.windowMs} ms`);
  const perMode: Array<Record<string, unknown>> = [];
  for (const sync of options.modes) perMode.push(await oneMode(options, sync));
  const sum = (key: string): number => perMode.reduce((total, m) => total + (m[key] as number), 0);
  return {
    benchmark: 'crash',
    lost: sum('lost'),
    goalLost: 0,
    journaledNotDelivered: sum('journaledNotDelivered'),
    seed: options.seed,
    kills: options.kills,
    windowMs: options.windowMs,
    broker: 'mosquitto',
    perMode,
  };
}
