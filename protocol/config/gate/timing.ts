/** How long the lane holds each step of a turn. */
import { Type, type Static } from '@sinclair/typebox';
import { Defaulted, FilledObject } from '../schema-kit.js';

export const timingSchema = FilledObject({
  relayPulseMs: Defaulted(Type.Integer({ minimum: 100, maximum: 30000 }), 3000),
  passageTimeoutMs: Defaulted(Type.Integer({ minimum: 500, maximum: 60000 }), 4000),
  denyDisplayMs: Defaulted(Type.Integer({ minimum: 0, maximum: 60000 }), 3000),
  temperatureDeadlineMs: Defaulted(Type.Integer({ minimum: 100, maximum: 10000 }), 2000),
  repeatSuppressMs: Defaulted(Type.Integer({ minimum: 0, maximum: 60000 }), 5000),
});

export type TimingConfig = Static<typeof timingSchema>;
