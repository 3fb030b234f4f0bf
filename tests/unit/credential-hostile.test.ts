/**
 * Hostile credentials: CBOR the profiles do not use (shared values, extension
 * tags, deep nesting, too many items, malformed heads), integers beyond what
 * a number holds, data after the zlib stream, and every such code answered
 * with a JSON verdict by a process with a small heap (docs/credential-profile.md).
 * The codes are built byte by byte, since cbor-x will not write most of them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { verificationReport } from '../../edge-agent/cli/gate-agent.js';
import { base45Encode } from '../../protocol/credential/base45.js';
import { checkCbor, cborDecoder, MAX_CBOR_DEPTH, MAX_CBOR_ITEMS } from '../../protocol/credential/cbor.js';
import { CLAIM_HCERT } from '../../protocol/credential/claims.js';
import { ALGORITHMS, cborEncode, sigStructure, signData } from '../../protocol/credential/cose.js';
import { encodeGzhcCode, gzhcClaims, type GzhcCodeContent } from '../../protocol/credential/encoder.js';
import { CREDENTIAL_FAILURES, CredentialError, type CredentialFailure } from '../../protocol/credential/failure.js';
import { kidOf, TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier, type VerificationResult } from '../../edge-agent/credential/verifier.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';

/** dist/tests/unit → repo root. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = path.join(ROOT, 'dist', 'edge-agent', 'cli', 'main.js');
const CHILD = path.join(ROOT, 'dist', 'tests', 'unit', 'credential-hostile-child.js');

const NOW_MS = Date.UTC(2025, 0, 15, 8, 0, 0);
const NOW = NOW_MS / 1000;
const es = await createSignerCertificate({
  subject: 'CN=Hostile-input test issuer, O=Test, C=CN',
  notBefore: new Date(Date.UTC(2024, 0, 15)),
  days: 20 * 365,
});
const trust = new TrustStore();
trust.add(es.certificate);
const verifier = new CredentialVerifier({ trust });
const KID = kidOf(es.certificate.raw);
const PROTECTED = cborEncode(
  new Map<number, unknown>([
    [1, ALGORITHMS.ES256],
    [4, KID],
  ]),
);
const CONTENT: GzhcCodeContent = {
  iss: 'GZ-HC-TEST',
  sub: 'q7Xc2mLp9TzA4vRb',
  iat: NOW - 10,
  exp: NOW + 290,
  colour: 'green',
  kind: 'dynamic',
  maskedName: '张*三',
};
/** A private-use claim (RFC 8392 §9.1) the verifier does not read: hostile bytes go there. */
const EXTRA_CLAIM = -65538;

/** The report's payload: an unsigned EU DCC whose hcert is a shared-value graph of depth 26 (172 characters). */
const REPORTED_GRAPH =
  'HC1:NCF*X2XHN3PO9P27B8$4T%VDOR59JAO34 LKSKA724+AARC42H2J7RNG10A9L%K%QFTPA/4OV+6+SK-JIUSES1QJ9W8.PU.3:DJ0VE6W088HFNCKAJ9/CJ93P*4NA5W0H%OCEU9KDBW1JXV2/-H8ACGAJK/C ILW*B:%4L9C';
/** The report's payload: an unsigned EU DCC whose ver is the integer 2^64 − 1. */
const REPORTED_BIGINT = 'HC1:NCFOXN*TS0BIO DBEPAN9I6TVVHZUIQJAT%K1O83H0H8O2/1';

/** A CBOR head (RFC 8949 §3): major type and argument. */
function head(major: number, value: number): Buffer {
  if (value < 24) return Buffer.from([(major << 5) | value]);
  if (value < 0x100) return Buffer.from([(major << 5) | 24, value]);
  if (value < 0x10000) return Buffer.from([(major << 5) | 25, value >> 8, value & 0xff]);
  const bytes = Buffer.alloc(5);
  bytes[0] = (major << 5) | 26;
  bytes.writeUInt32BE(value, 1);
  return bytes;
}

