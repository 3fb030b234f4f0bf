/** The centre's colour changes: how stale they may grow, and what the lane does then. */
import { Type, type Static } from '@sinclair/typebox';
import { Choice, Defaulted, FilledObject } from '../schema-kit.js';

export const colourSchema = FilledObject(
  {
    maxSyncAgeSeconds: Defaulted(
      Type.Integer({
        minimum: 10,
        maximum: 86400,
        description: 'Without a valid message from the centre for this long, the gate is degraded',
      }),
      300,
    ),
    whenDegraded: Defaulted(
      Choice(['offline-code', 'staff'], {
        description: 'offline-code: decide by the colour in the code as usual (flagged degraded); staff: no automatic pass, staff decide',
      }),
      'staff',
    ),
  },
  { description: 'Colour changes pushed by the centre' },
);

export type ColourConfig = Static<typeof colourSchema>;
