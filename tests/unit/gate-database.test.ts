/**
 * The gate database: a file written by release 0.1.0 (tests/fixtures,
 * written by that release's own stores) is recognised and completed with
 * nothing lost, and every store works on it; a fresh file gets the same
 * schema; migrations run in order, one transaction each; a file of a newer
 * release is refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SqliteDatabase from 'better-sqlite3';
import { pino } from 'pino';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { ConfigOverrides } from '../../edge-agent/config/overrides.js';
import { TrustListVersions } from '../../edge-agent/credential/trust-list-versions.js';
import { GateDatabaseError } from '../../edge-agent/database/errors.js';
import { GATE_SCHEMA_VERSION, openGateDatabase, type GateDatabase } from '../../edge-agent/database/gate-database.js';
import { migrate, type Migration } from '../../edge-agent/database/migrate.js';
import { MIGRATIONS } from '../../edge-agent/database/migrations.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { LaneHolds } from '../../edge-agent/lane/lane-holds.js';
import { CommandHandler, type CommandTarget } from '../../edge-agent/link/command-handler.js';
import { Outbox } from '../../edge-agent/link/outbox.js';
import { RegistrationStore } from '../../edge-agent/privacy/retention.js';
import { generateAuthorityKeyPair, loadAuthorityKey, sealRecord } from '../../protocol/privacy/sealed-record.js';
import { messageSigner, signMessage, type MessageSigner } from '../../protocol/signed-message.js';
import { MessageError } from '../../protocol/message-error.js';
import type { TrustListPayload } from '../../protocol/trust/trust-list.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';

const FIXTURE = fileURLToPath(new URL('../../../tests/fixtures/gate-0.1.0-journal.sqlite', import.meta.url));
const SITE = 'demo-mall';
const LANE = 'lane-1';
const logger = pino({ level: 'silent' });
const OUTBOX = { maxMessages: 1_000, maxAgeDays: 30, warnAtFraction: 0.8 };

const dirs: string[] = [];
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
function tempPath(name = 'journal.db'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-database-'));
  dirs.push(dir);
  return path.join(dir, name);
}

function copyOfFixture(): string {
  const file = tempPath();
  fs.copyFileSync(FIXTURE, file);
  return file;
}

let signer: MessageSigner;
let keys: TrustStore;
before(async () => {
  const centre = await createSignerCertificate({ subject: 'CN=Gate database test centre, O=Test, C=CN' });
  signer = messageSigner(centre);
  keys = new TrustStore();
  keys.add(centre.certificate, 'centre');
});

type Rows = Record<string, unknown>[];

/** Every object of the file but the runner's own table, as sqlite_schema has it. */
function schemaOf(db: SqliteDatabase.Database): Rows {
  return db
    .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE tbl_name <> 'schema_migrations' ORDER BY type, name")
    .all() as Rows;
}

/** Every row of every table but the runner's, in a stable order. */
function contentsOf(db: SqliteDatabase.Database): Record<string, Rows> {
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name <> 'schema_migrations' ORDER BY name").pluck().all() as string[];
  const out: Record<string, Rows> = {};
  for (const table of tables) {
    const rows = db.prepare(`SELECT * FROM "${table}"`).all() as Rows;
    const key = (row: object): string => JSON.stringify(row, (_k, v: unknown) => (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('hex') : v));
    out[table] = rows.sort((a, b) => key(a).localeCompare(key(b)));
  }
  return out;
}

