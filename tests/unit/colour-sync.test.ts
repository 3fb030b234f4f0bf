/**
 * Colour sync: signed, sequenced changes and versioned snapshots from the
 * centre, applied to a persistent ColourStatusStore. Messages are signed
 * with a key made here; the TrustStore holds its certificate only.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { ColourSync, type ColourSyncEvents } from '../../edge-agent/colour/colour-sync.js';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import type { Colour } from '../../protocol/domain.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { GATE_SCHEMA_VERSION } from '../../edge-agent/database/gate-database.js';
import type { ColourChangeMessage, ColourSnapshotMessage, CommandMessage, SecurityKind } from '../../protocol/contract.js';
import { type MessageSigner, messageSigner, signMessage } from '../../protocol/signed-message.js';
import { MessageError } from '../../protocol/message-error.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';

const SITE = 'test-site';
const logger = pino({ level: 'silent' });
const T0 = 1_750_000_000_000;

let centre: MessageSigner;
let stranger: MessageSigner;
let keys: TrustStore;
const syncs: ColourSync[] = [];
const tempDirs: string[] = [];

before(async () => {
  const made = await createSignerCertificate({ subject: 'CN=Test Centre, O=Test, C=CN' });
  centre = messageSigner(made);
  keys = new TrustStore();
  keys.add(made.certificate, 'test centre');
  const other = await createSignerCertificate({ subject: 'CN=Someone Else, O=Test, C=CN' });
  stranger = messageSigner(other);
});

after(() => {
  for (const sync of syncs) sync.stop();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Fixture

class Clock {
  constructor(public ms = T0) {}
  readonly now = (): number => this.ms;
}

interface Fixture {
  sync: ColourSync;
  store: ColourStatusStore;
  clock: Clock;
  events: Array<[keyof ColourSyncEvents, unknown]>;
}

function makeSync(options: { store?: ColourStatusStore; clock?: Clock; maxSyncAgeSeconds?: number; whenDegraded?: 'staff' | 'offline-code' } = {}): Fixture {
  const store = options.store ?? new ColourStatusStore();
  const clock = options.clock ?? new Clock();
  const sync = new ColourSync({
    store,
    keys,
    site: SITE,
    config: { maxSyncAgeSeconds: options.maxSyncAgeSeconds ?? 300, whenDegraded: options.whenDegraded ?? 'staff' },
    now: clock.now,
    logger,
    checkIntervalMs: 3_600_000, // tests call check() themselves
  });
  syncs.push(sync);
  const events: Fixture['events'] = [];
  for (const name of ['resync', 'degraded', 'synced'] as const) sync.on(name, (info: unknown) => events.push([name, info]));
  return { sync, store, clock, events };
}

type Changes = Array<[sub: string, colour: Colour]>;

function changePayload(seq: number, changes: Changes, extra: Partial<ColourChangeMessage> = {}): ColourChangeMessage {
  return {
    type: 'colour-change',
    site: SITE,
    seq,
    issuedAt: T0 + seq * 1000,
    changes: changes.map(([sub, colour]) => ({ sub, colour, effectiveAt: T0 + seq * 1000 })),
    ...extra,
  };
}

function change(seq: number, changes: Changes, extra: Partial<ColourChangeMessage> = {}, signer = centre): Buffer {
  return Buffer.from(JSON.stringify(signMessage('colour-change', changePayload(seq, changes, extra), signer)));
}

function snapshotPayload(version: number, seq: number, statuses: Changes, extra: Partial<ColourSnapshotMessage> = {}): ColourSnapshotMessage {
  return {
    type: 'colour-snapshot',
    site: SITE,
    version,
    seq,
    issuedAt: T0 + seq * 1000 + 500,
    statuses: statuses.map(([sub, colour]) => ({ sub, colour, effectiveAt: T0 })),
    ...extra,
  };
}

function snapshot(version: number, seq: number, statuses: Changes, extra: Partial<ColourSnapshotMessage> = {}): Buffer {
  return Buffer.from(JSON.stringify(signMessage('colour-snapshot', snapshotPayload(version, seq, statuses, extra), centre)));
}

function refusedAs(kind: SecurityKind): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof MessageError, `not a MessageError: ${String(error)}`);
    assert.equal(error.code, kind, error.message);
    return true;
  };
}

/** Everything a refused message must leave as it was. */
function contents(store: ColourStatusStore, subs: string[]): unknown {
  return { size: store.size, sync: store.sync, statuses: subs.map((sub) => store.get(sub)) };
}

