/**
 * Each red-code alert's delivery to the epidemic-control department, as the
 * centre keeps it: read from the centre's API and shown beside the alert.
 *
 * Bounded, so the centre away never holds up the page or the feed: the page
 * asks for this apart from its lists; each look-up has the config's
 * timeoutMs; a site's list (GET /v1/sites/:site/deliveries) and a single
 * delivery (GET /v1/deliveries/:id) are reused for cacheSeconds, failures
 * too, and asked once however many pages ask at the same time. So the
 * centre hears from the console at most once per site (and a few alerts)
 * every cacheSeconds.
 *
 * An alert missing from its site's newest deliveries (it came after that
 * list, or is older than the list's newest 1,000) is asked for by id, a few
 * per call, newest first; the rest wait for the next call.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import type { ConsoleCentreConfig } from '../protocol/config/console-config.js';
import { deliveriesListSchema, deliveryStateSchema, type DeliveryStateBody } from '../protocol/payloads/centre-api.js';
import type { AlertDeliveries, AlertDelivery, CentreReach } from '../protocol/payloads/console-deliveries.js';
import type { AlertRow } from '../record/store.js';
import { CentreClient, type CentreAnswer } from './centre-client.js';

/** The newest deliveries asked for per site: the most the centre's API gives at once. */
const SITE_LIST_LIMIT = 1000;
/** Alerts asked for one by one in one call, at most. */
const LOOKUPS_PER_CALL = 10;
/** Single look-ups remembered, at most (the oldest forgotten first). */
const MAX_REMEMBERED = 2000;

type Outcome<T> = { ok: true; value: T } | { ok: false; why: 'unreachable' | 'refused'; error: string };

interface Cached<T> {
  at: number;
  outcome: Promise<Outcome<T>>;
}

const ajv = new Ajv({ strict: false, allowUnionTypes: true });
const validList = ajv.compile(deliveriesListSchema) as ValidateFunction<{ deliveries: DeliveryStateBody[] }>;
const validOne = ajv.compile(deliveryStateSchema) as ValidateFunction<DeliveryStateBody>;

/** What the page shows for a delivery the centre has. */
function shown(alertId: string, d: DeliveryStateBody): AlertDelivery {
  const state = d.state === 'delivered' ? 'delivered' : d.alarmedAt !== null ? 'alarm' : 'pending';
  return { id: alertId, state, receivedAt: d.receivedAt, attempts: d.attempts, lastError: d.lastError, deliveredAt: d.deliveredAt, alarmedAt: d.alarmedAt };
}

function unknown(id: string, state: 'not-at-centre' | 'unknown' = 'unknown'): AlertDelivery {
  return { id, state, receivedAt: null, attempts: 0, lastError: null, deliveredAt: null, alarmedAt: null };
}

export class AlertDeliveryView {
  private readonly client: CentreClient | null;
  private readonly ttlMs: number;
  /** A site's newest deliveries by id; null: the centre does not serve the site (none of its alerts are there). */
  private readonly sites = new Map<string, Cached<Map<string, DeliveryStateBody> | null>>();
  private readonly single = new Map<string, Cached<DeliveryStateBody | null>>();
  private readonly log: Logger;
  private lastReach: CentreReach | null = null;

  constructor(
    config: ConsoleCentreConfig | undefined,
    logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.client = config ? new CentreClient(config) : null;
    this.ttlMs = (config?.cacheSeconds ?? 5) * 1000;
    this.log = logger.child({ component: 'console-deliveries' });
  }

  get configured(): boolean {
    return this.client !== null;
  }

