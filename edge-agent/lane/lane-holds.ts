/**
 * Red-code holds that outlast the process. A person held for a red code is
 * still at the gate after a power cut or a service restart (the one after a
 * lost board, say), and the centre's alert is still open: the lane comes back
 * held, and only staff (at the gate, or by the centre's release-hold command)
 * end it. One row per held lane, in the journal's file, written in the
 * transaction that journals the red-code decision.
 */
import type SqliteDatabase from 'better-sqlite3';
import type { GateDatabase } from '../database/gate-database.js';

export interface StoredHold {
  lane: string;
  /** The decision event that held the person. */
  eventId: string;
  /** Epoch ms of that decision. */
  since: number;
}

export class LaneHolds {
  readonly #get: SqliteDatabase.Statement;
  readonly #hold: SqliteDatabase.Statement;
  readonly #release: SqliteDatabase.Statement;

  /** Kept in `db` (the journal's). */
  static attach(db: GateDatabase): LaneHolds {
    return new LaneHolds(db);
  }

  private constructor(db: GateDatabase) {
    this.#get = db.prepare('SELECT lane, event_id AS eventId, since FROM lane_holds WHERE lane = ?');
    this.#hold = db.prepare(
      'INSERT INTO lane_holds (lane, event_id, since) VALUES (?, ?, ?) ON CONFLICT (lane) DO UPDATE SET event_id = excluded.event_id, since = excluded.since',
    );
    this.#release = db.prepare('DELETE FROM lane_holds WHERE lane = ?');
  }

  /** The lane's hold, or null when it is not held. */
  get(lane: string): StoredHold | null {
    return (this.#get.get(lane) as StoredHold | undefined) ?? null;
  }

  hold(lane: string, eventId: string, since: number): void {
    this.#hold.run(lane, eventId, since);
  }

  /** True when there was a hold to end. */
  release(lane: string): boolean {
    return this.#release.run(lane).changes > 0;
  }
}
