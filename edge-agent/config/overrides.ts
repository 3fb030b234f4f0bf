/**
 * Config changes the centre made with signed set-config commands, kept in the
 * journal's file so that a restart (a power cut, the service restarting after
 * a lost board) does not silently undo what the centre was told had changed.
 * They are applied over the config file at start, each checked again.
 */
import type SqliteDatabase from 'better-sqlite3';
import type { GateDatabase } from '../database/gate-database.js';

export interface StoredOverride {
  key: string;
  value: unknown;
  /** Epoch ms of the change. */
  changedAt: number;
}

export class ConfigOverrides {
  readonly #all: SqliteDatabase.Statement;
  readonly #set: SqliteDatabase.Statement;
  readonly #remove: SqliteDatabase.Statement;

  static attach(db: GateDatabase): ConfigOverrides {
    return new ConfigOverrides(db);
  }

  private constructor(db: GateDatabase) {
    this.#all = db.prepare('SELECT key, value, changed_at AS changedAt FROM config_overrides ORDER BY changed_at, key');
    this.#set = db.prepare(
      'INSERT INTO config_overrides (key, value, changed_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at',
    );
    this.#remove = db.prepare('DELETE FROM config_overrides WHERE key = ?');
  }

  all(): StoredOverride[] {
    return (this.#all.all() as Array<{ key: string; value: string; changedAt: number }>).map((row) => ({
      key: row.key,
      value: JSON.parse(row.value) as unknown,
      changedAt: row.changedAt,
    }));
  }

  set(key: string, value: unknown, now: number = Date.now()): void {
    this.#set.run(key, JSON.stringify(value), now);
  }

  /** One that no longer checks against the config (the file changed under it) is dropped. */
  remove(key: string): void {
    this.#remove.run(key);
  }
}
