/**
 * The console's web server: the page, its JSON API and a server-sent event
 * stream, behind operator sign-in. Follows the gate's screen server
 * (edge-agent/screen/screen-server.ts): fastify with JSON-schema checked
 * bodies, only JSON accepted (a cross-site form cannot send it), an Origin
 * check on every write, a Host check against DNS rebinding over plain HTTP,
 * a strict CSP, and a session in an HttpOnly SameSite=Strict cookie.
 *
 * Roles: a viewer reads everything; an operator also acknowledges alerts
 * and sends commands.
 */
import { RESERVED_LANE_IDS } from '../protocol/topics.js';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Commands, OPERATOR_ACTIONS, type OperatorAction } from './commands.js';
import { ConsoleError } from './errors.js';
import type { Feed } from '../record/feed.js';
import { OperatorSessions, type Session } from './sessions.js';
import type { ConsoleStore } from '../record/store.js';
import { admitToStream, openEventStream, type EventStream } from '../protocol/http/event-stream.js';
import { cookieOf, hardenedServer, loadAssets } from '../protocol/http/hardened-server.js';
import { StreamSlots, type SlotLimit } from '../protocol/http/stream-slots.js';

export interface ConsoleServerOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  store: ConsoleStore;
  feed: Feed;
  commands: Commands;
  sessions: OperatorSessions;
  logger: Logger;
}

const COOKIE = 'console_session';
/**
 * Event streams open at once: 64 pages in all. A session may have a few
 * (tabs); its next one replaces its oldest, so a page that reconnects never
 * locks itself out. One user may hold at most a quarter of them, however
 * often they sign in, so that one client cannot exhaust the rest.
 */
const ALL_STREAMS: SlotLimit = { name: 'all', max: 64, whenFull: 'refuse' };
const STREAMS_PER_USER = 16;
const STREAMS_PER_SESSION = 4;
const ID = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } as const;
const MESSAGE_ID = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{8,128}$' } as const;

const ASSETS: Array<[string, string, string]> = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/assets/live-feed.js', 'live-feed.js', 'text/javascript; charset=utf-8'],
  ['/assets/console.js', 'console.js', 'text/javascript; charset=utf-8'],
  ['/assets/console.css', 'console.css', 'text/css; charset=utf-8'],
];

export class ConsoleServer {
  private app: FastifyInstance | null = null;
  private readonly streams = new Set<(event: string, data: unknown) => void>();
  private readonly slots = new StreamSlots();
  private readonly log: Logger;
  private readonly detach: Array<() => void> = [];

  constructor(private readonly options: ConsoleServerOptions) {
    this.log = options.logger.child({ component: 'console-http' });
  }

  async start(): Promise<string> {
    const { options } = this;
    const assets = loadAssets(fileURLToPath(new URL('../../console/public/', import.meta.url)), ASSETS);
    const app = hardenedServer({
      ...(options.tls ? { tls: options.tls } : {}),
      noStore: (url) => url.startsWith('/api/'),
      refusals: { foreignHost: { error: 'Host not served here' }, crossSite: { error: 'Cross-site request refused' } },
    });
    app.setErrorHandler((error: { statusCode?: number; message: string }, request, reply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      // The database away or restarting: say so, and that nothing was done (a command is logged before it is sent).
      if (status >= 500 && this.options.store.transient(error)) {
        this.log.warn({ err: error.message, url: request.url, store: this.options.store.kind }, 'console store not answering');
        return reply.code(503).header('retry-after', '5').send({ error: 'The console\'s database is not answering: nothing was done; try again shortly' });
      }
      if (status >= 500) {
        this.log.error({ err: error, url: request.url }, 'console server error');
        return reply.code(500).send({ error: 'Internal error in the console: see its log' });
      }
      return reply.code(status).send({ error: `Request refused: ${error.message}` });
    });

    for (const [route, asset] of assets) app.get(route, async (_request, reply) => reply.type(asset.type).send(asset.body));
    // No icon: say so without an error in the browser's console.
    app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
    this.routes(app);

    await app.listen({ host: options.host, port: options.port });
    this.app = app;
    this.follow();
    const address = app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `${options.tls ? 'https' : 'http'}://${host}:${address.port}`;
    this.log.info({ url }, 'fleet console served');
    return url;
  }

