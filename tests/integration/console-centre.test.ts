/**
 * The console showing each red-code alert's delivery to the department, read
 * from a real centre (startCentre: its embedded broker on a free port, SQLite
 * in a temp dir, a real HTTPS department webhook): delivered with its time,
 * pending with attempts and the last error, ALARM when not delivered in time,
 * not at the centre; many pages cost the centre one look-up; and the centre
 * away (refused, not answering, cut off) leaves the alerts and the feed as
 * they were, the deliveries unknown, in bounded time. Then the same in
 * Debian's Chromium.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { checkCentreConfig } from '../../protocol/config/centre-config.js';
import { checkConsoleConfig, type ConsoleCentreConfig } from '../../protocol/config/console-config.js';
import type { AlertDeliveries, AlertDelivery } from '../../protocol/payloads/console-deliveries.js';
import { check } from '../../protocol/contract.js';
import { hashPassword } from '../../protocol/privacy/passwords.js';
import { startCentre, type RunningCentre } from '../../centre/service.js';
import { makeToken } from '../../centre/api/tokens.js';
import { LOCAL_SITE } from '../../centre/sites.js';
import { AlertDeliveryView } from '../../console/alert-deliveries.js';
import { startConsole, type RunningConsole } from '../../console/console.js';
import { launchChromium, requireChromium } from '../support/browser.js';
import { startDepartmentReceiver, type DepartmentReceiver } from '../support/department-receiver.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

const quiet = pino({ level: 'silent' });
const SECRET = Buffer.from(randomBytes(32).toString('base64url'), 'utf8');
const VIEWER = { name: 'victor', password: 'viewer password 1' };

interface Scene {
  dir: string;
  centre: RunningCentre;
  receiver: DepartmentReceiver;
  proxy: TcpProxy;
  console: RunningConsole;
  gate: MqttClient;
  tokenFile: string;
}

/** A centre with a viewer client for the console, its department webhook, and a console reading it through a TCP proxy (to cut). */
async function scene(t: TestContext): Promise<Scene> {
  const dir = mkdtempSync(join(tmpdir(), 'console-centre-'));
  const cleanups: Array<() => unknown> = [() => rmSync(dir, { recursive: true, force: true })];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => {});
  });
  const receiver = await startDepartmentReceiver(SECRET);
  cleanups.push(() => receiver.close());
  writeFileSync(join(dir, 'secret'), `${SECRET.toString('utf8')}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'department-ca.pem'), receiver.caPem);
  const viewer = makeToken();
  const tokenFile = join(dir, 'console-token');
  writeFileSync(tokenFile, `${viewer.token}\n`, { mode: 0o600 });
  const centre = await startCentre(checkCentreConfig({
    broker: { embedded: { port: 0 } },
    http: { port: 0 },
    store: { sqlite: { path: join(dir, 'centre.db') } },
    record: { sqlite: { path: join(dir, 'record.db') } },
    dataDir: join(dir, 'centre'),
    clients: [{ id: 'console', tokenSha256: viewer.tokenSha256, role: 'viewer', sites: [LOCAL_SITE] }],
    department: { url: receiver.url, secretFile: join(dir, 'secret'), ca: join(dir, 'department-ca.pem'), timeoutMs: 500, firstRetryMs: 50, maxRetryMs: 200, alarmAfterSeconds: 3 },
    logLevel: 'fatal',
  }), quiet);
  cleanups.push(() => centre.stop());
  await centre.duties.settled();
  const proxy = await startTcpProxy(Number(new URL(centre.url).port));
  cleanups.push(() => proxy.close());
  const running = await startConsole(checkConsoleConfig({
    broker: { url: centre.broker.endpoint.url, protocolVersion: 4 },
    http: { port: 0 },
    store: { sqlite: { path: join(dir, 'console.db') } },
    users: [{ name: VIEWER.name, role: 'viewer', passwordHash: await hashPassword(VIEWER.password) }],
    centre: { url: `http://127.0.0.1:${proxy.port}`, tokenFile, timeoutMs: 1000, cacheSeconds: 1 },
  }), quiet, { signer: null });
  cleanups.push(() => running.stop());
  const gate = await mqtt.connectAsync(centre.broker.endpoint.url, { protocolVersion: 4, clientId: `test-gate-${randomUUID().slice(0, 8)}` });
  cleanups.push(() => gate.endAsync());
  return { dir, centre, receiver, proxy, console: running, gate, tokenFile };
}

function alert(lane: string): Record<string, unknown> {
  const a = { id: randomUUID(), eventId: randomUUID(), time: new Date().toISOString(), site: LOCAL_SITE, lane, subject: 'pseudonym', colour: 'red', decidedBy: 'offline-code' };
  check('redAlert', a);
  return a;
}

