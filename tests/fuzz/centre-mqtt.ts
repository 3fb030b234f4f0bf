/**
 * The centre's MQTT inputs, through their real receive paths on a client
 * connected to an embedded broker, over the real SQLite store: the look-up
 * requests (LookupResponder, the client's 'message' event it listens on) and
 * the department's intake of alerts and sealed registrations
 * (DepartmentIntake, the client's handleMessage hook MQTT.js awaits before
 * its PUBACK). Inputs are a topic, a payload and how many times it comes
 * (a flood, a redelivery): valid requests and messages built from their
 * schemas' fields, each field mutated, hostile topics, raw bytes.
 *
 * The shape, per message: it ends, within a bound, as answered (one signed
 * reply on the lane's lookup/reply, the store's colour or null), stored (the
 * body as sent, byte for byte) or a duplicate, or refused and counted; never
 * an error logged, a store failure, or a valid input refused; the responder's
 * queue within its bound. A topic not of the part is left alone.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { DepartmentIntake } from '../../centre/department/intake.js';
import { LookupResponder, type LookupCounters } from '../../centre/lookups/lookup-responder.js';
import { openSqliteCentreStore } from '../../centre/store/sqlite-store.js';
import type { CentreStore } from '../../centre/store/store.js';
import { conforms, type ContractTypes } from '../../protocol/contract.js';
import { DECIDED_BY } from '../../protocol/domain.js';
import { messageSigner, openLeafMessage } from '../../protocol/signed-message.js';
import { laneTopic, RESERVED_LANE_IDS } from '../../protocol/topics.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../simulator/broker.js';
import { messy, rawPayloads, usually, weird } from './json-arbitraries.js';
import { fuzzKey } from './keys.js';
import { errorLogger, type LoggedError } from './lane-rig.js';
import { mutatedBytes, mutatedText } from './mutate.js';
import { describeError, fromUtf8, ok, offShape, thrown, utf8, type Regression, type Rig, type Surface, type Verdict } from './surface.js';

const BASE = 'hc/v1';
const SITE = 'fuzz-site';
const OTHER_SITE = 'other-site';
const LANE = 'lane-1';
/** How long one input's messages have to end (answered, stored, refused) before the case is off its shape. */
const SETTLE_MS = 5_000;
/** The responder's queue in the rig: small, so a flood reaches the drop. */
const MAX_QUEUED = 100;
const CONCURRENCY = 4;

export interface MqttInput {
  topic: string;
  payload: Buffer;
  /** How many times the message comes: a flood (look-ups) or a redelivery (intake). */
  repeat: number;
}

const encode = (input: MqttInput): Uint8Array => utf8(JSON.stringify({ topic: input.topic, payload: input.payload.toString('base64'), repeat: input.repeat }));
const decode = (bytes: Uint8Array): MqttInput => {
  const o = JSON.parse(fromUtf8(bytes)) as { topic: string; payload: string; repeat: number };
  return { topic: o.topic, payload: Buffer.from(o.payload, 'base64'), repeat: o.repeat };
};

interface Common {
  dir: string;
  broker: EmbeddedBroker;
  store: CentreStore;
  client: MqttClient;
  logger: Logger;
  errors: LoggedError[];
  errorCount(): number;
  close(): Promise<void>;
}