  async stop(): Promise<void> {
    for (const off of this.detach.splice(0)) off();
    this.options.sessions.clear();
    const app = this.app;
    this.app = null;
    if (!app) return;
    this.slots.closeAll();
    await app.close();
  }

  private broadcast(event: string, data: unknown): void {
    for (const send of this.streams) send(event, data);
  }

  /** The feed's and the commands' changes go to every open page. */
  private follow(): void {
    const { feed } = this.options;
    const on = <K extends 'lane' | 'decision' | 'alert' | 'command' | 'connection'>(name: K): void => {
      const listener = (data: unknown): void => this.broadcast(name, data);
      feed.on(name, listener as never);
      this.detach.push(() => feed.off(name, listener as never));
    };
    on('lane');
    on('decision');
    on('alert');
    on('command');
    on('connection');
    const onResult = (row: { id: string; result: string; user: string; action: string; site: string; lane: string; detail: string | null }): void => {
      if (row.result !== 'pending') this.log.info({ id: row.id, result: row.result, user: row.user, action: row.action, site: row.site, lane: row.lane, detail: row.detail }, 'command result');
    };
    feed.on('command', onResult);
    this.detach.push(() => feed.off('command', onResult));
  }

  /** A signed-in page's stream (the route's guard checked the session); a HEAD gets what this GET would, and opens nothing. */
  private stream(request: FastifyRequest, reply: FastifyReply, session: Session): FastifyReply | undefined {
    const token = cookieOf(request, COOKIE);
    const limits: SlotLimit[] = [
      ALL_STREAMS,
      { name: `user:${session.user}`, max: STREAMS_PER_USER, whenFull: 'refuse' },
      { name: `session:${token}`, max: STREAMS_PER_SESSION, whenFull: 'replace' },
    ];
    const tooMany = (full: string): FastifyReply => {
      // Only 'refuse' limits turn a stream away, and their names carry no session token.
      this.log.warn({ limit: full, user: session.user }, 'event stream refused: too many open');
      return reply.code(503).header('retry-after', '5').send({ error: 'Too many pages connected' });
    };
    let stream: EventStream | null = null;
    const admitted = admitToStream(request, reply, this.slots, limits, tooMany, () => stream?.end());
    if (!admitted) return undefined;
    // A session that ended (expired, signed out) stops receiving, checked at each event and keep-alive.
    const signedOut = (): boolean => {
      if (this.options.sessions.alive(token)) return false;
      stream!.send('signed-out', {});
      stream!.end();
      return true;
    };
    const send = (event: string, data: unknown): void => {
      if (!signedOut()) stream!.send(event, data);
    };
    stream = openEventStream(reply, {
      retryMs: 2000,
      onKeepalive: signedOut,
      onClose: () => {
        admitted.release();
        this.streams.delete(send);
      },
    });
    this.streams.add(send);
    send('hello', { connected: this.options.feed.stats.connected });
    return undefined;
  }

  private routes(app: FastifyInstance): void {
    const { store, feed, commands, sessions } = this.options;
    const secure = this.options.tls !== undefined;
    const sessionOf = (request: FastifyRequest): Session | null => sessions.touch(cookieOf(request, COOKIE));
    /** onRequest guards: checked before the body is parsed. */
    const requireRole = (role: 'viewer' | 'operator') => async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const session = sessionOf(request);
      if (!session) {
        await reply.code(401).send({ error: 'Sign in first' });
        return;
      }
      if (role === 'operator' && session.role !== 'operator') {
        await reply.code(403).send({ error: 'Read-only account: an operator must do this' });
        return;
      }
      (request as FastifyRequest & { session?: Session }).session = session;
    };
    const viewer = { onRequest: requireRole('viewer') };
    const operator = { onRequest: requireRole('operator') };
    const userOf = (request: FastifyRequest): Session => (request as FastifyRequest & { session: Session }).session;
    const me = (session: Session): object => ({ signedIn: true, user: session.user, role: session.role, commandsEnabled: commands.enabled });

