/**
 * The gate's local web server: the screen a person sees (shown full-screen
 * by a kiosk browser on the gate) with live updates by server-sent events,
 * and the staff page behind a PIN. Fastify for routing, body limits and
 * JSON-schema checks of what the staff page sends.
 *
 * Personal details typed on the staff page cross the network only over TLS:
 * the config refuses a staff sign-in on a non-loopback address without it.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { DecisionRecord } from '../lane/lane.js';
import { isRegistrationRefusal } from '../../protocol/privacy/errors.js';
import type { RegistrationDetails } from '../../protocol/privacy/registration.js';
import type { ScreenModel, ScreenView } from './screen-view.js';
import { StaffSessions } from './staff-sessions.js';
import { admitToStream, openEventStream, type EventStream } from '../../protocol/http/event-stream.js';
import { cookieOf, hardenedServer, isLoopback, loadAssets } from '../../protocol/http/hardened-server.js';
import { sameSecret } from '../../protocol/http/same-secret.js';
import { StreamSlots, type SlotLimit } from '../../protocol/http/stream-slots.js';

/** What the staff page may ask of the lane: the Lane class has these. */
export interface StaffDesk {
  readonly staffCan: { noCode: boolean; register: boolean; temperature: boolean; release: boolean; resume: boolean };
  noCode(): Promise<DecisionRecord | null>;
  staffRegistered(details?: RegistrationDetails): Promise<DecisionRecord | null>;
  staffTemperature(celsius: number): Promise<DecisionRecord | null>;
  staffRelease(): boolean;
  staffResume(): boolean;
}

export interface ScreenServerOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  model: ScreenModel;
  desk: StaffDesk;
  /** staff.pinHash; null: the staff page shows that sign-in is not set up. */
  pinHash: string | null;
  staffSessionMinutes: number;
  /** Site and lane, shown in the corner of both pages. */
  site: string;
  lane: string;
  logger: Logger;
  /** How often the view is re-derived for changes without a lane event (the link going degraded). */
  refreshMs?: number;
}

const COOKIE = 'gate_staff';
/**
 * Event streams open at once, 16 in all (more is someone exhausting the
 * Pi's files), in pools so that no kind of client can starve another: the
 * kiosk's page, which shows the key from /view, always gets in (its newest
 * stream replaces its oldest, so a reload or a reconnection never locks it
 * out); staff pages, two per session; anything else on loopback (a script,
 * a browser without the key) shares what is left and is refused when that
 * is full.
 */
const KIOSK: SlotLimit = { name: 'kiosk', max: 2, whenFull: 'replace' };
const STAFF: SlotLimit = { name: 'staff', max: 6, whenFull: 'refuse' };
const STAFF_PER_SESSION = 2;
const ANONYMOUS: SlotLimit = { name: 'anonymous', max: 8, whenFull: 'refuse' };

/** The pages and their scripts. */
const ASSETS: Array<[string, string, string]> = [
  ['/', 'screen.html', 'text/html; charset=utf-8'],
  ['/staff', 'staff.html', 'text/html; charset=utf-8'],
  ['/assets/screen.js', 'screen.js', 'text/javascript; charset=utf-8'],
  ['/assets/staff.js', 'staff.js', 'text/javascript; charset=utf-8'],
  ['/assets/gate.css', 'gate.css', 'text/css; charset=utf-8'],
];

const NOT_NOW = { zh: '当前状态下不能执行此操作', en: 'This cannot be done in the lane\'s present state' };

export class ScreenServer {
  private app: FastifyInstance | null = null;
  private readonly sessions: StaffSessions;
  private readonly streams = new Set<EventStream>();
  private readonly slots = new StreamSlots();
  /** New at each start: a page holding the key of an earlier start is told to fetch /view again. */
  private screenKey = '';
  private refreshTimer: NodeJS.Timeout | null = null;
  private readonly log: Logger;
  private readonly onView = (view: ScreenView): void => {
    for (const stream of this.streams) stream.send('view', view);
  };

  constructor(private readonly options: ScreenServerOptions) {
    this.sessions = new StaffSessions({ pinHash: options.pinHash, idleMs: options.staffSessionMinutes * 60_000 });
    this.log = options.logger.child({ component: 'screen' });
  }

