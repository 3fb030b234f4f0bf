/**
 * The HTTP servers, by raw requests over a loopback socket: the gate's
 * screen and its staff page (ScreenServer, on a real agent: lane-rig.ts) and
 * the fleet console (startConsole, on an embedded broker and an SQLite
 * store), each started in-process on a free port. Requests are built from
 * each server's routes and bodies and then broken at every part: method,
 * target, version, headers (Host, Origin, Content-Type, Content-Length,
 * Transfer-Encoding, Cookie with and without a live session), framing and
 * body, and as raw bytes, with the client of http-client.ts.
 *
 * The shape: a status line within the bound, with a status in the server's
 * documented set (never 500), no body on a HEAD response, and no internal
 * error logged. A request that is not complete may get no answer, but then
 * the server must close the connection once the client is done.
 *
 * The centre's API has its rig in http-centre.ts (this file would pass 500
 * lines with it), built on the same requests and shape.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { checkConsoleConfig } from '../../protocol/config/console-config.js';
import { startConsole, type RunningConsole } from '../../console/console.js';
import { startEmbeddedBroker } from '../../simulator/broker.js';
import { fuzzKey } from './keys.js';
import { errorLogger, startLaneRig, type LoggedError } from './lane-rig.js';
import { ANSWER_MS, CLOSE_AFTER_FIN_MS, complete, exchange, type Reply } from './http-client.js';
import { mutatedBytes } from './mutate.js';
import { describeError, ok, offShape, thrown, type Regression, type Rig, type Surface, type Verdict } from './surface.js';

/** A stored scrypt hash at N = 2^10: the fuzz signs in often, and the production cost (2^15) is a stated bound of its own. */
function cheapScryptHash(secret: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(secret.normalize('NFC'), salt, 32, { N: 1024, r: 8, p: 1 });
  return `scrypt$1024$8$1$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export interface Route {
  method: string;
  path: string;
  /** Values for the body's fields, valid ones first. */
  body?: Record<string, fc.Arbitrary<unknown>>;
  /** Query parameters and their values. */
  query?: Record<string, fc.Arbitrary<string>>;
  /** Send the live session's cookie when there is one (never on sign-out: it would end the fuzz's session). */
  session?: 'staff' | 'operator' | 'viewer' | false;
  /** Headers every request to the route carries when the case keeps its credentials (a bearer token). */
  headers?: Array<[string, string]>;
}

export interface ServerRig {
  port: number;
  host: string;
  /** Cookies of live sessions by role, read when a request is built. */
  cookies: Record<string, string | null>;
  routes: Route[];
  errors: LoggedError[];
  errorCount(): number;
  /** Statuses the server documents, beyond 2xx and 4xx. */
  allowed5xx: ReadonlySet<number>;
  keepSession(): Promise<void>;
  close(): Promise<void>;
}

export const weird: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(1e21, -1, 0, '', ' ', '\u0000', 'a'.repeat(5000), null, true, [], {}));
export const usually = <T>(good: fc.Arbitrary<T>, weight = 4): fc.Arbitrary<unknown> => fc.oneof({ weight, arbitrary: good }, { weight: 1, arbitrary: weird });

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'get', 'PROPFIND', 'M-SEARCH', 'GET ', 'G\u0000T', ''];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/0.9', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/1', 'http/1.1', 'HTTP/1.1 extra', ''];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/JSON', 'application/json; charset=latin1', 'application/json, text/plain', '*/*', ';', 'application/vnd.api+json'];

function pathArbitrary(routes: Route[], port: number): fc.Arbitrary<{ route: Route | null; target: string }> {
  const route = fc.constantFrom(...routes);
  const withQuery = route.chain((r) =>
    fc
      .tuple(
        r.query
          ? fc.record(Object.fromEntries(Object.entries(r.query).map(([k, v]) => [k, fc.option(v, { nil: undefined })])) as Record<string, fc.Arbitrary<string | undefined>>)
          : fc.constant({} as Record<string, string | undefined>),
        fc.nat({ max: 19 }),
        fc.string({ maxLength: 6 }),
      )
      .map(([q, n, extra]) => {
        const params = Object.entries(q).filter(([, v]) => v !== undefined) as Array<[string, string]>;
        if (n === 0) params.push([extra || 'x', extra]);
        const search = params.length ? `?${params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` : '';
        return { route: r, target: r.path + search };
      }),
  );
  const broken = fc.tuple(route, fc.constantFrom('%00', '%zz', '%2F', '/..', '/../..', '//', '/./', '?', '??', '#frag', ';x=1', '%E4%B8%AD', '\u00ff', ' ', '\t', '*', '%', '/' + 'a'.repeat(9000)), fc.nat()).map(([r, piece, at]) => {
    const i = at % (r.path.length + 1);
    return { route: null, target: r.path.slice(0, i) + piece + r.path.slice(i) };
  });
  const absolute = route.map((r) => ({ route: r, target: `http://127.0.0.1:${port}${r.path}` }));
  const other = fc.constantFrom('*', '', '/nowhere', '/assets/', '/assets/../../package.json', '/staff/', '/api/', '/api/alerts//ack', '/%2e%2e/%2e%2e/etc/passwd', 'no-slash').map((target) => ({ route: null, target }));
  return fc.oneof({ weight: 8, arbitrary: withQuery }, { weight: 2, arbitrary: broken }, { weight: 1, arbitrary: absolute }, { weight: 1, arbitrary: other });
}

function requestArbitrary(server: ServerRig): fc.Arbitrary<Buffer> {
  const hostName = `127.0.0.1:${server.port}`;
  // Each part is right most of the time, so that most requests reach a route and some break one thing at a time.
  const mostly = <T>(good: T, bad: readonly T[], weight = 12): fc.Arbitrary<T> => fc.oneof({ weight, arbitrary: fc.constant(good) }, { weight: 1, arbitrary: fc.constantFrom(...bad) });
  const structured = fc
    .record({
      path: pathArbitrary(server.routes, server.port),
      methodPick: fc.nat({ max: 19 }),
      otherMethod: fc.constantFrom(...METHODS),
      version: mostly('HTTP/1.1', VERSIONS),
      host: mostly<string | null>(hostName, [`localhost:${server.port}`, `[::1]:${server.port}`, 'evil.example', '', null, `${hostName}, evil.example`, `127.0.0.1:${server.port}\u0000`]),
      origin: mostly<string | null>(null, [`http://${hostName}`, 'http://evil.example', 'null', 'not a url', `http://${hostName}/x`], 6),
      contentType: mostly<string | null>(null, CONTENT_TYPES, 3),
      cookie: fc.constantFrom('live', 'live', 'live', 'none', 'none', 'garbage', 'many'),
      bodyKind: mostly('fields', ['none', 'json', 'deep', 'big', 'bad-json', 'proto'], 8),
      fields: fc.dictionary(fc.string({ maxLength: 6 }), weird, { maxKeys: 2 }),
      json: weird,
      framing: mostly('length', ['chunked', 'chunked', 'chunked-bad', 'wrong-length', 'both', 'no-length', 'length-twice', 'negative'], 10),
      extraHeaders: fc.oneof(
        { weight: 4, arbitrary: fc.constant([] as Array<[string, string]>) },
        {
          weight: 1,
          arbitrary: fc.array(fc.tuple(fc.constantFrom('Connection', 'Expect', 'Accept', 'X-Forwarded-For', 'Upgrade', 'Range', 'If-None-Match', 'Accept-Encoding', 'X-' + 'a'.repeat(100), 'Bad Header', 'Cookie'), fc.constantFrom('close', 'keep-alive', '100-continue', 'websocket', 'bytes=0-1', '*', 'gzip, br', 'a'.repeat(9000), '\u0000', 'x\r\nInjected: 1', '')), { minLength: 1, maxLength: 3 }),
        },
      ),
    })
    .chain((parts) => {
      const route = parts.path.route;
      const fieldArbs = route?.body ?? {};
      return fc.record(Object.fromEntries(Object.entries(fieldArbs).map(([k, v]) => [k, fc.option(v, { freq: 8, nil: undefined })])) as Record<string, fc.Arbitrary<unknown>>).map((fields) => ({ ...parts, routeFields: fields }));
    })
    .map((p) => {
      const route = p.path.route;
      // The route's own method, now and then HEAD (GET routes answer it too) or another.
      const method = route && p.methodPick < 16 ? route.method : route && p.methodPick < 18 ? 'HEAD' : p.otherMethod;
      let body: Buffer;
      switch (p.bodyKind) {
        case 'none':
          body = Buffer.alloc(0);
          break;
        case 'json':
          body = Buffer.from(JSON.stringify(p.json) ?? '');
          break;
        case 'deep':
          body = Buffer.from(`${'['.repeat(2000)}${']'.repeat(2000)}`);
          break;
        case 'big':
          body = Buffer.from(JSON.stringify({ pin: '1'.repeat(5000) }));
          break;
        case 'bad-json':
          body = Buffer.from('{"pin": "12');
          break;
        case 'proto':
          body = Buffer.from('{"__proto__":{"pin":"0000"},"constructor":{"prototype":{"x":1}}}');
          break;
        default: {
          const fields = Object.fromEntries(Object.entries({ ...p.routeFields, ...(route?.body ? {} : p.fields) }).filter(([, v]) => v !== undefined));
          body = route?.body || Object.keys(fields).length > 0 ? Buffer.from(JSON.stringify(fields)) : Buffer.alloc(0);
        }
      }
      const live = route?.session ? server.cookies[route.session] : (server.cookies.staff ?? server.cookies.operator);
      const headers: Array<[string, string]> = [];
      if (p.host !== null) headers.push(['Host', p.host]);
      if (p.origin !== null) headers.push(['Origin', p.origin]);
      const contentType = p.contentType ?? (body.length > 0 ? 'application/json' : null);
      if (contentType) headers.push(['Content-Type', contentType]);
      const signingOut = /sign-out/.test(p.path.target);
      if (p.cookie === 'live' && live && !signingOut) headers.push(['Cookie', live]);
      if (p.cookie !== 'none') for (const header of route?.headers ?? []) headers.push(header);
      if (p.cookie === 'garbage') headers.push(['Cookie', 'gate_staff=x; console_session=%00; ;;=']);
      if (p.cookie === 'many') headers.push(['Cookie', Array.from({ length: 200 }, (_, i) => `c${i}=${i}`).join('; ')]);
      for (const [name, value] of p.extraHeaders) headers.push([name, value]);
      let framed = body;
      switch (p.framing) {
        case 'length':
          if (body.length > 0 || method === 'POST') headers.push(['Content-Length', String(body.length)]);
          break;
        case 'chunked':
          headers.push(['Transfer-Encoding', 'chunked']);
          framed = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
          if (body.length === 0) framed = Buffer.from('0\r\n\r\n');
          break;
        case 'chunked-bad':
          headers.push(['Transfer-Encoding', 'chunked']);
          framed = Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n0\r\n\r\n')]);
          break;
        case 'wrong-length':
          headers.push(['Content-Length', String(body.length + 5)]);
          break;
        case 'both':
          headers.push(['Content-Length', String(body.length)], ['Transfer-Encoding', 'chunked']);
          break;
        case 'length-twice':
          headers.push(['Content-Length', String(body.length)], ['Content-Length', String(body.length + 1)]);
          break;
        case 'negative':
          headers.push(['Content-Length', '-1']);
          break;
        default:
          break;
      }
      const head = `${method} ${p.path.target} ${p.version}\r\n${headers.map(([n, v]) => `${n}: ${v}`).join('\r\n')}${headers.length ? '\r\n' : ''}\r\n`;
      return Buffer.concat([Buffer.from(head, 'utf8'), framed]);
    });
  return fc.oneof(
    { weight: 12, arbitrary: structured },
    { weight: 2, arbitrary: mutatedBytes(structured.map((b) => new Uint8Array(b))).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
  );
}

function methodOf(bytes: Buffer): string {
  const space = bytes.indexOf(0x20);
  return bytes.subarray(0, space === -1 ? Math.min(bytes.length, 16) : space).toString('latin1');
}

export function httpRig(server: ServerRig, regressions: Regression<Buffer>[], seeds: Buffer[]): Rig<Buffer> {
  let cases = 0;
  const run = async (bytes: Buffer): Promise<Verdict> => {
    if (++cases % 500 === 0) await server.keepSession();
    const errorsBefore = server.errorCount();
    let reply: Reply;
    const isHead = methodOf(bytes) === 'HEAD';
    try {
      reply = await exchange(server.port, bytes, '127.0.0.1', isHead);
    } catch (error) {
      return thrown(`the exchange failed: ${describeError(error)}`);
    }
    const logged = server.errors.slice(server.errors.length - Math.min(server.errors.length, server.errorCount() - errorsBefore));
    if (logged.length > 0) return thrown(`logged as an internal error: ${logged[0]!.msg}${logged[0]!.err ? `: ${logged[0]!.err}` : ''}`);
    const whole = complete(bytes);
    if (reply.status === null) {
      if (whole && reply.answeredMs >= ANSWER_MS) return offShape(`a complete request got no status line within ${ANSWER_MS} ms${reply.closed ? '' : ', and the connection stayed open after the client finished'}`);
      if (reply.closed) return ok(reply.head.length > 0 ? 'closed after a partial answer' : 'closed without an answer');
      return offShape(`an incomplete request: no answer, and the connection kept open ${CLOSE_AFTER_FIN_MS} ms after the client finished`);
    }
    const status = reply.status;
    const documented = (status >= 200 && status < 300) || (status >= 400 && status < 500) || server.allowed5xx.has(status);
    if (!documented) return offShape(`status ${status}: ${reply.head.split('\r\n')[0]}`);
    // Only the application's answers (they carry its CSP) are held to this: the HTTP parser's own 400 is fastify's default.
    if (isHead && reply.bodyBytes > 0 && /\r\ncontent-security-policy:/i.test(reply.head)) return offShape(`a HEAD answered with ${reply.bodyBytes} body bytes`);
    return ok(String(status));
  };
  return {
    seeds,
    regressions,
    arbitrary: (passing) =>
      fc.oneof({ weight: 20, arbitrary: requestArbitrary(server) }, { weight: 1, arbitrary: mutatedBytes(fc.constantFrom(...[...seeds, ...passing].map((b) => new Uint8Array(b)))).map((b) => Buffer.from(b)) }),
    run,
    retime: false,
    encode: (bytes) => bytes,
    decode: (bytes) => Buffer.from(bytes),
    batchSize: 50,
    close: () => server.close(),
  };
}

const PIN = '2468';

async function screenServerRig(): Promise<ServerRig> {
  const rig = await startLaneRig({ broker: false, config: { screen: { host: '127.0.0.1', port: 0 }, staff: { pinHash: cheapScryptHash(PIN) } } });
  const url = new URL(rig.agent.screenUrl!);
  const port = Number(url.port);
  const cookies: Record<string, string | null> = { staff: null };
  const signIn = async (): Promise<void> => {
    const body = JSON.stringify({ pin: PIN });
    // From another loopback address: the fuzz's wrong PINs lock its own address, not the rig's.
    const reply = await exchange(port, Buffer.from(`POST /staff/sign-in HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`), '127.0.0.2', false);
    const cookie = /\r\nset-cookie:\s*(gate_staff=[^;\r]+)/i.exec(reply.head);
    if (cookie) cookies.staff = cookie[1]!;
  };
  await signIn();
  if (!cookies.staff) throw new Error('the rig could not sign in to the staff page');
  const keepSession = async (): Promise<void> => {
    const reply = await exchange(port, Buffer.from(`GET /staff/state HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookies.staff}\r\n\r\n`), '127.0.0.2', false);
    if (reply.status === 401) await signIn();
  };
  const pin = usually(fc.oneof(fc.constant(PIN), fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 4, maxLength: 12 }), fc.string({ maxLength: 40 })));
  const text = usually(fc.string({ maxLength: 64 }));
  const routes: Route[] = [
    { method: 'GET', path: '/' },
    { method: 'GET', path: '/view' },
    { method: 'GET', path: '/events' },
    { method: 'GET', path: '/assets/screen.js' },
    { method: 'GET', path: '/assets/gate.css' },
    { method: 'GET', path: '/staff' },
    { method: 'GET', path: '/assets/staff.js' },
    { method: 'POST', path: '/staff/sign-in', body: { pin }, session: false },
    { method: 'POST', path: '/staff/sign-out', session: false },
    { method: 'GET', path: '/staff/state', session: 'staff' },
    { method: 'GET', path: '/staff/events', session: 'staff' },
    { method: 'POST', path: '/staff/no-code', session: 'staff' },
    { method: 'POST', path: '/staff/register', session: 'staff', body: { name: text, nationalId: usually(fc.constantFrom('11010519491231002X', '110105194912310021', '123')), phone: usually(fc.constantFrom('13800138000', '+86 138 0013 8000', '1')) } },
    { method: 'POST', path: '/staff/temperature', session: 'staff', body: { celsius: usually(fc.double({ min: 25, max: 50, noNaN: true })) } },
    { method: 'POST', path: '/staff/release', session: 'staff' },
    { method: 'POST', path: '/staff/resume', session: 'staff' },
  ];
  return {
    port,
    host: url.hostname,
    cookies,
    routes,
    errors: rig.errors,
    errorCount: rig.errorCount,
    allowed5xx: new Set([503, 505]),
    keepSession,
    close: () => rig.close(),
  };
}

