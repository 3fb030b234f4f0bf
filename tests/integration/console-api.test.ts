/**
 * The fleet console against a real Mosquitto: gate messages published by a
 * plain MQTT client (payloads that pass the link's contract), read through
 * the console's JSON API as its page does, signed in as an operator and as a
 * viewer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { checkConsoleConfig, type ConsoleConfig } from '../../protocol/config/console-config.js';
import { startConsole, type RunningConsole } from '../../console/console.js';
import { dayOf } from '../../record/days.js';
import { hashPassword } from '../../protocol/privacy/passwords.js';
import { check, type CommandMessage } from '../../protocol/contract.js';
import { openSignedMessage, messageSigner, signMessage } from '../../protocol/signed-message.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { mosquittoAvailable, startMosquitto, type MosquittoBroker } from '../support/mosquitto.js';
import { requirePostgres, scratchDatabase } from '../support/postgres.js';
import { eventReader } from '../support/sse.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

const BASE = 'hc/v1';
const SITE = 'mall-1';
const logger = pino({ level: 'silent' });
const skip = !mosquittoAvailable() && !process.env.CI ? 'mosquitto not installed: apt-get install -y mosquitto' : false;

let broker: MosquittoBroker;
let dir: string;
let config: ConsoleConfig;
let operatorKey: SignerKeyPair;
let centreKey: SignerKeyPair;
let running: RunningConsole | null = null;
let gate: MqttClient;

const OPERATOR = { name: 'alice', password: 'correct horse battery' };
const VIEWER = { name: 'victor', password: 'viewer password 1' };

function iso(ms = Date.now()): string {
  return new Date(ms).toISOString();
}

function decision(lane: string, seq: number, verdict: 'pass' | 'deny' | 'hold', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: randomUUID(),
    seq,
    time: iso(),
    site: SITE,
    lane,
    verdict,
    reason: verdict === 'pass' ? 'green' : verdict === 'deny' ? 'red-code' : 'no-code',
    decidedBy: 'offline-code',
    subject: 'pseudonym-should-never-be-stored',
    colour: verdict === 'pass' ? 'green' : verdict === 'deny' ? 'red' : null,
    temperatureC: 36.6,
    sensorFault: null,
    credential: null,
    decisionMs: 12,
    ...extra,
  };
}

async function publish(client: MqttClient, lane: string | null, leaf: string, payload: unknown, retain = false): Promise<void> {
  const topic = lane === null ? `${BASE}/${SITE}/${leaf}` : `${BASE}/${SITE}/${lane}/${leaf}`;
  await client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1, retain });
}

async function start(signer: 'config' | null = 'config'): Promise<RunningConsole> {
  running = await startConsole(config, logger, signer === null ? { signer: null } : {});
  return running;
}

async function signIn(url: string, who: { name: string; password: string }): Promise<string> {
  const response = await fetch(`${url}/api/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(who) });
  assert.equal(response.status, 200, await response.clone().text());
  const cookie = response.headers.get('set-cookie')!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  return cookie.split(';')[0]!;
}

async function get<T>(url: string, cookie: string, path: string): Promise<T> {
  const response = await fetch(`${url}${path}`, { headers: { cookie } });
  assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
  return (await response.json()) as T;
}

async function post(url: string, cookie: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

interface Lane {
  site: string;
  lane: string;
  state: string;
  online: boolean;
  onlineSince: number;
  stateSince: number;
  degraded: boolean;
  held: boolean;
  heldSince: number;
  staffMode: boolean;
  faults: string[];
}

before(async () => {
  if (skip) return;
  broker = await startMosquitto();
  dir = mkdtempSync(join(tmpdir(), 'console-api-'));
  operatorKey = await createSignerCertificate({ subject: 'CN=Operator alice, O=Demo, C=CN' });
  centreKey = await createSignerCertificate({ subject: 'CN=Centre, O=Demo, C=CN' });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'operator.key'), operatorKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  writeFileSync(join(dir, 'operator.crt'), operatorKey.certificatePem);
  writeFileSync(join(dir, 'centre.crt'), centreKey.certificatePem);
  config = checkConsoleConfig({
    broker: { url: broker.url, clientId: 'console-test' },
    http: { port: 0 },
    store: { sqlite: { path: join(dir, 'console.db') } },
    users: [
      { name: OPERATOR.name, role: 'operator', passwordHash: await hashPassword(OPERATOR.password) },
      { name: VIEWER.name, role: 'viewer', passwordHash: await hashPassword(VIEWER.password) },
    ],
    operatorKey: { key: join(dir, 'operator.key'), certificate: join(dir, 'operator.crt') },
    centreCertificate: join(dir, 'centre.crt'),
    commandTimeoutSeconds: 3,
  });
  gate = await mqtt.connectAsync(broker.url, { clientId: 'test-gates', protocolVersion: 5 });
});

after(async () => {
  if (skip) return;
  await running?.stop();
  await gate?.endAsync();
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a lane online, then gone by its Last Will: state and since-times', { skip }, async () => {
  const { url } = await start();
  const cookie = await signIn(url, VIEWER);
  const lane = 'east-1';
  const will = { topic: `${BASE}/${SITE}/${lane}/status`, payload: Buffer.from(JSON.stringify({ state: 'offline' })), qos: 1 as const, retain: true };
  const client = await mqtt.connectAsync(broker.url, { clientId: `gate-${SITE}-${lane}`, protocolVersion: 5, will, reconnectPeriod: 0 });
  const onlineAt = Date.now() - 5_000;
  await publish(client, lane, 'status', { state: 'online', time: iso(onlineAt), laneState: 'idle', degraded: false, staffMode: false }, true);
  let lanes: Lane[] = [];
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    lanes = (await get<{ lanes: Lane[] }>(url, cookie, '/api/lanes')).lanes;
    if (lanes.some((l) => l.lane === lane && l.online)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  let row = lanes.find((l) => l.lane === lane)!;
  assert.equal(row.state, 'online');
  assert.equal(row.onlineSince, onlineAt);
  assert.equal(row.stateSince, onlineAt);

  // Held: the lane state says so, with its own since-time.
  const heldAt = onlineAt + 1_000;
  await publish(client, lane, 'status', { state: 'online', time: iso(heldAt), laneState: 'held', degraded: false, staffMode: false }, true);
  await until('held', async () => (await running!.store.lane(SITE, lane))?.held === true);
  row = (await running!.store.lane(SITE, lane))! as unknown as Lane;
  assert.equal(row.state, 'held');
  assert.equal(row.heldSince, heldAt);
  assert.equal(row.onlineSince, onlineAt, 'online since does not move while it stays online');

  // The connection drops without a goodbye: the broker sends the Last Will.
  const droppedAt = Date.now();
  client.stream.destroy();
  await until('offline by the Last Will', async () => (await running!.store.lane(SITE, lane))?.online === false);
  row = (await get<{ lanes: Lane[] }>(url, cookie, '/api/lanes')).lanes.find((l) => l.lane === lane)!;
  assert.equal(row.state, 'offline');
  assert.ok(row.onlineSince >= droppedAt - 50, 'offline since the will arrived');
  assert.equal(row.stateSince, row.onlineSince);
  client.end(true);
});

test('decisions are stored once each, without the subject; malformed messages are dropped and counted', { skip }, async () => {
  const { url, store, feed } = running!;
  const cookie = await signIn(url, VIEWER);
  const events = [decision('east-2', 1, 'pass'), decision('east-2', 2, 'deny'), decision('east-2', 3, 'hold')];
  for (const e of events) check('decisionEvent', e);
  for (const e of events) await publish(gate, 'east-2', 'decision', e);
  // The outbox may send a message twice: the copy is dropped by its id.
  await publish(gate, 'east-2', 'decision', events[0]);
  await publish(gate, 'east-2', 'decision', events[1]);
  const malformedBefore = feed.stats.malformed;
  await publish(gate, 'east-2', 'decision', '{not json');
  await publish(gate, 'east-2', 'decision', { ...decision('east-2', 4, 'pass'), verdict: 'maybe' });
  await publish(gate, 'east-2', 'decision', { ...decision('east-2', 5, 'pass'), lane: 'someone-else' });
  await publish(gate, 'east-2', 'decision', decision('east-2', 6, 'pass'));
  await until('the last good decision', async () => (await store.decisions({ lane: 'east-2' })).length === 4);
  await until('malformed counted', () => feed.stats.malformed === malformedBefore + 3);
  const { decisions } = await get<{ decisions: Array<Record<string, unknown>> }>(url, cookie, '/api/decisions?lane=east-2');
  assert.equal(decisions.length, 4);
  assert.equal(new Set(decisions.map((d) => d.id)).size, 4);
  assert.ok(decisions.every((d) => !('subject' in d)));
  assert.ok(feed.stats.duplicates >= 2);
  const stats = await get<{ feed: { malformed: number; malformedByLeaf: Record<string, number> } }>(url, cookie, '/api/stats');
  assert.equal(stats.feed.malformedByLeaf.decision, 3);
});

test('a red alert is listed and acknowledged by an operator; a viewer cannot', { skip }, async () => {
  const { url } = running!;
  const viewer = await signIn(url, VIEWER);
  const operator = await signIn(url, OPERATOR);
  const alert = { id: randomUUID(), eventId: randomUUID(), time: iso(), site: SITE, lane: 'east-3', subject: 'pseudonym', colour: 'red', decidedBy: 'offline-code' };
  check('redAlert', alert);
  await publish(gate, 'east-3', 'alert', alert);
  await publish(gate, 'east-3', 'alert', alert);
  await until('the alert', async () => (await running!.store.alert(alert.id)) !== null);
  const { alerts } = await get<{ alerts: Array<{ id: string; acknowledgedBy: string | null }> }>(url, viewer, '/api/alerts?open=1');
  assert.equal(alerts.filter((a) => a.id === alert.id).length, 1);

  assert.equal((await post(url, viewer, `/api/alerts/${alert.id}/ack`)).status, 403);
  assert.equal((await post(url, 'console_session=forged', `/api/alerts/${alert.id}/ack`)).status, 401);
  // A write from another site's page is refused whatever the session.
  const crossSite = await fetch(`${url}/api/alerts/${alert.id}/ack`, { method: 'POST', headers: { cookie: operator, origin: 'http://evil.example' } });
  assert.equal(crossSite.status, 403);
  assert.equal((await running!.store.alert(alert.id))!.acknowledgedBy, null);

  const before = Date.now();
  const response = await post(url, operator, `/api/alerts/${alert.id}/ack`);
  assert.equal(response.status, 200);
  const acked = ((await response.json()) as { alert: { acknowledgedBy: string; acknowledgedAt: number } }).alert;
  assert.equal(acked.acknowledgedBy, OPERATOR.name);
  assert.ok(acked.acknowledgedAt >= before && acked.acknowledgedAt <= Date.now());
  const open = await get<{ alerts: Array<{ id: string }> }>(url, viewer, '/api/alerts?open=1');
  assert.ok(!open.alerts.some((a) => a.id === alert.id));
  assert.equal((await post(url, operator, '/api/alerts/no-such-alert-id/ack')).status, 404);
});

test("the day's figures match what the gates sent, with colour-change timeliness", { skip }, async () => {
  const { url, store } = running!;
  const cookie = await signIn(url, VIEWER);
  const site = 'fig-site';
  const pub = (lane: string | null, leaf: string, payload: unknown): Promise<void> =>
    gate.publishAsync(lane === null ? `${BASE}/${site}/${leaf}` : `${BASE}/${site}/${lane}/${leaf}`, JSON.stringify(payload), { qos: 1 }).then(() => {});
  const now = Date.now();
  // Two lanes online before the change.
  for (const lane of ['a', 'b']) await pub(lane, 'status', { state: 'online', time: iso(now - 60_000), laneState: 'idle', degraded: false, staffMode: false });
  const verdicts = ['pass', 'pass', 'pass', 'deny', 'hold'] as const;
  for (const [i, v] of verdicts.entries()) await pub('a', 'decision', { ...decision('a', i + 1, v), site });
  await pub('b', 'decision', { ...decision('b', 1, 'pass'), site, sensorFault: 'thermometer' });
  const b64 = (n: number): string => randomBytes(n).toString('base64url');
  const registration = { id: randomUUID(), v: 1, kid: b64(16), eventId: randomUUID(), site, lane: 'a', time: iso(), epk: b64(32), salt: b64(16), nonce: b64(12), ct: b64(80), tag: b64(16) };
  check('sealedRegistration', registration);
  await pub('a', 'registration', registration);
  await pub('b', 'fault', { id: randomUUID(), time: iso(), site, lane: 'b', kind: 'thermometer', detail: 'no reading', active: true });
  await pub('b', 'fault', { id: randomUUID(), time: iso(), site, lane: 'b', kind: 'outbox-filling', detail: '900 of 1000', active: true });
  await pub('a', 'alert', { id: randomUUID(), eventId: randomUUID(), time: iso(), site, lane: 'a', subject: null, colour: 'red', decidedBy: 'offline-code' });

  // Two colour changes signed by the centre; a heartbeat; one forged (wrong key) which must not count.
  const signer = messageSigner(centreKey);
  const issued1 = now - 10_000;
  const issued2 = now - 5_000;
  const change = (seq: number, issuedAt: number, changes = [{ sub: 'p1', colour: 'red' as const, effectiveAt: issuedAt }]) =>
    signMessage('colour-change', { type: 'colour-change', site, seq, issuedAt, changes }, signer);
  await pub(null, 'colour/change', change(41, issued1));
  await pub(null, 'colour/change', change(42, issued2));
  await pub(null, 'colour/change', change(42, now, []));
  const forger = messageSigner(operatorKey);
  await pub(null, 'colour/change', signMessage('colour-change', { type: 'colour-change', site, seq: 43, issuedAt: now, changes: [{ sub: 'p2', colour: 'green', effectiveAt: now }] }, forger));
  // Lane a applies both changes (200 ms and 1000 ms); lane b applies only 41, by a snapshot (400 ms).
  const applied = (lane: string, seq: number, issuedAt: number, delay: number, via: 'change' | 'snapshot') =>
    pub(lane, 'colour/applied', { id: randomUUID(), site, lane, seq, issuedAt, appliedAt: issuedAt + delay, via });
  await applied('a', 41, issued1, 200, 'change');
  await applied('a', 42, issued2, 1000, 'change');
  await applied('b', 41, issued1, 400, 'snapshot');

  await until('every message in', async () => {
    const f = await store.figures(site, dayOf(now));
    return f.checks === 6 && f.staffRegistrations === 1 && f.sensorFaults === 1 && f.redAlerts === 1 && f.colourChanges.applied === 3;
  });
  const day = dayOf(now);
  const { figures } = await get<{ figures: Array<Record<string, unknown> & { colourChanges: Record<string, unknown> }> }>(url, cookie, `/api/figures?site=${site}&day=${day}`);
  const f = figures[0]!;
  assert.equal(f.site, site);
  assert.equal(f.checks, 6);
  assert.equal(f.passes, 4);
  assert.equal(f.refusals, 1);
  assert.equal(f.holds, 1);
  assert.equal(f.staffRegistrations, 1);
  assert.equal(f.sensorFaults, 1, 'the outbox is not a sensor');
  assert.equal(f.redAlerts, 1);
  assert.equal(f.colourChanges.changes, 2, 'the heartbeat and the forged change do not count');
  assert.equal(f.colourChanges.expected, 4);
  assert.equal(f.colourChanges.applied, 3);
  assert.equal(f.colourChanges.medianMs, 400);
  assert.equal(f.colourChanges.worstMs, 1000);
  assert.deepEqual(f.colourChanges.neverApplied, [{ lane: 'b', seq: 42, issuedAt: issued2 }]);
  // Another day has nothing.
  const empty = await get<{ figures: Array<{ checks: number }> }>(url, cookie, `/api/figures?site=${site}&day=2000-01-01`);
  assert.equal(empty.figures[0]!.checks, 0);
});

test('operator commands are signed, sent, and logged with their result; viewers cannot send them', { skip }, async () => {
  const { url } = running!;
  const operator = await signIn(url, OPERATOR);
  const viewer = await signIn(url, VIEWER);
  const lane = 'east-9';
  // A gate that trusts the operator's key answers the commands it verifies.
  const trust = new TrustStore();
  trust.addEncoded(operatorKey.certificatePem);
  const device = await mqtt.connectAsync(broker.url, { clientId: `gate-${SITE}-${lane}`, protocolVersion: 5 });
  const received: CommandMessage[] = [];
  device.on('message', (_topic, payload) => {
    const command = openSignedMessage(payload, 'command', trust);
    received.push(command);
    if (command.action === 'lock') return; // this gate never answers a lock
    void device.publishAsync(
      `${BASE}/${SITE}/${lane}/command/result`,
      JSON.stringify({ id: randomUUID(), commandId: command.id, time: iso(), site: SITE, lane, action: command.action, ok: true, detail: 'opened' }),
      { qos: 1 },
    );
  });
  await device.subscribeAsync(`${BASE}/${SITE}/${lane}/command`, { qos: 1 });

  assert.equal((await post(url, viewer, '/api/commands', { site: SITE, lane, action: 'open' })).status, 403);
  assert.equal((await post(url, operator, '/api/commands', { site: SITE, lane, action: 'set-config' })).status, 400);
  const response = await post(url, operator, '/api/commands', { site: SITE, lane, action: 'open' });
  assert.equal(response.status, 202);
  const { command } = (await response.json()) as { command: { id: string; result: string; user: string } };
  assert.equal(command.result, 'pending');
  assert.equal(command.user, OPERATOR.name);
  await until('the result', async () => (await running!.store.command(command.id))?.result === 'ok');
  assert.equal(received[0]!.id, command.id);
  const lock = ((await (await post(url, operator, '/api/commands', { site: SITE, lane, action: 'lock' })).json()) as { command: { id: string } }).command;
  await until('the timeout', async () => (await running!.store.command(lock.id))?.result === 'timeout', 8_000);
  const log = await get<{ enabled: boolean; commands: Array<{ id: string; result: string; user: string; detail: string | null; resultAt: number | null }> }>(url, viewer, '/api/commands');
  assert.equal(log.enabled, true);
  const openRow = log.commands.find((c) => c.id === command.id)!;
  assert.equal(openRow.result, 'ok');
  assert.equal(openRow.detail, 'opened');
  assert.ok(openRow.resultAt);
  assert.equal(log.commands.find((c) => c.id === lock.id)!.result, 'timeout');
  await device.endAsync();
});

test('a restarted console keeps its data and receives what was sent while it was down', { skip }, async () => {
  const before = running!;
  const ackedBefore = (await before.store.alerts()).filter((a) => a.acknowledgedBy !== null).length;
  const decisionsBefore = (await before.store.decisions({ limit: 1000 })).length;
  const lanesBefore = await before.store.lanes();
  await before.stop();
  running = null;
  // Sent while the console is down: the broker keeps it for the console's session.
  const late = decision('east-2', 7, 'pass');
  await publish(gate, 'east-2', 'decision', late);
  const { url, store } = await start(null);
  const cookie = await signIn(url, OPERATOR);
  await until('the decision sent while down', async () => (await store.decisions({ limit: 1000 })).some((d) => d.id === late.id));
  assert.equal((await store.decisions({ limit: 1000 })).length, decisionsBefore + 1);
  assert.equal((await store.alerts()).filter((a) => a.acknowledgedBy !== null).length, ackedBefore);
  const lanes = (await get<{ lanes: Lane[] }>(url, cookie, '/api/lanes')).lanes;
  const east1 = lanes.find((l) => l.lane === 'east-1')!;
  const east1Before = lanesBefore.find((l) => l.lane === 'east-1')!;
  assert.equal(east1.state, 'offline');
  assert.equal(east1.onlineSince, east1Before.onlineSince, 'the retained Last Will does not move the since-time');
  // Without an operator key, commands are disabled and the page is told so.
  const me = await get<{ commandsEnabled: boolean }>(url, cookie, '/api/me');
  assert.equal(me.commandsEnabled, false);
  assert.equal((await post(url, cookie, '/api/commands', { site: SITE, lane: 'east-1', action: 'open' })).status, 503);
});

test('the page is served with a strict CSP; the API needs a session', { skip }, async () => {
  const { url } = running!;
  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.match(await page.text(), /id="lanes-body"/);
  assert.deepEqual(await (await fetch(`${url}/api/me`)).json(), { signedIn: false, commandsEnabled: false });
  for (const path of ['/api/lanes', '/api/decisions', '/api/alerts', '/api/figures', '/api/commands', '/api/events']) {
    assert.equal((await fetch(`${url}${path}`)).status, 401, path);
  }
  const wrong = await fetch(`${url}/api/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice', password: 'wrong password' }) });
  assert.equal(wrong.status, 401);
  const cookie = await signIn(url, VIEWER);
  await post(url, cookie, '/api/sign-out');
  assert.equal((await fetch(`${url}/api/lanes`, { headers: { cookie } })).status, 401);
});

/** A HEAD bounded in time: a server that never answers fails the test instead of hanging it. */
const head = (url: string, cookie?: string) => fetch(url, { method: 'HEAD', headers: cookie ? { cookie } : {}, signal: AbortSignal.timeout(5_000) });