    app.post('/api/sign-in', {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'password'],
          properties: { name: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 256 } },
        },
      },
    }, async (request, reply) => {
      const { name, password } = request.body as { name: string; password: string };
      const result = await sessions.signIn(name, password, request.socket.remoteAddress ?? 'unknown');
      if (result.ok) {
        this.log.info({ user: result.session.user, role: result.session.role }, 'operator signed in');
        const cookie = [`${COOKIE}=${result.token}`, 'HttpOnly', 'SameSite=Strict', 'Path=/'];
        if (secure) cookie.push('Secure');
        return reply.header('set-cookie', cookie.join('; ')).send(me(result.session));
      }
      if (result.why === 'locked') {
        const seconds = Math.ceil((result.retryAfterMs ?? 0) / 1000);
        this.log.warn({ name, retryAfterSeconds: seconds }, 'console sign-in locked after repeated wrong passwords');
        return reply.code(429).header('retry-after', String(seconds)).send({ error: `Too many wrong passwords: try again in ${seconds} s` });
      }
      this.log.warn({ name }, 'console sign-in: wrong name or password');
      return reply.code(401).send({ error: 'Wrong name or password' });
    });

    app.post('/api/sign-out', async (request, reply) => {
      sessions.signOut(cookieOf(request, COOKIE));
      return reply.header('set-cookie', `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`).send({ ok: true });
    });

    // Answers without a session too (signedIn false), so that the page's first look is not an error.
    app.get('/api/me', async (request) => {
      const session = sessionOf(request);
      return session ? { signedIn: true, ...me(session) } : { signedIn: false, commandsEnabled: commands.enabled };
    });
    app.get('/api/lanes', viewer, async () => ({ lanes: await store.lanes() }));
    app.get('/api/decisions', {
      ...viewer,
      schema: { querystring: { type: 'object', additionalProperties: false, properties: { site: ID, lane: ID, limit: { type: 'string', pattern: '^[0-9]{1,4}$' } } } },
    }, async (request) => {
      const q = request.query as { site?: string; lane?: string; limit?: string };
      return { decisions: await store.decisions({ site: q.site, lane: q.lane, limit: Math.min(Number(q.limit ?? 100), 1000) }) };
    });
    app.get('/api/alerts', {
      ...viewer,
      schema: { querystring: { type: 'object', additionalProperties: false, properties: { open: { enum: ['1', '0'] } } } },
    }, async (request) => ({ alerts: await store.alerts({ unacknowledged: (request.query as { open?: string }).open === '1' }) }));
    app.post('/api/alerts/:id/ack', {
      ...operator,
      schema: { params: { type: 'object', required: ['id'], properties: { id: MESSAGE_ID } } },
    }, async (request, reply) => {
      const { id } = request.params as { id: string };
      const session = userOf(request);
      const { alert, acknowledgedNow } = await store.acknowledgeAlert(id, session.user);
      if (!alert) return reply.code(404).send({ error: 'No such alert' });
      // Of two operators acknowledging at once, only the one whose acknowledgement stands is logged and broadcast.
      if (acknowledgedNow) {
        this.log.info({ alert: id, site: alert.site, lane: alert.lane, user: session.user }, 'red-code alert acknowledged');
        this.broadcast('alert', alert);
      }
      return { alert };
    });
    app.get('/api/figures', {
      ...viewer,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { site: ID, day: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' } },
        },
      },
    }, async (request) => {
      const q = request.query as { site?: string; day?: string };
      const day = q.day ?? store.day(Date.now());
      const sites = q.site ? [q.site] : await store.sites();
      return { day, figures: await Promise.all(sites.map((site) => store.figures(site, day))) };
    });
    app.get('/api/commands', viewer, async () => ({ enabled: commands.enabled, commands: await store.commands() }));
    app.post('/api/commands', {
      ...operator,
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['site', 'lane', 'action'],
          properties: { site: ID, lane: { ...ID, not: { enum: [...RESERVED_LANE_IDS] } }, action: { enum: [...OPERATOR_ACTIONS] } },
        },
      },
    }, async (request, reply) => {
      const { site, lane, action } = request.body as { site: string; lane: string; action: OperatorAction };
      try {
        const row = await commands.send(site, lane, action, userOf(request).user);
        return reply.code(row.result === 'not-sent' ? 502 : 202).send({ command: row });
      } catch (error) {
        if (error instanceof ConsoleError && error.code === 'commands-disabled') return reply.code(503).send({ error: 'Commands are disabled: the console has no operator key (operatorKey)' });
        throw error;
      }
    });
    app.get('/api/faults', viewer, async () => ({ faults: await store.faults() }));
    app.get('/api/stats', viewer, async () => ({ feed: feed.stats }));
    app.get('/api/events', viewer, (request, reply) => this.stream(request, reply, userOf(request)));
  }
}
