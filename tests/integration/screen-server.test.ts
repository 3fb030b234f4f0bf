/**
 * The screen server over HTTP, without a browser: what a wrong PIN, a
 * stranger, a cross-site page or a malformed request gets; the event
 * stream; TLS; and the config rule that keeps the staff page off a network
 * in clear.
 *
 * Over 500 lines on purpose: one server's surface (PIN, origin, request
 * shapes, stream, TLS) is checked in one place, so a new route cannot go in
 * without its refusals beside the others.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { DecisionRecord, LaneEvents, LaneState } from '../../edge-agent/lane/lane.js';
import { PrivacyError } from '../../protocol/privacy/errors.js';
import type { RegistrationDetails } from '../../protocol/privacy/registration.js';
import { hashPin } from '../../protocol/privacy/staff-pin.js';
import { ScreenServer, type StaffDesk } from '../../edge-agent/screen/screen-server.js';
import { ScreenModel } from '../../edge-agent/screen/screen-view.js';
import { StaffSessions } from '../../edge-agent/screen/staff-sessions.js';
import { createCertificateAuthority, issueServerCertificate } from '../../provisioning/pki.js';
import { eventReader } from '../support/sse.js';
import { until } from '../support/wait.js';
import { ConfigError } from '../../protocol/config/errors.js';

const PIN = '135790';
const pinHash = await hashPin(PIN);
const quiet = pino({ level: 'silent' });

/** A lane that records what staff asked of it. */
class DeskLane extends EventEmitter<LaneEvents> implements StaffDesk {
  state: LaneState = 'idle';
  readonly asked: string[] = [];
  waiting = false;
  get staffCan() {
    return { noCode: this.state === 'idle', register: this.waiting, temperature: false, release: this.state === 'held', resume: false };
  }
  failWith: Error | null = null;
  async noCode(): Promise<DecisionRecord | null> {
    if (this.failWith) throw this.failWith;
    this.asked.push('no-code');
    this.waiting = true;
    return {} as DecisionRecord;
  }
  async staffRegistered(details?: RegistrationDetails): Promise<DecisionRecord | null> {
    this.asked.push('register');
    if (!this.waiting) return null;
    if (details?.nationalId !== '110105194912310029') throw PrivacyError.registration('nationalId', { zh: '身份证号码校验位不符', en: 'The ID number check character does not match' });
    return {} as DecisionRecord;
  }
  async staffTemperature(): Promise<DecisionRecord | null> {
    return null;
  }
  staffRelease(): boolean {
    this.asked.push('release');
    return this.state === 'held';
  }
  staffResume(): boolean {
    return false;
  }
}

