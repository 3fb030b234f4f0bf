/**
 * The centre's key ring (centre/keys/): the next key made beside the current
 * one (0600), announced signed by the current key, the switch at activeFrom
 * with the files renamed so the site folder names the new key, the retired
 * private key deleted after the overlap, a switch a crash cut short
 * completed at the next open, and what it refuses. The trust list push
 * checks a list as the gates would before sending it.
 */
import { X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { CentreError } from '../../centre/errors.js';
import { readSigningKey, writeSigningKey } from '../../centre/keys/key-files.js';
import { KeyRing } from '../../centre/keys/key-ring.js';
import { checkTrustList, publishTrustList } from '../../centre/keys/trust-list-push.js';
import { messageSigner, openLeafMessage, openLeafMessageWithSigner, signJws } from '../../protocol/signed-message.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { kidOf, TrustStore } from '../../protocol/trust/trust-store.js';

const SITE = 'ring-site';
const HOUR = 3_600_000;
const logger = pino({ level: 'silent' });
let first: SignerKeyPair;
let issuer: SignerKeyPair;
const dirs: string[] = [];
const rings: KeyRing[] = [];

before(async () => {
  first = await createSignerCertificate({ subject: 'CN=Ring centre' });
  issuer = await createSignerCertificate({ subject: 'CN=Ring issuer' });
});
after(() => {
  rings.forEach((ring) => ring.stop());
  dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }));
});

class Clock {
  ms = Date.now();
  readonly now = (): number => this.ms;
}

function siteFolder(passphrase?: string): { dir: string; files: { key: string; certificate: string } } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'key-ring-'));
  dirs.push(dir);
  const files = { key: path.join(dir, 'centre.key'), certificate: path.join(dir, 'centre.pem') };
  writeSigningKey(files, first, passphrase);
  return { dir, files };
}

function open(files: { key: string; certificate: string }, clock: Clock, passphrase?: string): KeyRing {
  const ring = new KeyRing({ site: SITE, files, logger, now: clock.now, ...(passphrase ? { passphrase } : {}) });
  rings.push(ring);
  return ring;
}

const kid = (pem: string): string => kidOf(new X509Certificate(pem).raw).toString('base64url');
const mode = (file: string): number => fs.statSync(file).mode & 0o777;

test('a rollover: the next key beside the current one, announced by it; the switch at activeFrom; the old key deleted after the overlap', async () => {
  const { dir, files } = siteFolder('site passphrase');
  const clock = new Clock();
  const ring = open(files, clock, 'site passphrase');
  assert.equal(ring.announcement, null);
  const firstKid = ring.status().current.kid;

  const announcement = await ring.prepareNext({ activeFrom: clock.ms + HOUR, previousUntil: clock.ms + 25 * HOUR });
  assert.equal(mode(path.join(dir, 'centre-next.key')), 0o600);
  assert.equal(mode(path.join(dir, 'rollover.json')), 0o600);
  assert.match(fs.readFileSync(path.join(dir, 'centre-next.key'), 'utf8'), /ENCRYPTED PRIVATE KEY/, 'encrypted as the site keys are');
  // A gate holding the first key opens it.
  const gateKeys = new TrustStore();
  gateKeys.add(first.certificate);
  const { payload, signer } = openLeafMessageWithSigner(JSON.stringify(announcement), 'centre/key', gateKeys);
  assert.equal(signer.kid.toString('base64url'), firstKid);
  assert.deepEqual([payload.site, payload.version, payload.activeFrom, payload.previousUntil], [SITE, 1, clock.ms + HOUR, clock.ms + 25 * HOUR]);
  const nextKid = kid(payload.certificate);
  assert.deepEqual(ring.status().next?.kid, nextKid);
  assert.equal(ring.signer.kid.toString('base64url'), firstKid, 'the current key signs until activeFrom');
  await assert.rejects(ring.prepareNext({ activeFrom: clock.ms + HOUR, previousUntil: clock.ms + 2 * HOUR }), (e: unknown) => e instanceof CentreError && e.code === 'rollover-refused');

  clock.ms += HOUR;
  assert.equal(ring.signer.kid.toString('base64url'), nextKid, 'the next key signs from activeFrom');
  const status = ring.status();
  assert.deepEqual([status.current.kid, status.next, status.retired?.kid, status.version], [nextKid, null, firstKid, 1]);
  assert.equal(kid(fs.readFileSync(files.certificate, 'utf8')), nextKid, 'the site folder names the new key');
  assert.equal(readSigningKey(files, 'site passphrase').certificate.fingerprint256, status.current.fingerprint);
  assert.ok(fs.existsSync(path.join(dir, 'centre-retired.key')) && !fs.existsSync(path.join(dir, 'centre-next.key')));

  clock.ms += 24 * HOUR + 1;
  ring.switchIfDue();
  assert.ok(!fs.existsSync(path.join(dir, 'centre-retired.key')), 'nothing the old key signs is accepted any more');
  assert.ok(fs.existsSync(path.join(dir, 'centre-retired.pem')));

  // Reopened: the same state, and the next rollover is version 2, announced by the new key.
  const again = open(files, clock, 'site passphrase');
  assert.equal(again.status().current.kid, nextKid);
  const keysNow = new TrustStore();
  keysNow.addEncoded(again.certificatePem);
  const second = await again.prepareNext({ activeFrom: clock.ms + 1, previousUntil: clock.ms + HOUR });
  assert.equal(openLeafMessage(JSON.stringify(second), 'centre/key', keysNow).version, 2);
});

