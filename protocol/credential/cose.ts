/**
 * COSE_Sign1 (RFC 9052 §4.2) as the EU DCC and our GZHC1 profile use it:
 * parse the structure, build the Sig_structure (§4.4), sign and verify with
 * Node's own crypto. CBOR is checked and decoded by cbor.ts; the
 * Sig_structure is encoded from the exact protected-header bytes that were
 * received.
 */
import { constants, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { Tag } from 'cbor-x';
import { cborEncode, decodeCbor, NO_TAGS } from './cbor.js';
import { CredentialError } from './failure.js';

export { cborDecoder, cborEncode } from './cbor.js';

/** COSE algorithm identifiers (IANA "COSE Algorithms" registry). */
export const ALGORITHMS = { ES256: -7, PS256: -37, EdDSA: -8 } as const;
export type AlgorithmName = keyof typeof ALGORITHMS;
const NAME_OF = new Map<number, AlgorithmName>(
  Object.entries(ALGORITHMS).map(([name, id]) => [id, name as AlgorithmName]),
);

/** Header labels, RFC 9052 §3.1. */
const HEADER_ALG = 1;
const HEADER_KID = 4;
/** CBOR tags: COSE_Sign1 (RFC 9052 §2) and CWT (RFC 8392 §6). */
const TAG_COSE_SIGN1 = 18;
const TAG_CWT = 61;

export interface CoseSign1 {
  protectedBytes: Buffer;
  protectedHeader: Map<unknown, unknown>;
  unprotectedHeader: Map<unknown, unknown>;
  payload: Buffer;
  signature: Buffer;
  algorithm: AlgorithmName;
  /** kid from the protected header, else from the unprotected one (as the DCC vectors CO18–CO23 require). */
  kid: Buffer | null;
}

/** The tags a COSE message may open with: CWT, then COSE_Sign1, each optional (DCC vector CO28). */
const MESSAGE_TAGS: ReadonlySet<number> = new Set([TAG_CWT, TAG_COSE_SIGN1]);
/** The only labels an EU DCC may carry unprotected: the DCC specification names no others. */
const DCC_UNPROTECTED_LABELS: ReadonlySet<unknown> = new Set([HEADER_ALG, HEADER_KID]);

function isBytes(value: unknown): value is Buffer {
  return value instanceof Uint8Array;
}

/** A header label for a message: labels are integers or text (RFC 9052 §3); anything else is named by its type. */
function labelName(label: unknown): string {
  if (label === HEADER_ALG) return '1 (alg)';
  if (label === HEADER_KID) return '4 (kid)';
  if (typeof label === 'number' || typeof label === 'bigint') return String(label);
  if (typeof label === 'string') return JSON.stringify(label.length > 40 ? `${label.slice(0, 40)}…` : label);
  return `of type ${label === null ? 'null' : Array.isArray(label) ? 'array' : typeof label}`;
}

/**
 * The unprotected header is not covered by the signature, so whatever it may
 * hold can be changed in a signed code without breaking it. What each profile
 * allows there (docs/credential-profile.md, "Signature"):
 * - GZHC1: nothing. Our issuer writes it empty (buildCoseSign1), so anything
 *   in it was added after signing.
 * - EU DCC: only alg (1) and kid (4). The DCC specification names no other
 *   header and says a verifier must accept kid unprotected; the suite's vectors
 *   CO19, CO20, CO22 and CO23 put kid, and alg, there, and CO20 must verify.
 *   alg must not stand in both headers (RFC 9052 §3; no vector does). kid may:
 *   CO21 carries a different kid in each header and must verify (the
 *   protected one wins).
 */
function checkUnprotectedHeader(
  protectedHeader: Map<unknown, unknown>,
  unprotectedHeader: Map<unknown, unknown>,
  gzhcProfile: boolean,
): void {
  if (gzhcProfile) {
    const [label] = unprotectedHeader.keys();
    if (unprotectedHeader.size > 0) {
      throw new CredentialError(
        'cose',
        `a GZHC1 code's unprotected header must be empty (its issuer signs every header); this one has label ${labelName(label)}` +
          (unprotectedHeader.size > 1 ? ` and ${unprotectedHeader.size - 1} more` : ''),
      );
    }
    return;
  }
  for (const label of unprotectedHeader.keys()) {
    if (!DCC_UNPROTECTED_LABELS.has(label)) {
      throw new CredentialError(
        'cose',
        `unprotected header label ${labelName(label)} is not allowed: an EU DCC may carry only alg (1) and kid (4) there`,
      );
    }
  }
  if (protectedHeader.has(HEADER_ALG) && unprotectedHeader.has(HEADER_ALG)) {
    throw new CredentialError('cose', 'header label 1 (alg) occurs in both the protected and the unprotected header (RFC 9052 §3)');
  }
}

/** @param gzhcProfile apply the GZHC1 profile's header rules rather than the EU DCC ones (checkUnprotectedHeader). */
export function parseCoseSign1(bytes: Buffer, gzhcProfile: boolean): CoseSign1 {
  let item = decodeCbor(bytes, 'COSE message', MESSAGE_TAGS);
  if (item instanceof Tag && item.tag === TAG_CWT) item = item.value;
  if (item instanceof Tag) {
    if (item.tag !== TAG_COSE_SIGN1) {
      throw new CredentialError('cose', `CBOR tag ${item.tag} is not COSE_Sign1 (18)`);
    }
    item = item.value;
  }
  if (!Array.isArray(item) || item.length !== 4) {
    throw new CredentialError('cose', 'COSE_Sign1 must be an array of 4 items');
  }
  const [protectedBytes, unprotectedHeader, payload, signature] = item as unknown[];
  if (!isBytes(protectedBytes)) throw new CredentialError('cose', 'COSE protected header must be a byte string');
  if (!(unprotectedHeader instanceof Map)) throw new CredentialError('cose', 'COSE unprotected header must be a map');
  if (!isBytes(payload)) throw new CredentialError('cose', 'COSE payload must be an attached byte string');
  if (!isBytes(signature)) throw new CredentialError('cose', 'COSE signature must be a byte string');

  // A zero-length protected header stands for an empty map (RFC 9052 §3).
  const protectedHeader = protectedBytes.length === 0 ? new Map() : decodeCbor(protectedBytes, 'COSE protected header', NO_TAGS);
  if (!(protectedHeader instanceof Map)) throw new CredentialError('cose', 'COSE protected header must encode a map');
  checkUnprotectedHeader(protectedHeader, unprotectedHeader, gzhcProfile);

  // For GZHC1 the unprotected header is empty by now, so its algorithm is always protected.
  const alg = protectedHeader.has(HEADER_ALG) ? protectedHeader.get(HEADER_ALG) : unprotectedHeader.get(HEADER_ALG);
  if (alg === undefined) throw new CredentialError('cose', 'COSE headers name no algorithm');
  const algorithm = typeof alg === 'number' ? NAME_OF.get(alg) : undefined;
  if (!algorithm) {
    throw new CredentialError('signature', `algorithm ${String(alg)} is not one of ES256 (-7), PS256 (-37), EdDSA (-8)`);
  }
  const protectedKid = protectedHeader.get(HEADER_KID);
  const unprotectedKid = unprotectedHeader.get(HEADER_KID);
  const kidValue = protectedKid ?? unprotectedKid;
  if (kidValue !== undefined && !isBytes(kidValue)) throw new CredentialError('cose', 'COSE kid must be a byte string');

  return {
    protectedBytes: Buffer.from(protectedBytes),
    protectedHeader,
    unprotectedHeader,
    payload: Buffer.from(payload),
    signature: Buffer.from(signature),
    algorithm,
    kid: kidValue === undefined ? null : Buffer.from(kidValue),
  };
}

/** Sig_structure for COSE_Sign1 with empty external_aad, RFC 9052 §4.4. */
export function sigStructure(protectedBytes: Buffer, payload: Buffer): Buffer {
  return cborEncode(['Signature1', protectedBytes, Buffer.alloc(0), payload]);
}

/** Key types (node:crypto names) each algorithm takes; PS256 takes plain RSA keys and RSASSA-PSS ones. */
const KEY_TYPES_FOR: Record<AlgorithmName, readonly string[]> = { ES256: ['ec'], PS256: ['rsa', 'rsa-pss'], EdDSA: ['ed25519'] };
/** RFC 8230 §6: RSA keys used with COSE must be at least 2048 bits. */
export const MIN_RSA_MODULUS_BITS = 2048;
/** PS256: SHA-256, MGF1 with SHA-256, salt of 32 bytes (RFC 8230 §2). */
const PS256_HASH = 'sha256';
const PS256_SALT_LENGTH = 32;

function checkKeyFits(algorithm: AlgorithmName, key: KeyObject): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  const fits =
    type !== undefined &&
    KEY_TYPES_FOR[algorithm].includes(type) &&
    (algorithm !== 'ES256' || details?.namedCurve === 'prime256v1');
  if (!fits) {
    throw new CredentialError('signature', `signer key (${type ?? 'unknown'}) cannot be used with ${algorithm}`);
  }
  if (algorithm !== 'PS256') return;
  const bits = details?.modulusLength ?? 0;
  if (bits < MIN_RSA_MODULUS_BITS) {
    throw new CredentialError(
      'signature',
      `signer RSA key of ${bits} bits is too short: PS256 needs at least ${MIN_RSA_MODULUS_BITS} bits (RFC 8230 §6)`,
    );
  }
  // An RSASSA-PSS key may be bound to its own parameters (RFC 4055 §3.1): they must allow PS256's.
  const bound = [
    details?.hashAlgorithm !== undefined && details.hashAlgorithm !== PS256_HASH ? `hash ${details.hashAlgorithm}` : null,
    details?.mgf1HashAlgorithm !== undefined && details.mgf1HashAlgorithm !== PS256_HASH ? `MGF1 ${details.mgf1HashAlgorithm}` : null,
    (details?.saltLength ?? 0) > PS256_SALT_LENGTH ? `salt of at least ${details?.saltLength} bytes` : null,
  ].filter((text) => text !== null);
  if (bound.length > 0) {
    throw new CredentialError(
      'signature',
      `signer RSA-PSS key is restricted to parameters (${bound.join(', ')}) that PS256 (SHA-256, salt 32) does not use`,
    );
  }
}

