/**
 * The centre's HTTP API for the health-code platform: a fastify server
 * (not the browser-facing hardened server: its callers are programs, which
 * sign every request) with the routes of routes.ts. Here: who is asking
 * (client-auth.ts), the per-client rate limit, the audit of every request
 * (refused ones too), the one error shape, and the bounds on what a client
 * can make it hold: header size and time, body size (but a baseline's,
 * which streams), a body that stops arriving.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Ajv } from 'ajv';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import { POSTGRES, SQLITE, type DialectRules } from '../../record/dialects.js';
import { CentreError } from '../errors.js';
import { ClientDirectory, maySee } from './client-auth.js';
import type { ApiTimeouts, CentreApiOptions, RequestTrail } from './options.js';
import { ApiRefusal, STATUS_OF } from './refusal.js';
import { registerRoutes } from './routes.js';

export type { ApiTimeouts, CentreApiOptions } from './options.js';

const TIMEOUTS: ApiTimeouts = { headersMs: 10_000, bodyIdleMs: 30_000, requestMs: 15 * 60_000 };
const MAX_HEADER_BYTES = 16 * 1024;
/** Probes: asked every few seconds by the orchestrator, so neither audited nor limited. */
const PROBES = new Set(['/healthz', '/readyz']);

/** The app without a listening socket: the server's and the OpenAPI document's. */
export async function buildCentreApp(options: CentreApiOptions): Promise<FastifyInstance> {
  const timeouts = { ...TIMEOUTS, ...options.timeouts };
  const log = options.logger.child({ component: 'centre-api' });
  const serves = typeof options.sites === 'function' ? options.sites : (site: string) => (options.sites as ReadonlySet<string>).has(site);
  const directory = new ClientDirectory(options.clients);
  const tls = options.http.tls;
  const serverOptions = { requestTimeout: timeouts.requestMs, headersTimeout: timeouts.headersMs, maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: Math.min(1000, timeouts.headersMs) };
  // Bodies as sent: a colour of 1 is not "1"; the query and the path are text and are read as their schema's numbers.
  const strict = new Ajv({ removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, strict: false });
  const coercing = new Ajv({ removeAdditional: false, coerceTypes: true, useDefaults: true, allErrors: false, strict: false });

  const app = Fastify({
    // Each request is in the audit trail: fastify's own per-request lines would only repeat it.
    loggerInstance: log.child({}, { level: 'warn' }) as unknown as FastifyBaseLogger,
    bodyLimit: options.http.maxBodyBytes,
    return503OnClosing: true,
    serverFactory: (handler) => {
      const server: Server = tls
        ? createHttpsServer({ ...serverOptions, cert: tls.cert, key: tls.key, ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false } : {}) }, handler)
        : createHttpServer(serverOptions, handler);
      return server;
    },
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => writeClientError(error, socket),
  }) as unknown as FastifyInstance;
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema));
  app.decorateRequest('trail', null as unknown as RequestTrail);
  app.removeContentTypeParser('text/plain');

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Health-code centre API', version: '1', description: "The centre's API for the health-code platform: colour changes and baselines in, statuses, site counters, deliveries and the audit trail out. Every refusal is an ApiError; nothing of a refused request is stored." },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from `gate-centre token`; the centre keeps its SHA-256' }, certificate: { type: 'mutualTLS', description: 'A client certificate from http.tls.clientCa; its CN names the client' } } as never },
      security: [{ bearer: [] }, { certificate: [] }],
    },
  });

  app.addHook('onRequest', async (request, reply) => {
    const params = (request.params ?? {}) as { site?: string };
    const query = (request.query ?? {}) as { batchId?: unknown };
    request.trail = { client: null, site: typeof params.site === 'string' ? params.site : null, batchId: typeof query.batchId === 'string' ? query.batchId.slice(0, 128) : null, rows: 0, error: null };
    if (PROBES.has(request.url)) return;
    if (request.method === 'POST' || request.method === 'PUT') watchBody(request, timeouts.bodyIdleMs);
    const who = directory.identify(request.headers.authorization, request.raw.socket);
    if (!who.ok) {
      reply.header('www-authenticate', 'Bearer realm="centre"');
      throw new ApiRefusal(401, 'unauthenticated', `Not signed: ${who.reason}`);
    }
    request.trail.client = who.client;
    if (request.routeOptions.config?.write && who.client.role === 'viewer') throw new ApiRefusal(403, 'forbidden', `client ${who.client.id} is a viewer: it may not write`);
    if (request.routeOptions.config?.operator && who.client.role !== 'operator') throw new ApiRefusal(403, 'forbidden', `client ${who.client.id} is not an operator: keys and epochs are an operator's`);
    const site = request.trail.site;
    if (site !== null) {
      if (!maySee(who.client, site)) throw new ApiRefusal(403, 'forbidden', `client ${who.client.id} may not act on site ${site}`);
      if (/^[A-Za-z0-9_-]{1,64}$/.test(site) && !serves(site)) throw new ApiRefusal(404, 'unknown-site', `the centre does not serve site ${site}`);
    }
    // Only the leader publishes: a batch stored by a standby would wait unpublished until the leader's next heartbeat.
    if (request.routeOptions.config?.write && options.acceptsWrites && !options.acceptsWrites()) throw new ApiRefusal(503, 'not-leader', 'this centre process does not lead: send the write to the leader');
  });

  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    timeWindow: 60_000,
    max: (request: FastifyRequest) => request.trail?.client?.requestsPerMinute ?? 60,
    keyGenerator: (request: FastifyRequest) => (request.trail?.client ? `client:${request.trail.client.id}` : `address:${request.ip}`),
    allowList: (request: FastifyRequest) => PROBES.has(request.url),
    errorResponseBuilder: (_request, context) => new ApiRefusal(429, 'rate-limited', `more than ${context.max} requests a minute; try again in ${Math.ceil(context.ttl / 1000)} s`),
  });

  app.addHook('preValidation', async (request) => {
    // The body is in: from here the time is the store's, not the sender's.
    if (!request.routeOptions.config?.streamsBody) request.raw.socket?.setTimeout(0);
  });

  app.addHook('onResponse', async (request, reply) => {
    if (PROBES.has(request.url) || request.trail === null) return;
    const { trail } = request;
    const entry = { at: (options.now ?? Date.now)(), client: trail.client?.id ?? 'anonymous', action: `${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]!.slice(0, 200)}`.slice(0, 256), site: trail.site && /^[A-Za-z0-9_-]{1,64}$/.test(trail.site) ? trail.site : null, batchId: trail.batchId, rows: trail.rows, status: reply.statusCode, error: trail.error };
    try {
      await options.store.audit(entry);
    } catch (error) {
      log.error({ err: error, audit: entry }, 'audit entry not stored');
    }
  });

  app.setNotFoundHandler(async (request) => {
    throw new ApiRefusal(404, 'not-found', `no route ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}`);
  });

  app.setErrorHandler(async (error, request, reply) => {
    const refusal = asRefusal(error, request, options.store.kind === 'postgres' ? POSTGRES : SQLITE);
    if (refusal.statusCode >= 500 && refusal.code === 'internal-error') log.error({ err: error, url: request.url }, 'centre API error');
    else if (refusal.statusCode >= 500) log.warn({ err: (error as Error).message, url: request.url }, 'centre store not answering');
    if (request.trail) request.trail.error = refusal.code;
    if (refusal.statusCode === 503) reply.header('retry-after', '5');
    // A refused body may still be arriving: the connection goes, rather than reading what is not wanted.
    if (request.raw.readable && !request.raw.readableEnded && (request.method === 'POST' || request.method === 'PUT')) reply.header('connection', 'close');
    return reply.code(refusal.statusCode).type('application/json').send(refusal.body());
  });

  registerRoutes(app, { ...options, serves, log, now: options.now ?? Date.now, maxSkewMs: options.maxSkewMs ?? 5 * 60_000, timeouts });
  return app;
}