const colourOf = (store: ColourStatusStore, sub: string): Colour | undefined => store.get(sub)?.colour;

// ---------------------------------------------------------------------------
// Changes in order, duplicates, replays

test('in-order changes are applied with their seq; a later subject change wins', () => {
  const { sync, store, events } = makeSync();
  assert.equal(sync.lastSeq, null);

  const first = sync.acceptChange(change(1, [['alice', 'red'], ['bob', 'yellow']]));
  assert.deepEqual(first, { kind: 'applied', applied: 2, seq: 1, gap: false });
  const second = sync.acceptChange(change(2, [['alice', 'green']]));
  assert.deepEqual(second, { kind: 'applied', applied: 1, seq: 2, gap: false });

  assert.deepEqual(store.get('alice'), { colour: 'green', effectiveAt: T0 + 2000, seq: 2 });
  assert.deepEqual(store.get('bob'), { colour: 'yellow', effectiveAt: T0 + 1000, seq: 1 });
  assert.equal(store.get('carol'), null);
  assert.equal(store.size, 2);
  assert.equal(sync.lastSeq, 2);
  assert.equal(sync.resyncPending, false);
  assert.deepEqual(events, [], 'seq 1 on a fresh gate misses nothing');
});

test('the same message delivered again (QoS 1) is dropped quietly; other old seqs are refused as replayed', () => {
  const { sync, store } = makeSync();
  const one = change(1, [['alice', 'red']]);
  const two = change(2, [['bob', 'red']]);
  sync.acceptChange(one);
  sync.acceptChange(two);
  const before = contents(store, ['alice', 'bob']);

  assert.deepEqual(sync.acceptChange(two), { kind: 'duplicate', applied: 0, seq: 2, gap: false });
  assert.deepEqual(sync.acceptChange(one), { kind: 'duplicate', applied: 0, seq: 1, gap: false });
  assert.deepEqual(contents(store, ['alice', 'bob']), before);

  // The same seqs with other content (or re-signed later) are not a redelivery.
  assert.throws(() => sync.acceptChange(change(2, [['bob', 'green']])), refusedAs('replayed'));
  assert.throws(() => sync.acceptChange(change(1, [['alice', 'green']])), refusedAs('replayed'));
  assert.throws(() => sync.acceptChange(change(1, [])), refusedAs('replayed'), 'a heartbeat below the seq');
  assert.deepEqual(contents(store, ['alice', 'bob']), before);
  assert.equal(colourOf(store, 'bob'), 'red');
});

test('a heartbeat (no changes, the current seq) counts only when issued after the last accepted message', () => {
  const { sync, store, clock } = makeSync();
  sync.acceptChange(change(3, [['alice', 'red']]));
  clock.ms = T0 + 60_000;
  const syncedBefore = store.sync.syncedAt;

  assert.throws(() => sync.acceptChange(change(3, [], { issuedAt: T0 + 3000 - 1 })), refusedAs('replayed'));
  assert.throws(() => sync.acceptChange(change(3, [], { issuedAt: T0 + 2000 })), refusedAs('replayed'));
  assert.equal(store.sync.syncedAt, syncedBefore);

  const beat = change(3, [], { issuedAt: T0 + 59_000 });
  assert.deepEqual(sync.acceptChange(beat), { kind: 'heartbeat', applied: 0, seq: 3, gap: false });
  assert.equal(store.sync.syncedAt, T0 + 59_000);
  assert.equal(sync.syncAgeMs(), 1000);
  assert.equal(sync.acceptChange(beat).kind, 'duplicate', 'the same heartbeat delivered twice');
  assert.equal(sync.lastSeq, 3);
});

