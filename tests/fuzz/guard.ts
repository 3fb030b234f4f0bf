/**
 * Runs one surface in a worker thread with a heap cap and a per-case
 * wall-clock watchdog, so whatever the code under test does (loop, block,
 * eat the heap) the run stays bounded in time and memory: a case over the
 * watchdog, or one that exhausts the heap, is ended with its worker and
 * recorded as a hang with its input (read from shared memory), and a fresh
 * worker carries on from the next case. Used by run.ts (`npm run fuzz`) and
 * by the smoke test in the suite.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { MAX_RECORDED_INPUT, PHASE, SLOT, SLOTS, STASH_BYTES, type FindingMessage, type SlowCase, type WorkerMessage, type WorkerParams, type WorkerSnapshot } from './protocol.js';

export interface GuardOptions {
  surface: string;
  seed: number;
  /** Fuzz cases wanted (the regressions and seeds run in addition). */
  cases: number;
  /** Wall-clock cap on the fuzz cases, seconds. */
  seconds: number;
  /** A case running longer than this is a hang: its worker is ended. */
  hangMs?: number;
  /** Heap cap of the worker (old generation), MB. */
  heapMb?: number;
  /** Cap on setting the rig up and on closing it. */
  setupMs?: number;
  /** Replay one input (base64) instead of fuzzing. */
  replay?: string;
  /** Progress lines (stderr in `npm run fuzz`). */
  progress?: (line: string) => void;
}

export interface FindingGroup {
  kind: 'throw' | 'off-shape' | 'hang';
  detail: string;
  count: number;
  examples: Array<{ input: string; inputBytes: number; truncated: boolean; ms: number; regression?: string }>;
}

export interface RegressionOutcome {
  name: string;
  why: string;
  verdict: 'ok' | 'slow' | 'throw' | 'off-shape' | 'hang' | 'not-run';
  detail: string | null;
  ms: number | null;
  /** base64 of the input, for --replay. */
  input: string | null;
}

export interface SurfaceReport {
  surface: string;
  seed: number;
  setupMs: number | null;
  seeds: { total: number; ok: number; failures: string[] };
  cases: number;
  casesRequested: number;
  /** What ended the fuzz cases: the count, the time cap, or the guard giving up. */
  stoppedBy: 'cases' | 'time' | 'restarts' | 'fatal' | 'replay';
  /** True when the time cap ended the run before casesRequested. */
  timeCapped: boolean;
  fuzzSeconds: number;
  casesPerSecond: number;
  throws: number;
  offShape: number;
  hangs: number;
  slow: { defaultBoundMs: number; overBound: number; over50ms: number; maxMs: number; meanMs: number; slowest: SlowCase[] };
  memory: WorkerSnapshot['memory'];
  /** Fuzz cases per outcome (a refusal's code, an HTTP status...): how deep the cases went. */
  outcomes: Record<string, number>;
  regressions: RegressionOutcome[];
  findings: FindingGroup[];
  workerRestarts: number;
  notes: string[];
}

const DEFAULTS = { hangMs: 5_000, heapMb: 512, setupMs: 180_000 };
const POLL_MS = 25;
const MAX_RESTARTS = 20;
const MAX_GROUPS = 40;
const EXAMPLES_PER_GROUP = 3;
const CLOSE_MS = 15_000;

/** Findings that differ only in numbers (lengths, positions, ids) are one group. */
function groupKey(kind: string, detail: string): string {
  // What follows " — " in a detail is an excerpt of the case, not part of what went wrong.
  const general = detail
    .split(' — ')[0]!
    .replace(/\bresult\S*/g, 'result.PATH')
    .replace(/\([^)]*\)/g, '(…)')
    .replace(/\b\d{17}[\dX]\b/g, 'ID')
    .replace(/[0-9a-f]{16,}/gi, 'HEX')
    .replace(/\d+(\.\d+)?/g, '#');
  return `${kind}|${general.slice(0, 200)}`;
}