test('HEAD on /api/events answers at once and holds no slot; every route answers HEAD', { skip, timeout: 60_000 }, async (t) => {
  const { url } = running!;
  assert.equal((await head(`${url}/api/events`)).status, 401, 'the stream needs a session, HEAD too');
  // The operator here: the next test counts the viewer's streams.
  const cookie = await signIn(url, OPERATOR);
  const first = await head(`${url}/api/events`, cookie);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.equal(await first.text(), '');
  const heads = await Promise.all(Array.from({ length: 20 }, () => head(`${url}/api/events`, cookie)));
  assert.deepEqual(heads.map((r) => r.status), Array(20).fill(200));
  // No HEAD kept a slot: this session's page gets its stream and its greeting.
  const controller = new AbortController();
  t.after(() => controller.abort());
  const stream = await fetch(`${url}/api/events`, { headers: { cookie }, signal: controller.signal });
  assert.equal(stream.status, 200);
  await eventReader(stream).nextOf('hello');

  for (const route of ['/', '/assets/console.js', '/assets/console.css', '/api/me']) {
    const [got, headed] = [await fetch(url + route), await head(url + route)];
    assert.equal(headed.status, got.status, route);
    assert.equal(headed.headers.get('content-type'), got.headers.get('content-type'), route);
    assert.equal(await headed.text(), '', route);
  }
  assert.equal((await head(`${url}/favicon.ico`)).status, 204);
  for (const route of ['/api/lanes', '/api/alerts', '/api/faults', '/api/stats', '/api/commands']) {
    assert.equal((await head(url + route)).status, 401, route);
    assert.equal((await head(url + route, cookie)).status, 200, route);
  }
});

