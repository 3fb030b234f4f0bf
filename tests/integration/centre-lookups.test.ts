/**
 * The centre's look-ups against a real Mosquitto: a gate's request on its
 * lane's lookup/request is answered on lookup/reply from the store, signed
 * (verified here as the gate verifies it), printed codes by subject and ID
 * cards by keyed hash, unknown as colour null; a request past its deadline
 * is not answered; a flood against a slow store stays within the concurrency
 * and queue bounds, the rest dropped and counted, and what was queued is
 * answered once the store is back; a request that is not one is refused and
 * the next is answered.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { LookupResponder, type LookupResponderOptions } from '../../centre/lookups/lookup-responder.js';
import type { CentreStore, StatusRow } from '../../centre/store/store.js';
import type { LookupReplyMessage, LookupRequestMessage } from '../../protocol/contract.js';
import { openLeafMessage, messageSigner } from '../../protocol/signed-message.js';
import { laneTopic } from '../../protocol/topics.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { openTestCentreStore } from '../support/centre-store.js';
import { requireMosquitto, startMosquitto } from '../support/mosquitto.js';
import { until } from '../support/wait.js';

const BASE = 'hc/v1';
const SITE = 's1';
const LANE = 'l1';
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const EFFECTIVE = Date.parse('2026-03-02T08:00:00Z');

interface Rig {
  store: CentreStore;
  responder: LookupResponder;
  gate: MqttClient;
  replies: Map<string, LookupReplyMessage>;
  /** Sends a request as a gate would; returns its correlation id. */
  ask: (kind: LookupRequestMessage['kind'], key: string, deadline?: number) => Promise<string>;
}

async function rig(t: TestContext, options: Partial<LookupResponderOptions> & { wrap?: (store: CentreStore) => CentreStore } = {}): Promise<Rig | null> {
  if (!requireMosquitto(t)) return null;
  // The flood must reach the centre whole: Mosquitto would drop what it queues to a busy client past 1000.
  const broker = await startMosquitto({ extra: 'max_queued_messages 0' });
  t.after(() => broker.stop());
  const { store } = await openTestCentreStore(t);
  await store.applyBatch(
    {
      site: SITE,
      batchId: 'b1',
      client: 'test',
      digest: 'd1',
      changes: [
        { subject: 'known-red', colour: 'red', effectiveAt: EFFECTIVE, reason: 'contact', idHash: 'hash-of-red' },
        { subject: 'known-green', colour: 'green', effectiveAt: EFFECTIVE + 1 },
      ],
    },
    Date.now(),
  );
  const key = await createSignerCertificate({ subject: 'CN=Test centre, O=Test, C=CN' });
  const keys = new TrustStore();
  keys.add(key.certificate, 'test centre');
  const centre = await mqtt.connectAsync(broker.url, { clientId: `centre-${randomUUID().slice(0, 8)}`, protocolVersion: 5 });
  t.after(() => centre.endAsync(true));
  const { wrap, ...rest } = options;
  const responder = new LookupResponder({
    store: wrap ? wrap(store) : store,
    client: centre,
    serves: (site) => site === SITE,
    signer: () => messageSigner(key),
    baseTopic: BASE,
    logger,
    ...rest,
  });
  await responder.start();
  t.after(() => responder.stop());
  const gate = await mqtt.connectAsync(broker.url, { clientId: `gate-${randomUUID().slice(0, 8)}`, protocolVersion: 5 });
  t.after(() => gate.endAsync(true));
  const replies = new Map<string, LookupReplyMessage>();
  gate.on('message', (_topic, payload) => {
    const reply = openLeafMessage(payload, 'lookup/reply', keys);
    assert.ok(!replies.has(reply.correlationId), 'one reply per request');
    replies.set(reply.correlationId, reply);
  });
  await gate.subscribeAsync(laneTopic(BASE, SITE, LANE, 'lookup/reply'), { qos: 1 });
  const ask: Rig['ask'] = async (kind, lookupKey, deadline = Date.now() + 10_000) => {
    const request: LookupRequestMessage = { correlationId: randomUUID(), time: new Date().toISOString(), deadline, site: SITE, lane: LANE, kind, key: lookupKey };
    await gate.publishAsync(laneTopic(BASE, SITE, LANE, 'lookup/request'), JSON.stringify(request), { qos: 1 });
    return request.correlationId;
  };
  return { store, responder, gate, replies, ask };
}

