/**
 * The payload of every MQTT message the agent sends or accepts, as JSON
 * Schema (the one source: docs/asyncapi.yaml is generated from these by
 * `npm run contract`, and a test keeps the two equal) and as TypeScript
 * types that follow them. Incoming messages are checked against these
 * schemas before anything reads them. One file over 500 lines on purpose:
 * every schema sits beside the type that follows it, so neither changes
 * without the other in view.
 *
 * Times: what the gate sends carries ISO 8601 strings (as the journal does);
 * what the centre signs carries epoch milliseconds, which compare without
 * parsing.
 *
 * Every number has a minimum and a maximum (a test walks the schemas for
 * it): what the stores can hold. SQLite's INTEGER is 64-bit, but a JS number
 * is exact only up to 2^53 - 1, and a larger one (1e21 is an integer to
 * JSON Schema) reaches better-sqlite3 as a REAL its STRICT tables refuse; so
 * counts, seqs and versions stop at Number.MAX_SAFE_INTEGER, and times and
 * durations at what they can mean.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { COLOURS, type Colour, type DecisionEvent } from './domain.js';
import type { SealedRecord } from './privacy/sealed-record.js';

const ISO_TIME = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$' } as const;
/** Up to the end of year 9999: a time the gate writes back in ISO 8601 keeps its four-digit year (ISO_TIME). */
export const MAX_EPOCH_MS = 253_402_300_799_999;
const EPOCH_MS = { type: 'integer', minimum: 0, maximum: MAX_EPOCH_MS } as const;
/** Ages in seconds: at most the span of EPOCH_MS. */
const AGE_SECONDS = { minimum: 0, maximum: Math.ceil(MAX_EPOCH_MS / 1000) } as const;
/** Seqs, versions and counts: exact as a JS number, and within SQLite's INTEGER. */
const COUNT_FROM_0 = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const COUNT_FROM_1 = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
/** The most statuses one snapshot lists (and so the most one message can write). */
const MAX_SNAPSHOT_STATUSES = 1_000_000;
const ID = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } as const;
/** A message id: a UUID or any opaque token without spaces. */
const MESSAGE_ID = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{8,128}$' } as const;
/** The pseudonymous code subject: never a name or an ID number (the credential checks refuse those). */
const SUBJECT = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' } as const;
const B64URL = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,8192}$' } as const;
const COLOUR = { enum: [...COLOURS] } as const;

export const LANE_STATES = ['idle', 'reading', 'measuring', 'deciding', 'open', 'locked', 'held', 'staff', 'emergency'] as const;

/** Everything a signed message carries in its JWS protected header `typ`, which binds it to its kind. */
export const SIGNED_TYPES = ['colour-change', 'colour-snapshot', 'command', 'lookup-reply'] as const;
export type SignedType = (typeof SIGNED_TYPES)[number];

export const COMMAND_ACTIONS = ['open', 'lock', 'release-hold', 'reload-trust', 'set-config'] as const;
export type CommandAction = (typeof COMMAND_ACTIONS)[number];

export const SECURITY_KINDS = [
  'malformed',
  'oversized',
  'unexpected-topic',
  'schema',
  'unsigned',
  'unknown-key',
  'bad-signature',
  'wrong-type',
  'wrong-target',
  'stale',
  'replayed',
  'not-permitted',
] as const;
export type SecurityKind = (typeof SECURITY_KINDS)[number];

const colourStatus = {
  type: 'object',
  additionalProperties: false,
  required: ['sub', 'colour', 'effectiveAt'],
  properties: { sub: SUBJECT, colour: COLOUR, effectiveAt: EPOCH_MS },
} as const;

