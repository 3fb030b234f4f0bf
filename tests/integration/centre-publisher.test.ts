/**
 * The centre's publisher against a real Mosquitto and the gate's real
 * ColourSync (tests/support/colour-gate.ts): change messages applied at the
 * gate in seq order; a restarted publisher goes on from the store; a broker
 * killed mid-stream and started again on the same port loses nothing; a
 * baseline makes the gate resync to exactly the new list; heartbeats keep the
 * gate synced (and without them it degrades); a snapshot too large for the
 * gates is refused with an alarm.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Publisher, type PublisherAlarm } from '../../centre/publisher/publisher.js';
import type { CentreStore, ColourEntry } from '../../centre/store/store.js';
import type { CentrePublisherConfig } from '../../protocol/config/centre-schema.js';
import type { Colour } from '../../protocol/domain.js';
import { messageSigner, type MessageSigner } from '../../protocol/signed-message.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { startColourGate, type ColourGate } from '../support/colour-gate.js';
import { openTestCentreStore } from '../support/centre-store.js';
import { requireMosquitto, startMosquitto, type MosquittoBroker } from '../support/mosquitto.js';
import { until } from '../support/wait.js';

const BASE = 'hc/v1';
const SITE = 's1';
const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const CONFIG: CentrePublisherConfig = { heartbeatSeconds: 3600, snapshotDelayMs: 50, trustListCheckSeconds: 30, keepChanges: 10 };

interface Rig {
  broker: MosquittoBroker;
  store: CentreStore;
  /** Closes the store and opens its file again: what a restarted centre finds. */
  reopen: () => Promise<void>;
  signer: MessageSigner;
  keys: TrustStore;
  client: MqttClient;
  gate: ColourGate;
  publisher: (config?: Partial<CentrePublisherConfig>, extra?: { maxSnapshotBytes?: number }) => Publisher;
  /** Stores a batch as the API would, and wakes the publishers made so far. */
  push: (changes: Array<[subject: string, colour: Colour]>) => Promise<number>;
}

async function rig(t: TestContext, gateOptions: { maxSyncAgeSeconds?: number } = {}): Promise<Rig | null> {
  if (!requireMosquitto(t)) return null;
  const broker = await startMosquitto();
  t.after(() => broker.stop());
  const opened = await openTestCentreStore(t);
  const key = await createSignerCertificate({ subject: 'CN=Test centre, O=Test, C=CN' });
  const signer = messageSigner(key);
  const keys = new TrustStore();
  keys.add(key.certificate, 'test centre');
  const client = await mqtt.connectAsync(broker.url, { clientId: `centre-${randomUUID().slice(0, 8)}`, protocolVersion: 5, reconnectPeriod: 100 });
  t.after(() => client.endAsync(true));
  const gate = await startColourGate({ url: broker.url, base: BASE, site: SITE, keys, ...gateOptions });
  t.after(() => gate.stop());
  const publishers: Publisher[] = [];
  let batch = 0;
  const r: Rig = {
    broker,
    store: opened.store,
    reopen: async () => {
      r.store = await opened.reopen();
    },
    signer,
    keys,
    client,
    gate,
    publisher: (config = {}, extra = {}) => {
      const publisher = new Publisher({ store: r.store, client, sites: [SITE], signer: () => signer, config: { ...CONFIG, ...config }, baseTopic: BASE, logger, stopWaitMs: 1000, ...extra });
      publishers.push(publisher);
      t.after(() => publisher.stop());
      return publisher;
    },
    push: async (changes) => {
      const now = Date.now();
      const entries: ColourEntry[] = changes.map(([subject, colour]) => ({ subject, colour, effectiveAt: now }));
      const result = await r.store.applyBatch({ site: SITE, batchId: `b${++batch}`, client: 'test', digest: `d${batch}`, changes: entries }, now);
      for (const publisher of publishers) publisher.wake(SITE);
      return result.seq;
    },
  };
  return r;
}

const subjects = (n: number, prefix = 'sub'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

test('change messages reach the gate in seq order, each once, and a snapshot follows', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const publisher = r.publisher();
  publisher.start();
  // The first snapshot (empty, seq 0) gives the gate its start.
  await until('the first snapshot at the gate', () => r.gate.sync.lastSeq === 0);
  const seqs: number[] = [];
  for (const [i, subject] of subjects(40).entries()) seqs.push(await r.push([[subject, i % 3 === 0 ? 'red' : 'green']]));
  await until('40 changes at the gate', () => r.gate.sync.lastSeq === seqs.at(-1), 10_000);
  assert.deepEqual(r.gate.changeSeqs, seqs, 'every change applied, in seq order');
  assert.deepEqual(r.gate.refused, []);
  assert.equal(r.gate.sync.resyncPending, false);
  for (const [i, subject] of subjects(40).entries()) assert.equal(r.gate.colourOf(subject), i % 3 === 0 ? 'red' : 'green');
  // The gate may have the last message before its PUBACK reaches the publisher, which marks it then.
  await until('every change marked published', async () => (await r.store.site(SITE)).publishedSeq === seqs.at(-1));
  await until('a snapshot covering the changes', async () => (await r.store.site(SITE)).snapshotSeq === seqs.at(-1));
  // Covered change messages are pruned down to keepChanges (once the snapshot, marked first, is out).
  await until('covered change messages pruned', async () => (await r.store.changesAfter(SITE, 0, 1000)).length <= CONFIG.keepChanges);
});

