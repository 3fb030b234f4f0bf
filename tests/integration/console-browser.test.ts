/**
 * The fleet console in a real browser (Debian's Chromium through
 * playwright-core), watching a real gate lane over a real Mosquitto: an
 * operator signs in, sees the lane online, a red code's alert arrives and is
 * acknowledged (who and when shown), a signed release-hold command goes out
 * and its result comes back, and the lane going away shows offline. A viewer
 * sees the same page without the buttons.
 *
 * The live feed lost: the page, cut off and then refused by the console's
 * stream limits, says so, and once let in again shows what it missed, each
 * row once, and follows live again; a session that ended while it was cut
 * off brings the sign-in back.
 *
 * With SCREENSHOT_DIR set (`npm run screenshots`), the states are saved as PNGs there.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { createSimulatedLane } from '../../simulator/simulated-lane.js';
import { checkConsoleConfig } from '../../protocol/config/console-config.js';
import { OperatorCommandSigner } from '../../console/command-signer.js';
import { startConsole } from '../../console/console.js';
import { hashPassword } from '../../protocol/privacy/passwords.js';
import { launchChromium, requireChromium } from '../support/browser.js';
import { decideAtScanner } from '../support/lane.js';
import { requireMosquitto, startMosquitto } from '../support/mosquitto.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { pause, until } from '../support/wait.js';

const SITE = 'station';
const LANE = 'gate-3';
const OPERATOR_PASSWORD = 'duty-desk-password';
const VIEWER_PASSWORD = 'watch-only-password';
const SHOTS = process.env.SCREENSHOT_DIR ? path.join(process.env.SCREENSHOT_DIR, '..', 'console') : null;

async function shoot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page: Page, url: string, name: string, password: string): Promise<void> {
  await page.goto(url);
  await page.fill('#sign-in-name', name);
  await page.fill('#sign-in-password', password);
  await page.click('#sign-in-submit');
  await page.waitForSelector('#console-view', { state: 'visible', timeout: 10_000 });
}

/** The scene both tests watch: a Mosquitto, a simulated gate lane on it, a real console, and Chromium. */
async function startScene(t: TestContext, at: (step: string) => void) {
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const [i, cleanup] of cleanups.reverse().entries()) {
      at(`cleanup ${i}`);
      await Promise.resolve(cleanup()).catch(() => {});
    }
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-browser-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const broker = await startMosquitto();
  cleanups.push(() => broker.stop());

  const gate = checkConfig({
    site: SITE,
    lane: LANE,
    timing: { relayPulseMs: 100, passageTimeoutMs: 1000, denyDisplayMs: 30, temperatureDeadlineMs: 300, repeatSuppressMs: 1000 },
    journal: { path: path.join(dir, 'journal.db') },
    mqtt: { url: broker.url, telemetryIntervalSeconds: 1 },
    log: { level: 'silent' },
  });
  const simulated = await createSimulatedLane(gate, pino({ level: 'silent' }));
  let gateClosed = false;
  cleanups.push(() => (gateClosed ? undefined : simulated.close()));
  const centre = await SimulatedCentre.start({ url: broker.url, key: simulated.centreKey, clientOptions: { reconnectPeriod: 0 } });
  cleanups.push(() => centre.stop());
  await centre.publishSnapshot(SITE);

  const consoleConfig = checkConsoleConfig({
    broker: { url: broker.url },
    http: { port: 0 },
    store: { sqlite: { path: path.join(dir, 'console.db') } },
    users: [
      { name: 'li.operator', role: 'operator', passwordHash: await hashPassword(OPERATOR_PASSWORD) },
      { name: 'wang.viewer', role: 'viewer', passwordHash: await hashPassword(VIEWER_PASSWORD) },
    ],
  });
  // This gate trusts the centre's key directly (no signed trust list, so no operators): the console signs with it.
  at('the console starts');
  const { algorithm, certificate, privateKey } = simulated.centreKey;
  const running = await startConsole(consoleConfig, pino({ level: 'silent' }), { signer: new OperatorCommandSigner({ algorithm, certificate, privateKey }) });
  cleanups.push(() => running.stop());

  await simulated.agent.start();
  await simulated.wire.scannerOpened();

  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  return {
    simulated,
    running,
    browser,
    cleanups,
    closeGate: async (): Promise<void> => {
      await simulated.close();
      gateClosed = true;
    },
  };
}