export const schemas = {
  laneStatus: {
    title: 'Lane status',
    description:
      'Retained. Written on connect and when the lane state, staff mode or degraded changes; the Last Will (state offline, no time) replaces it when the gate drops off. The colour seq is in telemetry.',
    type: 'object',
    additionalProperties: false,
    required: ['state'],
    properties: {
      state: { enum: ['online', 'offline'] },
      time: { ...ISO_TIME, description: 'When the gate wrote it; absent in the Last Will, which the broker sends at a time the gate cannot know' },
      laneState: { enum: [...LANE_STATES] },
      degraded: { type: 'boolean', description: 'Cut off from the centre longer than colour.maxSyncAgeSeconds' },
      staffMode: { type: 'boolean' },
    },
  },
  decisionEvent: {
    title: 'Decision event',
    description: 'QoS 1, one per decision, from the durable outbox. Consumers drop duplicates by id; seq is gap-free per lane.',
    type: 'object',
    additionalProperties: false,
    required: ['id', 'seq', 'time', 'site', 'lane', 'verdict', 'reason', 'decidedBy', 'subject', 'colour', 'temperatureC', 'sensorFault', 'credential', 'decisionMs'],
    properties: {
      id: MESSAGE_ID,
      seq: COUNT_FROM_1,
      time: ISO_TIME,
      site: ID,
      lane: ID,
      verdict: { enum: ['pass', 'deny', 'hold'] },
      reason: { type: 'string', pattern: '^[a-z-]{1,64}$' },
      decidedBy: { enum: ['offline-code', 'pushed-status', 'online-lookup', 'staff'] },
      subject: { anyOf: [SUBJECT, { type: 'null' }] },
      colour: { anyOf: [COLOUR, { type: 'null' }] },
      temperatureC: { type: ['number', 'null'], minimum: -273.15, maximum: 1000, description: 'Degrees Celsius as measured, rounded to 0.1; bounded by what a thermometer can report' },
      sensorFault: { type: ['string', 'null'] },
      credential: {
        anyOf: [
          { type: 'null' },
          {
            type: 'object',
            additionalProperties: false,
            required: ['profile', 'kind', 'kid', 'iss', 'failure'],
            properties: {
              profile: { enum: ['gzhc', 'dcc', null] },
              kind: { enum: ['dynamic', 'printed', 'id-card', null], description: 'id-card: a resident ID card swiped; its number is never in the event' },
              kid: { type: ['string', 'null'] },
              iss: { type: ['string', 'null'] },
              failure: { type: ['string', 'null'] },
            },
          },
        ],
      },
      decisionMs: { type: 'number', minimum: 0, maximum: 86_400_000, description: 'From the code read (or staff action) to the verdict; a lane session never lasts a day' },
      degraded: { type: 'boolean', description: 'The gate was cut off from the centre when it decided' },
    },
  },
  redAlert: {
    title: 'Red-code alert',
    description: 'QoS 1. A red code showed up at this lane (rules §4.4): the centre tells the epidemic-control department. Pseudonymous subject only.',
    type: 'object',
    additionalProperties: false,
    required: ['id', 'eventId', 'time', 'site', 'lane', 'subject', 'colour', 'decidedBy'],
    properties: {
      id: MESSAGE_ID,
      eventId: MESSAGE_ID,
      time: ISO_TIME,
      site: ID,
      lane: ID,
      subject: { anyOf: [SUBJECT, { type: 'null' }] },
      colour: { const: 'red' },
      decidedBy: { enum: ['offline-code', 'pushed-status', 'online-lookup', 'staff'] },
    },
  },
  sealedRegistration: {
    title: 'Sealed registration',
    description:
      'QoS 1, from the durable outbox. A person without a code registered by staff: name, ID number, phone and temperature sealed to the health authority\'s X25519 key (HKDF-SHA256, AES-256-GCM; the header fields are authenticated). Only the authority can open it; the decision event eventId names carries no personal data.',
    type: 'object',
    additionalProperties: false,
    required: ['id', 'v', 'kid', 'eventId', 'site', 'lane', 'time', 'epk', 'salt', 'nonce', 'ct', 'tag'],
    properties: {
      id: MESSAGE_ID,
      v: { const: 1 },
      kid: { ...B64URL, description: "Key id: the first 16 bytes of SHA-256 of the authority's raw public key" },
      eventId: { ...MESSAGE_ID, description: 'The decision event of this registration' },
      site: ID,
      lane: ID,
      time: ISO_TIME,
      epk: { ...B64URL, description: 'Ephemeral X25519 public key, raw' },
      salt: { ...B64URL, description: 'HKDF salt' },
      nonce: { ...B64URL, description: 'AES-GCM nonce' },
      ct: { ...B64URL, description: 'Ciphertext of the personal fields' },
      tag: { ...B64URL, description: 'AES-GCM tag' },
    },
  },
  fault: {
    title: 'Fault',
    description: 'QoS 1. A device or store staff must see to; active false when it cleared.',
    type: 'object',
    additionalProperties: false,
    required: ['id', 'time', 'site', 'lane', 'kind', 'detail'],
    properties: {
      id: MESSAGE_ID,
      time: ISO_TIME,
      site: ID,
      lane: ID,
      kind: { type: 'string', pattern: '^[a-z-]{1,64}$' },
      detail: { type: 'string', maxLength: 2000 },
      active: { type: 'boolean' },
    },
  },
  securityEvent: {
    title: 'Security event',
    description: 'QoS 1. A message the gate refused: what arrived where, and why. Never the message itself.',
    type: 'object',
    additionalProperties: false,
    required: ['id', 'time', 'site', 'lane', 'topic', 'kind', 'detail'],
    properties: {
      id: MESSAGE_ID,
      time: ISO_TIME,
      site: ID,
      lane: ID,
      topic: { type: 'string', maxLength: 1024 },
      kind: { enum: [...SECURITY_KINDS] },
      detail: { type: 'string', maxLength: 2000 },
      suppressed: {
        ...COUNT_FROM_1,
        description: 'A summary: this many messages of this kind were refused and not reported one by one (more than 20 in a burst)',
      },
    },
  },
  telemetry: {
    title: 'Telemetry',
    description: 'QoS 0, every mqtt.telemetryIntervalSeconds: the health of the lane and its link.',
    type: 'object',
    additionalProperties: false,
    required: ['time', 'site', 'lane', 'laneState', 'degraded', 'colourSyncAgeSeconds', 'colourSeq', 'outbox', 'faults'],
    properties: {
      time: ISO_TIME,
      site: ID,
      lane: ID,
      laneState: { enum: [...LANE_STATES] },
      degraded: { type: 'boolean' },
      colourSyncAgeSeconds: { type: ['number', 'null'], ...AGE_SECONDS, description: 'Since the last valid message from the centre; null: never' },
      colourSeq: { ...COUNT_FROM_0, type: ['integer', 'null'] },
      outbox: {
        type: 'object',
        additionalProperties: false,
        required: ['depth', 'oldestAgeSeconds', 'dropped'],
        properties: {
          depth: COUNT_FROM_0,
          oldestAgeSeconds: { type: ['number', 'null'], ...AGE_SECONDS },
          dropped: COUNT_FROM_0,
        },
      },
      faults: { type: 'array', maxItems: 32, items: { type: 'string', maxLength: 64 }, description: 'Devices with an active fault' },
    },
  },
  commandResult: {
    title: 'Command result',
    description: 'QoS 1. The outcome of one command, by its id.',
    type: 'object',
    additionalProperties: false,
    required: ['id', 'commandId', 'time', 'site', 'lane', 'action', 'ok', 'detail'],
    properties: {
      id: MESSAGE_ID,
      commandId: MESSAGE_ID,
      time: ISO_TIME,
      site: ID,
      lane: ID,
      action: { enum: [...COMMAND_ACTIONS] },
      ok: { type: 'boolean' },
      detail: { type: 'string', maxLength: 2000 },
      signedBy: {
        type: 'string',
        pattern: '^[A-Za-z0-9_.-]{1,64}$',
        description: "Who signed the command: 'centre', or the name of the operator whose key the signed trust list delegates it to. Sent by every gate that knows operators",
      },
    },
  },
  colourApplied: {
    title: 'Colour applied',
    description:
      'QoS 1, not retained, at telemetry priority through the outbox: one per colour change or snapshot this lane applied. From the centre\'s issuedAt to appliedAt is how long the change took to reach this lane; a lane that never sends one for a seq never applied it.',
    type: 'object',
    additionalProperties: false,
    required: ['id', 'site', 'lane', 'seq', 'issuedAt', 'appliedAt', 'via'],
    properties: {
      id: MESSAGE_ID,
      site: ID,
      lane: ID,
      seq: { ...COUNT_FROM_0, description: "The change's seq (a snapshot: the seq it is complete up to)" },
      issuedAt: { ...EPOCH_MS, description: "The centre's issuedAt of the change or snapshot (centre clock)" },
      appliedAt: { ...EPOCH_MS, description: "When the lane had it stored and in force (the gate's clock)" },
      via: { enum: ['change', 'snapshot'] },
      changes: { type: 'integer', minimum: 0, maximum: MAX_SNAPSHOT_STATUSES, description: 'Statuses written' },
    },
  },
  haState: {
    title: 'Home Assistant state',
    description:
      'Retained, only with mqtt.homeAssistant.enabled: what the lane\'s Home Assistant entities show, written when the lane state, a fault or degraded changes, after each decision, and every mqtt.telemetryIntervalSeconds. Every field is always present (entity templates read them).',
    type: 'object',
    additionalProperties: false,
    required: ['time', 'laneState', 'held', 'degraded', 'sensorFault', 'faults', 'outboxDepth', 'colourSyncAgeSeconds', 'passesToday', 'refusalsToday', 'countsSince'],
    properties: {
      time: ISO_TIME,
      laneState: { enum: [...LANE_STATES] },
      held: { type: 'boolean', description: 'The lane holds a person with a red code (lane state held)' },
      degraded: { type: 'boolean' },
      sensorFault: { type: 'boolean', description: 'A device of the lane has an active fault' },
      faults: { type: 'array', maxItems: 32, items: { type: 'string', maxLength: 64 }, description: 'Devices with an active fault' },
      outboxDepth: COUNT_FROM_0,
      colourSyncAgeSeconds: { type: ['number', 'null'], ...AGE_SECONDS, description: 'Since the last valid message from the centre; null: never' },
      passesToday: { ...COUNT_FROM_0, description: 'Decisions to pass since countsSince' },
      refusalsToday: { ...COUNT_FROM_0, description: 'Decisions to deny or hold since countsSince' },
      countsSince: { ...ISO_TIME, description: "Local midnight of the gate's clock: where today's counts start" },
    },
  },
  haLastDecision: {
    title: 'Home Assistant last decision',
    description: 'Retained, only with mqtt.homeAssistant.enabled: the lane\'s last verdict, for Home Assistant. Never the subject, the credential or the temperature.',
    type: 'object',
    additionalProperties: false,
    required: ['verdict', 'reason', 'colour', 'decidedBy', 'time'],
    properties: {
      verdict: { enum: ['pass', 'deny', 'hold'] },
      reason: { type: 'string', pattern: '^[a-z-]{1,64}$' },
      colour: { anyOf: [COLOUR, { type: 'null' }] },
      decidedBy: { enum: ['offline-code', 'pushed-status', 'online-lookup', 'staff'] },
      time: ISO_TIME,
    },
  },
  lookupRequest: {
    title: 'Look-up request',
    description: 'QoS 1. The gate asks the centre for the current colour of a subject; the reply must arrive before the deadline.',
    type: 'object',
    additionalProperties: false,
    required: ['correlationId', 'time', 'deadline', 'site', 'lane', 'kind', 'key'],
    properties: {
      correlationId: MESSAGE_ID,
      time: ISO_TIME,
      deadline: EPOCH_MS,
      site: ID,
      lane: ID,
      kind: { enum: ['printed-code', 'id-hash'], description: 'printed-code: key is the code subject; id-hash: a keyed hash of an ID number, never the number' },
      key: SUBJECT,
    },
  },
  signedEnvelope: {
    title: 'Signed message (JWS, flattened JSON serialization, RFC 7515 §7.2.2)',
    description:
      'protected: base64url of the protected header (jwsHeader); payload: base64url of the JSON message; signature over protected "." payload. JSON nested deeper than 32 levels is refused unparsed, in the message and in each member.',
    type: 'object',
    additionalProperties: false,
    required: ['protected', 'payload', 'signature'],
    properties: {
      protected: { type: 'string', pattern: '^[A-Za-z0-9_-]+$', maxLength: 1024 },
      payload: { type: 'string', pattern: '^[A-Za-z0-9_-]*$' },
      signature: { type: 'string', pattern: '^[A-Za-z0-9_-]+$', maxLength: 1024 },
    },
  },
  jwsHeader: {
    title: 'Signed message protected header (JWS)',
    description:
      'The JSON object inside signedEnvelope.protected; nothing else may be in it. A header that is not such an object is malformed; an alg other than ES256 or EdDSA is bad-signature, a typ other than the kind the topic carries wrong-type.',
    type: 'object',
    additionalProperties: false,
    required: ['alg', 'kid', 'typ'],
    properties: {
      alg: { type: 'string', maxLength: 32, description: 'ES256 or EdDSA' },
      kid: { ...ID, description: 'base64url of the first 8 bytes of SHA-256 over the signing certificate' },
      typ: { type: 'string', maxLength: 64, description: 'The message kind: colour-change, colour-snapshot, command, lookup-reply (trust-list for the signed trust list file)' },
    },
  },
  colourChange: {
    title: 'Colour change (signed payload)',
    description:
      'Site-wide, from the centre. seq grows by one per change message; a heartbeat repeats the current seq with no changes and a newer issuedAt. A gap in seq makes the gate resync from the snapshot.',
    type: 'object',
    additionalProperties: false,
    required: ['type', 'site', 'seq', 'issuedAt', 'changes'],
    properties: {
      type: { const: 'colour-change' },
      site: ID,
      seq: COUNT_FROM_1,
      issuedAt: EPOCH_MS,
      changes: { type: 'array', maxItems: 10000, items: colourStatus },
    },
  },
  colourSnapshot: {
    title: 'Colour snapshot (signed payload)',
    description: 'Retained. Every pushed status of the site as of change seq; version grows by one per snapshot.',
    type: 'object',
    additionalProperties: false,
    required: ['type', 'site', 'version', 'seq', 'issuedAt', 'statuses'],
    properties: {
      type: { const: 'colour-snapshot' },
      site: ID,
      version: COUNT_FROM_1,
      seq: COUNT_FROM_0,
      issuedAt: EPOCH_MS,
      statuses: { type: 'array', maxItems: MAX_SNAPSHOT_STATUSES, items: colourStatus },
    },
  },
  command: {
    title: 'Command (signed payload)',
    description:
      "For one lane. Signed by the centre, or for open, lock and release-hold by an operator key the centre's signed trust list delegates them to (within its validity). Refused when stale (issuedAt outside mqtt.commandMaxAgeSeconds), replayed (id seen before), or an action the operator may not send (not-permitted).",
    type: 'object',
    additionalProperties: false,
    required: ['type', 'id', 'site', 'lane', 'issuedAt', 'action'],
    properties: {
      type: { const: 'command' },
      id: MESSAGE_ID,
      site: ID,
      lane: ID,
      issuedAt: EPOCH_MS,
      action: { enum: [...COMMAND_ACTIONS] },
      key: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9]*(\\.[A-Za-z][A-Za-z0-9]*)*$', maxLength: 128, description: 'set-config: the dotted config key' },
      value: { description: 'set-config: the new value, checked by the config schema' },
    },
  },
  lookupReply: {
    title: 'Look-up reply (signed payload)',
    description: 'The centre answers a look-up request by its correlation id; colour null: unknown to the centre.',
    type: 'object',
    additionalProperties: false,
    required: ['type', 'correlationId', 'site', 'lane', 'issuedAt', 'colour'],
    properties: {
      type: { const: 'lookup-reply' },
      correlationId: MESSAGE_ID,
      site: ID,
      lane: ID,
      issuedAt: EPOCH_MS,
      colour: { anyOf: [COLOUR, { type: 'null' }] },
      effectiveAt: EPOCH_MS,
    },
  },
} as const;

