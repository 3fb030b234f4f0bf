/**
 * The GZHC1 credential stack: base45 (RFC 9285), zlib, COSE_Sign1 (RFC 9052),
 * CWT claims (RFC 8392) and the trust store. Every refusal is asserted by its
 * exact failure code and a telling part of its message.
 *
 * Over 500 lines on purpose: one case per refusal code of the stack, each
 * against the same keys and codes made once at the top.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, inflateSync } from 'node:zlib';
import { Tag } from 'cbor-x';
import { base45Decode, base45Encode } from '../../protocol/credential/base45.js';
import { CLAIM_GZHC, CLAIM_HCERT, GZHC_FIELD, readDccClaims } from '../../protocol/credential/claims.js';
import {
  ALGORITHMS,
  buildCoseSign1,
  cborDecoder,
  cborEncode,
  sigStructure,
  signData,
  type AlgorithmName,
} from '../../protocol/credential/cose.js';
import { encodeClaims, gzhcClaims, type CodeSigner, type GzhcCodeContent } from '../../protocol/credential/encoder.js';
import { CREDENTIAL_FAILURES, CredentialError, firstFailure, type CredentialFailure } from '../../protocol/credential/failure.js';
import { PREFIXES } from '../../protocol/credential/profile.js';
import { TrustError } from '../../protocol/trust/errors.js';
import { kidOf, TrustStore, type TrustedSigner } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier, type VerificationResult } from '../../edge-agent/credential/verifier.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';

// ---------------------------------------------------------------------------
// Fixtures: keys are generated once for the whole file (RSA is slow).

const ALGS: readonly AlgorithmName[] = ['ES256', 'PS256', 'EdDSA'];
const PREFIX = 'GZHC1:';
/** Fixed check time: 2025-01-15T08:00:00Z. */
const NOW_MS = Date.UTC(2025, 0, 15, 8, 0, 0);
const NOW = NOW_MS / 1000;
/**
 * The signer certificates are valid from a year before NOW to well past the real
 * clock: a code's iat must lie inside its signer certificate's validity, and
 * some tests check codes as of the real now.
 */
const CERTIFICATE_VALIDITY = { notBefore: new Date(Date.UTC(2024, 0, 15)), days: 20 * 365 };

const [es, ps, ed, stranger] = await Promise.all([
  createSignerCertificate({ algorithm: 'ES256', subject: 'CN=Test issuer ES256, O=Test, C=CN', ...CERTIFICATE_VALIDITY }),
  createSignerCertificate({ algorithm: 'PS256', subject: 'CN=Test issuer PS256, O=Test, C=CN', ...CERTIFICATE_VALIDITY }),
  createSignerCertificate({ algorithm: 'EdDSA', subject: 'CN=Test issuer EdDSA, O=Test, C=CN', ...CERTIFICATE_VALIDITY }),
  createSignerCertificate({ algorithm: 'ES256', subject: 'CN=Untrusted issuer, O=Elsewhere, C=CN', ...CERTIFICATE_VALIDITY }),
]);
const DAY = 86_400;
/** The one-day certificate below is valid from B to B + 1 day, B an hour before NOW. */
const B = NOW - 3600;
/** Signers whose certificates do not cover a code issued just before NOW. */
const [late, lapsed, dayLong] = await Promise.all([
  createSignerCertificate({ subject: 'CN=Issuer from tomorrow, O=Test, C=CN', notBefore: new Date((NOW + DAY) * 1000), days: 365 }),
  createSignerCertificate({ subject: 'CN=Lapsed issuer, O=Test, C=CN', notBefore: new Date(Date.UTC(2023, 0, 1)), days: 365 }),
  createSignerCertificate({ subject: 'CN=One-day issuer, O=Test, C=CN', notBefore: new Date(B * 1000), days: 1 }),
]);
const PAIRS: Record<AlgorithmName, SignerKeyPair> = { ES256: es, PS256: ps, EdDSA: ed };
/** Keys of the same types as the trusted ones, but not theirs. */
const OTHER_KEYS: Record<AlgorithmName, KeyObject> = {
  ES256: stranger.privateKey,
  PS256: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  EdDSA: generateKeyPairSync('ed25519').privateKey,
};

const trust = new TrustStore();
for (const pair of [es, ps, ed]) trust.add(pair.certificate);
const verifier = new CredentialVerifier({ trust });

const tempDirs: string[] = [];
after(() => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'credential-test-'));
  tempDirs.push(dir);
  return dir;
}

function signerOf(pair: SignerKeyPair): CodeSigner {
  return { certificate: pair.certificate, privateKey: pair.privateKey, algorithm: pair.algorithm };
}

function kid(pair: SignerKeyPair): Buffer {
  return kidOf(pair.certificate.raw);
}

function content(overrides: Partial<GzhcCodeContent> = {}): GzhcCodeContent {
  return {
    iss: 'GZ-HC-TEST',
    sub: 'q7Xc2mLp9TzA4vRb',
    iat: NOW - 10,
    exp: NOW + 290,
    colour: 'green',
    kind: 'dynamic',
    maskedName: '张*三',
    ...overrides,
  };
}

/** A correctly signed code with the given claims (which may be wrong on purpose). */
function code(overrides: Partial<GzhcCodeContent> = {}, pair: SignerKeyPair = es): string {
  return encodeClaims(gzhcClaims(content(overrides)), signerOf(pair));
}

/** A correctly signed GZHC1 code whose claims also carry nbf (claim 5) with the given value. */
function codeWithNbf(nbf: unknown, overrides: Partial<GzhcCodeContent> = {}): string {
  const claims = gzhcClaims(content(overrides));
  claims.set(5, nbf);
  return encodeClaims(claims, signerOf(es));
}

/** Plain JSON-like values to CBOR maps with text keys, as a DCC payload is encoded. */
function cborMapOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cborMapOf);
  if (value && typeof value === 'object') {
    return new Map(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, cborMapOf(v)]));
  }
  return value;
}

/** The payload of the AT vaccination test vector (names, birth date and ci as a real DCC has them). */
const DCC_PAYLOAD = {
  ver: '1.2.1',
  nam: { fn: 'Musterfrau-Gößinger', fnt: 'MUSTERFRAU<GOESSINGER', gn: 'Gabriele', gnt: 'GABRIELE' },
  dob: '1998-02-26',
  v: [
    {
      tg: '840539006',
      vp: '1119349007',
      mp: 'EU/1/20/1528',
      ma: 'ORG-100030215',
      dn: 1,
      sd: 2,
      dt: '2021-02-18',
      co: 'AT',
      is: 'Ministry of Health, Austria',
      ci: 'URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B',
    },
  ],
};

/** An EU DCC ("HC1:") with the given payload, signed by `pair`. */
function dccCode(
  payload: unknown = DCC_PAYLOAD,
  options: { iat?: number; exp?: number; nbf?: unknown; pair?: SignerKeyPair } = {},
): string {
  const iat = options.iat ?? NOW - 10;
  const claims = new Map<number, unknown>([
    [1, 'AT'],
    [6, iat],
    [4, options.exp ?? iat + 86_400],
    [CLAIM_HCERT, new Map([[1, cborMapOf(payload)]])],
  ]);
  if (options.nbf !== undefined) claims.set(5, options.nbf);
  return encodeClaims(claims, signerOf(options.pair ?? es), PREFIXES.dcc);
}

