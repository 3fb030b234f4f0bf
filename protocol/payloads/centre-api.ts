/**
 * The centre's HTTP API as TypeBox schemas: what the health-code platform
 * sends (batches of changes, a streamed baseline), what the centre answers
 * (stored batches, statuses, site counters, deliveries, the audit trail) and
 * its one error shape. The routes validate with these and the OpenAPI
 * document (docs/centre-openapi.json) is generated from them, so the two
 * cannot drift.
 *
 * Times the platform sends may be epoch ms or ISO 8601 (its exports use
 * either); what the centre answers is epoch ms, as the store keeps it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { MAX_COLOUR_CHANGES } from './signed.js';
import { Closed, COLOUR, COUNT_FROM_0, COUNT_FROM_1, described, Enum, EPOCH_MS, ID, ISO_TIME, SUBJECT } from './common.js';

/** The platform's batch id: opaque, without spaces (a UUID, a sequence number, an export's name). */
export const BATCH_ID = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$', description: "The platform's id for the batch: the same id again with the same content is answered as before and stores nothing" });
/** The platform's reason code for a change: kept for look-ups and audits, never sent to gates. */
export const CHANGE_REASON = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' });
/** The keyed hash of the person's ID number (hex or base64url), for ID-card look-ups. */
export const ID_HASH = Type.String({ pattern: '^[A-Za-z0-9_-]{16,128}$' });
export const EFFECTIVE_AT = Type.Union([EPOCH_MS, ISO_TIME], { description: 'When the platform made the change: epoch ms or ISO 8601 with its offset' });

export const changeEntrySchema = Closed(
  {
    subject: described(SUBJECT, 'The pseudonymous code subject; a national ID number is refused'),
    colour: COLOUR,
    effectiveAt: EFFECTIVE_AT,
    reason: Type.Optional(Type.Union([CHANGE_REASON, Type.Null()])),
    idHash: Type.Optional(Type.Union([ID_HASH, Type.Null()])),
  },
  { title: 'ChangeEntry', description: 'One status as the platform sends it: a change, or one row of a baseline' },
);

export const changesBatchSchema = Closed(
  {
    batchId: BATCH_ID,
    changes: Type.Array(changeEntrySchema, { minItems: 1, maxItems: MAX_COLOUR_CHANGES, description: 'Stored as one change message (one seq); a subject listed twice: the last wins' }),
  },
  { title: 'ChangesBatch' },
);

export const batchStoredSchema = Closed(
  {
    site: ID,
    batchId: BATCH_ID,
    seq: COUNT_FROM_1,
    rows: COUNT_FROM_0,
    storedAt: EPOCH_MS,
    replayed: Type.Boolean({ description: 'The same batch came before: nothing was stored, this is the first answer' }),
  },
  { title: 'BatchStored', description: 'Sent only after the store committed the batch' },
);

export const siteParamsSchema = Closed({ site: ID });
export const subjectParamsSchema = Closed({ site: ID, subject: SUBJECT });
export const deliveryParamsSchema = Closed({ id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{8,128}$' }) });
export const baselineQuerySchema = Closed({ batchId: BATCH_ID });

export const subjectStatusSchema = Closed(
  {
    site: ID,
    subject: SUBJECT,
    colour: COLOUR,
    effectiveAt: EPOCH_MS,
    reason: Type.Union([CHANGE_REASON, Type.Null()]),
    seq: COUNT_FROM_1,
    storedAt: EPOCH_MS,
  },
  { title: 'SubjectStatus' },
);

export const siteCountersSchema = Closed(
  {
    site: ID,
    seq: described(COUNT_FROM_0, 'The last seq committed'),
    epoch: COUNT_FROM_0,
    publishedSeq: described(COUNT_FROM_0, 'The last change message the broker took'),
    snapshotVersion: COUNT_FROM_0,
    snapshotSeq: COUNT_FROM_0,
    statuses: COUNT_FROM_0,
  },
  { title: 'SiteCounters' },
);
export const sitesListSchema = Closed({ sites: Type.Array(siteCountersSchema, { maxItems: 10_000 }) }, { title: 'Sites' });

const DELIVERY_KINDS = ['alert', 'registration'] as const;
const DELIVERY_STATES = ['pending', 'delivered'] as const;
const NULLABLE_TIME = Type.Union([EPOCH_MS, Type.Null()]);

export const deliveryStateSchema = Closed(
  {
    id: Type.String({ minLength: 1, maxLength: 128 }),
    kind: Enum(DELIVERY_KINDS),
    site: ID,
    lane: ID,
    receivedAt: EPOCH_MS,
    state: Enum(DELIVERY_STATES),
    attempts: COUNT_FROM_0,
    nextAttemptAt: EPOCH_MS,
    lastError: Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]),
    deliveredAt: NULLABLE_TIME,
    alarmedAt: NULLABLE_TIME,
  },
  { title: 'Delivery', description: "A message on its way to the epidemic-control department (its body is not shown: it is the gate's, passed on)" },
);
export const deliveriesListSchema = Closed({ deliveries: Type.Array(deliveryStateSchema, { maxItems: 1000 }) }, { title: 'Deliveries' });