test('issuedAt beyond the clock skew in the future is stale; within it, accepted', () => {
  const { sync, store } = makeSync();
  assert.throws(() => sync.acceptChange(change(1, [['alice', 'red']], { issuedAt: T0 + 60_001 })), refusedAs('stale'));
  assert.throws(() => sync.acceptSnapshot(snapshot(1, 1, [['alice', 'red']], { issuedAt: T0 + 120_000 })), refusedAs('stale'));
  assert.equal(store.size, 0);
  assert.equal(sync.lastSeq, null);
  assert.equal(sync.acceptChange(change(1, [['alice', 'red']], { issuedAt: T0 + 59_000 })).kind, 'applied');
  // A message from the future never dates the sync later than now.
  assert.equal(store.sync.syncedAt, T0);
});

// ---------------------------------------------------------------------------
// Gaps and snapshots

test('a gap applies what the message carries, asks for a resync, and the covering snapshot fills the rest', () => {
  const { sync, store, events } = makeSync();
  sync.acceptChange(change(1, [['alice', 'yellow']]));
  sync.acceptChange(change(2, [['bob', 'green']]));

  // 3 and 4 never arrive.
  const jumped = sync.acceptChange(change(5, [['carol', 'red']]));
  assert.deepEqual(jumped, { kind: 'applied', applied: 1, seq: 5, gap: true });
  assert.equal(colourOf(store, 'carol'), 'red');
  assert.deepEqual(events, [['resync', { seq: 2, missingUpTo: 4 }]]);
  assert.equal(sync.resyncPending, true);
  assert.equal(sync.lastSeq, 5);

  // A snapshot short of the gap fills what it has but leaves the gap open.
  const short = sync.acceptSnapshot(snapshot(1, 3, [['alice', 'yellow'], ['bob', 'green'], ['dave', 'red']]));
  assert.equal(short?.gapClosed, false);
  assert.equal(sync.resyncPending, true);
  assert.equal(colourOf(store, 'dave'), 'red');

  // The covering snapshot: dave changed at 4, erin only it knows; carol's
  // change at 5 is newer than the snapshot and stays.
  const covering = sync.acceptSnapshot(
    snapshot(2, 4, [['alice', 'yellow'], ['bob', 'green'], ['carol', 'green'], ['dave', 'green'], ['erin', 'yellow']]),
  );
  assert.deepEqual(covering, { version: 2, seq: 4, applied: 2, removed: 0, gapClosed: true });
  assert.equal(sync.resyncPending, false);
  assert.equal(colourOf(store, 'dave'), 'green');
  assert.equal(colourOf(store, 'erin'), 'yellow');
  assert.deepEqual(store.get('carol'), { colour: 'red', effectiveAt: T0 + 5000, seq: 5 });
  assert.equal(sync.lastSeq, 5, 'the snapshot never takes the seq back');
  assert.equal(events.length, 1, 'one resync per gap');

  // The sequence goes on from 5.
  assert.equal(sync.acceptChange(change(6, [['erin', 'green']])).gap, false);
  assert.equal(colourOf(store, 'erin'), 'green');
});

test('snapshots: an older version is refused as replayed, the same version again is ignored', () => {
  const { sync, store } = makeSync();
  assert.equal(sync.acceptSnapshot(snapshot(7, 10, [['alice', 'red']]))?.version, 7);
  const before = contents(store, ['alice', 'bob']);

  assert.equal(sync.acceptSnapshot(snapshot(7, 10, [['alice', 'red']])), null);
  assert.throws(() => sync.acceptSnapshot(snapshot(6, 12, [['alice', 'green'], ['bob', 'red']])), refusedAs('replayed'));
  assert.deepEqual(contents(store, ['alice', 'bob']), before);
});