async function serve(t: TestContext, options: { pinHash?: string | null; tls?: { cert: Buffer; key: Buffer } } = {}) {
  const lane = new DeskLane();
  const model = new ScreenModel(lane);
  model.start();
  const server = new ScreenServer({
    host: '127.0.0.1',
    port: 0,
    model,
    desk: lane,
    pinHash: options.pinHash === undefined ? pinHash : options.pinHash,
    staffSessionMinutes: 5,
    site: 's',
    lane: 'l',
    logger: quiet,
    ...(options.tls ? { tls: options.tls } : {}),
  });
  const url = await server.start();
  t.after(() => server.stop());
  const post = (route: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(url + route, {
      method: 'POST',
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const signIn = async (): Promise<string> => {
    const response = await post('/staff/sign-in', { pin: PIN });
    assert.equal(response.status, 200);
    const cookie = response.headers.get('set-cookie')!;
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Path=\/staff/);
    assert.doesNotMatch(cookie, /Max-Age|Expires/, 'a fixed lifetime would sign staff out mid-task');
    return cookie.split(';')[0]!;
  };
  return { url, lane, model, server, post, signIn };
}

test('staff actions need a session; the PIN is checked, and sign-in locks after five wrong PINs', { timeout: 60_000 }, async (t) => {
  const { url, lane, post, signIn } = await serve(t);
  for (const route of ['/staff/no-code', '/staff/register', '/staff/release', '/staff/resume', '/staff/temperature']) {
    const response = await post(route, route === '/staff/register' ? { name: 'a', nationalId: 'b', phone: 'c' } : undefined);
    assert.equal(response.status, 401, route);
    assert.match(JSON.stringify(await response.json()), /Sign in with the staff PIN first/);
  }
  assert.equal((await fetch(`${url}/staff/state`)).status, 401);
  assert.deepEqual(lane.asked, [], 'a lane action ran without a session');

  // A forged or stale cookie is no session.
  const forged = await post('/staff/no-code', undefined, { cookie: 'gate_staff=' + 'A'.repeat(43) });
  assert.equal(forged.status, 401);

  const cookie = await signIn();
  const state = await fetch(`${url}/staff/state`, { headers: { cookie } });
  assert.equal(state.status, 200);
  const body = (await state.json()) as { site: string; lane: string; can: { noCode: boolean } };
  assert.deepEqual([body.site, body.lane, body.can.noCode], ['s', 'l', true]);

  // Wrong PINs: 401 four times, then locked (429 with Retry-After), and the right PIN is refused while locked.
  for (let i = 0; i < 4; i++) {
    const response = await post('/staff/sign-in', { pin: '000000' });
    assert.equal(response.status, 401);
    assert.match(JSON.stringify(await response.json()), /Wrong PIN/);
  }
  const locked = await post('/staff/sign-in', { pin: '000000' });
  assert.equal(locked.status, 429);
  assert.ok(Number(locked.headers.get('retry-after')) >= 59);
  assert.match(JSON.stringify(await locked.json()), /Too many wrong PINs: try again in \d+ s/);
  assert.equal((await post('/staff/sign-in', { pin: PIN })).status, 429, 'the right PIN let in while locked');
  // A session made before the lock still works.
  assert.equal((await post('/staff/release', undefined, { cookie })).status, 409);

  // Signing out ends the session.
  assert.equal((await post('/staff/sign-out', undefined, { cookie })).status, 200);
  assert.equal((await fetch(`${url}/staff/state`, { headers: { cookie } })).status, 401);
});

test('a lane action not possible now is 409; refused details are 422 naming the field, without echoing the number', { timeout: 30_000 }, async (t) => {
  const { post, signIn, lane } = await serve(t);
  const cookie = await signIn();
  const details = { name: '测试', nationalId: '110105194912310028', phone: '13800000000' };
  let response = await post('/staff/register', details, { cookie });
  assert.equal(response.status, 409, 'registered with nobody waiting');
  assert.match(JSON.stringify(await response.json()), /present state/);
  assert.equal((await post('/staff/no-code', undefined, { cookie })).status, 200);
  response = await post('/staff/register', details, { cookie });
  assert.equal(response.status, 422);
  const refused = (await response.json()) as { field: string; error: { zh: string; en: string } };
  assert.equal(refused.field, 'nationalId');
  assert.match(refused.error.en, /check character/);
  assert.ok(!JSON.stringify(refused).includes(details.nationalId), 'the number echoed');
  response = await post('/staff/register', { ...details, nationalId: '110105194912310029' }, { cookie });
  assert.equal(response.status, 200);
  assert.deepEqual(lane.asked, ['register', 'no-code', 'register', 'register']);
});

test('malformed, oversized, cross-site and non-JSON requests are refused with a reason, and nothing runs', { timeout: 30_000 }, async (t) => {
  const { post, signIn, lane, url } = await serve(t);
  const cookie = await signIn();
  lane.waiting = true;
  const cases: Array<{ name: string; response: Promise<Response>; status: number; says?: RegExp }> = [
    { name: 'broken JSON', response: post('/staff/register', '{"name": ', { cookie }), status: 400, says: /JSON/i },
    { name: 'a field missing', response: post('/staff/register', { name: 'a', phone: 'b' }, { cookie }), status: 400, says: /nationalId/ },
    { name: 'a field too long', response: post('/staff/register', { name: 'a'.repeat(65), nationalId: 'b', phone: 'c' }, { cookie }), status: 400, says: /name/ },
    { name: 'an unknown field', response: post('/staff/register', { name: 'a', nationalId: 'b', phone: 'c', photo: 'x' }, { cookie }), status: 400, says: /additional/ },
    { name: 'a temperature out of range', response: post('/staff/temperature', { celsius: 99 }, { cookie }), status: 400, says: /celsius/ },
    { name: 'a body over 4 KiB', response: post('/staff/register', { name: 'a'.repeat(5000), nationalId: 'b', phone: 'c' }, { cookie }), status: 413 },
    { name: 'text/plain (a cross-site form can send it)', response: post('/staff/no-code', 'x', { cookie, 'content-type': 'text/plain' }), status: 415 },
    { name: 'a form post', response: post('/staff/no-code', 'a=b', { cookie, 'content-type': 'application/x-www-form-urlencoded' }), status: 415 },
    { name: 'another origin', response: post('/staff/no-code', undefined, { cookie, origin: 'http://evil.example' }), status: 403, says: /Cross-site/ },
    { name: 'an opaque origin', response: post('/staff/no-code', undefined, { cookie, origin: 'null' }), status: 403 },
    { name: 'a PIN that is not a string', response: post('/staff/sign-in', { pin: 1234 }), status: 400, says: /pin/ },
  ];
  for (const c of cases) {
    const response = await c.response;
    assert.equal(response.status, c.status, c.name);
    const text = await response.text();
    if (c.says) assert.match(text, c.says, c.name);
  }
  assert.deepEqual(lane.asked, [], 'a refused request reached the lane');
  // The server is still there.
  assert.equal((await fetch(`${url}/view`)).status, 200);
});

test('without a PIN in config the staff page says sign-in is not set up', { timeout: 30_000 }, async (t) => {
  const { post } = await serve(t, { pinHash: null });
  const response = await post('/staff/sign-in', { pin: PIN });
  assert.equal(response.status, 503);
  assert.match(JSON.stringify(await response.json()), /staff\.pinHash/);
});

test('the event stream sends the current view at once and then each change; pages carry a strict CSP', { timeout: 30_000 }, async (t) => {
  const { url, lane } = await serve(t);
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/);
  assert.match(await page.text(), /请出示健康码/);
  const staffPage = await fetch(`${url}/staff`);
  assert.equal(staffPage.headers.get('cache-control'), 'no-store');
  assert.equal((await fetch(`${url}/nothing-here`)).status, 404);

  const controller = new AbortController();
  t.after(() => controller.abort());
  const response = await fetch(`${url}/events`, { signal: controller.signal });
  assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = response.body!.getReader();
  let buffered = '';
  const nextView = async (): Promise<{ phase: string; seq: number }> => {
    for (;;) {
      const match = /event: view\ndata: (.*)\n\n/.exec(buffered);
      if (match) {
        buffered = buffered.slice(match.index + match[0].length);
        return JSON.parse(match[1]!);
      }
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended');
      buffered += Buffer.from(value).toString('utf8');
    }
  };
  const first = await nextView();
  assert.equal(first.phase, 'idle');
  lane.state = 'measuring';
  lane.emit('state', 'measuring', 'idle');
  const second = await nextView();
  assert.equal(second.phase, 'measuring');
  assert.ok(second.seq > first.seq);
});

test('served over TLS: the page loads with the site CA, and the session cookie is Secure', { timeout: 30_000 }, async (t) => {
  const ca = await createCertificateAuthority({ subject: 'CN=Screen test CA' });
  const cert = await issueServerCertificate(ca, { commonName: 'gate-screen', ipAddresses: ['127.0.0.1'] });
  const { url } = await serve(t, { tls: { cert: Buffer.from(cert.certificatePem), key: Buffer.from(cert.privateKeyPem) } });
  assert.match(url, /^https:/);
  const request = (method: string, route: string, body?: string) =>
    new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
      const req = https.request(url + route, { method, ca: ca.certificatePem, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const page = await request('GET', '/');
  assert.equal(page.status, 200);
  const signIn = await request('POST', '/staff/sign-in', JSON.stringify({ pin: PIN }));
  assert.equal(signIn.status, 200);
  assert.match(String(signIn.headers['set-cookie']), /Secure/);
});

test('config: a staff sign-in off loopback needs TLS; the screen section fills its defaults', async () => {
  const base = { site: 's', lane: 'l', credentials: { trust: 'x' }, staff: { pinHash } };
  assert.throws(() => checkConfig({ ...base, screen: { host: '0.0.0.0' } }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /screen\.tls: required .* 0\.0\.0\.0 .*in clear/);
    assert.ok(!error.message.includes(pinHash), 'the PIN hash echoed');
    return true;
  });
  for (const host of ['127.0.0.1', 'localhost', '::1', '127.0.1.1']) assert.doesNotThrow(() => checkConfig({ ...base, screen: { host } }), host);
  assert.doesNotThrow(() => checkConfig({ ...base, screen: { host: '0.0.0.0', tls: { cert: 'c.pem', key: 'k.pem' } } }));
  assert.doesNotThrow(() => checkConfig({ site: 's', lane: 'l', screen: { host: '0.0.0.0' } }), 'a screen without staff sign-in');
  const filled = checkConfig({ ...base, screen: {} });
  assert.deepEqual(filled.screen, { host: '127.0.0.1', port: 8080 });
  assert.equal(filled.staff.sessionMinutes, 15);
  assert.throws(() => checkConfig({ ...base, screen: { port: 70000 } }), /screen\.port/);
  assert.throws(() => checkConfig({ ...base, screen: { tls: { cert: 'c.pem' } } }), /key/);
});

test('staff sessions end after a quiet spell; locks double and a right PIN resets them', async () => {
  let now = 1_000_000;
  const sessions = new StaffSessions({ pinHash, idleMs: 60_000, maxFailures: 2, lockMs: 1_000, now: () => now });
  const signed = await sessions.signIn(PIN);
  assert.ok(signed.ok);
  now += 59_000;
  assert.ok(sessions.touch(signed.token), 'in use within the idle time');
  now += 59_000;
  assert.ok(sessions.touch(signed.token), 'each use keeps it alive');
  now += 61_000;
  assert.ok(!sessions.touch(signed.token), 'alive after a quiet spell');

  assert.deepEqual(await sessions.signIn('1111'), { ok: false, why: 'wrong-pin' });
  assert.deepEqual(await sessions.signIn('1111'), { ok: false, why: 'locked', retryAfterMs: 1_000 });
  now += 1_001;
  await sessions.signIn('1111');
  assert.deepEqual(await sessions.signIn('1111'), { ok: false, why: 'locked', retryAfterMs: 2_000 }, 'the second lock doubles');
  now += 2_001;
  assert.ok((await sessions.signIn(PIN)).ok);
  await sessions.signIn('1111');
  assert.deepEqual(await sessions.signIn('1111'), { ok: false, why: 'locked', retryAfterMs: 1_000 }, 'a right PIN resets the doubling');
  // Guesses sent at once are checked one after another: they cannot all get in before the lock.
  now += 1_001;
  const burst = await Promise.all(['2222', '3333', '4444', PIN].map((pin) => sessions.signIn(pin)));
  assert.deepEqual(burst.map((r) => (r.ok ? 'ok' : r.why)), ['wrong-pin', 'locked', 'locked', 'locked']);
  assert.equal(await sessions.signIn({ pin: 1 } as unknown as string).then((r) => (r.ok ? 'ok' : r.why)), 'locked');
});

test('a session cookie as long as a live token but holding a character over 0x7f is no session, not a thrown comparison', async () => {
  const sessions = new StaffSessions({ pinHash, idleMs: 60_000, maxFailures: 2, lockMs: 1_000 });
  const signed = await sessions.signIn(PIN);
  assert.ok(signed.ok);
  // Same length in characters, more bytes in UTF-8: timingSafeEqual would throw on the byte lengths.
  for (const forged of [`é${signed.token.slice(1)}`, `${signed.token.slice(0, -1)}张`, '\u0000'.repeat(signed.token.length)]) {
    assert.equal(forged.length, signed.token.length);
    assert.equal(sessions.touch(forged), false);
  }
  assert.equal(sessions.touch(signed.token), true, 'the live token still works');
});

test('wrong PINs lock the client that sent them, not staff elsewhere; guesses spread over many clients lock everyone', async () => {
  let now = 0;
  const sessions = new StaffSessions({ pinHash, idleMs: 60_000, maxFailures: 3, maxFailuresAllClients: 7, lockMs: 1_000, now: () => now });
  for (let i = 0; i < 3; i++) await sessions.signIn('0000', '10.0.0.66');
  assert.equal((await sessions.signIn(PIN, '10.0.0.66')).ok, false, 'the guessing client still locked');
  assert.equal((await sessions.signIn(PIN, '10.0.0.5')).ok, true, 'staff on another client locked out by a stranger');
  // Seven wrong PINs from seven clients: everyone waits.
  for (let i = 0; i < 7; i++) await sessions.signIn('0000', `10.0.1.${i}`);
  const all = await sessions.signIn(PIN, '10.0.0.5');
  assert.deepEqual(all, { ok: false, why: 'locked', retryAfterMs: 1_000 });
  now += 1_001;
  assert.equal((await sessions.signIn(PIN, '10.0.0.5')).ok, true);
});

test('the agent serves the screen when config.screen is set, and a TLS file that cannot be read is named at start', { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-screen-cfg-'));
  try {
    const { GateAgent } = await import('../../edge-agent/agent.js');
    const { TrustStore } = await import('../../protocol/trust/trust-store.js');
    const config = checkConfig({
      site: 's',
      lane: 'l',
      journal: { path: path.join(dir, 'journal.db') },
      screen: { port: 0, tls: { cert: path.join(dir, 'missing.pem'), key: path.join(dir, 'missing-key.pem') } },
    });
    assert.throws(
      () => new GateAgent({ config, hardware: {} as never, logger: quiet, trust: new TrustStore() }),
      (error: unknown) => error instanceof ConfigError && /screen\.tls\.cert: .*missing\.pem/.test(error.message),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the screen is for the gate itself: another Host name is refused, the stream is capped, and a staff stream needs a session', { timeout: 30_000 }, async (t) => {
  const { url, post, signIn, lane } = await serve(t);
  const port = Number(new URL(url).port);
  const statusOf = (route: string, host: string) =>
    new Promise<number>((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port, path: route, headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      request.on('error', reject);
    });
  // DNS rebinding: a page from another site whose name now points here.
  assert.equal(await statusOf('/view', `evil.example:${port}`), 421);
  assert.equal(await statusOf('/view', `localhost:${port}`), 200);
  assert.equal(await statusOf('/view', `127.0.0.1:${port}`), 200);

  // The staff page's stream needs the session.
  assert.equal((await fetch(`${url}/staff/events`)).status, 401);
  const cookie = await signIn();
  const controller = new AbortController();
  t.after(() => controller.abort());
  const staffStream = await fetch(`${url}/staff/events`, { headers: { cookie }, signal: controller.signal });
  assert.equal(staffStream.status, 200);
  assert.equal(staffStream.headers.get('content-type'), 'text/event-stream; charset=utf-8');

  // At most 8 streams without the kiosk's key; the next is told to come back later.
  const streams: Response[] = [];
  while (streams.length < 8) streams.push(await fetch(`${url}/events`, { signal: controller.signal }));
  assert.ok(streams.every((r) => r.status === 200));
  const refused = await fetch(`${url}/events`, { signal: controller.signal });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '5');

  // A failure inside the lane: a 500 that tells the browser nothing of the gate's files.
  lane.failWith = new Error('SQLITE_IOERR: disk I/O error at /var/lib/gate/journal.db');
  const failed = await post('/staff/no-code', undefined, { cookie });
  assert.equal(failed.status, 500);
  const text = await failed.text();
  assert.match(text, /Internal error on the gate/);
  assert.doesNotMatch(text, /SQLITE|journal\.db/);
});

test('the public screen is refused to a client on the network, while the staff page answers it', { timeout: 30_000 }, async (t) => {
  const address = Object.values(os.networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  if (!address) {
    t.skip('no non-loopback IPv4 address on this machine to connect from');
    return;
  }
  const lane = new DeskLane();
  const model = new ScreenModel(lane);
  const ca = await createCertificateAuthority({ subject: 'CN=Screen test CA' });
  const cert = await issueServerCertificate(ca, { commonName: 'gate-screen', ipAddresses: [address] });
  const server = new ScreenServer({ host: address, port: 0, tls: { cert: Buffer.from(cert.certificatePem), key: Buffer.from(cert.privateKeyPem) }, model, desk: lane, pinHash, staffSessionMinutes: 5, site: 's', lane: 'l', logger: quiet });
  const url = await server.start();
  t.after(() => server.stop());
  const get = (route: string) =>
    new Promise<number>((resolve, reject) => {
      const request = https.get(url + route, { ca: ca.certificatePem }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      request.on('error', reject);
    });
  // Connected from the machine's network address, not loopback: a tablet's view of the gate.
  for (const route of ['/', '/view', '/events']) assert.equal(await get(route), 403, route);
  assert.equal(await get('/staff'), 200);
  assert.equal(await get('/assets/staff.js'), 200);
});

/** A HEAD bounded in time: a server that never answers fails the test instead of hanging it. */
const head = (url: string, headers: Record<string, string> = {}) => fetch(url, { method: 'HEAD', headers, signal: AbortSignal.timeout(5_000) });

test('HEAD on an event stream answers at once with the headers of the stream and holds no slot; every route answers HEAD', { timeout: 30_000 }, async (t) => {
  const { url, signIn } = await serve(t);
  const first = await head(`${url}/events`);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.equal(first.headers.get('cache-control'), 'no-store');
  assert.equal(await first.text(), '');

  // More HEADs than the server has streams, all at once: none of them keeps one.
  const heads = await Promise.all(Array.from({ length: 20 }, () => head(`${url}/events`)));
  assert.deepEqual(heads.map((r) => r.status), Array(20).fill(200));

  // The kiosk's page still gets its stream and its view, and the pool without the key is still whole.
  const { screenKey } = (await (await fetch(`${url}/view`)).json()) as { screenKey: string };
  const controller = new AbortController();
  t.after(() => controller.abort());
  const kiosk = await fetch(`${url}/events?key=${screenKey}`, { signal: controller.signal });
  assert.equal(kiosk.status, 200);
  assert.equal(((await eventReader(kiosk).nextOf('view')).data as { phase: string }).phase, 'idle');
  for (let i = 0; i < 8; i++) assert.equal((await fetch(`${url}/events`, { signal: controller.signal })).status, 200, `stream ${i + 1} without the key`);

  // A HEAD gets what its GET would: the refusal once the pool is full, the stream's headers with the key.
  const full = await head(`${url}/events`);
  assert.equal(full.status, 503);
  assert.equal(full.headers.get('retry-after'), '5');
  assert.equal((await head(`${url}/events?key=${screenKey}`)).status, 200);
  assert.equal((await head(`${url}/events?key=${'A'.repeat(32)}`)).status, 409);

  // The other routes: HEAD answers as GET does, without the body.
  for (const route of ['/', '/staff', '/assets/screen.js', '/assets/staff.js', '/assets/gate.css', '/view']) {
    const [got, headed] = [await fetch(url + route), await head(url + route)];
    assert.equal(headed.status, 200, route);
    assert.equal(headed.headers.get('content-type'), got.headers.get('content-type'), route);
    assert.equal(await headed.text(), '', route);
  }
  assert.equal((await head(`${url}/nothing-here`)).status, 404);
  assert.equal((await head(`${url}/staff/state`)).status, 401);
  assert.equal((await head(`${url}/staff/events`)).status, 401);
  const cookie = await signIn();
  assert.equal((await head(`${url}/staff/state`, { cookie })).status, 200);
  const staffHead = await head(`${url}/staff/events`, { cookie });
  assert.equal(staffHead.status, 200);
  assert.equal(staffHead.headers.get('content-type'), 'text/event-stream; charset=utf-8');
});

test("a flood of streams without the key cannot take the kiosk's stream, nor the staff page's; the kiosk's newest stream replaces its oldest", { timeout: 30_000 }, async (t) => {
  const { url, lane, signIn } = await serve(t);
  const controller = new AbortController();
  t.after(() => controller.abort());
  const open = (route: string, headers: Record<string, string> = {}) => fetch(url + route, { headers, signal: controller.signal });

  const flooding = new AbortController();
  t.after(() => flooding.abort());
  const flood = await Promise.all(Array.from({ length: 20 }, () => fetch(`${url}/events`, { signal: flooding.signal })));
  const statuses = flood.map((r) => r.status).sort();
  assert.deepEqual(statuses, [...Array(8).fill(200), ...Array(12).fill(503)]);

  // The kiosk's page, with the key /view gives it: in, and following the lane.
  const { screenKey } = (await (await fetch(`${url}/view`)).json()) as { screenKey: string };
  const kiosk = await open(`/events?key=${screenKey}`);
  assert.equal(kiosk.status, 200);
  const kioskEvents = eventReader(kiosk);
  assert.equal(((await kioskEvents.nextOf('view')).data as { phase: string }).phase, 'idle');
  lane.state = 'measuring';
  lane.emit('state', 'measuring', 'idle');
  assert.equal(((await kioskEvents.nextOf('view')).data as { phase: string }).phase, 'measuring');

  // The page reloaded twice (or reconnecting while its old stream hangs on): always in; its oldest stream ends.
  assert.equal((await open(`/events?key=${screenKey}`)).status, 200);
  const third = await open(`/events?key=${screenKey}`);
  assert.equal(third.status, 200);
  await kioskEvents.ended();
  assert.equal(((await eventReader(third).nextOf('view')).data as { phase: string }).phase, 'measuring');

  // A key from an earlier start (or made up) is told to fetch /view again, not taken for the kiosk.
  const stale = await open(`/events?key=${'A'.repeat(32)}`);
  assert.equal(stale.status, 409);
  assert.match(JSON.stringify(await stale.json()), /fetch \/view again/);

  // Staff streams have their own slots: the flood took none of them. A session's third stream replaces its first.
  const cookie = await signIn();
  const staff = await open('/staff/events', { cookie });
  assert.equal(staff.status, 200);
  const staffEvents = eventReader(staff);
  await staffEvents.nextOf('view');
  assert.equal((await open('/staff/events', { cookie })).status, 200);
  assert.equal((await open('/staff/events', { cookie })).status, 200);
  await staffEvents.ended();

  // The flood goes away: its slots are free again.
  assert.equal((await head(`${url}/events`)).status, 503);
  flooding.abort();
  await until("the flood's streams released", async () => (await head(`${url}/events`)).status === 200);
  assert.equal((await open('/events')).status, 200);
});

