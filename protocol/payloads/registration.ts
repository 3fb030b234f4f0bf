/**
 * The sealed registration: a record sealed to the health authority
 * (privacy/sealed-record.ts says how), sent with its own message id.
 */
import { type Static } from '@sinclair/typebox';
import { B64URL, Closed, Const, described, ID, ISO_TIME, Message, MESSAGE_ID } from './common.js';

/** The record's fields in the order of the message: the clear, authenticated header, then the crypto fields. */
const sealedFields = {
  v: Const(1),
  kid: described(B64URL, "Key id: the first 16 bytes of SHA-256 of the authority's raw public key"),
  eventId: described(MESSAGE_ID, 'The decision event of this registration'),
  site: ID,
  lane: ID,
  time: ISO_TIME,
  epk: described(B64URL, 'Ephemeral X25519 public key, raw'),
  salt: described(B64URL, 'HKDF salt'),
  nonce: described(B64URL, 'AES-GCM nonce'),
  ct: described(B64URL, 'Ciphertext of the personal fields'),
  tag: described(B64URL, 'AES-GCM tag'),
};

/** A sealed record as sealRecord makes it and the retention store keeps it. */
export const SealedRecord = Closed(sealedFields);
export type SealedRecord = Static<typeof SealedRecord>;

export const SealedRegistration = Message(
  'Sealed registration',
  "QoS 1, from the durable outbox. A person without a code registered by staff: name, ID number, phone and temperature sealed to the health authority's X25519 key (HKDF-SHA256, AES-256-GCM; the header fields are authenticated). Only the authority can open it; the decision event eventId names carries no personal data.",
  { id: MESSAGE_ID, ...sealedFields },
);
export type SealedRegistration = Static<typeof SealedRegistration>;
