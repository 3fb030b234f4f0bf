/**
 * Retention as a component: outbox rows past outbox.maxAgeDays and sealed
 * registrations past privacy.retentionDays go at the start and every hour.
 * A disk error is logged, never thrown: the lane goes on.
 */
import type { Logger } from 'pino';
import type { Outbox } from '../link/outbox.js';
import type { RegistrationStore } from '../privacy/retention.js';
import type { Component } from './component.js';

/** How often rows past their age are dropped. */
const PRUNE_EVERY_MS = 3_600_000;

export interface RetentionOptions {
  outbox: Outbox | null;
  registrations: RegistrationStore | null;
  /** The topic of sealed registrations in the outbox; null without a link (nothing is queued then). */
  registrationTopic: string | null;
  retentionDays: number;
  logger: Logger;
}

export class RetentionComponent implements Component {
  readonly name = 'retention';
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: RetentionOptions) {}

  start(): void {
    const { outbox, registrations, logger } = this.options;
    this.#purgeRegistrations();
    if (!outbox && !registrations) return;
    outbox?.prune();
    this.#timer = setInterval(() => {
      try {
        outbox?.prune();
      } catch (error) {
        // A busy or failing disk: try again next time; the lane goes on.
        logger.error({ err: error }, 'outbox prune failed');
      }
      this.#purgeRegistrations();
    }, PRUNE_EVERY_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #purgeRegistrations(): void {
    const { outbox, registrations, registrationTopic, retentionDays, logger } = this.options;
    if (!registrations) return;
    try {
      const purged = registrations.purge(Date.now());
      // A long outage must not keep a sealed registration on the gate past its retention either.
      const unsent = outbox && registrationTopic ? outbox.pruneTopic(registrationTopic, retentionDays * 86_400_000) : 0;
      if (purged + unsent > 0) logger.info({ purged, unsent, retentionDays }, 'sealed registrations past retention purged');
    } catch (error) {
      logger.error({ err: error }, 'registration purge failed');
    }
  }
}
