/**
 * A console upgraded over the database an earlier release wrote: the tables
 * as that release made them (its DDL, copied here verbatim as the fixture:
 * the release itself no longer exists in the tree), some rows in each, then
 * the store of this release opened on it. Every row is found; the SQLite
 * file's `commands.user` is renamed `sent_by`; the migrated database has
 * the columns and indexes of a fresh one; a second open migrates nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { openPostgresStore } from '../../record/postgres-store.js';
import type { SqlConsoleStore } from '../../record/sql-store.js';
import { openSqliteStore } from '../../record/sqlite-store.js';
import { requirePostgres, scratchDatabase } from '../support/postgres.js';

const T = Date.parse('2026-03-02T08:00:00Z');
const DAY = '2026-03-02';
const ZONE = 'Asia/Shanghai';

/** The SQLite schema of the releases before migrations (record/sqlite-store.ts, as it was). */
const RELEASED_SQLITE_DDL = `
CREATE TABLE IF NOT EXISTS lanes (
  site TEXT NOT NULL, lane TEXT NOT NULL,
  online INTEGER NOT NULL DEFAULT 0, online_since INTEGER NOT NULL,
  degraded INTEGER NOT NULL DEFAULT 0, degraded_since INTEGER NOT NULL,
  held INTEGER NOT NULL DEFAULT 0, held_since INTEGER NOT NULL,
  staff_mode INTEGER NOT NULL DEFAULT 0, staff_mode_since INTEGER NOT NULL,
  faults TEXT NOT NULL DEFAULT '[]', faults_since INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'offline', state_since INTEGER NOT NULL,
  lane_state TEXT, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  state_time INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (site, lane)
);
CREATE TABLE IF NOT EXISTS decisions (
  id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, seq INTEGER NOT NULL,
  time INTEGER NOT NULL, day TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL,
  decided_by TEXT NOT NULL, colour TEXT, temperature_c REAL, sensor_fault TEXT,
  degraded INTEGER NOT NULL DEFAULT 0, received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_site_day ON decisions (site, day);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time);
CREATE TABLE IF NOT EXISTS alerts (
  id TEXT PRIMARY KEY, event_id TEXT NOT NULL, site TEXT NOT NULL, lane TEXT NOT NULL,
  time INTEGER NOT NULL, day TEXT NOT NULL, decided_by TEXT NOT NULL,
  acknowledged_by TEXT, acknowledged_at INTEGER, received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_site_day ON alerts (site, day);
CREATE TABLE IF NOT EXISTS faults (
  id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, time INTEGER NOT NULL, day TEXT NOT NULL,
  kind TEXT NOT NULL, detail TEXT NOT NULL, active INTEGER NOT NULL, received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS faults_site_day ON faults (site, day);
CREATE TABLE IF NOT EXISTS registrations (
  id TEXT PRIMARY KEY, event_id TEXT NOT NULL, site TEXT NOT NULL, lane TEXT NOT NULL,
  time INTEGER NOT NULL, day TEXT NOT NULL, received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS colour_changes (
  site TEXT NOT NULL, seq INTEGER NOT NULL, issued_at INTEGER NOT NULL, day TEXT NOT NULL,
  received_at INTEGER NOT NULL, verified INTEGER NOT NULL, PRIMARY KEY (site, seq)
);
CREATE TABLE IF NOT EXISTS colour_applied (
  site TEXT NOT NULL, lane TEXT NOT NULL, seq INTEGER NOT NULL, applied_at INTEGER NOT NULL,
  via TEXT NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (site, lane, seq, via)
);
CREATE TABLE IF NOT EXISTS commands (
  id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, action TEXT NOT NULL, user TEXT NOT NULL,
  sent_at INTEGER NOT NULL, result TEXT NOT NULL, result_at INTEGER, detail TEXT
);
CREATE INDEX IF NOT EXISTS commands_sent ON commands (sent_at);
`;