/** A trust store holding one hand-built signer with `key`, whatever kid is asked for. */
function trustingKey(key: KeyObject, certificate = es.certificate): TrustStore {
  const signer: TrustedSigner = { certificate, key, kid: kidOf(certificate.raw), extendedKeyUsage: [], source: 'hand-built' };
  return new (class extends TrustStore {
    override lookup(): readonly TrustedSigner[] {
      return [signer];
    }
  })();
}

/** zlib + base45 + prefix around raw COSE bytes. */
function wrap(cose: Uint8Array, prefix: string = PREFIX): string {
  return prefix + base45Encode(deflateSync(cose));
}

/** COSE bytes from a code text, undoing `wrap`. */
function unwrap(text: string): Buffer {
  return inflateSync(base45Decode(text.slice(PREFIX.length)));
}

/** A tagged COSE_Sign1 assembled by hand, signed over the given protected bytes. */
function handCose(options: {
  protectedBytes: Buffer;
  unprotected?: Map<unknown, unknown>;
  payload?: Buffer;
  signWith?: { algorithm: AlgorithmName; key: KeyObject };
  signature?: Buffer;
}): Buffer {
  const payload = options.payload ?? cborEncode(gzhcClaims(content()));
  const signature =
    options.signature ??
    signData(options.signWith!.algorithm, options.signWith!.key, sigStructure(options.protectedBytes, payload));
  return cborEncode(new Tag([options.protectedBytes, options.unprotected ?? new Map(), payload, signature], 18));
}

function protectedMap(entries: [number, unknown][]): Buffer {
  return cborEncode(new Map<number, unknown>(entries));
}

function assertRefused(result: VerificationResult, failure: CredentialFailure, message: RegExp): void {
  assert.equal(result.valid, false, `expected a refusal (${failure}), got a valid result`);
  assert.equal(result.failure, failure, `failure was ${result.failure}: ${result.message}`);
  assert.match(result.message ?? '', message);
}

function assertValid(result: VerificationResult): asserts result is VerificationResult & { valid: true } {
  assert.equal(result.failure, null, `refused with ${result.failure}: ${result.message}`);
  assert.equal(result.valid, true);
}