/** Any error as the API's refusal. */
function asRefusal(error: unknown, request: FastifyRequest, dialect: DialectRules): ApiRefusal {
  if (error instanceof ApiRefusal) return error;
  if (error instanceof CentreError) return new ApiRefusal(STATUS_OF[error.code], error.code, error.message);
  // The database away or restarting: the same request may pass in a moment (a batch id makes sending it again safe).
  if (dialect.transient(error)) return new ApiRefusal(503, 'store-unavailable', 'the centre cannot reach its store now: send the request again in a moment');
  const e = error as { statusCode?: number; code?: string; message?: string; validation?: Array<{ instancePath: string; message?: string; keyword: string; params?: Record<string, unknown> }>; validationContext?: string };
  if (e.validation) {
    const first = e.validation[0];
    const path = first?.instancePath ?? '';
    const row = /^\/changes\/(\d+)(?:\/([^/]+))?/.exec(path);
    const named = first?.keyword === 'additionalProperties' ? `${path || '/'} has an unknown field ${String(first.params?.additionalProperty)}` : first?.keyword === 'required' ? `${path || '/'} lacks ${String(first.params?.missingProperty)}` : `${path || e.validationContext}: ${first?.message ?? 'invalid'}`;
    if (row && e.validationContext === 'body') return new ApiRefusal(400, 'invalid-change', `changes[${row[1]}]: ${named}`, { row: Number(row[1]), field: row[2] ?? String(first?.params?.additionalProperty ?? first?.params?.missingProperty ?? 'row') });
    return new ApiRefusal(400, 'malformed-request', `${e.validationContext ?? 'request'} refused: ${named}`);
  }
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiRefusal(415, 'unsupported-content-type', `a body of type ${String(request.headers['content-type'] ?? 'none').slice(0, 100)} is not taken here`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiRefusal(413, 'batch-too-large', 'the body is larger than http.maxBodyBytes');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiRefusal(400, 'malformed-request', 'the body is empty, and this route takes a JSON body');
  }
  if (e.code === 'ECONNRESET') return new ApiRefusal(400, 'malformed-request', 'the client closed the connection before its body ended');
  if (e.statusCode === 408) return new ApiRefusal(408, 'request-timeout', e.message ?? 'the body stopped arriving');
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    const json = e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError;
    return new ApiRefusal(e.statusCode === 413 ? 413 : 400, e.statusCode === 413 ? 'batch-too-large' : 'malformed-request', json ? `the body is not JSON: ${e.message ?? ''}`.slice(0, 300) : (e.message ?? 'refused').slice(0, 300));
  }
  return new ApiRefusal(500, 'internal-error', 'internal error in the centre: see its log');
}

