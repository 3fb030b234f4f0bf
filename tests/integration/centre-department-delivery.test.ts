/**
 * The centre's deliverer against a real HTTPS department webhook started
 * here: down, slow beyond the timeout, 500, then back; every delivery arrives,
 * each accepted once after dedupe by X-Delivery-Id, signatures valid, bodies
 * as the gate sent them; a restart mid-retry loses nothing (the state is in
 * the store); the overdue alarm fires for a late alert and not for a delivered
 * one; redirects are not followed and a huge error answer is not read whole.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Deliverer, type AlarmEvent } from '../../centre/department/deliverer.js';
import { departmentSettings } from '../../centre/department/settings.js';
import type { CentreDepartmentConfig } from '../../protocol/config/centre-schema.js';
import type { DeliveryKind } from '../../centre/store/store.js';
import type { DepartmentStore } from '../../centre/department/department-store.js';
import { startDepartmentReceiver, type DepartmentReceiver } from '../support/department-receiver.js';
import { tempStore } from '../support/department-store.js';
import { until } from '../support/wait.js';

const quiet = pino({ level: 'silent' });
/** The key as the secret file holds it (text; the centre trims the newline). */
const SECRET = Buffer.from(randomBytes(32).toString('base64url'), 'utf8');

function alertBody(id: string): string {
  return JSON.stringify({ id, eventId: randomUUID(), time: new Date().toISOString(), site: 's1', lane: 'l1', subject: 'subj-1', colour: 'red', decidedBy: 'pushed-status' });
}

/** A sealed registration's text, with odd spacing a re-serialisation would lose: it must arrive byte for byte. */
function registrationBody(id: string): string {
  return `{"id":"${id}",  "v":1,"kid":"a2lk","eventId":"${randomUUID()}","site":"s1","lane":"l1","time":"${new Date().toISOString()}","epk":"ZXBr","salt":"c2FsdA","nonce":"bm9uY2U","ct":"Y3Q\u00e9","tag":"dGFn"}`;
}

async function enqueue(store: DepartmentStore, kind: DeliveryKind, at = Date.now()): Promise<{ id: string; body: string }> {
  const id = randomUUID();
  const body = kind === 'alert' ? alertBody(id) : registrationBody(id);
  assert.equal(await store.enqueueDelivery({ id, kind, site: 's1', lane: 'l1', body, receivedAt: at }), true);
  return { id, body };
}

async function receiver(t: TestContext): Promise<DepartmentReceiver> {
  const r = await startDepartmentReceiver(SECRET);
  t.after(() => r.close());
  return r;
}