test('a switch a crash cut short is completed at the next open', async () => {
  const { dir, files } = siteFolder();
  const clock = new Clock();
  const ring = open(files, clock);
  await ring.prepareNext({ activeFrom: clock.ms + HOUR, previousUntil: clock.ms + 2 * HOUR });
  const nextKid = ring.status().next!.kid;
  ring.stop();
  // The crash: the current key moved aside, the next one not yet in place.
  fs.renameSync(files.key, path.join(dir, 'centre-retired.key'));
  fs.renameSync(files.certificate, path.join(dir, 'centre-retired.pem'));
  clock.ms += HOUR;
  const reopened = open(files, clock);
  assert.equal(reopened.status().current.kid, nextKid);
  assert.equal(reopened.status().next, null);
  assert.equal(reopened.signer.kid.toString('base64url'), nextKid);
});

test('what the key ring refuses: times in the wrong order, a next key outliving its certificate, files that are not a key pair', async () => {
  const { dir, files } = siteFolder();
  const clock = new Clock();
  const ring = open(files, clock);
  const refused = (pattern: RegExp) => (e: unknown) => e instanceof CentreError && e.code === 'rollover-refused' && pattern.test(e.message);
  await assert.rejects(ring.prepareNext({ activeFrom: clock.ms - 1, previousUntil: clock.ms + HOUR }), refused(/now or later/));
  await assert.rejects(ring.prepareNext({ activeFrom: clock.ms + HOUR, previousUntil: clock.ms }), refused(/at or after activeFrom/));
  await assert.rejects(ring.prepareNext({ activeFrom: clock.ms, previousUntil: clock.ms + 400 * 24 * HOUR, days: 30 }), refused(/ends before previousUntil/));
  assert.equal(ring.status().next, null, 'nothing announced');
  assert.ok(!fs.existsSync(path.join(dir, 'rollover.json')));

  const other = await createSignerCertificate({ subject: 'CN=Other' });
  fs.writeFileSync(files.certificate, other.certificatePem);
  assert.throws(() => open(files, clock), (e: unknown) => e instanceof CentreError && e.code === 'key-file' && /is not the key of/.test(e.message));
  fs.writeFileSync(files.key, 'not a key');
  assert.throws(() => open(files, clock), (e: unknown) => e instanceof CentreError && e.code === 'key-file' && e.message.includes(files.key));
});

test('the trust list push checks the list as a gate would, and publishes the bytes as they are, retained', async () => {
  const source = { site: SITE, certificatePem: first.certificatePem };
  const list = (fields: Record<string, unknown>, by = first): Buffer =>
    Buffer.from(`\uFEFF${JSON.stringify(signJws('trust-list', { type: 'trust-list', site: SITE, version: 4, issuedAt: Date.now(), certificates: [issuer.certificatePem], ...fields }, messageSigner(by)))}\n`);
  assert.equal(checkTrustList(list({}), source).version, 4);
  const refused = (pattern: RegExp) => (e: unknown) => e instanceof CentreError && e.code === 'trust-list-refused' && pattern.test(e.message);
  assert.throws(() => checkTrustList(list({ site: 'elsewhere' }), source), refused(/made for site "elsewhere"/));
  assert.throws(() => checkTrustList(list({}, issuer), source), refused(/key in force now/));
  assert.throws(() => checkTrustList(list({ certificates: [] }), source), refused(/no issuer certificate/));

  const sent: Array<{ topic: string; body: string; options: unknown }> = [];
  const client = { publishAsync: async (topic: string, body: string | Buffer, options: unknown) => void sent.push({ topic, body: body.toString(), options }) };
  await assert.rejects(publishTrustList(client, 'hc/v1', source, list({ site: 'elsewhere' })), refused(/elsewhere/));
  assert.equal(sent.length, 0, 'a refused list is not sent');
  const good = list({});
  assert.equal((await publishTrustList(client, 'hc/v1', source, good)).version, 4);
  assert.deepEqual(sent, [{ topic: `hc/v1/${SITE}/centre/trust-list`, body: good.toString('utf8').slice(1).trim(), options: { qos: 1, retain: true } }]);
});