  /** The delivery state of each of these alerts (the page's list). */
  async of(alerts: readonly AlertRow[]): Promise<AlertDeliveries> {
    if (!this.client) return { centre: 'not-configured', checkedAt: null, error: null, deliveries: [] };
    const bySite = new Map<string, Outcome<Map<string, DeliveryStateBody> | null>>();
    const siteIds = [...new Set(alerts.map((a) => a.site))];
    await Promise.all(siteIds.map(async (site) => bySite.set(site, await this.siteList(site))));

    let reach: CentreReach = 'reachable';
    let error: string | null = null;
    for (const outcome of bySite.values()) {
      if (outcome.ok) continue;
      // Unreachable says more than refused: a centre that answers can be put right by its config.
      if (reach !== 'unreachable') {
        reach = outcome.why;
        error = outcome.error;
      }
    }

    const result = new Map<string, AlertDelivery>();
    const missing: string[] = [];
    for (const alert of alerts) {
      const outcome = bySite.get(alert.site)!;
      if (!outcome.ok) result.set(alert.id, unknown(alert.id));
      else if (outcome.value === null) result.set(alert.id, unknown(alert.id, 'not-at-centre'));
      else if (outcome.value.has(alert.id)) result.set(alert.id, shown(alert.id, outcome.value.get(alert.id)!));
      else missing.push(alert.id);
    }
    // Alerts come newest first: the newest missing ones are asked for; the others are unknown this time.
    const asked = reach === 'unreachable' ? [] : missing.slice(0, LOOKUPS_PER_CALL);
    await Promise.all(asked.map(async (id) => {
      const outcome = await this.one(id);
      if (outcome.ok) result.set(id, outcome.value ? shown(id, outcome.value) : unknown(id, 'not-at-centre'));
      else {
        result.set(id, unknown(id));
        if (reach === 'reachable' || outcome.why === 'unreachable') {
          reach = outcome.why;
          error = outcome.error;
        }
      }
    }));
    for (const id of missing) if (!result.has(id)) result.set(id, unknown(id));

    this.note(reach, error);
    // The oldest answer used: what is shown is at least as recent as this.
    const times = siteIds.map((site) => this.sites.get(site)?.at ?? this.now());
    const checkedAt = reach === 'reachable' && times.length > 0 ? Math.min(...times) : null;
    return { centre: reach, checkedAt, error, deliveries: alerts.map((a) => result.get(a.id)!) };
  }

  /** A change of the centre's reach is logged once, not at every call. */
  private note(reach: CentreReach, error: string | null): void {
    if (reach === this.lastReach) return;
    const before = this.lastReach;
    this.lastReach = reach;
    if (reach === 'reachable') {
      if (before !== null) this.log.info({ centre: this.client!.url }, 'the centre answers again: delivery states shown');
    } else {
      this.log.warn({ centre: this.client!.url, reach, err: error }, 'delivery state unknown: the centre does not answer the console');
    }
  }

  private siteList(site: string): Promise<Outcome<Map<string, DeliveryStateBody> | null>> {
    return this.cached(this.sites, site, async () => {
      const answer = await this.client!.get(`/v1/sites/${encodeURIComponent(site)}/deliveries?kind=alert&limit=${SITE_LIST_LIMIT}`);
      if (answer.ok && answer.status === 404 && (answer.body as { error?: unknown } | null)?.error === 'unknown-site') return { ok: true, value: null };
      return read(answer, (body) => (validList(body) ? new Map(body.deliveries.map((d) => [d.id, d])) : null), "the centre's list of deliveries");
    });
  }

  private one(id: string): Promise<Outcome<DeliveryStateBody | null>> {
    return this.cached(this.single, id, async () => {
      const answer = await this.client!.get(`/v1/deliveries/${encodeURIComponent(id)}`);
      if (answer.ok && answer.status === 404) return { ok: true, value: null };
      return read(answer, (body) => (validOne(body) ? body : null), "the centre's delivery");
    });
  }

  /** The cached outcome if fresh, else one new look-up shared by every caller meanwhile. */
  private cached<T>(cache: Map<string, Cached<T>>, key: string, fetch: () => Promise<Outcome<T>>): Promise<Outcome<T>> {
    const hit = cache.get(key);
    const now = this.now();
    if (hit && now - hit.at < this.ttlMs) return hit.outcome;
    cache.delete(key);
    if (cache.size >= MAX_REMEMBERED) cache.delete(cache.keys().next().value!);
    const outcome = fetch();
    cache.set(key, { at: now, outcome });
    return outcome;
  }
}

function read<T>(answer: CentreAnswer, parse: (body: unknown) => T | null, what: string): Outcome<T> {
  if (!answer.ok) return answer;
  if (answer.status === 404) return { ok: false, why: 'unreachable', error: `${what}: the centre answered 404 (is centre.url its API?)` };
  const value = parse(answer.body);
  return value === null ? { ok: false, why: 'unreachable', error: `${what} does not fit its schema` } : { ok: true, value };
}