async function common(name: string): Promise<Common> {
  const dir = mkdtempSync(join(tmpdir(), `gate-fuzz-${name}-`));
  const { logger, errors, errorCount } = errorLogger();
  const broker = await startEmbeddedBroker();
  const store = await openSqliteCentreStore({ path: join(dir, 'centre.db') });
  const client = await mqtt.connectAsync(broker.url, { clientId: `fuzz-${name}-${randomUUID().slice(0, 8)}`, protocolVersion: 4, reconnectPeriod: 100 });
  return {
    dir,
    broker,
    store,
    client,
    logger,
    errors,
    errorCount,
    close: async () => {
      await client.endAsync(true);
      await store.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits (in short steps, up to SETTLE_MS) until `done`; false when it never was. */
async function settle(done: () => boolean): Promise<boolean> {
  const until = Date.now() + SETTLE_MS;
  while (!done()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return true;
}

function parsedJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Hostile topics: wildcards, empty levels, reserved lane ids, other leaves, long ids, other bases. */
const HOSTILE_TOPICS = [
  '',
  'hc/v1',
  'hc/v1/',
  '#',
  'hc/v1/+/+/lookup/request',
  'hc/v1/#',
  `hc/v1//${LANE}/lookup/request`,
  `hc/v1/${SITE}//lookup/request`,
  `hc/v1/${SITE}/colour/lookup/request`,
  `hc/v1/${SITE}/centre/alert`,
  `hc/v1/${SITE}/${LANE}/lookup/request/extra`,
  `hc/v1/${SITE}/${LANE}/lookup`,
  `hc/v1/${SITE}/${LANE}/lookup/reply`,
  `hc/v1/${SITE}/${LANE}/status`,
  `hc/v1/${SITE}/${LANE}/alert/`,
  `hc/v2/${SITE}/${LANE}/alert`,
  `/hc/v1/${SITE}/${LANE}/alert`,
  `hc/v1/${'s'.repeat(65)}/${LANE}/registration`,
  `hc/v1/${SITE}/${'l'.repeat(65)}/registration`,
  `hc/v1/s\u0000/${LANE}/alert`,
  `hc/v1/中/${LANE}/lookup/request`,
  `hc/v1/${SITE}/${LANE}/registration\u0000`,
];

function topicArbitrary(good: fc.Arbitrary<string>, leaves: string[]): fc.Arbitrary<string> {
  const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
  return fc.oneof(
    { weight: 20, arbitrary: good },
    { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_TOPICS) },
    { weight: 1, arbitrary: fc.tuple(id, id, fc.constantFrom(...leaves)).map(([s, l, leaf]) => `${BASE}/${s}/${l}/${leaf}`) },
    { weight: 1, arbitrary: mutatedText(good, 'abcdefghijklmnopqrstuvwxyz0123456789/+#-_') },
  );
}

const repeatArbitrary = (rare: number[]): fc.Arbitrary<number> => fc.oneof({ weight: 40, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(...rare) });

/** Where a (site, lane) pair for a message goes: mostly the rig's lane; sometimes another site, one the centre does not serve, a reserved lane id. */
const place = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ site: SITE, lane: LANE }) },
  { weight: 2, arbitrary: fc.constant({ site: OTHER_SITE, lane: 'lane-2' }) },
  { weight: 1, arbitrary: fc.constantFrom({ site: 'not-served', lane: LANE }, { site: SITE, lane: 'colour' }, { site: SITE, lane: 'centre' }, { site: SITE.toUpperCase(), lane: LANE }) },
);

// ---------------------------------------------------------------- look-ups

/** What the rig's store holds: subject (and id hash) to colour. */
const KNOWN = [
  { subject: 'known-red', colour: 'red', idHash: 'hash-of-red' },
  { subject: 'known-green', colour: 'green', idHash: null },
  { subject: 'known-yellow', colour: 'yellow', idHash: 'hash-of-yellow' },
] as const;

