/**
 * The department intake on a real Mosquitto: alerts and sealed registrations
 * are stored before the PUBACK goes (watched on the client's outgoing
 * packets), a store that fails leaves the message unacknowledged and the
 * broker delivers it again after the reconnect, a redelivery is stored once,
 * the body is kept byte for byte, and malformed messages are dropped without
 * holding up the rest.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient, type Packet } from 'mqtt';
import { pino } from 'pino';
import { DepartmentIntake } from '../../centre/department/intake.js';
import type { DepartmentStore } from '../../centre/department/department-store.js';
import { requireMosquitto, startMosquitto, type MosquittoBroker } from '../support/mosquitto.js';
import { tempStore } from '../support/department-store.js';
import { until } from '../support/wait.js';

const quiet = pino({ level: 'silent' });
const BASE = 'hc/v1';

function alert(id = randomUUID(), lane = 'l1'): string {
  return JSON.stringify({ id, eventId: randomUUID(), time: new Date().toISOString(), site: 's1', lane, subject: 'subj-9', colour: 'red', decidedBy: 'pushed-status' });
}

async function broker(t: TestContext): Promise<MosquittoBroker | null> {
  if (!requireMosquitto(t)) return null;
  const b = await startMosquitto();
  t.after(() => b.stop());
  return b;
}

/**
 * The centre's side: a persistent session, so what is not acknowledged comes
 * again. Hooked (`beforeConnect`) before it connects: the broker resends a
 * session's unacknowledged messages at once, before any later hook could see them.
 */
async function centreClient(t: TestContext, b: MosquittoBroker, clientId = `centre-${randomUUID().slice(0, 8)}`, beforeConnect?: (client: MqttClient) => void): Promise<MqttClient> {
  const client = mqtt.connect(b.url, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 100, manualConnect: true });
  t.after(() => client.endAsync(true));
  beforeConnect?.(client);
  const connected = new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  client.connect();
  await connected;
  return client;
}

async function gate(t: TestContext, b: MosquittoBroker): Promise<MqttClient> {
  const client = await mqtt.connectAsync(b.url, { clientId: `gate-${randomUUID().slice(0, 8)}`, protocolVersion: 5 });
  t.after(() => client.endAsync(true));
  return client;
}

function intake(t: TestContext, client: MqttClient, store: DepartmentStore, holdMs = 5_000): DepartmentIntake {
  const i = new DepartmentIntake({ client, store, baseTopic: BASE, logger: quiet, holdMs });
  i.start();
  t.after(() => i.stop());
  return i;
}

async function subscribed(client: MqttClient): Promise<void> {
  // The intake subscribes on start; a second subscription of the same topics resolves once the first is in place.
  await client.subscribeAsync([`${BASE}/+/+/alert`, `${BASE}/+/+/registration`], { qos: 1 });
}

test('stored before the PUBACK: none goes while the store is busy, it goes after', async (t) => {
  const b = await broker(t);
  if (!b) return;
  const { store } = await tempStore(t)();
  const events: string[] = [];
  let release!: () => void;
  const gateOpen = new Promise<void>((resolve) => (release = resolve));
  const slow: DepartmentStore = {
    ...store,
    enqueueDelivery: async (d) => {
      events.push('store called');
      await gateOpen;
      const isNew = await store.enqueueDelivery(d);
      events.push('stored');
      return isNew;
    },
  };
  const client = await centreClient(t, b);
  client.on('packetsend', (packet: Packet) => {
    if (packet.cmd === 'puback') events.push('puback');
  });
  const i = intake(t, client, slow);
  await subscribed(client);
  const g = await gate(t, b);
  const id = randomUUID();
  const body = alert(id);
  await g.publishAsync(`${BASE}/s1/l1/alert`, body, { qos: 1 });
  await until('the store called', () => events.includes('store called'));
  // Bounded look for a premature ack: the broker had the message, the client got it, and has not acknowledged it.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(events, ['store called']);
  release();
  await until('the PUBACK', () => events.includes('puback'));
  assert.deepEqual(events, ['store called', 'stored', 'puback']);
  const row = (await store.delivery(id))!;
  assert.equal(row.kind, 'alert');
  assert.equal(row.body, body);
  assert.equal(row.site, 's1');
  assert.equal(i.stats.stored, 1);
});

