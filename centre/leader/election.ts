/**
 * Which centre process leads: only the leader publishes to the gates and
 * delivers to the department; the others wait as standbys. Two backends
 * (postgres-election.ts, sqlite-election.ts), one contract:
 *
 * - start() resolves once the first attempt is settled: the process leads or
 *   is a standby ('leading' or 'standby' has been emitted).
 * - 'lost' (with a reason) is emitted the moment the leader can no longer
 *   prove it holds the lock, and it acts as a leader no more; it goes back to
 *   being a standby after a back-off.
 * - stop() stops leading at once, then releases the lock.
 *
 * Fencing. Events arrive late by nature: a leader paused by a long GC or a
 * SIGSTOP past the point its lock was released wakes up with timers due
 * before it has read the socket that says its connection is gone. So a
 * caller does not trust an event it saw earlier: it reads `leading` right
 * before each act (each publish, each delivery). `leading` is true only while
 * a lease runs: leaseMs from the moment the last successful check was sent,
 * measured on the monotonic clock, which runs on while the process is
 * stopped. A process that won the lock waits one lease before it leads, so
 * the previous holder's lease has run out by then, however it lost the lock
 * (killed, paused, cut off, terminated by an administrator). What is not
 * fenced: an act already under way when the lease ends (keep acts short;
 * the gates drop a change message published twice by its digest).
 */
import type { EventEmitter } from 'node:events';

/** Why a leader stepped down. */
export const LOST_REASONS = [
  'check-failed', // the check query failed
  'check-timeout', // the check query did not answer within checkTimeoutMs
  'not-held', // the check answered that this session holds the lock no longer
  'connection-error', // the connection reported an error
  'connection-ended', // the connection ended (the server terminated the session, a restart)
  'lease-expired', // no successful check for leaseMs (the process was paused, its event loop blocked)
] as const;
export type LostReason = (typeof LOST_REASONS)[number];

export interface LostEvent {
  reason: LostReason;
  /** What went wrong, for the log. */
  message: string;
}

export interface LeaderEvents {
  leading: [];
  standby: [];
  lost: [LostEvent];
}

export interface LeaderElection extends EventEmitter<LeaderEvents> {
  /** True only while this process holds the lock and its lease runs: read it right before each act. */
  readonly leading: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The timings of an election, all derived from checkMs (see leaderTimings). */
export interface LeaderTimings {
  /** How often the leader checks its lock and a standby tries to take it. */
  checkMs: number;
  /** A check (or an attempt) that has not answered by then has failed. */
  checkTimeoutMs: number;
  /** How long a successful check lets the process lead, from the moment it was sent. */
  leaseMs: number;
  /** The server ends a session idle that long, which frees a silent leader's lock. */
  idleSessionMs: number;
  /** How long a process that lost the lock waits before trying again, so that a standby that is ready takes over first. */
  rejoinMs: number;
}

/**
 * The timings for one checkMs (default 1000 ms). A check every checkMs that
 * may take up to checkMs leaves a healthy leader one checkMs of lease to
 * spare for a slow event loop. The server ends a session idle for
 * idleSessionMs (idle_session_timeout), which frees the lock of a leader that
 * is paused or cut off (TCP keep-alive cannot: the kernel of a stopped
 * process still answers it). Takeover after the leader's death: at most
 * idleSessionMs (the server notices) + checkMs (the next attempt) +
 * checkTimeoutMs (its answer) + leaseMs (the wait before leading) = 7 ×
 * checkMs; about checkMs + leaseMs when only the leader's process dies, as
 * its kernel closes the connection at once. With the default: under 10 s.
 */
export function leaderTimings(checkMs: number): LeaderTimings {
  return { checkMs, checkTimeoutMs: checkMs, leaseMs: 3 * checkMs, idleSessionMs: 2 * checkMs, rejoinMs: 3 * checkMs };
}

/** The monotonic clock (ms): it runs on while the process is stopped and never goes back when the wall clock is set. */
export const monotonicMs = (): number => performance.now();