async function consoleServerRig(): Promise<ServerRig> {
  const dir = mkdtempSync(join(tmpdir(), 'gate-fuzz-console-'));
  const broker = await startEmbeddedBroker();
  const operatorKey = await fuzzKey('operator', 'CN=Fuzz operator, O=Fuzz, C=CN');
  writeFileSync(join(dir, 'operator.key'), operatorKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeFileSync(join(dir, 'operator.crt'), operatorKey.certificatePem);
  const users = { operator: { name: 'ops', password: 'operator password 1' }, viewer: { name: 'viewer', password: 'viewer password 1' } };
  const config = checkConsoleConfig({
    broker: { url: broker.url, protocolVersion: 4, clientId: 'console-fuzz' },
    http: { port: 0 },
    store: { sqlite: { path: join(dir, 'console.db') } },
    users: [
      { name: users.operator.name, role: 'operator', passwordHash: cheapScryptHash(users.operator.password) },
      { name: users.viewer.name, role: 'viewer', passwordHash: cheapScryptHash(users.viewer.password) },
    ],
    operatorKey: { key: join(dir, 'operator.key'), certificate: join(dir, 'operator.crt') },
    commandTimeoutSeconds: 5,
  });
  const { logger, errors, errorCount } = errorLogger();
  const running: RunningConsole = await startConsole(config, logger);
  const port = Number(new URL(running.url).port);
  const cookies: Record<string, string | null> = { operator: null, viewer: null };
  const signIn = async (role: 'operator' | 'viewer'): Promise<void> => {
    const body = JSON.stringify({ name: users[role].name, password: users[role].password });
    const reply = await exchange(port, Buffer.from(`POST /api/sign-in HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`), '127.0.0.2', false);
    const cookie = /\r\nset-cookie:\s*(console_session=[^;\r]+)/i.exec(reply.head);
    if (cookie) cookies[role] = cookie[1]!;
  };
  await signIn('operator');
  await signIn('viewer');
  if (!cookies.operator || !cookies.viewer) throw new Error('the rig could not sign in to the console');
  const keepSession = async (): Promise<void> => {
    for (const role of ['operator', 'viewer'] as const) {
      const reply = await exchange(port, Buffer.from(`GET /api/lanes HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: ${cookies[role]}\r\n\r\n`), '127.0.0.2', false);
      if (reply.status === 401) await signIn(role);
    }
  };
  const id = usually(fc.constantFrom('fuzz-site', 'lane-1', 'colour', 'a'.repeat(65)));
  const q = (values: string[]): fc.Arbitrary<string> => fc.oneof(fc.constantFrom(...values), fc.string({ maxLength: 12 }));
  const routes: Route[] = [
    { method: 'GET', path: '/' },
    { method: 'GET', path: '/assets/console.js' },
    { method: 'GET', path: '/assets/console.css' },
    { method: 'GET', path: '/favicon.ico' },
    { method: 'POST', path: '/api/sign-in', body: { name: usually(fc.constantFrom(users.operator.name, users.viewer.name, 'nobody')), password: usually(fc.constantFrom(users.operator.password, 'wrong password 12', '')) }, session: false },
    { method: 'POST', path: '/api/sign-out', session: false },
    { method: 'GET', path: '/api/me', session: 'operator' },
    { method: 'GET', path: '/api/lanes', session: 'viewer' },
    { method: 'GET', path: '/api/decisions', session: 'viewer', query: { site: q(['fuzz-site', 'a b']), lane: q(['lane-1']), limit: q(['1', '100', '9999', '10000', '-1', '1e3']) } },
    { method: 'GET', path: '/api/alerts', session: 'viewer', query: { open: q(['1', '0', 'true']) } },
    { method: 'POST', path: '/api/alerts/fuzz-alert-0001/ack', session: 'operator' },
    { method: 'POST', path: '/api/alerts/x/ack', session: 'operator' },
    { method: 'POST', path: '/api/alerts/fuzz-alert-0001/ack', session: 'viewer' },
    { method: 'GET', path: '/api/figures', session: 'viewer', query: { site: q(['fuzz-site']), day: q(['2025-01-15', '2025-13-45', '0000-00-00', '9999-99-99']) } },
    { method: 'GET', path: '/api/commands', session: 'viewer' },
    { method: 'POST', path: '/api/commands', session: 'operator', body: { site: id, lane: id, action: usually(fc.constantFrom('open', 'lock', 'release-hold', 'reload-trust', 'set-config')) } },
    { method: 'POST', path: '/api/commands', session: 'viewer', body: { site: id, lane: id, action: usually(fc.constantFrom('open')) } },
    { method: 'GET', path: '/api/faults', session: 'viewer' },
    { method: 'GET', path: '/api/stats', session: 'viewer' },
    { method: 'GET', path: '/api/events', session: 'viewer' },
  ];
  return {
    port,
    host: '127.0.0.1',
    cookies,
    routes,
    errors,
    errorCount,
    // 502: a command the broker would not take; 503: commands disabled or the database away.
    allowed5xx: new Set([502, 503, 505]),
    keepSession,
    close: async () => {
      await running.stop();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const request = (port: number, method: string, path: string, extra: string[] = [], body = ''): Buffer =>
  Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra.map((h) => `${h}\r\n`).join('')}${body ? `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`);

async function setupScreen(staff: boolean): Promise<Rig<Buffer>> {
  const server = await screenServerRig();
  const { port } = server;
  if (staff) server.routes = server.routes.filter((r) => r.path.startsWith('/staff'));
  else server.routes = server.routes.filter((r) => !r.path.startsWith('/staff/'));
  const seeds = staff
    ? [request(port, 'GET', '/staff/state', [`Cookie: ${server.cookies.staff}`]), request(port, 'POST', '/staff/sign-in', [], JSON.stringify({ pin: '0000' }))]
    : [request(port, 'GET', '/'), request(port, 'GET', '/view'), request(port, 'GET', '/events')];
  const regressions: Regression<Buffer>[] = staff
    ? [
        { name: 'staff-head-events', why: 'HEAD /staff/events with a live session: a head without a body, and the agent goes on', input: request(port, 'HEAD', '/staff/events', [`Cookie: ${server.cookies.staff}`]) },
        {
          name: 'staff-cookie-not-ascii',
          why: 'a session cookie as long as a live token, with a byte over 0x7f: 401, not a 500 from comparing buffers of different lengths',
          input: Buffer.concat([Buffer.from(`GET /staff/state HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nCookie: gate_staff=`), Buffer.from([0xe9]), Buffer.from(`${'A'.repeat((server.cookies.staff ?? '').length - 'gate_staff='.length - 1)}\r\n\r\n`)]),
        },
      ]
    : [{ name: 'screen-head-events', why: 'HEAD /events: a head without a body, and the agent goes on', input: request(port, 'HEAD', '/events') }];
  return httpRig(server, regressions, seeds);
}

async function setupConsole(): Promise<Rig<Buffer>> {
  const server = await consoleServerRig();
  const { port } = server;
  const seeds = [request(port, 'GET', '/api/me', [`Cookie: ${server.cookies.viewer}`]), request(port, 'GET', '/api/lanes', [`Cookie: ${server.cookies.viewer}`]), request(port, 'GET', '/api/events', [`Cookie: ${server.cookies.viewer}`])];
  const regressions: Regression<Buffer>[] = [
    { name: 'console-head-api-events', why: 'HEAD /api/events with a live session: a head without a body, and the console goes on', input: request(port, 'HEAD', '/api/events', [`Cookie: ${server.cookies.viewer}`]) },
  ];
  return httpRig(server, regressions, seeds);
}

export const screenSurface: Surface<Buffer> = {
  name: 'http-screen',
  covers: "raw requests to the gate's screen (/, /view, /events, the assets) on a real agent, over a loopback socket",
  shape: 'a status line within the bound, status 2xx, 4xx or a documented 503; no body on HEAD; no internal error logged; a connection left incomplete is closed',
  setup: () => setupScreen(false),
};

export const staffSurface: Surface<Buffer> = {
  name: 'http-staff',
  covers: "raw requests to the gate's staff page (/staff and its API: sign-in, state, events, the staff actions) with and without a live session",
  shape: screenSurface.shape,
  setup: () => setupScreen(true),
};

export const consoleSurface: Surface<Buffer> = {
  name: 'http-console',
  covers: "raw requests to the fleet console's page and API (sign-in, lanes, decisions, alerts, figures, commands, events) as an operator, a viewer and nobody",
  shape: 'a status line within the bound, status 2xx, 4xx or a documented 502/503; no body on HEAD; no internal error logged; a connection left incomplete is closed',
  setup: setupConsole,
};
