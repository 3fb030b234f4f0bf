/** What a gate publishes for Home Assistant (mqtt.homeAssistant), retained. */
import { Type, type Static } from '@sinclair/typebox';
import { AGE_SECONDS, COLOUR, COUNT_FROM_0, DECIDED_BY_SCHEMA, described, FAULTS, ISO_TIME, LANE_STATE, Message, OrNull, REASON, VERDICT } from './common.js';

export const HaState = Message(
  'Home Assistant state',
  "Retained, only with mqtt.homeAssistant.enabled: what the lane's Home Assistant entities show, written when the lane state, a fault or degraded changes, after each decision, and every mqtt.telemetryIntervalSeconds. Every field is always present (entity templates read them).",
  {
    time: ISO_TIME,
    laneState: LANE_STATE,
    held: Type.Boolean({ description: 'The lane holds a person with a red code (lane state held)' }),
    degraded: Type.Boolean(),
    sensorFault: Type.Boolean({ description: 'A device of the lane has an active fault' }),
    faults: FAULTS,
    outboxDepth: COUNT_FROM_0,
    colourSyncAgeSeconds: OrNull(AGE_SECONDS, { description: 'Since the last valid message from the centre; null: never' }),
    passesToday: described(COUNT_FROM_0, 'Decisions to pass since countsSince'),
    refusalsToday: described(COUNT_FROM_0, 'Decisions to deny or hold since countsSince'),
    countsSince: described(ISO_TIME, "Local midnight of the gate's clock: where today's counts start"),
  },
);
export type HaState = Static<typeof HaState>;

export const HaLastDecision = Message(
  'Home Assistant last decision',
  "Retained, only with mqtt.homeAssistant.enabled: the lane's last verdict, for Home Assistant. Never the subject, the credential or the temperature.",
  {
    verdict: VERDICT,
    reason: REASON,
    colour: Type.Union([COLOUR, Type.Null()]),
    decidedBy: DECIDED_BY_SCHEMA,
    time: ISO_TIME,
  },
);
export type HaLastDecision = Static<typeof HaLastDecision>;
