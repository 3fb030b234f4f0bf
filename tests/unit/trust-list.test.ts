/**
 * The signed issuer trust list as the agent reads it (credentials.trust):
 * verified with the centre's keys, of kind "trust-list", for the gate's
 * site, not empty, and never older than the list the lane has loaded, also
 * across a restart (the version is kept in the journal file).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  IssuerTrust,
  loadIssuerTrust,
  openTrustList,
  type TrustListPayload,
} from '../../protocol/trust/trust-list.js';
import { TrustError, type TrustListErrorCode } from '../../protocol/trust/errors.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier } from '../../edge-agent/credential/verifier.js';
import { TrustListVersions } from '../../edge-agent/credential/trust-list-versions.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { reloadTrustStore } from '../../edge-agent/link/command-handler.js';
import { messageSigner, signJws, type MessageSigner } from '../../protocol/signed-message.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { ReferencePlatform } from '../../simulator/platform.js';

const SITE = 'mall-1';
const LANE = 'east-1';

let dir: string;
let centre: SignerKeyPair;
let stranger: SignerKeyPair;
let signer: MessageSigner;
let centreKeys: TrustStore;
let platform: ReferencePlatform;
let other: ReferencePlatform;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trust-list-'));
  centre = await createSignerCertificate({ subject: 'CN=Centre' });
  stranger = await createSignerCertificate({ subject: 'CN=Not the centre' });
  signer = messageSigner(centre);
  centreKeys = new TrustStore();
  centreKeys.add(centre.certificate, 'centre.pem');
  platform = await ReferencePlatform.create({ issuerName: 'ISSUER-A' });
  other = await ReferencePlatform.create({ issuerName: 'ISSUER-B' });
});
after(() => rmSync(dir, { recursive: true, force: true }));

function payload(overrides: Partial<Record<keyof TrustListPayload, unknown>> = {}): Record<string, unknown> {
  return { type: 'trust-list', site: SITE, version: 2, issuedAt: Date.now(), certificates: [platform.issuer.certificatePem], ...overrides };
}

function signedList(overrides: Partial<Record<keyof TrustListPayload, unknown>> = {}, by: MessageSigner = signer, typ = 'trust-list'): string {
  return `${JSON.stringify(signJws(typ, payload(overrides), by))}\n`;
}

let fileCount = 0;
function file(text: string | Buffer, name = `list-${++fileCount}.jws`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function refuses(fn: () => unknown, code: TrustListErrorCode, pattern: RegExp, path: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof TrustError, `a TrustError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    assert.ok(error.message.includes(path), `the error names the file: ${error.message}`);
    return true;
  });
}

const check = { centreKeys: null as TrustStore | null, site: SITE };

test('a valid list loads its certificates: codes from those issuers verify, others do not', () => {
  const path = file(signedList({ certificates: [platform.issuer.certificatePem, other.issuer.certificatePem] }));
  const loaded = loadIssuerTrust(path, { ...check, centreKeys });
  assert.equal(loaded.list?.version, 2);
  assert.equal(loaded.store.size, 2);
  const verifier = new CredentialVerifier({ trust: loaded.store });
  assert.equal(verifier.verify(platform.issue({ colour: 'green', maskedName: '张*三' }).code).valid, true);
  assert.equal(verifier.verify(other.issue({ colour: 'green', maskedName: '李*四' }).code).valid, true);

  const only = loadIssuerTrust(file(signedList()), { ...check, centreKeys });
  const result = new CredentialVerifier({ trust: only.store }).verify(other.issue({ colour: 'green', maskedName: '李*四' }).code);
  assert.equal(result.valid, false);
  assert.equal(!result.valid && result.failure, 'untrusted-key');
});

test('recognised by content, not by name: a list named .pem is a list, a certificate named .jws a certificate', () => {
  const list = loadIssuerTrust(file(signedList(), 'issuers.pem'), { ...check, centreKeys });
  assert.equal(list.list?.version, 2);
  const pem = loadIssuerTrust(file(platform.issuer.certificatePem, 'looks-like-a-list.jws'), { ...check, centreKeys });
  assert.equal(pem.list, null);
  assert.equal(pem.store.size, 1);
  const der = loadIssuerTrust(file(platform.issuer.certificate.raw, 'issuer.der'), { ...check, centreKeys });
  assert.equal(der.store.size, 1);
  // A BOM and leading blank lines do not hide a list.
  assert.equal(loadIssuerTrust(file(`\uFEFF\n ${signedList()}`), { ...check, centreKeys }).list?.version, 2);
});

test('a list is refused, naming the file and why: no centre keys, signature, key, kind, site, emptiness, garbage', () => {
  let path = file(signedList());
  refuses(() => loadIssuerTrust(path, check), 'no-centre-keys', /set mqtt\.centreKeys/, path);
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys: new TrustStore() }), 'no-centre-keys', /mqtt\.centreKeys/, path);

  // A payload swapped under the centre's signature.
  const genuine = signJws('trust-list', payload(), signer);
  const swapped = signJws('trust-list', payload({ certificates: [other.issuer.certificatePem] }), signer);
  path = file(JSON.stringify({ ...genuine, payload: swapped.payload }));
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'bad-signature', /signature does not verify/, path);
  // Signed by a key that claims the centre's kid.
  const impostor: MessageSigner = { ...messageSigner(stranger), kid: signer.kid };
  path = file(signedList({}, impostor));
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'bad-signature', /signature does not verify/, path);

  path = file(signedList({}, messageSigner(stranger)));
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'unknown-key', /is not a centre key this gate trusts/, path);

  path = file(signedList({}, signer, 'colour-snapshot'));
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'wrong-type', /signed as "colour-snapshot", expected "trust-list"/, path);
  path = file(signedList({ type: 'colour-snapshot' }));
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'wrong-type', /payload type "colour-snapshot"/, path);

  path = file(signedList({ site: 'mall-2' }));
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'wrong-site', /made for site "mall-2", this gate is of site "mall-1"/, path);

  path = file(signedList({ certificates: [] }));
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'empty-list', /lists no issuer certificate: the gate would refuse every code/, path);

  for (const [bad, pattern] of [
    [{ version: 0 }, /version 0 is not a positive integer/],
    [{ version: '3' }, /version "3" is not a positive integer/],
    [{ certificates: ['not a certificate'] }, /certificate 1 cannot be read/],
    [{ certificates: 'x' }, /certificates is not a list/],
    [{ site: 7 }, /names no site/],
  ] as const) {
    path = file(signedList(bad));
    refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'malformed', pattern, path);
  }

  path = file('{"protected": "garbage');
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'malformed', /not JSON/, path);
  path = file('{"version": 3, "certificates": []}');
  refuses(() => loadIssuerTrust(path, { ...check, centreKeys }), 'malformed', /no JWS signature|not a JWS/, path);
  path = file(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x42]));
  assert.throws(() => loadIssuerTrust(path, { ...check, centreKeys }), (error: unknown) => {
    assert.ok(error instanceof TrustError && error.code === 'not-a-certificate', String(error));
    assert.match(error.message, /is not an X\.509 certificate in PEM or DER/);
    assert.ok(error.message.includes(path));
    return true;
  });
  const missing = join(dir, 'missing.jws');
  assert.throws(() => loadIssuerTrust(missing, { ...check, centreKeys }), new RegExp(`trust store ${missing} cannot be read`));
});

test('a list dropped into a certificate folder is named, not taken for a broken certificate', () => {
  const folder = join(dir, 'issuers');
  mkdirSync(folder);
  writeFileSync(join(folder, 'a.pem'), platform.issuer.certificatePem);
  writeFileSync(join(folder, 'trust-list-v2.jws'), signedList());
  assert.throws(() => loadIssuerTrust(folder, { ...check, centreKeys }), /trust-list-v2\.jws is JSON \(a signed trust list\?\), not a certificate/);
});

test('versions: a reload must be newer; a restart refuses a list older than the one kept in the journal file', () => {
  const journalPath = join(dir, 'journal.db');
  const path = join(dir, 'trust-list.jws');
  const put = (version: number, certificates = [platform.issuer.certificatePem]): void => writeFileSync(path, signedList({ version, certificates }));

  let journal = Journal.open(journalPath);
  let trust = new IssuerTrust({ path, centreKeys, site: SITE, lane: LANE, versions: new TrustListVersions(journal.database) });
  put(2);
  assert.equal(trust.load().list?.version, 2);
  assert.equal(trust.version, 2);
  const verifier = new CredentialVerifier({ trust: new TrustStore() });

  // The same list again, or an older one: a replay.
  refuses(() => reloadTrustStore(verifier, trust), 'not-newer', /version 2 is not newer than version 2 the gate holds/, path);
  put(1);
  refuses(() => reloadTrustStore(verifier, trust), 'not-newer', /version 1 is not newer than version 2/, path);
  assert.equal(verifier.trust.size, 0, 'a refused reload changes nothing');

  put(3, [platform.issuer.certificatePem, other.issuer.certificatePem]);
  assert.equal(
    reloadTrustStore(verifier, trust),
    `2 issuer certificates from ${path} (signed trust list version 3 of site ${SITE})`,
  );
  assert.equal(verifier.trust.size, 2);
  assert.equal(trust.version, 3);
  journal.close();

  // A restart: the lane has had version 3, so version 2 is refused; version 3 itself is fine.
  journal = Journal.open(journalPath);
  const versions = new TrustListVersions(journal.database);
  assert.equal(versions.get(SITE, LANE), 3);
  assert.equal(versions.get(SITE, 'another-lane'), null, 'kept per lane');
  trust = new IssuerTrust({ path, centreKeys, site: SITE, lane: LANE, versions });
  put(2);
  refuses(() => trust.load(), 'not-newer', /version 2 is older than version 3 this gate has already loaded/, path);
  assert.equal(trust.version, null);
  put(3);
  assert.equal(trust.load().list?.version, 3);
  // In a fresh process a reload still needs a version above the kept one.
  refuses(() => trust.reload(), 'not-newer', /not newer than version 3/, path);
  put(4);
  assert.equal(trust.reload().list?.version, 4);
  assert.equal(versions.get(SITE, LANE), 4);
  journal.close();
});

test('issuedAt must be whole milliseconds the journal holds: 1e21, a fraction or a negative time is refused and nothing goes in force', () => {
  const journal = Journal.open(join(dir, 'issued-at.db'));
  const path = join(dir, 'issued-at.jws');
  const trust = new IssuerTrust({ path, centreKeys, site: SITE, lane: LANE, versions: new TrustListVersions(journal.database) });
  for (const issuedAt of [1e21, 2 ** 53, 1.5, -1, '2026-12-07']) {
    writeFileSync(path, signedList({ version: 7, issuedAt }));
    refuses(() => trust.load(), 'malformed', /issuedAt .* is not a time in whole milliseconds/, path);
    assert.equal(trust.version, null, `issuedAt ${String(issuedAt)}: no version in force`);
  }
  writeFileSync(path, signedList({ version: 7 }));
  assert.equal(trust.load().list?.version, 7);
  journal.close();
});

test('openTrustList checks the version bounds it is given', () => {
  const bytes = Buffer.from(signedList({ version: 5 }));
  assert.equal(openTrustList(bytes, 'x.jws', { centreKeys, site: SITE, above: 4, atLeast: 5 }).list.version, 5);
  refuses(() => openTrustList(bytes, 'x.jws', { centreKeys, site: SITE, above: 5 }), 'not-newer', /not newer/, 'x.jws');
  refuses(() => openTrustList(bytes, 'x.jws', { centreKeys, site: SITE, atLeast: 6 }), 'not-newer', /older than version 6/, 'x.jws');
});

test('reload-trust given a path alone reads certificates and refuses a signed list (no centre keys to check it)', () => {
  const verifier = new CredentialVerifier({ trust: new TrustStore() });
  const pem = file(platform.issuer.certificatePem, 'one.pem');
  assert.equal(reloadTrustStore(verifier, pem), `1 issuer certificate from ${pem}`);
  const list = file(signedList());
  refuses(() => reloadTrustStore(verifier, list), 'no-centre-keys', /mqtt\.centreKeys/, list);
});
