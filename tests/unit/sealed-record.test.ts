/** Sealed registration records: only the authority's private key opens them, and any change is caught. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import {
  type RegistrationRecord,
  type SealedRecord,
  generateAuthorityKeyPair,
  keyId,
  loadAuthorityKey,
  loadAuthorityPrivateKey,
  openSealedRecord,
  parseSealedRecord,
  sealRecord,
} from '../../protocol/privacy/sealed-record.js';
import { PrivacyError, SEAL_ERRORS } from '../../protocol/privacy/errors.js';

const pair = generateAuthorityKeyPair();
const publicKey = loadAuthorityKey(pair.publicKeyPem);
const privateKey = loadAuthorityPrivateKey(pair.privateKeyPem);

function record(overrides: Partial<RegistrationRecord> = {}): RegistrationRecord {
  return {
    name: '张三 Zhang San',
    nationalId: '44010619900307123X',
    phone: '13800138000',
    temperatureC: 36.5,
    time: '2026-11-25T08:30:00.000Z',
    site: 'demo-mall',
    lane: 'lane-1',
    eventId: randomUUID(),
    ...overrides,
  };
}

function refuses(sealed: SealedRecord | string, code?: string): void {
  assert.throws(() => openSealedRecord(sealed, privateKey), (err: unknown) => {
    assert.ok(err instanceof PrivacyError, String(err));
    assert.ok((SEAL_ERRORS as readonly string[]).includes(err.code), err.code);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

function flipByte(field: string, index: number): string {
  const bytes = Buffer.from(field, 'base64url');
  bytes[index] = bytes[index]! ^ 0x01;
  return bytes.toString('base64url');
}

test('sealed record: round trip through JSON', () => {
  const original = record();
  const sealed = sealRecord(original, publicKey);
  assert.equal(sealed.v, 1);
  assert.equal(sealed.kid, keyId(publicKey));
  assert.deepEqual(openSealedRecord(JSON.stringify(sealed), privateKey), original);
  assert.deepEqual(openSealedRecord(sealed, privateKey), original);
  assert.deepEqual(openSealedRecord(sealRecord(record({ temperatureC: null }), publicKey), privateKey).temperatureC, null);
});

test('sealed record: opens only with the right private key', () => {
  const sealed = sealRecord(record(), publicKey);
  const other = generateKeyPairSync('x25519').privateKey;
  assert.throws(() => openSealedRecord(sealed, other), (err: unknown) => err instanceof PrivacyError && err.code === 'wrong-key');
  // Even with the kid rewritten to match, another key derives another AES key.
  assert.throws(() => openSealedRecord({ ...sealed, kid: keyId(other) }, other), (err: unknown) => err instanceof PrivacyError && err.code === 'unauthentic');
  assert.throws(() => openSealedRecord(sealed, publicKey), (err: unknown) => err instanceof PrivacyError && err.code === 'bad-key');
  assert.throws(() => sealRecord(record(), generateKeyPairSync('ed25519').publicKey), (err: unknown) => err instanceof PrivacyError && err.code === 'bad-key');
});

test('sealed record: any altered header field is refused', () => {
  const sealed = sealRecord(record(), publicKey);
  for (const field of ['eventId', 'site', 'lane', 'time'] as const) {
    const value = sealed[field];
    const changed = value.slice(0, -1) + (value.endsWith('1') ? '2' : '1');
    refuses({ ...sealed, [field]: changed }, 'unauthentic');
  }
  refuses({ ...sealed, kid: flipByte(sealed.kid, 0) }, 'wrong-key');
  refuses({ ...sealed, v: 2 } as unknown as SealedRecord, 'malformed');
});

test('sealed record: a flipped bit in ciphertext, tag, nonce, salt or ephemeral key is refused', () => {
  const sealed = sealRecord(record(), publicKey);
  for (const field of ['ct', 'tag', 'nonce', 'salt', 'epk'] as const) {
    const length = Buffer.from(sealed[field], 'base64url').length;
    for (let i = 0; i < length; i++) refuses({ ...sealed, [field]: flipByte(sealed[field], i) });
  }
  // The top bit of an X25519 key is ignored by the curve (RFC 7748 §5);
  // binding the epk bytes into HKDF's info still catches it.
  const epk = Buffer.from(sealed.epk, 'base64url');
  epk[31] = epk[31]! ^ 0x80;
  refuses({ ...sealed, epk: epk.toString('base64url') }, 'unauthentic');
  // A small-order point (all zeros) is refused, not trusted.
  refuses({ ...sealed, epk: Buffer.alloc(32).toString('base64url') }, 'unauthentic');
});

test('sealed record: malformed input is refused with a reason', () => {
  const sealed = sealRecord(record(), publicKey);
  refuses('not json', 'malformed');
  refuses({ ...sealed, nonce: sealed.nonce.slice(2) }, 'malformed');
  refuses({ ...sealed, ct: '%%%' }, 'malformed');
  const { tag: _tag, ...noTag } = sealed;
  refuses(noTag as unknown as SealedRecord, 'malformed');
  assert.deepEqual(parseSealedRecord(JSON.stringify(sealed)), sealed);
});

test('sealed record: the JSON holds no byte of the name, ID number or phone in clear', () => {
  const original = record();
  const json = JSON.stringify(sealRecord(original, publicKey));
  for (const secret of [original.name, '张三', 'Zhang San', original.nationalId, original.phone]) {
    assert.ok(!json.includes(secret), secret);
    // Nor their base64 forms, in case a field were merely encoded.
    assert.ok(!json.includes(Buffer.from(secret).toString('base64url').slice(0, 12)), `${secret} as base64url`);
  }
  // Nor inside any binary field once decoded.
  const sealed = JSON.parse(json) as SealedRecord;
  for (const field of ['epk', 'salt', 'nonce', 'ct', 'tag'] as const) {
    const bytes = Buffer.from(sealed[field], 'base64url');
    for (const secret of [original.name, original.nationalId, original.phone]) assert.ok(!bytes.includes(Buffer.from(secret)), `${field} holds ${secret}`);
  }
});

test('sealed record: each sealing is a different ciphertext', () => {
  const original = record();
  const a = sealRecord(original, publicKey);
  const b = sealRecord(original, publicKey);
  assert.notEqual(a.ct, b.ct);
  assert.notEqual(a.epk, b.epk);
  assert.notEqual(a.nonce, b.nonce);
  assert.deepEqual(openSealedRecord(a, privateKey), openSealedRecord(b, privateKey));
});