test('owed change messages go out without waiting for each PUBACK; a page that fails midway is sent again from the first unacknowledged', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const publisher = r.publisher();
  publisher.start();
  await until('the first snapshot at the gate', () => r.gate.sync.lastSeq === 0);
  // The client as MQTT.js fails it when the connection closes under queued publishes: this one and every later
  // one of the page are refused (the broker never sees them); the next round, 0.5 s on, finds it well again.
  const publishAsync = r.client.publishAsync.bind(r.client);
  let calls = 0;
  let inFlight = 0;
  let mostInFlight = 0;
  let failing = false;
  r.client.publishAsync = ((topic: string, message: string, options: mqtt.IClientPublishOptions) => {
    if (topic.endsWith('colour/change') && ++calls === 8) {
      failing = true;
      setTimeout(() => (failing = false), 100);
    }
    if (failing) return Promise.reject(new Error('Connection closed'));
    inFlight++;
    mostInFlight = Math.max(mostInFlight, inFlight);
    return publishAsync(topic, message, options).finally(() => inFlight--);
  }) as typeof r.client.publishAsync;
  const markPublished = r.store.markPublished.bind(r.store);
  let marks = 0;
  r.store.markPublished = (site, seq) => {
    marks++;
    return markPublished(site, seq);
  };
  // Thirty batches stored before the publisher hears of them: one page.
  const now = Date.now();
  const names = subjects(30, 'p');
  for (const [i, subject] of names.entries()) {
    await r.store.applyBatch({ site: SITE, batchId: `p${i}`, client: 'test', digest: `p${i}`, changes: [{ subject, colour: 'red', effectiveAt: now }] }, now);
  }
  publisher.wake(SITE);
  await until('all thirty at the gate', () => r.gate.sync.lastSeq === 30, 10_000);
  await until('all thirty marked published', async () => (await r.store.site(SITE)).publishedSeq === 30);
  assert.deepEqual(r.gate.changeSeqs, Array.from({ length: 30 }, (_, i) => i + 1), 'each applied once, in seq order, none skipped');
  assert.deepEqual(r.gate.refused, []);
  assert.equal(r.gate.sync.resyncPending, false);
  assert.ok(publisher.counters.failures >= 1, 'the failed page was retried');
  assert.ok(mostInFlight > 1, `more than one change message awaited its PUBACK at once (${mostInFlight})`);
  assert.ok(mostInFlight <= 20, `no more in flight than Mosquitto's receive maximum (${mostInFlight})`);
  assert.ok(marks < 30, `published marked per page, not per message (${marks} marks)`);
  for (const subject of names) assert.equal(r.gate.colourOf(subject), 'red');
});

test('a restarted centre goes on from its store file: what was owed is sent, no seq is used twice', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const first = r.publisher();
  first.start();
  for (const subject of subjects(5, 'a')) await r.push([[subject, 'green']]);
  await until('the first five at the gate', () => r.gate.sync.lastSeq === 5);
  await first.stop();
  await r.reopen();
  // Committed while no publisher runs: owed.
  const owed = [await r.push([['b1', 'red']]), await r.push([['b2', 'yellow']])];
  const second = r.publisher();
  second.start();
  await until('the owed changes at the gate', () => r.gate.sync.lastSeq === owed.at(-1));
  const next = await r.push([['b3', 'red']]);
  await until('a new change at the gate', () => r.gate.sync.lastSeq === next);
  assert.deepEqual(r.gate.changeSeqs, [1, 2, 3, 4, 5, ...owed, next]);
  assert.equal(new Set(r.gate.changeSeqs).size, r.gate.changeSeqs.length, 'no seq reused');
  assert.deepEqual(r.gate.refused, [], 'nothing refused as replayed');
  assert.equal(r.gate.colourOf('b2'), 'yellow');
});

