/**
 * One surface's run, inside a worker thread the guard (guard.ts) started with
 * a heap cap: set the rig up, check the seeds, replay the regressions, then
 * generate and run fuzz cases until the case count or the deadline, timing
 * each one. Before each case its index and bytes go to shared memory, so a
 * case that hangs or exhausts the heap is still known by its input after the
 * guard has ended this worker. Findings are posted as they happen; the rest
 * of the figures in periodic snapshots.
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { loadSurface } from './surfaces.js';
import { describeError, type Rig, type Verdict } from './surface.js';
import {
  MAX_RECORDED_INPUT,
  PHASE,
  SLOT,
  type FindingMessage,
  type MemoryFigures,
  type Phase,
  type SlowCase,
  type WorkerMessage,
  type WorkerParams,
  type WorkerSnapshot,
} from './protocol.js';

const params = workerData as WorkerParams;
const control = new Int32Array(params.control);
const stash = new Uint8Array(params.stash);
const post = (message: WorkerMessage): void => parentPort!.postMessage(message);

/** The slowest cases kept with their inputs. */
const SLOWEST_KEPT = 5;
const SNAPSHOT_EVERY_MS = 500;
const DEFAULT_BOUND_MS = 50;
const DEFAULT_BATCH = 200;

let currentIndex = -1;
let currentBytes: Uint8Array = new Uint8Array(0);
let currentRegression: string | undefined;

function setPhase(phase: Phase): void {
  Atomics.store(control, SLOT.phase, phase);
}

/** Index and bytes of the case about to run, where the guard can read them. */
function announce(index: number, bytes: Uint8Array): void {
  currentIndex = index;
  currentBytes = bytes;
  const length = Math.min(bytes.length, stash.length);
  stash.set(bytes.subarray(0, length));
  Atomics.store(control, SLOT.length, length);
  Atomics.store(control, SLOT.truncated, bytes.length > stash.length ? 1 : 0);
  Atomics.store(control, SLOT.index, index);
  Atomics.store(control, SLOT.running, 1);
}

function recorded(bytes: Uint8Array): { input: string; inputBytes: number; truncated: boolean } {
  const cut = bytes.subarray(0, MAX_RECORDED_INPUT);
  return { input: Buffer.from(cut.buffer, cut.byteOffset, cut.byteLength).toString('base64'), inputBytes: bytes.length, truncated: bytes.length > cut.length };
}

function finding(kind: FindingMessage['kind'], detail: string, ms: number): void {
  post({ type: 'finding', kind, detail, ms, index: currentIndex, ...recorded(currentBytes), ...(currentRegression ? { regression: currentRegression } : {}) });
}

// An exception or rejection nobody handled belongs to the case running (or the one just before).
process.on('uncaughtException', (error) => finding('throw', `uncaught exception: ${describeError(error)}`, 0));
process.on('unhandledRejection', (reason) => finding('throw', `unhandled rejection: ${describeError(reason)}`, 0));

async function runOne<I>(rig: Rig<I>, input: I): Promise<{ verdict: Verdict; ms: number }> {
  const started = performance.now();
  let verdict: Verdict;
  try {
    verdict = await rig.run(input);
  } catch (error) {
    // A run function catches what the entry point throws; this is the rig's own failure, reported the same way.
    verdict = { kind: 'throw', detail: `rig: ${describeError(error)}` };
  }
  const ms = performance.now() - started;
  Atomics.store(control, SLOT.running, 0);
  return { verdict, ms };
}

function memoryNow(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return { heap: getHeapStatistics().used_heap_size / 2 ** 20, rss: process.memoryUsage.rss() / 2 ** 20 };
}