function lookupArbitrary(seeds: MqttInput[]): fc.Arbitrary<MqttInput> {
  const keys = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...KNOWN.map((k) => k.subject), 'hash-of-red', 'hash-of-yellow', 'unknown-subject') },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'a'.repeat(128), 'a'.repeat(129), "known-red' OR '1'='1", 'known-red\u0000', '%', '_', 'known-re_', 'known-%', 'KNOWN-RED', '中文') },
    { weight: 1, arbitrary: weird },
  );
  const request = place.chain(({ site, lane }) =>
    fc
      .record({
        payload: messy(
          fc.record({
            correlationId: usually(fc.uuid(), fc.oneof(fc.constantFrom('short', 'a'.repeat(129), 'with space in it', '../../x'), weird)),
            time: usually(fc.constant(null).map(() => new Date().toISOString()), fc.oneof(fc.constantFrom('2024-13-01T00:00:00Z', 'yesterday', ''), weird)),
            deadline: usually(fc.integer({ min: 2_000, max: 30_000 }).map((d) => Date.now() + d), fc.oneof(fc.integer({ min: -60_000, max: 0 }).map((d) => Date.now() + d), fc.constantFrom(0, -1, 1e21, 2 ** 53, 253_402_300_800_000), weird), 6),
            site: usually(fc.constant(site), fc.constantFrom(OTHER_SITE, 'not-served', '', SITE.toUpperCase())),
            lane: usually(fc.constant(lane), fc.constantFrom('lane-2', '', 'colour')),
            kind: usually(fc.constantFrom('printed-code', 'id-hash'), fc.oneof(fc.constantFrom('id', 'PRINTED-CODE', ''), weird)),
            key: keys,
          }),
        ),
        text: fc.nat({ max: 29 }),
      })
      .map(({ payload, text }) => {
        const json = JSON.stringify(payload);
        // The same key twice (JSON.parse keeps the last), padding, a BOM.
        const body = text === 0 ? `{"site":"${OTHER_SITE}",${json.slice(1)}` : text === 1 ? ` ${json}\n` : text === 2 ? `\ufeff${json}` : json;
        return { topic: laneTopic(BASE, site, lane, 'lookup/request'), payload: Buffer.from(body) };
      }),
  );
  const good = fc.constant(laneTopic(BASE, SITE, LANE, 'lookup/request'));
  const message = fc.oneof(
    { weight: 12, arbitrary: request },
    { weight: 2, arbitrary: fc.record({ topic: topicArbitrary(good, ['lookup/request', 'alert', 'lookup/reply']), payload: fc.constantFrom(...seeds.map((s) => s.payload)) }) },
    { weight: 2, arbitrary: fc.record({ topic: good, payload: rawPayloads() }) },
    { weight: 1, arbitrary: fc.record({ topic: good, payload: fc.constantFrom(4096, 4097, 100_000).map((n) => Buffer.from(JSON.stringify({ key: 'x'.repeat(n) }))) }) },
    { weight: 2, arbitrary: fc.record({ topic: good, payload: mutatedText(fc.constantFrom(...seeds.map((s) => s.payload.toString('utf8'))), 'abcdef0123456789-:{}",').map((t) => Buffer.from(t)) }) },
    { weight: 1, arbitrary: fc.record({ topic: good, payload: mutatedBytes(fc.constantFrom(...seeds.map((s) => new Uint8Array(s.payload)))).map((b) => Buffer.from(b)) }) },
  );
  return fc.tuple(message, repeatArbitrary([20, 300, 1500])).map(([m, repeat]) => ({ ...m, repeat }));
}

function validRequest(key: string, kind: 'printed-code' | 'id-hash' = 'printed-code', deadlineIn = 10_000): MqttInput {
  const request: ContractTypes['lookupRequest'] = { correlationId: randomUUID(), time: new Date().toISOString(), deadline: Date.now() + deadlineIn, site: SITE, lane: LANE, kind, key };
  return { topic: laneTopic(BASE, SITE, LANE, 'lookup/request'), payload: Buffer.from(JSON.stringify(request)), repeat: 1 };
}

const COUNTER_NAMES = ['answered', 'expired', 'dropped', 'invalid', 'failed'] as const;

