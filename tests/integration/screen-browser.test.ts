/**
 * The gate's screen and the staff page in a real browser (Debian's Chromium
 * through playwright-core). Every phase renders with its Chinese and English
 * texts; the screen follows a real lane's decisions live; staff sign in with
 * the PIN and register a person without a code from the page.
 *
 * With SCREENSHOT_DIR set (`npm run screenshots`), each state is also saved
 * as a PNG there (docs/screen in the repository).
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import type { Colour, Verdict } from '../../protocol/domain.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { DecisionRecord, LaneEvents, LaneState } from '../../edge-agent/lane/lane.js';
import { REASONS, type Reason } from '../../protocol/reasons.js';
import { hashPin } from '../../protocol/privacy/staff-pin.js';
import { ScreenServer, type StaffDesk } from '../../edge-agent/screen/screen-server.js';
import { headlineOf, ScreenModel, type ScreenPhase } from '../../edge-agent/screen/screen-view.js';
import { madeUpNationalId } from '../../simulator/crowd.js';
import { createSimulatedLane } from '../../simulator/simulated-lane.js';
import { launchChromium, requireChromium } from '../support/browser.js';
import { until } from '../support/wait.js';

const tempDirs: string[] = [];
after(() => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
const SHOTS = process.env.SCREENSHOT_DIR;
const quiet = pino({ level: 'silent' });

/** A lane the test sets by hand: every phase on demand, without waiting for timers. */
class ScriptedLane extends EventEmitter<LaneEvents> implements StaffDesk {
  state: LaneState = 'idle';
  readonly staffCan = { noCode: true, register: false, temperature: false, release: false, resume: false };
  enter(state: LaneState): void {
    const previous = this.state;
    this.state = state;
    this.emit('state', state, previous);
  }
  decide(state: LaneState, record: DecisionRecord): void {
    this.enter(state);
    this.emit('decision', record);
  }
  async noCode(): Promise<null> {
    return null;
  }
  async staffRegistered(): Promise<null> {
    return null;
  }
  async staffTemperature(): Promise<null> {
    return null;
  }
  staffRelease(): boolean {
    return false;
  }
  staffResume(): boolean {
    return false;
  }
}

let counter = 0;
function record(verdict: Verdict, reason: Reason, colour: Colour | null, extra: { name?: string; temperatureC?: number } = {}): DecisionRecord {
  const event: DecisionEvent = {
    id: `event-${++counter}`,
    seq: counter,
    time: new Date().toISOString(),
    site: 'screen-site',
    lane: 'lane-1',
    verdict,
    reason,
    decidedBy: 'offline-code',
    subject: null,
    colour,
    temperatureC: extra.temperatureC ?? null,
    sensorFault: null,
    credential: null,
    decisionMs: 1,
    degraded: false,
  };
  const credential = extra.name ? ({ gzhc: { maskedName: extra.name } } as unknown as DecisionRecord['credential']) : null;
  return { event, decision: {} as DecisionRecord['decision'], credential, temperature: null };
}

/** Waits until the page shows the view with this seq or a later one; returns the page's visible text. */
async function shown(page: Page, phase: ScreenPhase, eventId?: string): Promise<string> {
  await page.waitForFunction(
    ([p, e]) => document.body.dataset.phase === p && (e === undefined || document.body.dataset.event === e),
    [phase, eventId] as const,
    { timeout: 10_000 },
  );
  return page.locator('body').innerText();
}

async function shoot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

function bothLanguages(text: string, bilingual: { zh: string; en: string }, what: string): void {
  assert.ok(text.includes(bilingual.zh), `${what}: Chinese text "${bilingual.zh}" not on the page:\n${text}`);
  assert.ok(text.includes(bilingual.en), `${what}: English text "${bilingual.en}" not on the page:\n${text}`);
}