test('look-ups are answered from the store, signed; unknown is colour null', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const red = await r.ask('printed-code', 'known-red');
  const green = await r.ask('printed-code', 'known-green');
  const unknown = await r.ask('printed-code', 'never-pushed');
  const card = await r.ask('id-hash', 'hash-of-red');
  const unknownCard = await r.ask('id-hash', 'hash-of-nobody');
  await until('five replies', () => r.replies.size === 5 && r.responder.counters.answered === 5);
  assert.equal(r.replies.get(red)!.colour, 'red');
  assert.equal(r.replies.get(red)!.effectiveAt, EFFECTIVE);
  assert.equal(r.replies.get(red)!.lane, LANE);
  assert.equal(r.replies.get(green)!.colour, 'green');
  assert.equal(r.replies.get(green)!.effectiveAt, EFFECTIVE + 1);
  assert.equal(r.replies.get(unknown)!.colour, null);
  assert.equal(r.replies.get(unknown)!.effectiveAt, undefined);
  assert.equal(r.replies.get(card)!.colour, 'red', 'an ID card by its keyed hash');
  assert.equal(r.replies.get(unknownCard)!.colour, null);
  assert.ok(!('reason' in r.replies.get(red)!), 'the reason never leaves the centre');
  assert.deepEqual({ answered: r.responder.counters.answered, unknown: r.responder.counters.unknown }, { answered: 5, unknown: 2 });
});

test('a request past its deadline is not answered', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const late = await r.ask('printed-code', 'known-red', Date.now() - 1);
  await until('the late request counted', () => r.responder.counters.expired === 1);
  const fresh = await r.ask('printed-code', 'known-red');
  await until('the fresh one answered', () => r.replies.has(fresh));
  assert.equal(r.replies.has(late), false, 'no reply to the late request');
});

test('a request that is not one is refused, and the next is answered', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const topic = laneTopic(BASE, SITE, LANE, 'lookup/request');
  await r.gate.publishAsync(topic, 'not json', { qos: 1 });
  await r.gate.publishAsync(topic, JSON.stringify({ correlationId: randomUUID(), kind: 'printed-code' }), { qos: 1 });
  await r.gate.publishAsync(laneTopic(BASE, 'other-site', LANE, 'lookup/request'), JSON.stringify({ correlationId: randomUUID() }), { qos: 1 });
  await r.gate.publishAsync(topic, Buffer.alloc(100_000, 0x20), { qos: 1 });
  await until('four refused', () => r.responder.counters.invalid === 4);
  const id = await r.ask('printed-code', 'known-green');
  await until('the next answered', () => r.replies.has(id));
  assert.equal(r.replies.size, 1);
});

test('a flood against a slow store stays within the bounds; what was queued is answered', async (t) => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let inStore = 0;
  let maxInStore = 0;
  const slow = (store: CentreStore): CentreStore =>
    Object.assign(Object.create(store) as CentreStore, {
      status: async (site: string, subject: string): Promise<StatusRow | null> => {
        inStore++;
        maxInStore = Math.max(maxInStore, inStore);
        await held;
        inStore--;
        return store.status(site, subject);
      },
    });
  const r = await rig(t, { wrap: slow, concurrency: 4, maxQueued: 50 });
  if (!r) return;
  const flood = 1000;
  const ids = await Promise.all(Array.from({ length: flood }, () => r.ask('printed-code', 'known-red')));
  await until('the flood taken in', () => r.responder.counters.dropped === flood - 4 - 50, 20_000);
  assert.deepEqual(r.responder.load, { active: 4, queued: 50 });
  assert.ok(r.responder.highWater <= 50, `at most 50 waited (${r.responder.highWater})`);
  assert.equal(maxInStore, 4, 'at most 4 asked the store at once');
  release();
  // The count goes up at the broker's PUBACK, which may come after the gate has the reply.
  await until('what was taken answered', () => r.replies.size === 54 && r.responder.counters.answered === 54, 10_000);
  assert.ok(ids.slice(0, 54).every((id) => r.replies.has(id)), 'the first ones in were the ones answered');
  assert.equal(maxInStore, 4);
});