/** A watchdog that says where a test is, should it hang, rather than a bare timeout. */
function stepsOf(t: TestContext, name: string): (step: string) => void {
  let step = 'start';
  const watchdog = setTimeout(() => process.stderr.write(`${name}: still at "${step}" after 150 s\n`), 150_000);
  watchdog.unref();
  t.after(() => clearTimeout(watchdog));
  return (next) => {
    step = next;
  };
}

test('the console in Chromium: a lane online, a red alert acknowledged, a signed command and its result, the lane going offline', { timeout: 180_000 }, async (t: TestContext) => {
  if (!requireMosquitto(t) || !requireChromium(t)) return;
  const at = stepsOf(t, 'console-browser');
  const { simulated, running, browser, closeGate } = await startScene(t, at);
  const { agent, wire, world } = simulated;

  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('dialog', (dialog) => void dialog.accept());
  await signIn(page, running.url, 'li.operator', OPERATOR_PASSWORD);
  assert.equal(await page.getAttribute('#who', 'data-role'), 'operator');
  const row = `#lanes-body tr[data-lane="${SITE}/${LANE}"]`;
  await page.waitForSelector(`${row}[data-state="online"]`, { timeout: 15_000 });

  // A green code, then a red one: the decisions feed shows both, the red raises an alert and holds the lane.
  at('A green code, then a red one: the decisions feed shows both,');
  const passed = await decideAtScanner(simulated, world.platform.issue({ colour: 'green', maskedName: '张*三' }).code);
  await wire.walkThrough();
  await page.waitForSelector(`#decisions li[data-decision="${passed.event.id}"][data-verdict="pass"]`, { timeout: 15_000 });
  const held = await decideAtScanner(simulated, world.platform.issue({ colour: 'red', maskedName: '赵*六' }).code);
  await page.waitForSelector(`#decisions li[data-decision="${held.event.id}"][data-verdict="hold"]`, { timeout: 15_000 });
  const alert = `#alerts li[data-lane="${SITE}/${LANE}"][data-acknowledged="false"]`;
  await page.waitForSelector(alert, { timeout: 15_000 });
  await page.waitForSelector(`${row}[data-state="held"]`, { timeout: 15_000 });
  await shoot(page, 'red-alert');
  // The page shows no personal data: the masked names are on the gate's screen, not here.
  at('The page shows no personal data: the masked names are on the');
  const text = await page.locator('body').innerText();
  assert.ok(!text.includes('赵*六') && !text.includes(held.event.subject ?? '\u0000'), 'a name or subject on the console');

  // The operator acknowledges it: who and when are recorded and shown.
  at('The operator acknowledges it: who and when are recorded and ');
  const alertId = await page.getAttribute(alert, 'data-alert');
  await page.click(`button[data-ack="${alertId}"]`);
  await page.waitForSelector(`#alerts li[data-alert="${alertId}"][data-acknowledged="true"]`, { timeout: 10_000 });
  assert.match(await page.locator(`#alerts li[data-alert="${alertId}"] [data-field="acknowledged"]`).innerText(), /li\.operator/);

  // A signed release-hold from the console: the gate runs it and the result is shown.
  at('A signed release-hold from the console: the gate runs it and');
  await page.click(`button[data-action="release-hold"][data-lane="${SITE}/${LANE}"]`);
  await page.waitForSelector('#commands-body tr[data-result="ok"]', { timeout: 15_000 }).catch(async (error: Error) => {
    throw new Error(`${error.message}\ncommands: ${await page.locator('#commands').innerHTML()}\naction error: ${await page.locator('#action-error').innerText()}\nlane: ${agent.lane.state}`);
  });
  assert.equal(agent.lane.state, 'idle');
  await page.waitForSelector(`${row}[data-state="online"]`, { timeout: 15_000 });
  // The day's figures follow: two checks, one pass, one hold, one red alert.
  at('The day\'s figures follow: two checks, one pass, one hold, o');
  const figure = (name: string) => `#figures-body tr[data-site="${SITE}"] td[data-figure="${name}"]`;
  await page.waitForFunction((selector) => document.querySelector(selector)?.textContent?.trim() === '2', figure('checks'), { timeout: 15_000 });
  for (const [name, value] of [['passes', '1'], ['holds', '1'], ['refusals', '0'], ['red-alerts', '1']]) {
    assert.equal((await page.locator(figure(name!)).innerText()).trim(), value, name);
  }
  await shoot(page, 'command-result');

  // A viewer sees the lanes and the acknowledged alert, and no buttons.
  at('A viewer sees the lanes and the acknowledged alert, and no b');
  const viewer = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await signIn(viewer, running.url, 'wang.viewer', VIEWER_PASSWORD);
  await viewer.waitForSelector(`${row}`, { timeout: 10_000 });
  assert.equal(await viewer.getAttribute('body', 'data-role'), 'viewer');
  assert.equal(await viewer.locator('button[data-action]:visible').count(), 0, 'a viewer can send commands');
  assert.equal(await viewer.locator('button[data-ack]:visible').count(), 0, 'a viewer can acknowledge');

  // The gate goes away: its Last Will shows it offline.
  at('The gate goes away: its Last Will shows it offline.');
  await closeGate();
  await page.waitForSelector(`${row}[data-state="offline"]`, { timeout: 20_000 });
  await shoot(page, 'lane-offline');
});