async function setupLookups(): Promise<Rig<MqttInput>> {
  const rig = await common('lookups');
  const now = Date.now() - 60_000;
  await rig.store.applyBatch(
    { site: SITE, batchId: 'fuzz-1', client: 'fuzz', digest: 'fuzz-1', changes: KNOWN.map((k, i) => ({ subject: k.subject, colour: k.colour, effectiveAt: now + i, ...(k.idHash ? { idHash: k.idHash } : {}) })) },
    Date.now(),
  );
  const key = await fuzzKey('centre', 'CN=Fuzz centre, O=Fuzz, C=CN');
  const keys = new TrustStore();
  keys.add(key.certificate, 'fuzz centre');
  const served = new Set([SITE, OTHER_SITE]);
  const responder = new LookupResponder({ store: rig.store, client: rig.client, serves: (site) => served.has(site), signer: () => messageSigner(key), baseTopic: BASE, logger: rig.logger, concurrency: CONCURRENCY, maxQueued: MAX_QUEUED });
  await responder.start();
  // The replies the responder sends, seen on their way to the broker.
  const replies: Array<{ topic: string; text: string }> = [];
  const client = rig.client as unknown as { publishAsync(topic: string, message: string | Buffer, options?: object): Promise<unknown> };
  const publishAsync = client.publishAsync.bind(client);
  client.publishAsync = (topic, message, options) => {
    replies.push({ topic, text: message.toString() });
    return publishAsync(topic, message, options);
  };
  const emitter = rig.client as unknown as { emit(event: 'message', topic: string, payload: Buffer, packet: object): boolean };
  const isRequestTopic = (topic: string): boolean => {
    const m = /^hc\/v1\/([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9_-]{1,64})\/lookup\/request$/.exec(topic);
    return m !== null && !RESERVED_LANE_IDS.has(m[2]!);
  };
  const colourOf = (site: unknown, kind: unknown, k: unknown): string | null => site !== SITE ? null : KNOWN.find((s) => (kind === 'id-hash' ? s.idHash === k : s.subject === k))?.colour ?? null;

  const run = async (input: MqttInput): Promise<Verdict> => {
    const before: LookupCounters = { ...responder.counters };
    const errorsBefore = rig.errorCount();
    replies.length = 0;
    const sentAt = Date.now();
    try {
      for (let i = 0; i < input.repeat; i++) emitter.emit('message', input.topic, input.payload, { cmd: 'publish', topic: input.topic, payload: input.payload, qos: 1, retain: false });
    } catch (error) {
      return thrown(`the responder's receive threw: ${describeError(error)}`);
    }
    const expected = isRequestTopic(input.topic) ? input.repeat : 0;
    const delta = (): Record<(typeof COUNTER_NAMES)[number], number> =>
      Object.fromEntries(COUNTER_NAMES.map((n) => [n, responder.counters[n] - before[n]])) as Record<(typeof COUNTER_NAMES)[number], number>;
    const total = (): number => COUNTER_NAMES.reduce((sum, n) => sum + delta()[n], 0);
    const settled = await settle(() => total() >= expected && responder.load.active === 0 && responder.load.queued === 0);
    const d = delta();
    const logged = rig.errors.slice(rig.errors.length - Math.min(rig.errors.length, rig.errorCount() - errorsBefore));
    if (logged.length > 0) return thrown(`logged as an error: ${logged[0]!.msg}${logged[0]!.err ? `: ${logged[0]!.err}` : ''}`);
    if (!settled) return offShape(`not every request ended within ${SETTLE_MS} ms: ${JSON.stringify(d)} of ${expected}, ${JSON.stringify(responder.load)}`);
    if (total() !== expected) return offShape(`${expected} requests, ${total()} counted: ${JSON.stringify(d)}`);
    if (d.failed > 0) return offShape(`${d.failed} look-ups failed (store or broker) with both working`);
    if (responder.highWater > MAX_QUEUED) return offShape(`the queue held ${responder.highWater}, more than maxQueued ${MAX_QUEUED}`);
    if (replies.length !== d.answered) return offShape(`${d.answered} answered, ${replies.length} replies published`);
    if (expected === 0) return replies.length === 0 ? ok('not a look-up topic: left alone') : offShape('a reply to a message on another topic');
    const request = parsedJson(input.payload) as Record<string, unknown> | undefined;
    for (const reply of replies) {
      let opened;
      try {
        opened = openLeafMessage(reply.text, 'lookup/reply', keys);
      } catch (error) {
        return offShape(`a reply that does not open: ${describeError(error)}`);
      }
      if (!request || typeof request !== 'object') return offShape('answered a payload that is not a JSON object');
      if (opened.correlationId !== request.correlationId) return offShape(`reply for ${opened.correlationId}, the request was ${String(request.correlationId)}`);
      if (reply.topic !== laneTopic(BASE, String(request.site), String(request.lane), 'lookup/reply')) return offShape(`reply on ${reply.topic}`);
      const colour = colourOf(request.site, request.kind, request.key);
      if (opened.colour !== colour) return offShape(`reply colour ${opened.colour} for ${String(request.kind)} ${JSON.stringify(request.key)}, the store holds ${colour}`);
    }
    // A request that is valid, for the lane it came on, at a site served, before its deadline, must be answered.
    const m = /^hc\/v1\/([^/]+)\/([^/]+)\//.exec(input.topic);
    const valid =
      input.repeat === 1 &&
      input.payload.length <= 4096 &&
      conforms('lookupRequest', request) &&
      served.has(request!.site as string) &&
      m !== null &&
      request!.site === m[1] &&
      request!.lane === m[2] &&
      (request!.deadline as number) > sentAt + 1_000;
    if (valid && d.answered !== 1) return offShape(`a valid request not answered: ${JSON.stringify(d)}`);
    const [outcome] = COUNTER_NAMES.filter((n) => d[n] > 0);
    return ok(input.repeat > 1 ? `flood: ${COUNTER_NAMES.filter((n) => d[n] > 0).join('+')}` : d.answered === 1 ? (replies[0] && JSON.parse(Buffer.from(JSON.parse(replies[0].text).payload, 'base64url').toString()).colour === null ? 'answered: unknown' : 'answered: known') : (outcome ?? 'none'));
  };

  const seeds = [validRequest('known-red'), validRequest('hash-of-yellow', 'id-hash'), validRequest('unknown-subject')];
  const regressions: Regression<MqttInput>[] = [
    { name: 'lookup-flood-1500', why: '1,500 valid requests at once: each answered or dropped and counted, the queue within maxQueued', input: { ...validRequest('known-green'), repeat: 1500 } },
    { name: 'lookup-deadline-passed', why: 'a request whose deadline has passed: not answered, counted as expired', input: validRequest('known-red', 'printed-code', -1_000) },
    { name: 'lookup-nested-100k', why: '100,000 nested arrays on the request topic: refused by size, counted', input: { topic: laneTopic(BASE, SITE, LANE, 'lookup/request'), payload: Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), repeat: 1 } },
  ];
  return {
    seeds,
    regressions,
    arbitrary: (passing) => lookupArbitrary([...seeds, ...passing]),
    run,
    // The JSON, the store's look-up, the signature and the broker's PUBACK: 50 ms, and 2 ms more per message of a flood.
    boundMs: (input) => 50 + 2 * input.repeat,
    retime: false,
    encode,
    decode,
    // Deadlines are times: generated close to when they run.
    batchSize: 16,
    close: async () => {
      await responder.stop();
      await rig.close();
    },
  };
}

