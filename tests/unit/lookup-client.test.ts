/** Online look-up: a signed reply by correlation id before the deadline, else null; never a wait when offline. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { conforms, type LookupReplyMessage, type LookupRequestMessage, type SecurityKind } from '../../protocol/contract.js';
import { laneMessage } from '../../edge-agent/link/lane-publish.js';
import { LookupClient } from '../../edge-agent/link/lookup-client.js';
import { type MessageSigner, messageSigner, signMessage } from '../../protocol/signed-message.js';
import { MessageError } from '../../protocol/message-error.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';

const SITE = 'mall';
const LANE = 'lane-1';
const BASE = 'hc/v1';

let keys: TrustStore;
let signer: MessageSigner;
let stranger: MessageSigner;

before(async () => {
  const centre = await createSignerCertificate({ subject: 'CN=Centre' });
  const other = await createSignerCertificate({ subject: 'CN=Other' });
  keys = new TrustStore();
  keys.add(centre.certificate);
  signer = messageSigner(centre);
  stranger = messageSigner(other);
});

/** A pino logger whose lines the test can read. */
function recordingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

function setup(options: { timeoutMs?: number; connected?: boolean; maxPending?: number } = {}) {
  const sent: Array<{ topic: string; request: LookupRequestMessage }> = [];
  const { logger, lines } = recordingLogger();
  const client = new LookupClient({
    keys,
    site: SITE,
    lane: LANE,
    timeoutMs: options.timeoutMs ?? 2000,
    logger,
    ...(options.maxPending ? { maxPending: options.maxPending } : {}),
    publish: (leaf, request) => {
      if (options.connected === false) return false;
      // As the link sends it: the topic from the leaf, the request as JSON.
      const { topic, payload } = laneMessage({ base: BASE, site: SITE, lane: LANE }, leaf, request);
      sent.push({ topic, request: JSON.parse(payload) as LookupRequestMessage });
      return true;
    },
  });
  return { client, sent, lines };
}

function reply(request: LookupRequestMessage, overrides: Partial<LookupReplyMessage> = {}, by: MessageSigner = signer): Buffer {
  const message: LookupReplyMessage = {
    type: 'lookup-reply',
    correlationId: request.correlationId,
    site: request.site,
    lane: request.lane,
    issuedAt: Date.now(),
    colour: 'red',
    effectiveAt: 1_700_000_000_000,
    ...overrides,
  };
  return Buffer.from(JSON.stringify(signMessage('lookup-reply', message, by)));
}

function refused(client: LookupClient, raw: Buffer, kind: SecurityKind): void {
  assert.throws(() => client.acceptReply(raw), (error: unknown) => {
    assert.ok(error instanceof MessageError, String(error));
    assert.equal(error.code, kind, error.message);
    return true;
  });
}

test('look-up: a request on the lane topic, answered by a signed reply in time', async () => {
  const { client, sent } = setup();
  const before = Date.now();
  const answer = client.lookup('printed-code', 'GZHC-PRINTED-0042');
  assert.equal(sent.length, 1);
  const { topic, request } = sent[0]!;
  assert.equal(topic, `${BASE}/${SITE}/${LANE}/lookup/request`);
  assert.ok(conforms('lookupRequest', request), JSON.stringify(request));
  assert.deepEqual([request.kind, request.key, request.site, request.lane], ['printed-code', 'GZHC-PRINTED-0042', SITE, LANE]);
  assert.ok(request.deadline >= before + 2000 && request.deadline <= Date.now() + 2000);

  assert.equal(client.acceptReply(reply(request)), true);
  assert.deepEqual(await answer, { colour: 'red', effectiveAt: 1_700_000_000_000 });
  assert.equal(client.pending, 0);
  // Answered once: the same reply again is a replay.
  refused(client, reply(request), 'replayed');
});

test('look-up: the centre not knowing the subject is an answer, not a timeout', async () => {
  const { client, sent } = setup();
  const answer = client.lookup('id-hash', 'b2c4e6f8a0');
  const message = reply(sent[0]!.request, { colour: null, effectiveAt: undefined });
  client.acceptReply(message);
  assert.deepEqual(await answer, { colour: null, effectiveAt: null });
});

test('look-up: no reply resolves null at the deadline', async () => {
  const { client } = setup({ timeoutMs: 50 });
  const started = performance.now();
  assert.equal(await client.lookup('printed-code', 'GZHC-PRINTED-0001'), null);
  const waited = performance.now() - started;
  assert.ok(waited >= 45 && waited < 1000, `waited ${waited} ms`);
  assert.equal(client.pending, 0);
});

