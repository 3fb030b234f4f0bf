/**
 * Issue GZHC1 codes: the inverse of the verifier, used by the simulator's
 * reference platform and by tests. A real issuer runs on the centre's side;
 * nothing on a gate signs codes.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { CodeKind, Colour } from '../domain.js';
import { base45Encode } from './base45.js';
import { CLAIM_GZHC, CWT_EXP, CWT_IAT, CWT_ISS, CWT_SUB, GZHC_FIELD, GZHC_VERSION } from './claims.js';
import { buildCoseSign1, cborEncode, type AlgorithmName } from './cose.js';
import { PREFIXES } from './profile.js';
import { kidOf } from '../trust/trust-store.js';

export interface CodeSigner {
  certificate: X509Certificate;
  privateKey: KeyObject;
  algorithm: AlgorithmName;
}

export interface GzhcCodeContent {
  iss: string;
  sub: string;
  /** Seconds since the epoch. */
  iat: number;
  exp: number;
  colour: Colour | null;
  kind: CodeKind;
  maskedName: string;
}

/** Claims map of a GZHC1 code, exposed so tests can build deliberately wrong ones. */
export function gzhcClaims(content: GzhcCodeContent): Map<number, unknown> {
  const body = new Map<number, unknown>([
    [GZHC_FIELD.version, GZHC_VERSION],
    [GZHC_FIELD.kind, content.kind],
    [GZHC_FIELD.maskedName, content.maskedName],
  ]);
  if (content.colour) body.set(GZHC_FIELD.colour, content.colour);
  return new Map<number, unknown>([
    [CWT_ISS, content.iss],
    [CWT_SUB, content.sub],
    [CWT_IAT, content.iat],
    [CWT_EXP, content.exp],
    [CLAIM_GZHC, body],
  ]);
}

/** Sign, compress and encode any claims map as a prefixed text (no checks: tests use it for bad codes). */
export function encodeClaims(claims: unknown, signer: CodeSigner, prefix: string = PREFIXES.gzhc): string {
  const cose = buildCoseSign1(signer.algorithm, kidOf(signer.certificate.raw), cborEncode(claims), signer.privateKey);
  return prefix + base45Encode(deflateSync(cose, { level: 9 }));
}

export function encodeGzhcCode(content: GzhcCodeContent, signer: CodeSigner): string {
  return encodeClaims(gzhcClaims(content), signer);
}
