/** Staff sign-in on the staff page. */
import { Type, type Static } from '@sinclair/typebox';
import { PIN_HASH_PATTERN } from '../../privacy/staff-pin.js';
import { Defaulted, FilledObject } from '../schema-kit.js';

export const staffSchema = FilledObject({
  pinHash: Type.Optional(
    Type.String({
      pattern: PIN_HASH_PATTERN,
      description: 'scrypt hash of the staff PIN (scrypt$N$r$p$salt$hash, from hashPin in protocol/privacy/staff-pin.ts); absent: no staff page sign-in',
    }),
  ),
  sessionMinutes: Defaulted(Type.Integer({ minimum: 1, maximum: 720, description: 'A staff page session unused this long ends' }), 15),
});

export type StaffConfig = Static<typeof staffSchema>;