test("one session's flood of streams replaces its own; one user is capped however often they sign in; others still get in", { skip, timeout: 60_000 }, async (t) => {
  const { url } = running!;
  const controller = new AbortController();
  t.after(() => controller.abort());
  const open = (cookie: string) => fetch(`${url}/api/events`, { headers: { cookie }, signal: controller.signal });

  // Twenty streams on one session: each gets in, and only the newest four stay open.
  const cookie = await signIn(url, VIEWER);
  const flood: Response[] = [];
  for (let i = 0; i < 20; i++) flood.push(await open(cookie));
  assert.deepEqual(flood.map((r) => r.status), Array(20).fill(200));
  await Promise.all(flood.slice(0, 16).map((r) => eventReader(r).ended()));
  const kept = flood.slice(16).map((r) => eventReader(r));
  for (const events of kept) await events.nextOf('hello');

  // The same user signed in again and again: sixteen streams in all, then refused.
  const sessions = [cookie, ...(await Promise.all(Array.from({ length: 4 }, () => signIn(url, VIEWER))))];
  const more: Response[] = [];
  for (const session of sessions.slice(1)) for (let i = 0; i < 4; i++) more.push(await open(session));
  assert.equal(more.filter((r) => r.status === 200).length, 12);
  assert.equal(more.filter((r) => r.status === 503).length, 4);
  const refused = more.find((r) => r.status === 503)!;
  assert.equal(refused.headers.get('retry-after'), '5');
  assert.equal((await head(`${url}/api/events`, sessions[4])).status, 503, 'a HEAD gets the refusal a GET would');

  // Another user is not shut out by the first one's streams.
  const operator = await signIn(url, OPERATOR);
  const theirs = await open(operator);
  assert.equal(theirs.status, 200);
  await eventReader(theirs).nextOf('hello');

  // Signed out: that session's streams end at the next event (or keep-alive), which frees the user's slots.
  await post(url, cookie, '/api/sign-out');
  running!.feed.emit('connection', { connected: true });
  for (const events of kept) {
    await events.nextOf('signed-out');
    await events.ended();
  }
  await until('the signed-out streams released', async () => (await head(`${url}/api/events`, sessions[4])).status === 200);
  assert.equal((await open(sessions[4]!)).status, 200);
});

