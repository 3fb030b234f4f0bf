/**
 * Messages the centre signs (colour changes, snapshots, commands, look-up
 * replies): JWS in the flattened JSON serialization (RFC 7515 §7.2.2), so
 * any JOSE library on the centre's side can make them. The protected header
 * carries alg, kid (as the credentials' kid: the first 8 bytes of SHA-256
 * over the signing certificate) and typ, the message kind, so that a
 * signed snapshot can never be replayed as a command; nothing else (the
 * contract's jwsHeader). Whatever is wrong with the shape of a message of
 * any kind, parseJws refuses it as 'malformed' naming what, before any key
 * is looked at; JSON is parsed only within the depth bound (json-bounds.ts).
 *
 * Commands may also come signed by an operator key the signed trust list
 * delegates: the same JWS, checked here against those keys
 * (openLeafMessageWithSigner says which certificate verified it;
 * command-handler.ts decides what it may do).
 *
 * Verified here with node:crypto rather than the `jose` package: on the
 * benchmark machine jose's flattenedVerify did 8,400 ES256 checks/s and
 * node:crypto on the same bytes 21,500/s, and the propagation benchmark
 * verifies one message per simulated lane.
 */
import { createHash, type KeyObject, type X509Certificate } from 'node:crypto';
import { signData, verifySignature, type AlgorithmName } from './credential/cose.js';
import { kidOf, type TrustedSigner, type TrustStore } from './trust/trust-store.js';
import { check, conforms, schemas, type ContractTypes, type JwsHeader, type SignedEnvelope, type SignedType } from './contract.js';
import { parseBoundedJson, type JsonBounds } from './json-bounds.js';
import { isContractError, isJsonBoundsError, isSecurityRefusal, MessageError } from './message-error.js';
import { leafSignedAs, signedTyp, TOPICS, type PayloadOf, type SignedLeaf, type SignedSchema } from './registry.js';

/**
 * The envelope is one object of three base64url strings (three values to the count): a message of
 * megabytes of anything else costs a scan, not a JSON.parse, before it is refused. The bound leaves room
 * for a small unsigned payload to be told apart as 'unsigned'.
 */
const ENVELOPE_BOUNDS: JsonBounds = { maxValues: 1024 };

/** RSA is left to the credentials: the centre signs with EC or Ed25519 keys, which are small and fast to check. */
const SIGNED_MESSAGE_ALGORITHMS: readonly AlgorithmName[] = ['ES256', 'EdDSA'];

/** What is signed as `typ`, by the schema of the topic that carries it (registry.ts). */
export type SignedPayload<T extends SignedType> = ContractTypes[SignedSchema<T>];

export interface MessageSigner {
  algorithm: AlgorithmName;
  kid: Buffer;
  privateKey: KeyObject;
}

/** The signer for a key pair with its certificate: kid as the gates compute it. */
export function messageSigner(key: { algorithm: AlgorithmName; certificate: X509Certificate; privateKey: KeyObject }): MessageSigner {
  return { algorithm: key.algorithm, kid: kidOf(key.certificate.raw), privateKey: key.privateKey };
}

export function signMessage<T extends SignedType>(typ: T, payload: SignedPayload<T>, signer: MessageSigner): SignedEnvelope {
  return signJws(typ, payload, signer);
}

/** A message for `leaf`, signed as the typ the topic table gives that leaf; the payload's type is the leaf's schema's. */
export function signLeafMessage<L extends SignedLeaf>(leaf: L, payload: PayloadOf<L>, signer: MessageSigner): SignedEnvelope {
  return signJws(signedTyp(leaf), payload, signer);
}

/** A centre-signed JWS of any kind; signMessage is this for the link's kinds, gate-provision signs the trust list with it. */
export function signJws(typ: string, payload: unknown, signer: MessageSigner): SignedEnvelope {
  const protectedHeader = Buffer.from(JSON.stringify({ alg: signer.algorithm, kid: signer.kid.toString('base64url'), typ })).toString('base64url');
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const signature = signData(signer.algorithm, signer.privateKey, Buffer.from(`${protectedHeader}.${body}`, 'ascii'));
  return { protected: protectedHeader, payload: body, signature: signature.toString('base64url') };
}

/**
 * Signatures already checked in this process. Lanes run by one process (a
 * controller for a bank of turnstiles, the fleet simulator) each receive the
 * same centre message; with a shared memo the first lane verifies it and the
 * others find it here. Only a byte-identical signing input with the same
 * signature, verified by a certificate the asking lane also trusts, is a hit.
 * Everything else (typ, schema, site, freshness, replay) is still checked by
 * every lane. Bounded: the oldest entries go first.
 */
