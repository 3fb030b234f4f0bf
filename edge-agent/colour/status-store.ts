/**
 * The colours the centre has pushed, by pseudonymous subject. The policy
 * lets a pushed colour override the one inside a code (rules §5). This
 * first cut keeps them in memory; the MQTT link persists and resyncs them.
 */
import type { Colour } from '../domain.js';

/** The latest colour the centre pushed for one subject (brief, "Colour status"). */
export interface PushedStatus {
  colour: Colour;
  /** Epoch ms at which the centre's change took effect. */
  effectiveAt: number;
  /** The centre's sequence number of the change. */
  seq: number;
}

export interface ColourChange {
  sub: string;
  colour: Colour;
  effectiveAt: number;
  seq: number;
}

export class ColourStatusStore {
  private readonly bySubject = new Map<string, PushedStatus>();

  get(sub: string): PushedStatus | null {
    return this.bySubject.get(sub) ?? null;
  }

  /** Apply a change unless a later one for the same subject is already known; true when applied. */
  apply(change: ColourChange): boolean {
    const known = this.bySubject.get(change.sub);
    if (known && known.seq >= change.seq) return false;
    this.bySubject.set(change.sub, { colour: change.colour, effectiveAt: change.effectiveAt, seq: change.seq });
    return true;
  }

  get size(): number {
    return this.bySubject.size;
  }
}