function readRaw<T>(file: string, read: (db: SqliteDatabase.Database) => T): T {
  const db = new SqliteDatabase(file, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

const migrationsOf = (db: SqliteDatabase.Database) =>
  db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as Array<{ version: number; name: string }>;

test('the 0.1.0 fixture holds a row of every kind a gate keeps', () => {
  const contents = readRaw(FIXTURE, contentsOf);
  const counts = Object.fromEntries(Object.entries(contents).map(([table, rows]) => [table, rows.length]));
  assert.deepEqual(counts, {
    colour_first_start: 1,
    colour_status: 4,
    colour_sync: 1,
    config_overrides: 1,
    events: 5,
    lane_holds: 1,
    outbox: 5,
    outbox_dead: 1,
    outbox_meta: 4,
    registrations: 1,
    seen_commands: 2,
    sqlite_sequence: 1,
    trust_list_version: 1,
  });
  assert.equal(readRaw(FIXTURE, (db) => db.pragma('user_version', { simple: true })), 1, "0.1.0's journal version");
  assert.equal(readRaw(FIXTURE, (db) => db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'schema_migrations'").pluck().get()), 0);
});

test('a file of release 0.1.0 is recognised and migrated with every row and object as it was', () => {
  const file = copyOfFixture();
  const before = readRaw(file, (db) => ({ schema: schemaOf(db), contents: contentsOf(db) }));

  // Migration 1 alone: the 0.1.0 schema, recorded.
  const first = new SqliteDatabase(file);
  migrate(first, file, MIGRATIONS.slice(0, 1));
  assert.deepEqual(contentsOf(first), before.contents, 'every row of every table is kept');
  assert.deepEqual(schemaOf(first), before.schema, 'no table, index or trigger changed: migration 1 is 0.1.0 schema');
  first.close();

  const db = openGateDatabase(file, { now: () => 1_800_000_000_000 });
  assert.deepEqual(migrationsOf(db), MIGRATIONS.map(({ version, name }) => ({ version, name })));
  assert.equal(db.pragma('user_version', { simple: true }), GATE_SCHEMA_VERSION);
  // Migration 2 adds the centre's keys, an epoch of 0 to the colour sync and no pushed list to the trust list version.
  const after2 = contentsOf(db);
  assert.deepEqual(after2.centre_keys, []);
  assert.deepEqual(after2.centre_key_announcement, []);
  assert.deepEqual(after2.colour_sync, before.contents.colour_sync!.map((row) => ({ ...row, epoch: 0 })));
  assert.deepEqual(after2.trust_list_version, before.contents.trust_list_version!.map((row) => ({ ...row, pushed: null })));
  const { centre_keys: _k, centre_key_announcement: _a, colour_sync: _c, trust_list_version: _t, ...kept } = after2;
  const { colour_sync: _c0, trust_list_version: _t0, ...keptBefore } = before.contents;
  assert.deepEqual(kept, keptBefore, 'every other row of every table is kept');

  // And the file is the same as one this code creates from nothing.
  const fresh = openGateDatabase(tempPath('fresh.db'));
  assert.deepEqual(schemaOf(fresh), schemaOf(db));
  fresh.close();
  db.close();
});

test('every store works on a migrated 0.1.0 file: what it kept reads back, and it keeps more', async () => {
  const file = copyOfFixture();
  const db = openGateDatabase(file, { sync: 'normal' });

  // The journal: five decisions of lane-1, in seq order; a red hold among them.
  const journal = Journal.over(db);
  const events = journal.list({ lane: LANE });
  assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4, 5]);
  assert.deepEqual(events.map((e) => `${e.verdict}/${e.reason}`), ['pass/green-normal', 'deny/yellow', 'hold/fever', 'hold/red', 'deny/no-code']);
  const red = events[3]!;
  const fever = events[2]!;
  assert.deepEqual(journal.get(red.id), red);

  // The outbox: its counts, the rows still waiting (the first decision was acknowledged), the dead letter.
  const outbox = Outbox.attach(db, OUTBOX);
  assert.equal(outbox.depth, 5);
  assert.equal(outbox.deadCount, 1);
  assert.equal(outbox.dropped, 0);
  const waiting = outbox.peek(10);
  assert.deepEqual(waiting.map((r) => r.id).slice(0, 4), [events[1]!.id, red.id, `${red.id}.alert`, events[4]!.id], 'in outbox order');
  assert.deepEqual(waiting.map((r) => r.priority), ['event', 'event', 'event', 'event', 'telemetry']);
  assert.equal(waiting.find((r) => r.id === red.id)!.tries, 1);
  assert.equal(waiting.find((r) => r.id === red.id)!.lastError, 'quota exceeded (0x97)');
  assert.deepEqual(JSON.parse(waiting.find((r) => r.id === red.id)!.payload.toString('utf8')), red, 'the payload is the stored event');
  const dead = outbox.deadLetters();
  assert.deepEqual(dead.map((d) => [d.id, d.reason, d.tries]), [[fever.id, 'not authorised (0x87)', 3]]);

  // An append commits its outbox row in the same transaction, and the outbox's rowid carries on past the old ones.
  journal.setAppendHook((event) => {
    outbox.enqueue({ id: event.id, lane: LANE, topic: `hc/v1/${SITE}/${LANE}/decision`, payload: JSON.stringify(event), qos: 1, priority: 'event' });
  });
  const { seq: _redSeq, ...decided } = red;
  const appended = journal.append({ ...decided, id: randomUUID(), time: new Date().toISOString(), verdict: 'pass', reason: 'green-normal', colour: 'green' });
  assert.equal(appended.seq, 6);
  const last = outbox.peek(1, waiting[4]!.rowid)[0]!;
  assert.equal(last.id, appended.id);
  assert.ok(last.rowid > dead[0]!.rowid && last.rowid > waiting[4]!.rowid, 'AUTOINCREMENT never hands out an old rowid');
  assert.equal(outbox.ack([red.id, `${red.id}.alert`]), 2);
  assert.equal(outbox.depth, 4);

  // Pushed colours and where the gate stands in the centre's sequence (a gap up to 5).
  const colours = ColourStatusStore.attach(db);
  assert.equal(colours.size, 4);
  assert.deepEqual(['sub-alice', 'sub-bob', 'sub-carol', 'sub-dave'].map((s) => colours.get(s)?.colour), ['red', 'green', 'green', 'red']);
  assert.equal(colours.get('sub-bob')!.seq, 4);
  const sync = colours.sync;
  assert.deepEqual([sync.seq, sync.changeSeq, sync.snapshotVersion, sync.snapshotSeq, sync.gapUpTo], [6, 6, 2, 3, 5]);
  assert.equal(sync.recentDigests.length, 2);
  const firstStart = readRaw(FIXTURE, (raw) => raw.prepare('SELECT first_start_at FROM colour_first_start').pluck().get()) as number;
  assert.equal(colours.firstStart(Date.now()), firstStart, 'the first start is never overwritten');
  // A snapshot at 7 covers the gap: what it no longer lists goes; it runs on the connection's temp table.
  const applied = colours.applySnapshot([{ sub: 'sub-alice', colour: 'green', effectiveAt: 1 }, { sub: 'sub-erin', colour: 'yellow', effectiveAt: 1 }], 7, { seq: 7, snapshotVersion: 3, snapshotSeq: 7, gapUpTo: null });
  assert.deepEqual(applied, { applied: 2, removed: 3 });
  assert.deepEqual(colours.get('sub-erin'), { colour: 'yellow', effectiveAt: 1, seq: 7 });

  // The lane still held for the red code.
  const holds = LaneHolds.attach(db);
  assert.deepEqual(holds.get(LANE), { lane: LANE, eventId: red.id, since: Date.parse(red.time) });

  // Seen commands: one already run is still refused as a replay; a new one runs and is kept.
  const seen = db.prepare('SELECT id, issued_at AS issuedAt, received_at AS receivedAt FROM seen_commands ORDER BY received_at').all() as Array<{ id: string; issuedAt: number; receivedAt: number }>;
  assert.equal(seen.length, 2);
  const ran: string[] = [];
  const target: CommandTarget = {
    open: () => (ran.push('open'), true),
    lock: () => (ran.push('lock'), true),
    releaseHold: () => (ran.push('release-hold'), true),
    reloadTrust: () => 'reloaded',
    setConfig: (key) => `${key} set`,
  };
  const at = seen[1]!.receivedAt;
  const commands = new CommandHandler({ db, keys, site: SITE, lane: LANE, maxAgeSeconds: 120, now: () => at, target, logger });
  const signed = (id: string, issuedAt: number): Buffer =>
    Buffer.from(JSON.stringify(signMessage('command', { type: 'command', id, site: SITE, lane: LANE, issuedAt, action: 'open' }, signer)));
  await assert.rejects(commands.handle(signed(seen[1]!.id, seen[1]!.issuedAt)), (e: unknown) => e instanceof MessageError && e.code === 'replayed');
  assert.equal((await commands.handle(signed(randomUUID(), at - 100))).ok, true);
  assert.deepEqual(ran, ['open']);
  assert.equal(db.prepare('SELECT count(*) FROM seen_commands').pluck().get(), 3);

  // The sealed registration, byte for byte, and room for another.
  const registrations = new RegistrationStore(db, { retentionDays: 21 });
  assert.equal(registrations.count(), 1);
  const storedSealed = readRaw(FIXTURE, (raw) => raw.prepare('SELECT event_id AS eventId, sealed FROM registrations').get()) as { eventId: string; sealed: string };
  assert.deepEqual(registrations.get(storedSealed.eventId), JSON.parse(storedSealed.sealed));
  const authority = loadAuthorityKey(generateAuthorityKeyPair().publicKeyPem);
  const another = sealRecord({ name: '王五', nationalId: '110105200002291234', phone: '13900139000', temperatureC: 36.6, time: new Date().toISOString(), site: SITE, lane: LANE, eventId: appended.id }, authority);
  registrations.add(another);
  assert.deepEqual(registrations.get(another.eventId), another);
  assert.equal(registrations.count(), 2);

  // The centre's config change, and the trust list version the lane loaded.
  const overrides = ConfigOverrides.attach(db);
  assert.deepEqual(overrides.all().map((o) => [o.key, o.value]), [['policy.feverThresholdC', 37.5]]);
  overrides.set('log.level', 'debug');
  const versions = new TrustListVersions(db);
  assert.equal(versions.get(SITE, LANE), 3);
  const list = (version: number): TrustListPayload => ({ type: 'trust-list', site: SITE, version, issuedAt: Date.now(), certificates: [] });
  versions.record(SITE, LANE, list(2));
  assert.equal(versions.get(SITE, LANE), 3, 'never lowered');
  versions.record(SITE, LANE, list(4));
  assert.equal(versions.get(SITE, LANE), 4);
  journal.setAppendHook(null);
  journal.close();

  // Reopened: not migrated again, and what was added is there.
  const again = openGateDatabase(file);
  assert.deepEqual(migrationsOf(again).map((m) => m.version), [1, 2]);
  const reopened = Journal.over(again);
  assert.equal(reopened.count(), 6);
  assert.equal(Outbox.attach(again, OUTBOX).depth, 4);
  assert.equal(ConfigOverrides.attach(again).all().length, 2);
  assert.equal(new TrustListVersions(again).get(SITE, LANE), 4);
  reopened.close();
});

test("a 0.1.0 outbox's own file (user_version 0, the outbox tables alone) is completed, its rows kept", () => {
  const file = copyOfFixture();
  const raw = new SqliteDatabase(file);
  for (const table of ['events', 'colour_status', 'colour_sync', 'colour_first_start', 'lane_holds', 'seen_commands', 'registrations', 'config_overrides', 'trust_list_version']) {
    raw.exec(`DROP TABLE ${table}`);
  }
  raw.pragma('user_version = 0');
  raw.close();
  const before = readRaw(file, contentsOf);
  const db = openGateDatabase(file);
  const after = contentsOf(db);
  for (const table of ['outbox', 'outbox_dead', 'outbox_meta', 'sqlite_sequence']) assert.deepEqual(after[table], before[table], table);
  assert.deepEqual(after.colour_sync?.length, 1, 'the missing tables are created');
  const outbox = Outbox.attach(db, OUTBOX);
  assert.equal(outbox.depth, 5);
  assert.equal(outbox.deadCount, 1);
  db.close();
});

test('a fresh file is created at the last version, recorded once', () => {
  const file = tempPath();
  const db = openGateDatabase(file, { now: () => 42 });
  assert.deepEqual(db.prepare('SELECT version, applied_at AS appliedAt FROM schema_migrations').all(), [{ version: 1, appliedAt: 42 }, { version: 2, appliedAt: 42 }]);
  assert.equal(db.pragma('user_version', { simple: true }), GATE_SCHEMA_VERSION);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('synchronous', { simple: true }), 2, "'full' unless asked for 'normal'");
  db.close();
  const normal = openGateDatabase(file, { sync: 'normal' });
  assert.equal(normal.pragma('synchronous', { simple: true }), 1);
  assert.equal(migrationsOf(normal).length, MIGRATIONS.length, 'a current file is not migrated again');
  normal.close();
});

test('a file of a newer release is refused, naming it and both versions, and left as it was', () => {
  const file = tempPath();
  openGateDatabase(file).close();
  const raw = new SqliteDatabase(file);
  const future = GATE_SCHEMA_VERSION + 1;
  raw.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${future}, 'from the future', 0)`).run();
  raw.pragma(`user_version = ${future}`);
  raw.close();
  assert.throws(
    () => openGateDatabase(file),
    (e: unknown) => e instanceof GateDatabaseError && e.code === 'newer-schema' && e.message.includes(file) && e.message.includes(`version ${future}`) && e.message.includes(`up to ${GATE_SCHEMA_VERSION}`),
  );
  assert.throws(() => Journal.open(file), /newer than this agent knows/, "the journal's own open refuses it too");
  assert.deepEqual(readRaw(file, migrationsOf).map((m) => m.version), [...MIGRATIONS.map((m) => m.version), future]);
});

test('a file without the runner\'s table at a version 0.1.0 never wrote is refused as unknown', () => {
  const file = tempPath();
  const raw = new SqliteDatabase(file);
  raw.pragma('user_version = 7');
  raw.close();
  assert.throws(() => openGateDatabase(file), (e: unknown) => e instanceof GateDatabaseError && e.code === 'unknown-schema' && e.message.includes(file));
});

test('a file that is not SQLite is refused as unreadable, naming the path', () => {
  const file = tempPath();
  fs.writeFileSync(file, Buffer.alloc(4096, 7));
  assert.throws(() => openGateDatabase(file), (e: unknown) => e instanceof GateDatabaseError && e.code === 'unreadable' && e.message.includes(file));
});

test('migrations run in order, each in its own transaction: a failing one leaves the file at the one before', () => {
  const file = tempPath();
  const db: GateDatabase = openGateDatabase(file);
  const next = MIGRATIONS.length + 1;
  const second: Migration = { version: next, name: 'a lane note', up: (conn) => conn.exec('CREATE TABLE lane_note (lane TEXT PRIMARY KEY, note TEXT NOT NULL) STRICT') };
  const failing: Migration = {
    version: next + 1,
    name: 'fails half-way',
    up: (conn) => {
      conn.exec('CREATE TABLE half_made (x INTEGER) STRICT');
      throw new Error('the disk said no');
    },
  };
  assert.throws(() => migrate(db, file, [...MIGRATIONS, second, failing]), /the disk said no/);
  assert.deepEqual(migrationsOf(db).map((m) => m.version), [...MIGRATIONS.map((m) => m.version), next], 'the next migration committed on its own');
  assert.equal(db.pragma('user_version', { simple: true }), next);
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE name IN ('lane_note', 'half_made')").pluck().all();
  assert.deepEqual(tables, ['lane_note'], 'the failing migration rolled back whole');
  assert.deepEqual(migrate(db, file, [...MIGRATIONS, second]), { from: next, to: next });
  assert.throws(() => migrate(db, file, MIGRATIONS), (e: unknown) => e instanceof GateDatabaseError && e.code === 'newer-schema');
  assert.throws(() => migrate(db, file, [...MIGRATIONS, { ...second, version: next + 1 }]), new RegExp(`entry ${next} has version ${next + 1}`));
  db.close();
});

test('without a database the colour store runs on a private migrated one', () => {
  const store = new ColourStatusStore();
  assert.equal(store.apply({ sub: 's', colour: 'red', effectiveAt: 1, seq: 1 }), true);
  assert.deepEqual(store.applySnapshot([{ sub: 't', colour: 'green', effectiveAt: 2 }], 2, { seq: 2 }), { applied: 1, removed: 1 });
  store.close();
});
