/**
 * Epochs of the centre's colour sequence (docs/keys.md): a message without
 * an epoch is of epoch 0, as every message was before; a higher epoch starts
 * the sequence again (its lower seq and snapshot version are taken, and the
 * gate resyncs from the snapshot); a lower one is replayed; the epoch
 * survives a restart. The centre's builder of an epoch's first messages is
 * checked against the gate here too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { epochStartMessages, inEpoch } from '../../centre/keys/epoch.js';
import { ColourSync } from '../../edge-agent/colour/colour-sync.js';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { openGateDatabase } from '../../edge-agent/database/gate-database.js';
import type { ColourChangeMessage, ColourSnapshotMessage } from '../../protocol/contract.js';
import { MessageError } from '../../protocol/message-error.js';
import { messageSigner, signMessage, type MessageSigner } from '../../protocol/signed-message.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';

const SITE = 'epoch-site';
const T0 = 1_750_000_000_000;
const logger = pino({ level: 'silent' });
let centre: MessageSigner;
let keys: TrustStore;
const syncs: ColourSync[] = [];
const dirs: string[] = [];

before(async () => {
  const made = await createSignerCertificate({ subject: 'CN=Epoch Centre, O=Test, C=CN' });
  centre = messageSigner(made);
  keys = new TrustStore();
  keys.add(made.certificate, 'centre');
});
after(() => {
  for (const sync of syncs) sync.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

let clock = T0 + 3_600_000;
function makeSync(store = new ColourStatusStore()): { sync: ColourSync; store: ColourStatusStore; resyncs: number[] } {
  const sync = new ColourSync({ store, keys, site: SITE, config: { maxSyncAgeSeconds: 300, whenDegraded: 'staff' }, now: () => clock, logger, checkIntervalMs: 3_600_000 });
  syncs.push(sync);
  const resyncs: number[] = [];
  sync.on('resync', (info) => resyncs.push(info.missingUpTo));
  return { sync, store, resyncs };
}

function change(seq: number, changes: [string, 'green' | 'yellow' | 'red'][], epoch?: number, issuedAt = T0 + seq * 1000): Buffer {
  const payload: ColourChangeMessage = { type: 'colour-change', site: SITE, seq, issuedAt, changes: changes.map(([sub, colour]) => ({ sub, colour, effectiveAt: issuedAt })) };
  return Buffer.from(JSON.stringify(signMessage('colour-change', epoch === undefined ? payload : { ...payload, epoch }, centre)));
}

function snapshot(version: number, seq: number, statuses: [string, 'green' | 'yellow' | 'red'][], epoch?: number): Buffer {
  const payload: ColourSnapshotMessage = { type: 'colour-snapshot', site: SITE, version, seq, issuedAt: T0 + seq * 1000 + 500, statuses: statuses.map(([sub, colour]) => ({ sub, colour, effectiveAt: T0 })) };
  return Buffer.from(JSON.stringify(signMessage('colour-snapshot', epoch === undefined ? payload : { ...payload, epoch }, centre)));
}

const replayed = (error: unknown): boolean => error instanceof MessageError && error.code === 'replayed' && /epoch/.test(error.message);

test('a message without an epoch is of epoch 0, as before; epoch 0 written out is the same', () => {
  const { sync, store } = makeSync();
  assert.equal(sync.acceptChange(change(1, [['alice', 'red']])).kind, 'applied');
  assert.equal(sync.acceptChange(change(2, [['bob', 'green']], 0)).kind, 'applied');
  assert.equal(store.sync.epoch, 0);
  assert.equal(sync.epoch, 0);
  assert.equal(store.sync.seq, 2);
});

test('a change of a higher epoch starts the sequence again: its low seq is applied, over the old epoch statuses, and a resync is asked for', () => {
  const { sync, store, resyncs } = makeSync();
  sync.acceptChange(change(1, [['alice', 'red'], ['bob', 'yellow']]));
  sync.acceptChange(change(40, [['carol', 'red']]));
  assert.equal(store.get('alice')?.seq, 1);
  resyncs.length = 0;

  const outcome = sync.acceptChange(change(1, [['alice', 'green']], 1, T0 + 100_000));
  assert.deepEqual(outcome, { kind: 'applied', applied: 1, seq: 1, gap: true });
  assert.equal(store.sync.epoch, 1);
  assert.equal(store.sync.seq, 1, 'the new epoch seq, lower than the old one');
  assert.equal(store.get('alice')?.colour, 'green', 'applied although the old epoch had alice at seq 1');
  assert.deepEqual(store.get('bob'), { colour: 'yellow', effectiveAt: T0 + 1000, seq: 0 }, 'kept, at seq 0, until the new epoch says otherwise');
  assert.equal(resyncs.length, 1, 'the new epoch is read from its snapshot');
  assert.equal(sync.resyncPending, true);

  // The new epoch's snapshot closes it and withdraws what it does not list; the next seq follows on.
  const applied = sync.acceptSnapshot(snapshot(1, 1, [['alice', 'green']], 1));
  assert.equal(applied?.gapClosed, true);
  assert.equal(store.get('bob'), null, 'the old epoch status the new snapshot does not list is gone');
  assert.equal(sync.acceptChange(change(2, [['dave', 'red']], 1, T0 + 101_000)).gap, false);
});

test('a snapshot of a higher epoch is taken with a lower version; the old epoch is then replayed, with or without its epoch field', () => {
  const { sync, store } = makeSync();
  sync.acceptSnapshot(snapshot(9, 30, [['alice', 'red'], ['bob', 'red']]));
  sync.acceptChange(change(31, [['carol', 'yellow']]));
  const applied = sync.acceptSnapshot(snapshot(1, 1, [['alice', 'green']], 2));
  assert.deepEqual(applied && { version: applied.version, seq: applied.seq, removed: applied.removed }, { version: 1, seq: 1, removed: 2 });
  assert.deepEqual([store.sync.epoch, store.sync.snapshotVersion, store.sync.seq], [2, 1, 1]);

  const before = JSON.stringify({ sync: store.sync, alice: store.get('alice'), size: store.size });
  assert.throws(() => sync.acceptChange(change(32, [['alice', 'red']])), replayed, 'no epoch field: epoch 0');
  assert.throws(() => sync.acceptChange(change(32, [['alice', 'red']], 1)), replayed);
  assert.throws(() => sync.acceptSnapshot(snapshot(10, 32, [['alice', 'red']], 1)), replayed);
  assert.throws(() => sync.acceptSnapshot(snapshot(10, 32, [['alice', 'red']])), replayed);
  assert.equal(JSON.stringify({ sync: store.sync, alice: store.get('alice'), size: store.size }), before, 'a refused message changes nothing');
});

test('the epoch is kept in the gate database: after a restart the old epoch is still refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'colour-epoch-'));
  dirs.push(dir);
  const file = path.join(dir, 'journal.db');
  const db = openGateDatabase(file);
  const first = makeSync(ColourStatusStore.attach(db));
  first.sync.acceptChange(change(5, [['alice', 'red']]));
  first.sync.acceptChange(change(1, [['alice', 'green']], 3, T0 + 200_000));
  first.sync.stop();
  db.close();

  const again = openGateDatabase(file);
  const second = makeSync(ColourStatusStore.attach(again));
  assert.equal(second.sync.epoch, 3);
  assert.throws(() => second.sync.acceptChange(change(6, [['alice', 'red']])), replayed);
  assert.throws(() => second.sync.acceptChange(change(2, [['alice', 'red']], 2, T0 + 201_000)), replayed);
  assert.equal(second.sync.acceptChange(change(2, [['bob', 'red']], 3, T0 + 202_000)).kind, 'applied');
  again.close();
});

test("the centre's epoch start (snapshot, then a change at its seq with no changes) brings a gate into the epoch in either order", () => {
  const issuedAt = T0 + 500_000;
  const { snapshot: snap, change: first } = epochStartMessages({ site: SITE, epoch: 4, seq: 1, issuedAt, statuses: [{ sub: 'alice', colour: 'yellow', effectiveAt: T0 }] });
  assert.equal(snap.epoch, 4);
  const signed = (typ: 'colour-change' | 'colour-snapshot', payload: ColourChangeMessage | ColourSnapshotMessage): Buffer =>
    Buffer.from(JSON.stringify(signMessage(typ, payload as never, centre)));

  for (const order of ['snapshot first', 'change first'] as const) {
    const { sync, store } = makeSync();
    sync.acceptChange(change(70, [['alice', 'red'], ['zoe', 'red']]));
    if (order === 'snapshot first') {
      assert.equal(sync.acceptSnapshot(signed('colour-snapshot', snap))?.removed, 1);
      assert.equal(sync.acceptChange(signed('colour-change', first)).kind, 'heartbeat');
    } else {
      assert.equal(sync.acceptChange(signed('colour-change', first)).gap, true);
      assert.equal(sync.acceptSnapshot(signed('colour-snapshot', snap))?.gapClosed, true);
    }
    assert.deepEqual([store.sync.epoch, store.sync.seq, sync.resyncPending, store.get('alice')?.colour, store.get('zoe')], [4, 1, false, 'yellow', null], order);
  }
});

test('the centre writes the epoch only above 0, and refuses an epoch start that cannot be one', () => {
  const change0: ColourChangeMessage = { type: 'colour-change', site: SITE, seq: 3, issuedAt: T0, changes: [] };
  assert.equal('epoch' in inEpoch({ ...change0, epoch: 5 }, 0), false, 'a gate of an earlier release takes no epoch field');
  assert.equal(inEpoch(change0, 2).epoch, 2);
  assert.throws(() => inEpoch(change0, -1), RangeError);
  assert.throws(() => epochStartMessages({ site: SITE, epoch: 1, seq: 0, issuedAt: T0, statuses: [] }), /seq 1 or later/);
  assert.throws(() => epochStartMessages({ site: SITE, epoch: 0, seq: 1, issuedAt: T0, statuses: [] }), /1 or more/);
});
