/**
 * The centre's store, the same tests on both backends: SQLite (a file in a
 * temporary folder) and a real PostgreSQL (a scratch database per test).
 * Seqs given in the storing transaction, batches by id (replay, conflict),
 * a baseline swapped in whole or not at all, look-ups by subject and by ID
 * hash, the publisher's counters, the audit trail and the department's
 * outbox; then what only PostgreSQL has to get right: two processes' stores
 * on one database never give one seq twice, and a server that is not there.
 * The million-row baselines are centre-store-baseline.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { CentreError } from '../../centre/errors.js';
import { migrateCentre } from '../../centre/store/migrations.js';
import { openPostgresCentreStore } from '../../centre/store/postgres-store.js';
import { openSqliteCentreStore } from '../../centre/store/sqlite-store.js';
import type { SqlCentreStore } from '../../centre/store/sql-store.js';
import type { BatchInput, ColourEntry } from '../../centre/store/store.js';
import { SQLITE, sqliteDatabase } from '../../record/dialects.js';
import { BACKENDS } from '../support/centre-store-backends.js';

const T = Date.parse('2026-03-02T08:00:00Z');

const batch = (batchId: string, changes: ColourEntry[], digest = `d-${batchId}`, site = 's1'): BatchInput => ({ site, batchId, client: 'platform', digest, changes });
const entry = (subject: string, colour: ColourEntry['colour'], effectiveAt = T, more: Partial<ColourEntry> = {}): ColourEntry => ({ subject, colour, effectiveAt, ...more });

async function* chunked(rows: ColourEntry[], size: number): AsyncIterable<ColourEntry[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

for (const [backend, open] of BACKENDS) {
  test(`${backend}: each batch is one change message at the site's next seq; the last of a subject wins; counters as stored`, async (t) => {
    const opened = await open(t);
    if (!opened) return;
    const { store } = opened;
    assert.deepEqual(await store.site('s1'), { site: 's1', seq: 0, epoch: 0, publishedSeq: 0, snapshotVersion: 0, snapshotSeq: 0, statuses: 0 });
    const first = await store.applyBatch(batch('b1', [entry('A', 'green'), entry('B', 'yellow', T, { reason: 'contact', idHash: 'h-b' }), entry('A', 'red', T + 5)]), T + 10);
    assert.deepEqual({ ...first, storedAt: 0 }, { site: 's1', batchId: 'b1', seq: 1, rows: 3, storedAt: 0, replayed: false });
    // Resolved means committed: another store on the same database sees it.
    const other = await opened.reopen();
    assert.equal((await other.status('s1', 'A'))?.colour, 'red');
    const second = await store.applyBatch(batch('b2', [entry('B', 'green', T + 20), entry('C', 'red', T + 20)]), T + 30);
    assert.equal(second.seq, 2);
    assert.deepEqual(await store.status('s1', 'A'), { site: 's1', subject: 'A', colour: 'red', effectiveAt: T + 5, reason: null, idHash: null, seq: 1, storedAt: first.storedAt });
    assert.deepEqual(await store.status('s1', 'B'), { site: 's1', subject: 'B', colour: 'green', effectiveAt: T + 20, reason: null, idHash: null, seq: 2, storedAt: second.storedAt });
    assert.equal(await store.status('s1', 'nobody'), null);
    assert.equal(await store.status('s2', 'A'), null, 'sites are apart');
    const state = await store.site('s1');
    assert.deepEqual([state.seq, state.statuses], [2, 3]);
    assert.deepEqual(await store.changesAfter('s1', 0, 10), [
      { site: 's1', epoch: 0, seq: 1, issuedAt: T + 10, baseline: false, changes: [entry('A', 'red', T + 5), entry('B', 'yellow', T, { reason: 'contact', idHash: 'h-b' })] },
      { site: 's1', epoch: 0, seq: 2, issuedAt: T + 30, baseline: false, changes: [entry('B', 'green', T + 20), entry('C', 'red', T + 20)] },
    ]);
    assert.deepEqual((await store.changesAfter('s1', 1, 10)).map((c) => c.seq), [2]);
    assert.deepEqual((await store.changesAfter('s1', 0, 1)).map((c) => c.seq), [1]);
    assert.deepEqual((await store.sites()).map((s) => [s.site, s.seq]), [['s1', 2]]);
  });

  test(`${backend}: the same batch again is answered with its first result and stores nothing; other content under its id is a conflict`, async (t) => {
    const opened = await open(t);
    if (!opened) return;
    const { store } = opened;
    const first = await store.applyBatch(batch('b1', [entry('A', 'green')], 'digest-1'), T);
    const again = await store.applyBatch(batch('b1', [entry('A', 'green')], 'digest-1'), T + 1000);
    assert.deepEqual(again, { ...first, replayed: true });
    await assert.rejects(store.applyBatch(batch('b1', [entry('A', 'red')], 'digest-2'), T + 2000), (error: Error) => {
      assert.ok(error instanceof CentreError && error.code === 'batch-conflict', String(error));
      assert.match(error.message, /batch b1 of site s1 was stored \(seq 1\) with other content/);
      return true;
    });
    assert.equal((await store.status('s1', 'A'))?.colour, 'green');
    assert.equal((await store.site('s1')).seq, 1);
    assert.equal((await store.changesAfter('s1', 0, 10)).length, 1);
    // A batch id is the site's: another site may use it.
    assert.equal((await store.applyBatch(batch('b1', [entry('A', 'red')], 'digest-2', 's2'), T)).seq, 1);
    // More changes than one change message may carry: refused, nothing stored.
    const tooMany = Array.from({ length: 10_001 }, (_, i) => entry(`M${i}`, 'red'));
    await assert.rejects(store.applyBatch(batch('big', tooMany), T), (error: Error) => error instanceof CentreError && error.code === 'batch-too-large' && /10001 changes, at most 10000/.test(error.message));
    assert.equal(await store.status('s1', 'M0'), null);
    assert.equal((await store.site('s1')).seq, 1);
    // A baseline under a changes batch's id is held to the same rule.
    await assert.rejects(store.replaceBaseline({ site: 's1', batchId: 'b1', client: 'p', digest: 'other' }, chunked([entry('Z', 'red')], 1), T), /other content/);
  });

  test(`${backend}: the status of a person by the ID number's keyed hash, through an index; unknown is null`, async (t) => {
    const opened = await open(t);
    if (!opened) return;
    const { store } = opened;
    await store.applyBatch(batch('b1', [entry('A', 'green', T, { idHash: 'hash-a' }), entry('B', 'red'), entry('C', 'yellow', T, { idHash: 'hash-c' })]), T);
    assert.equal((await store.statusByIdHash('s1', 'hash-c'))?.subject, 'C');
    assert.equal(await store.statusByIdHash('s1', 'hash-x'), null);
    assert.equal(await store.statusByIdHash('s2', 'hash-a'), null);
    // A later batch that changes the subject's hash: found by the new one only.
    await store.applyBatch(batch('b2', [entry('A', 'red', T + 1, { idHash: 'hash-a2' })]), T + 1);
    assert.equal(await store.statusByIdHash('s1', 'hash-a'), null);
    assert.equal((await store.statusByIdHash('s1', 'hash-a2'))?.colour, 'red');
    if (backend === 'sqlite') {
      const plan = await opened.query("EXPLAIN QUERY PLAN SELECT * FROM centre_statuses WHERE site = 's1' AND id_hash = 'hash-c' AND id_hash IS NOT NULL ORDER BY seq DESC LIMIT 1");
      assert.ok(plan.some((row) => String(row.detail).includes('centre_statuses_id_hash')), JSON.stringify(plan));
    } else {
      await opened.query('SET enable_seqscan = off');
      const plan = await opened.query("EXPLAIN SELECT * FROM centre_statuses WHERE site = 's1' AND id_hash = 'hash-c' AND id_hash IS NOT NULL ORDER BY seq DESC LIMIT 1");
      assert.ok(plan.some((row) => String(row['QUERY PLAN']).includes('centre_statuses_id_hash')), JSON.stringify(plan));
    }
  });

  test(`${backend}: a baseline replaces the whole list as one change message marked baseline; replayed by its id`, async (t) => {
    const opened = await open(t);
    if (!opened) return;
    const { store } = opened;
    await store.applyBatch(batch('b1', [entry('OLD-1', 'red'), entry('OLD-2', 'green'), entry('KEPT', 'red')]), T);
    const rows = Array.from({ length: 2500 }, (_, i) => entry(`N-${String(i).padStart(5, '0')}`, i % 3 === 0 ? 'red' : 'green', T + i, i === 7 ? { idHash: 'h7', reason: 'r' } : {}));
    rows.push(entry('KEPT', 'green', T + 9), entry('N-00001', 'yellow', T + 99)); // a subject again in a later chunk: the last wins
    const progress: number[] = [];
    const result = await store.replaceBaseline({ site: 's1', batchId: 'base-1', client: 'cli', digest: 'base-d' }, chunked(rows, 1000), T + 500, (n) => progress.push(n));
    assert.deepEqual([result.seq, result.rows, result.replayed], [2, 2502, false]);
    assert.deepEqual(progress, [1000, 2000, 2502]);
    assert.equal(await store.status('s1', 'OLD-1'), null);
    assert.equal((await store.status('s1', 'KEPT'))?.colour, 'green');
    assert.deepEqual(await store.status('s1', 'N-00001'), { site: 's1', subject: 'N-00001', colour: 'yellow', effectiveAt: T + 99, reason: null, idHash: null, seq: 2, storedAt: result.storedAt });
    assert.equal((await store.statusByIdHash('s1', 'h7'))?.subject, 'N-00007');
    const state = await store.site('s1');
    assert.deepEqual([state.seq, state.statuses], [2, 2501]);
    assert.deepEqual(await store.changesAfter('s1', 1, 10), [{ site: 's1', epoch: 0, seq: 2, issuedAt: T + 500, baseline: true, changes: [] }]);
    // Every status, in chunks, each subject once, in byte order.
    const seen: string[] = [];
    for await (const chunk of store.statuses('s1', 1000)) {
      assert.ok(chunk.length <= 1000);
      seen.push(...chunk.map((s) => s.subject));
    }
    assert.equal(seen.length, 2501);
    assert.deepEqual(seen, [...seen].sort());
    assert.equal(new Set(seen).size, 2501);
    // The same baseline again: the first result, the stream not even read.
    let read = false;
    const again = await store.replaceBaseline({ site: 's1', batchId: 'base-1', client: 'cli', digest: 'base-d' }, (async function* () { read = true; yield [entry('X', 'red')]; })(), T + 900);
    assert.deepEqual([again.seq, again.replayed, read], [2, true, false]);
    assert.equal(String((await opened.query('SELECT COUNT(*) AS n FROM centre_baseline_rows'))[0]!.n), '0', 'nothing left staged');
    // A batch after it counts on from the baseline's seq and its statuses.
    await store.applyBatch(batch('b2', [entry('NEW', 'red'), entry('KEPT', 'red')]), T + 1000);
    assert.deepEqual([(await store.site('s1')).seq, (await store.site('s1')).statuses], [3, 2502]);
  });

  test(`${backend}: a baseline that fails mid-stream leaves the old list and the old seq, and nothing staged`, async (t) => {
    const opened = await open(t);
    if (!opened) return;
    const { store } = opened;
    await store.applyBatch(batch('b1', [entry('A', 'red'), entry('B', 'green')]), T);
    async function* failing(): AsyncIterable<ColourEntry[]> {
      yield Array.from({ length: 3000 }, (_, i) => entry(`X${i}`, 'green'));
      yield [entry('A', 'green')];
      throw new Error('the platform hung up');
    }
    await assert.rejects(store.replaceBaseline({ site: 's1', batchId: 'base-1', client: 'p', digest: 'd' }, failing(), T), /the platform hung up/);
    assert.equal((await store.status('s1', 'A'))?.colour, 'red');
    assert.equal(await store.status('s1', 'X1'), null);
    const state = await store.site('s1');
    assert.deepEqual([state.seq, state.statuses], [1, 2]);
    assert.equal(String((await opened.query('SELECT COUNT(*) AS n FROM centre_baseline_rows'))[0]!.n), '0');
    // Its id was not taken: the retry stores it, at the next seq.
    const retried = await store.replaceBaseline({ site: 's1', batchId: 'base-1', client: 'p', digest: 'd' }, chunked([entry('A', 'green')], 1), T);
    assert.deepEqual([retried.seq, retried.replayed], [2, false]);
  });

  test(`${backend}: the publisher's marks never go back; an epoch raised counts seqs again from its own start; pruning keeps the newest`, async (t) => {
    const opened = await open(t);
    if (!opened) return;
    const { store } = opened;
    for (let i = 1; i <= 6; i++) await store.applyBatch(batch(`b${i}`, [entry(`S${i}`, 'red')]), T + i);
    await store.markPublished('s1', 4);
    await store.markPublished('s1', 2);
    await store.markSnapshot('s1', 3, 4);
    await store.markSnapshot('s1', 2, 5);
    let state = await store.site('s1');
    assert.deepEqual([state.publishedSeq, state.snapshotVersion, state.snapshotSeq], [4, 3, 4]);
    assert.equal(await store.pruneChanges('s1', 4, 3), 3, 'seqs 1..3: covered, and 3 newer kept');
    assert.deepEqual((await store.changesAfter('s1', 0, 10)).map((c) => c.seq), [4, 5, 6]);
    assert.equal(await store.pruneChanges('s1', 6, 10), 0);
    state = await store.raiseEpoch('s1');
    assert.deepEqual(state, { site: 's1', seq: 0, epoch: 1, publishedSeq: 0, snapshotVersion: 3, snapshotSeq: 0, statuses: 6 });
    assert.deepEqual(await store.changesAfter('s1', 0, 10), []);
    const next = await store.applyBatch(batch('b7', [entry('S7', 'green')]), T + 7);
    assert.equal(next.seq, 1);
    assert.deepEqual((await store.changesAfter('s1', 0, 10)).map((c) => [c.epoch, c.seq]), [[1, 1]]);
    assert.equal((await store.status('s1', 'S1'))?.colour, 'red', 'the list stays across an epoch');
  });

  test(`${backend}: the audit trail, newest first, by client and time`, async (t) => {
    const opened = await open(t);
    if (!opened) return;
    const { store } = opened;
    const base = { action: 'POST /v1/sites/:site/changes', site: 's1', batchId: 'b1', rows: 3, status: 200, error: null };
    await store.audit({ ...base, at: T, client: 'platform' });
    await store.audit({ ...base, at: T, client: 'viewer', action: 'GET /v1/audit', site: null, batchId: null, rows: 0 });
    await store.audit({ ...base, at: T + 10, client: 'platform', status: 409, error: 'batch-conflict' });
    const all = await store.auditTrail({ limit: 10 });
    assert.deepEqual(all.map((a) => [a.at, a.client, a.status]), [[T + 10, 'platform', 409], [T, 'viewer', 200], [T, 'platform', 200]]);
    assert.deepEqual(all[0], { ...base, at: T + 10, client: 'platform', status: 409, error: 'batch-conflict' });
    assert.deepEqual((await store.auditTrail({ client: 'platform', limit: 10 })).map((a) => a.at), [T + 10, T]);
    assert.deepEqual((await store.auditTrail({ since: T + 1, limit: 10 })).map((a) => a.status), [409]);
    assert.equal((await store.auditTrail({ limit: 1 })).length, 1);
  });

  test(`${backend}: deliveries: stored once by id, due in order, attempts and back-off, delivered once, alarmed once, listed`, async (t) => {
    const opened = await open(t);
    if (!opened) return;
    const { store } = opened;
    const alert = { id: 'al-1', kind: 'alert' as const, site: 's1', lane: 'l1', body: '{"id":"al-1"}', receivedAt: T };
    assert.equal(await store.enqueueDelivery(alert), true);
    assert.equal(await store.enqueueDelivery({ ...alert, body: 'other' }), false, 'a redelivery from the broker');
    assert.equal(await store.enqueueDelivery({ id: 'rg-1', kind: 'registration', site: 's2', lane: 'l1', body: '{"id":"rg-1"}', receivedAt: T + 5 }), true);
    assert.deepEqual(await store.delivery('al-1'), { ...alert, state: 'pending', attempts: 0, nextAttemptAt: T, lastError: null, deliveredAt: null, alarmedAt: null });
    assert.deepEqual((await store.dueDeliveries(T + 5, 10)).map((d) => d.id), ['al-1', 'rg-1']);
    assert.deepEqual((await store.dueDeliveries(T + 4, 10)).map((d) => d.id), ['al-1']);
    await store.markAttemptFailed('al-1', 'HTTP 500', T + 1000);
    assert.deepEqual((await store.dueDeliveries(T + 999, 10)).map((d) => d.id), ['rg-1']);
    const failed = await store.delivery('al-1');
    assert.deepEqual([failed?.attempts, failed?.lastError, failed?.nextAttemptAt], [1, 'HTTP 500', T + 1000]);
    assert.deepEqual((await store.overdueDeliveries(T + 1, 10)).map((d) => d.id), ['al-1']);
    await store.markAlarmed('al-1', T + 60_000);
    await store.markAlarmed('al-1', T + 90_000);
    assert.equal((await store.delivery('al-1'))?.alarmedAt, T + 60_000);
    assert.deepEqual(await store.overdueDeliveries(T + 1, 10), []);
    await store.markDelivered('al-1', T + 2000);
    await store.markDelivered('al-1', T + 3000);
    await store.markAttemptFailed('al-1', 'late failure', T + 9999);
    const delivered = await store.delivery('al-1');
    assert.deepEqual([delivered?.state, delivered?.deliveredAt, delivered?.attempts, delivered?.lastError], ['delivered', T + 2000, 2, null]);
    assert.deepEqual((await store.dueDeliveries(T + 10_000, 10)).map((d) => d.id), ['rg-1']);
    assert.deepEqual((await store.deliveries({ limit: 10 })).map((d) => d.id), ['rg-1', 'al-1']);
    assert.deepEqual((await store.deliveries({ site: 's1', limit: 10 })).map((d) => d.id), ['al-1']);
    assert.deepEqual((await store.deliveries({ state: 'pending', limit: 10 })).map((d) => d.id), ['rg-1']);
    assert.deepEqual((await store.deliveries({ kind: 'alert', limit: 10 })).map((d) => d.id), ['al-1']);
    assert.equal(await store.delivery('none'), null);
  });
}

test('postgres: two stores on one database storing one site\'s batches at once give seqs 1..N, each once, in commit order', async (t) => {
  const [, open] = BACKENDS[1]!;
  const opened = await open(t);
  if (!opened) return;
  const a = opened.store;
  const b = await opened.reopen();
  const perStore = 40;
  const run = (store: SqlCentreStore, name: string) =>
    Promise.all(Array.from({ length: perStore }, (_, i) => store.applyBatch(batch(`${name}-${i}`, [entry(`${name}-${i}`, 'red'), entry('shared', i % 2 ? 'red' : 'green')]), T + i)));
  const [fromA, fromB] = await Promise.all([run(a, 'a'), run(b, 'b')]);
  const seqs = [...fromA, ...fromB].map((r) => r.seq).sort((x, y) => x - y);
  assert.deepEqual(seqs, Array.from({ length: 2 * perStore }, (_, i) => i + 1));
  const messages = await a.changesAfter('s1', 0, 1000);
  assert.deepEqual(messages.map((m) => m.seq), seqs);
  // Each message carries its own batch's subject: the seq was the one its own transaction took.
  const bySeq = new Map([...fromA, ...fromB].map((r) => [r.seq, r.batchId]));
  for (const message of messages) assert.ok(message.changes.some((c) => c.subject === bySeq.get(message.seq)), `seq ${message.seq}`);
  // The shared subject holds the value of the last seq.
  const last = messages[messages.length - 1]!;
  assert.equal((await a.status('s1', 'shared'))?.colour, last.changes.find((c) => c.subject === 'shared')?.colour);
  const state = await b.site('s1');
  assert.deepEqual([state.seq, state.statuses], [2 * perStore, 2 * perStore + 1]);
  // The same batch sent to both at once: stored once, the other answered as its replay.
  const [x, y] = await Promise.all([a.applyBatch(batch('dup', [entry('D', 'red')], 'dd'), T), b.applyBatch(batch('dup', [entry('D', 'red')], 'dd'), T)]);
  assert.equal(x.seq, y.seq);
  assert.deepEqual([x.replayed, y.replayed].sort(), [false, true]);
  assert.equal((await a.site('s1')).seq, 2 * perStore + 1);
});

test('postgres: the publisher\'s marks and the counters it reads do not wait for a storing transaction holding the site\'s row', async (t) => {
  const [, open] = BACKENDS[1]!;
  const opened = await open(t);
  if (!opened) return;
  const { store, query } = opened;
  await store.applyBatch(batch('b1', [entry('A', 'red')]), T);
  // What a batch in flight holds until its commit: the site's row, locked.
  await query('BEGIN');
  await query("UPDATE centre_sites SET seq = seq WHERE site = 's1'");
  try {
    const waited = (what: string) => new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} waited for the site's row lock`)), 5_000).unref());
    await Promise.race([store.markPublished('s1', 1), waited('markPublished')]);
    await Promise.race([store.markSnapshot('s1', 1, 1), waited('markSnapshot')]);
    const state = await Promise.race([store.site('s1'), waited('site')]);
    assert.deepEqual([state.seq, state.publishedSeq, state.snapshotVersion, state.snapshotSeq], [1, 1, 1, 1]);
  } finally {
    await query('ROLLBACK');
  }
});

test('sqlite: a file of the first schema keeps its publisher\'s counters when its columns move to centre_publish', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'centre-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'centre.db');
  const old = new Kysely<any>({ dialect: new SqliteDialect({ database: sqliteDatabase(new BetterSqlite3(path)) }) });
  await migrateCentre(old, SQLITE, '0001-centre-tables');
  await old
    .insertInto('centre_sites')
    .values([
      { site: 's1', seq: 7, epoch: 2, published_seq: 6, snapshot_version: 4, snapshot_seq: 5, statuses: 3 },
      { site: 's2', seq: 0, epoch: 0, published_seq: 0, snapshot_version: 0, snapshot_seq: 0, statuses: 0 },
    ])
    .execute();
  await old.destroy();
  const store = await openSqliteCentreStore({ path });
  t.after(() => store.close());
  assert.deepEqual(await store.sites(), [
    { site: 's1', seq: 7, epoch: 2, publishedSeq: 6, snapshotVersion: 4, snapshotSeq: 5, statuses: 3 },
    { site: 's2', seq: 0, epoch: 0, publishedSeq: 0, snapshotVersion: 0, snapshotSeq: 0, statuses: 0 },
  ]);
  await store.markPublished('s1', 5);
  await store.markPublished('s1', 7);
  const result = await store.applyBatch(batch('b1', [entry('A', 'red')]), T);
  assert.equal(result.seq, 8);
  assert.deepEqual(await store.site('s1'), { site: 's1', seq: 8, epoch: 2, publishedSeq: 7, snapshotVersion: 4, snapshotSeq: 5, statuses: 4 });
});

test('postgres: a server that is not there: store-unavailable at open, naming the database without its password', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const url = `postgres://centre:very-secret@127.0.0.1:${port}/centre`;
  await assert.rejects(openPostgresCentreStore({ url, connectTimeoutMs: 2_000 }), (error: Error) => {
    assert.ok(error instanceof CentreError && error.code === 'store-unavailable', String(error));
    assert.match(error.message, new RegExp(`cannot open PostgreSQL at postgres://centre:\\*\\*\\*@127\\.0\\.0\\.1:${port}/centre`));
    assert.ok(!error.message.includes('very-secret'), error.message);
    return true;
  });
});

test('sqlite: a file that cannot be made (its folder is a file): store-unavailable naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'centre-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const notAFolder = join(dir, 'plain-file');
  writeFileSync(notAFolder, 'x');
  const path = join(notAFolder, 'centre.db');
  await assert.rejects(openSqliteCentreStore({ path }), (error: Error) => {
    assert.ok(error instanceof CentreError && error.code === 'store-unavailable', String(error));
    assert.ok(error.message.includes(path), error.message);
    return true;
  });
});