export type SchemaName = keyof typeof schemas;

export type LaneState = (typeof LANE_STATES)[number];

export interface LaneStatusMessage {
  state: 'online' | 'offline';
  time?: string;
  laneState?: LaneState;
  degraded?: boolean;
  staffMode?: boolean;
}

export type DecisionEventMessage = DecisionEvent;

export interface RedAlertMessage {
  id: string;
  eventId: string;
  time: string;
  site: string;
  lane: string;
  subject: string | null;
  colour: 'red';
  decidedBy: DecisionEvent['decidedBy'];
}

/** A sealed record (privacy/sealed-record.ts) with its own message id. */
export interface SealedRegistrationMessage extends SealedRecord {
  id: string;
}

export interface FaultMessage {
  id: string;
  time: string;
  site: string;
  lane: string;
  kind: string;
  detail: string;
  active?: boolean;
}

export interface SecurityEventMessage {
  id: string;
  time: string;
  site: string;
  lane: string;
  topic: string;
  kind: SecurityKind;
  detail: string;
  suppressed?: number;
}

export interface TelemetryMessage {
  time: string;
  site: string;
  lane: string;
  laneState: LaneState;
  degraded: boolean;
  colourSyncAgeSeconds: number | null;
  colourSeq: number | null;
  outbox: { depth: number; oldestAgeSeconds: number | null; dropped: number };
  faults: string[];
}