test('a fresh gate: the first snapshot bootstraps the sequence; the first change without one asks for a resync', () => {
  const boot = makeSync();
  boot.sync.acceptSnapshot(snapshot(1, 40, [['alice', 'red']]));
  assert.equal(boot.sync.lastSeq, 40);
  assert.equal(boot.sync.acceptChange(change(41, [['bob', 'red']])).gap, false);
  assert.deepEqual(boot.events, []);

  const late = makeSync();
  const first = late.sync.acceptChange(change(40, [['bob', 'red']]));
  assert.deepEqual(first, { kind: 'applied', applied: 1, seq: 40, gap: true });
  assert.deepEqual(late.events, [['resync', { seq: null, missingUpTo: 39 }]]);
  late.sync.acceptSnapshot(snapshot(1, 39, [['alice', 'red']]));
  assert.equal(late.sync.resyncPending, false);
  assert.equal(colourOf(late.store, 'alice'), 'red');
  assert.equal(colourOf(late.store, 'bob'), 'red');
});

test('changes the snapshot already covered, arriving after it, are dropped quietly', () => {
  const { sync, store } = makeSync();
  sync.acceptChange(change(1, [['alice', 'red']]));
  sync.acceptSnapshot(snapshot(1, 3, [['alice', 'red'], ['bob', 'yellow'], ['carol', 'green']]));
  const before = contents(store, ['alice', 'bob', 'carol']);
  // Changes 2 and 3 were on their way on the other topic.
  assert.equal(sync.acceptChange(change(2, [['bob', 'red']])).kind, 'covered');
  assert.equal(sync.acceptChange(change(3, [['carol', 'yellow']])).kind, 'covered');
  assert.deepEqual(contents(store, ['alice', 'bob', 'carol']), before);
  assert.equal(sync.acceptChange(change(4, [['bob', 'green']])).kind, 'applied');
  assert.equal(colourOf(store, 'bob'), 'green');
  assert.throws(() => sync.acceptChange(change(2, [['bob', 'red']], { issuedAt: T0 + 9999 })), refusedAs('replayed'));
});

test('a snapshot is the whole list: statuses it no longer lists are removed, later changes stay', () => {
  const { sync, store } = makeSync();
  sync.acceptChange(change(1, [['alice', 'red'], ['bob', 'red']]));
  sync.acceptChange(change(2, [['carol', 'yellow']]));
  const result = sync.acceptSnapshot(snapshot(1, 1, [['alice', 'red']]));
  assert.equal(result?.removed, 1);
  assert.equal(store.get('bob'), null, 'withdrawn by the centre at or before seq 1');
  assert.equal(colourOf(store, 'carol'), 'yellow', 'changed after the snapshot');
  assert.equal(colourOf(store, 'alice'), 'red');
});

// ---------------------------------------------------------------------------
// Refused messages: each a MessageError of its kind, the store untouched

