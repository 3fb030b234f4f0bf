/**
 * The lane's questions to the centre, each with a guard time: a look-up that
 * never settles must not hold the lane, and stopping the lane settles every
 * one still in flight (as no answer) and clears its guard timer.
 */
import type { Logger } from 'pino';
import type { LookupAnswer } from '../policy/policy.js';
import type { LaneDependencies, Timers } from './lane-types.js';

/** The link's own deadline is at most 10 s. */
const LOOKUP_GUARD_MS = 15_000;

export type LookupKind = 'printed-code' | 'id-hash';

export class GuardedLookup {
  private readonly inFlight = new Set<() => void>();

  constructor(
    private readonly lookup: NonNullable<LaneDependencies['lookup']>,
    private readonly timers: Timers,
    private readonly log: Logger,
  ) {}

  /** Never rejects: an error, or no answer by the guard time, is no answer. */
  ask(kind: LookupKind, key: string): Promise<LookupAnswer | null> {
    return new Promise((resolve) => {
      const settle = (answer: LookupAnswer | null): void => {
        this.timers.clearTimeout(guard);
        this.inFlight.delete(stop);
        resolve(answer);
      };
      const stop = (): void => settle(null);
      this.inFlight.add(stop);
      const guard = this.timers.setTimeout(() => {
        this.log.warn('online look-up did not settle: decided without an answer');
        settle(null);
      }, LOOKUP_GUARD_MS);
      const failed = (error: unknown): void => {
        this.log.warn({ err: error }, 'online look-up failed: decided without an answer');
        settle(null);
      };
      try {
        this.lookup(kind, key).then(settle, failed);
      } catch (error) {
        failed(error);
      }
    });
  }

  /** Every look-up in flight settles now, as no answer. */
  settleAll(): void {
    for (const settle of [...this.inFlight]) settle();
  }
}