export interface CommandResultMessage {
  id: string;
  commandId: string;
  time: string;
  site: string;
  lane: string;
  action: CommandAction;
  ok: boolean;
  detail: string;
  /** 'centre', or the operator's name. */
  signedBy?: string;
}

export interface ColourAppliedMessage {
  id: string;
  site: string;
  lane: string;
  seq: number;
  issuedAt: number;
  appliedAt: number;
  via: 'change' | 'snapshot';
  changes?: number;
}

export interface HaStateMessage {
  time: string;
  laneState: LaneState;
  held: boolean;
  degraded: boolean;
  sensorFault: boolean;
  faults: string[];
  outboxDepth: number;
  colourSyncAgeSeconds: number | null;
  passesToday: number;
  refusalsToday: number;
  countsSince: string;
}

export interface HaLastDecisionMessage {
  verdict: DecisionEvent['verdict'];
  reason: string;
  colour: Colour | null;
  decidedBy: DecisionEvent['decidedBy'];
  time: string;
}

export interface LookupRequestMessage {
  correlationId: string;
  time: string;
  deadline: number;
  site: string;
  lane: string;
  kind: 'printed-code' | 'id-hash';
  key: string;
}

export interface SignedEnvelope {
  protected: string;
  payload: string;
  signature: string;
}

