/**
 * The API's routes, each with its schemas from
 * protocol/payloads/centre-api.ts (which validate the request, shape the
 * answer, and make the OpenAPI document). A change is answered only after
 * the store's commit; a refused one stores nothing.
 */
import { PassThrough, type Readable } from 'node:stream';
import { Ajv } from 'ajv';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import {
  apiErrorSchema,
  auditQuerySchema,
  auditTrailSchema,
  baselineQuerySchema,
  batchStoredSchema,
  changeEntrySchema,
  changesBatchSchema,
  deliveriesListSchema,
  deliveriesQuerySchema,
  deliveryParamsSchema,
  deliveryStateSchema,
  figuresParamsSchema,
  figuresSchema,
  healthSchema,
  readySchema,
  siteParamsSchema,
  sitesListSchema,
  subjectParamsSchema,
  subjectStatusSchema,
  type AuditQuery,
  type ChangesBatch,
  type DeliveriesQuery,
} from '../../protocol/payloads/centre-api.js';
import type { ColourEntry, Delivery, CentreStore, SiteState } from '../store/store.js';
import { maySee } from './client-auth.js';
import { BaselineRefusal, spoolBaseline, type BaselineFormat } from './baseline-body.js';
import { checkShapedEntry, EntryDigest } from './entries.js';
import { ApiRefusal } from './refusal.js';
import type { ApiTimeouts, CentreApiOptions } from './options.js';

export interface RouteContext extends CentreApiOptions {
  serves: (site: string) => boolean;
  log: Logger;
  now: () => number;
  maxSkewMs: number;
  timeouts: ApiTimeouts;
}

/** Rows handed to the store at a time: a bounded transaction step, whatever the baseline's size. */
const BASELINE_CHUNK_ROWS = 5000;
const BASELINE_TYPES: Record<string, BaselineFormat> = { 'application/x-ndjson': 'ndjson', 'application/ndjson': 'ndjson', 'text/csv': 'csv' };
const ERRORS = { '4xx': apiErrorSchema, '5xx': apiErrorSchema };
const WRITE = { write: true };

const counters = (s: SiteState) => ({ site: s.site, seq: s.seq, epoch: s.epoch, publishedSeq: s.publishedSeq, snapshotVersion: s.snapshotVersion, snapshotSeq: s.snapshotSeq, statuses: s.statuses });
const deliveryState = ({ body: _body, ...rest }: Delivery) => rest;