test('wrong site, unsigned, unknown key, bad signature, wrong typ, schema, garbage: refused with their kind, store unchanged', () => {
  const { sync, store } = makeSync();
  sync.acceptChange(change(1, [['alice', 'red']]));
  sync.acceptSnapshot(snapshot(1, 1, [['alice', 'red']]));
  const subs = ['alice', 'mallory'];
  const before = contents(store, subs);

  const tampered = signMessage('colour-change', changePayload(2, [['alice', 'green']]), centre);
  tampered.payload = Buffer.from(JSON.stringify(changePayload(2, [['alice', 'green'], ['mallory', 'green']]))).toString('base64url');
  const badSignature = signMessage('colour-change', changePayload(2, [['alice', 'green']]), centre);
  badSignature.signature = Buffer.from(badSignature.signature, 'base64url').reverse().toString('base64url');
  const invalid = { type: 'colour-change', site: SITE, seq: 2, issuedAt: T0, changes: [{ sub: 'alice', colour: 'blue', effectiveAt: T0 }] };

  const cases: Array<{ name: string; accept: () => unknown; kind: SecurityKind }> = [
    { name: 'other site (change)', accept: () => sync.acceptChange(change(2, [['alice', 'green']], { site: 'other-site' })), kind: 'wrong-target' },
    { name: 'other site (snapshot)', accept: () => sync.acceptSnapshot(snapshot(2, 2, [['alice', 'green']], { site: 'other-site' })), kind: 'wrong-target' },
    { name: 'unsigned payload', accept: () => sync.acceptChange(Buffer.from(JSON.stringify(changePayload(2, [['alice', 'green']])))), kind: 'unsigned' },
    { name: 'signed by a key the gate does not trust', accept: () => sync.acceptChange(change(2, [['alice', 'green']], {}, stranger)), kind: 'unknown-key' },
    { name: 'payload changed after signing', accept: () => sync.acceptChange(Buffer.from(JSON.stringify(tampered))), kind: 'bad-signature' },
    { name: 'signature bytes wrong', accept: () => sync.acceptChange(Buffer.from(JSON.stringify(badSignature))), kind: 'bad-signature' },
    {
      name: 'a snapshot signed as a command',
      accept: () =>
        sync.acceptSnapshot(
          Buffer.from(JSON.stringify(signMessage('command', snapshotPayload(2, 2, [['alice', 'green']]) as unknown as CommandMessage, centre))),
        ),
      kind: 'wrong-type',
    },
    {
      name: 'a change sent on the snapshot topic',
      accept: () => sync.acceptSnapshot(change(2, [['alice', 'green']])),
      kind: 'wrong-type',
    },
    {
      name: 'payload against the schema',
      accept: () => sync.acceptChange(Buffer.from(JSON.stringify(signMessage('colour-change', invalid as unknown as ColourChangeMessage, centre)))),
      kind: 'schema',
    },
    { name: 'garbage bytes', accept: () => sync.acceptChange(Buffer.from([0xff, 0x00, 0x13, 0x37, 0x7b])), kind: 'malformed' },
    { name: 'JSON that is no envelope', accept: () => sync.acceptSnapshot(Buffer.from('[1,2,3]')), kind: 'malformed' },
    { name: 'empty', accept: () => sync.acceptChange(Buffer.alloc(0)), kind: 'malformed' },
  ];
  for (const { name, accept, kind } of cases) {
    assert.throws(accept, refusedAs(kind), name);
    assert.deepEqual(contents(store, subs), before, `${name} changed the store`);
  }
  assert.equal(sync.resyncPending, false);
});

test('a seq or version past Number.MAX_SAFE_INTEGER (1e21) is refused as schema naming the field, not a store error; nothing stored', () => {
  const { sync, store } = makeSync();
  sync.acceptChange(change(1, [['alice', 'red']]));
  const before = contents(store, ['alice', 'mallory']);
  const refusedNaming = (field: string) => (error: unknown): boolean => {
    refusedAs('schema')(error);
    assert.match((error as Error).message, new RegExp(`: ${field.replaceAll('.', '\\.')} must be <= `));
    return true;
  };
  // Every other field valid (changePayload's effectiveAt follows the seq): only the one named is out of bounds.
  const mallory = [{ sub: 'mallory', colour: 'green' as Colour, effectiveAt: T0 }];
  const cases: Array<[string, () => unknown, string]> = [
    ['change seq 1e21', () => sync.acceptChange(change(1e21, [], { issuedAt: T0, changes: mallory })), 'seq'],
    ['change seq 2^53', () => sync.acceptChange(change(2 ** 53, [], { issuedAt: T0, changes: mallory })), 'seq'],
    ['change effectiveAt 1e21', () => sync.acceptChange(change(2, [['mallory', 'green']], { changes: [{ sub: 'mallory', colour: 'green', effectiveAt: 1e21 }] })), 'changes.0.effectiveAt'],
    ['snapshot version 1e21', () => sync.acceptSnapshot(snapshot(1e21, 1, [['mallory', 'green']], { issuedAt: T0 })), 'version'],
    ['snapshot seq 1e21', () => sync.acceptSnapshot(snapshot(2, 1e21, [['mallory', 'green']], { issuedAt: T0 })), 'seq'],
  ];
  for (const [name, accept, field] of cases) {
    assert.throws(accept, refusedNaming(field), name);
    assert.deepEqual(contents(store, ['alice', 'mallory']), before, `${name} changed the store`);
  }
  // The largest seq a JS number keeps exact is taken.
  const largest = change(Number.MAX_SAFE_INTEGER, [], { issuedAt: T0 + 5000, changes: mallory });
  assert.equal(sync.acceptChange(largest).kind, 'applied');
  assert.equal(store.sync.seq, Number.MAX_SAFE_INTEGER);
});

