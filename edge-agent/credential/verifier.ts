/**
 * The gate's credential check: prefix → base45 → zlib → COSE_Sign1 →
 * trusted signer → signature → signer certificate valid at iat → CWT claims
 * → key usage → validity → profile claims. Every stage refuses with a stable
 * failure code and a message; no input makes it throw. One verifier reads our GZHC1 codes and EU DCC
 * "HC1:" certificates, since both ride the same stack.
 */
import type { X509Certificate } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { base45Decode } from '../../protocol/credential/base45.js';
import {
  exactNumbers,
  readCwtCore,
  readDccClaims,
  readGzhcClaims,
  readNotBefore,
  dccKeyUsageAllows,
  type DccClaims,
  type GzhcClaims,
} from '../../protocol/credential/claims.js';
import { decodeCbor, NO_TAGS } from '../../protocol/credential/cbor.js';
import { parseCoseSign1, sigStructure, verifySignature, type AlgorithmName } from '../../protocol/credential/cose.js';
import { CredentialError, firstFailure, type CredentialFailure } from '../../protocol/credential/failure.js';
import { PREFIXES, type Profile } from '../../protocol/credential/profile.js';
import type { TrustStore, TrustedSigner } from '../../protocol/trust/trust-store.js';

/** A QR symbol holds at most 4,296 alphanumeric characters. */
export const DEFAULT_MAX_TEXT_LENGTH = 4296;

export interface VerifierOptions {
  trust: TrustStore;
  /** Tolerance for clocks that disagree, applied to iat, nbf and exp. */
  clockSkewSeconds?: number;
  /** Longest text accepted; DEFAULT_MAX_TEXT_LENGTH by default. */
  maxTextLength?: number;
  /** Cap on the inflated COSE message: stops zlib bombs. */
  maxDecompressedBytes?: number;
  /** A dynamic GZHC code living longer than this is refused: a screenshot must go stale. */
  maxDynamicLifetimeSeconds?: number;
}

/** Stages that passed or failed, for the DCC conformance suite and for diagnosis. */
export interface VerificationSteps {
  unprefix?: boolean;
  base45?: boolean;
  decompress?: boolean;
  cose?: boolean;
  /** A trusted signer whose certificate was valid at iat, and a signature that verifies with its key. */
  signature?: boolean;
  keyUsage?: boolean;
  validity?: boolean;
  claims?: boolean;
}

interface CommonResult {
  profile: Profile | null;
  /** kid in base64, as trust lists write it. */
  kid: string | null;
  iss: string | null;
  iat: number | null;
  exp: number | null;
  algorithm: AlgorithmName | null;
  steps: VerificationSteps;
}

export interface ValidCredential extends CommonResult {
  valid: true;
  failure: null;
  message: null;
  profile: Profile;
  gzhc: GzhcClaims | null;
  dcc: DccClaims | null;
}

export interface InvalidCredential extends CommonResult {
  valid: false;
  failure: CredentialFailure;
  message: string;
  gzhc: GzhcClaims | null;
  dcc: DccClaims | null;
}

export type VerificationResult = ValidCredential | InvalidCredential;

/** What is known of a code before any of it is read. */
function nothingRead(): CommonResult {
  return { profile: null, kid: null, iss: null, iat: null, exp: null, algorithm: null, steps: {} };
}

/** A refusal of a code before any of it was read (too long, say), as the verifier gives one. */
export function refusedUnread(failure: CredentialFailure, message: string): InvalidCredential {
  return { ...nothingRead(), valid: false, failure, message, gzhc: null, dcc: null };
}

export class CredentialVerifier {
  #trust: TrustStore;
  private readonly skew: number;
  private readonly maxTextLength: number;
  private readonly maxDecompressedBytes: number;
  private readonly maxDynamicLifetime: number;

  constructor(options: VerifierOptions) {
    this.#trust = options.trust;
    this.skew = options.clockSkewSeconds ?? 60;
    this.maxTextLength = options.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH;
    this.maxDecompressedBytes = options.maxDecompressedBytes ?? 32 * 1024;
    this.maxDynamicLifetime = options.maxDynamicLifetimeSeconds ?? 900;
  }

  get trust(): TrustStore {
    return this.#trust;
  }

