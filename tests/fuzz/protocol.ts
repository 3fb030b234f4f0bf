/**
 * What the guard (guard.ts, on the main thread) and a surface's worker
 * (worker.ts) say to each other. The running case's index and bytes sit in
 * shared memory, written before each case starts, so the guard still knows
 * which input it was after it had to kill a worker that hung or ran out of
 * memory; everything else is a message.
 */

/** Slots of the shared Int32Array. */
export const SLOT = {
  /** Global index of the case running: regressions first (0..R-1), then the fuzz cases. */
  index: 0,
  /** 1 while a case runs. */
  running: 1,
  /** Bytes of the running case's input written to the stash. */
  length: 2,
  /** 1 when the input was longer than the stash and only its start is there. */
  truncated: 3,
  /** Phase, one of PHASE. */
  phase: 4,
} as const;
export const SLOTS = 8;

export const PHASE = { setup: 0, seeds: 1, regressions: 2, fuzz: 3, closing: 4, done: 5 } as const;
export type Phase = (typeof PHASE)[keyof typeof PHASE];

export interface WorkerParams {
  surface: string;
  seed: number;
  /** Fuzz cases to run in all (the guard lowers it by those already done after a restart). */
  cases: number;
  /** Epoch ms after which no new case starts; null: `seconds` after this worker starts fuzzing. */
  deadline: number | null;
  seconds: number;
  /** First global index to run: after a restart, the one after the case that was lost. */
  startIndex: number;
  /** Regressions that passed in an earlier worker of this run (a restarted worker does not run them again). */
  passedRegressions: string[];
  /** Replay only this input (base64 of its bytes). */
  replay?: string;
  control: SharedArrayBuffer;
  stash: SharedArrayBuffer;
}

export interface FindingMessage {
  type: 'finding';
  kind: 'throw' | 'off-shape';
  detail: string;
  /** base64 of the input's bytes (cut at MAX_RECORDED_INPUT, then `truncated`). */
  input: string;
  inputBytes: number;
  truncated: boolean;
  ms: number;
  index: number;
  /** Set when the input was a named regression. */
  regression?: string;
}

export interface SlowCase {
  /** The fastest of its runs (see Rig.retime). */
  ms: number;
  /** Its first run. */
  firstMs: number;
  boundMs: number;
  input: string;
  inputBytes: number;
  truncated: boolean;
}

export interface WorkerSnapshot {
  type: 'snapshot';
  final: boolean;
  /** Fuzz cases finished by this worker. */
  cases: number;
  /** Next global index this worker would run. */
  nextIndex: number;
  stoppedBy: 'cases' | 'time' | null;
  overBound: number;
  over50ms: number;
  maxMs: number;
  totalMs: number;
  slowest: SlowCase[];
  /** How many fuzz cases ended in each outcome label (see Verdict). */
  outcomes: Record<string, number>;
  memory: MemoryFigures | null;
}

export interface MemoryFigures {
  /** True when gc() ran before each reading (node --expose-gc). */
  gc: boolean;
  heapUsedBeforeMB: number;
  heapUsedAfterMB: number;
  rssBeforeMB: number;
  rssAfterMB: number;
  peakRssMB: number;
}

export interface ReadyMessage {
  type: 'ready';
  setupMs: number;
  seeds: number;
  seedsOk: number;
  seedFailures: string[];
  regressions: Array<{ name: string; why: string }>;
}

export interface RegressionMessage {
  type: 'regression';
  name: string;
  verdict: 'ok' | 'slow' | 'throw' | 'off-shape';
  detail: string | null;
  ms: number;
  input: string;
}

export interface FatalMessage {
  type: 'fatal';
  detail: string;
}

export type WorkerMessage = FindingMessage | WorkerSnapshot | ReadyMessage | RegressionMessage | FatalMessage;

/** Bytes of an input kept in a finding; longer inputs are cut (and marked) so the report stays readable. */
export const MAX_RECORDED_INPUT = 1 << 20;
/** Shared stash for the running input: enough for the largest generated input (a 2 MB message and then some). */
export const STASH_BYTES = 8 << 20;