function deliverer(t: TestContext, store: DepartmentStore, r: DepartmentReceiver, config: Record<string, unknown> = {}, logger = quiet): Deliverer {
  const dir = mkdtempSync(join(tmpdir(), 'centre-department-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'secret'), SECRET.toString('utf8') + '\n', { mode: 0o600 });
  writeFileSync(join(dir, 'ca.pem'), r.caPem);
  const department: CentreDepartmentConfig = {
    url: r.url, secretFile: join(dir, 'secret'), ca: join(dir, 'ca.pem'), timeoutMs: 300, firstRetryMs: 20, maxRetryMs: 200, alarmAfterSeconds: 60, ...config,
  };
  const d = new Deliverer({ store, config: department, settings: departmentSettings(department), logger, concurrency: 2, pollMs: 20 });
  t.after(() => d.stop());
  return d;
}

test('down, slow, 500, then back: every delivery arrives, each accepted once, signed, byte for byte', async (t) => {
  const { store } = await tempStore(t)();
  const r = await receiver(t);
  await r.down();
  const sent = [await enqueue(store, 'alert'), await enqueue(store, 'alert'), await enqueue(store, 'registration'), await enqueue(store, 'alert')];
  const d = deliverer(t, store, r);
  const errors: string[] = [];
  d.on('attempt-failed', (e) => errors.push(e.error));
  d.start();

  await until('attempts refused while the department is down', () => errors.filter((e) => /ECONNREFUSED/.test(e)).length >= 4);
  r.mode = 'slow';
  r.slowMs = 2_000;
  await r.up();
  await until('an attempt timed out', () => errors.some((e) => /no answer within 300 ms/.test(e)));
  r.mode = 'fail';
  await until('an attempt answered 500', () => errors.some((e) => /^HTTP 500/.test(e)));
  r.mode = 'ok';
  await until('every delivery delivered', async () => (await store.deliveries({ state: 'pending', limit: 10 })).length === 0, 15_000);

  assert.deepEqual([...r.accepted.keys()].sort(), sent.map((s) => s.id).sort());
  for (const s of sent) assert.ok(r.accepted.get(s.id)!.equals(Buffer.from(s.body, 'utf8')), `body of ${s.id} arrived as sent`);
  assert.ok(r.requests.every((q) => q.check.ok), 'every request carried a valid signature');
  // The slow phase: the department got some twice (at least once); dedupe by X-Delivery-Id made it once.
  assert.ok(r.requests.length > sent.length);
  const kinds = new Map(r.requests.map((q) => [q.id, q.kind]));
  assert.equal(kinds.get(sent[2]!.id), 'registration');
  assert.equal(kinds.get(sent[0]!.id), 'alert');
  for (const s of sent) {
    const row = (await store.delivery(s.id))!;
    assert.equal(row.state, 'delivered');
    assert.ok(row.attempts >= 2, `${s.id} took retries (${row.attempts})`);
  }
  const status = await d.status();
  assert.equal(status.pending, 0);
  assert.equal(status.oldestPendingAgeMs, null);
  assert.equal(status.delivered, sent.length);
  assert.ok(status.failedAttempts >= 4);
});

test('a restart mid-retry loses nothing: the next deliverer goes on from the store', async (t) => {
  const open = tempStore(t);
  const first = await open();
  const r = await receiver(t);
  r.mode = 'fail';
  const sent = [await enqueue(first.store, 'alert'), await enqueue(first.store, 'registration'), await enqueue(first.store, 'alert')];
  const before = deliverer(t, first.store, r, { firstRetryMs: 50, maxRetryMs: 100 });
  before.start();
  await until('each failed at least once', async () => (await first.store.deliveries({ state: 'pending', limit: 10 })).every((x) => x.attempts >= 1));
  await before.stop();
  await first.close();

  const second = await open();
  const pending = await second.store.deliveries({ state: 'pending', limit: 10 });
  assert.equal(pending.length, sent.length, 'all still pending after the restart');
  assert.ok(pending.every((x) => x.attempts >= 1 && x.lastError !== null && /HTTP 500/.test(x.lastError)));
  r.mode = 'ok';
  const after = deliverer(t, second.store, r);
  const delivered: string[] = [];
  after.on('delivered', (e) => delivered.push(e.delivery.id));
  after.start();
  await until('all delivered after the restart', () => delivered.length === sent.length);
  assert.deepEqual([...r.accepted.keys()].sort(), sent.map((s) => s.id).sort());
  assert.deepEqual(delivered.sort(), sent.map((s) => s.id).sort());
});

test('the alarm fires for an alert not delivered in time, and not for one delivered', async (t) => {
  const { store } = await tempStore(t)();
  const r = await receiver(t);
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }));
  const d = deliverer(t, store, r, { alarmAfterSeconds: 1, firstRetryMs: 50, maxRetryMs: 100 }, logger);
  const alarms: AlarmEvent[] = [];
  d.on('alarm', (a) => alarms.push(a));
  const late = await enqueue(store, 'alert');
  r.modeFor.set(late.id, 'fail');
  const onTime = await enqueue(store, 'alert');
  d.start();
  await until('the late alert alarmed', () => alarms.length >= 1, 10_000);
  assert.deepEqual(alarms.map((a) => a.delivery.id), [late.id]);
  assert.ok(alarms[0]!.ageMs >= 1_000);
  assert.ok((await store.delivery(late.id))!.alarmedAt !== null);
  const delivered = (await store.delivery(onTime.id))!;
  assert.equal(delivered.state, 'delivered');
  assert.equal(delivered.alarmedAt, null);
  assert.ok(lines.some((l) => l.includes('"alarm":"department-overdue"') && l.includes(late.id)), 'an error line names the late alert');
  const status = await d.status();
  assert.equal(status.pending, 1);
  assert.equal(status.alarmed, 1);
  assert.equal(status.alarmsRaised, 1);
  assert.ok(status.oldestPendingAgeMs! >= 1_000);
  // Raised once, not at every poll.
  await until('a few more failed attempts', async () => (await store.delivery(late.id))!.attempts >= (alarms[0]!.delivery.attempts + 3));
  assert.equal(alarms.length, 1);
  // Once it goes through, it is delivered like any other.
  r.modeFor.delete(late.id);
  await until('the late alert delivered', async () => (await store.delivery(late.id))!.state === 'delivered', 10_000);
  assert.equal((await d.status()).alarmed, 0);
});

test('a redirect is not followed and a huge error answer is not read whole', async (t) => {
  const { store } = await tempStore(t)();
  const r = await receiver(t);
  const redirected = await enqueue(store, 'alert');
  const huge = await enqueue(store, 'alert');
  r.modeFor.set(redirected.id, 'redirect');
  r.modeFor.set(huge.id, 'huge');
  const d = deliverer(t, store, r);
  d.start();
  await until('both failed', async () => ((await store.delivery(redirected.id))!.attempts >= 1) && (await store.delivery(huge.id))!.attempts >= 1);
  const a = (await store.delivery(redirected.id))!;
  assert.match(a.lastError!, /^HTTP 302 \(redirect to ".*\/elsewhere" not followed\)/);
  assert.equal(a.state, 'pending');
  assert.ok(r.requests.every((q) => q.path === '/hooks/centre'), 'nothing was sent where the redirect pointed');
  const b = (await store.delivery(huge.id))!;
  assert.match(b.lastError!, /^HTTP 500: x+$/);
  assert.ok(b.lastError!.length < 300, 'the error keeps an excerpt, not the answer');
});