/** An alert as a gate raises it: on its lane's topic, QoS 1; the console and the centre both take it from the broker. */
async function raise(s: Scene, lane: string): Promise<string> {
  const a = alert(lane);
  await s.gate.publishAsync(`hc/v1/${LOCAL_SITE}/${lane}/alert`, JSON.stringify(a), { qos: 1 });
  const id = a.id as string;
  await until('the alert at the console and at the centre', async () => (await s.console.store.alert(id)) !== null && (await s.centre.store.delivery(id)) !== null);
  return id;
}

async function signIn(url: string): Promise<string> {
  const response = await fetch(`${url}/api/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(VIEWER) });
  assert.equal(response.status, 200);
  return response.headers.get('set-cookie')!.split(';')[0]!;
}

async function deliveries(url: string, cookie: string): Promise<AlertDeliveries> {
  const response = await fetch(`${url}/api/deliveries`, { headers: { cookie } });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as AlertDeliveries;
}

const of = (answer: AlertDeliveries, id: string): AlertDelivery | undefined => answer.deliveries.find((d) => d.id === id);

test('delivered, pending, ALARM and not at the centre, as the centre keeps them; the centre away leaves the alerts and the feed', async (t) => {
  const s = await scene(t);
  const url = s.console.url;
  const cookie = await signIn(url);
  assert.equal((await fetch(`${url}/api/deliveries`)).status, 401, 'signed in only');

  // The department fails this one: pending with its attempts and error, then ALARM past alarmAfterSeconds.
  const late = alert('east-2');
  const lateId = late.id as string;
  s.receiver.modeFor.set(lateId, 'fail');
  await s.gate.publishAsync(`hc/v1/${LOCAL_SITE}/east-2/alert`, JSON.stringify(late), { qos: 1 });
  await until('the late alert pending with its error', async () => {
    const p = of(await deliveries(url, cookie), lateId);
    return p?.state === 'pending' && p.attempts >= 1 && /HTTP 500/.test(p.lastError ?? '') && p.alarmedAt === null;
  }, 10_000);
  const delivered = await raise(s, 'east-1');
  // An alert the centre never had (a console on a broker the centre does not hear).
  const unknownId = randomUUID();
  await s.console.store.addAlert({ id: unknownId, eventId: randomUUID(), site: LOCAL_SITE, lane: 'west-9', time: Date.now(), decidedBy: 'offline-code' });

  await until('the second alert delivered, shown so', async () => of(await deliveries(url, cookie), delivered)?.state === 'delivered', 10_000);
  let answer = await deliveries(url, cookie);
  assert.equal(answer.centre, 'reachable');
  assert.equal(answer.error, null);
  assert.ok(answer.checkedAt !== null);
  const d = of(answer, delivered)!;
  assert.equal(d.deliveredAt, (await s.centre.store.delivery(delivered))!.deliveredAt);
  assert.ok(d.deliveredAt !== null && d.attempts >= 1);
  assert.equal(of(answer, unknownId)!.state, 'not-at-centre');
  assert.ok(s.receiver.accepted.has(delivered), 'the department has it');

  await until('the late alert in ALARM', async () => of(await deliveries(url, cookie), lateId)?.state === 'alarm', 10_000);
  answer = await deliveries(url, cookie);
  const alarmed = of(answer, lateId)!;
  assert.ok(alarmed.alarmedAt !== null && alarmed.deliveredAt === null && alarmed.attempts >= 1);
  assert.match(alarmed.lastError!, /HTTP 500/);
  assert.deepEqual(answer.deliveries.map((x) => x.id), (await s.console.store.alerts()).map((a) => a.id), 'one per alert of the list, in its order');

  // Many pages at once: the centre is asked once for the site (and once for the alert it lacks).
  await new Promise((resolve) => setTimeout(resolve, 1100)); // past the 1 s cache, so the burst below asks afresh
  const before = (await s.centre.store.auditTrail({ client: 'console', limit: 1000 })).length;
  const burst = await Promise.all(Array.from({ length: 20 }, () => deliveries(url, cookie)));
  assert.ok(burst.every((b) => b.centre === 'reachable'));
  const asked = (await s.centre.store.auditTrail({ client: 'console', limit: 1000 })).length - before;
  assert.ok(asked >= 1 && asked <= 2, `20 pages cost the centre ${asked} requests`);

  // The centre cut off: the deliveries are unknown; the alerts, and the feed, go on.
  await s.proxy.cut();
  await until('the centre unreachable', async () => (await deliveries(url, cookie)).centre === 'unreachable', 5_000);
  answer = await deliveries(url, cookie);
  assert.ok(answer.deliveries.every((x) => x.state === 'unknown'));
  assert.match(answer.error!, /ECONNREFUSED/);
  assert.equal(answer.checkedAt, null);
  const during = await raise(s, 'east-3');
  const alerts = await fetch(`${url}/api/alerts`, { headers: { cookie } });
  assert.equal(alerts.status, 200);
  assert.ok(((await alerts.json()) as { alerts: Array<{ id: string }> }).alerts.some((a) => a.id === during), 'the feed stored the new alert');
  assert.equal(of(await deliveries(url, cookie), during)?.state, 'unknown');

  await s.proxy.restore();
  await until('the centre answers again', async () => (await deliveries(url, cookie)).centre === 'reachable', 5_000);
  await until('the alert raised meanwhile delivered', async () => of(await deliveries(url, cookie), during)?.state === 'delivered', 10_000);
});

test('a centre that refuses the token, or never answers, is said so within the timeout; no centre: not configured', async (t) => {
  const s = await scene(t);
  const alerts = (await s.console.store.alerts()).concat([{ id: randomUUID(), eventId: randomUUID(), site: LOCAL_SITE, lane: 'a', time: Date.now(), decidedBy: 'offline-code', acknowledgedAt: null, acknowledgedBy: null }]);
  const config = (over: Partial<ConsoleCentreConfig>): ConsoleCentreConfig => ({ url: s.centre.url, tokenFile: s.tokenFile, timeoutMs: 300, cacheSeconds: 1, ...over });

  const wrongToken = join(s.dir, 'wrong-token');
  writeFileSync(wrongToken, makeToken().token);
  const refused = await new AlertDeliveryView(config({ tokenFile: wrongToken }), quiet).of(alerts);
  assert.equal(refused.centre, 'refused');
  assert.match(refused.error!, /HTTP 401/);
  assert.ok(refused.deliveries.every((d) => d.state === 'unknown'));

  // A centre that takes the connection and never answers.
  const held = new Set<Socket>();
  const silent = createServer((socket) => held.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of held) socket.destroy();
    silent.close();
  });
  const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const hung = await new AlertDeliveryView(config({ url: silentUrl }), quiet).of(alerts);
  assert.equal(hung.centre, 'unreachable');
  assert.match(hung.error!, /no answer from the centre within 300 ms/);
  assert.equal(hung.deliveries.length, alerts.length);

  const none = await new AlertDeliveryView(undefined, quiet).of(alerts);
  assert.deepEqual(none, { centre: 'not-configured', checkedAt: null, error: null, deliveries: [] });

  assert.throws(() => new AlertDeliveryView(config({ tokenFile: join(s.dir, 'missing') }), quiet), /centre\.tokenFile: .*missing cannot be read \(ENOENT\)/);
  assert.throws(() => checkConsoleConfig({ centre: { url: 'http://centre.example:8093', tokenFile: s.tokenFile } }), /not encrypted/);
});

test('in Chromium: delivered and ALARM beside the alerts, then "centre unreachable"', async (t) => {
  if (!requireChromium(t)) return;
  const s = await scene(t);
  const delivered = await raise(s, 'north-1');
  const late = alert('north-2');
  s.receiver.modeFor.set(late.id as string, 'fail');
  await s.gate.publishAsync(`hc/v1/${LOCAL_SITE}/north-2/alert`, JSON.stringify(late), { qos: 1 });
  await until('delivered at the centre', async () => (await s.centre.store.delivery(delivered))?.state === 'delivered', 10_000);

  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(s.console.url);
  await page.fill('#sign-in-name', VIEWER.name);
  await page.fill('#sign-in-password', VIEWER.password);
  await page.click('#sign-in-submit');
  await page.waitForSelector('#console-view', { state: 'visible', timeout: 10_000 });

  const field = (id: string) => page.locator(`li[data-alert="${id}"] [data-field="delivery"]`);
  await field(delivered).and(page.locator('[data-delivery-state="delivered"]')).waitFor({ timeout: 15_000 });
  assert.match(await field(delivered).innerText(), /delivered to the department at/);
  // The page reads the states again every 10 s; the alarm comes 3 s after the alert reached the centre.
  await field(late.id as string).and(page.locator('[data-delivery-state="alarm"]')).waitFor({ timeout: 25_000 });
  assert.match(await field(late.id as string).innerText(), /ALARM.*not delivered in time.*HTTP 500/s);
  assert.equal(await page.locator('#delivery-unknown').isVisible(), false);

  await s.proxy.cut();
  // A new alert makes the page ask again within a second or so, as the poll would within 10 s.
  const during = alert('north-3');
  await s.gate.publishAsync(`hc/v1/${LOCAL_SITE}/north-3/alert`, JSON.stringify(during), { qos: 1 });
  await page.locator(`li[data-alert="${during.id as string}"]`).waitFor({ timeout: 10_000 });
  await page.locator('#delivery-unknown').waitFor({ state: 'visible', timeout: 15_000 });
  assert.match(await page.locator('#delivery-unknown').innerText(), /delivery state unknown: centre unreachable/);
  assert.equal(await field(delivered).getAttribute('data-delivery-state'), 'unknown');
  assert.equal(await page.getAttribute('body', 'data-feed'), 'live', 'the live feed is not lost with the centre');
});