test('every state of the screen renders in Chinese and English, with its colour, name, temperature and banners', { timeout: 60_000 }, async (t: TestContext) => {
  if (!requireChromium(t)) return;
  const lane = new ScriptedLane();
  let degraded = false;
  const model = new ScreenModel(lane, () => degraded);
  model.start();
  const server = new ScreenServer({ host: '127.0.0.1', port: 0, model, desk: lane, pinHash: null, staffSessionMinutes: 5, site: 'screen-site', lane: 'lane-1', logger: quiet, refreshMs: 50 });
  const url = await server.start();
  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    await server.stop();
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(url);

  let text = await shown(page, 'idle');
  bothLanguages(text, headlineOf('idle'), 'idle');
  assert.match(text, /screen-site · lane-1/);
  await shoot(page, 'idle');

  lane.enter('reading');
  bothLanguages(await shown(page, 'reading'), headlineOf('reading'), 'reading');
  lane.enter('measuring');
  bothLanguages(await shown(page, 'measuring'), headlineOf('measuring'), 'measuring');
  await shoot(page, 'measuring');

  const cases: Array<{ name: string; state: LaneState; phase: ScreenPhase; record: DecisionRecord }> = [
    { name: 'pass-green', state: 'open', phase: 'pass', record: record('pass', 'green-normal', 'green', { name: '张*三', temperatureC: 36.5 }) },
    { name: 'deny-yellow', state: 'locked', phase: 'deny', record: record('deny', 'yellow', 'yellow', { name: '李*四' }) },
    { name: 'hold-red', state: 'held', phase: 'hold', record: record('hold', 'red', 'red', { name: '王*五' }) },
    { name: 'deny-fever', state: 'locked', phase: 'deny', record: record('deny', 'fever', 'green', { name: '赵*六', temperatureC: 38.2 }) },
    { name: 'deny-no-code', state: 'locked', phase: 'deny', record: record('deny', 'no-code', null) },
    { name: 'pass-registered', state: 'open', phase: 'pass', record: record('pass', 'staff-registered', null, { temperatureC: 36.7 }) },
    { name: 'deny-expired', state: 'locked', phase: 'deny', record: record('deny', 'code-expired', null) },
    { name: 'staff-id-card-unanswered', state: 'staff', phase: 'staff', record: record('deny', 'id-lookup-failed', null) },
    { name: 'staff-thermometer', state: 'staff', phase: 'staff', record: record('deny', 'sensor-fault', 'green', { name: '钱*七' }) },
  ];
  for (const c of cases) {
    lane.enter('deciding');
    lane.decide(c.state, c.record);
    text = await shown(page, c.phase, c.record.event.id);
    bothLanguages(text, headlineOf(c.phase), c.name);
    bothLanguages(text, REASONS[c.record.event.reason as Reason], c.name);
    const name = c.record.credential?.gzhc?.maskedName;
    if (name) assert.ok(text.includes(name), `${c.name}: masked name`);
    if (c.record.event.temperatureC !== null) assert.ok(text.includes(`${c.record.event.temperatureC.toFixed(1)} °C`), `${c.name}: temperature`);
    assert.equal(await page.evaluate(() => document.body.dataset.colour), c.record.event.colour ?? 'none', `${c.name}: colour`);
    // Each verdict shows in its own colour.
    const band = await page.locator('#colour').evaluate((el) => getComputedStyle(el).backgroundColor);
    if (c.record.event.colour === 'green' && c.phase !== 'staff') assert.equal(band, 'rgb(27, 138, 58)', c.name);
    if (c.record.event.colour === 'red') assert.equal(band, 'rgb(198, 40, 40)', c.name);
    if (c.record.event.colour === 'yellow') assert.equal(band, 'rgb(242, 183, 5)', c.name);
    await shoot(page, c.name);
  }
  text = await page.locator('body').innerText();
  assert.ok(text.includes('Staff mode'), 'staff mode banner in staff mode');

  // Back to idle: nothing of the last person stays on screen.
  lane.enter('idle');
  text = await shown(page, 'idle');
  assert.ok(!text.includes('钱*七'), 'the last person\'s name left on the idle screen');
  assert.ok(!/°C/.test(text), 'a temperature left on the idle screen');

  // The link goes degraded without a lane event: the periodic refresh shows it.
  degraded = true;
  await page.waitForSelector('#degraded', { state: 'visible', timeout: 10_000 });
  assert.match(await page.locator('#degraded').innerText(), /离线核验.*Offline/);
  lane.emit('fault', { kind: 'scanner', detail: 'unplugged', active: true });
  await page.waitForSelector('#faults', { state: 'visible', timeout: 10_000 });
  assert.match(await page.locator('#faults').innerText(), /设备故障.*Device fault: scanner/);
  await shoot(page, 'idle-degraded-fault');
  lane.emit('fault', { kind: 'scanner', detail: 'back', active: false });
  degraded = false;
  await page.waitForSelector('#faults', { state: 'hidden', timeout: 10_000 });
  await page.waitForSelector('#degraded', { state: 'hidden', timeout: 10_000 });

  lane.enter('emergency');
  bothLanguages(await shown(page, 'emergency'), headlineOf('emergency'), 'emergency');
  await shoot(page, 'emergency');

  // The agent goes away: the page says so rather than keep a verdict up as if live.
  await server.stop();
  await page.waitForSelector('#disconnected', { state: 'visible', timeout: 10_000 });
  assert.match(await page.locator('#disconnected').innerText(), /屏幕与闸机断开.*Screen lost the gate/);
});