export async function runGuarded(options: GuardOptions): Promise<SurfaceReport> {
  const hangMs = options.hangMs ?? DEFAULTS.hangMs;
  const heapMb = options.heapMb ?? DEFAULTS.heapMb;
  const setupMs = options.setupMs ?? DEFAULTS.setupMs;
  const progress = options.progress ?? (() => {});
  const report: SurfaceReport = {
    surface: options.surface,
    seed: options.seed,
    setupMs: null,
    seeds: { total: 0, ok: 0, failures: [] },
    cases: 0,
    casesRequested: options.cases,
    stoppedBy: 'cases',
    timeCapped: false,
    fuzzSeconds: 0,
    casesPerSecond: 0,
    throws: 0,
    offShape: 0,
    hangs: 0,
    slow: { defaultBoundMs: 50, overBound: 0, over50ms: 0, maxMs: 0, meanMs: 0, slowest: [] },
    memory: null,
    outcomes: {},
    regressions: [],
    findings: [],
    workerRestarts: 0,
    notes: [],
  };
  const groups = new Map<string, FindingGroup>();
  /** What went wrong while a regression ran (an uncaught exception, a hang), by its name: it decides the regression's verdict. */
  const regressionFindings = new Map<string, { kind: FindingGroup['kind']; detail: string }>();
  const record = (kind: FindingGroup['kind'], detail: string, example: FindingGroup['examples'][number]): void => {
    // The regressions are reported one by one; the counts and groups are the fuzz cases'.
    if (example.regression) {
      if (!regressionFindings.has(example.regression)) regressionFindings.set(example.regression, { kind, detail });
      return;
    }
    if (kind === 'throw') report.throws++;
    else if (kind === 'off-shape') report.offShape++;
    else report.hangs++;
    const key = groupKey(kind, detail);
    let group = groups.get(key);
    if (!group) {
      if (groups.size >= MAX_GROUPS) return;
      group = { kind, detail, count: 0, examples: [] };
      groups.set(key, group);
    }
    group.count++;
    if (group.examples.length < EXAMPLES_PER_GROUP) group.examples.push(example);
  };

  const known: { regressions: Array<{ name: string; why: string }> | null } = { regressions: null };
  const regressionResults = new Map<string, RegressionOutcome>();
  let totalMs = 0;
  let fuzzStartedAt: number | null = null;
  let deadline: number | null = null;
  let startIndex = 0;
  let casesDone = 0;
  let lastProgress = performance.now();

  for (let generation = 0; ; generation++) {
    const control = new SharedArrayBuffer(SLOTS * 4);
    const stash = new SharedArrayBuffer(STASH_BYTES);
    const slots = new Int32Array(control);
    const params: WorkerParams = {
      surface: options.surface,
      seed: options.seed,
      cases: Math.max(0, options.cases - casesDone),
      // The first worker starts the clock when it starts fuzzing; later ones keep that deadline.
      deadline,
      seconds: options.seconds,
      startIndex,
      passedRegressions: [...regressionResults.values()].filter((r) => r.verdict === 'ok').map((r) => r.name),
      control,
      stash,
      ...(options.replay !== undefined ? { replay: options.replay } : {}),
    };
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: params,
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 64 },
      // Whatever the code under test prints goes to stderr: stdout carries the report alone.
      stdout: true,
      stderr: true,
    });
    worker.stdout.pipe(process.stderr, { end: false });
    worker.stderr.pipe(process.stderr, { end: false });
    let last: WorkerSnapshot | null = null;
    let fatal: string | null = null;
    let killedFor: { detail: string; index: number; bytes: Buffer; truncated: boolean; ms: number; phase: number } | null = null;

    const stashed = (): { bytes: Buffer; truncated: boolean } => {
      const length = Atomics.load(slots, SLOT.length);
      return { bytes: Buffer.from(new Uint8Array(stash, 0, length)), truncated: Atomics.load(slots, SLOT.truncated) === 1 };
    };

    worker.on('message', (message: WorkerMessage) => {
      switch (message.type) {
        case 'ready':
          if (report.setupMs === null) {
            report.setupMs = Math.round(message.setupMs);
            report.seeds = { total: message.seeds, ok: message.seedsOk, failures: message.seedFailures };
          }
          known.regressions ??= message.regressions;
          break;
        case 'regression': {
          const why = known.regressions?.find((r) => r.name === message.name)?.why ?? '';
          regressionResults.set(message.name, { name: message.name, why, verdict: message.verdict, detail: message.detail, ms: Math.round(message.ms * 10) / 10, input: message.input });
          break;
        }
        case 'finding':
          onFinding(message);
          break;
        case 'snapshot':
          last = message;
          break;
        case 'fatal':
          fatal = message.detail;
          break;
      }
    });
    const onFinding = (message: FindingMessage): void => {
      record(message.kind, message.detail, {
        input: message.input,
        inputBytes: message.inputBytes,
        truncated: message.truncated,
        ms: Math.round(message.ms * 10) / 10,
        ...(message.regression ? { regression: message.regression } : {}),
      });
    };

    const ended = new Promise<{ code: number; error: Error | null }>((resolve) => {
      let error: Error | null = null;
      worker.on('error', (e) => (error = e));
      worker.on('exit', (code) => resolve({ code, error }));
    });

    let watchedIndex = -1;
    let watchedSince = performance.now();
    let phaseSince = performance.now();
    let watchedPhase = -1;
    const watchdog = setInterval(() => {
      const now = performance.now();
      const phase = Atomics.load(slots, SLOT.phase);
      if (phase !== watchedPhase) {
        watchedPhase = phase;
        phaseSince = now;
        if (phase === PHASE.fuzz && fuzzStartedAt === null) {
          fuzzStartedAt = Date.now();
          deadline = fuzzStartedAt + options.seconds * 1000;
        }
      }
      const running = Atomics.load(slots, SLOT.running) === 1;
      const index = Atomics.load(slots, SLOT.index);
      if (!running) {
        watchedIndex = -1;
      } else if (index !== watchedIndex) {
        watchedIndex = index;
        watchedSince = now;
      } else if (now - watchedSince > hangMs && killedFor === null) {
        killedFor = { detail: `no answer within ${hangMs} ms: the case was ended with its worker`, index, ...stashed(), ms: now - watchedSince, phase };
        void worker.terminate();
      }
      if (killedFor === null && phase === PHASE.setup && now - phaseSince > setupMs) {
        fatal = `the rig was not set up within ${setupMs} ms`;
        void worker.terminate();
      }
      if (killedFor === null && phase === PHASE.closing && now - phaseSince > CLOSE_MS) {
        report.notes.push(`the rig did not close within ${CLOSE_MS} ms: its worker was ended`);
        void worker.terminate();
      }
      if (now - lastProgress > 5_000) {
        lastProgress = now;
        const cases = casesDone + (last?.cases ?? 0);
        progress(`[${options.surface}] ${cases} cases, ${report.throws} throws, ${report.offShape} off-shape, ${report.hangs} hangs`);
      }
    }, POLL_MS);

    const { error } = await ended;
    clearInterval(watchdog);
    const snapshot = last as WorkerSnapshot | null;
    if (snapshot) {
      casesDone += snapshot.cases;
      totalMs += snapshot.totalMs;
      report.slow.overBound += snapshot.overBound;
      report.slow.over50ms += snapshot.over50ms;
      report.slow.maxMs = Math.max(report.slow.maxMs, snapshot.maxMs);
      report.slow.slowest = [...report.slow.slowest, ...snapshot.slowest].sort((a, b) => b.ms - a.ms).slice(0, 5);
      if (snapshot.memory) report.memory = snapshot.memory;
      for (const [label, n] of Object.entries(snapshot.outcomes)) report.outcomes[label] = (report.outcomes[label] ?? 0) + n;
    }
    const outOfMemory = (error as NodeJS.ErrnoException | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    if (outOfMemory && killedFor === null) {
      const index = Atomics.load(slots, SLOT.index);
      killedFor = {
        detail: `heap exhausted (worker capped at ${heapMb} MB): the case was ended with its worker`,
        index,
        ...stashed(),
        ms: performance.now() - watchedSince,
        phase: Atomics.load(slots, SLOT.phase),
      };
    }
    const lost = killedFor as typeof killedFor;
    if (lost) {
      const inSetup = lost.phase === PHASE.setup || lost.phase === PHASE.closing;
      if (inSetup) {
        fatal ??= `${lost.phase === PHASE.setup ? 'setting the rig up' : 'closing the rig'}: ${lost.detail}`;
      } else {
        const regression = lost.phase === PHASE.regressions ? known.regressions?.[lost.index] : undefined;
        const cut = lost.bytes.subarray(0, MAX_RECORDED_INPUT);
        record('hang', lost.detail, {
          input: cut.toString('base64'),
          inputBytes: lost.bytes.length,
          truncated: lost.truncated || cut.length < lost.bytes.length,
          ms: Math.round(lost.ms),
          ...(regression ? { regression: regression.name } : {}),
        });
        if (regression) regressionResults.set(regression.name, { name: regression.name, why: regression.why, verdict: 'hang', detail: lost.detail, ms: Math.round(lost.ms), input: cut.toString('base64') });
        if (lost.phase === PHASE.fuzz) casesDone++;
        if (options.replay !== undefined) regressionResults.set('replay', { name: 'replay', why: '', verdict: 'hang', detail: lost.detail, ms: Math.round(lost.ms), input: options.replay });
      }
    } else if (!fatal && error) {
      fatal = `worker failed: ${error.message}`;
    }
    const fatalNow = fatal as string | null;
    if (fatalNow) {
      report.notes.push(fatalNow);
      report.stoppedBy = 'fatal';
      break;
    }
    if (options.replay !== undefined) {
      report.stoppedBy = 'replay';
      break;
    }
    if (lost && lost.phase !== PHASE.setup && lost.phase !== PHASE.closing) {
      if (generation + 1 > MAX_RESTARTS) {
        report.notes.push(`gave up after ${MAX_RESTARTS} workers were ended`);
        report.stoppedBy = 'restarts';
        break;
      }
      // Seeds and regressions before the lost case are not run again; fuzzing resumes after it.
      startIndex = lost.phase === PHASE.seeds ? 0 : lost.index + 1;
      if (lost.phase === PHASE.seeds) report.notes.push('a seed hung: the seeds are run again by the next worker');
      report.workerRestarts++;
      continue;
    }
    report.stoppedBy = snapshot?.stoppedBy ?? 'cases';
    break;
  }

  report.cases = casesDone;
  report.timeCapped = report.stoppedBy === 'time' && casesDone < options.cases;
  report.fuzzSeconds = fuzzStartedAt === null ? 0 : Math.round((Date.now() - fuzzStartedAt) / 100) / 10;
  report.casesPerSecond = report.fuzzSeconds > 0 ? Math.round(casesDone / report.fuzzSeconds) : 0;
  report.slow.meanMs = casesDone > 0 ? Math.round((totalMs / casesDone) * 1000) / 1000 : 0;
  report.slow.maxMs = Math.round(report.slow.maxMs * 10) / 10;
  for (const slow of report.slow.slowest) {
    slow.ms = Math.round(slow.ms * 10) / 10;
    slow.firstMs = Math.round(slow.firstMs * 10) / 10;
  }
  report.regressions = (known.regressions ?? []).map(({ name, why }) => {
    const result = regressionResults.get(name) ?? { name, why, verdict: 'not-run' as const, detail: null, ms: null, input: null };
    const found = regressionFindings.get(name);
    return found && (result.verdict === 'ok' || result.verdict === 'slow') ? { ...result, verdict: found.kind, detail: found.detail } : result;
  });
  if (options.replay !== undefined) report.regressions = [...regressionResults.values()].filter((r) => r.name === 'replay');
  report.findings = [...groups.values()];
  return report;
}