/** The PostgreSQL schema of the releases before migrations (record/postgres-store.ts, as it was). */
const RELEASED_POSTGRES_DDL = `
CREATE TABLE IF NOT EXISTS lanes (
  site TEXT NOT NULL, lane TEXT NOT NULL,
  online BOOLEAN NOT NULL, online_since BIGINT NOT NULL, degraded BOOLEAN NOT NULL, degraded_since BIGINT NOT NULL,
  held BOOLEAN NOT NULL, held_since BIGINT NOT NULL, staff_mode BOOLEAN NOT NULL, staff_mode_since BIGINT NOT NULL,
  faults TEXT[] NOT NULL, faults_since BIGINT NOT NULL, state TEXT NOT NULL, state_since BIGINT NOT NULL,
  lane_state TEXT, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL, state_time BIGINT NOT NULL,
  PRIMARY KEY (site, lane)
);
CREATE TABLE IF NOT EXISTS decisions (
  n BIGSERIAL, id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, seq BIGINT NOT NULL,
  time BIGINT NOT NULL, day TEXT NOT NULL, verdict TEXT NOT NULL, reason TEXT NOT NULL,
  decided_by TEXT NOT NULL, colour TEXT, temperature_c DOUBLE PRECISION, sensor_fault TEXT,
  degraded BOOLEAN NOT NULL, received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_site_day ON decisions (site, day);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time DESC, n DESC);
CREATE TABLE IF NOT EXISTS alerts (
  n BIGSERIAL, id TEXT PRIMARY KEY, event_id TEXT NOT NULL, site TEXT NOT NULL, lane TEXT NOT NULL,
  time BIGINT NOT NULL, day TEXT NOT NULL, decided_by TEXT NOT NULL,
  acknowledged_by TEXT, acknowledged_at BIGINT, received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_site_day ON alerts (site, day);
CREATE TABLE IF NOT EXISTS faults (
  n BIGSERIAL, id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, time BIGINT NOT NULL, day TEXT NOT NULL,
  kind TEXT NOT NULL, detail TEXT NOT NULL, active BOOLEAN NOT NULL, received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS faults_site_day ON faults (site, day);
CREATE TABLE IF NOT EXISTS registrations (
  id TEXT PRIMARY KEY, event_id TEXT NOT NULL, site TEXT NOT NULL, lane TEXT NOT NULL,
  time BIGINT NOT NULL, day TEXT NOT NULL, received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS registrations_site_day ON registrations (site, day);
CREATE TABLE IF NOT EXISTS colour_changes (
  site TEXT NOT NULL, seq BIGINT NOT NULL, issued_at BIGINT NOT NULL, day TEXT NOT NULL,
  received_at BIGINT NOT NULL, verified BOOLEAN NOT NULL, PRIMARY KEY (site, seq)
);
CREATE TABLE IF NOT EXISTS colour_applied (
  site TEXT NOT NULL, lane TEXT NOT NULL, seq BIGINT NOT NULL, applied_at BIGINT NOT NULL,
  via TEXT NOT NULL, received_at BIGINT NOT NULL, PRIMARY KEY (site, lane, seq, via)
);
CREATE TABLE IF NOT EXISTS commands (
  n BIGSERIAL, id TEXT PRIMARY KEY, site TEXT NOT NULL, lane TEXT NOT NULL, action TEXT NOT NULL, sent_by TEXT NOT NULL,
  sent_at BIGINT NOT NULL, result TEXT NOT NULL, result_at BIGINT, detail TEXT
);
CREATE INDEX IF NOT EXISTS commands_sent ON commands (sent_at DESC, n DESC);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (sent_at) WHERE result = 'pending';
`;

/**
 * Rows as the earlier release wrote them, in either dialect: `yes`/`no` are
 * its flags (1/0 or true/false), `list` its fault lists (JSON text or an array
 * literal), `operator` the command column's name.
 */