export class VerifiedSignatures {
  readonly #entries = new Map<string, string>();

  constructor(private readonly max = 64) {}

  /** The fingerprint of the certificate that verified these bytes, if any did. */
  get(digest: string): string | undefined {
    return this.#entries.get(digest);
  }

  add(digest: string, fingerprint: string): void {
    if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(digest, fingerprint);
  }
}

/**
 * The payload of a message that came on `leaf`, signed by a key in `keys`:
 * signed as the leaf's typ and checked against the leaf's schema (both from
 * registry.ts). Throws MessageError naming what was wrong. Freshness
 * and replay are the caller's: they depend on the kind.
 */
export function openLeafMessage<L extends SignedLeaf>(raw: Buffer | string, leaf: L, keys: TrustStore | null, memo?: VerifiedSignatures): PayloadOf<L> {
  return checkSigned(leaf, openJws(raw, signedTyp(leaf), keys, memo));
}

/** openLeafMessage for the leaf that carries messages signed as `typ`. */
export function openSignedMessage<T extends SignedType>(
  raw: Buffer | string,
  typ: T,
  keys: TrustStore | null,
  memo?: VerifiedSignatures,
): SignedPayload<T> {
  return openLeafMessage(raw, leafSignedAs(typ), keys, memo) as SignedPayload<T>;
}

/**
 * openLeafMessage that also returns the certificate that verified it;
 * `who` names the keys in errors (the command handler checks operator keys
 * the trust list delegates with it).
 */
export function openLeafMessageWithSigner<L extends SignedLeaf>(
  raw: Buffer | string,
  leaf: L,
  keys: TrustStore | null,
  who = 'centre',
): { payload: PayloadOf<L>; signer: TrustedSigner } {
  const { payload, signer } = openJwsWithSigner(raw, signedTyp(leaf), keys, undefined, who);
  return { payload: checkSigned(leaf, payload), signer };
}

/** A verified payload against its leaf's schema: one that does not fit is refused as 'schema'. */
function checkSigned<L extends SignedLeaf>(leaf: L, payload: unknown): PayloadOf<L> {
  try {
    return check(TOPICS[leaf].schema, payload) as PayloadOf<L>;
  } catch (error) {
    if (isContractError(error)) throw new MessageError('schema', error.message, { cause: error });
    throw error;
  }
}

/** The kid in a JWS's protected header, or null when there is none to read (openJws says why). */
export function jwsKid(raw: Buffer | string): Buffer | null {
  try {
    return Buffer.from(parseJws(raw).header.kid, 'base64url');
  } catch (error) {
    if (isSecurityRefusal(error)) return null;
    throw error;
  }
}

/** A JWS as it arrived: the envelope and its protected header, both checked for shape, nothing verified yet. */
export interface ParsedJws {
  envelope: SignedEnvelope;
  header: JwsHeader;
}

/**
 * The envelope and protected header of a JWS, or MessageError:
 * 'unsigned' when it has no signature or protected header at all, else
 * 'malformed' naming what is wrong (not JSON, nested too deep, not an
 * envelope, a header that is not base64url JSON, not an object, or lacks or
 * mistypes alg, kid or typ). Every malformed form ends here, so each is
 * refused and reported the same way whatever the message's kind.
 */
export function parseJws(raw: Buffer | string): ParsedJws {
  const envelope = decodeJsonBytes(raw, 'message', ENVELOPE_BOUNDS);
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
    throw new MessageError('malformed', 'not a JSON object');
  }
  if (!('signature' in envelope) || !('protected' in envelope)) {
    throw new MessageError('unsigned', 'no JWS signature: a message from the centre must be signed');
  }
  if (!conforms('signedEnvelope', envelope)) {
    throw new MessageError('malformed', `not a JWS in the flattened JSON serialization: ${contractReason('signedEnvelope', envelope)}`);
  }
  const header = decodeJson(envelope.protected, 'protected header');
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new MessageError('malformed', `protected header is not a JSON object (${describe(header)})`);
  }
  if (!conforms('jwsHeader', header)) throw new MessageError('malformed', `protected header: ${contractReason('jwsHeader', header)}`);
  return { envelope, header };
}

/**
 * The decoded payload of a JWS of kind `typ` signed by a key in `keys`, not
 * checked against any schema (the caller's: openSignedMessage for the link's
 * kinds, the trust-list reader for the issuer list). Throws MessageError.
 */