  /** Resolves with the base URL once listening (port 0 picks a free one). */
  async start(): Promise<string> {
    const { options } = this;
    this.screenKey = randomBytes(24).toString('base64url');
    const assets = loadAssets(fileURLToPath(new URL('../../../edge-agent/screen/public/', import.meta.url)), ASSETS);
    const app = hardenedServer({
      ...(options.tls ? { tls: options.tls } : {}),
      noStore: (url) => url.startsWith('/staff'),
      refusals: {
        foreignHost: { error: { zh: '请求的主机名无效', en: 'Host not served here' } },
        crossSite: { error: { zh: '拒绝跨站请求', en: 'Cross-site request refused' } },
      },
    });
    app.addHook('onRequest', async (request, reply) => {
      // The public screen, its data and its stream are for the gate's own display: not for the site's network.
      if (!request.url.startsWith('/staff') && !request.url.startsWith('/assets/') && !isLoopback(request.socket.remoteAddress)) {
        return reply.code(403).send({ error: { zh: '仅限闸机本机显示', en: "The screen is served to the gate's own display only" } });
      }
    });
    app.setErrorHandler((error: { statusCode?: number; message: string }, request, reply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      // The message names what was wrong (a missing field, a body too large); never the body itself.
      if (status >= 500) {
        this.log.error({ err: error, url: request.url }, 'screen server error');
        // What failed inside (a file, the database) is for the log, not the browser.
        return reply.code(500).send({ error: { zh: '闸机内部错误，请联系管理员', en: 'Internal error on the gate: see its log' } });
      }
      this.log.debug({ status, url: request.url, error: error.message }, 'request refused');
      return reply.code(status).send({ error: { zh: '请求无效', en: `Request refused: ${error.message}` } });
    });

    for (const [route, asset] of assets) {
      app.get(route, async (_request, reply) => reply.type(asset.type).send(asset.body));
    }
    // The key is no secret from what runs on the gate (this is loopback only): it keeps the kiosk's stream
    // apart from other clients' on loopback, and a page from another site cannot read it.
    app.get('/view', async () => ({ site: options.site, lane: options.lane, view: options.model.current, screenKey: this.screenKey }));
    app.get('/events', {
      schema: { querystring: { type: 'object', additionalProperties: false, properties: { key: { type: 'string', maxLength: 64 } } } },
    }, (request, reply) => {
      const key = (request.query as { key?: string }).key;
      if (key === undefined) return this.stream(request, reply, [ANONYMOUS]);
      if (!sameSecret(key, this.screenKey)) {
        return reply.code(409).send({ error: { zh: '屏幕页面已过期，请重新加载', en: 'The screen key is from an earlier start of the gate: fetch /view again' } });
      }
      return this.stream(request, reply, [KIOSK]);
    });
    this.staffRoutes(app);

    await app.listen({ host: options.host, port: options.port });
    this.app = app;
    options.model.on('view', this.onView);
    this.refreshTimer = setInterval(() => options.model.refresh(), options.refreshMs ?? 1_000);
    this.refreshTimer.unref();
    const address = app.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `${options.tls ? 'https' : 'http'}://${host}:${address.port}`;
    this.log.info({ url }, 'gate screen and staff page served');
    return url;
  }

  async stop(): Promise<void> {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.options.model.off('view', this.onView);
    this.sessions.clear();
    const app = this.app;
    this.app = null;
    if (!app) return;
    // Open event streams would keep close() waiting for ever.
    this.slots.closeAll();
    await app.close();
  }

  /**
   * Server-sent events: the current view at once, then every change. A HEAD
   * gets what this GET would get (the stream's headers, or the refusal),
   * and opens nothing.
   */
  private stream(request: FastifyRequest, reply: FastifyReply, limits: SlotLimit[]): FastifyReply | undefined {
    const tooMany = (full: string): FastifyReply => {
      // At debug: a flood from a script on the gate must not flood the log too. Only 'refuse' limits turn a
      // stream away, and their names carry no session token.
      this.log.debug({ pool: full }, 'event stream refused: its pool is full');
      return reply.code(503).header('retry-after', '5').send({ error: { zh: '连接过多', en: 'Too many screens connected' } });
    };
    let stream: EventStream | null = null;
    const admitted = admitToStream(request, reply, this.slots, limits, tooMany, () => stream?.end());
    if (!admitted) return undefined;
    // The browser reconnects by itself after a drop: tell it to do so quickly.
    stream = openEventStream(reply, {
      retryMs: 1000,
      onClose: () => {
        admitted.release();
        this.streams.delete(stream!);
      },
    });
    this.streams.add(stream);
    stream.send('view', this.options.model.current);
    return undefined;
  }