async function main(): Promise<void> {
  setPhase(PHASE.setup);
  const setupStarted = performance.now();
  const surface = await loadSurface(params.surface);
  const rig = await surface.setup();
  const setupMs = performance.now() - setupStarted;

  if (params.replay !== undefined) {
    const bytes = new Uint8Array(Buffer.from(params.replay, 'base64'));
    const input = rig.decode(bytes);
    setPhase(PHASE.fuzz);
    announce(0, bytes);
    const { verdict, ms } = await runOne(rig, input);
    post({ type: 'regression', name: 'replay', verdict: verdict.kind, detail: verdict.kind === 'ok' ? (verdict.label ?? null) : verdict.detail, ms, input: params.replay });
    await closeRig(rig);
    return;
  }

  setPhase(PHASE.seeds);
  const seedFailures: string[] = [];
  let seedsOk = 0;
  for (const seed of rig.seeds) {
    const { verdict } = await runOne(rig, seed);
    if (verdict.kind === 'ok') seedsOk++;
    else seedFailures.push(verdict.detail);
  }
  post({
    type: 'ready',
    setupMs,
    seeds: rig.seeds.length,
    seedsOk,
    seedFailures: seedFailures.slice(0, 5),
    regressions: rig.regressions.map(({ name, why }) => ({ name, why })),
  });

  setPhase(PHASE.regressions);
  let index = 0;
  const passing: unknown[] = rig.regressions.filter((r) => params.passedRegressions.includes(r.name)).map((r) => r.input);
  for (const regression of rig.regressions) {
    if (index >= params.startIndex) {
      currentRegression = regression.name;
      const bytes = rig.encode(regression.input);
      announce(index, bytes);
      const { verdict, ms: firstMs } = await runOne(rig, regression.input);
      const bound = rig.boundMs?.(regression.input) ?? DEFAULT_BOUND_MS;
      let ms = firstMs;
      for (let again = 0; again < 2 && ms > bound && verdict.kind === 'ok' && rig.retime !== false; again++) {
        announce(index, bytes);
        ms = Math.min(ms, (await runOne(rig, regression.input)).ms);
      }
      if (verdict.kind !== 'ok') finding(verdict.kind, verdict.detail, ms);
      // A regression within its shape but over its time bound is reported as slow (the suite asserts no times; this report does).
      const slow = verdict.kind === 'ok' && ms > bound;
      if (verdict.kind === 'ok' && !slow) passing.push(regression.input);
      post({
        type: 'regression',
        name: regression.name,
        verdict: slow ? 'slow' : verdict.kind,
        detail: verdict.kind !== 'ok' ? verdict.detail : slow ? `${Math.round(ms)} ms, over its bound of ${Math.round(bound)} ms` : null,
        ms,
        input: recorded(bytes).input,
      });
      currentRegression = undefined;
    }
    index++;
  }

  setPhase(PHASE.fuzz);
  const deadline = params.deadline ?? Date.now() + params.seconds * 1000;
  const before = memoryNow();
  let peakRss = before.rss;
  const first = rig.regressions.length;
  const batchSize = rig.batchSize ?? DEFAULT_BATCH;
  const arbitrary = rig.arbitrary(passing as never[]) as fc.Arbitrary<unknown>;
  const stats: WorkerSnapshot = {
    type: 'snapshot',
    final: false,
    cases: 0,
    nextIndex: Math.max(params.startIndex, first),
    stoppedBy: null,
    overBound: 0,
    over50ms: 0,
    maxMs: 0,
    totalMs: 0,
    slowest: [],
    outcomes: {},
    memory: null,
  };
  let lastSnapshot = performance.now();
  let k = stats.nextIndex - first;
  let batch: unknown[] = [];
  let batchNumber = -1;
  for (;;) {
    if (stats.cases >= params.cases) {
      stats.stoppedBy = 'cases';
      break;
    }
    if (Date.now() >= deadline) {
      stats.stoppedBy = 'time';
      break;
    }
    const wanted = Math.floor(k / batchSize);
    if (wanted !== batchNumber) {
      batchNumber = wanted;
      // One seed per batch, so a restart after a lost case resumes its batch without generating the ones before.
      batch = fc.sample(arbitrary, { seed: (params.seed + Math.imul(batchNumber, 0x9e3779b1)) | 0, numRuns: batchSize });
    }
    const input = batch[k % batchSize] as never;
    const bytes = rig.encode(input);
    announce(first + k, bytes);
    const { verdict, ms: firstMs } = await runOne(rig, input);
    const bound = rig.boundMs?.(input) ?? DEFAULT_BOUND_MS;
    let ms = firstMs;
    for (let again = 0; again < 2 && ms > bound && rig.retime !== false; again++) {
      announce(first + k, bytes);
      ms = Math.min(ms, (await runOne(rig, input)).ms);
    }
    stats.cases++;
    stats.totalMs += ms;
    if (ms > stats.maxMs) stats.maxMs = ms;
    if (ms > DEFAULT_BOUND_MS) stats.over50ms++;
    if (ms > bound) {
      stats.overBound++;
      keepSlow(stats.slowest, { ms, firstMs, boundMs: bound, ...recorded(bytes) });
    }
    if (verdict.kind !== 'ok') finding(verdict.kind, verdict.detail, ms);
    const label = verdict.kind === 'ok' ? (verdict.label ?? 'ok') : verdict.kind;
    stats.outcomes[label] = (stats.outcomes[label] ?? 0) + 1;
    k++;
    stats.nextIndex = first + k;
    const now = performance.now();
    if (now - lastSnapshot > SNAPSHOT_EVERY_MS) {
      lastSnapshot = now;
      peakRss = Math.max(peakRss, process.memoryUsage.rss() / 2 ** 20);
      post({ ...stats });
      // Let timers, sockets and the guard's messages through between cases of a synchronous surface.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  setPhase(PHASE.closing);
  const after = memoryNow();
  const memory: MemoryFigures = {
    gc: typeof (globalThis as { gc?: unknown }).gc === 'function',
    heapUsedBeforeMB: round(before.heap),
    heapUsedAfterMB: round(after.heap),
    rssBeforeMB: round(before.rss),
    rssAfterMB: round(after.rss),
    peakRssMB: round(Math.max(peakRss, after.rss)),
  };
  post({ ...stats, final: true, memory });
  await closeRig(rig);
}

async function closeRig(rig: Rig<unknown>): Promise<void> {
  setPhase(PHASE.closing);
  await rig.close();
  setPhase(PHASE.done);
}

function keepSlow(list: SlowCase[], slow: SlowCase): void {
  if (list.length >= SLOWEST_KEPT && list[list.length - 1]!.ms >= slow.ms) return;
  list.push(slow);
  list.sort((a, b) => b.ms - a.ms);
  list.length = Math.min(list.length, SLOWEST_KEPT);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    post({ type: 'fatal', detail: describeError(error) + (error instanceof Error && error.stack ? `\n${error.stack.split('\n').slice(1, 6).join('\n')}` : '') });
    process.exit(1);
  },
);
