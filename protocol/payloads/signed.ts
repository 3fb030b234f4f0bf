/**
 * What the centre signs (colour changes, snapshots, commands, look-up
 * replies, its next key, the issuer trust list), and the JWS they travel in
 * (signed-message.ts reads it). docs/keys.md tells how keys roll over, what
 * an epoch is and how the trust list is pushed.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, COLOUR, COMMAND_ACTION, Const, COUNT_FROM_0, COUNT_FROM_1, described, Enum, EPOCH_MS, ID, MAX_SNAPSHOT_STATUSES, Message, MESSAGE_ID, SUBJECT } from './common.js';

/** Everything a signed message carries in its JWS protected header `typ`, which binds it to its kind. */
export const SIGNED_TYPES = ['colour-change', 'colour-snapshot', 'command', 'lookup-reply', 'centre-key', 'trust-list'] as const;
export type SignedType = (typeof SIGNED_TYPES)[number];

/** The most statuses one colour change lists. */
export const MAX_COLOUR_CHANGES = 10_000;

export const SignedEnvelope = Message(
  'Signed message (JWS, flattened JSON serialization, RFC 7515 §7.2.2)',
  'protected: base64url of the protected header (jwsHeader); payload: base64url of the JSON message; signature over protected "." payload. JSON nested deeper than 32 levels is refused unparsed, in the message and in each member.',
  {
    protected: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 1024 }),
    payload: Type.String({ pattern: '^[A-Za-z0-9_-]*$' }),
    signature: Type.String({ pattern: '^[A-Za-z0-9_-]+$', maxLength: 1024 }),
  },
);
export type SignedEnvelope = Static<typeof SignedEnvelope>;

export const JwsHeader = Message(
  'Signed message protected header (JWS)',
  'The JSON object inside signedEnvelope.protected; nothing else may be in it. A header that is not such an object is malformed; an alg other than ES256 or EdDSA is bad-signature, a typ other than the kind the topic carries wrong-type.',
  {
    alg: Type.String({ maxLength: 32, description: 'ES256 or EdDSA' }),
    kid: described(ID, 'base64url of the first 8 bytes of SHA-256 over the signing certificate'),
    typ: Type.String({ maxLength: 64, description: 'The message kind: colour-change, colour-snapshot, command, lookup-reply, centre-key, trust-list' }),
  },
);
export type JwsHeader = Static<typeof JwsHeader>;

/**
 * Absent is 0: messages of centres before epochs were made stay valid. A
 * centre sends it only above 0, since a gate of an earlier release takes no
 * field its schema does not name.
 */
const EPOCH = Type.Optional(
  described(COUNT_FROM_0, 'Raised by a re-baseline (a centre restored from a backup): a higher epoch starts the seq and snapshot versions again; a lower one is replayed. Absent: 0'),
);

const ColourStatusEntry = Closed({ sub: SUBJECT, colour: COLOUR, effectiveAt: EPOCH_MS });
export type ColourStatusEntry = Static<typeof ColourStatusEntry>;

export const ColourChange = Message(
  'Colour change (signed payload)',
  'Site-wide, from the centre. seq grows by one per change message; a heartbeat repeats the current seq with no changes and a newer issuedAt. A gap in seq makes the gate resync from the snapshot.',
  {
    type: Const('colour-change'),
    site: ID,
    epoch: EPOCH,
    seq: COUNT_FROM_1,
    issuedAt: EPOCH_MS,
    changes: Type.Array(ColourStatusEntry, { maxItems: MAX_COLOUR_CHANGES }),
  },
);
export type ColourChange = Static<typeof ColourChange>;

export const ColourSnapshot = Message('Colour snapshot (signed payload)', 'Retained. Every pushed status of the site as of change seq; version grows by one per snapshot.', {
  type: Const('colour-snapshot'),
  site: ID,
  epoch: EPOCH,
  version: COUNT_FROM_1,
  seq: COUNT_FROM_0,
  issuedAt: EPOCH_MS,
  statuses: Type.Array(ColourStatusEntry, { maxItems: MAX_SNAPSHOT_STATUSES }),
});
export type ColourSnapshot = Static<typeof ColourSnapshot>;

export const Command = Message(
  'Command (signed payload)',
  "For one lane. Signed by the centre, or for open, lock and release-hold by an operator key the centre's signed trust list delegates them to (within its validity). Refused when stale (issuedAt outside mqtt.commandMaxAgeSeconds), replayed (id seen before), or an action the operator may not send (not-permitted).",
  {
    type: Const('command'),
    id: MESSAGE_ID,
    site: ID,
    lane: ID,
    issuedAt: EPOCH_MS,
    action: COMMAND_ACTION,
    key: Type.Optional(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9]*(\\.[A-Za-z][A-Za-z0-9]*)*$', maxLength: 128, description: 'set-config: the dotted config key' })),
    value: Type.Optional(Type.Unknown({ description: 'set-config: the new value, checked by the config schema' })),
  },
);
export type Command = Static<typeof Command>;

export const LookupReply = Message('Look-up reply (signed payload)', 'The centre answers a look-up request by its correlation id; colour null: unknown to the centre.', {
  type: Const('lookup-reply'),
  correlationId: MESSAGE_ID,
  site: ID,
  lane: ID,
  issuedAt: EPOCH_MS,
  colour: Type.Union([COLOUR, Type.Null()]),
  effectiveAt: Type.Optional(EPOCH_MS),
});
export type LookupReply = Static<typeof LookupReply>;

/** A certificate in PEM, or its DER in base64. */
const CERTIFICATE = Type.String({ minLength: 64, maxLength: 16_384, description: 'An X.509 certificate in PEM, or its DER in base64' });

export const CentreKey = Message(
  'Centre key announcement (signed payload)',
  "Retained, site-wide. Signed by a centre key the gate trusts now: the gate trusts `certificate` from activeFrom and the key that signed this only until previousUntil; after that a message signed by the old key is unknown-key. version grows by one per announcement (an older one is replayed). Kept in the gate's database, so a restart keeps it.",
  {
    type: Const('centre-key'),
    site: ID,
    version: COUNT_FROM_1,
    issuedAt: EPOCH_MS,
    certificate: CERTIFICATE,
    activeFrom: described(EPOCH_MS, 'From when the gate trusts the next key (five minutes early, for clocks that differ)'),
    previousUntil: described(EPOCH_MS, 'Until when the gate still trusts the key that signed this; at or after activeFrom'),
  },
);
export type CentreKey = Static<typeof CentreKey>;

const OperatorEntry = Closed({
  name: ID,
  certificate: CERTIFICATE,
  actions: Type.Array(Enum(['open', 'lock', 'release-hold']), { minItems: 1, maxItems: 3 }),
  notBefore: EPOCH_MS,
  notAfter: EPOCH_MS,
});

export const TrustList = Message(
  'Signed trust list (signed payload)',
  'Retained, site-wide; the same JWS gate-provision export-trust writes to a file. The issuer certificates the gate trusts, and the operator keys commands are delegated to. Applied when its version is above the one in force (the same version again is dropped, a lower one is replayed); kept in the gate database, so a restart keeps it.',
  {
    type: Const('trust-list'),
    site: ID,
    version: COUNT_FROM_1,
    issuedAt: EPOCH_MS,
    certificates: Type.Array(CERTIFICATE, { minItems: 1, maxItems: 1000 }),
    operators: Type.Optional(Type.Array(OperatorEntry, { maxItems: 1000 })),
  },
);
export type TrustList = Static<typeof TrustList>;