test('a broker killed mid-stream and started again on the same port: nothing is lost', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const publisher = r.publisher({ snapshotDelayMs: 20 });
  publisher.start();
  await until('the first snapshot at the gate', () => r.gate.sync.lastSeq === 0);
  const all = subjects(300, 'k');
  const colourAt = (i: number): Colour => (i % 2 ? 'red' : 'green');
  let last = 0;
  for (const [i, subject] of all.slice(0, 150).entries()) last = await r.push([[subject, colourAt(i)]]);
  await until('some changes at the gate', () => (r.gate.sync.lastSeq ?? 0) >= 20, 10_000);
  const atKill = (await r.store.site(SITE)).publishedSeq;
  await r.broker.stop('SIGKILL');
  // Committed while the broker is away: owed, and published once it is back.
  for (const [i, subject] of all.slice(150).entries()) last = await r.push([[subject, colourAt(150 + i)]]);
  await r.broker.start();
  assert.ok(atKill < last, `the broker went away mid-stream (published ${atKill} of ${last})`);
  await until('every change published', async () => (await r.store.site(SITE)).publishedSeq === last, 20_000);
  await until('the gate complete and in step', () => r.gate.sync.lastSeq !== null && r.gate.sync.lastSeq >= last && !r.gate.sync.resyncPending, 20_000);
  for (const [i, subject] of all.entries()) assert.equal(r.gate.colourOf(subject), colourAt(i), `${subject} at the gate`);
  const replayed = r.gate.refused.filter((x) => x.kind !== 'replayed');
  assert.deepEqual(replayed, [], 'nothing refused but as a replay');
  // The seqs the gate applied from change messages only ever grew.
  assert.deepEqual(r.gate.changeSeqs, [...r.gate.changeSeqs].sort((a, b) => a - b));
});

test('a baseline: the gate resyncs to exactly the new list', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const publisher = r.publisher();
  publisher.start();
  await r.push([['old1', 'red'], ['old2', 'green'], ['keep', 'green']]);
  await until('the first list at the gate', () => r.gate.colourOf('old1') === 'red');
  async function* rows(): AsyncIterable<ColourEntry[]> {
    const now = Date.now();
    yield [{ subject: 'keep', colour: 'red', effectiveAt: now }];
    yield [{ subject: 'new1', colour: 'yellow', effectiveAt: now }];
  }
  const baseline = await r.store.replaceBaseline({ site: SITE, batchId: 'base1', client: 'test', digest: 'base1' }, rows(), Date.now());
  publisher.wake(SITE);
  await until('the baseline at the gate', () => r.gate.sync.lastSeq === baseline.seq && r.gate.colourOf('new1') === 'yellow');
  assert.equal(r.gate.colourOf('old1'), undefined, 'a status the baseline dropped is gone');
  assert.equal(r.gate.colourOf('old2'), undefined);
  assert.equal(r.gate.colourOf('keep'), 'red');
  assert.ok(r.gate.applied.some((a) => a.via === 'snapshot' && a.seq === baseline.seq), 'applied from the snapshot at the baseline seq');
  assert.deepEqual(r.gate.refused, []);
  const after = await r.push([['new2', 'red']]);
  await until('a change after the baseline', () => r.gate.sync.lastSeq === after);
  assert.equal(r.gate.colourOf('new2'), 'red');
});

test('heartbeats keep the gate synced; without them it degrades', async (t) => {
  const r = await rig(t, { maxSyncAgeSeconds: 1 });
  if (!r) return;
  const publisher = r.publisher({ heartbeatSeconds: 0.2 });
  publisher.start();
  await r.push([['h1', 'green']]);
  await until('the change at the gate', () => r.gate.sync.lastSeq === 1);
  // Three times the gate's limit with no change: only heartbeats keep it in sync.
  await until('15 heartbeats at the gate', () => r.gate.heartbeats >= 15, 10_000);
  assert.equal(r.gate.sync.degraded, false);
  assert.ok((r.gate.sync.syncAgeMs() ?? Infinity) < 1000);
  assert.deepEqual(r.gate.refused, []);
  await publisher.stop();
  await until('the gate degraded without heartbeats', () => r.gate.sync.degraded, 5_000);
});

test('a snapshot larger than a gate reads is refused with an alarm, and the changes still go', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const publisher = r.publisher({}, { maxSnapshotBytes: 4096 });
  const alarms: PublisherAlarm[] = [];
  publisher.on('alarm', (alarm) => alarms.push(alarm));
  publisher.start();
  await until('the first snapshot at the gate', () => r.gate.sync.lastSeq === 0);
  const many = subjects(200, 'big');
  const seq = await r.push(many.map((s) => [s, 'red'] as [string, Colour]));
  await until('the change at the gate', () => r.gate.sync.lastSeq === seq);
  await until('the alarm', () => alarms.length > 0);
  assert.equal(alarms[0]!.code, 'snapshot-too-large');
  assert.equal(alarms[0]!.site, SITE);
  assert.ok(publisher.counters.snapshotsRefused >= 1);
  const state = await r.store.site(SITE);
  assert.equal(state.snapshotSeq, 0, 'no snapshot recorded past the refused one');
  assert.equal(r.gate.colourOf('big0199'), 'red');
});
