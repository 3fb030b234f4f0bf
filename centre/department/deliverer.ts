/**
 * The outbox to the epidemic-control department: every pending delivery in
 * the store (alerts and sealed registrations, stored by the intake before
 * the broker had its PUBACK) is POSTed, signed, until the department answers
 * 2xx. A failed attempt (no answer, a timeout, any other status) is recorded
 * in the store with the time of the next one (exponential back-off with
 * jitter), so the state lives in the store and a restarted centre goes on
 * where the last one stopped. At least once: an attempt in flight when the
 * centre died is made again, and the department dedupes by X-Delivery-Id.
 *
 * The overdue alarm lives here too, since it watches the same outbox: a
 * delivery still pending alarmAfterSeconds after it reached the centre is
 * marked alarmed once, logged as an error and emitted ('alarm').
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { CentreDepartmentConfig } from '../../protocol/config/centre-schema.js';
import type { Delivery } from '../store/store.js';
import { retryDelayMs } from './backoff.js';
import type { DepartmentStore } from './department-store.js';
import type { DepartmentSettings } from './settings.js';
import { departmentHeaders } from './signature.js';
import { Webhook } from './webhook.js';

export interface DeliveredEvent {
  delivery: Delivery;
  /** Attempts it took, this one included. */
  attempts: number;
  deliveredAt: number;
}

export interface AlarmEvent {
  delivery: Delivery;
  /** How long it has waited since it reached the centre. */
  ageMs: number;
}

export interface DelivererEvents {
  delivered: [DeliveredEvent];
  'attempt-failed': [{ delivery: Delivery; error: string; nextAttemptAt: number }];
  alarm: [AlarmEvent];
}

/** What the API's status and the metrics show of the outbox. */
export interface DepartmentStatus {
  configured: boolean;
  /** Pending deliveries (at most STATUS_SCAN counted: `pendingCapped` then says there are more). */
  pending: number;
  pendingCapped: boolean;
  /** Age of the oldest pending delivery (ms); null: none pending. */
  oldestPendingAgeMs: number | null;
  /** Pending deliveries an alarm was raised for. */
  alarmed: number;
  inFlight: number;
  /** Since this process started. */
  delivered: number;
  failedAttempts: number;
  alarmsRaised: number;
  lastError: string | null;
}

export interface DelivererOptions {
  store: DepartmentStore;
  config: CentreDepartmentConfig;
  /** null: no department configured; deliveries wait in the store, the alarm still watches them. */
  settings: DepartmentSettings | null;
  logger: Logger;
  /** Attempts in flight at once; default 4. */
  concurrency?: number;
  /** How often the store is asked for due deliveries without a wake(); default min(1 s, firstRetryMs). */
  pollMs?: number;
  random?: () => number;
  now?: () => number;
}

/** Pending rows read for the status: beyond this the count says "at least". */
export const STATUS_SCAN = 10_000;
const ALARM_BATCH = 100;

export class Deliverer extends EventEmitter<DelivererEvents> {
  private readonly log: Logger;
  private readonly webhook: Webhook | null;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly inFlight = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private ticking: Promise<void> | null = null;
  private again = false;
  private storeErrors = 0;
  private readonly counts = { delivered: 0, failedAttempts: 0, alarmsRaised: 0, lastError: null as string | null };

  constructor(private readonly options: DelivererOptions) {
    super();
    this.log = options.logger.child({ component: 'department' });
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.pollMs = options.pollMs ?? Math.min(1000, options.config.firstRetryMs);
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.webhook = options.settings
      ? new Webhook({ url: options.settings.url, timeoutMs: options.config.timeoutMs, maxSockets: this.concurrency, ...(options.settings.ca ? { ca: options.settings.ca } : {}) })
      : null;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (!this.webhook) this.log.warn('no department.url: alerts and registrations are kept and wait for one');
    else this.log.info({ url: this.options.settings!.url.origin, concurrency: this.concurrency }, 'delivering to the department');
    this.wake();
  }

  /** Stops taking deliveries; resolves once the attempts in flight have ended (each is bounded by timeoutMs). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    await Promise.all(this.inFlight.values());
    this.webhook?.close();
  }

  /** Something may be due now (the intake stored a delivery): look at once rather than at the next poll. */
  wake(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ticking = this.tick().finally(() => {
      this.ticking = null;
      if (!this.running) return;
      if (this.again) {
        this.again = false;
        this.wake();
      } else {
        this.timer = setTimeout(() => this.wake(), this.pollMs);
      }
    });
  }