/** The console's own sign-in, as another tab or client of the same user would do it: its session cookie. */
async function sessionCookie(url: string, name: string, password: string): Promise<string> {
  const response = await fetch(`${url}/api/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) });
  assert.equal(response.status, 200, `sign-in of ${name}`);
  return response.headers.get('set-cookie')!.split(';')[0]!;
}

/** An event stream held open with this cookie until aborted; retried while the console refuses it (a slot being freed). */
async function holdStream(url: string, cookie: string, holding: AbortController[]): Promise<void> {
  await until('an event stream admitted', async () => {
    const controller = new AbortController();
    const response = await fetch(`${url}/api/events`, { headers: { cookie }, signal: controller.signal });
    if (response.status === 200) {
      holding.push(controller);
      return true;
    }
    assert.equal(response.status, 503, 'only a full console refuses a signed-in stream');
    await response.body?.cancel();
    await pause(50);
    return false;
  }, 10_000);
}

test('the console in Chromium: the live feed lost (cut off, then refused while the user holds 16 streams) is shown; let in again, the page shows what it missed, once, and follows live; a session ended meanwhile shows the sign-in', { timeout: 180_000 }, async (t: TestContext) => {
  if (!requireMosquitto(t) || !requireChromium(t)) return;
  const at = stepsOf(t, 'console-browser (feed lost)');
  const { simulated, running, browser, cleanups } = await startScene(t, at);
  const { wire, world } = simulated;
  // The page reaches the console through a proxy that the test can cut, as a network would drop.
  const proxy = await startTcpProxy(Number(new URL(running.url).port));
  cleanups.push(() => proxy.close());
  const holding: AbortController[] = [];
  cleanups.push(() => holding.forEach((c) => c.abort()));

  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('dialog', (dialog) => void dialog.accept());
  await signIn(page, `http://127.0.0.1:${proxy.port}`, 'li.operator', OPERATOR_PASSWORD);
  const row = `#lanes-body tr[data-lane="${SITE}/${LANE}"]`;
  await page.waitForSelector(`${row}[data-state="online"]`, { timeout: 15_000 });
  await page.waitForSelector('body[data-feed="live"]', { timeout: 15_000 });
  assert.equal(await page.isVisible('#feed-lost'), false, 'the feed shown lost while it is live');

  at('a green code shown live, before the feed is lost');
  const passed = await decideAtScanner(simulated, world.platform.issue({ colour: 'green', maskedName: '张*三' }).code);
  await wire.walkThrough();
  await page.waitForSelector(`#decisions li[data-decision="${passed.event.id}"]`, { timeout: 15_000 });

  at('the page cut off: it says so');
  await proxy.cut();
  await page.waitForSelector('#feed-lost[role="alert"]', { state: 'visible', timeout: 15_000 });
  assert.match(await page.locator('#feed-lost').innerText(), /Live feed lost since .*reconnecting/);
  assert.equal(await page.getAttribute('body', 'data-feed'), 'lost');

  at('the same user fills the 16 streams from four other sessions');
  // The page's own session holds none now (its stream went with the cut), so it cannot take over one of its own.
  for (let session = 0; session < 4; session++) {
    const cookie = await sessionCookie(running.url, 'li.operator', OPERATOR_PASSWORD);
    for (let stream = 0; stream < 4; stream++) await holdStream(running.url, cookie, holding);
  }
  const refused = page.waitForResponse((response) => new URL(response.url()).pathname === '/api/events' && response.status() === 503, { timeout: 30_000 });
  await proxy.restore();
  await refused;
  assert.equal(await page.isVisible('#feed-lost'), true, 'a refused page shown live');

  at('a red code while the page is refused: stored, not shown');
  const viewer = await sessionCookie(running.url, 'wang.viewer', VIEWER_PASSWORD);
  const held = await decideAtScanner(simulated, world.platform.issue({ colour: 'red', maskedName: '赵*六' }).code);
  await until('the red code\'s decision and alert stored', async () => {
    const read = async (route: string): Promise<Array<{ id: string; eventId?: string }>> => {
      const response = await fetch(`${running.url}${route}`, { headers: { cookie: viewer } });
      return Object.values((await response.json()) as Record<string, Array<{ id: string }>>)[0]!;
    };
    const [decisions, alerts] = await Promise.all([read('/api/decisions'), read('/api/alerts')]);
    return decisions.some((d) => d.id === held.event.id) && alerts.length > 0;
  }, 15_000);
  const missed = `#decisions li[data-decision="${held.event.id}"]`;
  // Deterministic: the test holds every slot the page could have, so nothing can have reached it.
  assert.equal(await page.locator(missed).count(), 0, 'a refused page got the red code');
  assert.equal(await page.locator('#alerts li').count(), 0, 'a refused page got the alert');
  assert.equal(await page.isVisible('#feed-lost'), true, 'a refused page shown live');
  await shoot(page, 'feed-lost');

  at('the slots freed: the page reconnects and shows what it missed, each row once');
  for (const controller of holding.splice(0)) controller.abort();
  await page.waitForSelector('body[data-feed="live"]', { timeout: 45_000 });
  assert.equal(await page.isVisible('#feed-lost'), false, 'the feed still shown lost once live');
  await page.waitForSelector(`${missed}[data-verdict="hold"]`, { timeout: 10_000 });
  await page.waitForSelector(`#alerts li[data-lane="${SITE}/${LANE}"][data-acknowledged="false"]`, { timeout: 10_000 });
  await page.waitForSelector(`${row}[data-state="held"]`, { timeout: 10_000 });
  const shownIds = await page.locator('#decisions li').evaluateAll((items) => items.map((item) => item.getAttribute('data-decision')));
  assert.deepEqual(shownIds, [held.event.id, passed.event.id], 'the decisions shown, newest first, each once');
  assert.equal(await page.locator('#alerts li').count(), 1, 'the alert shown once');
  assert.equal(await page.locator(row).count(), 1, 'the lane shown once');

  at('live again: a command\'s result and the lane released come on the stream');
  await page.click(`button[data-action="release-hold"][data-lane="${SITE}/${LANE}"]`);
  await page.waitForSelector('#commands-body tr[data-result="ok"]', { timeout: 15_000 });
  await page.waitForSelector(`${row}[data-state="online"]`, { timeout: 15_000 });
  assert.equal(await page.locator('#commands-body tr').count(), 1, 'the command shown once');

  at('the session ended while the page was cut off: once it is back it shows the sign-in');
  const pageCookie = (await page.context().cookies()).find((c) => c.name === 'console_session')!;
  // The page's stats poll would find the session ended too: answered here, so that only the live feed can tell.
  await page.route('**/api/stats', (route) => route.fulfill({ json: { feed: { malformed: 0 } } }));
  await proxy.cut();
  await page.waitForSelector('#feed-lost', { state: 'visible', timeout: 15_000 });
  const signedOut = await fetch(`${running.url}/api/sign-out`, { method: 'POST', headers: { cookie: `${pageCookie.name}=${pageCookie.value}` } });
  assert.equal(signedOut.status, 200);
  await proxy.restore();
  await page.waitForSelector('#sign-in-view', { state: 'visible', timeout: 30_000 });
});