// ---------------------------------------------------------------- department intake

const ISO = (): string => new Date().toISOString();
const messageId = (): string => `fuzz-${randomUUID()}`;
const b64 = (n: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: 1, maxLength: n }).map((b) => Buffer.from(b).toString('base64url'));

function intakeArbitrary(seeds: MqttInput[], storedIds: () => string[]): fc.Arbitrary<MqttInput> {
  const id = fc.oneof(
    { weight: 10, arbitrary: fc.constant(null).map(messageId) },
    { weight: 2, arbitrary: fc.nat().map((n) => storedIds()[n % Math.max(1, storedIds().length)] ?? messageId()) },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom('short', 'a'.repeat(129), 'with space', 'fuzz-\u0000-0000', 'fuzz-%-_-0000', "fuzz-'-0000-x"), weird) },
  );
  const time = usually(fc.constant(null).map(ISO), fc.oneof(fc.constantFrom('2024-13-01T00:00:00Z', '', '2024-01-01'), weird));
  const message = place.chain(({ site, lane }) => {
    const siteField = usually(fc.constant(site), fc.constantFrom(OTHER_SITE, '', 'x'.repeat(65)));
    const laneField = usually(fc.constant(lane), fc.constantFrom('lane-2', '', 'colour'));
    const alert = messy(
      fc.record({
        id,
        eventId: usually(fc.constant(null).map(messageId)),
        time,
        site: siteField,
        lane: laneField,
        subject: usually(fc.oneof(fc.constantFrom('sub-1', 'a'.repeat(128)), fc.constant(null)), fc.constantFrom('', 'a'.repeat(129), 'with space')),
        colour: usually(fc.constant('red'), fc.constantFrom('green', 'RED', '')),
        decidedBy: usually(fc.constantFrom(...DECIDED_BY)),
      }),
    );
    const registration = messy(
      fc.record({
        id,
        v: usually(fc.constant(1), fc.constantFrom(2, 0, '1')),
        kid: usually(b64(16)),
        eventId: usually(fc.constant(null).map(messageId)),
        site: siteField,
        lane: laneField,
        time,
        epk: usually(b64(32)),
        salt: usually(b64(32)),
        nonce: usually(b64(12)),
        ct: usually(fc.oneof(b64(400), fc.constant('A'.repeat(8192)), fc.constant('A'.repeat(8193)))),
        tag: usually(b64(16)),
      }),
    );
    return fc.oneof(
      alert.map((p) => ({ topic: laneTopic(BASE, site, lane, 'alert'), payload: p })),
      registration.map((p) => ({ topic: laneTopic(BASE, site, lane, 'registration'), payload: p })),
      // One kind's message on the other's topic.
      alert.map((p) => ({ topic: laneTopic(BASE, site, lane, 'registration'), payload: p })),
    );
  });
  const built = fc.tuple(message, fc.nat({ max: 29 })).map(([{ topic, payload }, text]) => {
    const json = JSON.stringify(payload);
    const body = text === 0 ? `{"id":"fuzz-first-of-two-ids",${json.slice(1)}` : text === 1 ? `  ${json}\n` : text === 2 ? `\ufeff${json}` : text === 3 ? json.replace('"id"', '"\\u0069d"') : json;
    return { topic, payload: Buffer.from(body) };
  });
  const good = fc.constantFrom(laneTopic(BASE, SITE, LANE, 'alert'), laneTopic(BASE, SITE, LANE, 'registration'));
  const texts = fc.constantFrom(...seeds.map((s) => s.payload.toString('utf8')));
  const any = fc.oneof(
    { weight: 12, arbitrary: built },
    { weight: 2, arbitrary: fc.record({ topic: topicArbitrary(good, ['alert', 'registration', 'lookup/request']), payload: fc.constantFrom(...seeds.map((s) => s.payload)) }) },
    { weight: 2, arbitrary: fc.record({ topic: good, payload: rawPayloads() }) },
    { weight: 1, arbitrary: fc.record({ topic: good, payload: fc.constantFrom(65_536, 65_537, 1 << 20).map((n) => Buffer.concat([Buffer.from('{"ct":"'), Buffer.alloc(Math.max(0, n - 9), 0x41), Buffer.from('"}')])) }) },
    { weight: 1, arbitrary: fc.record({ topic: good, payload: fc.constantFrom(Buffer.from([0xc3, 0x28]), Buffer.from('{"id":"\xff"}', 'latin1'), Buffer.from([0xed, 0xa0, 0x80])) }) },
    { weight: 2, arbitrary: fc.record({ topic: good, payload: mutatedText(texts, 'abcdef0123456789-:{}",').map((t) => Buffer.from(t)) }) },
    { weight: 1, arbitrary: fc.record({ topic: good, payload: mutatedBytes(fc.constantFrom(...seeds.map((s) => new Uint8Array(s.payload)))).map((b) => Buffer.from(b)) }) },
  );
  return fc.tuple(any, repeatArbitrary([2, 3])).map(([m, repeat]) => ({ ...m, repeat }));
}