export function openJws(raw: Buffer | string, typ: string, keys: TrustStore | null, memo?: VerifiedSignatures): unknown {
  return openJwsWithSigner(raw, typ, keys, memo).payload;
}

/**
 * openJws that also says which certificate verified the message (the
 * command handler tells the centre from a delegated operator by it). `who`
 * names the keys in errors ("centre", "operator").
 */
export function openJwsWithSigner(
  raw: Buffer | string,
  typ: string,
  keys: TrustStore | null,
  memo?: VerifiedSignatures,
  who = 'centre',
): { payload: unknown; signer: TrustedSigner } {
  const { envelope, header } = parseJws(raw);
  const { alg, kid, typ: actualTyp } = header;
  if (!(SIGNED_MESSAGE_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new MessageError('bad-signature', `algorithm ${JSON.stringify(alg)} is not accepted (${SIGNED_MESSAGE_ALGORITHMS.join(', ')})`);
  }
  if (actualTyp !== typ) throw new MessageError('wrong-type', `signed as ${JSON.stringify(actualTyp)}, expected "${typ}"`);
  const known = keys?.lookup(Buffer.from(kid, 'base64url')) ?? [];
  if (known.length === 0) throw new MessageError('unknown-key', `kid ${kid} is not ${who === 'centre' ? 'a centre' : `an ${who}`} key this gate trusts`);
  // An expired centre certificate signs nothing any more (a retired or leaked key ends with its certificate).
  const now = Date.now();
  const signers = known.filter((signer) => withinValidity(signer.certificate, now));
  if (signers.length === 0) throw new MessageError('unknown-key', `${who} key ${kid}: its certificate is expired or not yet valid`);
  const data = Buffer.from(`${envelope.protected}.${envelope.payload}`, 'ascii');
  const digest = memo ? createHash('sha256').update(data).update('.').update(envelope.signature).digest('base64') : '';
  const verifiedBefore = memo?.get(digest);
  let verifiedBy = verifiedBefore === undefined ? undefined : signers.find((signer) => signer.certificate.fingerprint256 === verifiedBefore);
  if (!verifiedBy) {
    const signature = Buffer.from(envelope.signature, 'base64url');
    verifiedBy = signers.find((signer) => {
      try {
        return verifySignature(alg as AlgorithmName, signer.key, data, signature);
      } catch {
        return false; // the key does not fit the algorithm
      }
    });
    if (!verifiedBy) throw new MessageError('bad-signature', `signature does not verify with ${who} key ${kid}`);
    memo?.add(digest, verifiedBy.certificate.fingerprint256);
  }
  return { payload: decodeJson(envelope.payload, 'payload'), signer: verifiedBy };
}

/** Clocks differ: five minutes either side. */
const CERTIFICATE_SKEW_MS = 300_000;
const validity = new WeakMap<X509Certificate, { from: number; to: number }>();

function withinValidity(certificate: X509Certificate, now: number): boolean {
  let period = validity.get(certificate);
  if (!period) {
    period = { from: Date.parse(certificate.validFrom), to: Date.parse(certificate.validTo) };
    validity.set(certificate, period);
  }
  return now >= period.from - CERTIFICATE_SKEW_MS && now <= period.to + CERTIFICATE_SKEW_MS;
}

/** JSON from base64url (a JWS member), bounded as the message itself. */
function decodeJson(base64url: string, what: string): unknown {
  return decodeJsonBytes(Buffer.from(base64url, 'base64url'), what);
}

/** JSON.parse behind the bounds (json-bounds.ts); any failure is 'malformed', named. */
function decodeJsonBytes(bytes: Buffer | string, what: string, bounds?: JsonBounds): unknown {
  try {
    return parseBoundedJson(bytes, bounds);
  } catch (error) {
    if (!isJsonBoundsError(error)) throw error;
    throw new MessageError('malformed', error.code === 'not-json' ? `${what} is not JSON: ${error.message.replace(/^not JSON: /, '')}` : `${what} ${error.message}`, { cause: error });
  }
}

/** Why a value does not fit a contract schema, naming the field (the contract error's message without the schema's title). */
function contractReason(name: 'signedEnvelope' | 'jwsHeader', value: unknown): string {
  try {
    check(name, value);
    return 'not valid';
  } catch (error) {
    if (!isContractError(error)) throw error;
    return error.message.slice(schemas[name].title.length + 2).replace(/^\(message\) /, '');
  }
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