export function registerRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store, log } = context;

  app.get('/healthz', { schema: { tags: ['probes'], summary: 'The process answers (no sign-in)', security: [], response: { 200: healthSchema } } }, async () => ({ ok: true }));
  app.get('/readyz', { schema: { tags: ['probes'], summary: 'The store answers (no sign-in)', security: [], response: { 200: readySchema, 503: readySchema } } }, async (_request, reply) => {
    try {
      await store.auditTrail({ limit: 1 });
      return { ready: true, store: store.kind };
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'centre not ready: its store does not answer');
      return reply.code(503).send({ ready: false, store: store.kind });
    }
  });

  app.post<{ Params: { site: string }; Body: ChangesBatch }>(
    '/v1/sites/:site/changes',
    {
      config: WRITE,
      schema: { tags: ['platform'], summary: 'Store a batch of changes as one change message', params: siteParamsSchema, body: changesBatchSchema, response: { 200: batchStoredSchema, ...ERRORS } },
      preValidation: async (request) => {
        const body = request.body as { batchId?: unknown; changes?: unknown } | null;
        if (body && typeof body.batchId === 'string') request.trail.batchId = body.batchId.slice(0, 128);
        if (body && Array.isArray(body.changes)) {
          request.trail.rows = body.changes.length;
          const max = context.limits.maxBatchChanges;
          if (body.changes.length > max) throw new ApiRefusal(413, 'batch-too-large', `${body.changes.length} changes: a batch may carry at most ${max}; split it`);
        }
      },
    },
    async (request) => {
      const { site } = request.params;
      const now = context.now();
      const digest = new EntryDigest('changes');
      const changes: ColourEntry[] = [];
      request.body.changes.forEach((raw, row) => {
        const checked = checkShapedEntry(raw, now, context.maxSkewMs);
        if (!checked.ok) throw new ApiRefusal(400, checked.refusal.code, `changes[${row}]: ${checked.refusal.message}`, { row, field: checked.refusal.field });
        digest.add(checked.entry);
        changes.push(checked.entry);
      });
      const client = request.trail.client!.id;
      const result = await store.applyBatch({ site, batchId: request.body.batchId, client, digest: digest.digest(), changes }, now);
      if (!result.replayed) context.onStored?.(site, result.seq);
      return result;
    },
  );

  // A baseline's body is read by its route as it arrives: here alone no body parser holds it.
  app.register(async (scope) => {
    const coercing = new Ajv({ coerceTypes: true, useDefaults: true, strict: false });
    // The body schema documents one row; the rows are checked one by one as they stream (baseline-body.ts).
    scope.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? () => true : coercing.compile(schema)));
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(Object.keys(BASELINE_TYPES), (_request, payload, done) => done(null, payload));
    scope.put<{ Params: { site: string }; Querystring: { batchId: string } }>(
      '/v1/sites/:site/baseline',
      {
        config: { write: true, streamsBody: true },
        schema: {
          tags: ['platform'],
          summary: "Replace the site's whole list (streamed NDJSON, or CSV with a header subject,colour,effectiveAt[,reason][,idHash])",
          description: 'One bad row refuses the whole baseline (400 with its line) and nothing is stored. The body is one ChangeEntry per line (NDJSON) or per record (CSV).',
          consumes: Object.keys(BASELINE_TYPES),
          params: siteParamsSchema,
          querystring: baselineQuerySchema,
          body: changeEntrySchema,
          response: { 200: batchStoredSchema, ...ERRORS },
        },
      },
      async (request) => {
        // Through a pass-through: the body's reader then fails when the request does (a body that stops, a client gone).
        const raw = request.body as unknown as Readable | undefined;
        // No body at all: fastify calls no parser, whatever the type said.
        if (!raw) throw new ApiRefusal(415, 'unsupported-content-type', `a baseline is a body of type ${Object.keys(BASELINE_TYPES).join(' or ')}; none was sent`);
        const body = new PassThrough();
        raw.on('error', (error) => body.destroy(error));
        raw.pipe(body);
        return baseline(context, request, body);
      },
    );
  });

  app.get<{ Params: { site: string; subject: string } }>(
    '/v1/sites/:site/subjects/:subject',
    { schema: { tags: ['read'], summary: "A subject's current status", params: subjectParamsSchema, response: { 200: subjectStatusSchema, ...ERRORS } } },
    async (request) => {
      const status = await store.status(request.params.site, request.params.subject);
      if (!status) throw new ApiRefusal(404, 'not-found', 'the platform never sent this subject for this site');
      return { site: status.site, subject: status.subject, colour: status.colour, effectiveAt: status.effectiveAt, reason: status.reason ?? null, seq: status.seq, storedAt: status.storedAt };
    },
  );

  app.get<{ Params: { site: string }; Querystring: DeliveriesQuery }>(
    '/v1/sites/:site/deliveries',
    { schema: { tags: ['read'], summary: "The site's deliveries to the department, newest first", params: siteParamsSchema, querystring: deliveriesQuerySchema, response: { 200: deliveriesListSchema, ...ERRORS } } },
    async (request) => {
      const { state, kind, limit = 100 } = request.query;
      const list = await store.deliveries({ site: request.params.site, limit, ...(state ? { state } : {}), ...(kind ? { kind } : {}) });
      return { deliveries: list.map(deliveryState) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/deliveries/:id',
    { schema: { tags: ['read'], summary: 'One delivery to the department', params: deliveryParamsSchema, response: { 200: deliveryStateSchema, ...ERRORS } } },
    async (request) => {
      const delivery = await store.delivery(request.params.id);
      // Another site's delivery is as unknown as none: its id says nothing.
      if (!delivery || !maySee(request.trail.client!, delivery.site)) throw new ApiRefusal(404, 'not-found', 'no delivery with this id');
      request.trail.site = delivery.site;
      return deliveryState(delivery);
    },
  );

  app.get<{ Params: { site: string; day: string } }>(
    '/v1/sites/:site/figures/:day',
    { schema: { tags: ['read'], summary: "The rules' §7 figures of a site on a day, from what its gates reported", params: figuresParamsSchema, response: { 200: figuresSchema, ...ERRORS } } },
    async (request) => {
      const figures = context.figures?.(request.params.site, request.params.day) ?? null;
      if (!figures) throw new ApiRefusal(503, 'not-leader', 'this centre keeps no record now (a standby): ask the leader');
      return figures;
    },
  );

  app.get('/v1/sites', { schema: { tags: ['read'], summary: "The sites' counters (those the client may see)", response: { 200: sitesListSchema, ...ERRORS } } }, async (request) => {
    const client = request.trail.client!;
    const sites = await store.sites();
    return { sites: sites.filter((s) => maySee(client, s.site) && context.serves(s.site)).map(counters) };
  });

  app.get<{ Querystring: AuditQuery }>(
    '/v1/audit',
    { schema: { tags: ['read'], summary: 'The audit trail, newest first', querystring: auditQuerySchema, response: { 200: auditTrailSchema, ...ERRORS } } },
    async (request) => {
      const { since, client, limit = 100 } = request.query;
      const entries = await store.auditTrail({ limit, ...(since !== undefined ? { since } : {}), ...(client ? { client } : {}) });
      return { entries };
    },
  );
}

async function baseline(context: RouteContext, request: FastifyRequest<{ Params: { site: string }; Querystring: { batchId: string } }>, body: Readable) {
  const { site } = request.params;
  const { batchId } = request.query;
  const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const format = BASELINE_TYPES[type]!;
  const log = context.log.child({ site, batchId });
  const started = context.now();
  let spooled;
  try {
    spooled = await spoolBaseline(body, format, {
      now: started,
      maxSkewMs: context.maxSkewMs,
      maxRows: context.limits.maxBaselineRows,
      ...(context.spoolDir ? { dir: context.spoolDir } : {}),
      onProgress: (rows) => {
        request.trail.rows = rows;
        log.info({ rows }, 'baseline rows read and checked');
      },
    });
  } catch (error) {
    if (error instanceof BaselineRefusal) {
      if (error.line !== undefined) request.trail.rows = Math.max(0, error.line - 1);
      throw new ApiRefusal(error.status, error.code, error.message, { ...(error.line !== undefined ? { line: error.line } : {}), ...(error.field ? { field: error.field } : {}) });
    }
    throw error;
  }
  request.raw.socket?.setTimeout(0);
  request.trail.rows = spooled.rows;
  log.info({ rows: spooled.rows, format }, 'baseline read: storing it');
  try {
    const progress = (rows: number) => log.info({ rows, of: spooled.rows }, 'baseline rows stored');
    const result = await context.store.replaceBaseline({ site, batchId, client: request.trail.client!.id, digest: spooled.digest }, spooled.chunks(BASELINE_CHUNK_ROWS), started, progress);
    log.info({ rows: result.rows, seq: result.seq, replayed: result.replayed, ms: context.now() - started }, 'baseline stored');
    if (!result.replayed) context.onStored?.(site, result.seq);
    return result;
  } finally {
    await spooled.dispose();
  }
}