  /** Swap in a reloaded issuer list; verify() is synchronous, so no check ever sees half of each. */
  replaceTrust(store: TrustStore): void {
    this.#trust = store;
  }

  /** Verify a code text as of `atMs` (epoch milliseconds, default now). Never throws. */
  verify(text: string, atMs: number = Date.now()): VerificationResult {
    const result = nothingRead();
    let gzhc: GzhcClaims | null = null;
    let dcc: DccClaims | null = null;
    const refuse = (failure: CredentialFailure, message: string): InvalidCredential => ({
      ...result,
      valid: false,
      failure,
      message,
      gzhc,
      dcc,
    });

    try {
      if (text.length > this.maxTextLength) {
        return refuse('too-large', `code text of ${text.length} characters exceeds the cap of ${this.maxTextLength}`);
      }
      const profile = text.startsWith(PREFIXES.gzhc) ? 'gzhc' : text.startsWith(PREFIXES.dcc) ? 'dcc' : null;
      result.steps.unprefix = profile !== null;
      if (!profile) return refuse('prefix', `code text starts with neither ${PREFIXES.gzhc} nor ${PREFIXES.dcc}`);
      result.profile = profile;

      result.steps.base45 = false;
      const compressed = base45Decode(text.slice(PREFIXES[profile].length));
      result.steps.base45 = true;

      result.steps.decompress = false;
      const coseBytes = this.inflate(compressed);
      result.steps.decompress = true;

      result.steps.cose = false;
      const cose = parseCoseSign1(coseBytes, profile === 'gzhc');
      result.algorithm = cose.algorithm;
      result.kid = cose.kid ? cose.kid.toString('base64') : null;
      // Neither profile tags anything inside its claims (RFC 8392 writes NumericDate untagged).
      const decoded = decodeCbor(cose.payload, 'CWT payload', NO_TAGS);
      if (!(decoded instanceof Map)) throw new CredentialError('cose', 'CWT payload is not a CBOR map');
      const { claims, refusal: inexact } = exactNumbers(decoded);
      if (profile === 'dcc') dcc = readDccClaims(claims);
      result.steps.cose = true;

      result.steps.signature = false;
      if (!cose.kid) return refuse('untrusted-key', 'COSE headers carry no kid to find the signer by');
      const candidates = this.trust.lookup(cose.kid);
      if (candidates.length === 0) return refuse('untrusted-key', `no trusted signer certificate has kid ${result.kid}`);
      const data = sigStructure(cose.protectedBytes, cose.payload);
      // Certificates may share a kid: try each; one whose key cannot take the algorithm is skipped.
      let signer: TrustedSigner | undefined;
      let unfit: CredentialError | null = null;
      for (const candidate of candidates) {
        try {
          if (verifySignature(cose.algorithm, candidate.key, data, cose.signature)) {
            signer = candidate;
            break;
          }
        } catch (error) {
          if (!(error instanceof CredentialError)) throw error;
          unfit = error;
        }
      }
      if (!signer && unfit && candidates.length === 1) return refuse(unfit.code, unfit.message);
      if (!signer) return refuse('signature', `${cose.algorithm} signature does not verify with the signer of kid ${result.kid}`);

      const core = readCwtCore(claims);
      Object.assign(result, core);
      // A certificate vouches for its key only within its validity: a code issued outside it
      // was not signed by a signer trusted at the time. No DCC vector has an iat outside its
      // certificate's validity, so the rule holds for both profiles.
      const outside = signerNotValidAt(signer.certificate, core.iat);
      if (outside) return refuse('untrusted-key', outside);
      result.steps.signature = true;

      // The remaining checks are independent; all are run so `steps` tells each one,
      // and the first failure in the documented order is the one reported.
      const problems: CredentialError[] = inexact ? [inexact] : [];
      let nbf: number | null = null;
      try {
        nbf = readNotBefore(claims);
      } catch (error) {
        problems.push(error as CredentialError);
      }
      if (profile === 'dcc') {
        result.steps.keyUsage = dccKeyUsageAllows(signer.extendedKeyUsage, dcc?.type ?? null);
        if (!result.steps.keyUsage) {
          problems.push(new CredentialError('key-usage', `signer certificate may not sign DCC type ${dcc?.type ?? 'unknown'}`));
        }
      }
      const validity = this.checkValidity(core.iat, nbf, core.exp, atMs);
      result.steps.validity = validity === null;
      if (validity) problems.push(validity);
      if (profile === 'gzhc') {
        try {
          gzhc = readGzhcClaims(claims, core);
          if (gzhc.kind === 'dynamic' && core.exp! - core.iat! > this.maxDynamicLifetime) {
            throw new CredentialError(
              'claims',
              `dynamic code lives ${core.exp! - core.iat!} s; at most ${this.maxDynamicLifetime} s is allowed`,
            );
          }
        } catch (error) {
          gzhc = null;
          problems.push(error as CredentialError);
        }
      }
      result.steps.claims = !problems.some((p) => p.code === 'claims');
      const first = firstFailure(problems);
      if (first) return refuse(first.code, first.message);
      return { ...result, profile, valid: true, failure: null, message: null, gzhc, dcc };
    } catch (error) {
      if (error instanceof CredentialError) return refuse(error.code, error.message);
      // Anything else is a bug in a library on hostile input: refuse, never crash the lane.
      return refuse('cose', `credential could not be read: ${(error as Error).message}`);
    }
  }