test('without centre keys every message is refused', () => {
  const store = new ColourStatusStore();
  const sync = new ColourSync({ store, keys: null, site: SITE, config: { maxSyncAgeSeconds: 300, whenDegraded: 'staff' }, logger });
  syncs.push(sync);
  assert.throws(() => sync.acceptChange(change(1, [['alice', 'red']])), refusedAs('unknown-key'));
  assert.equal(store.size, 0);
});

// ---------------------------------------------------------------------------
// Persistence

test('persistent: statuses, seq, snapshot version, sync time and an open gap are back after reopening the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'colour-sync-test-'));
  tempDirs.push(dir);
  const file = path.join(dir, 'journal.db');
  const clock = new Clock(T0 + 10_000);

  const journal = Journal.open(file);
  const first = makeSync({ store: ColourStatusStore.attach(journal.database), clock });
  first.sync.acceptSnapshot(snapshot(3, 2, [['alice', 'red'], ['bob', 'yellow']]));
  first.sync.acceptChange(change(3, [['bob', 'green']]));
  first.sync.acceptChange(change(6, [['carol', 'red']])); // gap: 4, 5
  const before = contents(first.store, ['alice', 'bob', 'carol']);
  first.sync.stop();
  journal.close();

  const reopened = Journal.open(file);
  assert.equal(reopened.database.pragma('user_version', { simple: true }), GATE_SCHEMA_VERSION, "the journal's schema version is its own");
  const store = ColourStatusStore.attach(reopened.database);
  assert.deepEqual(contents(store, ['alice', 'bob', 'carol']), before);
  const again = makeSync({ store, clock });
  assert.equal(again.sync.lastSeq, 6);
  assert.equal(again.sync.resyncPending, true);
  assert.equal(store.sync.snapshotVersion, 3);
  assert.equal(again.sync.syncAgeMs(), 10_000 - 6000);
  // Still refuses what it had before the restart, and still drops a redelivery.
  assert.throws(() => again.sync.acceptSnapshot(snapshot(2, 9, [])), refusedAs('replayed'));
  assert.equal(again.sync.acceptChange(change(6, [['carol', 'red']])).kind, 'duplicate');
  assert.equal(again.sync.acceptSnapshot(snapshot(4, 5, [['alice', 'red'], ['bob', 'green']]))?.gapClosed, true);
  // The journal still works beside the colour tables.
  assert.equal(reopened.count(), 0);
  reopened.close();
});

test('a batch is one transaction: a failure part-way leaves no status and no seq behind', () => {
  const store = new ColourStatusStore();
  store.applyChanges([{ sub: 'alice', colour: 'red', effectiveAt: T0, seq: 1 }], { seq: 1 });
  const bad = { sub: 'bob', colour: 'blue' as Colour, effectiveAt: T0, seq: 2 }; // the table's CHECK refuses it
  assert.throws(() => store.applyChanges([{ sub: 'carol', colour: 'red', effectiveAt: T0, seq: 2 }, bad], { seq: 2 }));
  assert.equal(store.get('carol'), null);
  assert.equal(store.sync.seq, 1);
  assert.equal(store.size, 1);
  store.close();
});

// ---------------------------------------------------------------------------
// Degraded

