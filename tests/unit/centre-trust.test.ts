/**
 * The gate's side of the centre's key rollover and pushed trust list
 * (docs/keys.md): an announcement signed by a trusted centre key brings the
 * next key from activeFrom and ends the old one at previousUntil; both are
 * kept in the gate database; every announcement or list refused is a
 * MessageError of a security kind, and changes nothing. A pushed list newer
 * than the one in force is applied and kept across a restart; the same one
 * again is dropped quietly, an older one is replayed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { CentreKeyRollover } from '../../edge-agent/credential/centre-key-rollover.js';
import { TrustListVersions } from '../../edge-agent/credential/trust-list-versions.js';
import { openGateDatabase, type GateDatabase } from '../../edge-agent/database/gate-database.js';
import { centreTrustHandlers } from '../../edge-agent/link/centre-trust.js';
import type { CentreKeyMessage, SecurityKind } from '../../protocol/contract.js';
import { MessageError } from '../../protocol/message-error.js';
import { messageSigner, openLeafMessage, signJws, signLeafMessage, type MessageSigner } from '../../protocol/signed-message.js';
import { CentreKeys, KEY_ACTIVATION_SKEW_MS } from '../../protocol/trust/centre-keys.js';
import { IssuerTrust } from '../../protocol/trust/trust-list.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';

const SITE = 'roll-site';
const LANE = 'lane-1';
const HOUR = 3_600_000;
const logger = pino({ level: 'silent' });
let a: SignerKeyPair;
let b: SignerKeyPair;
let c: SignerKeyPair;
let stranger: SignerKeyPair;
let issuer1: SignerKeyPair;
let issuer2: SignerKeyPair;
const dirs: string[] = [];

before(async () => {
  const made = await Promise.all(
    ['CN=Centre A', 'CN=Centre B', 'CN=Centre C', 'CN=Stranger', 'CN=Issuer 1', 'CN=Issuer 2'].map((subject) => createSignerCertificate({ subject })),
  );
  [a, b, c, stranger, issuer1, issuer2] = made as [SignerKeyPair, SignerKeyPair, SignerKeyPair, SignerKeyPair, SignerKeyPair, SignerKeyPair];
});
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'centre-trust-'));
  dirs.push(dir);
  return dir;
}

class Clock {
  ms = Date.now();
  readonly now = (): number => this.ms;
}

/** A gate's keys over its database: given key A, with what earlier announcements said. */
function gate(db: GateDatabase, clock: Clock): { keys: CentreKeys; rollover: CentreKeyRollover } {
  const given = new TrustStore();
  given.add(a.certificate, 'centre.pem');
  const keys = CentreKeys.of(given, clock.now);
  return { keys, rollover: new CentreKeyRollover({ db, site: SITE, keys, logger, now: clock.now }) };
}

function announcement(by: SignerKeyPair, next: SignerKeyPair, fields: Partial<CentreKeyMessage> = {}, clock = new Clock()): Buffer {
  const payload: CentreKeyMessage = {
    type: 'centre-key',
    site: SITE,
    version: 1,
    issuedAt: clock.ms,
    certificate: next.certificatePem,
    activeFrom: clock.ms + HOUR,
    previousUntil: clock.ms + 24 * HOUR,
    ...fields,
  };
  return Buffer.from(JSON.stringify(signLeafMessage('centre/key', payload, messageSigner(by))));
}

/** A heartbeat-sized colour change signed by `by`: what every centre message is checked as. */
function changeBy(by: SignerKeyPair): Buffer {
  return Buffer.from(JSON.stringify(signLeafMessage('colour/change', { type: 'colour-change', site: SITE, seq: 1, issuedAt: Date.now(), changes: [] }, messageSigner(by))));
}
const opens = (keys: CentreKeys, by: SignerKeyPair): boolean => {
  try {
    openLeafMessage(changeBy(by), 'colour/change', keys);
    return true;
  } catch (error) {
    if (error instanceof MessageError && error.code === 'unknown-key') return false;
    throw error;
  }
};