  private staffRoutes(app: FastifyInstance): void {
    const { desk, model } = this.options;
    const secure = this.options.tls !== undefined;
    const signedIn = (request: FastifyRequest): boolean => this.sessions.touch(cookieOf(request, COOKIE));
    const state = (): object => ({ site: this.options.site, lane: this.options.lane, view: model.current, can: desk.staffCan });
    const unauthorised = (reply: FastifyReply): FastifyReply =>
      reply.code(401).send({ error: { zh: '请先用工作人员PIN登录', en: 'Sign in with the staff PIN first' } });

    app.post('/staff/sign-in', {
      schema: { body: { type: 'object', additionalProperties: false, required: ['pin'], properties: { pin: { type: 'string', maxLength: 32 } } } },
    }, async (request, reply) => {
      const result = await this.sessions.signIn((request.body as { pin: string }).pin, request.socket.remoteAddress ?? 'unknown');
      if (result.ok) {
        this.log.info('staff signed in');
        // No Max-Age: the server ends the session after staff.sessionMinutes unused, counted from each use.
        const cookie = [`${COOKIE}=${result.token}`, 'HttpOnly', 'SameSite=Strict', 'Path=/staff'];
        if (secure) cookie.push('Secure');
        return reply.header('set-cookie', cookie.join('; ')).send(state());
      }
      if (result.why === 'no-pin-configured') {
        return reply.code(503).send({ error: { zh: '未设置工作人员PIN（staff.pinHash）', en: 'No staff PIN is set up on this gate (staff.pinHash)' } });
      }
      if (result.why === 'locked') {
        const seconds = Math.ceil((result.retryAfterMs ?? 0) / 1000);
        this.log.warn({ retryAfterSeconds: seconds }, 'staff sign-in locked after repeated wrong PINs');
        return reply.code(429).header('retry-after', String(seconds)).send({
          error: { zh: `PIN错误次数过多，请${seconds}秒后再试`, en: `Too many wrong PINs: try again in ${seconds} s` },
        });
      }
      this.log.warn('staff sign-in: wrong PIN');
      return reply.code(401).send({ error: { zh: 'PIN错误', en: 'Wrong PIN' } });
    });

    app.post('/staff/sign-out', async (request, reply) => {
      this.sessions.signOut(cookieOf(request, COOKIE));
      return reply.header('set-cookie', `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/staff; Max-Age=0`).send({ ok: true });
    });

    app.get('/staff/state', async (request, reply) => (signedIn(request) ? state() : unauthorised(reply)));
    // The staff page follows the lane from anywhere on the site's network, signed in.
    app.get('/staff/events', (request, reply) => {
      const token = cookieOf(request, COOKIE);
      if (!signedIn(request)) return unauthorised(reply);
      return this.stream(request, reply, [STAFF, { name: `staff:${token}`, max: STAFF_PER_SESSION, whenFull: 'replace' }]);
    });

    /** One staff action: refused when not signed in, or when the lane is not in a state for it. */
    const action = (path: string, run: (body: unknown) => Promise<boolean> | boolean, bodySchema?: object): void => {
      // The session is checked before the body is even parsed: a stranger learns nothing from the checks.
      const onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
        if (!signedIn(request)) await unauthorised(reply);
      };
      app.post(path, { onRequest, ...(bodySchema ? { schema: { body: bodySchema } } : {}) }, async (request, reply) => {
        let done: boolean;
        try {
          done = await run(request.body);
        } catch (error) {
          if (isRegistrationRefusal(error)) {
            return reply.code(422).send({ error: error.bilingual, field: error.field });
          }
          throw error;
        }
        if (!done) return reply.code(409).send({ error: NOT_NOW, ...state() });
        this.log.info({ action: path.slice('/staff/'.length) }, 'staff action');
        return reply.send(state());
      });
    };
    const text = { type: 'string', maxLength: 64 };
    action('/staff/no-code', async () => (await desk.noCode()) !== null);
    action('/staff/register', async (body) => (await desk.staffRegistered(body as RegistrationDetails)) !== null, {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'nationalId', 'phone'],
      properties: { name: text, nationalId: text, phone: text },
    });
    action('/staff/temperature', async (body) => (await desk.staffTemperature((body as { celsius: number }).celsius)) !== null, {
      type: 'object',
      additionalProperties: false,
      required: ['celsius'],
      properties: { celsius: { type: 'number', minimum: 30, maximum: 45 } },
    });
    action('/staff/release', () => desk.staffRelease());
    action('/staff/resume', () => desk.staffResume());
  }
}