  /**
   * One zlib stream (RFC 1950) and nothing after it. Node's inflate stops at
   * the end of the stream and drops what follows, so the bytes it consumed are
   * compared with those given: data after the stream is not part of the code
   * (no DCC test vector has any), and accepting it would let one signed code
   * take many texts.
   */
  private inflate(compressed: Buffer): Buffer {
    let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // `info: true` returns the engine with the result; @types/node types only the buffer.
      inflated = inflateSync(compressed, { maxOutputLength: this.maxDecompressedBytes, info: true }) as unknown as typeof inflated;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new CredentialError('too-large', `decompressed code exceeds ${this.maxDecompressedBytes} bytes`);
      }
      throw new CredentialError('decompress', `code is not a valid zlib stream: ${(error as Error).message}`);
    }
    const extra = compressed.length - inflated.engine.bytesWritten;
    if (extra > 0) {
      throw new CredentialError('decompress', `${extra === 1 ? '1 byte follows' : `${extra} bytes follow`} the end of the zlib stream`);
    }
    return inflated.buffer;
  }

  private checkValidity(iat: number | null, nbf: number | null, exp: number | null, atMs: number): CredentialError | null {
    const now = atMs / 1000;
    if (iat !== null && iat > now + this.skew) {
      return new CredentialError('not-yet-valid', `code is issued at ${isoSeconds(iat)}, after the check time ${isoSeconds(now)}`);
    }
    if (nbf !== null && nbf > now + this.skew) {
      return new CredentialError('not-yet-valid', `code is not valid before ${isoSeconds(nbf)} (nbf); the check time is ${isoSeconds(now)}`);
    }
    if (exp === null) return new CredentialError('expired', 'code carries no expiry (exp)');
    // RFC 8392 §3.1.4: the token must not be accepted on or after exp.
    if (exp <= now - this.skew) return new CredentialError('expired', `code expired at ${isoSeconds(exp)}`);
    return null;
  }
}

/**
 * Why the signer certificate did not vouch for a code issued at `iat`, or null when it did.
 * X.509 validity is inclusive at both ends (RFC 5280 §4.1.2.5). A code without iat is left
 * to the claims checks.
 */
function signerNotValidAt(certificate: X509Certificate, iat: number | null): string | null {
  if (iat === null) return null;
  const from = Date.parse(certificate.validFrom) / 1000;
  const to = Date.parse(certificate.validTo) / 1000;
  if (Number.isNaN(from) || Number.isNaN(to)) {
    return `signer certificate validity (${certificate.validFrom} to ${certificate.validTo}) cannot be read`;
  }
  if (iat >= from && iat <= to) return null;
  return (
    `signer certificate was not valid when the code was issued: issued at ${isoSeconds(iat)}, ` +
    `certificate valid from ${isoSeconds(from)} to ${isoSeconds(to)}`
  );
}

function isoSeconds(seconds: number): string {
  const date = new Date(Math.round(seconds * 1000));
  // A signed but absurd iat/exp (beyond ±8.64e15 ms) has no ISO form; toISOString would throw.
  return Number.isNaN(date.getTime()) ? `${seconds} s after the epoch` : date.toISOString();
}