/**
 * An array of `depth` shared values (tags 28/29): the first is ["x"], each
 * next one two references to the one before. A few bytes a level, but the tree
 * they stand for doubles with each: 2^(depth − 1) leaves under the last.
 */
function sharedGraph(depth: number): Buffer {
  const parts = [head(4, depth), head(6, 28), head(4, 1), cborEncode('x')];
  for (let i = 1; i < depth; i++) parts.push(head(6, 28), head(4, 2), head(6, 29), head(0, i - 1), head(6, 29), head(0, i - 1));
  return Buffer.concat(parts);
}

/** A signed, tagged COSE_Sign1 from raw parts: the unprotected header and the payload as encoded bytes. */
function rawCose(payload: Buffer, unprotected: Buffer = head(5, 0), protectedBytes: Buffer = PROTECTED): Buffer {
  const signature = signData('ES256', es.privateKey, sigStructure(protectedBytes, payload));
  return Buffer.concat([head(6, 18), head(4, 4), cborEncode(protectedBytes), unprotected, cborEncode(payload), cborEncode(signature)]);
}

function text(cose: Buffer, prefix = 'GZHC1:'): string {
  return prefix + base45Encode(deflateSync(cose));
}

/** Valid GZHC1 claims plus one more claim whose value is `raw`, as encoded bytes. */
function gzhcPayloadWith(raw: Buffer, content: GzhcCodeContent = CONTENT): Buffer {
  const claims = cborEncode(gzhcClaims(content));
  assert.equal(claims[0]! >> 5, 5, 'the claims are a map');
  return Buffer.concat([head(5, (claims[0]! & 0x1f) + 1), claims.subarray(1), cborEncode(EXTRA_CLAIM), raw]);
}

/** EU DCC claims whose hcert payload (claim -260, key 1) is `raw`, as encoded bytes. */
function dccPayloadWith(raw: Buffer): Buffer {
  const core = cborEncode(new Map<number, unknown>([[1, 'AT'], [6, NOW - 10], [4, NOW + 86_400]]));
  return Buffer.concat([head(5, 4), core.subarray(1), cborEncode(CLAIM_HCERT), head(5, 1), cborEncode(1), raw]);
}

function assertRefused(result: VerificationResult, failure: CredentialFailure, message: RegExp): void {
  assert.equal(result.failure, failure, `failure was ${result.failure}: ${result.message}`);
  assert.equal(result.valid, false);
  assert.match(result.message ?? '', message);
  // Whatever the input, the result prints as JSON.
  assert.doesNotThrow(() => JSON.stringify(verificationReport(result)));
}