test('its PostgreSQL away: no command is sent that cannot be logged (503), reads say so too; back, the console works again', { skip }, async (t) => {
  if (!(await requirePostgres(t))) return;
  const db = await scratchDatabase();
  const target = new URL(db.url);
  const proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
  target.port = String(proxy.port);
  const pgConsole = await startConsole(
    { ...config, broker: { ...config.broker, clientId: 'console-test-pg' }, store: { ...config.store, postgres: { url: target.toString(), poolSize: 2 } } },
    logger,
  );
  const lane = 'pg-9';
  const device = await mqtt.connectAsync(broker.url, { clientId: `gate-${SITE}-${lane}`, protocolVersion: 5 });
  t.after(async () => {
    await device.endAsync();
    await proxy.restore();
    await pgConsole.stop();
    await proxy.close();
    await db.drop();
  });
  const commands: string[] = [];
  device.on('message', (_topic, payload) => commands.push(JSON.parse(Buffer.from(JSON.parse(payload.toString()).payload, 'base64url').toString()).action));
  await device.subscribeAsync(`${BASE}/${SITE}/${lane}/command`, { qos: 1 });
  const operator = await signIn(pgConsole.url, OPERATOR);

  await proxy.cut();
  const refused = await post(pgConsole.url, operator, '/api/commands', { site: SITE, lane, action: 'open' });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '5');
  assert.match(((await refused.json()) as { error: string }).error, /database is not answering: nothing was done/);
  assert.equal((await fetch(`${pgConsole.url}/api/lanes`, { headers: { cookie: operator } })).status, 503);

  await proxy.restore();
  const sent = await post(pgConsole.url, operator, '/api/commands', { site: SITE, lane, action: 'lock' });
  assert.equal(sent.status, 202, await sent.clone().text());
  await until('the command at the gate', () => commands.length > 0, 5_000);
  // Only the command that could be logged ever reached the gate.
  assert.deepEqual(commands, ['lock']);
  assert.deepEqual((await get<{ commands: Array<{ action: string }> }>(pgConsole.url, operator, '/api/commands')).commands.map((c) => c.action), ['lock']);
});
