/**
 * The console's feed reads JSON from the broker as the gate does: nesting
 * past 32 levels, or an envelope or unverified colour change broader than
 * it can be, is dropped before it is parsed, a colour change whose JWS
 * is malformed (its protected header JSON null, say) is dropped naming why
 * rather than with a TypeError, and a number past what the store holds
 * (a decision seq of 1e21) is dropped as off-contract naming the field,
 * never handed to the store. Each counts as malformed; nothing is stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { checkConsoleConfig } from '../../protocol/config/console-config.js';
import { Feed } from '../../record/feed.js';
import type { SqlConsoleStore } from '../../record/sql-store.js';
import { openSqliteStore } from '../../record/sqlite-store.js';

const NOW = Date.parse('2025-06-15T08:30:00Z');

function decision(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: '0b6f7a52-6c1e-4f0a-9a51-2f0c2b1e9d47', seq: 1, time: new Date(NOW).toISOString(), site: 's', lane: 'a', verdict: 'pass', reason: 'green-normal',
    decidedBy: 'offline-code', subject: null, colour: 'green', temperatureC: 36.5, sensorFault: null, credential: null, decisionMs: 60, degraded: false, ...extra,
  };
}

async function feedOf(): Promise<{ feed: Feed; store: SqlConsoleStore; dropped: Array<{ topic: string; why: string }> }> {
  const store = await openSqliteStore({ path: ':memory:' });
  const feed = new Feed(checkConsoleConfig({}), store, pino({ level: 'silent' }));
  const dropped: Array<{ topic: string; why: string }> = [];
  feed.on('malformed', (m) => dropped.push(m));
  return { feed, store, dropped };
}

test('a lane message nested deeper than 32 levels is dropped before it is parsed, naming why', async () => {
  const { feed, store, dropped } = await feedOf();
  const deep = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
  feed.receive('hc/v1/s/a/decision', Buffer.from(deep));
  feed.receive('hc/v1/s/a/telemetry', Buffer.from(`{"time":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`));
  // Within the bound: parsed, then refused by the schema as before.
  feed.receive('hc/v1/s/a/decision', Buffer.from(JSON.stringify(decision({ extra: JSON.parse(`${'['.repeat(20)}${']'.repeat(20)}`) as unknown }))));
  await feed.settled();
  assert.deepEqual(dropped.map((d) => d.why.replace(/ \(at byte \d+\)/, '')), [
    'JSON nested deeper than 32 levels',
    'JSON nested deeper than 32 levels',
    'Decision event: (message) must NOT have additional properties',
  ]);
  assert.equal(feed.stats.malformed, 3);
  assert.deepEqual(await store.decisions(), []);
  await store.close();
});

test('a colour change nested two megabytes deep, with a malformed JWS or too broad, is dropped naming why (no centre certificate: unverified path)', async () => {
  const { feed, dropped } = await feedOf();
  const topic = 'hc/v1/s/colour/change';
  feed.receive(topic, Buffer.from(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`));
  feed.receive(topic, Buffer.from('{"protected":"bnVsbA","payload":"","signature":"AA"}'));
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'AAAAAAAAAAA', typ: 'colour-change' })).toString('base64url');
  const deepPayload = Buffer.from(`{"type":${'['.repeat(100)}${']'.repeat(100)}}`).toString('base64url');
  feed.receive(topic, Buffer.from(JSON.stringify({ protected: header, payload: deepPayload, signature: 'AA' })));
  // Shallow but broad: more values than the largest colour change holds (10,000 changes, four values each).
  const broadPayload = Buffer.from(`{"type":[${Array(50_000).fill('{}').join(',')}]}`).toString('base64url');
  feed.receive(topic, Buffer.from(JSON.stringify({ protected: header, payload: broadPayload, signature: 'AA' })));
  feed.receive(topic, Buffer.from(`{"protected":[${Array(500_000).fill('[]').join(',')}]}`));
  await feed.settled();
  assert.deepEqual(dropped.map((d) => d.why.replace(/ \(at byte \d+\)$/, '')), [
    'message nested deeper than 32 levels',
    'protected header is not a JSON object (null)',
    'payload nested deeper than 32 levels',
    'payload has more than 40016 values',
    'message has more than 1024 values',
  ]);
});

test('a decision seq of 1e21 is dropped as off-contract, naming seq, and never reaches the store', async () => {
  const { feed, store, dropped } = await feedOf();
  feed.receive('hc/v1/s/a/decision', Buffer.from(JSON.stringify(decision({ seq: 1e21 }))));
  feed.receive('hc/v1/s/a/decision', Buffer.from(JSON.stringify(decision({ id: '1b6f7a52-6c1e-4f0a-9a51-2f0c2b1e9d47', seq: 2 }))));
  await feed.settled();
  assert.deepEqual(dropped.map((d) => d.why), ['Decision event: seq must be <= 9007199254740991']);
  assert.equal(feed.stats.notStored, 0);
  assert.deepEqual((await store.decisions()).map((d) => d.seq), [2]);
  await store.close();
});