/** Query numbers arrive as text: these are checked as the digits they must be. */
const LIMIT = Type.Integer({ minimum: 1, maximum: 1000, default: 100 });
export const deliveriesQuerySchema = Closed({ state: Type.Optional(Enum(DELIVERY_STATES)), kind: Type.Optional(Enum(DELIVERY_KINDS)), limit: Type.Optional(LIMIT) });

export const auditEntrySchema = Closed(
  {
    at: EPOCH_MS,
    client: Type.String({ minLength: 1, maxLength: 128 }),
    action: Type.String({ maxLength: 256 }),
    site: Type.Union([ID, Type.Null()]),
    batchId: Type.Union([Type.String({ maxLength: 128 }), Type.Null()]),
    rows: COUNT_FROM_0,
    status: Type.Integer({ minimum: 100, maximum: 599 }),
    error: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
  },
  { title: 'AuditEntry', description: 'One request the API answered, refused ones too' },
);
export const auditQuerySchema = Closed({ since: Type.Optional(EPOCH_MS), client: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })), limit: Type.Optional(LIMIT) });
export const auditTrailSchema = Closed({ entries: Type.Array(auditEntrySchema, { maxItems: 1000 }) }, { title: 'AuditTrail' });

export const apiErrorSchema = Closed(
  {
    error: Type.String({ pattern: '^[a-z-]{1,64}$', description: 'A stable code (docs/errors.md, "centre")' }),
    message: Type.String({ maxLength: 2000 }),
    row: Type.Optional(described(COUNT_FROM_0, 'The refused change: its index in `changes`, from 0')),
    line: Type.Optional(described(COUNT_FROM_1, "The refused baseline row's line in the body, from 1 (a CSV's header is line 1)")),
    field: Type.Optional(Type.String({ maxLength: 64, description: 'The refused field of that row' })),
  },
  { title: 'ApiError', description: 'Every refusal: nothing was stored' },
);

const COUNT = COUNT_FROM_0;
const DURATION_MS = Type.Union([Type.Number({ minimum: 0, maximum: 86_400_000 * 366 }), Type.Null()]);
export const figuresParamsSchema = Closed({ site: ID, day: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: "A calendar day in the centre's time zone" }) });
/** The rules' §7 figures of one site on one day, from what the site's gates reported (the central record). */
export const figuresSchema = Closed(
  {
    site: ID,
    day: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }),
    checks: COUNT,
    passes: COUNT,
    refusals: COUNT,
    holds: COUNT,
    staffRegistrations: COUNT,
    sensorFaults: COUNT,
    redAlerts: COUNT,
    colourChanges: Closed({
      changes: described(COUNT, 'Colour change messages the centre issued that day'),
      expected: described(COUNT, '(change, lane) pairs: every lane known at the site when the change was issued'),
      applied: COUNT,
      medianMs: described(DURATION_MS, 'From issue to applied at a lane, median; null: none applied'),
      worstMs: DURATION_MS,
      neverApplied: Type.Array(Closed({ lane: ID, seq: COUNT_FROM_1, issuedAt: EPOCH_MS }), { maxItems: 100_000 }),
    }),
  },
  { title: 'Figures' },
);
export type Figures = Static<typeof figuresSchema>;

export const healthSchema = Closed({ ok: Type.Boolean() }, { title: 'Health' });
export const readySchema = Closed({ ready: Type.Boolean(), store: Type.String({ maxLength: 16 }) }, { title: 'Ready' });

export type ChangeEntryBody = Static<typeof changeEntrySchema>;
export type ChangesBatch = Static<typeof changesBatchSchema>;
export type BatchStored = Static<typeof batchStoredSchema>;
export type SubjectStatus = Static<typeof subjectStatusSchema>;
export type SiteCounters = Static<typeof siteCountersSchema>;
export type DeliveryStateBody = Static<typeof deliveryStateSchema>;
export type AuditEntryBody = Static<typeof auditEntrySchema>;
export type ApiErrorBody = Static<typeof apiErrorSchema>;
export type DeliveriesQuery = Static<typeof deliveriesQuerySchema>;
export type AuditQuery = Static<typeof auditQuerySchema>;