describe('CBOR the profiles do not use is refused before it is decoded', () => {
  test('control: the raw builders make a valid GZHC1 code', () => {
    const result = verifier.verify(text(rawCose(gzhcPayloadWith(cborEncode(1)))), NOW_MS);
    assert.equal(result.failure, null, `${result.failure}: ${result.message}`);
  });

  test('shared values (tags 28/29) in the claims → cose naming tag 28, in both profiles', () => {
    const gzhc = text(rawCose(gzhcPayloadWith(sharedGraph(4))));
    assertRefused(verifier.verify(gzhc, NOW_MS), 'cose', /^CWT payload: CBOR tag 28 \(shared value\) at byte \d+ is not allowed: this item may carry no tags$/);
    const dcc = text(rawCose(dccPayloadWith(Buffer.concat([head(5, 1), cborEncode('v'), sharedGraph(4)]))), 'HC1:');
    assertRefused(verifier.verify(dcc, NOW_MS), 'cose', /CBOR tag 28 \(shared value\)/);
  });

  test('a shared-value graph as the unprotected alg of a GZHC1 code → cose naming tag 28', () => {
    const unprotected = Buffer.concat([head(5, 1), cborEncode(1), sharedGraph(4)]);
    const result = verifier.verify(text(rawCose(cborEncode(gzhcClaims(CONTENT)), unprotected)), NOW_MS);
    assertRefused(result, 'cose', /^COSE message: CBOR tag 28 \(shared value\) at byte \d+ is not allowed/);
  });

  test('a lone shared reference (tag 29) → cose naming it', () => {
    const result = verifier.verify(text(rawCose(gzhcPayloadWith(Buffer.concat([head(6, 29), head(0, 0)])))), NOW_MS);
    assertRefused(result, 'cose', /CBOR tag 29 \(shared reference\)/);
  });

  const EXTENSIONS: [string, Buffer, RegExp][] = [
    ['epoch date', Buffer.concat([head(6, 1), cborEncode(1_700_000_000)]), /tag 1 \(epoch date\/time\)/],
    ['date text', Buffer.concat([head(6, 0), cborEncode('2025-01-15T08:00:00Z')]), /tag 0 \(date\/time text\)/],
    ['bignum', Buffer.concat([head(6, 2), cborEncode(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0]))]), /tag 2 \(positive bignum\)/],
    ['negative bignum', Buffer.concat([head(6, 3), cborEncode(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0]))]), /tag 3 \(negative bignum\)/],
    ['embedded CBOR', Buffer.concat([head(6, 24), cborEncode(Buffer.from([0x01]))]), /tag 24 \(embedded CBOR\)/],
    ['generic object', Buffer.concat([head(6, 27), cborEncode(['RegExp', '(a+)+$'])]), /tag 27 \(generic object\)/],
    ['typed array', Buffer.concat([head(6, 64), cborEncode(Buffer.alloc(4))]), /tag 64 \(typed array\)/],
    ['packed table', Buffer.concat([head(6, 51), cborEncode([[1], [], [], 0])]), /tag 51 \(packed table\)/],
    ['set', Buffer.concat([head(6, 258), cborEncode([1, 2])]), /tag 258 \(set\)/],
    ['map', Buffer.concat([head(6, 259), cborEncode(new Map([[1, 2]]))]), /tag 259 \(map\)/],
    ['record', Buffer.concat([head(6, 0xe000), cborEncode([1])]), /tag 57344 \(cbor-x record\)/],
    ['self-described', Buffer.concat([head(6, 55799), cborEncode(1)]), /tag 55799 \(self-described CBOR\)/],
    ['COSE_Sign1 inside the claims', Buffer.concat([head(6, 18), cborEncode([])]), /tag 18 \(COSE_Sign1\)/],
    ['a tag number over 2^53', Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]), /tag 18446744073709551615 at byte/],
  ];
  for (const [name, raw, message] of EXTENSIONS) {
    test(`an extension tag cbor-x would decode (${name}) in the claims of a signed code → cose naming it`, () => {
      assertRefused(verifier.verify(text(rawCose(gzhcPayloadWith(raw))), NOW_MS), 'cose', message);
    });
  }

  test('tags stand only around the whole item: COSE_Sign1 inside a DCC unprotected kid, or a tag in the protected header → cose', () => {
    const unprotected = Buffer.concat([head(5, 1), cborEncode(4), head(6, 18), cborEncode(KID)]);
    const inside = text(rawCose(cborEncode(gzhcClaims(CONTENT)), unprotected), 'HC1:');
    assertRefused(verifier.verify(inside, NOW_MS), 'cose', /COSE message: CBOR tag 18 \(COSE_Sign1\) at byte \d+ is not allowed inside the item/);
    const taggedAlg = Buffer.concat([head(5, 2), cborEncode(1), head(6, 1), cborEncode(ALGORITHMS.ES256), cborEncode(4), cborEncode(KID)]);
    const result = verifier.verify(text(rawCose(cborEncode(gzhcClaims(CONTENT)), head(5, 0), taggedAlg)), NOW_MS);
    assertRefused(result, 'cose', /^COSE protected header: CBOR tag 1 .* this item may carry no tags$/);
  });

  /** Claims with `levels` arrays nested in the extra claim: the innermost 0 stands at depth levels + 1. */
  const nested = (levels: number): string => text(rawCose(gzhcPayloadWith(Buffer.concat([Buffer.alloc(levels, 0x81), Buffer.from([0x00])]))));

  test(`nesting: ${MAX_CBOR_DEPTH} levels are read, one more → cose; 30,000 levels are refused the same way`, () => {
    assert.equal(verifier.verify(nested(MAX_CBOR_DEPTH - 1), NOW_MS).failure, null);
    assertRefused(verifier.verify(nested(MAX_CBOR_DEPTH), NOW_MS), 'cose', new RegExp(`CWT payload: CBOR nesting deeper than ${MAX_CBOR_DEPTH} levels at byte \\d+`));
    assertRefused(verifier.verify(nested(30_000), NOW_MS), 'cose', /nesting deeper than/);
  });

  test(`items: ${MAX_CBOR_ITEMS} in the claims are read, one more → cose`, () => {
    // The valid claims hold 19 items; the extra claim adds its key and an array.
    const withArray = (length: number): string =>
      text(rawCose(gzhcPayloadWith(Buffer.concat([head(4, length), Buffer.alloc(length, 0x00)]))));
    const fits = MAX_CBOR_ITEMS - 21;
    assert.equal(verifier.verify(withArray(fits), NOW_MS).failure, null);
    assertRefused(verifier.verify(withArray(fits + 1), NOW_MS), 'cose', new RegExp(`CWT payload: more than ${MAX_CBOR_ITEMS} CBOR items`));
  });

  test('indefinite-length arrays and maps are well-formed and read (RFC 8949 §3.2.2)', () => {
    const claims = cborEncode(gzhcClaims(CONTENT));
    const indefinite = Buffer.concat([Buffer.from([0xbf]), claims.subarray(1), cborEncode(EXTRA_CLAIM), Buffer.from([0x9f, 0x01, 0x02, 0xff, 0xff])]);
    assert.equal(verifier.verify(text(rawCose(indefinite)), NOW_MS).failure, null);
  });

  const MALFORMED: [string, Buffer, RegExp][] = [
    ['an indefinite-length text string', Buffer.from([0x7f, 0x61, 0x61, 0xff]), /indefinite-length text string at byte \d+ is not accepted/],
    ['an indefinite-length byte string', Buffer.from([0x5f, 0x41, 0x00, 0xff]), /indefinite-length byte string/],
    ['a break outside an indefinite-length item', Buffer.from([0xff]), /break at byte \d+ outside an indefinite-length item/],
    ['an indefinite-length integer', Buffer.from([0x1f]), /major type 0 at byte \d+ cannot have an indefinite length/],
    ['reserved additional information', Buffer.from([0x1c]), /additional information 28 at byte \d+ is reserved/],
    ['an unassigned simple value', Buffer.from([0xe0]), /simple value at byte \d+ is not one the profiles use/],
    ['a one-byte simple value', Buffer.from([0xf8, 0x20]), /simple value/],
    ['a map ending after a key', Buffer.from([0xbf, 0x01, 0xff]), /map at byte \d+ ends after a key with no value/],
  ];
  for (const [name, raw, message] of MALFORMED) {
    test(`${name} in the claims → cose saying so`, () => {
      assertRefused(verifier.verify(text(rawCose(gzhcPayloadWith(raw))), NOW_MS), 'cose', message);
    });
  }

  test('truncated items, a missing break and trailing bytes in the claims → cose: not well-formed', () => {
    const claims = cborEncode(gzhcClaims(CONTENT));
    const cases: [Buffer, RegExp][] = [
      [claims.subarray(0, claims.length - 3), /CWT payload is not well-formed CBOR: item at byte \d+ runs past the end of the data/],
      [Buffer.concat([head(5, 1), cborEncode(1)]), /CWT payload is not well-formed CBOR: item at byte 0 runs past the end of the data/],
      [Buffer.from([0x82, 0x41, 0x00]), /CWT payload is not well-formed CBOR: data ends at byte 3 where an item should start/],
      [Buffer.from([0x9f, 0x01]), /indefinite-length item at byte 0 has no break/],
      [Buffer.concat([claims, Buffer.from([0x00, 0x00])]), /CWT payload is not well-formed CBOR: 2 bytes follow the end of its item/],
      [Buffer.from([0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), /runs past the end of the data/],
    ];
    for (const [payload, message] of cases) assertRefused(verifier.verify(text(rawCose(payload)), NOW_MS), 'cose', message);
  });

  /** Values of the kinds the profiles' CBOR holds: integers (to 64 bits), floats, text, bytes, arrays, maps, true, false, null. */
  const { value: cborValue } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.integer(),
      fc.bigInt({ min: -(1n << 64n), max: (1n << 64n) - 1n }),
      fc.double(),
      fc.string(),
      fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes)),
      fc.constantFrom(true, false, null),
      fc.array(tie('value'), { maxLength: 5 }),
      fc.array(fc.tuple(fc.oneof(fc.integer(), fc.string()), tie('value')), { maxLength: 5 }).map((entries) => new Map(entries)),
    ),
  }));
  const tags = new Set([18, 61]);

  test('what cbor-x writes of such values passes the check and decodes (property, fixed seed)', () => {
    fc.assert(
      fc.property(cborValue, (value) => {
        const bytes = cborEncode(value);
        checkCbor(bytes, 'value', tags);
        cborDecoder.decode(bytes);
      }),
      { seed: 20250115, numRuns: 3000 },
    );
  });

  test('any bytes: the check refuses with cose, or cbor-x decodes what it let through (property, fixed seed)', () => {
    const mutated = fc
      .tuple(cborValue, fc.nat(), fc.integer({ min: 1, max: 255 }))
      .map(([value, at, flip]) => {
        const bytes = Buffer.from(cborEncode(value));
        const i = at % bytes.length;
        bytes[i] = bytes[i]! ^ flip;
        return bytes;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 48 }), mutated), (bytes) => {
        try {
          checkCbor(bytes, 'bytes', tags);
        } catch (error) {
          if (error instanceof CredentialError && error.code === 'cose') return;
          throw error;
        }
        cborDecoder.decode(bytes);
      }),
      { seed: 20250115, numRuns: 5000 },
    );
  });
});

