/**
 * Seals a staff-assisted registration (rules §4 "No code to show") to the
 * health authority's X25519 public key before it touches the disk
 * (rules §6): the gate can write it but never read it back.
 *
 * Why not HPKE (RFC 9180) from a library: @hpke/core (dajiaji/hpke-js) is
 * kept up, but it is async WebCrypto, whose X25519 was experimental in
 * Node 20 (stable only from nodejs/node#56142), has one maintainer, and adds
 * two packages to an audited gate for what node:crypto does in a few lines.
 * The construction below follows HPKE's
 * base mode in spirit (ephemeral DH, HKDF bound to both keys, AEAD with AAD)
 * and is specified here so the authority can open it in any language.
 *
 * Format (JSON, binary fields base64url without padding), version 1:
 *   { v: 1, kid, eventId, site, lane, time,   header: clear, authenticated
 *     epk, salt, nonce, ct, tag }             crypto fields
 *   kid   = first 16 bytes of SHA-256(recipient's raw 32-byte public key)
 *   epk   = ephemeral raw X25519 public key (32 bytes)
 *   salt  = 16 random bytes;  nonce = 12 random bytes
 *   key   = HKDF-SHA256(ikm = X25519(eph, recipient), salt,
 *                       info = INFO_LABEL ‖ epk ‖ recipient raw public key, 32)
 *   aad   = UTF-8 JSON.stringify([v, eventId, site, lane, time, kid])
 *   ct‖tag = AES-256-GCM(key, nonce, aad, UTF-8 JSON {name, nationalId, phone, temperatureC})
 */
import {
  type KeyObject,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import type { SealedRecord } from '../payloads/registration.js';
import { PrivacyError } from './errors.js';

export const SEALED_RECORD_VERSION = 1;
/** Names the format in the key derivation: a key for another use can never open this. */
export const INFO_LABEL = 'health-code-gate/sealed-registration/v1';

/** What staff enter plus what the gate adds; everything above eventId is personal. */
export interface RegistrationRecord {
  name: string;
  nationalId: string;
  phone: string;
  temperatureC: number | null;
  /** ISO 8601 */
  time: string;
  site: string;
  lane: string;
  eventId: string;
}

/** What sealRecord makes: the header in clear, the personal fields sealed (its schema: payloads/registration.ts). */
export type { SealedRecord } from '../payloads/registration.js';

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

function rawPublic(key: KeyObject): Buffer {
  if (key.asymmetricKeyType !== 'x25519') throw new PrivacyError('bad-key', `expected an X25519 key, got ${String(key.asymmetricKeyType)}`);
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return Buffer.from(pub.export({ format: 'jwk' }).x!, 'base64url');
}

/** The recipient key id: lets the authority pick its key and the gate refuse a wrong one early. */
export function keyId(key: KeyObject): string {
  return b64(createHash('sha256').update(rawPublic(key)).digest().subarray(0, 16));
}

/** The authority's public key from PEM (SPKI), as config.privacy.authorityKey names it. */
export function loadAuthorityKey(pem: string | Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new PrivacyError('bad-key', 'the authority key is not a PEM public key', { cause: err });
  }
  rawPublic(key);
  return key;
}

function headerAad(h: Pick<SealedRecord, 'v' | 'eventId' | 'site' | 'lane' | 'time' | 'kid'>): Buffer {
  // An array: its serialisation has one order, so sealer and opener agree byte for byte.
  return Buffer.from(JSON.stringify([h.v, h.eventId, h.site, h.lane, h.time, h.kid]), 'utf8');
}

function deriveKey(shared: Buffer, salt: Buffer, epk: Buffer, recipient: Buffer): Buffer {
  const info = Buffer.concat([Buffer.from(INFO_LABEL, 'utf8'), epk, recipient]);
  return Buffer.from(hkdfSync('sha256', shared, salt, info, 32));
}

