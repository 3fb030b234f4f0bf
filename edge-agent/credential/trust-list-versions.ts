/**
 * The version of the signed trust list each lane has loaded, in the gate
 * database (the journal's file), so that a restart cannot be fed an older
 * list. Keyed by site and lane as the seen command ids are (lanes may share
 * one file). A list the centre pushed is kept with its version (its JWS), so
 * that a restart puts it in force again; a list from the file clears it.
 */
import type SqliteDatabase from 'better-sqlite3';
import type { TrustListPayload, TrustListVersionStore } from '../../protocol/trust/trust-list.js';
import type { GateDatabase } from '../database/gate-database.js';

export class TrustListVersions implements TrustListVersionStore {
  readonly #get: SqliteDatabase.Statement;
  readonly #set: SqliteDatabase.Statement;
  readonly #pushed: SqliteDatabase.Statement;

  constructor(db: GateDatabase) {
    this.#get = db.prepare('SELECT version FROM trust_list_version WHERE site = ? AND lane = ?').pluck();
    // Never lowered: the version only grows.
    this.#set = db.prepare(
      `INSERT INTO trust_list_version (site, lane, version, issued_at, loaded_at, pushed) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (site, lane) DO UPDATE SET version = excluded.version, issued_at = excluded.issued_at, loaded_at = excluded.loaded_at,
         pushed = excluded.pushed
       WHERE excluded.version > trust_list_version.version`,
    );
    this.#pushed = db.prepare('SELECT pushed FROM trust_list_version WHERE site = ? AND lane = ?').pluck();
  }

  get(site: string, lane: string): number | null {
    return (this.#get.get(site, lane) as number | undefined) ?? null;
  }

  record(site: string, lane: string, list: TrustListPayload, pushed?: string, now: number = Date.now()): void {
    this.#set.run(site, lane, list.version, list.issuedAt, now, pushed ?? null);
  }

  pushed(site: string, lane: string): string | null {
    return (this.#pushed.get(site, lane) as string | null | undefined) ?? null;
  }
}