test('the screen follows a real lane live, and staff register a person without a code from the staff page', { timeout: 90_000 }, async (t: TestContext) => {
  if (!requireChromium(t)) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-screen-'));
  tempDirs.push(dir);
  const pin = '2468';
  const config = checkConfig({
    site: 'screen-site',
    lane: 'lane-2',
    timing: { relayPulseMs: 100, passageTimeoutMs: 3000, denyDisplayMs: 60_000, temperatureDeadlineMs: 500, repeatSuppressMs: 1000 },
    journal: { path: path.join(dir, 'journal.db'), sync: 'normal' },
    staff: { pinHash: await hashPin(pin) },
    screen: { port: 0 },
  });
  const sim = await createSimulatedLane(config, quiet);
  const { agent, wire, world } = sim;
  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    await sim.close();
  });
  await agent.start();
  await wire.scannerOpened();
  const url = agent.screenUrl!;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const screen = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await screen.goto(url);
  await shown(screen, 'idle');

  // A green code: the screen shows the pass with the masked name and the temperature.
  wire.setForehead({ ok: true, celsius: 36.4 });
  const passed = new Promise<DecisionRecord>((resolve) => agent.lane.once('decision', resolve));
  wire.presentCode(world.platform.issue({ colour: 'green', maskedName: '孙*八' }).code, 'scanner');
  const pass = await passed;
  let text = await shown(screen, 'pass', pass.event.id);
  assert.ok(text.includes('孙*八') && text.includes('36.4 °C'), text);
  await wire.walkThrough();
  await shown(screen, 'idle');

  // A yellow code: refused, told to report.
  const refused = new Promise<DecisionRecord>((resolve) => agent.lane.once('decision', resolve));
  wire.presentCode(world.platform.issue({ colour: 'yellow', maskedName: '周*九' }).code, 'scanner');
  text = await shown(screen, 'deny', (await refused).event.id);
  bothLanguages(text, REASONS.yellow, 'yellow live');
  await agent.lane.remoteLock();
  await shown(screen, 'idle');

  // Staff: a wrong PIN is refused on the page; the right one opens the desk.
  const staff = await browser.newPage();
  await staff.goto(`${url}/staff`);
  await staff.fill('#pin', '0000');
  await staff.click('#sign-in button[type=submit]');
  await staff.waitForSelector('#error', { state: 'visible' });
  assert.match(await staff.locator('#error').innerText(), /PIN错误 · Wrong PIN/);
  await staff.fill('#pin', pin);
  await staff.click('#sign-in button[type=submit]');
  await staff.waitForSelector('#desk', { state: 'visible' });
  await shoot(staff, 'staff-desk');

  // The person has no code: staff press "No code"; the screen refuses and the registration form appears.
  await staff.click('#no-code');
  text = await shown(screen, 'deny');
  bothLanguages(text, REASONS['no-code'], 'no code live');
  await staff.waitForSelector('#register', { state: 'visible' });

  // A wrong check character: refused on the staff page, nothing decided, the form kept for correction.
  const nationalId = madeUpNationalId('44030419850312001');
  const wrong = nationalId.slice(0, 17) + (nationalId.endsWith('0') ? '1' : '0');
  const decisions = agent.journal.count();
  await staff.fill('#name', '郑十一');
  await staff.fill('#national-id', wrong);
  await staff.fill('#phone', '13912345678');
  await staff.click('#register button[type=submit]');
  await staff.waitForSelector('#error', { state: 'visible' });
  const error = await staff.locator('#error').innerText();
  assert.match(error, /校验位/);
  assert.match(error, /check character/);
  assert.ok(!error.includes(wrong), 'the number is echoed back');
  assert.equal(agent.journal.count(), decisions, 'a decision for a refused registration');
  await shoot(staff, 'staff-refused');

  // Corrected: the person passes on the sensor's temperature and the screen says to apply for a code.
  wire.setForehead({ ok: true, celsius: 36.8 });
  await staff.fill('#national-id', nationalId);
  const registered = new Promise<DecisionRecord>((resolve) => agent.lane.once('decision', resolve));
  await staff.click('#register button[type=submit]');
  const made = await registered;
  assert.equal(made.event.reason, 'staff-registered');
  text = await shown(screen, 'pass', made.event.id);
  bothLanguages(text, REASONS['staff-registered'], 'registered live');
  assert.ok(text.includes('36.8 °C'));
  assert.ok(!text.includes('郑十一') && !text.includes(nationalId), 'personal details on the public screen');
  await staff.waitForSelector('#notice', { state: 'visible' });
  assert.equal(await staff.inputValue('#national-id'), '', 'the form kept the ID number after the registration');
  await wire.walkThrough();
  await shown(screen, 'idle');

  // A red code: held; staff release it from the page.
  const held = new Promise<DecisionRecord>((resolve) => agent.lane.once('decision', resolve));
  wire.presentCode(world.platform.issue({ colour: 'red', maskedName: '吴*二' }).code, 'scanner');
  bothLanguages(await shown(screen, 'hold', (await held).event.id), REASONS.red, 'red live');
  await staff.waitForFunction(() => !(document.getElementById('release') as HTMLButtonElement).disabled, undefined, { timeout: 10_000 });
  await staff.click('#release');
  await shown(screen, 'idle');

  // The fire alarm: the screen says the gate is open.
  wire.setFireAlarm(true);
  await shown(screen, 'emergency');
  wire.setFireAlarm(false);
  await shown(screen, 'idle');

  // Signed out: actions are refused.
  await staff.click('#sign-out');
  await staff.waitForSelector('#sign-in', { state: 'visible' });
  const after = await staff.evaluate(async () => (await fetch('/staff/no-code', { method: 'POST' })).status);
  assert.equal(after, 401);
  await until('the lane idle at the end', () => agent.lane.state === 'idle');
});