/** A body that sends nothing for `idleMs` is refused with 408 (the socket's inactivity, cleared once the body is in). */
function watchBody(request: FastifyRequest, idleMs: number): void {
  if (idleMs <= 0) return;
  // On the request, not its socket: the server destroys a timed-out socket unless the request hears the timeout.
  request.raw.setTimeout(idleMs, () => {
    request.raw.socket?.setTimeout(0);
    if (request.raw.readableEnded) return;
    // The body's reader (fastify's, or a baseline's) hears this as the stream failing, and answers with it.
    request.raw.emit('error', new ApiRefusal(408, 'request-timeout', `the body sent nothing for ${idleMs} ms`));
  });
}

/** What the HTTP parser refuses before fastify has a request: in the API's own error shape. */
function writeClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'request-timeout', 'the request did not arrive in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'malformed-request', `the request's headers are larger than ${MAX_HEADER_BYTES} bytes`]
        : [400, 'malformed-request', `not an HTTP/1.1 request (${error.code ?? 'parse error'})`];
  const body = JSON.stringify({ error: code, message });
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy();
}

/** The API as a component: start() listens and gives the URL, stop() closes. */
export class CentreApi {
  private app: FastifyInstance | null = null;

  constructor(private readonly options: CentreApiOptions) {}

  async start(): Promise<string> {
    const app = await buildCentreApp(this.options);
    await app.listen({ host: this.options.http.host, port: this.options.http.port });
    this.app = app;
    const address = app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `${this.options.http.tls ? 'https' : 'http'}://${host}:${address.port}`;
    this.options.logger.info({ url, clients: this.options.clients.length }, 'centre API served');
    return url;
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    await app?.close();
  }
}