test('degraded after maxSyncAgeSeconds without a valid message; synced again on a heartbeat', () => {
  const { sync, clock, events } = makeSync({ maxSyncAgeSeconds: 10 });
  // Never heard from the centre: it gets the same time from start.
  assert.equal(sync.degraded, false);
  assert.equal(sync.syncAgeMs(), null);
  clock.ms = T0 + 10_001;
  assert.equal(sync.check(), true);
  assert.deepEqual(events, [['degraded', { syncAgeMs: null }]]);

  sync.acceptChange(change(1, [['alice', 'red']], { issuedAt: clock.ms }));
  assert.equal(sync.degraded, false);
  assert.deepEqual(events.at(-1), ['synced', { syncAgeMs: 0 }]);

  clock.ms += 10_000;
  assert.equal(sync.degraded, false, 'exactly the limit is still synced');
  clock.ms += 1;
  assert.equal(sync.degraded, true);
  assert.deepEqual(events.at(-1), ['degraded', { syncAgeMs: 10_001 }]);
  // A refused message does not bring the gate back.
  assert.throws(() => sync.acceptChange(change(1, [], { issuedAt: T0 })), refusedAs('replayed'));
  assert.equal(sync.degraded, true);

  sync.acceptChange(change(1, [], { issuedAt: clock.ms - 500 }));
  assert.equal(sync.degraded, false);
  assert.deepEqual(events.map(([name]) => name), ['degraded', 'synced', 'degraded', 'synced']);
  assert.equal(sync.check(), false);
  assert.equal(events.length, 4, 'no event without a change');
});

test('an old snapshot delivered late does not make a cut-off gate look synced; a restart remembers the age', () => {
  const store = new ColourStatusStore();
  const clock = new Clock(T0 + 3_600_000);
  const { sync } = makeSync({ store, clock, maxSyncAgeSeconds: 60 });
  sync.acceptSnapshot(snapshot(1, 5, [['alice', 'red']])); // issued an hour ago, retained since
  assert.equal(sync.syncAgeMs(), 3_600_000 - 5500);
  clock.ms += 60_001;
  assert.equal(sync.degraded, true);
  sync.stop();

  // A gate restarted after an hour cut off is degraded from its first decision.
  const restarted = makeSync({ store, clock, maxSyncAgeSeconds: 60 });
  assert.equal(restarted.sync.degraded, true);
  assert.deepEqual(restarted.events, [], 'its starting state is no transition');
});

/** A journal file in a temp dir, reopened by each call of the returned function. */
function journalFile(): () => Journal {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'colour-sync-test-'));
  tempDirs.push(dir);
  const file = path.join(dir, 'journal.db');
  return () => Journal.open(file);
}

test('restarted on its journal, a gate that last heard from the centre long ago is degraded from its first check', () => {
  const open = journalFile();
  const clock = new Clock(T0);
  const journal = open();
  // Heard from the centre at T0 - 10 min, as a run of the agent long ago left it in the file.
  ColourStatusStore.attach(journal.database).setSync({ seq: 4, issuedAt: T0 - 600_000, syncedAt: T0 - 600_000 });
  journal.close();

  const reopened = open();
  const { sync, events } = makeSync({ store: ColourStatusStore.attach(reopened.database), clock, maxSyncAgeSeconds: 60 });
  assert.equal(sync.syncAgeMs(), 600_000);
  assert.equal(sync.degraded, true);
  assert.deepEqual(events, [], 'its starting state is no transition');
  sync.stop();
  reopened.close();
});

test('a gate that never heard from the centre gets maxSyncAgeSeconds from its first start once: a restart does not grant it again', () => {
  const open = journalFile();
  const clock = new Clock(T0);
  const start = (): { sync: ColourSync; journal: Journal } => {
    const journal = open();
    return { sync: makeSync({ store: ColourStatusStore.attach(journal.database), clock, maxSyncAgeSeconds: 60 }).sync, journal };
  };
  const stop = (run: { sync: ColourSync; journal: Journal }): void => {
    run.sync.stop();
    run.journal.close();
  };

  // A fresh gate: the grace period, and it runs on across a restart within it.
  let run = start();
  assert.equal(run.sync.degraded, false);
  stop(run);
  clock.ms = T0 + 45_000;
  run = start();
  assert.equal(run.sync.degraded, false, 'still within the minute from the first start');
  clock.ms = T0 + 60_001;
  assert.equal(run.sync.degraded, true, 'the minute counts from the first start, not from the restart');
  stop(run);

  // Restarted long after its first start, never having heard the centre: degraded at once.
  clock.ms = T0 + 3_600_000;
  run = start();
  assert.equal(run.sync.syncAgeMs(), null, 'never heard from');
  assert.equal(run.sync.degraded, true);
  assert.equal(ColourStatusStore.attach(run.journal.database).firstStart(clock.ms), T0, 'the first start is never overwritten');
  // Hearing from the centre ends it as for any gate.
  run.sync.acceptChange(change(1, [], { issuedAt: clock.ms }));
  assert.equal(run.sync.degraded, false);
  stop(run);
});

