/**
 * What a gate sends under its lane's topics (but the sealed registration and
 * Home Assistant's: registration.ts, home-assistant.ts): each schema and the
 * type that is read from it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CODE_KINDS } from '../domain.js';
import {
  AGE_SECONDS,
  Closed,
  COLOUR,
  COMMAND_ACTION,
  Const,
  COUNT_FROM_0,
  COUNT_FROM_1,
  DECIDED_BY_SCHEMA,
  described,
  DETAIL,
  Enum,
  EPOCH_MS,
  FAULTS,
  ID,
  ISO_TIME,
  LANE_STATE,
  MAX_SNAPSHOT_STATUSES,
  Message,
  MESSAGE_ID,
  OrNull,
  REASON,
  SUBJECT,
  VERDICT,
} from './common.js';

export const LaneStatus = Message(
  'Lane status',
  'Retained. Written on connect and when the lane state, staff mode or degraded changes; the Last Will (state offline, no time) replaces it when the gate drops off. The colour seq is in telemetry.',
  {
    state: Enum(['online', 'offline']),
    time: Type.Optional(described(ISO_TIME, 'When the gate wrote it; absent in the Last Will, which the broker sends at a time the gate cannot know')),
    laneState: Type.Optional(LANE_STATE),
    degraded: Type.Optional(Type.Boolean({ description: 'Cut off from the centre longer than colour.maxSyncAgeSeconds' })),
    staffMode: Type.Optional(Type.Boolean()),
  },
);
export type LaneStatus = Static<typeof LaneStatus>;

/** One decision at one lane: what the journal keeps and the broker receives. */
export const DecisionEvent = Message(
  'Decision event',
  'QoS 1, one per decision, from the durable outbox. Consumers drop duplicates by id; seq is gap-free per lane.',
  {
    /** Unique id (UUID): consumers drop duplicates by it. */
    id: MESSAGE_ID,
    /** Per-lane sequence number, assigned by the journal when the event is stored. */
    seq: COUNT_FROM_1,
    time: ISO_TIME,
    site: ID,
    lane: ID,
    verdict: VERDICT,
    /** Stable reason code, see protocol/reasons.ts. */
    reason: REASON,
    decidedBy: DECIDED_BY_SCHEMA,
    /** The code id, never a name or national ID number; null when there was no code. */
    subject: Type.Union([SUBJECT, Type.Null()]),
    /** The colour that decided, when one did. */
    colour: Type.Union([COLOUR, Type.Null()]),
    /** Null when there was none or the sensor failed. */
    temperatureC: OrNull(Type.Number({ minimum: -273.15, maximum: 1000 }), {
      description: 'Degrees Celsius as measured, rounded to 0.1; bounded by what a thermometer can report',
    }),
    /** Sensor fault code when the thermometer failed. */
    sensorFault: OrNull(Type.String()),
    /** What was read, without personal data. */
    credential: Type.Union([
      Type.Null(),
      Closed({
        profile: Enum(['gzhc', 'dcc', null]),
        kind: Enum([...CODE_KINDS, 'id-card', null], { description: 'id-card: a resident ID card swiped; its number is never in the event' }),
        kid: OrNull(Type.String()),
        iss: OrNull(Type.String()),
        failure: OrNull(Type.String()),
      }),
    ]),
    decisionMs: Type.Number({ minimum: 0, maximum: 86_400_000, description: 'From the code read (or staff action) to the verdict; a lane session never lasts a day' }),
    /** The lane always sets it; older journal rows lack it. */
    degraded: Type.Optional(Type.Boolean({ description: 'The gate was cut off from the centre when it decided' })),
  },
);
export type DecisionEvent = Static<typeof DecisionEvent>;

export const RedAlert = Message(
  'Red-code alert',
  'QoS 1. A red code showed up at this lane (rules §4.4): the centre tells the epidemic-control department. Pseudonymous subject only.',
  {
    id: MESSAGE_ID,
    eventId: MESSAGE_ID,
    time: ISO_TIME,
    site: ID,
    lane: ID,
    subject: Type.Union([SUBJECT, Type.Null()]),
    colour: Const('red'),
    decidedBy: DECIDED_BY_SCHEMA,
  },
);
export type RedAlert = Static<typeof RedAlert>;