  async status(): Promise<DepartmentStatus> {
    const now = this.now();
    const pending = await this.options.store.deliveries({ state: 'pending', limit: STATUS_SCAN });
    const oldest = pending.reduce((min, d) => Math.min(min, d.receivedAt), Infinity);
    return {
      configured: this.webhook !== null,
      pending: pending.length,
      pendingCapped: pending.length >= STATUS_SCAN,
      oldestPendingAgeMs: pending.length === 0 ? null : Math.max(0, now - oldest),
      alarmed: pending.filter((d) => d.alarmedAt !== null).length,
      inFlight: this.inFlight.size,
      ...this.counts,
    };
  }

  private async tick(): Promise<void> {
    try {
      await this.raiseAlarms();
      if (this.webhook) await this.startDue();
      this.storeErrors = 0;
    } catch (error) {
      // The store away: said once per run of failures (and every hundredth), tried again at the next poll.
      this.storeErrors++;
      if (this.storeErrors === 1 || this.storeErrors % 100 === 0) this.log.error({ err: (error as Error).message, failures: this.storeErrors }, 'department outbox: the store failed; trying again');
    }
  }

  private async startDue(): Promise<void> {
    const free = this.concurrency - this.inFlight.size;
    if (free <= 0) return;
    // Those in flight are still pending in the store: ask for enough to find `free` others.
    const due = await this.options.store.dueDeliveries(this.now(), free + this.inFlight.size);
    for (const delivery of due) {
      if (!this.running || this.inFlight.size >= this.concurrency) break;
      if (this.inFlight.has(delivery.id)) continue;
      const attempt = this.attempt(delivery).finally(() => {
        this.inFlight.delete(delivery.id);
        // A slot is free: the next due one need not wait for the poll.
        this.wake();
      });
      this.inFlight.set(delivery.id, attempt);
    }
  }

  private async attempt(delivery: Delivery): Promise<void> {
    const body = Buffer.from(delivery.body, 'utf8');
    const outcome = await this.webhook!.post(body, departmentHeaders(this.options.settings!.secret, delivery, body, this.now()));
    const at = this.now();
    const attempts = delivery.attempts + 1;
    try {
      if (outcome.ok) {
        await this.options.store.markDelivered(delivery.id, at);
        this.counts.delivered++;
        this.log.info({ id: delivery.id, kind: delivery.kind, site: delivery.site, lane: delivery.lane, attempts, status: outcome.status, waitedMs: at - delivery.receivedAt }, 'delivered to the department');
        this.emit('delivered', { delivery, attempts, deliveredAt: at });
        return;
      }
      const nextAttemptAt = at + retryDelayMs(attempts, this.options.config.firstRetryMs, this.options.config.maxRetryMs, this.random);
      await this.options.store.markAttemptFailed(delivery.id, outcome.error, nextAttemptAt);
      this.counts.failedAttempts++;
      this.counts.lastError = outcome.error;
      this.log.warn({ id: delivery.id, kind: delivery.kind, attempts, err: outcome.error, retryInMs: nextAttemptAt - at }, 'department delivery failed; trying again');
      this.emit('attempt-failed', { delivery, error: outcome.error, nextAttemptAt });
    } catch (error) {
      // Not recorded: the delivery stays pending as it was and is tried again (the department dedupes a second copy).
      this.log.error({ id: delivery.id, err: (error as Error).message, delivered: outcome.ok }, 'department delivery: the store did not take the outcome');
    }
  }

  private async raiseAlarms(): Promise<void> {
    const now = this.now();
    const overdue = await this.options.store.overdueDeliveries(now - this.options.config.alarmAfterSeconds * 1000, ALARM_BATCH);
    for (const delivery of overdue) {
      await this.options.store.markAlarmed(delivery.id, now);
      this.counts.alarmsRaised++;
      const ageMs = now - delivery.receivedAt;
      this.log.error(
        { id: delivery.id, kind: delivery.kind, site: delivery.site, lane: delivery.lane, ageSeconds: Math.round(ageMs / 1000), attempts: delivery.attempts, lastError: delivery.lastError, alarm: 'department-overdue' },
        `department ${delivery.kind} not delivered within ${this.options.config.alarmAfterSeconds} s: operator alarm`,
      );
      this.emit('alarm', { delivery, ageMs });
    }
  }
}
