/**
 * What the console's page is told of each red-code alert's delivery to the
 * epidemic-control department: the centre keeps that state (its API,
 * deliveryStateSchema), the console reads it and says, per alert, delivered,
 * pending or alarm, or why it cannot say. The console's server answers with
 * this schema (GET /api/deliveries), which also drops whatever else the
 * centre's answer held.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Closed, COUNT_FROM_0, Enum, EPOCH_MS } from './common.js';

/** delivered; pending (attempts, last error); alarm (pending past the centre's alarmAfterSeconds); not-at-centre (the centre has no such alert); unknown (not asked, or the centre did not answer). */
export const ALERT_DELIVERY_STATES = ['delivered', 'pending', 'alarm', 'not-at-centre', 'unknown'] as const;
/** Why the console cannot say: no centre configured, the centre not answering, or refusing the console's token. */
export const CENTRE_REACH = ['not-configured', 'reachable', 'unreachable', 'refused'] as const;

const NULLABLE_TIME = Type.Union([EPOCH_MS, Type.Null()]);

export const alertDeliverySchema = Closed({
  id: Type.String({ minLength: 1, maxLength: 128, description: "The alert's id, which is its delivery's id at the centre" }),
  state: Enum(ALERT_DELIVERY_STATES),
  receivedAt: NULLABLE_TIME,
  attempts: COUNT_FROM_0,
  lastError: Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]),
  deliveredAt: NULLABLE_TIME,
  alarmedAt: NULLABLE_TIME,
});

export const alertDeliveriesSchema = Closed({
  centre: Enum(CENTRE_REACH),
  /** When the centre last answered this (null: never, or not configured). */
  checkedAt: NULLABLE_TIME,
  /** What went wrong, without any secret: shown on the page as it is. */
  error: Type.Union([Type.String({ maxLength: 500 }), Type.Null()]),
  deliveries: Type.Array(alertDeliverySchema, { maxItems: 1000 }),
});

export type AlertDeliveryState = (typeof ALERT_DELIVERY_STATES)[number];
export type CentreReach = (typeof CENTRE_REACH)[number];
export type AlertDelivery = Static<typeof alertDeliverySchema>;
export type AlertDeliveries = Static<typeof alertDeliveriesSchema>;