describe('integers beyond what a number holds exactly', () => {
  const MAX_U64 = Buffer.from([0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  const MIN_N64 = Buffer.from([0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

  test('a signed DCC whose ver is 2^64 − 1 → claims naming the field; shown as text; nothing is a bigint', () => {
    const hcert = Buffer.concat([head(5, 1), cborEncode('ver'), MAX_U64]);
    const result = verifier.verify(text(rawCose(dccPayloadWith(hcert)), 'HC1:'), NOW_MS);
    assertRefused(result, 'claims', /^claim -260 → 1 → ver is the integer 18446744073709551615, beyond the ±\(2\^53 − 1\) a number holds exactly$/);
    assert.equal(result.steps.signature, true);
    assert.deepEqual(result.dcc?.masked, { ver: '18446744073709551615' });
  });

  test('a signed DCC whose ver is NaN, or with −Infinity deeper in, → claims naming where; shown as text', () => {
    const NAN = Buffer.from([0xf9, 0x7e, 0x00]);
    const MINUS_INFINITY = Buffer.from([0xf9, 0xfc, 0x00]);
    const verdict = (hcert: Buffer): VerificationResult => verifier.verify(text(rawCose(dccPayloadWith(hcert)), 'HC1:'), NOW_MS);
    let result = verdict(Buffer.concat([head(5, 1), cborEncode('ver'), NAN]));
    assertRefused(result, 'claims', /^claim -260 → 1 → ver is NaN, which no claim can be$/);
    assert.deepEqual(result.dcc?.masked, { ver: 'NaN' });
    const entry = Buffer.concat([head(5, 1), cborEncode('co'), MINUS_INFINITY]);
    result = verdict(Buffer.concat([head(5, 1), cborEncode('r'), head(4, 1), entry]));
    assertRefused(result, 'claims', /^claim -260 → 1 → r → 0 → co is -Infinity, which no claim can be$/);
  });

  test('the reported unsigned DCC (ver 2^64 − 1) → untrusted-key, and its result prints as JSON', () => {
    const result = verifier.verify(REPORTED_BIGINT, NOW_MS);
    assertRefused(result, 'untrusted-key', /carry no kid/);
    assert.equal(JSON.parse(JSON.stringify(verificationReport(result))).claims.ver, '18446744073709551615');
  });

  test('a signed GZHC1 code whose iat is −2^64 → claims naming claim 6', () => {
    const claims = cborEncode(gzhcClaims(CONTENT));
    const iatAt = claims.indexOf(cborEncode(NOW - 10));
    const payload = Buffer.concat([claims.subarray(0, iatAt), MIN_N64, claims.subarray(iatAt + cborEncode(NOW - 10).length)]);
    assertRefused(verifier.verify(text(rawCose(payload)), NOW_MS), 'claims', /^claim 6 is the integer -18446744073709551616/);
  });

  test('an integer written in 8 bytes but within range reads as the number it is (iat)', () => {
    const claims = cborEncode(gzhcClaims(CONTENT));
    const iat = cborEncode(NOW - 10);
    const wide = Buffer.alloc(9);
    wide[0] = 0x1b;
    wide.writeBigUInt64BE(BigInt(NOW - 10), 1);
    const at = claims.indexOf(iat);
    const payload = Buffer.concat([claims.subarray(0, at), wide, claims.subarray(at + iat.length)]);
    const result = verifier.verify(text(rawCose(payload)), NOW_MS);
    assert.equal(result.failure, null, `${result.failure}: ${result.message}`);
    assert.equal(result.iat, NOW - 10);
  });

  test('gate-agent verify prints JSON for the reported payload and exits 1, with nothing on standard error', () => {
    const run = spawnSync(process.execPath, [BIN, 'verify', REPORTED_BIGINT], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.stderr, '');
    assert.equal(run.status, 1);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(report.valid, false);
    assert.equal(report.failure, 'untrusted-key');
    assert.deepEqual(report.claims, { ver: '18446744073709551615' });
  });

  test('gate-agent verify - with more standard input than any code → too-large JSON, exit 1', () => {
    const run = spawnSync(process.execPath, [BIN, 'verify', '-'], { input: 'A'.repeat(1 << 20), encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 1, run.stderr);
    const report = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(report.failure, 'too-large');
    assert.match(String(report.message), /standard input holds more than \d+ bytes; a code text has at most 4296 characters/);
  });

  test('gate-agent verify --help documents the exit codes', () => {
    const run = spawnSync(process.execPath, [BIN, 'verify', '--help'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0);
    assert.match(run.stdout, /Exit codes:\n {2}0 {2}the code is valid\n {2}1 {2}the code is refused.*\n {2}2 {2}usage error/);
  });
});

describe('keys that are names of object internals', () => {
  test('a "__proto__" key in a DCC payload stays a field: it lends no ver or nam to what is shown', () => {
    const hcert = cborEncode(
      new Map<string, unknown>([
        ['__proto__', new Map<string, unknown>([['ver', 'forged'], ['nam', new Map([['fn', 'Forged']])]])],
        ['r', [new Map<string, unknown>([['co', new Map([[1, 'AT']])]])]],
      ]),
    );
    const result = verifier.verify(text(rawCose(dccPayloadWith(hcert)), 'HC1:'), NOW_MS);
    assert.equal(result.steps.signature, true, `${result.failure}: ${result.message}`);
    assert.equal(result.dcc?.masked.ver, undefined);
    assert.equal(result.dcc?.masked.nam, undefined);
    assert.equal(Object.getPrototypeOf(result.dcc?.masked), Object.prototype);
    // Every object shown is a plain one, down to a map nested in an entry.
    const entry = (result.dcc?.masked.r as Record<string, unknown>[])[0]!;
    assert.deepEqual(entry.co, { 1: 'AT' });
    assert.equal(Object.getPrototypeOf(entry.co), Object.prototype);
  });
});

describe('zlib: one stream and nothing after it (RFC 1950)', () => {
  const valid = encodeGzhcCode(CONTENT, { certificate: es.certificate, privateKey: es.privateKey, algorithm: 'ES256' });

  test('control: the code verifies', () => {
    assert.equal(verifier.verify(valid, NOW_MS).failure, null);
  });

  test('a valid code with "000" appended (two zero bytes after the stream) → decompress', () => {
    const result = verifier.verify(`${valid}000`, NOW_MS);
    assertRefused(result, 'decompress', /^2 bytes follow the end of the zlib stream$/);
    assert.equal(result.steps.decompress, false);
  });

  test('a second zlib stream after the first → decompress', () => {
    const compressed = Buffer.concat([deflateSync(rawCose(cborEncode(gzhcClaims(CONTENT)))), deflateSync(Buffer.from('more'))]);
    assertRefused(verifier.verify(`GZHC1:${base45Encode(compressed)}`, NOW_MS), 'decompress', /bytes follow the end of the zlib stream/);
  });
});

describe('bounded in memory', () => {
  test('every hostile code gets a JSON verdict from a child process with a 256 MB heap', () => {
    const deepArrays = Buffer.concat([Buffer.alloc(30_000, 0x81), Buffer.from([0x00])]);
    const hostile: [string, CredentialFailure][] = [
      [REPORTED_GRAPH, 'cose'],
      // The same graph, deeper, as the unprotected alg beside the protected one.
      [text(rawCose(cborEncode(gzhcClaims(CONTENT)), Buffer.concat([head(5, 1), cborEncode(1), sharedGraph(30)]))), 'cose'],
      [text(rawCose(gzhcPayloadWith(sharedGraph(30)))), 'cose'],
      [text(rawCose(gzhcPayloadWith(deepArrays))), 'cose'],
      [text(rawCose(gzhcPayloadWith(Buffer.concat([head(4, 30_000), Buffer.alloc(30_000)])))), 'cose'],
      [REPORTED_BIGINT, 'untrusted-key'],
      [`GZHC1:${base45Encode(deflateSync(Buffer.alloc(1 << 20), { level: 9 }))}`, 'too-large'],
      [`GZHC1:${'A'.repeat(1 << 20)}`, 'too-large'],
    ];
    const input = JSON.stringify({ trustPem: es.certificatePem, at: NOW_MS, texts: hostile.map(([t]) => t) });
    const child = spawnSync(process.execPath, ['--max-old-space-size=256', CHILD], {
      input,
      encoding: 'utf8',
      timeout: 120_000,
      killSignal: 'SIGKILL',
      maxBuffer: 1 << 20,
    });
    assert.equal(child.signal, null, `the child was killed (${child.signal}): ${child.stderr.slice(0, 500)}`);
    assert.equal(child.status, 0, child.stderr.slice(0, 2000));
    const verdicts = child.stdout.trim().split('\n').map((line) => JSON.parse(line) as { valid: boolean; failure: string; message: string });
    assert.equal(verdicts.length, hostile.length);
    verdicts.forEach((verdict, i) => {
      assert.equal(verdict.valid, false, `code ${i}`);
      assert.ok((CREDENTIAL_FAILURES as readonly string[]).includes(verdict.failure));
      assert.equal(verdict.failure, hostile[i]![1], `code ${i}: ${verdict.failure}: ${verdict.message}`);
    });
    assert.match(verdicts[0]!.message, /CBOR tag 28 \(shared value\)/);
    assert.match(verdicts[1]!.message, /CBOR tag 28 \(shared value\)/);
  });
});
