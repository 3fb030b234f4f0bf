/**
 * COSE_Sign1 (RFC 9052 §4.2) as the EU DCC and our GZHC1 profile use it:
 * parse the structure, build the Sig_structure (§4.4), sign and verify with
 * Node's own crypto. CBOR comes from cbor-x; the Sig_structure is encoded by
 * it too, from the exact protected-header bytes that were received.
 */
import { constants, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { Decoder, Encoder, Tag } from 'cbor-x';
import { CredentialError } from './failure.js';

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

// Maps stay Maps: COSE and CWT use integer keys that plain objects would turn into strings.
export const cborDecoder = new Decoder({ mapsAsObjects: false, useRecords: false });
const cborEncoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

export function cborEncode(value: unknown): Buffer {
  return cborEncoder.encode(value);
}

export interface CoseSign1 {
  protectedBytes: Buffer;
  protectedHeader: Map<unknown, unknown>;
  unprotectedHeader: Map<unknown, unknown>;
  payload: Buffer;
  signature: Buffer;
  algorithm: AlgorithmName;
  /** kid from the protected header, else from the unprotected one (as the DCC vectors require). */
  kid: Buffer | null;
}

function decodeCbor(bytes: Uint8Array, what: string): unknown {
  try {
    return cborDecoder.decode(bytes);
  } catch (error) {
    throw new CredentialError('cose', `${what} is not well-formed CBOR: ${(error as Error).message}`);
  }
}

function isBytes(value: unknown): value is Buffer {
  return value instanceof Uint8Array;
}

/**
 * @param requireProtectedAlgorithm our GZHC1 profile refuses an algorithm that is
 *   not integrity-protected; the EU DCC suite (vector CO20) requires accepting one
 *   that stands only in the unprotected header.
 */
export function parseCoseSign1(bytes: Buffer, requireProtectedAlgorithm: boolean): CoseSign1 {
  let item = decodeCbor(bytes, 'COSE message');
  // Accept the CWT tag and the COSE_Sign1 tag, each optional, in that order (DCC vector CO28).
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
  const protectedHeader = protectedBytes.length === 0 ? new Map() : decodeCbor(protectedBytes, 'COSE protected header');
  if (!(protectedHeader instanceof Map)) throw new CredentialError('cose', 'COSE protected header must encode a map');

  let alg = protectedHeader.get(HEADER_ALG);
  if (alg === undefined && unprotectedHeader.has(HEADER_ALG)) {
    if (requireProtectedAlgorithm) {
      throw new CredentialError('cose', 'algorithm is only in the unprotected header; this profile requires it protected');
    }
    alg = unprotectedHeader.get(HEADER_ALG);
  }
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

const KEY_TYPE_FOR: Record<AlgorithmName, string> = { ES256: 'ec', PS256: 'rsa', EdDSA: 'ed25519' };

function checkKeyFits(algorithm: AlgorithmName, key: KeyObject): void {
  const type = key.asymmetricKeyType;
  const fits =
    type === KEY_TYPE_FOR[algorithm] &&
    (algorithm !== 'ES256' || key.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  if (!fits) {
    throw new CredentialError('signature', `signer key (${type ?? 'unknown'}) cannot be used with ${algorithm}`);
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
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
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
