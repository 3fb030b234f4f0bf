/** Sealed registrations kept in the journal's file and purged after retentionDays, by an injected clock. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { RegistrationStore } from '../../edge-agent/privacy/retention.js';
import { generateAuthorityKeyPair, loadAuthorityKey, loadAuthorityPrivateKey, openSealedRecord, sealRecord } from '../../protocol/privacy/sealed-record.js';

const DAY = 86_400_000;
const pair = generateAuthorityKeyPair();
const publicKey = loadAuthorityKey(pair.publicKeyPem);

const tempDirs: string[] = [];
after(() => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function openJournal(): { journal: Journal; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retention-'));
  tempDirs.push(dir);
  const file = path.join(dir, 'journal.db');
  return { journal: Journal.open(file), file };
}

function sealedAt(time: number, name = '李四') {
  return sealRecord(
    { name, nationalId: '110105200002291234', phone: '13900139000', temperatureC: 36.4, time: new Date(time).toISOString(), site: 'demo-mall', lane: 'lane-1', eventId: randomUUID() },
    publicKey,
  );
}

test('retention: records older than retentionDays go, newer ones stay', () => {
  const { journal } = openJournal();
  const store = new RegistrationStore(journal.database, { retentionDays: 21 });
  const now = Date.UTC(2026, 10, 25, 12);
  const old = sealedAt(now - 30 * DAY);
  const edge = sealedAt(now - 21 * DAY); // exactly 21 days: kept until it is older
  const recent = sealedAt(now - 2 * DAY);
  for (const s of [old, edge, recent]) store.add(s);
  assert.equal(store.count(), 3);

  assert.equal(store.purge(new Date(now)), 1);
  assert.equal(store.get(old.eventId), undefined);
  assert.deepEqual(store.get(recent.eventId), recent);
  assert.equal(store.purge(now), 0, 'a second purge at the same time finds nothing');

  assert.equal(store.purge(now + 1), 1, 'a millisecond later the 21-day-old one goes');
  assert.equal(store.purge(now + 19 * DAY), 0, 'the 2-day-old one is now exactly 21 days old: kept');
  assert.equal(store.purge(now + 19 * DAY + 1), 1);
  assert.equal(store.count(), 0);
  journal.close();
});

test('retention: the journal\'s events are not touched, and records survive a reopen', () => {
  const { journal, file } = openJournal();
  const store = new RegistrationStore(journal.database, { retentionDays: 1 });
  const now = Date.UTC(2026, 10, 25, 12);
  journal.append({
    id: randomUUID(), time: new Date(now - 100 * DAY).toISOString(), site: 'demo-mall', lane: 'lane-1', verdict: 'pass', reason: 'staff-registered',
    decidedBy: 'staff', subject: null, colour: null, temperatureC: 36.4, sensorFault: null, credential: null, decisionMs: 5,
  });
  const kept = sealedAt(now - DAY / 2);
  store.add(sealedAt(now - 3 * DAY));
  store.add(kept);
  journal.close();

  const reopened = Journal.open(file);
  const again = new RegistrationStore(reopened.database, { retentionDays: 1 });
  assert.equal(again.count(), 2);
  assert.equal(again.purge(now), 1);
  assert.equal(reopened.count(), 1, 'the journal keeps its event');
  const opened = openSealedRecord(again.get(kept.eventId)!, loadAuthorityPrivateKey(pair.privateKeyPem));
  assert.equal(opened.name, '李四');
  reopened.close();
});

test('retention: only sealed records are stored; the file holds no name in clear', () => {
  const { journal, file } = openJournal();
  const store = new RegistrationStore(journal.database, { retentionDays: 21 });
  const sealed = sealedAt(Date.now(), 'Wang Wu');
  assert.throws(() => store.add({ ...sealed, nonce: 'short' }), /nonce/);
  assert.throws(() => store.add({ ...sealed, time: 'yesterday' }), /ISO 8601/);
  store.add(sealed);
  assert.throws(() => store.add(sealed), /UNIQUE/);
  journal.close();
  for (const f of fs.readdirSync(path.dirname(file))) {
    const bytes = fs.readFileSync(path.join(path.dirname(file), f));
    for (const secret of ['Wang Wu', '李四', '110105200002291234', '13900139000']) assert.ok(!bytes.includes(Buffer.from(secret)), `${f}: ${secret}`);
  }
});

test('retention: retentionDays must be a whole number of days', () => {
  const { journal } = openJournal();
  for (const days of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new RegistrationStore(journal.database, { retentionDays: days }), RangeError);
  }
  journal.close();
});

test('config: privacy.retentionDays defaults to 21 and stays within 1–365', () => {
  const minimal = { site: 's', lane: 'l' };
  assert.equal(checkConfig(minimal).privacy.retentionDays, 21);
  assert.equal(checkConfig(minimal).privacy.authorityKey, undefined);
  assert.equal(checkConfig({ ...minimal, privacy: { retentionDays: 365, authorityKey: '/etc/gate/a.pem' } }).privacy.authorityKey, '/etc/gate/a.pem');
  for (const retentionDays of [0, 366, 7.5]) {
    assert.throws(() => checkConfig({ ...minimal, privacy: { retentionDays } }), /privacy\.retentionDays/);
  }
});
