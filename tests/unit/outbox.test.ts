/**
 * The durable outbox at the SQLite level: order, idempotent enqueue, ack,
 * the size and age bounds with their drop policy and reports, the
 * filling/ok warning, dead letters, and what survives a reopen.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import SqliteDatabase from 'better-sqlite3';
import { Journal } from '../../edge-agent/journal/journal.js';
import { GateDatabaseError } from '../../edge-agent/database/errors.js';
import { GATE_SCHEMA_VERSION, openGateDatabase } from '../../edge-agent/database/gate-database.js';
import { Outbox, type OutboxDrop, type OutboxLevel, type OutboxMessage, type OutboxOptions } from '../../edge-agent/link/outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'gate-outbox-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const tempPath = (): string => join(dir, `outbox-${++files}.db`);

/** Reports arrive in a microtask, after the enqueue's transaction. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function message(id: string, lane = 'lane-1', priority: OutboxMessage['priority'] = 'event'): OutboxMessage {
  return { id, lane, topic: `hc/v1/s/${lane}/${priority === 'event' ? 'decision' : 'telemetry'}`, payload: JSON.stringify({ id }), qos: priority === 'event' ? 1 : 0, priority };
}

function openWith(overrides: Partial<OutboxOptions> = {}, path = tempPath()) {
  const drops: OutboxDrop[] = [];
  const levels: Array<{ level: OutboxLevel; depth: number }> = [];
  const outbox = Outbox.open(path, {
    maxMessages: 1000,
    maxAgeDays: 30,
    warnAtFraction: 0.8,
    sync: 'normal',
    onDrop: (drop) => drops.push(drop),
    onLevel: (level, depth) => levels.push({ level, depth }),
    ...overrides,
  });
  return { outbox, drops, levels, path };
}

test('peek returns rows in enqueue order across lanes, resumable by rowid', () => {
  const { outbox } = openWith();
  const ids = Array.from({ length: 30 }, (_, i) => `e${i}`);
  ids.forEach((id, i) => outbox.enqueue(message(id, `lane-${i % 3}`)));
  assert.deepEqual(outbox.peek(100).map((r) => r.id), ids);
  const first = outbox.peek(10);
  const rest = outbox.peek(100, first.at(-1)!.rowid);
  assert.deepEqual([...first, ...rest].map((r) => r.id), ids);
  const row = first[0]!;
  assert.ok(Buffer.isBuffer(row.payload));
  assert.deepEqual(JSON.parse(row.payload.toString('utf8')), { id: 'e0' });
  assert.equal(row.qos, 1);
  assert.equal(row.retain, false);
  assert.equal(row.priority, 'event');
  assert.equal(row.tries, 0);
  outbox.close();
});

test('enqueue is idempotent on the id', () => {
  const { outbox } = openWith();
  assert.equal(outbox.enqueue(message('a')), true);
  assert.equal(outbox.enqueue({ ...message('a'), payload: 'changed' }), false);
  assert.equal(outbox.depth, 1);
  assert.equal(outbox.peek(10)[0]!.payload.toString(), JSON.stringify({ id: 'a' }), 'the first copy is kept');
  outbox.close();
});

test('ack deletes the given ids in one go and ignores unknown ones', () => {
  const { outbox } = openWith();
  for (const id of ['a', 'b', 'c', 'd']) outbox.enqueue(message(id));
  assert.equal(outbox.ack(['b', 'd', 'nope']), 2);
  assert.deepEqual(outbox.peek(10).map((r) => r.id), ['a', 'c']);
  assert.equal(outbox.depth, 2);
  assert.equal(outbox.ack(new Set(['a', 'c'])), 2);
  assert.equal(outbox.depth, 0);
  assert.equal(outbox.oldestAgeMs, null);
  outbox.close();
});

test('rowids are never reused, so a cursor past deleted rows still sees new ones', () => {
  const { outbox, path } = openWith();
  for (const id of ['a', 'b', 'c']) outbox.enqueue(message(id));
  const cursor = outbox.peek(10).at(-1)!.rowid;
  outbox.ack(['a', 'b', 'c']);
  outbox.close();
  const again = openWith({}, path).outbox;
  again.enqueue(message('d'));
  assert.deepEqual(again.peek(10, cursor).map((r) => r.id), ['d']);
  again.close();
});

test('beyond maxMessages the oldest telemetry goes first, then the oldest events; each drop is counted and reported', async () => {
  const { outbox, drops } = openWith({ maxMessages: 10, warnAtFraction: 0.9 });
  // 6 events and 4 telemetry rows, interleaved: full.
  const plan: Array<[string, OutboxMessage['priority']]> = [
    ['e1', 'event'], ['t1', 'telemetry'], ['e2', 'event'], ['t2', 'telemetry'], ['e3', 'event'],
    ['t3', 'telemetry'], ['e4', 'event'], ['t4', 'telemetry'], ['e5', 'event'], ['e6', 'event'],
  ];
  for (const [id, priority] of plan) outbox.enqueue(message(id, 'lane-1', priority));
  assert.equal(outbox.depth, 10);
  // Three more events: the three oldest telemetry rows make room.
  for (const id of ['e7', 'e8', 'e9']) outbox.enqueue(message(id));
  await settle();
  assert.equal(outbox.depth, 10);
  assert.deepEqual(outbox.peek(20).map((r) => r.id), ['e1', 'e2', 'e3', 'e4', 't4', 'e5', 'e6', 'e7', 'e8', 'e9']);
  assert.equal(drops.length, 3);
  assert.ok(drops.every((d) => d.reason === 'full' && d.table === 'outbox' && d.priority === 'telemetry' && d.count === 1));
  assert.deepEqual(drops.map((d) => d.firstId), ['t1', 't2', 't3']);

  // Two more: the last telemetry row, then the oldest event.
  drops.length = 0;
  outbox.enqueue(message('e10'));
  outbox.enqueue(message('e11'));
  await settle();
  assert.deepEqual(outbox.peek(20).map((r) => r.id), ['e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10', 'e11']);
  assert.deepEqual(drops.map((d) => [d.priority, d.firstId, d.lastId, d.count]), [['telemetry', 't4', 't4', 1], ['event', 'e1', 'e1', 1]]);
  assert.equal(outbox.dropped, 5);

  // A new telemetry row into a full outbox of events is itself the oldest telemetry.
  drops.length = 0;
  outbox.enqueue(message('t5', 'lane-1', 'telemetry'));
  await settle();
  assert.equal(outbox.peek(20).some((r) => r.id === 't5'), false);
  assert.deepEqual(drops.map((d) => d.firstId), ['t5']);
  assert.equal(outbox.dropped, 6);
  outbox.close();
});

test('a drop of several rows reports how many and the id range', async () => {
  // Filled past 10 under a larger bound, then reopened with maxMessages 10.
  const big = openWith({ maxMessages: 1000 }, join(dir, 'shared-range.db'));
  for (let i = 1; i <= 15; i++) big.outbox.enqueue(message(`e${i}`));
  big.outbox.close();
  const small = openWith({ maxMessages: 10 }, join(dir, 'shared-range.db'));
  small.outbox.enqueue(message('e16'));
  await settle();
  assert.deepEqual(small.drops, [
    { reason: 'full', table: 'outbox', priority: 'event', count: 6, firstId: 'e1', lastId: 'e6', firstRowid: 1, lastRowid: 6 },
  ]);
  assert.equal(small.outbox.depth, 10);
  small.outbox.close();
});

test('prune drops rows older than maxAgeDays and reports them', async () => {
  let now = Date.parse('2024-03-01T00:00:00Z');
  const day = 86_400_000;
  const { outbox, drops } = openWith({ maxAgeDays: 2, now: () => now });
  outbox.enqueue(message('old-1'));
  outbox.enqueue(message('old-2', 'lane-2', 'telemetry'));
  now += day;
  outbox.enqueue(message('mid'));
  now += day + 1; // old-* are now 2 days and 1 ms old
  outbox.enqueue(message('new'));
  assert.equal(outbox.oldestAgeMs, 2 * day + 1);
  assert.equal(outbox.prune(), 2);
  await settle();
  assert.deepEqual(outbox.peek(10).map((r) => r.id), ['mid', 'new']);
  assert.deepEqual(
    drops.map((d) => [d.reason, d.priority, d.firstId, d.count]),
    [['age', 'telemetry', 'old-2', 1], ['age', 'event', 'old-1', 1]],
  );
  assert.equal(outbox.oldestAgeMs, day + 1);
  assert.equal(outbox.prune(), 0);
  outbox.close();
});

test('pruneTopic drops only the rows of that topic past the given age: sealed registrations kept no longer than their retention', async () => {
  let now = Date.parse('2024-03-01T00:00:00Z');
  const day = 86_400_000;
  const { outbox, drops } = openWith({ maxAgeDays: 30, now: () => now });
  const registration = (id: string): OutboxMessage => ({ ...message(id), topic: 'hc/v1/s/lane-1/registration' });
  outbox.enqueue(registration('reg-old'));
  outbox.enqueue(message('decision-old'));
  now += 22 * day;
  outbox.enqueue(registration('reg-new'));
  assert.equal(outbox.pruneTopic('hc/v1/s/lane-1/registration', 21 * day), 1);
  await settle();
  assert.deepEqual(outbox.peek(10).map((r) => r.id), ['decision-old', 'reg-new'], 'the decision waits out the 30 days of the outbox');
  assert.deepEqual(drops.map((d) => [d.reason, d.firstId, d.count]), [['age', 'reg-old', 1]]);
  assert.equal(outbox.pruneTopic('hc/v1/s/lane-1/registration', 21 * day), 0);
  outbox.close();
});

test('filling fires once on the way up and ok once on the way down', async () => {
  const { outbox, levels } = openWith({ maxMessages: 100, warnAtFraction: 0.8 });
  for (let i = 0; i < 79; i++) outbox.enqueue(message(`e${i}`));
  await settle();
  assert.deepEqual(levels, []);
  for (let i = 79; i < 130; i++) {
    outbox.enqueue(message(`e${i}`)); // past the mark and on into overflow
    await settle();
  }
  assert.deepEqual(levels, [{ level: 'filling', depth: 80 }]);
  assert.equal(outbox.level, 'filling');
  // Back down: not ok at 79 (within the 5 % margin), ok once below 75.
  const ids = outbox.peek(100).map((r) => r.id);
  for (const id of ids.slice(0, 21)) {
    outbox.ack([id]);
    await settle();
  }
  assert.equal(outbox.depth, 79);
  assert.equal(levels.length, 1);
  for (const id of ids.slice(21, 60)) {
    outbox.ack([id]);
    await settle();
  }
  assert.deepEqual(levels, [{ level: 'filling', depth: 80 }, { level: 'ok', depth: 74 }]);
  outbox.close();
});

test('an outbox opened already past the mark reports filling at once', async () => {
  const path = tempPath();
  const first = openWith({ maxMessages: 100 }, path);
  for (let i = 0; i < 90; i++) first.outbox.enqueue(message(`e${i}`));
  first.outbox.close();
  const second = openWith({ maxMessages: 100 }, path);
  await settle();
  assert.deepEqual(second.levels, [{ level: 'filling', depth: 90 }]);
  second.outbox.close();
});

test('a refused row is retried, then kept in the dead letters with the reason', () => {
  const { outbox } = openWith();
  outbox.enqueue(message('a'));
  outbox.enqueue(message('b'));
  assert.equal(outbox.refuse('a', 'Not authorized (0x87)', 3), 'retry');
  assert.equal(outbox.refuse('a', 'Not authorized (0x87)', 3), 'retry');
  assert.equal(outbox.peek(10)[0]!.tries, 2);
  assert.equal(outbox.peek(10)[0]!.lastError, 'Not authorized (0x87)');
  assert.equal(outbox.refuse('a', 'Not authorized (0x87)', 3), 'dead-letter');
  assert.equal(outbox.refuse('a', 'again', 3), 'gone');
  assert.deepEqual(outbox.peek(10).map((r) => r.id), ['b']);
  assert.equal(outbox.depth, 1);
  assert.equal(outbox.deadCount, 1);
  const [dead] = outbox.deadLetters();
  assert.equal(dead!.id, 'a');
  assert.equal(dead!.reason, 'Not authorized (0x87)');
  assert.equal(dead!.tries, 3);
  assert.equal(dead!.payload.toString(), JSON.stringify({ id: 'a' }));
  outbox.close();
});

test('state survives a reopen: rows, order, tries, dead letters, drop count', () => {
  const path = tempPath();
  const first = openWith({ maxMessages: 5 }, path);
  for (let i = 0; i < 7; i++) first.outbox.enqueue(message(`e${i}`, `lane-${i % 2}`));
  first.outbox.refuse('e3', 'Quota exceeded (0x97)', 5);
  first.outbox.enqueue(message('x'));
  first.outbox.refuse('x', 'Not authorized (0x87)', 1);
  first.outbox.close();

  const second = openWith({ maxMessages: 5 }, path);
  assert.deepEqual(second.outbox.peek(10).map((r) => r.id), ['e3', 'e4', 'e5', 'e6']);
  assert.equal(second.outbox.peek(10)[0]!.tries, 1);
  assert.equal(second.outbox.depth, 4);
  assert.equal(second.outbox.dropped, 3);
  assert.deepEqual(second.outbox.deadLetters().map((d) => d.id), ['x']);
  second.outbox.close();
});

test('attached to the journal file: one transaction with the journal, user_version untouched', () => {
  const path = tempPath();
  Journal.open(path).close();
  const db = openGateDatabase(path);
  const outbox = Outbox.attach(db, { maxMessages: 100, maxAgeDays: 30, warnAtFraction: 0.8 });
  assert.equal(db.pragma('user_version', { simple: true }), GATE_SCHEMA_VERSION, 'the gate database owns user_version');

  const decide = db.transaction((id: string, fail: boolean) => {
    db.prepare("INSERT INTO events (id, lane, seq, time, verdict, reason, event) VALUES (?, 'lane-1', ?, '', 'pass', 'green-normal', '{}')").run(id, id === 'kept' ? 1 : 2);
    outbox.enqueue(message(id));
    if (fail) throw new Error('the gate failed before the commit');
  });
  decide('kept', false);
  assert.throws(() => decide('rolled-back', true), /failed before the commit/);
  assert.deepEqual(outbox.peek(10).map((r) => r.id), ['kept']);
  assert.equal(outbox.depth, 1, 'the row count rolled back with the row');
  outbox.close();
  assert.equal(db.open, true, 'an attached database stays open');
  db.close();

  // The journal still opens the file, and the outbox finds its tables again.
  const journal = Journal.open(path);
  assert.equal(journal.count(), 1);
  journal.close();
  const again = Outbox.open(path, { maxMessages: 100, maxAgeDays: 30, warnAtFraction: 0.8 });
  assert.equal(again.depth, 1);
  again.close();
});

test('refuses a message MQTT could not carry, and tables of an unknown schema version', () => {
  const { outbox, path } = openWith();
  assert.throws(() => outbox.enqueue({ ...message('w'), topic: 'hc/v1/+/decision' }), (e: unknown) => e instanceof GateDatabaseError && e.code === 'invalid-message');
  assert.throws(() => outbox.enqueue({ ...message('q'), qos: 2 as 1 }), (e: unknown) => e instanceof GateDatabaseError && e.code === 'invalid-message');
  assert.equal(outbox.depth, 0);
  outbox.close();
  // A file as the release before the gate database left it (no schema_migrations), with outbox tables of another version.
  const db = new SqliteDatabase(path);
  db.exec('DROP TABLE schema_migrations; PRAGMA user_version = 0');
  db.prepare("UPDATE outbox_meta SET value = 99 WHERE key = 'schema'").run();
  db.close();
  assert.throws(() => Outbox.open(path, { maxMessages: 100, maxAgeDays: 30, warnAtFraction: 0.8 }), (e: unknown) => e instanceof GateDatabaseError && e.code === 'unknown-schema');
});
