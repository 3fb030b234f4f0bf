/**
 * Who may hold a server's event streams, so that one client cannot take
 * them all. Each stream is admitted under limits, broadest first (all the
 * console's pages, one user, one session; or one of the screen's pools).
 * Each limit has a cap and a rule for when it is reached: 'replace' closes
 * the oldest stream under that limit to make room (a page reconnecting
 * takes over from its own stale stream, so the same client can never lock
 * itself out), 'refuse' turns the new stream away (one client's flood
 * cannot close anybody else's stream).
 */

export interface SlotLimit {
  /** What the limit counts: 'all', 'user:alice', 'kiosk', ... */
  name: string;
  max: number;
  whenFull: 'replace' | 'refuse';
}

export type SlotPlan = { admit: true; replaces: number } | { admit: false; full: string };

interface Held {
  names: readonly string[];
  close: () => void;
}

export class StreamSlots {
  /** In the order admitted: the first found under a name is that name's oldest. */
  private readonly held = new Set<Held>();

  get size(): number {
    return this.held.size;
  }

  /** What admitting a stream under these limits would do, changing nothing (a HEAD asks this). */
  plan(limits: readonly SlotLimit[]): SlotPlan {
    const result = this.decide(limits);
    return result.admit ? { admit: true, replaces: result.replaces.length } : result;
  }

  /**
   * Admits a stream, closing the streams it replaces. Returns its release
   * (call once when the stream is over), or the limit that refused it.
   */
  admit(limits: readonly SlotLimit[], close: () => void): { release: () => void } | { full: string } {
    const result = this.decide(limits);
    if (!result.admit) return { full: result.full };
    const mine: Held = { names: limits.map((l) => l.name), close };
    for (const old of result.replaces) {
      this.held.delete(old);
      old.close();
    }
    this.held.add(mine);
    return { release: () => this.held.delete(mine) };
  }

  /** Every stream closes (the server stops). */
  closeAll(): void {
    const all = [...this.held];
    this.held.clear();
    for (const held of all) held.close();
  }

  private decide(limits: readonly SlotLimit[]): { admit: true; replaces: Held[] } | { admit: false; full: string } {
    const replaces: Held[] = [];
    // Narrowest first: a session making room among its own streams also makes room under its user and overall.
    for (const limit of [...limits].reverse()) {
      const under = [...this.held].filter((h) => h.names.includes(limit.name) && !replaces.includes(h));
      if (under.length < limit.max) continue;
      if (limit.whenFull === 'refuse' || limit.max < 1) return { admit: false, full: limit.name };
      replaces.push(...under.slice(0, under.length - limit.max + 1));
    }
    return { admit: true, replaces };
  }
}
