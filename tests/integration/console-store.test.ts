/**
 * The console's store on its own, the same tests on both backends: SQLite in
 * memory and a real PostgreSQL (a scratch database per test). Since-times,
 * late messages from a gate's outbox, dedupe, alerts and commands, and the
 * §7 figures; then what only PostgreSQL has to get right: tables made once
 * by two consoles starting together, data kept across a reopen, a lane's
 * updates in order when they overlap, and a server that is not there.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { checkConsoleConfig } from '../../protocol/config/console-config.js';
import { Feed } from '../../record/feed.js';
import { RecordError } from '../../record/errors.js';
import { openPostgresStore } from '../../record/postgres-store.js';
import type { SqlConsoleStore } from '../../record/sql-store.js';
import { openSqliteStore } from '../../record/sqlite-store.js';
import type { ConsoleStore, DecisionRow } from '../../record/store.js';
import { requirePostgres, scratchDatabase } from '../support/postgres.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const T = Date.parse('2026-03-02T08:00:00Z');
const ZONE = 'Asia/Shanghai';

type Open = (t: TestContext) => Promise<ConsoleStore | null>;

const BACKENDS: Array<[string, Open]> = [
  ['sqlite', async (t) => {
    const store = await openSqliteStore({ path: ':memory:', timeZone: ZONE });
    t.after(() => store.close());
    return store;
  }],
  ['postgres', async (t) => {
    if (!(await requirePostgres(t))) return null;
    const db = await scratchDatabase();
    const store = await openPostgresStore({ url: db.url, timeZone: ZONE, poolSize: 4 });
    t.after(async () => {
      await store.close();
      await db.drop();
    });
    return store;
  }],
];

const decision = (id: string, verdict: DecisionRow['verdict'], time = T, lane = 'a'): DecisionRow => ({
  id, site: 's', lane, seq: 1, time, verdict, reason: 'x', decidedBy: 'offline-code', colour: null, temperatureC: 36.6, sensorFault: null, degraded: false,
});

for (const [backend, open] of BACKENDS) {
  test(`${backend}: since-times move only when a flag changes; a late, older message changes no state`, async (t) => {
    const store = await open(t);
    if (!store) return;
    let lane = await store.updateLane({ site: 's', lane: 'l', time: T, online: true, laneState: 'idle', degraded: false, staffMode: false });
    assert.equal(lane.state, 'online');
    assert.equal(lane.onlineSince, T);
    lane = await store.updateLane({ site: 's', lane: 'l', time: T + 1000, online: true, degraded: true, laneState: 'idle', faults: [] });
    assert.equal(lane.state, 'degraded');
    assert.equal(lane.degradedSince, T + 1000);
    assert.equal(lane.onlineSince, T);
    lane = await store.updateLane({ site: 's', lane: 'l', time: T + 2000, fault: { kind: 'thermometer', active: true } });
    assert.deepEqual([lane.state, lane.faults, lane.faultsSince], ['fault', ['thermometer'], T + 2000]);
    // Telemetry from before, delivered late by the gate's outbox: ignored for state, but the lane was seen.
    lane = await store.updateLane({ site: 's', lane: 'l', time: T + 500, online: true, degraded: false, laneState: 'idle', faults: [] });
    assert.deepEqual([lane.state, lane.degraded, lane.faults], ['fault', true, ['thermometer']]);
    lane = await store.updateLane({ site: 's', lane: 'l', time: T + 3000, laneState: 'staff', fault: { kind: 'thermometer', active: false } });
    assert.deepEqual([lane.state, lane.staffMode, lane.staffModeSince, lane.faults, lane.faultsSince], ['staff', true, T + 3000, [], T + 3000]);
    // The Last Will, timed by a console clock behind the gate's, still applies.
    lane = await store.updateLane({ site: 's', lane: 'l', time: T + 2500, online: false, latest: true });
    assert.deepEqual([lane.state, lane.online, lane.onlineSince, lane.stateSince], ['offline', false, T + 2500, T + 2500]);
    // What was returned is what was kept.
    assert.deepEqual(await store.lane('s', 'l'), lane);
    assert.deepEqual(await store.lanes(), [lane]);
    assert.equal(await store.lane('s', 'nowhere'), null);
  });

  test(`${backend}: events are kept once, listed newest first; alerts acknowledged once; commands settled once`, async (t) => {
    const store = await open(t);
    if (!store) return;
    assert.equal(await store.addDecision(decision('d1', 'pass')), true);
    assert.equal(await store.addDecision(decision('d1', 'pass')), false, 'a duplicate delivery stored twice');
    // Two deliveries of one decision at the same moment (PostgreSQL writes them in one batch): new once.
    assert.deepEqual(await Promise.all([store.addDecision(decision('d9', 'pass', T - 5000)), store.addDecision(decision('d9', 'pass', T - 5000))]), [true, false]);
    await store.addDecision(decision('d2', 'deny', T, 'b'));
    await store.addDecision(decision('d0', 'hold', T - 1000));
    // Same millisecond: the one stored later is listed first.
    assert.deepEqual((await store.decisions()).map((d) => d.id), ['d2', 'd1', 'd0', 'd9']);
    assert.deepEqual((await store.decisions({ lane: 'a', limit: 1 })).map((d) => d.id), ['d1']);
    assert.deepEqual(await store.decisions({ site: 'elsewhere' }), []);
    assert.deepEqual((await store.decisions())[1], decision('d1', 'pass'));

    const alert = { id: 'al1', eventId: 'd0', site: 's', lane: 'a', time: T - 1000, decidedBy: 'offline-code' };
    assert.equal(await store.addAlert(alert), true);
    assert.equal(await store.addAlert(alert), false);
    assert.equal((await store.alerts({ unacknowledged: true })).length, 1);
    // Two operators at the same moment: one acknowledgement stands, and only that call says it made it.
    const [li, wang] = await Promise.all([store.acknowledgeAlert('al1', 'li.operator', T + 5), store.acknowledgeAlert('al1', 'wang', T + 9)]);
    assert.equal([li, wang].filter((ack) => ack.acknowledgedNow).length, 1);
    const winner = li.acknowledgedNow ? li : wang;
    assert.deepEqual([li.alert, wang.alert], [winner.alert, winner.alert]);
    assert.ok(winner.alert?.acknowledgedBy === (li.acknowledgedNow ? 'li.operator' : 'wang'));
    // Later ones change nothing.
    assert.deepEqual(await store.acknowledgeAlert('al1', 'zhao', T + 20), { alert: winner.alert, acknowledgedNow: false });
    assert.deepEqual(await store.acknowledgeAlert('no-such-alert', 'wang'), { alert: null, acknowledgedNow: false });
    assert.deepEqual(await store.alerts({ unacknowledged: true }), []);
    assert.equal((await store.alerts()).length, 1);

    assert.equal(await store.addFault({ id: 'f1', site: 's', lane: 'a', time: T, kind: 'thermometer', detail: 'PEC error', active: true }), true);
    assert.equal(await store.addFault({ id: 'f1', site: 's', lane: 'a', time: T, kind: 'thermometer', detail: 'PEC error', active: true }), false);
    assert.deepEqual(await store.faults(), [{ id: 'f1', site: 's', lane: 'a', time: T, kind: 'thermometer', detail: 'PEC error', active: true }]);

    const command = { id: 'c1', site: 's', lane: 'a', action: 'release-hold', user: 'li.operator', sentAt: T, result: 'pending' as const, resultAt: null, detail: null };
    await store.addCommand(command);
    await store.addCommand({ ...command, id: 'c0', sentAt: T - 60_000 });
    assert.deepEqual((await store.pendingCommands(T - 1)).map((c) => c.id), ['c0']);
    assert.deepEqual(await store.settleCommand('c1', 'ok', T + 300, null), { ...command, result: 'ok', resultAt: T + 300 });
    // A duplicate result changes nothing.
    assert.equal((await store.settleCommand('c1', 'failed', T + 900, 'late'))?.result, 'ok');
    assert.equal(await store.settleCommand('someone-elses', 'ok', T, null), null);
    assert.deepEqual((await store.commands()).map((c) => `${c.id}:${c.result}`), ['c1:ok', 'c0:pending']);
  });

  test(`${backend}: a burst larger than one batch (decisions, lanes): each row new once, every one kept`, async (t) => {
    const store = await open(t);
    if (!store) return;
    // 150 decisions and their 150 redeliveries at once, and 150 lanes: several batches on SQLite (32 rows at most), one on PostgreSQL.
    const burst = Array.from({ length: 150 }, (_, i) => decision(`burst-${String(i).padStart(3, '0')}`, 'pass', T + i));
    const stored = await Promise.all([...burst, ...burst].map((d) => store.addDecision(d)));
    assert.deepEqual([stored.slice(0, 150).every(Boolean), stored.slice(150).some(Boolean)], [true, false]);
    assert.deepEqual((await store.decisions({ limit: 1000 })).map((d) => d.id), burst.map((d) => d.id).reverse());
    const lanes = await Promise.all(burst.map((_, i) => store.updateLane({ site: 's', lane: `l${String(i).padStart(3, '0')}`, time: T + i, online: true })));
    assert.deepEqual(await store.lanes(), lanes);
  });

  test(`${backend}: figures: verdicts per day in the configured zone, duplicates once, timeliness with snapshots`, async (t) => {
    const store = await open(t);
    if (!store) return;
    const day = store.day(T);
    assert.equal(day, '2026-03-02');
    // 23:30 UTC on the 1st is already the 2nd in Shanghai.
    assert.equal(store.day(Date.parse('2026-03-01T23:30:00Z')), '2026-03-02');
    for (const lane of ['a', 'b', 'c']) await store.updateLane({ site: 's', lane, time: T - 60_000, online: true });
    assert.equal(await store.addDecision(decision('d1', 'pass')), true);
    assert.equal(await store.addDecision(decision('d1', 'pass')), false);
    await store.addDecision(decision('d2', 'deny'));
    await store.addDecision(decision('d3', 'hold'));
    await store.addDecision(decision('d4', 'pass', T - 86_400_000));
    await store.addRegistration({ id: 'r1', eventId: 'd1', site: 's', lane: 'a', time: T });
    assert.equal(await store.addRegistration({ id: 'r1', eventId: 'd1', site: 's', lane: 'a', time: T }), false);
    await store.addFault({ id: 'f1', site: 's', lane: 'a', time: T, kind: 'thermometer', detail: 'stuck', active: true });
    await store.addFault({ id: 'f2', site: 's', lane: 'a', time: T, kind: 'thermometer', detail: 'ok again', active: false });
    // The outbox filling is not a sensor.
    await store.addFault({ id: 'f3', site: 's', lane: 'a', time: T, kind: 'outbox-filling', detail: '80 %', active: true });
    await store.addAlert({ id: 'al', eventId: 'd3', site: 's', lane: 'a', time: T, decidedBy: 'offline-code' });
    assert.equal(await store.addColourChange({ site: 's', seq: 10, issuedAt: T, verified: true }), true);
    // A heartbeat repeating seq 10 keeps the first issuedAt.
    assert.equal(await store.addColourChange({ site: 's', seq: 10, issuedAt: T + 50, verified: true }), false);
    await store.addColourChange({ site: 's', seq: 11, issuedAt: T + 1000, verified: true });
    await store.addColourApplied({ site: 's', lane: 'a', seq: 10, appliedAt: T + 100, via: 'change' });
    await store.addColourApplied({ site: 's', lane: 'a', seq: 11, appliedAt: T + 1300, via: 'change' });
    assert.equal(await store.addColourApplied({ site: 's', lane: 'a', seq: 11, appliedAt: T + 1300, via: 'change' }), false);
    // Lane b missed both changes and caught up from a snapshot complete to seq 11.
    await store.addColourApplied({ site: 's', lane: 'b', seq: 11, appliedAt: T + 5000, via: 'snapshot' });
    // A lane seen only after the changes was not expected to apply them.
    await store.updateLane({ site: 's', lane: 'late', time: T + 60_000, online: true });
    const f = await store.figures('s', day);
    assert.deepEqual([f.checks, f.passes, f.refusals, f.holds], [3, 1, 1, 1]);
    assert.deepEqual([f.staffRegistrations, f.sensorFaults, f.redAlerts], [1, 1, 1]);
    assert.equal(f.colourChanges.changes, 2);
    assert.equal(f.colourChanges.expected, 6);
    assert.equal(f.colourChanges.applied, 4);
    // Delays: a 100, 300; b 5000, 4000 → sorted 100, 300, 4000, 5000.
    assert.equal(f.colourChanges.medianMs, 2150);
    assert.equal(f.colourChanges.worstMs, 5000);
    assert.deepEqual(f.colourChanges.neverApplied, [{ lane: 'c', seq: 10, issuedAt: T }, { lane: 'c', seq: 11, issuedAt: T + 1000 }]);
    assert.equal((await store.figures('s', store.day(T - 86_400_000))).checks, 1);
    const empty = await store.figures('s', '2020-01-01');
    assert.deepEqual([empty.checks, empty.passes, empty.colourChanges.medianMs, empty.colourChanges.worstMs], [0, 0, null, null]);
    assert.deepEqual(await store.sites(), ['s']);
  });

  test(`${backend}: lanes and sites listed in the same order by both stores (bytes, not the database's collation)`, async (t) => {
    const store = await open(t);
    if (!store) return;
    for (const [site, lane] of [['s', 'a1'], ['s', 'B'], ['s', 'a-2'], ['b-site', 'x'], ['B', 'x']]) await store.updateLane({ site: site!, lane: lane!, time: T, online: true });
    assert.deepEqual((await store.lanes()).map((l) => `${l.site}/${l.lane}`), ['B/x', 'b-site/x', 's/B', 's/a-2', 's/a1']);
    assert.deepEqual(await store.sites(), ['B', 'b-site', 's']);
  });

  test(`${backend}: overlapping updates to one lane apply in the order they were made`, async (t) => {
    const store = await open(t);
    if (!store) return;
    // Not awaited one by one: the feed never does this, but the store must not lose an update if a caller does.
    const updates = Array.from({ length: 40 }, (_, i) => store.updateLane({ site: 's', lane: 'l', time: T + i, fault: { kind: `k${i % 5}`, active: i % 2 === 0 } }));
    const results = await Promise.all(updates);
    const last = results.at(-1)!;
    assert.deepEqual(await store.lane('s', 'l'), last);
    // i = 35..39 decide the five kinds: 35 k0 off, 36 k1 on, 37 k2 off, 38 k3 on, 39 k4 off.
    assert.deepEqual(last.faults, ['k1', 'k3']);
    assert.equal(last.lastSeen, T + 39);
  });
}

test('postgres: two consoles opening a new database together make the tables once; a reopened store keeps its rows', async (t) => {
  if (!(await requirePostgres(t))) return;
  const db = await scratchDatabase();
  t.after(() => db.drop());
  const [a, b] = await Promise.all([openPostgresStore({ url: db.url }), openPostgresStore({ url: db.url })]);
  await a.addDecision(decision('kept', 'pass'));
  await b.updateLane({ site: 's', lane: 'a', time: T, online: true });
  await a.close();
  await b.close();
  const again = await openPostgresStore({ url: db.url });
  t.after(() => again.close());
  assert.deepEqual((await again.decisions()).map((d) => d.id), ['kept']);
  assert.equal((await again.lane('s', 'a'))?.online, true);
  assert.equal(await again.addDecision(decision('kept', 'pass')), false, 'a decision from before the restart stored again');
});

test('postgres: no server there: a clear error naming where, without the password', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const url = `postgres://console:very-secret@127.0.0.1:${port}/console`;
  await assert.rejects(openPostgresStore({ url, connectTimeoutMs: 2_000 }), (error: Error) => {
    assert.ok(error instanceof RecordError && error.code === 'store-unavailable', error.name);
    assert.match(error.message, new RegExp(`cannot open PostgreSQL at postgres://console:\\*\\*\\*@127\\.0\\.0\\.1:${port}/console`));
    assert.match(error.message, /ECONNREFUSED/);
    assert.ok(!error.message.includes('very-secret'), error.message);
    return true;
  });
});

test('postgres: a database that does not exist: refused at open, naming it', async (t) => {
  if (!(await requirePostgres(t))) return;
  const db = await scratchDatabase();
  await db.drop();
  await assert.rejects(openPostgresStore({ url: db.url }), (error: Error) => {
    assert.ok(error instanceof RecordError && error.code === 'store-unavailable');
    assert.ok(error.message.includes(db.name), error.message);
    assert.match(error.message, /does not exist/);
    return true;
  });
});

test('postgres: the database gone while the console runs: each message counted as not stored, none as malformed, the feed goes on', async (t) => {
  if (!(await requirePostgres(t))) return;
  const db = await scratchDatabase();
  const store = await openPostgresStore({ url: db.url, connectTimeoutMs: 2_000 });
  t.after(async () => {
    await store.close().catch(() => {});
    await db.drop();
  });
  const feed = new Feed(checkConsoleConfig({}), store, pino({ level: 'silent' }));
  const event = (id: string) =>
    Buffer.from(JSON.stringify({
      id, seq: 1, time: new Date(T).toISOString(), site: 's', lane: 'a', verdict: 'pass', reason: 'green-normal', decidedBy: 'offline-code',
      subject: null, colour: 'green', temperatureC: 36.5, sensorFault: null, credential: null, decisionMs: 60, degraded: false,
    }));
  feed.receive('hc/v1/s/a/decision', event('decision-before'));
  await feed.settled();
  assert.deepEqual((await store.decisions()).map((d) => d.id), ['decision-before']);
  await db.drop();
  feed.receive('hc/v1/s/a/decision', event('decision-while-gone-1'));
  feed.receive('hc/v1/s/a/decision', event('decision-while-gone-2'));
  await feed.settled();
  assert.deepEqual([feed.stats.notStored, feed.stats.malformed, feed.stats.queued], [2, 0, 0]);
});

test('postgres: the server away for a moment (connections cut, then refused): the feed tries again and stores every message, in order', async (t) => {
  if (!(await requirePostgres(t))) return;
  const db = await scratchDatabase();
  const target = new URL(db.url);
  const proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
  target.port = String(proxy.port);
  const store = await openPostgresStore({ url: target.toString(), connectTimeoutMs: 2_000 });
  t.after(async () => {
    await proxy.restore();
    await store.close().catch(() => {});
    await proxy.close();
    await db.drop();
  });
  const feed = new Feed(checkConsoleConfig({}), store, pino({ level: 'silent' }), { retryForMs: 30_000 });
  const decision = (id: string) =>
    Buffer.from(JSON.stringify({
      id, seq: 1, time: new Date(T).toISOString(), site: 's', lane: 'a', verdict: 'pass', reason: 'green-normal', decidedBy: 'offline-code',
      subject: null, colour: 'green', temperatureC: 36.5, sensorFault: null, credential: null, decisionMs: 60, degraded: false,
    }));
  const status = (laneState: string, at: number) =>
    Buffer.from(JSON.stringify({ state: 'online', time: new Date(at).toISOString(), laneState, degraded: false, staffMode: false }));
  feed.receive('hc/v1/s/a/status', status('idle', T));
  feed.receive('hc/v1/s/a/decision', decision('decision-before-cut'));
  await feed.settled();

  await proxy.cut();
  feed.receive('hc/v1/s/a/decision', decision('decision-during-cut'));
  feed.receive('hc/v1/s/a/status', status('held', T + 1000));
  feed.receive('hc/v1/s/a/status', status('idle', T + 2000));
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.ok(feed.stats.queued > 0, 'nothing waited for the database');
  await proxy.restore();
  await feed.settled();

  assert.deepEqual([feed.stats.notStored, feed.stats.malformed], [0, 0]);
  assert.ok(feed.stats.retries > 0, 'no store call was tried again');
  assert.deepEqual((await store.decisions()).map((d) => d.id).sort(), ['decision-before-cut', 'decision-during-cut']);
  // In order: held, then idle again; held since T + 1000 and back at T + 2000.
  const lane = (await store.lane('s', 'a'))!;
  assert.deepEqual([lane.laneState, lane.held, lane.heldSince], ['idle', false, T + 2000]);
});

test('postgres: one row the database refuses fails alone; the rest of its batch is stored', async (t) => {
  const store = (await BACKENDS[1]![1](t)) as SqlConsoleStore | null;
  if (!store) return;
  // PostgreSQL's text cannot hold a NUL character: this decision is refused, whatever the gate meant by it.
  const results = await Promise.allSettled([
    store.addDecision(decision('batch-good-1', 'pass')),
    store.addDecision({ ...decision('batch-bad', 'pass'), reason: 'bad\u0000reason' }),
    store.addDecision(decision('batch-good-2', 'deny')),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.equal(store.transient((results[1] as PromiseRejectedResult).reason), false, 'a refused row taken for a passing failure');
  assert.deepEqual((await store.decisions()).map((d) => d.id).sort(), ['batch-good-1', 'batch-good-2']);
});

test('postgres: close waits for writes under way; a reopened store has them', async (t) => {
  if (!(await requirePostgres(t))) return;
  const db = await scratchDatabase();
  t.after(() => db.drop());
  const store = await openPostgresStore({ url: db.url });
  // Not awaited: close must finish them.
  const writes = Array.from({ length: 50 }, (_, i) => store.addDecision(decision(`unawaited-${String(i).padStart(2, '0')}`, 'pass', T + i)));
  const lanes = Array.from({ length: 20 }, (_, i) => store.updateLane({ site: 's', lane: `l${i}`, time: T + i, online: true }));
  await store.close();
  assert.ok((await Promise.all(writes)).every(Boolean));
  await Promise.all(lanes);
  const again = await openPostgresStore({ url: db.url });
  t.after(() => again.close());
  assert.equal((await again.decisions({ limit: 1000 })).length, 50);
  assert.equal((await again.lanes()).length, 20);
});