function releasedRows(yes: string, no: string, list: (kinds: string[]) => string, operator: string): string {
  return `
INSERT INTO lanes (site, lane, online, online_since, degraded, degraded_since, held, held_since, staff_mode, staff_mode_since,
  faults, faults_since, state, state_since, lane_state, first_seen, last_seen, state_time) VALUES
  ('s', 'a', ${yes}, ${T - 60_000}, ${no}, ${T - 60_000}, ${no}, ${T - 60_000}, ${no}, ${T - 60_000},
   ${list(['thermometer'])}, ${T - 30_000}, 'fault', ${T - 30_000}, 'idle', ${T - 60_000}, ${T}, ${T}),
  ('s', 'b', ${no}, ${T - 10_000}, ${no}, ${T - 60_000}, ${no}, ${T - 60_000}, ${no}, ${T - 60_000},
   ${list([])}, ${T - 60_000}, 'offline', ${T - 10_000}, NULL, ${T - 60_000}, ${T - 10_000}, ${T - 10_000});
INSERT INTO decisions (id, site, lane, seq, time, day, verdict, reason, decided_by, colour, temperature_c, sensor_fault, degraded, received_at) VALUES
  ('d0', 's', 'a', 1, ${T - 1000}, '${DAY}', 'hold', 'red', 'offline-code', 'red', 36.6, NULL, ${no}, ${T - 1000}),
  ('d1', 's', 'a', 2, ${T}, '${DAY}', 'pass', 'green-normal', 'offline-code', 'green', 36.5, NULL, ${no}, ${T}),
  ('d2', 's', 'b', 1, ${T}, '${DAY}', 'deny', 'fever', 'offline-code', 'green', 38.2, 'thermometer', ${yes}, ${T});
INSERT INTO alerts (id, event_id, site, lane, time, day, decided_by, acknowledged_by, acknowledged_at, received_at) VALUES
  ('al0', 'd0', 's', 'a', ${T - 1000}, '${DAY}', 'offline-code', 'li.operator', ${T - 500}, ${T - 1000});
INSERT INTO faults (id, site, lane, time, day, kind, detail, active, received_at) VALUES
  ('f1', 's', 'a', ${T - 30_000}, '${DAY}', 'thermometer', 'PEC error', ${yes}, ${T - 30_000});
INSERT INTO registrations (id, event_id, site, lane, time, day, received_at) VALUES ('r1', 'd1', 's', 'a', ${T}, '${DAY}', ${T});
INSERT INTO colour_changes (site, seq, issued_at, day, received_at, verified) VALUES ('s', 10, ${T - 20_000}, '${DAY}', ${T - 20_000}, ${yes});
INSERT INTO colour_applied (site, lane, seq, applied_at, via, received_at) VALUES ('s', 'a', 10, ${T - 19_900}, 'change', ${T - 19_900});
INSERT INTO commands (id, site, lane, action, ${operator}, sent_at, result, result_at, detail) VALUES
  ('c0', 's', 'a', 'release', 'li.operator', ${T - 120_000}, 'ok', ${T - 119_000}, NULL),
  ('c1', 's', 'b', 'hold', 'wang', ${T - 60_000}, 'pending', NULL, NULL);
`;
}