function refusedAs(kind: SecurityKind, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof MessageError, `a MessageError, got ${String(error)}`);
    assert.equal(error.code, kind, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

test('an announcement by the key in force: the next key from activeFrom, the old one until previousUntil, then refused', () => {
  const clock = new Clock();
  const db = openGateDatabase(':memory:');
  const { keys, rollover } = gate(db, clock);
  assert.ok(opens(keys, a) && !opens(keys, b));

  const outcome = rollover.accept(announcement(a, b, {}, clock));
  assert.equal(outcome.kind, 'applied');
  assert.equal(rollover.version, 1);
  assert.ok(opens(keys, a), 'the old key during the overlap');
  assert.ok(!opens(keys, b), 'the next key not before activeFrom (less the skew)');
  clock.ms += HOUR - KEY_ACTIVATION_SKEW_MS + 1;
  assert.ok(opens(keys, b), 'the next key a little early, for clocks that differ');
  clock.ms += KEY_ACTIVATION_SKEW_MS;
  assert.ok(opens(keys, a) && opens(keys, b), 'both, between activeFrom and previousUntil');
  clock.ms += 23 * HOUR;
  assert.ok(!opens(keys, a), 'the old key after previousUntil: unknown-key');
  assert.ok(opens(keys, b));
  assert.throws(() => openLeafMessage(changeBy(a), 'colour/change', keys), refusedAs('unknown-key'));
  db.close();
});

test('the windows are kept in the gate database: a restart after the overlap still refuses the old key', () => {
  const file = path.join(tempDir(), 'journal.db');
  const clock = new Clock();
  const db = openGateDatabase(file);
  const first = announcement(a, b, {}, clock);
  gate(db, clock).rollover.accept(first);
  db.close();

  clock.ms += 25 * HOUR;
  const again = openGateDatabase(file);
  const { keys, rollover } = gate(again, clock);
  assert.equal(rollover.version, 1);
  assert.ok(!opens(keys, a), 'retired, though mqtt.centreKeys still lists it');
  assert.ok(opens(keys, b));
  // The retained announcement delivered again on a reconnect, signed by the key since retired: dropped quietly.
  assert.equal(rollover.accept(first).kind, 'duplicate');
  assert.throws(() => rollover.accept(announcement(a, c, { version: 2 }, clock)), refusedAs('unknown-key'), 'a new one from the retired key');
  // The next rollover is announced by B.
  assert.equal(rollover.accept(announcement(b, c, { version: 2 }, clock)).kind, 'applied');
  clock.ms += 2 * HOUR;
  assert.ok(opens(keys, b) && opens(keys, c) && !opens(keys, a));
  again.close();
});

test('every announcement refused is a security kind, and trusts nothing', () => {
  const clock = new Clock();
  const db = openGateDatabase(':memory:');
  const { keys, rollover } = gate(db, clock);
  const cases: [string, Buffer, SecurityKind, RegExp?][] = [
    ['signed by a key the gate does not trust', announcement(stranger, b, {}, clock), 'unknown-key'],
    ['signed by the next key itself', announcement(b, b, {}, clock), 'unknown-key'],
    ['for another site', announcement(a, b, { site: 'other-site' }, clock), 'wrong-target'],
    ['issued an hour ahead', announcement(a, b, { issuedAt: clock.ms + HOUR }, clock), 'stale'],
    ['overlap ending before the switch', announcement(a, b, { previousUntil: clock.ms }, clock), 'schema', /previousUntil/],
    ['announcing the key that signs it', announcement(a, a, {}, clock), 'schema', /the key that signed it/],
    ['a certificate that is none', announcement(a, b, { certificate: 'A'.repeat(100) }, clock), 'schema', /cannot be read/],
    ['a field the schema does not name', Buffer.from(JSON.stringify(signJws('centre-key', { ...JSON.parse(Buffer.from(JSON.parse(announcement(a, b, {}, clock).toString()).payload, 'base64url').toString()), extra: 1 }, messageSigner(a)))), 'schema'],
    ['signed as another kind', Buffer.from(JSON.stringify(signJws('trust-list', { type: 'centre-key' }, messageSigner(a)))), 'wrong-type'],
    ['not a JWS', Buffer.from('{"hello":1}'), 'unsigned'],
  ];
  for (const [what, raw, kind, pattern] of cases) assert.throws(() => rollover.accept(raw), refusedAs(kind, pattern), what);
  clock.ms += 2 * HOUR;
  assert.ok(!opens(keys, b), 'no refused announcement brought the next key');
  assert.equal(rollover.version, null);
  assert.equal(db.prepare('SELECT count(*) FROM centre_keys').pluck().get(), 0);

  rollover.accept(announcement(a, b, { version: 5 }, clock));
  assert.throws(() => rollover.accept(announcement(a, c, { version: 4 }, clock)), refusedAs('replayed', /version 5/), 'an older announcement');
  assert.throws(() => rollover.accept(announcement(a, c, { version: 5 }, clock)), refusedAs('replayed'), 'the same version, other content');
  clock.ms += 2 * HOUR;
  assert.ok(!opens(keys, c));
  db.close();
});

// ---------------------------------------------------------------------------
// The pushed trust list

function list(version: number, by: SignerKeyPair, certificates = [issuer1.certificatePem], site = SITE): Buffer {
  return Buffer.from(JSON.stringify(signJws('trust-list', { type: 'trust-list', site, version, issuedAt: Date.now(), certificates }, messageSigner(by))));
}

function trustGate(file: string, trustFile: string, clock: Clock) {
  const db = openGateDatabase(file);
  const { keys, rollover } = gate(db, clock);
  const issuerTrust = new IssuerTrust({ path: trustFile, centreKeys: keys, site: SITE, lane: LANE, versions: new TrustListVersions(db) });
  let loaded;
  try {
    loaded = issuerTrust.load();
  } catch (error) {
    db.close();
    throw error;
  }
  const verifier = { store: loaded.store, replaceTrust(store: TrustStore) { this.store = store; } };
  const handlers = centreTrustHandlers({ rollover, issuerTrust, verifier, logger });
  return { db, keys, rollover, issuerTrust, verifier, handlers, loaded };
}

const holds = (store: TrustStore, issuer: SignerKeyPair): boolean => store.signers().some((s) => s.certificate.fingerprint256 === issuer.certificate.fingerprint256);

test('a pushed list newer than the one in force is applied at once and kept: a restart keeps it over an older file', () => {
  const dir = tempDir();
  const file = path.join(dir, 'journal.db');
  const trustFile = path.join(dir, 'trust-list.jws');
  fs.writeFileSync(trustFile, list(2, a));
  const clock = new Clock();
  const first = trustGate(file, trustFile, clock);
  assert.equal(first.issuerTrust.version, 2);
  assert.ok(!holds(first.verifier.store, issuer2));

  first.handlers['centre/trust-list'](list(3, a, [issuer1.certificatePem, issuer2.certificatePem]));
  assert.equal(first.issuerTrust.version, 3);
  assert.ok(holds(first.verifier.store, issuer2), 'in the verifier, no restart');
  const again = first.verifier.store;
  first.handlers['centre/trust-list'](list(3, a, [issuer1.certificatePem, issuer2.certificatePem]));
  assert.equal(first.verifier.store, again, 'the same version again (the retained list on a reconnect): dropped quietly');
  assert.throws(() => first.handlers['centre/trust-list'](list(2, a)), refusedAs('replayed', /not newer/));
  assert.throws(() => first.handlers['centre/trust-list'](list(9, a, [issuer1.certificatePem], 'other-site')), refusedAs('wrong-target'));
  assert.throws(() => first.handlers['centre/trust-list'](list(9, stranger)), refusedAs('unknown-key'));
  assert.throws(() => first.handlers['centre/trust-list'](list(9, a, [])), refusedAs('schema', /no issuer certificate/));
  assert.throws(() => first.handlers['centre/trust-list'](Buffer.from('{"protected":"e30","payload":"","signature":"AA"}')), refusedAs('malformed'));
  assert.equal(first.issuerTrust.version, 3, 'nothing refused changed the list');
  first.db.close();

  // Restart: the file is still version 2, the pushed version 3 stays in force.
  const second = trustGate(file, trustFile, clock);
  assert.equal(second.issuerTrust.version, 3);
  assert.ok(holds(second.loaded.store, issuer2));
  assert.throws(() => second.handlers['centre/trust-list'](list(2, a)), refusedAs('replayed'));
  second.db.close();

  // A newer file wins over the pushed list, and from then on the file is what a restart reads.
  fs.writeFileSync(trustFile, list(4, a, [issuer2.certificatePem]));
  const third = trustGate(file, trustFile, clock);
  assert.deepEqual([third.issuerTrust.version, holds(third.loaded.store, issuer1)], [4, false]);
  third.db.close();
});

test('after a rollover the list in force, signed by the retired key, still loads at start; a newer one it signed does not', () => {
  const dir = tempDir();
  const file = path.join(dir, 'journal.db');
  const trustFile = path.join(dir, 'trust-list.jws');
  fs.writeFileSync(trustFile, list(2, a));
  const clock = new Clock();
  const first = trustGate(file, trustFile, clock);
  first.handlers['centre/key'](announcement(a, b, {}, clock));
  first.handlers['centre/trust-list'](list(3, a, [issuer1.certificatePem, issuer2.certificatePem]));
  first.db.close();

  clock.ms += 25 * HOUR; // A retired
  const second = trustGate(file, trustFile, clock);
  assert.equal(second.issuerTrust.version, 3, 'the pushed list A signed, accepted while A was in force');
  assert.throws(() => second.handlers['centre/trust-list'](list(4, a)), refusedAs('unknown-key'), 'a new list from the retired key');
  second.handlers['centre/trust-list'](list(4, b));
  assert.equal(second.issuerTrust.version, 4);
  second.db.close();

  // A newer file the retired key signed does not take over from the pushed list B signed.
  fs.writeFileSync(trustFile, list(5, a));
  const third = trustGate(file, trustFile, clock);
  assert.equal(third.issuerTrust.version, 4);
  third.db.close();
});

test('after a rollover a list file signed by the retired key loads at start only at the version already in force', () => {
  const dir = tempDir();
  const file = path.join(dir, 'journal.db');
  const trustFile = path.join(dir, 'trust-list.jws');
  fs.writeFileSync(trustFile, list(2, a));
  const clock = new Clock();
  const first = trustGate(file, trustFile, clock);
  first.handlers['centre/key'](announcement(a, b, {}, clock));
  first.db.close();
  clock.ms += 25 * HOUR;
  const version = (): number | null => {
    const started = trustGate(file, trustFile, clock);
    started.db.close();
    return started.issuerTrust.version;
  };
  assert.equal(version(), 2);
  fs.writeFileSync(trustFile, list(3, a));
  assert.throws(version, /retired/, 'a newer list signed by the retired key');
  fs.writeFileSync(trustFile, list(3, b));
  assert.equal(version(), 3);
});

test('an announcement that brings back a key an earlier one retired trusts it again, also after a restart', () => {
  const file = path.join(tempDir(), 'journal.db');
  const clock = new Clock();
  const db = openGateDatabase(file);
  const { rollover } = gate(db, clock);
  rollover.accept(announcement(a, b, { activeFrom: clock.ms, previousUntil: clock.ms + HOUR }, clock));
  clock.ms += 2 * HOUR;
  rollover.accept(announcement(b, a, { version: 2, activeFrom: clock.ms, previousUntil: clock.ms + HOUR }, clock));
  db.close();
  clock.ms += 2 * HOUR;
  const again = openGateDatabase(file);
  const { keys } = gate(again, clock);
  assert.deepEqual([opens(keys, a), opens(keys, b)], [true, false]);
  again.close();
});

test('a lane without a signed trust list to keep refuses a pushed one as unexpected-topic', () => {
  const clock = new Clock();
  const db = openGateDatabase(':memory:');
  const { rollover } = gate(db, clock);
  const handlers = centreTrustHandlers({ rollover, issuerTrust: null, verifier: { replaceTrust: () => assert.fail('replaced') }, logger });
  assert.throws(() => handlers['centre/trust-list'](list(3, a)), refusedAs('unexpected-topic'));
  db.close();
});
