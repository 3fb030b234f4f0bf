/** Which lane of which site this gate is: its place in the MQTT topics. */
import { Type } from '@sinclair/typebox';
import { RESERVED_LANE_IDS } from '../../topics.js';

const ID = { minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' } as const;

export const siteSchema = Type.String({ ...ID, description: 'Site id, used in MQTT topics' });

export const laneSchema = Type.String({
  ...ID,
  not: { enum: [...RESERVED_LANE_IDS] },
  description: "Lane id within the site ('colour' and 'centre' are taken by the site's own topics)",
});