/** Deterministic PRNG (mulberry32), so random cases are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

// ---------------------------------------------------------------------------

describe('valid codes', () => {
  for (const algorithm of ALGS) {
    test(`a GZHC1 code signed ${algorithm} verifies and gives its claims back`, () => {
      const pair = PAIRS[algorithm];
      const text = code({ colour: 'yellow', sub: 'x9Kq-pseudonym-01', maskedName: '李*' }, pair);
      const result = verifier.verify(text, NOW_MS);
      assertValid(result);
      assert.equal(result.message, null);
      assert.equal(result.profile, 'gzhc');
      assert.equal(result.algorithm, algorithm);
      const expectedKid = createHash('sha256').update(pair.certificate.raw).digest().subarray(0, 8).toString('base64');
      assert.equal(result.kid, expectedKid);
      assert.equal(result.iss, 'GZ-HC-TEST');
      assert.equal(result.iat, NOW - 10);
      assert.equal(result.exp, NOW + 290);
      assert.deepEqual(result.gzhc, { sub: 'x9Kq-pseudonym-01', colour: 'yellow', kind: 'dynamic', maskedName: '李*' });
      assert.equal(result.dcc, null);
      assert.deepEqual(result.steps, {
        unprefix: true,
        base45: true,
        decompress: true,
        cose: true,
        signature: true,
        validity: true,
        claims: true,
      });
    });
  }

  test('a printed code without colour is valid, with colour null', () => {
    const result = verifier.verify(
      code({ kind: 'printed', colour: null, iat: NOW - 86_400 * 30, exp: NOW + 3 * 365 * 86_400 }),
      NOW_MS,
    );
    assertValid(result);
    assert.deepEqual(result.gzhc, { sub: 'q7Xc2mLp9TzA4vRb', colour: null, kind: 'printed', maskedName: '张*三' });
  });

  test('a printed code may live years; the dynamic lifetime cap does not apply', () => {
    const result = verifier.verify(code({ kind: 'printed', colour: 'green', exp: NOW + 3 * 365 * 86_400 }), NOW_MS);
    assertValid(result);
    assert.equal(result.gzhc?.colour, 'green');
  });
});

describe('refusals: size, prefix, base45, zlib', () => {
  test('text over the size cap → too-large', () => {
    const text = PREFIX + 'A'.repeat(4291); // 4,297 characters
    assertRefused(verifier.verify(text, NOW_MS), 'too-large', /4297 characters exceeds the cap of 4296/);
  });

  test('text exactly at the size cap is read on (and fails later, at zlib)', () => {
    const text = PREFIX + 'A'.repeat(4290);
    assert.equal(text.length, 4296);
    assertRefused(verifier.verify(text, NOW_MS), 'decompress', /not a valid zlib stream/);
  });

  test('a smaller cap set by option is applied', () => {
    const small = new CredentialVerifier({ trust, maxTextLength: 100 });
    const text = code();
    assertRefused(small.verify(text, NOW_MS), 'too-large', new RegExp(`${text.length} characters exceeds the cap of 100`));
  });

  for (const prefix of ['GZHC2:', 'gzhc1:', 'HC2:', '']) {
    test(`wrong prefix ${JSON.stringify(prefix)} → prefix`, () => {
      const text = prefix + code().slice(PREFIX.length);
      const result = verifier.verify(text, NOW_MS);
      assertRefused(result, 'prefix', /starts with neither GZHC1: nor HC1:/);
      assert.equal(result.profile, null);
      assert.equal(result.steps.unprefix, false);
    });
  }

  test('lowercase character → base45', () => {
    const text = PREFIX + 'BB8' + 'a' + 'B8';
    assertRefused(verifier.verify(text, NOW_MS), 'base45', /character "a" at position 3 is not in the base45 alphabet/);
  });

  test('lowercased valid code → base45', () => {
    const valid = code();
    const text = PREFIX + valid.slice(PREFIX.length).toLowerCase();
    assert.notEqual(text, valid);
    assertRefused(verifier.verify(text, NOW_MS), 'base45', /is not in the base45 alphabet/);
  });

  test("'#' → base45", () => {
    assertRefused(verifier.verify(PREFIX + '#BB', NOW_MS), 'base45', /character "#" at position 0/);
  });

  test('non-ASCII character → base45', () => {
    assertRefused(verifier.verify(PREFIX + 'BB中', NOW_MS), 'base45', /character "中" at position 2/);
  });

  test('a three-character group over 65535 → base45', () => {
    // 65536 = c + 45·d + 2025·e
    const n = 65536;
    const group = BASE45[n % 45]! + BASE45[Math.floor(n / 45) % 45]! + BASE45[Math.floor(n / 2025)]!;
    assert.equal(group, 'GGW');
    assertRefused(verifier.verify(PREFIX + 'BB8' + group, NOW_MS), 'base45', /group at position 3 exceeds 65535/);
  });

  test('a two-character group over 255 → base45', () => {
    // 256 = 31 + 45·5 → "V5"
    assertRefused(verifier.verify(PREFIX + 'BB8' + 'V5', NOW_MS), 'base45', /group at position 3 exceeds 255/);
  });

  test('a lone trailing character → base45', () => {
    assertRefused(verifier.verify(PREFIX + 'BB8A', NOW_MS), 'base45', /length 4 leaves a lone character/);
  });

  test('a valid code plus characters leaving a lone one → base45', () => {
    const valid = code();
    const body = valid.slice(PREFIX.length);
    // Make the base45 part's length ≡ 1 (mod 3), whatever it was.
    const pad = ((1 - (body.length % 3)) + 3) % 3 || 3;
    const text = valid + 'A'.repeat(pad);
    assertRefused(verifier.verify(text, NOW_MS), 'base45', /leaves a lone character/);
  });

  test('zlib bomb (1 MB of zeros) → too-large', () => {
    const bomb = PREFIX + base45Encode(deflateSync(Buffer.alloc(1 << 20), { level: 9 }));
    assert.ok(bomb.length < 4296, `the bomb fits a QR code (${bomb.length} characters)`);
    const result = verifier.verify(bomb, NOW_MS);
    assertRefused(result, 'too-large', /decompressed code exceeds 32768 bytes/);
    assert.equal(result.steps.decompress, false);
  });

  test('a bomb just over a smaller decompression cap → too-large; just under is read on', () => {
    const small = new CredentialVerifier({ trust, maxDecompressedBytes: 1000 });
    const over = PREFIX + base45Encode(deflateSync(Buffer.alloc(1001)));
    assertRefused(small.verify(over, NOW_MS), 'too-large', /exceeds 1000 bytes/);
    const under = PREFIX + base45Encode(deflateSync(Buffer.alloc(1000)));
    // 1000 zero bytes decode as CBOR integer 0 followed by more: not COSE.
    assertRefused(small.verify(under, NOW_MS), 'cose', /not well-formed CBOR|array of 4 items/);
  });

  test('not zlib → decompress', () => {
    const text = PREFIX + base45Encode(Buffer.from('this is not a zlib stream'));
    assertRefused(verifier.verify(text, NOW_MS), 'decompress', /not a valid zlib stream/);
  });

  test('truncated zlib stream → decompress', () => {
    const z = deflateSync(cborEncode(gzhcClaims(content())));
    const text = PREFIX + base45Encode(z.subarray(0, z.length - 6));
    assertRefused(verifier.verify(text, NOW_MS), 'decompress', /not a valid zlib stream/);
  });

  test('raw COSE without zlib (uncompressed) → decompress', () => {
    const cose = unwrap(code());
    assertRefused(verifier.verify(PREFIX + base45Encode(cose), NOW_MS), 'decompress', /not a valid zlib stream/);
  });
});

describe('refusals: CBOR and COSE structure', () => {
  const payload = cborEncode(gzhcClaims(content()));
  const goodProtected = protectedMap([
    [1, ALGORITHMS.ES256],
    [4, kid(es)],
  ]);
  const goodSignature = signData('ES256', es.privateKey, sigStructure(goodProtected, payload));

  test('the hand-built COSE helper makes a valid code (control)', () => {
    const text = wrap(handCose({ protectedBytes: goodProtected, payload, signature: goodSignature }));
    assertValid(verifier.verify(text, NOW_MS));
  });

  test('untagged COSE_Sign1 is accepted (tag is optional)', () => {
    const text = wrap(cborEncode([goodProtected, new Map(), payload, goodSignature]));
    assertValid(verifier.verify(text, NOW_MS));
  });

  test('COSE array of 3 items → cose', () => {
    const text = wrap(cborEncode(new Tag([goodProtected, new Map(), payload], 18)));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /COSE_Sign1 must be an array of 4 items/);
  });

  test('COSE array of 5 items → cose', () => {
    const text = wrap(cborEncode(new Tag([goodProtected, new Map(), payload, goodSignature, 0], 18)));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /COSE_Sign1 must be an array of 4 items/);
  });

  test('a map instead of an array → cose', () => {
    const asMap = new Map<number, unknown>([
      [0, goodProtected],
      [1, new Map()],
      [2, payload],
      [3, goodSignature],
    ]);
    assertRefused(verifier.verify(wrap(cborEncode(new Tag(asMap, 18))), NOW_MS), 'cose', /array of 4 items/);
    assertRefused(verifier.verify(wrap(cborEncode(asMap)), NOW_MS), 'cose', /array of 4 items/);
  });

  test('a protected header that is not a map → cose', () => {
    const notMap = cborEncode([1, ALGORITHMS.ES256, 4, kid(es)]);
    const text = wrap(handCose({ protectedBytes: notMap, payload, signWith: { algorithm: 'ES256', key: es.privateKey } }));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /protected header must encode a map/);
  });

  test('a protected header that is not a byte string → cose', () => {
    const text = wrap(
      cborEncode(new Tag([new Map([[1, -7]]), new Map(), payload, goodSignature], 18)),
    );
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /protected header must be a byte string/);
  });

  test('protected header bytes that are not CBOR → cose', () => {
    const text = wrap(handCose({ protectedBytes: Buffer.from([0x1c]), payload, signature: goodSignature }));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /protected header is not well-formed CBOR/);
  });

  test('trailing bytes after the COSE message → cose', () => {
    const cose = handCose({ protectedBytes: goodProtected, payload, signature: goodSignature });
    const text = wrap(Buffer.concat([cose, Buffer.from([0x00])]));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /COSE message is not well-formed CBOR/);
  });

  test('a tag other than COSE_Sign1 → cose', () => {
    const text = wrap(cborEncode(new Tag([goodProtected, new Map(), payload, goodSignature], 98)));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /CBOR tag 98 at byte 0 is not allowed: .*only tags 61 \(CWT\) and 18 \(COSE_Sign1\)/);
  });

  test('the CWT tag twice → cose (after it only COSE_Sign1 may follow)', () => {
    const text = wrap(cborEncode(new Tag(new Tag([goodProtected, new Map(), payload, goodSignature], 61), 61)));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /CBOR tag 61 is not COSE_Sign1 \(18\)/);
  });

  test('unprotected header that is not a map → cose', () => {
    const text = wrap(cborEncode(new Tag([goodProtected, [], payload, goodSignature], 18)));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /unprotected header must be a map/);
  });

  test('detached payload (nil) → cose', () => {
    const text = wrap(cborEncode(new Tag([goodProtected, new Map(), null, goodSignature], 18)));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /payload must be an attached byte string/);
  });

  test('a CWT payload that is not a map → cose', () => {
    const listPayload = cborEncode(['not', 'a', 'map']);
    const text = wrap(
      handCose({ protectedBytes: goodProtected, payload: listPayload, signWith: { algorithm: 'ES256', key: es.privateKey } }),
    );
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /CWT payload is not a CBOR map/);
  });

  test('a kid that is not a byte string → cose', () => {
    const p = protectedMap([
      [1, ALGORITHMS.ES256],
      [4, 'not-bytes'],
    ]);
    const text = wrap(handCose({ protectedBytes: p, payload, signWith: { algorithm: 'ES256', key: es.privateKey } }));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /kid must be a byte string/);
  });

  test('no algorithm in any header → cose', () => {
    const p = protectedMap([[4, kid(es)]]);
    const text = wrap(handCose({ protectedBytes: p, payload, signWith: { algorithm: 'ES256', key: es.privateKey } }));
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /name no algorithm/);
  });

  test('algorithm only in the unprotected header (GZHC1 profile) → cose', () => {
    const p = protectedMap([[4, kid(es)]]);
    const text = wrap(
      handCose({
        protectedBytes: p,
        unprotected: new Map([[1, ALGORITHMS.ES256]]),
        payload,
        signWith: { algorithm: 'ES256', key: es.privateKey },
      }),
    );
    assertRefused(verifier.verify(text, NOW_MS), 'cose', /unprotected header must be empty .*label 1 \(alg\)/);
  });

  for (const alg of [-999, -35]) {
    test(`unknown or unsupported algorithm ${alg} → signature`, () => {
      const p = protectedMap([
        [1, alg],
        [4, kid(es)],
      ]);
      const text = wrap(handCose({ protectedBytes: p, payload, signWith: { algorithm: 'ES256', key: es.privateKey } }));
      assertRefused(verifier.verify(text, NOW_MS), 'signature', new RegExp(`algorithm ${alg} is not one of ES256`));
    });
  }

  test('algorithm given as text ("ES256") → signature', () => {
    const p = protectedMap([
      [1, 'ES256'],
      [4, kid(es)],
    ]);
    const text = wrap(handCose({ protectedBytes: p, payload, signWith: { algorithm: 'ES256', key: es.privateKey } }));
    assertRefused(verifier.verify(text, NOW_MS), 'signature', /algorithm ES256 is not one of/);
  });
});

describe('the unprotected header (GZHC1: empty; EU DCC: alg and kid only; see cose.ts)', () => {
  const payload = cborEncode(gzhcClaims(content()));
  const p = protectedMap([
    [1, ALGORITHMS.ES256],
    [4, kid(es)],
  ]);
  const signWith = { algorithm: 'ES256' as const, key: es.privateKey };
  const gzhcWith = (unprotected: Map<unknown, unknown>): string => wrap(handCose({ protectedBytes: p, unprotected, payload, signWith }));

  test('GZHC1: the issuer\'s empty unprotected header verifies (control)', () => {
    assertValid(verifier.verify(gzhcWith(new Map()), NOW_MS));
  });

  test('GZHC1: alg in both headers with different values → cose naming label 1', () => {
    const result = verifier.verify(gzhcWith(new Map([[1, ALGORITHMS.PS256]])), NOW_MS);
    assertRefused(result, 'cose', /GZHC1 code's unprotected header must be empty .*label 1 \(alg\)/);
    assert.equal(result.steps.cose, false);
  });

  test('GZHC1: anything added to the unprotected header of a signed code → cose (same alg, another kid, other labels)', () => {
    const additions: [Map<unknown, unknown>, RegExp][] = [
      [new Map([[1, ALGORITHMS.ES256]]), /label 1 \(alg\)$/],
      [new Map([[4, kid(ps)]]), /label 4 \(kid\)$/],
      [new Map([[4, kid(es)]]), /label 4 \(kid\)$/],
      [new Map<unknown, unknown>([[99, 'x'], ['note', 1]]), /label 99 and 1 more$/],
      [new Map([['note', 'hello']]), /label "note"$/],
    ];
    for (const [unprotected, message] of additions) {
      assertRefused(verifier.verify(gzhcWith(unprotected), NOW_MS), 'cose', message);
    }
  });

  const dccPayload = cborEncode(
    new Map<number, unknown>([
      [1, 'AT'],
      [6, NOW - 10],
      [4, NOW + 86_400],
      [CLAIM_HCERT, new Map([[1, cborMapOf(DCC_PAYLOAD)]])],
    ]),
  );
  const dccWith = (protectedBytes: Buffer, unprotected: Map<unknown, unknown>): string =>
    wrap(handCose({ protectedBytes, unprotected, payload: dccPayload, signWith }), PREFIXES.dcc);

  test('EU DCC: kid unprotected, alone or beside a protected one (vectors CO19, CO21), and alg unprotected (CO20) verify', () => {
    assertValid(verifier.verify(dccWith(protectedMap([[1, ALGORITHMS.ES256]]), new Map([[4, kid(es)]])), NOW_MS));
    assertValid(verifier.verify(dccWith(p, new Map([[4, kid(ps)]])), NOW_MS));
    const bothUnprotected = new Map<number, unknown>([
      [1, ALGORITHMS.ES256],
      [4, kid(es)],
    ]);
    assertValid(verifier.verify(dccWith(Buffer.alloc(0), bothUnprotected), NOW_MS));
  });

  test('EU DCC: alg in both headers, even with the same value → cose (RFC 9052 §3)', () => {
    for (const alg of [ALGORITHMS.ES256, ALGORITHMS.PS256]) {
      const result = verifier.verify(dccWith(p, new Map([[1, alg]])), NOW_MS);
      assertRefused(result, 'cose', /header label 1 \(alg\) occurs in both the protected and the unprotected header/);
    }
  });

  test('EU DCC: an unprotected label other than alg and kid → cose naming it', () => {
    const cases: [unknown, RegExp][] = [
      [3, /label 3 is not allowed: an EU DCC may carry only alg \(1\) and kid \(4\) there/],
      [33, /label 33 is not allowed/],
      ['kid', /label "kid" is not allowed/],
    ];
    for (const [label, message] of cases) {
      assertRefused(verifier.verify(dccWith(p, new Map([[label, 'x']])), NOW_MS), 'cose', message);
    }
  });
});

describe('refusals: signer and signature', () => {
  const payload = cborEncode(gzhcClaims(content()));

  test('EdDSA header with an ES256 signer key → signature', () => {
    const p = protectedMap([
      [1, ALGORITHMS.EdDSA],
      [4, kid(es)],
    ]);
    const text = wrap(handCose({ protectedBytes: p, payload, signWith: { algorithm: 'EdDSA', key: ed.privateKey } }));
    assertRefused(verifier.verify(text, NOW_MS), 'signature', /signer key \(ec\) cannot be used with EdDSA/);
  });

  test('ES256 header with an RSA signer key → signature', () => {
    const p = protectedMap([
      [1, ALGORITHMS.ES256],
      [4, kid(ps)],
    ]);
    const text = wrap(handCose({ protectedBytes: p, payload, signWith: { algorithm: 'ES256', key: es.privateKey } }));
    assertRefused(verifier.verify(text, NOW_MS), 'signature', /signer key \(rsa\) cannot be used with ES256/);
  });

  test('PS256 header with an Ed25519 signer key → signature', () => {
    const p = protectedMap([
      [1, ALGORITHMS.PS256],
      [4, kid(ed)],
    ]);
    const text = wrap(handCose({ protectedBytes: p, payload, signWith: { algorithm: 'PS256', key: ps.privateKey } }));
    assertRefused(verifier.verify(text, NOW_MS), 'signature', /signer key \(ed25519\) cannot be used with PS256/);
  });

  for (const algorithm of ALGS) {
    test(`tampered payload (${algorithm}) → signature`, () => {
      const pair = PAIRS[algorithm];
      const signed = cborDecoder.decode(unwrap(code({ colour: 'red' }, pair))) as Tag;
      const [pb, unprotected, , signature] = signed.value as [Buffer, Map<unknown, unknown>, Buffer, Buffer];
      // Same claims but green: a red code dressed up as a pass.
      const forged = cborEncode(gzhcClaims(content({ colour: 'green' })));
      const text = wrap(cborEncode(new Tag([pb, unprotected, forged, signature], 18)));
      assertRefused(verifier.verify(text, NOW_MS), 'signature', new RegExp(`${algorithm} signature does not verify`));
    });

    test(`signature by another key under the trusted kid (${algorithm}) → signature`, () => {
      const cose = buildCoseSign1(algorithm, kid(PAIRS[algorithm]), payload, OTHER_KEYS[algorithm]);
      const result = verifier.verify(wrap(cose), NOW_MS);
      assertRefused(result, 'signature', /signature does not verify with the signer of kid/);
      assert.equal(result.steps.signature, false);
    });

    test(`truncated signature (${algorithm}) → signature`, () => {
      const signed = cborDecoder.decode(unwrap(code({}, PAIRS[algorithm]))) as Tag;
      const [pb, unprotected, body, signature] = signed.value as [Buffer, Map<unknown, unknown>, Buffer, Buffer];
      const text = wrap(cborEncode(new Tag([pb, unprotected, body, signature.subarray(0, signature.length - 1)], 18)));
      assertRefused(verifier.verify(text, NOW_MS), 'signature', /signature does not verify/);
    });
  }

  test('tampered protected header (kid kept, extra entry) → signature', () => {
    const signed = cborDecoder.decode(unwrap(code())) as Tag;
    const [, unprotected, body, signature] = signed.value as [Buffer, Map<unknown, unknown>, Buffer, Buffer];
    const p = protectedMap([
      [1, ALGORITHMS.ES256],
      [4, kid(es)],
      [3, 'application/cwt'],
    ]);
    const text = wrap(cborEncode(new Tag([p, unprotected, body, signature], 18)));
    assertRefused(verifier.verify(text, NOW_MS), 'signature', /ES256 signature does not verify/);
  });

  test('kid absent → untrusted-key', () => {
    const p = protectedMap([[1, ALGORITHMS.ES256]]);
    const text = wrap(handCose({ protectedBytes: p, payload, signWith: { algorithm: 'ES256', key: es.privateKey } }));
    const result = verifier.verify(text, NOW_MS);
    assertRefused(result, 'untrusted-key', /carry no kid/);
    assert.equal(result.kid, null);
  });

  test('kid not in the trust store → untrusted-key', () => {
    const text = code({}, stranger);
    const result = verifier.verify(text, NOW_MS);
    const strangerKid = kid(stranger).toString('base64');
    assertRefused(result, 'untrusted-key', new RegExp(`no trusted signer certificate has kid ${strangerKid.replace(/[+/]/g, '\\$&')}`));
    assert.equal(result.kid, strangerKid);
  });

  test('a valid code with an empty trust store → untrusted-key', () => {
    const empty = new CredentialVerifier({ trust: new TrustStore() });
    assertRefused(empty.verify(code(), NOW_MS), 'untrusted-key', /no trusted signer certificate has kid/);
  });
});

describe('refusals: validity in time', () => {
  test('expired beyond the skew → expired', () => {
    const result = verifier.verify(code({ iat: NOW - 400, exp: NOW - 61 }), NOW_MS);
    assertRefused(result, 'expired', /code expired at 2025-01-15T07:58:59\.000Z/);
    assert.equal(result.steps.validity, false);
    // The claims were fine: only validity failed.
    assert.equal(result.steps.claims, true);
  });

  test('expired within the skew → valid', () => {
    assertValid(verifier.verify(code({ iat: NOW - 400, exp: NOW - 59 }), NOW_MS));
  });

  test('exactly at exp minus the skew → expired (RFC 8392 §3.1.4: not accepted on or after exp)', () => {
    const result = verifier.verify(code({ iat: NOW - 400, exp: NOW - 60 }), NOW_MS);
    assertRefused(result, 'expired', /code expired at 2025-01-15T07:59:00\.000Z/);
    assert.equal(result.steps.validity, false);
  });

  test('a skew of 0 set by option: refused at exp itself, valid just before it', () => {
    const strict = new CredentialVerifier({ trust, clockSkewSeconds: 0 });
    assertRefused(strict.verify(code({ iat: NOW - 100, exp: NOW - 1 }), NOW_MS), 'expired', /code expired at/);
    assertRefused(strict.verify(code({ iat: NOW - 100, exp: NOW }), NOW_MS), 'expired', /code expired at 2025-01-15T08:00:00\.000Z/);
    assertValid(strict.verify(code({ iat: NOW - 100, exp: NOW }), NOW_MS - 1));
    assertValid(strict.verify(code({ iat: NOW - 100, exp: NOW + 1 }), NOW_MS));
  });

  test('iat in the future beyond the skew → not-yet-valid', () => {
    const result = verifier.verify(code({ iat: NOW + 61, exp: NOW + 361 }), NOW_MS);
    assertRefused(result, 'not-yet-valid', /issued at 2025-01-15T08:01:01\.000Z, after the check time 2025-01-15T08:00:00\.000Z/);
  });

  test('iat in the future within the skew → valid', () => {
    assertValid(verifier.verify(code({ iat: NOW + 59, exp: NOW + 359 }), NOW_MS));
  });

  test('iat absurdly far in the future (no valid Date) → untrusted-key (outside the certificate), not a crash or cose', () => {
    const iat = 1e13; // year ~318,000: beyond what a JS Date can hold
    const result = verifier.verify(code({ iat, exp: iat + 300 }), NOW_MS);
    assertRefused(result, 'untrusted-key', /not valid when the code was issued: issued at 10000000000000 s after the epoch/);
  });

  test('nbf absurdly far in the future (no valid Date) → not-yet-valid, not a crash or cose', () => {
    assertRefused(verifier.verify(codeWithNbf(1e13), NOW_MS), 'not-yet-valid', /not valid before 10000000000000 s after the epoch/);
  });

  test('exp absurdly far in the past (no valid Date) → expired', () => {
    const result = verifier.verify(code({ iat: NOW - 10, exp: -1e13 }), NOW_MS);
    assertRefused(result, 'expired', /code expired at -10000000000000 s after the epoch/);
  });

  test('the check time defaults to now', () => {
    const now = Math.floor(Date.now() / 1000);
    assertValid(verifier.verify(code({ iat: now - 5, exp: now + 295 })));
  });
});

describe('nbf (CWT claim 5, RFC 8392 §3.1.5)', () => {
  test('nbf beyond the skew → not-yet-valid', () => {
    const result = verifier.verify(codeWithNbf(NOW + 61), NOW_MS);
    assertRefused(result, 'not-yet-valid', /not valid before 2025-01-15T08:01:01\.000Z \(nbf\); the check time is 2025-01-15T08:00:00\.000Z/);
    assert.equal(result.steps.validity, false);
    assert.equal(result.steps.claims, true);
  });

  test('nbf within the skew, or past → valid', () => {
    assertValid(verifier.verify(codeWithNbf(NOW + 60), NOW_MS));
    assertValid(verifier.verify(codeWithNbf(NOW - 10), NOW_MS));
    const strict = new CredentialVerifier({ trust, clockSkewSeconds: 0 });
    assertValid(strict.verify(codeWithNbf(NOW), NOW_MS));
    assertRefused(strict.verify(codeWithNbf(NOW + 1), NOW_MS), 'not-yet-valid', /\(nbf\)/);
  });

  for (const nbf of ['2025-01-15T08:00:00Z', null, new Map(), Number.NaN]) {
    test(`nbf present but not a number (${nbf instanceof Map ? 'a map' : String(nbf)}) → claims`, () => {
      const result = verifier.verify(codeWithNbf(nbf), NOW_MS);
      // NaN is refused before the claims are read, as any NaN or infinite claim is.
      assertRefused(result, 'claims', Number.isNaN(nbf) ? /^claim 5 is NaN, which no claim can be$/ : /claim nbf \(5\) is present but not a number/);
      assert.equal(result.steps.claims, false);
    });
  }

  test('nbf holds for an EU DCC too', () => {
    assertRefused(verifier.verify(dccCode(DCC_PAYLOAD, { nbf: NOW + 3600 }), NOW_MS), 'not-yet-valid', /\(nbf\)/);
    assertRefused(verifier.verify(dccCode(DCC_PAYLOAD, { nbf: 'tomorrow' }), NOW_MS), 'claims', /claim nbf \(5\)/);
    assertValid(verifier.verify(dccCode(DCC_PAYLOAD, { nbf: NOW - 10 }), NOW_MS));
  });
});

describe('signer certificate valid when the code was issued', () => {
  const store = new TrustStore();
  for (const pair of [late, lapsed, dayLong]) store.add(pair.certificate);
  const v = new CredentialVerifier({ trust: store });

  test('a code issued before its signer certificate\'s notBefore → untrusted-key', () => {
    const result = v.verify(code({}, late), NOW_MS);
    assertRefused(
      result,
      'untrusted-key',
      /signer certificate was not valid when the code was issued: issued at 2025-01-15T07:59:50\.000Z, certificate valid from 2025-01-16T08:00:00\.000Z/,
    );
    assert.equal(result.steps.signature, false);
    assert.equal(result.valid, false);
  });

  test('a code issued after its signer certificate\'s notAfter → untrusted-key', () => {
    assertRefused(v.verify(code({}, lapsed), NOW_MS), 'untrusted-key', /not valid when the code was issued: .*to 2024-01-01T00:00:00\.000Z/);
  });

  test('the validity is inclusive at both ends (RFC 5280 §4.1.2.5)', () => {
    const at = (iat: number): number => (iat + 10) * 1000;
    assertValid(v.verify(code({ iat: B, exp: B + 300 }, dayLong), at(B)));
    assertRefused(v.verify(code({ iat: B - 1, exp: B + 299 }, dayLong), at(B)), 'untrusted-key', /not valid when the code was issued/);
    const end = B + DAY;
    assertValid(v.verify(code({ iat: end, exp: end + 300 }, dayLong), at(end)));
    assertRefused(v.verify(code({ iat: end + 1, exp: end + 301 }, dayLong), at(end + 1)), 'untrusted-key', /not valid when the code was issued/);
  });

  test('the rule holds for an EU DCC too', () => {
    assertRefused(v.verify(dccCode(DCC_PAYLOAD, { pair: lapsed }), NOW_MS), 'untrusted-key', /not valid when the code was issued/);
  });
});

describe('PS256 keys', () => {
  const rsaPss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
  const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const shortPss = generateKeyPairSync('rsa-pss', { modulusLength: 1024 });
  const sha512Pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048, hashAlgorithm: 'sha512', mgf1HashAlgorithm: 'sha512' });
  const signed = (key: KeyObject): string =>
    encodeClaims(gzhcClaims(content()), { certificate: es.certificate, privateKey: key, algorithm: 'PS256' });

  test('an RSASSA-PSS key (type rsa-pss) verifies PS256', () => {
    const result = new CredentialVerifier({ trust: trustingKey(rsaPss.publicKey) }).verify(signed(rsaPss.privateKey), NOW_MS);
    assertValid(result);
    assert.equal(result.algorithm, 'PS256');
  });

  test('a 1024-bit RSA key → signature, saying it is too short (RFC 8230 §6)', () => {
    const result = new CredentialVerifier({ trust: trustingKey(short.publicKey) }).verify(signed(short.privateKey), NOW_MS);
    assertRefused(result, 'signature', /signer RSA key of 1024 bits is too short: PS256 needs at least 2048 bits \(RFC 8230 §6\)/);
    assert.equal(result.steps.signature, false);
  });

  test('a 1024-bit RSASSA-PSS key → signature too', () => {
    const result = new CredentialVerifier({ trust: trustingKey(shortPss.publicKey) }).verify(signed(shortPss.privateKey), NOW_MS);
    assertRefused(result, 'signature', /1024 bits is too short/);
  });

  test('an RSASSA-PSS key bound to SHA-512 → signature', () => {
    const result = new CredentialVerifier({ trust: trustingKey(sha512Pss.publicKey) }).verify(signed(rsaPss.privateKey), NOW_MS);
    assertRefused(result, 'signature', /restricted to parameters \(hash sha512, MGF1 sha512, salt of at least 64 bytes\) that PS256/);
  });
});

describe('refusals: claims', () => {
  test('sub that is an 18-digit national ID number → claims', () => {
    const result = verifier.verify(code({ sub: '11010519491231002X' }), NOW_MS);
    assertRefused(result, 'claims', /looks like a national ID number/);
    assert.equal(result.gzhc, null);
    assert.equal(result.steps.claims, false);
    assertRefused(verifier.verify(code({ sub: '110105194912310021' }), NOW_MS), 'claims', /national ID number/);
  });

  test('sub that is an old 15-digit ID number → claims', () => {
    assertRefused(verifier.verify(code({ sub: '110105491231002' }), NOW_MS), 'claims', /national ID number/);
  });

  for (const sub of ['ID520101199001011234', 'p-11010519491231002X-1', 'x110105491231002', 'a1234567890123456789012b']) {
    test(`sub holding a run of 15 or more digits (${sub}) → claims`, () => {
      assertRefused(verifier.verify(code({ sub }), NOW_MS), 'claims', /looks like a national ID number/);
    });
  }

  test('sub with shorter digit runs is a pseudonym; the length rule still holds', () => {
    assertValid(verifier.verify(code({ sub: 'q12345678901234z' }), NOW_MS)); // 14 digits
    assertValid(verifier.verify(code({ sub: '1234567-12345678' }), NOW_MS));
    assertRefused(verifier.verify(code({ sub: 'short' }), NOW_MS), 'claims', /pseudonymous code id of 8 to 64 characters/);
    assertRefused(verifier.verify(code({ sub: 'x'.repeat(65) }), NOW_MS), 'claims', /8 to 64 characters/);
  });

  test('unmasked name (no "*") → claims', () => {
    assertRefused(verifier.verify(code({ maskedName: '张小三' }), NOW_MS), 'claims', /name must be masked/);
  });

  test('dynamic code with no colour → claims', () => {
    assertRefused(
      verifier.verify(code({ kind: 'dynamic', colour: null }), NOW_MS),
      'claims',
      /a dynamic code must carry its colour/,
    );
  });

  test('unknown colour → claims', () => {
    const text = code({ colour: 'blue' as unknown as 'green' });
    assertRefused(verifier.verify(text, NOW_MS), 'claims', /colour must be one of green, yellow, red/);
  });

  test('kind missing → claims', () => {
    const claims = gzhcClaims(content());
    (claims.get(CLAIM_GZHC) as Map<number, unknown>).delete(GZHC_FIELD.kind);
    assertRefused(verifier.verify(encodeClaims(claims, signerOf(es)), NOW_MS), 'claims', /code kind must be one of dynamic, printed/);
  });

  test('unknown kind → claims', () => {
    const text = code({ kind: 'sticker' as unknown as 'dynamic' });
    assertRefused(verifier.verify(text, NOW_MS), 'claims', /code kind must be one of/);
  });

  test('exp before iat → claims', () => {
    assertRefused(verifier.verify(code({ iat: NOW - 10, exp: NOW - 20 }), NOW_MS), 'claims', /exp is not after iat/);
  });

  test('dynamic code living longer than maxDynamicLifetimeSeconds → claims', () => {
    assertValid(verifier.verify(code({ iat: NOW - 10, exp: NOW - 10 + 900 }), NOW_MS));
    assertRefused(
      verifier.verify(code({ iat: NOW - 10, exp: NOW - 10 + 901 }), NOW_MS),
      'claims',
      /dynamic code lives 901 s; at most 900 s is allowed/,
    );
    const short = new CredentialVerifier({ trust, maxDynamicLifetimeSeconds: 120 });
    assertValid(short.verify(code({ iat: NOW - 10, exp: NOW + 110 }), NOW_MS));
    assertRefused(short.verify(code({ iat: NOW - 10, exp: NOW + 111 }), NOW_MS), 'claims', /lives 121 s; at most 120 s/);
  });

  test('health-code claim missing → claims', () => {
    const claims = gzhcClaims(content());
    claims.delete(CLAIM_GZHC);
    assertRefused(verifier.verify(encodeClaims(claims, signerOf(es)), NOW_MS), 'claims', /health-code claim -65537 is missing/);
  });

  test('iss missing → claims', () => {
    const claims = gzhcClaims(content());
    claims.delete(1);
    assertRefused(verifier.verify(encodeClaims(claims, signerOf(es)), NOW_MS), 'claims', /claim iss \(1\) is missing/);
  });

  test('an expired code with bad claims reports expired first (documented order)', () => {
    const result = verifier.verify(code({ iat: NOW - 1000, exp: NOW - 700, maskedName: 'Zhang' }), NOW_MS);
    assertRefused(result, 'expired', /code expired at/);
    assert.equal(result.steps.claims, false);
  });
});

describe('EU DCC: what may be shown', () => {
  test('masked keeps only the whitelist: ver, initials, no dob, and the non-identifying entry fields', () => {
    const result = verifier.verify(dccCode(), NOW_MS);
    assertValid(result);
    assert.equal(result.profile, 'dcc');
    assert.equal(result.dcc?.type, 'v');
    assert.deepEqual(result.dcc?.masked, {
      ver: '1.2.1',
      nam: { fn: 'M*', fnt: 'M*', gn: 'G*', gnt: 'G*' },
      dob: '****-**-**',
      v: [
        {
          tg: '840539006',
          co: 'AT',
          is: 'Ministry of Health, Austria',
          dt: '2021-02-18',
          vp: '1119349007',
          mp: 'EU/1/20/1528',
          ma: 'ORG-100030215',
          dn: 1,
          sd: 2,
        },
      ],
    });
    const shown = JSON.stringify(result.dcc?.masked);
    for (const secret of ['URN:UVCI', 'Musterfrau', 'MUSTERFRAU', 'Gabriele', 'GABRIELE', '1998', '02-26']) {
      assert.ok(!shown.includes(secret), `${secret} is shown: ${shown}`);
    }
  });

  test('test and recovery entries keep only their whitelisted fields; unknown top-level fields are dropped', () => {
    const claims = new Map<unknown, unknown>([
      [
        CLAIM_HCERT,
        new Map([
          [
            1,
            cborMapOf({
              ver: '1.3.0',
              nam: { fn: 'Ng', gn: '' },
              dob: '1964',
              extra: 'not on the whitelist',
              t: [{ tg: '840539006', tt: 'LP6464-4', nm: 'Roche', ma: '1232', sc: '2021-05-03T10:27:15Z', tr: '260415000', tc: 'Testing centre Vienna 1', co: 'AT', is: 'BMSGPK', ci: 'URN:UVCI:01:AT:71EE2559DE38C6BF7304FB65A1A451EC#3' }],
              r: [{ tg: '840539006', fr: '2021-02-20', df: '2021-04-04', du: '2021-10-04', co: 'AT', is: 'BMSGPK', ci: 'URN:UVCI:01:AT:858CC18CFCF5965EF82F60E493349AA5#K' }],
            }),
          ],
        ]),
      ],
    ]);
    const dcc = readDccClaims(claims);
    assert.equal(dcc.type, null, 'two types in one DCC: none is taken');
    assert.deepEqual(dcc.masked, {
      ver: '1.3.0',
      nam: { fn: 'N*', gn: '*' },
      dob: '****-**-**',
      t: [{ tg: '840539006', ma: '1232', sc: '2021-05-03T10:27:15Z', co: 'AT', is: 'BMSGPK' }],
      r: [{ tg: '840539006', fr: '2021-02-20', df: '2021-04-04', du: '2021-10-04', co: 'AT', is: 'BMSGPK' }],
    });
  });
});

describe('module structure', () => {
  test('the profiles and their prefixes live in profile.ts', () => {
    assert.deepEqual(PREFIXES, { gzhc: 'GZHC1:', dcc: 'HC1:' });
    assert.ok(code().startsWith(PREFIXES.gzhc));
  });

  test('the encoder does not import the verifier', () => {
    const encoder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../protocol/credential/encoder.js');
    const source = fs.readFileSync(encoder, 'utf8');
    assert.doesNotMatch(source, /from '\.\/verifier\.js'/);
    assert.match(source, /from '\.\/profile\.js'/);
  });

  test('several failures found together: the earliest in CREDENTIAL_FAILURES is reported, for every pair', () => {
    for (let i = 0; i < CREDENTIAL_FAILURES.length; i++) {
      for (let j = i + 1; j < CREDENTIAL_FAILURES.length; j++) {
        const early = new CredentialError(CREDENTIAL_FAILURES[i]!, 'early');
        const late = new CredentialError(CREDENTIAL_FAILURES[j]!, 'late');
        assert.equal(firstFailure([late, early]), early, `${early.code} before ${late.code}`);
        assert.equal(firstFailure([early, late]), early, `${early.code} before ${late.code}`);
      }
    }
    assert.equal(firstFailure([]), undefined);
  });
});

describe('TrustStore', () => {
  test('loads a PEM file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'issuer.pem');
    fs.writeFileSync(file, es.certificatePem);
    const store = TrustStore.load(file);
    assert.equal(store.size, 1);
    const [signer] = store.lookup(kid(es));
    assert.ok(signer);
    assert.equal(signer.source, file);
    assert.equal(signer.certificate.fingerprint256, es.certificate.fingerprint256);
    assertValid(new CredentialVerifier({ trust: store }).verify(code(), NOW_MS));
  });

  test('loads a DER file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'issuer.der');
    fs.writeFileSync(file, ed.certificate.raw);
    const store = TrustStore.load(file);
    assert.equal(store.size, 1);
    assert.equal(store.lookup(kid(ed)).length, 1);
    assertValid(new CredentialVerifier({ trust: store }).verify(code({}, ed), NOW_MS));
  });

  test('loads a folder of PEM and DER files', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a-es.pem'), es.certificatePem);
    fs.writeFileSync(path.join(dir, 'b-ps.der'), ps.certificate.raw);
    fs.writeFileSync(path.join(dir, 'c-ed.crt'), ed.certificatePem);
    fs.mkdirSync(path.join(dir, 'subfolder')); // not recursed into
    const store = TrustStore.load(dir);
    assert.equal(store.size, 3);
    const v = new CredentialVerifier({ trust: store });
    for (const algorithm of ALGS) assertValid(v.verify(code({}, PAIRS[algorithm]), NOW_MS));
    assertRefused(v.verify(code({}, stranger), NOW_MS), 'untrusted-key', /no trusted signer/);
  });

  test('a PEM bundle of several certificates loads them all', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bundle.pem');
    fs.writeFileSync(file, es.certificatePem + '\n' + ps.certificatePem);
    assert.equal(TrustStore.load(file).size, 2);
  });

  test('a file that is not a certificate → not-a-certificate naming the file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'notes.txt');
    fs.writeFileSync(file, 'this is not a certificate\n');
    assert.throws(
      () => TrustStore.load(file),
      (error: unknown) =>
        error instanceof TrustError && error.code === 'not-a-certificate' && error.message.includes(file),
    );
  });

  test('a non-certificate inside a folder → not-a-certificate naming that file', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a.pem'), es.certificatePem);
    const bad = path.join(dir, 'b.key');
    fs.writeFileSync(bad, es.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.throws(
      () => TrustStore.load(dir),
      (error: unknown) =>
        error instanceof TrustError && error.code === 'not-a-certificate' && error.message.includes(bad),
    );
  });

  test('a missing path → unreadable', () => {
    const missing = path.join(tempDir(), 'no-such-file.pem');
    assert.throws(
      () => TrustStore.load(missing),
      (error: unknown) => error instanceof TrustError && error.code === 'unreadable' && error.message.includes(missing),
    );
  });

  test('an empty folder → empty', () => {
    const dir = tempDir();
    assert.throws(
      () => TrustStore.load(dir),
      (error: unknown) => error instanceof TrustError && error.code === 'empty' && error.message.includes(dir),
    );
  });

  test('the kid is the first 8 bytes of SHA-256 over the DER', () => {
    for (const pair of [es, ps, ed]) {
      const expected = createHash('sha256').update(pair.certificate.raw).digest().subarray(0, 8);
      assert.deepEqual(kid(pair), expected);
      assert.equal(trust.lookup(expected).length, 1);
    }
  });
});

describe('base45 (RFC 9285)', () => {
  const VECTORS: [string, string][] = [
    ['AB', 'BB8'],
    ['Hello!!', '%69 VD92EX0'],
    ['base-45', 'UJCLQE7W581'],
    ['ietf!', 'QED8WEX0'],
    ['', ''],
  ];
  for (const [plain, encoded] of VECTORS) {
    test(`${JSON.stringify(plain)} ↔ ${JSON.stringify(encoded)}`, () => {
      assert.equal(base45Encode(Buffer.from(plain)), encoded);
      assert.equal(base45Decode(encoded).toString('utf8'), plain);
    });
  }

  test('the largest groups decode; one more is refused', () => {
    assert.deepEqual(base45Decode('FGW'), Buffer.from([0xff, 0xff]));
    assert.deepEqual(base45Decode('U5'), Buffer.from([0xff]));
    assert.throws(() => base45Decode('GGW'), (e: unknown) => e instanceof CredentialError && e.code === 'base45');
    assert.throws(() => base45Decode('V5'), (e: unknown) => e instanceof CredentialError && e.code === 'base45');
    assert.throws(() => base45Decode(':::'), (e: unknown) => e instanceof CredentialError && e.code === 'base45');
  });

  test('random round trips', () => {
    const rand = prng(45);
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.alloc(Math.floor(rand() * 120));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
      const text = base45Encode(bytes);
      assert.match(text, /^[0-9A-Z $%*+\-./:]*$/);
      assert.equal(text.length, Math.floor(bytes.length / 2) * 3 + (bytes.length % 2) * 2);
      assert.deepEqual(base45Decode(text), bytes);
    }
  });
});

describe('the verifier never throws', () => {
  test('2,000 random and mutated inputs each get a refusal with a known failure code', () => {
    const rand = prng(20250115);
    const pick = (s: string): string => s[Math.floor(rand() * s.length)]!;
    // Mutations go to distinct positions: two at the same one could cancel out and give back the valid code.
    const positions = (count: number, from: number, to: number): number[] => {
      const chosen = new Set<number>();
      while (chosen.size < Math.min(count, to - from)) chosen.add(from + Math.floor(rand() * (to - from)));
      return [...chosen];
    };
    const valid = code();
    const validCose = unwrap(valid);
    const seen = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      let text: string;
      switch (i % 4) {
        case 0: {
          // Flip bits of one to three characters of a valid code text.
          const chars = [...valid].map((c) => c.charCodeAt(0));
          for (const at of positions(1 + Math.floor(rand() * 3), 0, chars.length)) {
            chars[at] = chars[at]! ^ (1 + Math.floor(rand() * 255));
          }
          text = String.fromCharCode(...chars);
          break;
        }
        case 1: {
          // Replace one to three characters of the base45 part with other base45 characters.
          const chars = [...valid];
          for (const at of positions(1 + Math.floor(rand() * 3), PREFIX.length, chars.length)) {
            let c = pick(BASE45);
            while (c === chars[at]) c = pick(BASE45);
            chars[at] = c;
          }
          text = chars.join('');
          break;
        }
        case 2: {
          // Random base45 text with the prefix.
          const length = Math.floor(rand() * 600);
          let body = '';
          for (let j = 0; j < length; j++) body += pick(BASE45);
          text = PREFIX + body;
          break;
        }
        default: {
          // Flip bytes inside the COSE message and wrap it correctly, to reach the CBOR and COSE stages.
          const bytes = Buffer.from(validCose);
          for (const at of positions(1 + Math.floor(rand() * 3), 0, bytes.length)) {
            bytes[at] = bytes[at]! ^ (1 + Math.floor(rand() * 255));
          }
          text = wrap(bytes);
        }
      }
      let result: VerificationResult;
      try {
        result = verifier.verify(text, NOW_MS);
      } catch (error) {
        assert.fail(`verify threw on input #${i} ${JSON.stringify(text)}: ${(error as Error).stack}`);
      }
      assert.equal(result.valid, false, `input #${i} verified: ${JSON.stringify(text)}`);
      assert.ok(
        (CREDENTIAL_FAILURES as readonly string[]).includes(result.failure as string),
        `input #${i}: unknown failure ${String(result.failure)}`,
      );
      assert.equal(typeof result.message, 'string');
      assert.ok((result.message ?? '').length > 0);
      seen.set(result.failure as string, (seen.get(result.failure as string) ?? 0) + 1);
    }
    // The mix reaches the deep stages too, not only the first checks.
    for (const failure of ['base45', 'decompress', 'cose', 'signature'] as const) {
      assert.ok((seen.get(failure) ?? 0) > 0, `no input failed at ${failure}: ${JSON.stringify([...seen])}`);
    }
  });
});