function validAlert(site = SITE, lane = LANE): MqttInput {
  const alert: ContractTypes['redAlert'] = { id: messageId(), eventId: messageId(), time: ISO(), site, lane, subject: 'sub-1', colour: 'red', decidedBy: 'pushed-status' };
  return { topic: laneTopic(BASE, site, lane, 'alert'), payload: Buffer.from(JSON.stringify(alert)), repeat: 1 };
}

function validRegistration(): MqttInput {
  const b = (n: number): string => Buffer.alloc(n, 7).toString('base64url');
  const registration: ContractTypes['sealedRegistration'] = { id: messageId(), v: 1, kid: b(16), eventId: messageId(), site: SITE, lane: LANE, time: ISO(), epk: b(32), salt: b(32), nonce: b(12), ct: b(300), tag: b(16) };
  return { topic: laneTopic(BASE, SITE, LANE, 'registration'), payload: Buffer.from(JSON.stringify(registration)), repeat: 1 };
}

async function setupIntake(): Promise<Rig<MqttInput>> {
  const rig = await common('intake');
  const intake = new DepartmentIntake({ client: rig.client, store: rig.store, baseTopic: BASE, logger: rig.logger, holdMs: 1_000 });
  intake.start();
  const storedIds: string[] = [];
  intake.on('stored', ({ id }) => {
    storedIds.push(id);
    if (storedIds.length > 64) storedIds.shift();
  });
  let lastMalformed = '';
  intake.on('malformed', ({ why }) => (lastMalformed = why));
  const handle = rig.client as unknown as { handleMessage(packet: IPublishPacket, callback: (error?: Error) => void): void };
  const topicOf = (topic: string): { site: string; lane: string; kind: 'alert' | 'registration' } | null => {
    const m = /^hc\/v1\/([A-Za-z0-9_-]{1,64})\/([A-Za-z0-9_-]{1,64})\/(alert|registration)$/.exec(topic);
    return m && !RESERVED_LANE_IDS.has(m[2]!) ? { site: m[1]!, lane: m[2]!, kind: m[3] as 'alert' | 'registration' } : null;
  };

  const run = async (input: MqttInput): Promise<Verdict> => {
    const errorsBefore = rig.errorCount();
    const labels: string[] = [];
    const at = topicOf(input.topic);
    for (let i = 0; i < input.repeat; i++) {
      const before = intake.stats;
      let timer: NodeJS.Timeout | undefined;
      const packet: IPublishPacket = { cmd: 'publish', topic: input.topic, payload: input.payload, qos: 1, retain: false, dup: i > 0, messageId: 1 + (i % 65_000) };
      let result: { error?: Error } | 'late';
      try {
        result = await Promise.race([
          new Promise<{ error?: Error }>((resolve) => handle.handleMessage(packet, (error) => resolve({ ...(error ? { error } : {}) }))),
          new Promise<'late'>((resolve) => (timer = setTimeout(resolve, SETTLE_MS, 'late'))),
        ]);
      } catch (error) {
        return thrown(`handleMessage threw: ${describeError(error)}`);
      } finally {
        clearTimeout(timer);
      }
      if (result === 'late') return offShape(`the message was neither stored nor refused within ${SETTLE_MS} ms: the PUBACK never goes`);
      if (result.error) return offShape(`left unacknowledged (the broker would send it again for ever): ${result.error.message}`);
      const after = intake.stats;
      const stored = after.stored - before.stored;
      const duplicates = after.duplicates - before.duplicates;
      const malformed = after.malformed - before.malformed;
      if (after.notStored !== before.notStored) return offShape('the store did not take a message');
      if (!at) {
        if (stored + duplicates + malformed !== 0) return offShape(`a message on ${JSON.stringify(input.topic)}, not the intake's, was counted`);
        labels.push('not an intake topic: left alone');
        continue;
      }
      if (stored + duplicates + malformed !== 1) return offShape(`one message counted ${stored + duplicates + malformed} times (${JSON.stringify({ stored, duplicates, malformed })})`);
      const message = parsedJson(input.payload) as Record<string, unknown> | undefined;
      const schema = at.kind === 'alert' ? 'redAlert' : 'sealedRegistration';
      let utf8Ok = true;
      try {
        new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input.payload);
      } catch {
        utf8Ok = false;
      }
      const valid = utf8Ok && input.payload.length <= 64 * 1024 && conforms(schema, message) && message!.site === at.site && message!.lane === at.lane;
      if (malformed === 1) {
        if (valid) return offShape(`a valid ${at.kind} refused: ${lastMalformed}`);
        labels.push('refused');
        continue;
      }
      if (!valid) return offShape(`an invalid ${at.kind} was ${stored ? 'stored' : 'taken as a duplicate'}`);
      const kept = await rig.store.delivery(message!.id as string);
      if (!kept) return offShape(`${stored ? 'stored' : 'a duplicate'}, but the store has no delivery ${message!.id as string}`);
      if (stored === 1) {
        if (kept.body !== input.payload.toString('utf8')) return offShape('stored, but the body is not the message as sent');
        if (kept.kind !== at.kind || kept.site !== at.site || kept.lane !== at.lane) return offShape(`stored as ${kept.kind} of ${kept.site}/${kept.lane}, sent on ${input.topic}`);
      }
      labels.push(stored ? `stored: ${at.kind}` : 'duplicate');
    }
    const logged = rig.errors.slice(rig.errors.length - Math.min(rig.errors.length, rig.errorCount() - errorsBefore));
    if (logged.length > 0) return thrown(`logged as an error: ${logged[0]!.msg}${logged[0]!.err ? `: ${logged[0]!.err}` : ''}`);
    return ok(labels.join(', then '));
  };

  const alert = validAlert();
  const seeds = [alert, validRegistration(), validAlert(OTHER_SITE, 'lane-2')];
  const regressions: Regression<MqttInput>[] = [
    { name: 'intake-redelivery', why: 'the same alert three times (a redelivery by the broker): stored once, then duplicates, every one acknowledged', input: { ...validAlert(), repeat: 3 } },
    { name: 'intake-not-utf8', why: 'an alert topic whose payload is not UTF-8: refused and acknowledged, not stored', input: { topic: laneTopic(BASE, SITE, LANE, 'alert'), payload: Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), repeat: 1 } },
    {
      name: 'intake-bom',
      why: 'an alert whose JSON follows a BOM: refused as no JSON; it was stored without its BOM, not the bytes the gate sent',
      input: { topic: laneTopic(BASE, SITE, LANE, 'alert'), payload: Buffer.concat([Buffer.from('\ufeff'), validAlert().payload]), repeat: 1 },
    },
    { name: 'intake-site-differs', why: "an alert naming another lane than its topic's: refused (a gate writes only under its own lane)", input: { topic: laneTopic(BASE, SITE, 'lane-2', 'alert'), payload: alert.payload, repeat: 1 } },
  ];
  return {
    seeds,
    regressions,
    arbitrary: (passing) => intakeArbitrary([...seeds, ...passing], () => storedIds),
    run,
    // The JSON and the store's durable write (SQLite, FULL sync): 50 ms a message.
    boundMs: (input) => 50 * input.repeat,
    retime: false,
    encode,
    decode,
    close: async () => {
      intake.stop();
      await rig.close();
    },
  };
}

export const lookupRequestSurface: Surface<MqttInput> = {
  name: 'centre-lookup-request',
  covers: "look-up requests through the centre's LookupResponder (the MQTT client's 'message' event) on an embedded broker over the real SQLite store: requests with every field mutated, hostile topics, floods, raw bytes",
  shape: 'each request answered (one reply that opens with the centre key, its correlationId, the colour the store holds or null), expired, dropped or refused, and counted, within 5 s; a valid one answered; the queue within maxQueued; no failure or error logged',
  setup: setupLookups,
};

export const departmentIntakeSurface: Surface<MqttInput> = {
  name: 'centre-department-intake',
  covers: "alerts and sealed registrations through the department intake's handleMessage hook (before the PUBACK) over the real SQLite store: messages with every field mutated, one kind on the other's topic, hostile topics, redeliveries, raw bytes, non-UTF-8",
  shape: 'each message acknowledged within 5 s as stored (the body byte for byte, its kind, site and lane), a duplicate, or refused and counted; a valid one never refused, an invalid one never stored; no error logged',
  setup: setupIntake,
};
