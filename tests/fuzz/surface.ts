/**
 * What every fuzzed surface provides (docs/fuzzing.md): a rig set up once per
 * run, valid seeds built with the project's own encoders, the regression
 * inputs that once broke it, a fast-check arbitrary that mutates the seeds at
 * every layer, and a run function that feeds one input through the real
 * entry point and judges the result against its documented shape.
 *
 * Inputs travel as bytes (`encode`/`decode`): the guard keeps the running
 * case's bytes where it can read them even when the case hangs or exhausts
 * memory, and every finding is reported in base64 of those bytes so it can be
 * replayed with `--replay`.
 */
import type { Arbitrary } from 'fast-check';

/** How one case came out. */
export type Verdict =
  /** The entry point answered within its documented shape; `label` names the outcome (a failure code, a status) for the report's tally. */
  | { kind: 'ok'; label?: string }
  /** An exception escaped the entry point, or one it caught was a bug (logged as an internal error). */
  | { kind: 'throw'; detail: string }
  /** The entry point answered, but not as documented. */
  | { kind: 'off-shape'; detail: string };

export const OK: Verdict = { kind: 'ok' };

export function ok(label: string): Verdict {
  return { kind: 'ok', label };
}

export function thrown(detail: string): Verdict {
  return { kind: 'throw', detail };
}

export function offShape(detail: string): Verdict {
  return { kind: 'off-shape', detail };
}

/** A named input that once broke the surface: replayed in every run, short or long. */
export interface Regression<I> {
  name: string;
  /** One line: what the input is and what it must now get. */
  why: string;
  input: I;
}

export interface Rig<I> {
  /** Valid inputs; each must give OK (the run reports how many did). */
  seeds: I[];
  regressions: Regression<I>[];
  /**
   * Mutations of the seeds at every layer, and hostile inputs built from scratch.
   * `passing` are the regression inputs that passed in this run: they join the
   * seeds. One that still fails is left out, since its mutations would only
   * find the same failure again (it is reported already).
   */
  arbitrary(passing: I[]): Arbitrary<I>;
  run(input: I): Verdict | Promise<Verdict>;
  /** Milliseconds this input may take before it counts as slow; default 50. Longer only where a bound is stated (docs/fuzzing.md). */
  boundMs?(input: I): number;
  encode(input: I): Uint8Array;
  decode(bytes: Uint8Array): I;
  /**
   * Time an input over its bound twice more and keep the fastest: for a
   * stateless entry point that tells a slow input from a collection or a
   * neighbour's load. Off (false) where a second run takes another path
   * (a replayed message, a session already open).
   */
  retime?: boolean;
  /** Inputs generated at a time; small where a generated input goes stale (signed messages carry the time). */
  batchSize?: number;
  close(): Promise<void>;
}

export interface Surface<I = unknown> {
  name: string;
  /** What goes in and through which entry point, one line for the report and docs/fuzzing.md. */
  covers: string;
  /** The documented shape each result is checked against. */
  shape: string;
  setup(): Promise<Rig<I>>;
}

export function utf8(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}

export function fromUtf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** An error's name and message, short: for finding details. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 500);
  return `non-Error thrown: ${String(error)}`.slice(0, 500);
}

/** Null when `value` is plain JSON (what the gate logs, shows and sends), else where it is not and why. */
export function notPlainJson(value: unknown, path = 'result', depth = 0): string | null {
  if (depth > 1000) {
    // Deeper than this checker recurses: JSON.stringify must still write it.
    try {
      JSON.stringify(value);
      return null;
    } catch (error) {
      return `${path} cannot be written as JSON: ${describeError(error)}`;
    }
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : `${path} is ${value}, which JSON cannot carry`;
  if (typeof value === 'bigint') return `${path} is a BigInt (${value}), which JSON.stringify cannot write`;
  if (value === undefined) return null; // left out by JSON.stringify, as an optional field is
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = notPlainJson(value[i], `${path}[${i}]`, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) {
      const problem = notPlainJson(v, `${path}.${k}`, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  const type = (value as object).constructor?.name ?? typeof value;
  return `${path} is ${/^[AEIOU]/.test(type) ? 'an' : 'a'} ${type}, not plain JSON`;
}