/** True when the signature verifies; throws when the key does not fit the algorithm. */
export function verifySignature(algorithm: AlgorithmName, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  checkKeyFits(algorithm, key);
  switch (algorithm) {
    case 'ES256':
      // COSE carries r||s (RFC 9053 §2.1), not DER.
      return signature.length === 64 && cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    case 'PS256':
      // Salt as long as the hash (RFC 8230 §2).
      return cryptoVerify(
        'sha256',
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PS256_SALT_LENGTH },
        signature,
      );
    case 'EdDSA':
      return cryptoVerify(null, data, key, signature);
  }
}

export function signData(algorithm: AlgorithmName, key: KeyObject, data: Buffer): Buffer {
  switch (algorithm) {
    case 'ES256':
      return cryptoSign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'PS256':
      return cryptoSign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    case 'EdDSA':
      return cryptoSign(null, data, key);
  }
}

/** Build a tagged COSE_Sign1 with alg and kid in the protected header. */
export function buildCoseSign1(algorithm: AlgorithmName, kid: Buffer, payload: Buffer, key: KeyObject): Buffer {
  const protectedBytes = cborEncode(new Map<number, unknown>([[HEADER_ALG, ALGORITHMS[algorithm]], [HEADER_KID, kid]]));
  const signature = signData(algorithm, key, sigStructure(protectedBytes, payload));
  return cborEncode(new Tag([protectedBytes, new Map(), payload, signature], TAG_COSE_SIGN1));
}