test('look-up: offline resolves null at once and sends nothing', async () => {
  const { client, sent } = setup({ connected: false, timeoutMs: 5000 });
  const started = performance.now();
  assert.equal(await client.lookup('printed-code', 'GZHC-PRINTED-0001'), null);
  assert.ok(performance.now() - started < 100);
  assert.equal(sent.length, 0);
  assert.equal(client.pending, 0);
});

test('look-up: refused replies throw their kind and leave the request waiting', async () => {
  const { client, sent } = setup();
  const answer = client.lookup('printed-code', 'GZHC-PRINTED-0007');
  const request = sent[0]!.request;

  refused(client, reply({ ...request, correlationId: 'not-a-request-of-ours' }), 'replayed');
  refused(client, reply({ ...request, lane: 'lane-2' }), 'wrong-target');
  refused(client, reply({ ...request, site: 'station' }), 'wrong-target');
  refused(client, reply(request, {}, stranger), 'unknown-key');
  const envelope = JSON.parse(reply(request, { colour: 'green' }).toString()) as { payload: string };
  const forged = { ...envelope, payload: Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(envelope.payload, 'base64url').toString()), colour: 'red' })).toString('base64url') };
  refused(client, Buffer.from(JSON.stringify(forged)), 'bad-signature');
  refused(client, reply(request, { issuedAt: Date.now() - 60_000 }), 'stale');
  refused(client, Buffer.from(JSON.stringify({ type: 'lookup-reply', correlationId: request.correlationId })), 'unsigned');
  refused(client, Buffer.from('\x00garbage'), 'malformed');
  refused(client, Buffer.from(JSON.stringify({ pad: 'x'.repeat(20_000) })), 'oversized');
  const snapshot = signMessage('colour-snapshot', { type: 'colour-snapshot', site: SITE, version: 1, seq: 0, issuedAt: Date.now(), statuses: [] }, signer);
  refused(client, Buffer.from(JSON.stringify(snapshot)), 'wrong-type');
  refused(client, reply(request, { colour: 'purple' as 'red' }), 'schema');

  assert.equal(client.pending, 1);
  client.acceptReply(reply(request, { colour: 'green' }));
  assert.deepEqual(await answer, { colour: 'green', effectiveAt: 1_700_000_000_000 });
});

test('look-up: a reply after the deadline is dropped with a debug line, not a security event', async () => {
  const { client, sent, lines } = setup({ timeoutMs: 30 });
  const answer = client.lookup('printed-code', 'GZHC-PRINTED-0009');
  const request = sent[0]!.request;
  assert.equal(await answer, null);
  assert.equal(client.acceptReply(reply(request)), false);
  assert.ok(lines.some((line) => line.level === 20 && /after the deadline/.test(line.msg)));
});

test('look-up: a reply past the deadline before the timer fired still counts as late', async () => {
  let now = 1_000_000;
  const sent: LookupRequestMessage[] = [];
  const client = new LookupClient({
    keys, site: SITE, lane: LANE, timeoutMs: 5000, logger: pino({ level: 'silent' }), now: () => now,
    publish: (_leaf, request) => sent.push(request) > 0,
  });
  const answer = client.lookup('printed-code', 'GZHC-PRINTED-0010');
  now += 5001;
  assert.equal(client.acceptReply(reply(sent[0]!, { issuedAt: now })), false);
  assert.equal(await answer, null);
});

test('look-up: waiting requests are bounded, and stop() resolves them all with null', async () => {
  const { client, sent } = setup({ maxPending: 3, timeoutMs: 60_000 });
  const waiting = [1, 2, 3].map((n) => client.lookup('id-hash', `hash-${n}`));
  assert.equal(await client.lookup('id-hash', 'hash-4'), null, 'refused at once beyond the bound');
  assert.equal(sent.length, 3);
  client.stop();
  assert.deepEqual(await Promise.all(waiting), [null, null, null]);
  assert.equal(client.pending, 0);
  assert.equal(await client.lookup('id-hash', 'hash-5'), null);
  assert.equal(sent.length, 3, 'nothing asked after stop');
});

test('look-up: a key that is no valid subject is not asked', async () => {
  const { client, sent } = setup();
  assert.equal(await client.lookup('printed-code', 'has spaces'), null);
  assert.equal(sent.length, 0);
});