/** What the new store must find of those rows, and that it goes on from them. */
async function findsEveryRow(store: SqlConsoleStore): Promise<void> {
  const lanes = await store.lanes();
  assert.deepEqual(lanes, [
    {
      site: 's', lane: 'a', state: 'fault', stateSince: T - 30_000, online: true, onlineSince: T - 60_000, degraded: false, degradedSince: T - 60_000,
      held: false, heldSince: T - 60_000, staffMode: false, staffModeSince: T - 60_000, faults: ['thermometer'], faultsSince: T - 30_000,
      laneState: 'idle', firstSeen: T - 60_000, lastSeen: T,
    },
    {
      site: 's', lane: 'b', state: 'offline', stateSince: T - 10_000, online: false, onlineSince: T - 10_000, degraded: false, degradedSince: T - 60_000,
      held: false, heldSince: T - 60_000, staffMode: false, staffModeSince: T - 60_000, faults: [], faultsSince: T - 60_000,
      laneState: null, firstSeen: T - 60_000, lastSeen: T - 10_000,
    },
  ]);
  assert.deepEqual(await store.decisions(), [
    { id: 'd2', site: 's', lane: 'b', seq: 1, time: T, verdict: 'deny', reason: 'fever', decidedBy: 'offline-code', colour: 'green', temperatureC: 38.2, sensorFault: 'thermometer', degraded: true },
    { id: 'd1', site: 's', lane: 'a', seq: 2, time: T, verdict: 'pass', reason: 'green-normal', decidedBy: 'offline-code', colour: 'green', temperatureC: 36.5, sensorFault: null, degraded: false },
    { id: 'd0', site: 's', lane: 'a', seq: 1, time: T - 1000, verdict: 'hold', reason: 'red', decidedBy: 'offline-code', colour: 'red', temperatureC: 36.6, sensorFault: null, degraded: false },
  ]);
  assert.deepEqual(await store.alerts(), [
    { id: 'al0', eventId: 'd0', site: 's', lane: 'a', time: T - 1000, decidedBy: 'offline-code', acknowledgedBy: 'li.operator', acknowledgedAt: T - 500 },
  ]);
  assert.deepEqual(await store.faults(), [{ id: 'f1', site: 's', lane: 'a', time: T - 30_000, kind: 'thermometer', detail: 'PEC error', active: true }]);
  assert.deepEqual(await store.commands(), [
    { id: 'c1', site: 's', lane: 'b', action: 'hold', user: 'wang', sentAt: T - 60_000, result: 'pending', resultAt: null, detail: null },
    { id: 'c0', site: 's', lane: 'a', action: 'release', user: 'li.operator', sentAt: T - 120_000, result: 'ok', resultAt: T - 119_000, detail: null },
  ]);
  assert.deepEqual((await store.pendingCommands(T)).map((c) => c.id), ['c1']);
  const figures = await store.figures('s', DAY);
  assert.deepEqual(
    [figures.checks, figures.passes, figures.refusals, figures.holds, figures.staffRegistrations, figures.sensorFaults, figures.redAlerts],
    [3, 1, 1, 1, 1, 1, 1],
  );
  // Lane b was first seen before the change too, and never applied it.
  assert.deepEqual(figures.colourChanges, { changes: 1, expected: 2, applied: 1, medianMs: 100, worstMs: 100, neverApplied: [{ lane: 'b', seq: 10, issuedAt: T - 20_000 }] });
  assert.deepEqual(await store.sites(), ['s']);

  // Rows from before are still the ones a redelivery meets, and new rows follow them.
  assert.equal(await store.addDecision({ id: 'd1', site: 's', lane: 'a', seq: 2, time: T, verdict: 'pass', reason: 'green-normal', decidedBy: 'offline-code', colour: 'green', temperatureC: 36.5, sensorFault: null, degraded: false }), false);
  assert.equal(await store.addDecision({ id: 'd3', site: 's', lane: 'a', seq: 3, time: T, verdict: 'pass', reason: 'green-normal', decidedBy: 'offline-code', colour: 'green', temperatureC: 36.5, sensorFault: null, degraded: false }), true);
  assert.deepEqual((await store.decisions({ limit: 2 })).map((d) => d.id), ['d3', 'd2']);
  assert.equal(await store.addRegistration({ id: 'r1', eventId: 'd1', site: 's', lane: 'a', time: T }), false);
  assert.equal(await store.addColourChange({ site: 's', seq: 10, issuedAt: T, verified: true }), false);
  assert.equal(await store.addFault({ id: 'f1', site: 's', lane: 'a', time: T - 30_000, kind: 'thermometer', detail: 'PEC error', active: true }), false);
  assert.equal((await store.settleCommand('c1', 'ok', T + 1, null))?.result, 'ok');
  await store.addCommand({ id: 'c2', site: 's', lane: 'a', action: 'release', user: 'zhao', sentAt: T + 2, result: 'pending', resultAt: null, detail: null });
  assert.equal((await store.command('c2'))?.user, 'zhao');
  const lane = await store.updateLane({ site: 's', lane: 'a', time: T + 10, fault: { kind: 'thermometer', active: false } });
  assert.deepEqual([lane.state, lane.faults, lane.faultsSince, lane.onlineSince], ['online', [], T + 10, T - 60_000]);
}

/** Each table's columns (name, type, null, key) and each index's columns and whether it is partial; defaults are not the schema's business (every write sets every column). */
function sqliteShape(file: string): { columns: Record<string, string[]>; indexes: string[]; migrations: string[] } {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'kysely%' ORDER BY name").pluck().all() as string[];
    const columnsOf = db.prepare("SELECT name || ' ' || lower(type) || iif(\"notnull\", ' not null', '') || iif(pk > 0, ' key ' || pk, '') FROM pragma_table_info(?) ORDER BY name").pluck();
    const columns = Object.fromEntries(tables.map((table) => [table, columnsOf.all(table) as string[]]));
    const indexes = db
      .prepare(
        `SELECT l.name || ' on ' || m.name || ' (' || (SELECT group_concat(i.name, ', ') FROM pragma_index_info(l.name) i) || ')' || iif(l.partial, ' partial', '')
         FROM sqlite_master m, pragma_index_list(m.name) l WHERE m.type = 'table' AND m.name NOT LIKE 'kysely%' ORDER BY 1`,
      )
      .pluck()
      .all() as string[];
    const migrations = db.prepare('SELECT name FROM kysely_migration ORDER BY name').pluck().all() as string[];
    return { columns, indexes, migrations };
  } finally {
    db.close();
  }
}