export interface JwsHeader {
  alg: string;
  kid: string;
  typ: string;
}

export interface ColourStatusEntry {
  sub: string;
  colour: Colour;
  effectiveAt: number;
}

export interface ColourChangeMessage {
  type: 'colour-change';
  site: string;
  seq: number;
  issuedAt: number;
  changes: ColourStatusEntry[];
}

export interface ColourSnapshotMessage {
  type: 'colour-snapshot';
  site: string;
  version: number;
  seq: number;
  issuedAt: number;
  statuses: ColourStatusEntry[];
}

export interface CommandMessage {
  type: 'command';
  id: string;
  site: string;
  lane: string;
  issuedAt: number;
  action: CommandAction;
  key?: string;
  value?: unknown;
}

export interface LookupReplyMessage {
  type: 'lookup-reply';
  correlationId: string;
  site: string;
  lane: string;
  issuedAt: number;
  colour: Colour | null;
  effectiveAt?: number;
}

/** The payload type of each schema, so a validator narrows to it. */
export interface ContractTypes {
  laneStatus: LaneStatusMessage;
  decisionEvent: DecisionEventMessage;
  redAlert: RedAlertMessage;
  sealedRegistration: SealedRegistrationMessage;
  fault: FaultMessage;
  securityEvent: SecurityEventMessage;
  telemetry: TelemetryMessage;
  commandResult: CommandResultMessage;
  colourApplied: ColourAppliedMessage;
  haState: HaStateMessage;
  haLastDecision: HaLastDecisionMessage;
  lookupRequest: LookupRequestMessage;
  signedEnvelope: SignedEnvelope;
  jwsHeader: JwsHeader;
  colourChange: ColourChangeMessage;
  colourSnapshot: ColourSnapshotMessage;
  command: CommandMessage;
  lookupReply: LookupReplyMessage;
}

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
const compiled = new Map<SchemaName, ValidateFunction>();

export class ContractError extends Error {
  override readonly name = 'ContractError';
  constructor(
    readonly schema: SchemaName,
    message: string,
  ) {
    super(message);
  }
}

function validator(name: SchemaName): ValidateFunction {
  let fn = compiled.get(name);
  if (!fn) {
    fn = ajv.compile(schemas[name]);
    compiled.set(name, fn);
  }
  return fn;
}

/** True when the value matches the named schema. */
export function conforms<N extends SchemaName>(name: N, value: unknown): value is ContractTypes[N] {
  return validator(name)(value);
}

/** The value as its type, or a ContractError naming the first field that is wrong. */
export function check<N extends SchemaName>(name: N, value: unknown): ContractTypes[N] {
  const fn = validator(name);
  if (fn(value)) return value as ContractTypes[N];
  const error = fn.errors?.[0];
  const where = error?.instancePath ? error.instancePath.slice(1).replaceAll('/', '.') : '(message)';
  throw new ContractError(name, `${schemas[name].title}: ${where} ${error?.message ?? 'is not valid'}`);
}