export function sealRecord(record: RegistrationRecord, authorityPublicKey: KeyObject): SealedRecord {
  const recipient = rawPublic(authorityPublicKey);
  const eph = generateKeyPairSync('x25519');
  const epk = rawPublic(eph.publicKey);
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const key = deriveKey(diffieHellman({ privateKey: eph.privateKey, publicKey: authorityPublicKey }), salt, epk, recipient);
  const header = {
    v: SEALED_RECORD_VERSION,
    kid: keyId(authorityPublicKey),
    eventId: record.eventId,
    site: record.site,
    lane: record.lane,
    time: record.time,
  } as const;
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(headerAad(header));
  const secret = { name: record.name, nationalId: record.nationalId, phone: record.phone, temperatureC: record.temperatureC };
  const ct = Buffer.concat([cipher.update(JSON.stringify(secret), 'utf8'), cipher.final()]);
  key.fill(0);
  return { ...header, epk: b64(epk), salt: b64(salt), nonce: b64(nonce), ct: b64(ct), tag: b64(cipher.getAuthTag()) };
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const FIELD_BYTES: Partial<Record<keyof SealedRecord, number>> = { epk: 32, salt: 16, nonce: 12, tag: 16, kid: 16 };

/** Checks the shape of a sealed record (parsed or JSON text) without opening it. */
export function parseSealedRecord(input: unknown): SealedRecord {
  let value = input;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (err) {
      throw new PrivacyError('malformed', 'sealed record is not JSON', { cause: err });
    }
  }
  if (typeof value !== 'object' || value === null) throw new PrivacyError('malformed', 'sealed record is not an object');
  const r = value as Record<string, unknown>;
  if (r['v'] !== SEALED_RECORD_VERSION) throw new PrivacyError('malformed', `sealed record version ${String(r['v'])} is not ${SEALED_RECORD_VERSION}`);
  for (const field of ['kid', 'eventId', 'site', 'lane', 'time', 'epk', 'salt', 'nonce', 'ct', 'tag'] as const) {
    const text = r[field];
    if (typeof text !== 'string') throw new PrivacyError('malformed', `sealed record field ${field} is missing`);
    const bytes = FIELD_BYTES[field];
    if ((bytes !== undefined || field === 'ct') && !B64URL.test(text)) throw new PrivacyError('malformed', `sealed record field ${field} is not base64url`);
    if (bytes !== undefined && Buffer.from(text, 'base64url').length !== bytes) {
      throw new PrivacyError('malformed', `sealed record field ${field} must hold ${bytes} bytes`);
    }
  }
  return r as unknown as SealedRecord;
}

/** The authority's side (and the tests'): the record, or a PrivacyError. */
export function openSealedRecord(sealed: SealedRecord | string, authorityPrivateKey: KeyObject): RegistrationRecord {
  const s = parseSealedRecord(sealed);
  if (authorityPrivateKey.type !== 'private') throw new PrivacyError('bad-key', 'opening needs the private key');
  if (keyId(authorityPrivateKey) !== s.kid) throw new PrivacyError('wrong-key', 'sealed to another key');
  const epk = Buffer.from(s.epk, 'base64url');
  let shared: Buffer;
  try {
    const ephemeral = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: s.epk }, format: 'jwk' });
    shared = diffieHellman({ privateKey: authorityPrivateKey, publicKey: ephemeral });
  } catch (err) {
    // OpenSSL refuses small-order points (an all-zero shared secret).
    throw new PrivacyError('unauthentic', 'the ephemeral key is not usable', { cause: err });
  }
  const key = deriveKey(shared, Buffer.from(s.salt, 'base64url'), epk, rawPublic(authorityPrivateKey));
  let plain: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(s.nonce, 'base64url'));
    decipher.setAAD(headerAad(s));
    decipher.setAuthTag(Buffer.from(s.tag, 'base64url'));
    plain = Buffer.concat([decipher.update(Buffer.from(s.ct, 'base64url')), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new PrivacyError('unauthentic', 'the sealed record was altered or sealed to another key', { cause: err });
  } finally {
    key.fill(0);
  }
  const secret = JSON.parse(plain) as Pick<RegistrationRecord, 'name' | 'nationalId' | 'phone' | 'temperatureC'>;
  return { ...secret, time: s.time, site: s.site, lane: s.lane, eventId: s.eventId };
}

/** For tests and the authority's tooling: a fresh key pair, PEM encoded. */
export function generateAuthorityKeyPair(): { publicKeyPem: string; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** The authority's private key from PEM (PKCS #8): its side only, never on a gate. */
export function loadAuthorityPrivateKey(pem: string | Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new PrivacyError('bad-key', 'the authority private key is not a PEM private key', { cause: err });
  }
  rawPublic(key);
  return key;
}