export const Fault = Message('Fault', 'QoS 1. A device or store staff must see to; active false when it cleared.', {
  id: MESSAGE_ID,
  time: ISO_TIME,
  site: ID,
  lane: ID,
  kind: REASON,
  detail: DETAIL,
  active: Type.Optional(Type.Boolean()),
});
export type Fault = Static<typeof Fault>;

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

export const SecurityEvent = Message('Security event', 'QoS 1. A message the gate refused: what arrived where, and why. Never the message itself.', {
  id: MESSAGE_ID,
  time: ISO_TIME,
  site: ID,
  lane: ID,
  topic: Type.String({ maxLength: 1024 }),
  kind: Enum(SECURITY_KINDS),
  detail: DETAIL,
  suppressed: Type.Optional(
    described(COUNT_FROM_1, 'A summary: this many messages of this kind were refused and not reported one by one (more than 20 in a burst)'),
  ),
});
export type SecurityEvent = Static<typeof SecurityEvent>;

export const Telemetry = Message('Telemetry', 'QoS 0, every mqtt.telemetryIntervalSeconds: the health of the lane and its link.', {
  time: ISO_TIME,
  site: ID,
  lane: ID,
  laneState: LANE_STATE,
  degraded: Type.Boolean(),
  colourSyncAgeSeconds: OrNull(AGE_SECONDS, { description: 'Since the last valid message from the centre; null: never' }),
  colourSeq: OrNull(COUNT_FROM_0),
  outbox: Closed({
    depth: COUNT_FROM_0,
    oldestAgeSeconds: OrNull(AGE_SECONDS),
    dropped: COUNT_FROM_0,
  }),
  faults: FAULTS,
});
export type Telemetry = Static<typeof Telemetry>;

export const CommandResult = Message('Command result', 'QoS 1. The outcome of one command, by its id.', {
  id: MESSAGE_ID,
  commandId: MESSAGE_ID,
  time: ISO_TIME,
  site: ID,
  lane: ID,
  action: COMMAND_ACTION,
  ok: Type.Boolean(),
  detail: DETAIL,
  signedBy: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_.-]{1,64}$',
      description: "Who signed the command: 'centre', or the name of the operator whose key the signed trust list delegates it to. Sent by every gate that knows operators",
    }),
  ),
});
export type CommandResult = Static<typeof CommandResult>;

export const ColourApplied = Message(
  'Colour applied',
  "QoS 1, not retained, at telemetry priority through the outbox: one per colour change or snapshot this lane applied. From the centre's issuedAt to appliedAt is how long the change took to reach this lane; a lane that never sends one for a seq never applied it.",
  {
    id: MESSAGE_ID,
    site: ID,
    lane: ID,
    seq: described(COUNT_FROM_0, "The change's seq (a snapshot: the seq it is complete up to)"),
    issuedAt: described(EPOCH_MS, "The centre's issuedAt of the change or snapshot (centre clock)"),
    appliedAt: described(EPOCH_MS, "When the lane had it stored and in force (the gate's clock)"),
    via: Enum(['change', 'snapshot']),
    changes: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SNAPSHOT_STATUSES, description: 'Statuses written' })),
  },
);
export type ColourApplied = Static<typeof ColourApplied>;

export const LookupRequest = Message(
  'Look-up request',
  'QoS 1. The gate asks the centre for the current colour of a subject; the reply must arrive before the deadline.',
  {
    correlationId: MESSAGE_ID,
    time: ISO_TIME,
    deadline: EPOCH_MS,
    site: ID,
    lane: ID,
    kind: Enum(['printed-code', 'id-hash'], { description: 'printed-code: key is the code subject; id-hash: a keyed hash of an ID number, never the number' }),
    key: SUBJECT,
  },
);
export type LookupRequest = Static<typeof LookupRequest>;
