/** How the lane decides beyond the code itself: the fever threshold. */
import { Type, type Static } from '@sinclair/typebox';
import { Defaulted, FilledObject } from '../schema-kit.js';

/** Commercial terminals allow 36.0–40.0 °C; 37.3 is the usual threshold (rules, "What a checkpoint adds"). */
export const FEVER_THRESHOLD_RANGE = { min: 36.0, max: 40.0, default: 37.3 } as const;

export const policySchema = FilledObject({
  feverThresholdC: Defaulted(
    Type.Number({
      minimum: FEVER_THRESHOLD_RANGE.min,
      maximum: FEVER_THRESHOLD_RANGE.max,
      description: 'Forehead temperature (°C) at or above which a person is refused as feverish',
    }),
    FEVER_THRESHOLD_RANGE.default,
  ),
});

export type PolicyConfig = Static<typeof policySchema>;