test('a store that fails: no PUBACK, the broker delivers it again after the reconnect, stored once', async (t) => {
  const b = await broker(t);
  if (!b) return;
  const { store } = await tempStore(t)();
  let failures = 0;
  let failing = true;
  const flaky: DepartmentStore = {
    ...store,
    enqueueDelivery: async (d) => {
      if (failing) {
        failures++;
        throw new Error('database is locked');
      }
      return store.enqueueDelivery(d);
    },
  };
  const client = await centreClient(t, b);
  let connects = 0;
  client.on('connect', () => connects++);
  let pubacks = 0;
  client.on('packetsend', (packet: Packet) => void (packet.cmd === 'puback' && pubacks++));
  const i = intake(t, client, flaky, 150);
  await subscribed(client);
  const held: string[] = [];
  i.on('held', (h) => held.push(h.error));
  const g = await gate(t, b);
  const id = randomUUID();
  await g.publishAsync(`${BASE}/s1/l1/alert`, alert(id), { qos: 1 });
  await until('the message held', () => held.length >= 1);
  assert.ok(failures >= 2, 'the store call was tried again while held');
  assert.equal(pubacks, 0);
  assert.equal(await store.delivery(id), null);
  failing = false;
  await until('redelivered after a reconnect and stored', async () => (await store.delivery(id)) !== null, 10_000);
  assert.ok(connects >= 1, 'the client reconnected');
  await until('acknowledged', () => pubacks === 1);
  assert.equal(i.stats.stored, 1);
  assert.ok(i.stats.notStored >= 1);
});

test('a redelivery by id is stored once; a restarted centre gets what it had not acknowledged', async (t) => {
  const b = await broker(t);
  if (!b) return;
  const { store } = await tempStore(t)();
  const clientId = `centre-${randomUUID().slice(0, 8)}`;
  const g = await gate(t, b);
  const id = randomUUID();
  const body = alert(id);

  // The same alert twice (a gate's outbox resends after a lost PUBACK): one delivery.
  const client = await centreClient(t, b, clientId);
  const first = intake(t, client, store);
  await subscribed(client);
  await g.publishAsync(`${BASE}/s1/l1/alert`, body, { qos: 1 });
  await g.publishAsync(`${BASE}/s1/l1/alert`, body, { qos: 1 });
  await until('stored and the duplicate seen', () => first.stats.stored === 1 && first.stats.duplicates === 1);

  // The centre dies with a message in hand and unacknowledged.
  let release!: () => void;
  const never = new Promise<void>((resolve) => (release = resolve));
  first.stop();
  const stuck = new DepartmentIntake({ client, store: { ...store, enqueueDelivery: async () => (await never, false) }, baseTopic: BASE, logger: quiet });
  stuck.start();
  const second = randomUUID();
  let arrived = false;
  client.on('message', (topic, payload) => void (payload.toString().includes(second) && (arrived = true)));
  await g.publishAsync(`${BASE}/s1/l1/alert`, alert(second), { qos: 1 });
  await until('the second alert reached the centre', () => arrived);
  client.stream.destroy();
  await client.endAsync(true);
  stuck.stop();
  release();

  let after!: DepartmentIntake;
  await centreClient(t, b, clientId, (restarted) => {
    after = new DepartmentIntake({ client: restarted, store, baseTopic: BASE, logger: quiet });
    after.start();
    t.after(() => after.stop());
  });
  await until('the unacknowledged alert stored after the restart', async () => (await store.delivery(second)) !== null, 10_000);
  assert.equal((await store.delivery(id))!.body, body);
  assert.equal((await store.deliveries({ limit: 10 })).length, 2);
  assert.equal(after.stats.stored, 1);
});

test('a registration is kept byte for byte; malformed messages are dropped and do not hold up the rest', async (t) => {
  const b = await broker(t);
  if (!b) return;
  const { store } = await tempStore(t)();
  const client = await centreClient(t, b);
  const i = intake(t, client, store);
  const malformed: string[] = [];
  i.on('malformed', (m) => malformed.push(m.why));
  await subscribed(client);
  const g = await gate(t, b);
  const id = randomUUID();
  const registration = `{"id":"${id}",   "v":1,"kid":"a2lk","eventId":"${randomUUID()}","site":"s1","lane":"l2","time":"${new Date().toISOString()}","epk":"ZXBr","salt":"c2FsdA","nonce":"bm9uY2U","ct":"Y3Q","tag":"dGFn"}`;
  await g.publishAsync(`${BASE}/s1/l2/registration`, 'not json', { qos: 1 });
  await g.publishAsync(`${BASE}/s1/l2/registration`, Buffer.from([0x7b, 0xff, 0x7d]), { qos: 1 });
  await g.publishAsync(`${BASE}/s1/l1/alert`, alert(randomUUID(), 'l9'), { qos: 1 });
  await g.publishAsync(`${BASE}/s1/l1/alert`, JSON.stringify({ id: randomUUID() }), { qos: 1 });
  await g.publishAsync(`${BASE}/s1/l1/alert`, Buffer.alloc(70_000, 0x20), { qos: 1 });
  await g.publishAsync(`${BASE}/s1/l2/registration`, registration, { qos: 1 });
  await until('the registration stored', async () => (await store.delivery(id)) !== null);
  const row = (await store.delivery(id))!;
  assert.equal(row.kind, 'registration');
  assert.equal(row.lane, 'l2');
  assert.ok(Buffer.from(row.body, 'utf8').equals(Buffer.from(registration, 'utf8')), 'byte for byte');
  assert.equal(malformed.length, 5);
  assert.ok(malformed.includes('not UTF-8'));
  assert.ok(malformed.includes('site or lane differ from the topic'));
  assert.ok(malformed.some((why) => /larger than/.test(why)));
  assert.equal(i.stats.stored, 1);
});