test('sqlite: a file the earlier release wrote opens with every row; commands.user becomes sent_by; the schema is a fresh one', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-migration-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'console.db');
  const released = new BetterSqlite3(file);
  released.pragma('journal_mode = WAL');
  released.exec(RELEASED_SQLITE_DDL);
  released.exec(releasedRows('1', '0', (kinds) => `'${JSON.stringify(kinds)}'`, 'user'));
  released.close();

  const store = await openSqliteStore({ path: file, timeZone: ZONE });
  try {
    await findsEveryRow(store);
  } finally {
    await store.close();
  }

  const fresh = path.join(dir, 'fresh.db');
  await (await openSqliteStore({ path: fresh })).close();
  const migrated = sqliteShape(file);
  assert.ok(migrated.columns.commands!.includes('sent_by text not null') && !migrated.columns.commands!.some((c) => c.startsWith('user ')), migrated.columns.commands!.join(', '));
  assert.ok(migrated.indexes.includes('commands_pending on commands (sent_at) partial'), migrated.indexes.join('; '));
  assert.deepEqual(migrated, sqliteShape(fresh));
  assert.deepEqual(migrated.migrations, ['0001-console-tables']);

  // Opened again: nothing left to migrate, nothing lost.
  const again = await openSqliteStore({ path: file, timeZone: ZONE });
  t.after(() => again.close());
  assert.deepEqual((await again.decisions()).map((d) => d.id), ['d3', 'd2', 'd1', 'd0']);
  assert.deepEqual((await again.commands()).map((c) => `${c.id}:${c.user}:${c.result}`), ['c2:zhao:pending', 'c1:wang:ok', 'c0:li.operator:ok']);
});

async function postgresShape(url: string): Promise<{ columns: string[]; indexes: string[]; migrations: string[] }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const columns = await client.query<{ c: string }>(
      `SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable AS c FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name NOT LIKE 'kysely%' ORDER BY 1`,
    );
    const indexes = await client.query<{ i: string }>(
      `SELECT tablename || ' ' || regexp_replace(indexdef, '^.* USING ', '') AS i FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'kysely%' ORDER BY 1`,
    );
    const migrations = await client.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name');
    return { columns: columns.rows.map((r) => r.c), indexes: indexes.rows.map((r) => r.i), migrations: migrations.rows.map((r) => r.name) };
  } finally {
    await client.end();
  }
}

test('postgres: a database the earlier release wrote opens with every row; the schema is a fresh one', async (t) => {
  if (!(await requirePostgres(t))) return;
  const [db, fresh] = [await scratchDatabase(), await scratchDatabase()];
  t.after(async () => {
    await db.drop();
    await fresh.drop();
  });
  const released = new pg.Client({ connectionString: db.url });
  await released.connect();
  await released.query(RELEASED_POSTGRES_DDL);
  await released.query(releasedRows('true', 'false', (kinds) => `ARRAY[${kinds.map((k) => `'${k}'`).join(', ')}]::text[]`, 'sent_by'));
  await released.end();

  const store = await openPostgresStore({ url: db.url, timeZone: ZONE });
  try {
    await findsEveryRow(store);
  } finally {
    await store.close();
  }

  await (await openPostgresStore({ url: fresh.url })).close();
  const migrated = await postgresShape(db.url);
  assert.deepEqual(migrated, await postgresShape(fresh.url));
  assert.deepEqual(migrated.migrations, ['0001-console-tables']);

  const again = await openPostgresStore({ url: db.url, timeZone: ZONE });
  t.after(() => again.close());
  assert.deepEqual((await again.decisions()).map((d) => d.id), ['d3', 'd2', 'd1', 'd0']);
});