test("the kiosk's page keeps its stream through a flood of other streams, and takes a fresh key when the agent restarts", { timeout: 60_000 }, async (t: TestContext) => {
  if (!requireChromium(t)) return;
  const lane = new ScriptedLane();
  const model = new ScreenModel(lane);
  model.start();
  const options = { host: '127.0.0.1', port: 0, model, desk: lane, pinHash: null, staffSessionMinutes: 5, site: 'screen-site', lane: 'lane-1', logger: quiet };
  let server = new ScreenServer(options);
  const url = await server.start();
  const controller = new AbortController();
  const browser = await launchChromium();
  t.after(async () => {
    controller.abort();
    await browser.close();
    await server.stop();
  });
  // Twenty streams from a script on the gate, without the key: more than the server keeps for such clients.
  const flood = async (): Promise<number[]> => {
    const responses = await Promise.all(Array.from({ length: 20 }, () => fetch(`${url}/events`, { signal: controller.signal })));
    return responses.map((r) => r.status);
  };
  assert.ok((await flood()).includes(503), 'the flood did not fill the streams without the key');

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(url);
  await shown(page, 'idle');
  lane.enter('measuring');
  await shown(page, 'measuring');

  // The agent restarts on the same port, and the flood is back: the page's old key is refused, it fetches
  // the new one, and follows the lane again in the stream kept for it.
  await server.stop();
  await page.waitForSelector('#disconnected', { state: 'visible', timeout: 10_000 });
  server = new ScreenServer({ ...options, port: Number(new URL(url).port) });
  await server.start();
  assert.ok((await flood()).includes(503), 'the flood after the restart did not fill the streams without the key');
  lane.enter('reading');
  await shown(page, 'reading');
  await page.waitForSelector('#disconnected', { state: 'hidden', timeout: 10_000 });
  lane.enter('idle');
  await shown(page, 'idle');
});
