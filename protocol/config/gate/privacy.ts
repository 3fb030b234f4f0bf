/** Personal data of staff-assisted registrations: whom it is sealed to, how ID numbers are asked about, how long it stays. */
import { Type, type Static } from '@sinclair/typebox';
import { Defaulted, FilledObject } from '../schema-kit.js';

export const privacySchema = FilledObject(
  {
    authorityKey: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "PEM (SPKI) file of the health authority's X25519 public key; registrations are sealed to it before they touch the disk. Absent: a staff registration records only that it happened, no details",
      }),
    ),
    idHashKey: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "File holding the site's secret key (base64 of at least 32 random bytes, made by gate-provision init) for ID-card look-ups: the gate asks the centre by an HMAC-SHA256 of the ID number under this key, never the number. Absent: ID cards are refused",
      }),
    ),
    // The rules give no figure. 21 days: the 14 days contact tracing looks
    // back over (the incubation period epidemic-control work uses), plus a
    // week for sealed events to reach the authority after a broker outage.
    retentionDays: Defaulted(
      Type.Integer({ minimum: 1, maximum: 365, description: 'Sealed registration records older than this are purged from the gate' }),
      21,
    ),
  },
  { description: 'Personal data of staff-assisted registrations (rules §6)' },
);

export type PrivacyConfig = Static<typeof privacySchema>;
