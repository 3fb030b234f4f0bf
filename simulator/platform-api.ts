/**
 * The reference platform's side of the centre's HTTP API, as a health-code
 * platform calls it: each colour change is a batch POSTed to the centre,
 * answered only after the centre's store has committed it (the centre then
 * publishes it to the gates); the outbox of deliveries to the department is
 * read back from the same API.
 */
import { randomUUID } from 'node:crypto';
import type { Colour } from '../protocol/domain.js';
import type { BatchStored, DeliveryStateBody, SiteCounters } from '../protocol/payloads/centre-api.js';

/** One change as the platform knows it; idHash: the keyed hash of a resident's ID number (kept by the centre, never sent to gates). */
export interface PlatformChange {
  sub: string;
  colour: Colour;
  effectiveAt?: number;
  idHash?: string;
}

const TIMEOUT_MS = 10_000;

export class PlatformApi {
  constructor(
    /** The centre's API, e.g. http://127.0.0.1:8093 */
    readonly url: string,
    private readonly token: string,
  ) {}

  /** Store one batch of changes at the centre; resolves with the seq of the change message it makes. */
  async pushColours(site: string, changes: PlatformChange[]): Promise<{ seq: number; replayed: boolean }> {
    const body = {
      batchId: `demo-${randomUUID()}`,
      changes: changes.map((c) => ({ subject: c.sub, colour: c.colour, effectiveAt: c.effectiveAt ?? Date.now(), ...(c.idHash ? { idHash: c.idHash } : {}) })),
    };
    const stored = await this.call<BatchStored>('POST', `/v1/sites/${encodeURIComponent(site)}/changes`, body);
    return { seq: stored.seq, replayed: stored.replayed };
  }

  /** The site's deliveries to the department, newest first. */
  async deliveries(site: string, kind?: 'alert' | 'registration'): Promise<DeliveryStateBody[]> {
    const query = `?limit=1000${kind ? `&kind=${kind}` : ''}`;
    return (await this.call<{ deliveries: DeliveryStateBody[] }>('GET', `/v1/sites/${encodeURIComponent(site)}/deliveries${query}`)).deliveries;
  }

  /** The site's counters (seq committed and published, snapshot version); null: the centre has none for it yet. */
  async site(site: string): Promise<SiteCounters | null> {
    return (await this.call<{ sites: SiteCounters[] }>('GET', '/v1/sites')).sites.find((s) => s.site === site) ?? null;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(new URL(path, this.url), {
      method,
      headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`the centre answered ${method} ${path} with ${response.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }
}
