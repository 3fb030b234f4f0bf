/**
 * The credential fuzzer's mutations: a seed code taken apart into its
 * layers (text, base45 bytes, zlib stream, COSE bytes and items, claims),
 * and an arbitrary that changes one layer and rebuilds the rest around it,
 * signing again with a trusted key where the change is behind the signature
 * (Signing remembers what it signed, for the forgery check in credential.ts).
 */
import { createHash } from 'node:crypto';
import { deflateRawSync, deflateSync, gzipSync, inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { Tag } from 'cbor-x';
import { base45Decode, base45Encode } from '../../protocol/credential/base45.js';
import { CLAIM_GZHC, CLAIM_HCERT } from '../../protocol/credential/claims.js';
import { ALGORITHMS, cborDecoder, cborEncode, parseCoseSign1, sigStructure, signData, verifySignature, type AlgorithmName } from '../../protocol/credential/cose.js';
import type { CodeSigner } from '../../protocol/credential/encoder.js';
import { PREFIXES, type Profile } from '../../protocol/credential/profile.js';
import { kidOf } from '../../protocol/trust/trust-store.js';
import { cbor, cborValue, hostileItem } from './cbor.js';
import { applyByteOps, applyTreeEdits, mutatedBytes, mutatedText, treeEdits } from './mutate.js';

export const BASE45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

/** Digests of what the rig signed lately: an accepted code must be one of them (or a seed). */
const SIGNED_KEPT = 20_000;

/** A seed taken apart, so each layer can be mutated and the rest rebuilt around it. */
export interface Layers {
  text: string;
  prefix: string;
  compressed: Buffer;
  cose: Buffer;
  protectedBytes: Buffer;
  unprotected: Map<unknown, unknown>;
  payload: Buffer;
  claims: Map<unknown, unknown>;
  signature: Buffer;
}

export function layersOf(text: string): Layers | null {
  try {
    const prefix = text.startsWith(PREFIXES.gzhc) ? PREFIXES.gzhc : PREFIXES.dcc;
    const compressed = base45Decode(text.slice(prefix.length));
    const cose = inflateSync(compressed);
    const parsed = parseCoseSign1(cose, false);
    const claims = cborDecoder.decode(parsed.payload) as unknown;
    if (!(claims instanceof Map)) return null;
    return {
      text,
      prefix,
      compressed,
      cose,
      protectedBytes: parsed.protectedBytes,
      unprotected: parsed.unprotectedHeader,
      payload: parsed.payload,
      claims,
      signature: parsed.signature,
    };
  } catch {
    return null;
  }
}

export function wrap(prefix: string, cose: Uint8Array): string {
  return prefix + base45Encode(deflateSync(cose, { level: 9 }));
}

export function coseOf(protectedBytes: Buffer, unprotected: unknown, payload: Buffer, signature: Buffer): Buffer {
  return cborEncode(new Tag([protectedBytes, unprotected, payload, signature], 18));
}

/** COSE_Sign1 from raw items: what no encoder writes. */
export function rawCose(protectedItem: Buffer, unprotectedItem: Buffer, payloadItem: Buffer, signatureItem: Buffer): Buffer {
  return cbor.tag(18, cbor.array([protectedItem, unprotectedItem, payloadItem, signatureItem]));
}

/** The claims map encoded entry by entry, one value swapped for raw bytes. */
export function claimsWithRaw(claims: Map<unknown, unknown>, key: unknown, raw: Buffer): Buffer {
  const pairs: Array<[Buffer, Buffer]> = [];
  let placed = false;
  for (const [k, v] of claims) {
    if (k === key) {
      pairs.push([cborEncode(k), raw]);
      placed = true;
    } else pairs.push([cborEncode(k), cborEncode(v)]);
  }
  if (!placed) pairs.push([cborEncode(key), raw]);
  return cbor.map(pairs);
}

export class Signing {
  private readonly digests = new Set<string>();

  /** @param ours every key the rig signs with (its seeds too), for the fallback of signedByUs. */
  constructor(readonly signer: CodeSigner, private readonly ours: readonly CodeSigner[] = [signer]) {}

  get protectedBytes(): Buffer {
    return cborEncode(new Map<number, unknown>([[1, ALGORITHMS[this.signer.algorithm]], [4, kidOf(this.signer.certificate.raw)]]));
  }

  /** Signs (protected, payload) as COSE does and remembers it as ours. */
  sign(protectedBytes: Buffer, payload: Buffer, algorithm: AlgorithmName = this.signer.algorithm): Buffer {
    const data = sigStructure(protectedBytes, payload);
    this.remember(data);
    try {
      return signData(algorithm, this.signer.privateKey, data);
    } catch {
      return Buffer.alloc(64);
    }
  }

  remember(data: Buffer): void {
    if (this.digests.size >= SIGNED_KEPT) this.digests.delete(this.digests.values().next().value!);
    this.digests.add(createHash('sha256').update(data).digest('base64'));
  }

  /**
   * Signed here: remembered, or, once its digest has made way for newer ones
   * (fast-check may bring back an early case, a seed recompressed), a
   * signature one of the rig's keys made.
   */
  signedByUs(data: Buffer, signature?: Buffer, algorithm?: AlgorithmName): boolean {
    if (this.digests.has(createHash('sha256').update(data).digest('base64'))) return true;
    if (signature === undefined || algorithm === undefined) return false;
    return this.ours.some((key) => {
      try {
        return key.algorithm === algorithm && verifySignature(algorithm, key.certificate.publicKey, data, signature);
      } catch {
        return false;
      }
    });
  }
}

const PREFIX_GAMES = ['GZHC1:', 'HC1:', 'hc1:', 'gzhc1:', 'HC1', 'GZHC1', ' HC1:', 'HC1:HC1:', 'GZHC1:GZHC1:', '', 'HC2:', 'GZHC2:', '\ufeffHC1:', 'HC1:\n', 'GZHC1: '];

export function credentialArbitrary(seeds: Layers[], signing: Signing, profile: Profile): fc.Arbitrary<string> {
  const seed = fc.constantFrom(...seeds);
  const prefix = PREFIXES[profile];
  const guarded = <T>(arb: fc.Arbitrary<T>, build: (value: T) => string): fc.Arbitrary<string> =>
    arb.map((value) => {
      try {
        return build(value);
      } catch {
        // The mutation could not be encoded (cbor-x refuses some values): the seed goes as it is.
        return prefix;
      }
    });
  const resign = (protectedBytes: Buffer, unprotected: unknown, payload: Buffer): string =>
    wrap(prefix, coseOf(protectedBytes, unprotected, payload, signing.sign(protectedBytes, payload)));
  const claimKeys = profile === 'gzhc' ? [CLAIM_GZHC, 1, 2, 4, 5, 6] : [CLAIM_HCERT, 1, 4, 5, 6];

  const text = mutatedText(seed.map((s) => s.text), BASE45);
  const compressed = guarded(fc.tuple(seed, mutatedBytes(seed.map((s) => new Uint8Array(s.compressed)))), ([s, bytes]) => s.prefix + base45Encode(bytes));
  const coseBytes = guarded(fc.tuple(seed, mutatedBytes(seed.map((s) => new Uint8Array(s.cose)))), ([s, bytes]) => wrap(s.prefix, bytes));
  const coseTree = guarded(fc.tuple(seed, treeEdits(cborValue)), ([s, edits]) => {
    const tree = [s.protectedBytes, s.unprotected, s.payload, s.signature];
    return wrap(s.prefix, cborEncode(new Tag(applyTreeEdits(tree, edits, (v) => new Map([[1, v]])), 18)));
  });
  const claims = guarded(fc.tuple(seed, treeEdits(cborValue, 4)), ([s, edits]) => {
    const edited = applyTreeEdits(s.claims, edits, (v) => new Map([[1, v]]));
    return resign(signing.protectedBytes, new Map(), cborEncode(edited));
  });
  const protectedHeader = guarded(
    fc.tuple(seed, fc.array(fc.tuple(fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 6, 33, -1), fc.integer(), fc.string({ maxLength: 4 })), cborValue), { maxLength: 3 }), fc.boolean()),
    ([s, entries, keepUnprotected]) => {
      const header = new Map<unknown, unknown>([[1, ALGORITHMS[signing.signer.algorithm]], [4, kidOf(signing.signer.certificate.raw)]]);
      for (const [k, v] of entries) header.set(k, v);
      const bytes = cborEncode(header);
      return resign(bytes, keepUnprotected ? s.unprotected : new Map(), s.payload);
    },
  );
  const hostile = guarded(
    fc.tuple(seed, hostileItem, fc.constantFrom('cose', 'protected-value', 'protected-whole', 'unprotected-alg', 'unprotected-kid', 'unprotected-whole', 'payload-whole', 'claim', 'claim-body', 'signature', 'tags'), fc.constantFrom(...claimKeys), fc.nat()),
    ([s, item, where, claimKey, n]) => {
      const protectedBytes = signing.protectedBytes;
      const kid = kidOf(signing.signer.certificate.raw);
      const signed = (prot: Buffer, payload: Buffer, unprotectedItem: Buffer = cbor.map([])): string =>
        s.prefix + base45Encode(deflateSync(rawCose(cbor.bytes(prot), unprotectedItem, cbor.bytes(payload), cbor.bytes(signing.sign(prot, payload)))));
      switch (where) {
        case 'cose':
          return s.prefix + base45Encode(deflateSync(n % 2 ? cbor.tag(18, item) : item));
        case 'protected-value':
          return signed(cbor.map([[cbor.int(1), cbor.int(ALGORITHMS[signing.signer.algorithm])], [cbor.int(4), cbor.bytes(kid)], [cbor.int([1, 4, 2, 3, 33][n % 5]!), item]]), cborEncode(s.claims));
        case 'protected-whole':
          return signed(item, cborEncode(s.claims));
        case 'unprotected-alg':
          return signed(protectedBytes, cborEncode(s.claims), cbor.map([[cbor.int(1), item]]));
        case 'unprotected-kid':
          return signed(cborEncode(new Map([[1, ALGORITHMS[signing.signer.algorithm]]])), cborEncode(s.claims), cbor.map([[cbor.int(4), item]]));
        case 'unprotected-whole':
          return signed(protectedBytes, cborEncode(s.claims), item);
        case 'payload-whole':
          return signed(protectedBytes, item);
        case 'claim':
          return signed(protectedBytes, claimsWithRaw(s.claims, claimKey, item));
        case 'claim-body': {
          // Inside the profile's own claim: the GZHC body fields, or the DCC payload under hcert key 1.
          const bodyKey = profile === 'gzhc' ? CLAIM_GZHC : CLAIM_HCERT;
          const inner = profile === 'gzhc' ? cbor.map([[cbor.int(1 + (n % 4)), item]]) : cbor.map([[cbor.int(1), n % 2 ? item : cbor.map([[cbor.text(['ver', 'nam', 'dob', 'v', 't', 'r'][n % 6]!), item]])]]);
          return signed(protectedBytes, claimsWithRaw(s.claims, bodyKey, inner));
        }
        case 'signature':
          return s.prefix + base45Encode(deflateSync(rawCose(cbor.bytes(protectedBytes), cbor.map([]), cbor.bytes(s.payload), item)));
        default: {
          // Tags around the COSE array: CWT, COSE_Sign1, both twice, or another.
          const inner = cbor.array([cbor.bytes(s.protectedBytes), cborEncode(s.unprotected), cbor.bytes(s.payload), cbor.bytes(s.signature)]);
          const tags = [[61, 18], [18, 61], [61, 61, 18], [18, 18], [55799, 18], [24], [98], [61]][n % 8]!;
          return s.prefix + base45Encode(deflateSync(tags.reduceRight((acc, t) => cbor.tag(t, acc), inner)));
        }
      }
    },
  );
  const zlibTricks = guarded(fc.tuple(seed, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 9 })), ([s, n, junk, level]) => {
    switch (n % 10) {
      case 0:
        return s.prefix + base45Encode(Buffer.concat([s.compressed, junk]));
      case 1:
        return s.prefix + base45Encode(Buffer.concat([s.compressed, deflateSync(s.cose)]));
      case 2:
        return s.prefix + base45Encode(deflateRawSync(s.cose, { level }));
      case 3:
        return s.prefix + base45Encode(gzipSync(s.cose));
      case 4:
        return s.prefix + base45Encode(deflateSync(s.cose, { level, windowBits: 8 + (n % 8), memLevel: 1 + (n % 9), strategy: n % 5 }));
      case 5: {
        // The FDICT flag with a dictionary id: a stream that needs a dictionary the verifier does not have.
        const body = deflateRawSync(s.cose);
        const cmf = 0x78;
        let flg = 0x20;
        flg += 31 - (((cmf << 8) | flg) % 31);
        return s.prefix + base45Encode(Buffer.concat([Buffer.from([cmf, flg]), Buffer.from(junk.subarray(0, 4).length === 4 ? junk.subarray(0, 4) : [1, 2, 3, 4]), body]));
      }
      case 6: {
        // A bomb: a signed payload of zeros far over the decompression cap.
        const payload = Buffer.concat([cborEncode(s.claims), Buffer.alloc(32_000 + (n % 4) * 100_000)]);
        return wrap(s.prefix, coseOf(signing.protectedBytes, new Map(), payload, signing.sign(signing.protectedBytes, payload)));
      }
      case 7:
        return s.prefix + base45Encode(s.compressed.subarray(0, Math.max(0, s.compressed.length - 1 - (n % 6))));
      case 8: {
        const bytes = Buffer.from(s.compressed);
        bytes[bytes.length - 1 - (n % 4)]! ^= 1 << (n % 8);
        return s.prefix + base45Encode(bytes);
      }
      default:
        return s.prefix + base45Encode(applyByteOps(s.compressed, [{ op: 'append', bytes: Buffer.from([0, 0]) }]));
    }
  });
  const prefixes = fc.tuple(seed, fc.constantFrom(...PREFIX_GAMES)).map(([s, p]) => p + s.text.slice(s.prefix.length));
  const random = fc.oneof(
    fc.string({ unit: fc.constantFrom(...BASE45), maxLength: 200 }).map((t) => prefix + t),
    fc.string({ unit: 'grapheme', maxLength: 80 }),
    fc.string({ unit: 'binary', maxLength: 80 }).map((t) => prefix + t),
    fc.integer({ min: 4200, max: 9000 }).map((n) => prefix + '0'.repeat(n)),
  );
  return fc.oneof(
    { weight: 3, arbitrary: text },
    { weight: 2, arbitrary: compressed },
    { weight: 2, arbitrary: coseBytes },
    { weight: 3, arbitrary: coseTree },
    { weight: 4, arbitrary: claims },
    { weight: 2, arbitrary: protectedHeader },
    { weight: 4, arbitrary: hostile },
    { weight: 2, arbitrary: zlibTricks },
    { weight: 1, arbitrary: prefixes },
    { weight: 1, arbitrary: random },
  );
}
