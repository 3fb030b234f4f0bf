/**
 * The fleet console in a real browser (Debian's Chromium through
 * playwright-core), watching a real gate lane over a real Mosquitto: an
 * operator signs in, sees the lane online, a red code's alert arrives and is
 * acknowledged (who and when shown), a signed release-hold command goes out
 * and its result comes back, and the lane going away shows offline. A viewer
 * sees the same page without the buttons.
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
import { checkConfig } from '../../edge-agent/config/load.js';
import { SimulatedCentre } from '../../simulator/centre.js';
import { createSimulatedLane } from '../../simulator/simulated-lane.js';
import { checkConsoleConfig } from '../../console/config.js';
import { OperatorCommandSigner } from '../../console/command-signer.js';
import { startConsole } from '../../console/console.js';
import { hashPassword } from '../../console/passwords.js';
import { launchChromium, requireChromium } from '../support/browser.js';
import { decideAtScanner } from '../support/lane.js';
import { requireMosquitto, startMosquitto } from '../support/mosquitto.js';

const SITE = 'station';
const LANE = 'gate-3';
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

test('the console in Chromium: a lane online, a red alert acknowledged, a signed command and its result, the lane going offline', { timeout: 180_000 }, async (t: TestContext) => {
  if (!requireMosquitto(t) || !requireChromium(t)) return;
  // Where the test is, should it hang: printed by a watchdog rather than lost in a bare timeout.
  let step = 'start';
  const watchdog = setTimeout(() => process.stderr.write(`console-browser: still at "${step}" after 150 s\n`), 150_000);
  watchdog.unref();
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const [i, cleanup] of cleanups.reverse().entries()) {
      step = `cleanup ${i}`;
      await Promise.resolve(cleanup()).catch(() => {});
    }
    clearTimeout(watchdog);
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

  const operatorPassword = 'duty-desk-password';
  const viewerPassword = 'watch-only-password';
  const consoleConfig = checkConsoleConfig({
    broker: { url: broker.url },
    http: { port: 0 },
    store: { sqlite: { path: path.join(dir, 'console.db') } },
    users: [
      { name: 'li.operator', role: 'operator', passwordHash: await hashPassword(operatorPassword) },
      { name: 'wang.viewer', role: 'viewer', passwordHash: await hashPassword(viewerPassword) },
    ],
  });
  // This gate trusts the centre's key directly (no signed trust list, so no operators): the console signs with it.
  step = 'This gate trusts the centre\'s key directly (no signed trust';
  const { algorithm, certificate, privateKey } = simulated.centreKey;
  const running = await startConsole(consoleConfig, pino({ level: 'silent' }), { signer: new OperatorCommandSigner({ algorithm, certificate, privateKey }) });
  cleanups.push(() => running.stop());

  const { agent, wire, world } = simulated;
  await agent.start();
  await wire.scannerOpened();

  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('dialog', (dialog) => void dialog.accept());
  await signIn(page, running.url, 'li.operator', operatorPassword);
  assert.equal(await page.getAttribute('#who', 'data-role'), 'operator');
  const row = `#lanes-body tr[data-lane="${SITE}/${LANE}"]`;
  await page.waitForSelector(`${row}[data-state="online"]`, { timeout: 15_000 });

  // A green code, then a red one: the decisions feed shows both, the red raises an alert and holds the lane.
  step = 'A green code, then a red one: the decisions feed shows both,';
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
  step = 'The page shows no personal data: the masked names are on the';
  const text = await page.locator('body').innerText();
  assert.ok(!text.includes('赵*六') && !text.includes(held.event.subject ?? '\u0000'), 'a name or subject on the console');

  // The operator acknowledges it: who and when are recorded and shown.
  step = 'The operator acknowledges it: who and when are recorded and ';
  const alertId = await page.getAttribute(alert, 'data-alert');
  await page.click(`button[data-ack="${alertId}"]`);
  await page.waitForSelector(`#alerts li[data-alert="${alertId}"][data-acknowledged="true"]`, { timeout: 10_000 });
  assert.match(await page.locator(`#alerts li[data-alert="${alertId}"] [data-field="acknowledged"]`).innerText(), /li\.operator/);

  // A signed release-hold from the console: the gate runs it and the result is shown.
  step = 'A signed release-hold from the console: the gate runs it and';
  await page.click(`button[data-action="release-hold"][data-lane="${SITE}/${LANE}"]`);
  await page.waitForSelector('#commands-body tr[data-result="ok"]', { timeout: 15_000 }).catch(async (error: Error) => {
    throw new Error(`${error.message}\ncommands: ${await page.locator('#commands').innerHTML()}\naction error: ${await page.locator('#action-error').innerText()}\nlane: ${agent.lane.state}`);
  });
  assert.equal(agent.lane.state, 'idle');
  await page.waitForSelector(`${row}[data-state="online"]`, { timeout: 15_000 });
  // The day's figures follow: two checks, one pass, one hold, one red alert.
  step = 'The day\'s figures follow: two checks, one pass, one hold, o';
  const figure = (name: string) => `#figures-body tr[data-site="${SITE}"] td[data-figure="${name}"]`;
  await page.waitForFunction((selector) => document.querySelector(selector)?.textContent?.trim() === '2', figure('checks'), { timeout: 15_000 });
  for (const [name, value] of [['passes', '1'], ['holds', '1'], ['refusals', '0'], ['red-alerts', '1']]) {
    assert.equal((await page.locator(figure(name!)).innerText()).trim(), value, name);
  }
  await shoot(page, 'command-result');

  // A viewer sees the lanes and the acknowledged alert, and no buttons.
  step = 'A viewer sees the lanes and the acknowledged alert, and no b';
  const viewer = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await signIn(viewer, running.url, 'wang.viewer', viewerPassword);
  await viewer.waitForSelector(`${row}`, { timeout: 10_000 });
  assert.equal(await viewer.getAttribute('body', 'data-role'), 'viewer');
  assert.equal(await viewer.locator('button[data-action]:visible').count(), 0, 'a viewer can send commands');
  assert.equal(await viewer.locator('button[data-ack]:visible').count(), 0, 'a viewer can acknowledge');

  // The gate goes away: its Last Will shows it offline.
  step = 'The gate goes away: its Last Will shows it offline.';
  await simulated.close();
  gateClosed = true;
  await page.waitForSelector(`${row}[data-state="offline"]`, { timeout: 20_000 });
  await shoot(page, 'lane-offline');
});