test('a heartbeat ahead of the last applied seq is a missed change: resync, and the store knows the gap', () => {
  const { sync, store, events } = makeSync();
  sync.acceptChange(change(7, [['alice', 'green']]));
  events.length = 0;
  // Change 8 (say bob turned red) never arrives; the heartbeat repeats the centre's seq, 8.
  const beat = sync.acceptChange(change(8, []));
  assert.equal(beat.gap, true);
  assert.deepEqual(events, [['resync', { seq: 7, missingUpTo: 8 }]]);
  assert.equal(sync.resyncPending, true);
  // A snapshot at 7 does not cover it; one at 8 does, and brings bob's red.
  assert.equal(sync.acceptSnapshot(snapshot(1, 7, [['alice', 'green']]))?.gapClosed, false);
  assert.equal(sync.acceptSnapshot(snapshot(2, 8, [['alice', 'green'], ['bob', 'red']]))?.gapClosed, true);
  assert.equal(colourOf(store, 'bob'), 'red');
  assert.equal(sync.resyncPending, false);
});

test('a gap no snapshot fills: the resync is asked again, less often, and after maxSyncAgeSeconds the gate is degraded despite heartbeats', () => {
  const { sync, clock, events } = makeSync({ maxSyncAgeSeconds: 60 });
  sync.acceptChange(change(1, [['alice', 'green']]));
  sync.acceptChange(change(3, [['carol', 'green']], { issuedAt: clock.ms }));
  assert.deepEqual(events.map(([name]) => name), ['resync']);
  const resyncsAt = (seconds: number): number => {
    clock.ms += seconds * 1000;
    // Heartbeats keep coming: the centre is there, but the gap stays.
    sync.acceptChange(change(3, [], { issuedAt: clock.ms }));
    sync.check();
    return events.filter(([name]) => name === 'resync').length;
  };
  assert.equal(resyncsAt(5), 1, 'not again before 10 s');
  assert.equal(resyncsAt(6), 2, 'again after 10 s');
  assert.equal(resyncsAt(12), 2, 'then after 20 s');
  assert.equal(resyncsAt(9), 3);
  assert.equal(sync.degraded, false, '32 s into the gap');
  assert.equal(resyncsAt(30), 3);
  assert.equal(sync.degraded, true, '62 s into the gap, heartbeats or not');
  assert.ok(events.some(([name]) => name === 'degraded'));
  // The covering snapshot ends it.
  sync.acceptSnapshot(snapshot(1, 3, [['alice', 'green'], ['bob', 'red'], ['carol', 'green']], { issuedAt: clock.ms }));
  assert.equal(sync.degraded, false);
  assert.equal(sync.resyncPending, false);
});

test('a centre certificate past its validity signs nothing: refused as unknown-key, store unchanged', async () => {
  const expired = await createSignerCertificate({ subject: 'CN=Retired Centre, O=Test, C=CN', notBefore: new Date(Date.now() - 40 * 86_400_000), days: 30 });
  const retiredKeys = new TrustStore();
  retiredKeys.add(expired.certificate, 'retired centre');
  const signer: MessageSigner = messageSigner(expired);
  const store = new ColourStatusStore();
  const sync = new ColourSync({ store, keys: retiredKeys, site: SITE, config: { maxSyncAgeSeconds: 300, whenDegraded: 'staff' }, logger, checkIntervalMs: 3_600_000 });
  syncs.push(sync);
  const message = Buffer.from(JSON.stringify(signMessage('colour-change', changePayload(1, [['alice', 'red']], { issuedAt: Date.now() }), signer)));
  assert.throws(() => sync.acceptChange(message), refusedAs('unknown-key'));
  assert.equal(store.get('alice'), null);
});
