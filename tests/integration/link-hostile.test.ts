/**
 * Hostile traffic on every topic a lane subscribes to (nothing from
 * the network may crash the agent; unsigned, wrong-key, stale and replayed
 * messages are refused and reported as security events),
 * against the real agent on wire-level virtual hardware and a real Mosquitto
 * (plain listener, anonymous, MQTT 5).
 *
 * Each case is published alone and waited for. A refused case gives one
 * security event of the expected kind on <base>/<site>/<lane>/security and one
 * warning in the log, and changes nothing: pushed colours and sync state,
 * lane state, no command result. The few cases the design drops quietly are
 * followed by a marker that is refused: its event arriving first and alone
 * shows the quiet case raised none. After each table a green code still
 * passes. Then every malformed JWS form (tests/support/malformed-jws.ts) on
 * every kind of signed message, the operator's commands and the trust list
 * reload included: each refused as malformed, naming what. Then: topics the
 * lane never subscribed to, an echo of its own security topic, and floods.
 *
 * Over 500 lines on purpose: the hostile cases share one agent and broker
 * and are checked one after another against the same unchanged state, which a
 * split would have to start and prove again per file.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import {
  conforms,
  type CommandResultMessage,
  type DecisionEventMessage,
  type LookupRequestMessage,
  type SecurityEventMessage,
  type SecurityKind,
  type SignedType,
} from '../../protocol/contract.js';
import { SECURITY_EVENT_BURST, SECURITY_EVENT_REFILL_MS } from '../../edge-agent/link/gate-link.js';
import { type MessageSigner, messageSigner, signJws, signMessage } from '../../protocol/signed-message.js';
import { createSimulatedLane, type SimulatedLane } from '../../simulator/simulated-lane.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { malformedJws } from '../support/malformed-jws.js';
import { requireMosquitto, startMosquitto, type MosquittoBroker } from '../support/mosquitto.js';

const BASE = 'hc/v1';
/** Small enough to send a bigger message cheaply, big enough for a schema-failing array of 10,001 items (the contract allows 10,000). */
const MAX_BYTES = 32_768;
const EVENT_WAIT_MS = 5_000;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await pause(5);
  }
}

/** Every wait is bounded: a hang fails the test with what was awaited. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string, detail: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms ${detail()}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

const b64 = (text: string): string => Buffer.from(text).toString('base64url');

/** The same bytes every run: a seeded xorshift. */
function noise(length: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const deepArray = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
function deepObject(depth: number): unknown {
  return JSON.parse(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
}

interface LogLine {
  level: number;
  msg: string;
  kind?: string;
  topic?: string;
}

interface Rig {
  site: string;
  lane: string;
  broker: MosquittoBroker;
  sim: SimulatedLane;
  attacker: MqttClient;
  /** Subscribed to everything the lane publishes. */
  observer: MqttClient;
  events: SecurityEventMessage[];
  results: CommandResultMessage[];
  decisions: DecisionEventMessage[];
  requests: LookupRequestMessage[];
  logs: LogLine[];
  /** The centre the gate trusts, a key it does not, and that key claiming the centre's kid. */
  centre: MessageSigner;
  stranger: MessageSigner;
  impostor: MessageSigner;
  topics: { change: string; snapshot: string; command: string; reply: string; security: string };
  /** The snapshot published (retained) before the agent started: version 1, seq 0. */
  baseline: string;
  /** credentials.trust: where a signed trust list is read on reload-trust (written by the test; with RigOptions.trust only). */
  trustFile: string;
  /** Stops the lane (once; the test's cleanup calls it too). */
  close(): Promise<void>;
}

interface RigOptions {
  mqtt?: Record<string, unknown>;
  outbox?: Record<string, unknown>;
  /** Runs against the broker before the agent connects. */
  beforeAgent?: (rig: Pick<Rig, 'site' | 'lane' | 'broker'>) => Promise<void>;
  /** The log sink throws past this many 'outbox full' errors: a report loop fails the test rather than hanging it. */
  dropLogGuard?: number;
  /** credentials.trust names a file in the rig's folder, read by reload-trust (the lane starts on the simulator's issuer). */
  trust?: boolean;
}

let rigCount = 0;

async function startRig(t: TestContext, options: RigOptions = {}): Promise<Rig> {
  const site = 'hostile';
  const lane = `lane-${++rigCount}`;
  // node:test runs after-hooks in the order they were added: undo in reverse here instead (lane before broker).
  const cleanups: Array<() => unknown> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const broker = await startMosquitto();
  cleanups.push(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), 'gate-link-hostile-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = checkConfig({
    site,
    lane,
    timing: { relayPulseMs: 100, denyDisplayMs: 0 },
    journal: { path: join(dir, 'journal.db') },
    mqtt: { url: broker.url, protocolVersion: 5, maxMessageBytes: MAX_BYTES, ...options.mqtt },
    outbox: { ...options.outbox },
    ...(options.trust ? { credentials: { trust: join(dir, 'trust-list.jws') } } : {}),
  });

  const logs: LogLine[] = [];
  let dropErrors = 0;
  const sink = {
    write(line: string): void {
      const parsed = JSON.parse(line) as LogLine;
      logs.push(parsed);
      if (options.dropLogGuard !== undefined && parsed.msg.startsWith('outbox full') && ++dropErrors > options.dropLogGuard) {
        throw new Error(`more than ${options.dropLogGuard} outbox-drop reports: each report is dropping another message`);
      }
    },
  };
  const logger = pino({ level: 'warn' }, sink);

  const topic = (leaf: string): string => `${BASE}/${site}/${lane}/${leaf}`;
  const topics = {
    change: `${BASE}/${site}/colour/change`,
    snapshot: `${BASE}/${site}/colour/snapshot`,
    command: topic('command'),
    reply: topic('lookup/reply'),
    security: topic('security'),
  };

  // What the gate reports, seen from the centre's side; it listens before the gate says anything.
  const events: SecurityEventMessage[] = [];
  const results: CommandResultMessage[] = [];
  const decisions: DecisionEventMessage[] = [];
  const requests: LookupRequestMessage[] = [];
  const observer = await mqtt.connectAsync(broker.url, { clientId: `observer-${lane}`, protocolVersion: 5 });
  cleanups.push(() => observer.endAsync(true));
  observer.on('message', (received, payload) => {
    const list = { [topics.security]: events, [topic('command/result')]: results, [topic('decision')]: decisions, [topic('lookup/request')]: requests }[received];
    (list as unknown[] | undefined)?.push(JSON.parse(payload.toString('utf8')));
  });
  await observer.subscribeAsync(`${BASE}/${site}/${lane}/#`, { qos: 1 });

  await options.beforeAgent?.({ site, lane, broker });
  const sim = await createSimulatedLane(config, logger);
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    const client = (sim.agent.link as unknown as { client: MqttClient | null }).client;
    // What the link's client was doing, should the stop hang.
    const state = (): string =>
      JSON.stringify({ connected: client?.connected, disconnecting: client?.disconnecting, reconnecting: client?.reconnecting, outgoing: Object.keys(client?.outgoing ?? {}).length });
    closing ??= within(sim.close(), 10_000, 'closing the lane', () => `${state()}\n${broker.log().trimEnd().split('\n').slice(-25).join('\n')}`);
    return closing;
  };
  cleanups.push(close);
  const centre: MessageSigner = messageSigner(sim.centreKey);
  const strangerKey = await createSignerCertificate({ subject: 'CN=Not the centre, O=Elsewhere, C=CN' });
  const stranger: MessageSigner = messageSigner(strangerKey);
  const impostor: MessageSigner = { ...stranger, kid: centre.kid };

  const attacker = await mqtt.connectAsync(broker.url, { clientId: `attacker-${lane}`, protocolVersion: 5 });
  cleanups.push(() => attacker.endAsync(true));

  // A genuine retained snapshot: once applied, the lane's subscriptions (one SUBSCRIBE) are live.
  const baseline = JSON.stringify(
    signMessage(
      'colour-snapshot',
      { type: 'colour-snapshot', site, version: 1, seq: 0, issuedAt: Date.now(), statuses: [{ sub: 'baseline-subject', colour: 'yellow', effectiveAt: Date.now() }] },
      centre,
    ),
  );
  await attacker.publishAsync(topics.snapshot, baseline, { qos: 1, retain: true });
  await sim.agent.start();
  await sim.wire.scannerOpened();
  await until(() => sim.agent.colours.sync.snapshotVersion === 1, 10_000, 'the baseline snapshot applied');

  const trustFile = join(dir, 'trust-list.jws');
  return { site, lane, broker, sim, attacker, observer, events, results, decisions, requests, logs, centre, stranger, impostor, topics, baseline, trustFile, close };
}

/** The attacker publishes at QoS 1 and the broker acknowledges it. */
async function send(rig: Rig, topic: string, payload: string | Buffer, options: { retain?: boolean } = {}): Promise<void> {
  await within(rig.attacker.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false }), EVENT_WAIT_MS, `publish on ${topic}`, () =>
    `(attacker connected: ${rig.attacker.connected})\n${rig.broker.log().trimEnd().split('\n').slice(-40).join('\n')}`,
  );
}

/** A signed message as the wire carries it; `payload` may break its schema on purpose. */
function sign(typ: SignedType, payload: object, signer: MessageSigner): string {
  return JSON.stringify(signMessage(typ, payload as never, signer));
}

const refusedWarnings = (rig: Rig): LogLine[] => rig.logs.filter((l) => l.level === 40 && l.msg === 'message refused');

/** Everything a refused message must leave alone. */
function untouched(rig: Rig): string {
  const { agent } = rig.sim;
  return JSON.stringify({ sync: agent.colours.sync, size: agent.colours.size, baseline: agent.colours.get('baseline-subject'), lane: agent.lane.state, results: rig.results.length });
}

async function nextEvent(rig: Rig, after: number, label: string): Promise<SecurityEventMessage> {
  await until(() => rig.events.length > after, EVENT_WAIT_MS, `${label}: a security event`);
  return rig.events[after]!;
}

interface Case {
  name: string;
  payload: string | Buffer | (() => string | Buffer);
  /** The security event kind, or 'quiet': dropped by design, nothing reported. */
  expect: SecurityKind | 'quiet';
  /** What the event's detail must say. */
  detail?: RegExp;
  retain?: boolean;
}

async function check(rig: Rig, topic: string, c: Case): Promise<void> {
  const before = untouched(rig);
  const events = rig.events.length;
  const warnings = refusedWarnings(rig).length;
  const payload = typeof c.payload === 'function' ? c.payload() : c.payload;
  await send(rig, topic, payload, { retain: c.retain ?? false });
  const expected = c.expect === 'quiet' ? 'malformed' : c.expect;
  if (c.expect === 'quiet') await send(rig, topic, 'marker: not JSON');
  const event = await nextEvent(rig, events, c.name);
  assert.equal(event.kind, expected, `${c.name}: refused as ${event.kind} (${event.detail})`);
  if (c.detail) assert.match(event.detail, c.detail, c.name);
  assert.equal(event.topic, topic);
  assert.ok(conforms('securityEvent', event), `${c.name}: the event breaks the contract`);
  assert.equal(event.lane, rig.lane);
  const logged = refusedWarnings(rig).slice(warnings);
  assert.deepEqual(logged.map((l) => l.kind), [expected], `${c.name}: one warning logged`);
  // Outbox order is kept, so an event of the quiet case would have come before the marker's.
  await pause(c.expect === 'quiet' ? 50 : 0);
  assert.equal(rig.events.length, events + 1, `${c.name}: ${rig.events.slice(events).map((e) => `${e.kind}: ${e.detail}`).join('; ')}`);
  assert.equal(untouched(rig), before, `${c.name}: something was applied`);
}

/**
 * A green code at the wire lane passes, and its decision reaches the broker; returns ms from the code shown to the verdict.
 * The bound only stops a hung test: how fast the lane decides is reported, not asserted (CI machines are slow and shared).
 */
async function passGreen(rig: Rig, boundMs = 10_000): Promise<number> {
  const { agent, wire, world } = rig.sim;
  await until(() => agent.lane.state === 'idle', boundMs, 'the lane idle');
  wire.setForehead({ ok: true, celsius: 36.5 });
  const decided = new Promise<DecisionEvent>((resolve) => agent.lane.once('decision', ({ event }) => resolve(event)));
  const started = performance.now();
  wire.presentCode(world.platform.issue({ colour: 'green', maskedName: '张*三' }).code, 'scanner');
  const event = await Promise.race([decided, pause(boundMs).then(() => null)]);
  const ms = performance.now() - started;
  assert.ok(event, `no decision within ${boundMs} ms`);
  assert.equal(event.verdict, 'pass');
  assert.equal(event.reason, 'green-normal');
  await wire.walkThrough();
  await until(() => agent.lane.state === 'idle', boundMs, 'the lane idle after the passage');
  await until(() => rig.decisions.some((d) => d.id === event.id), EVENT_WAIT_MS, 'the decision at the broker');
  return ms;
}

/** Cases every signed topic refuses the same way; `valid` is a fresh valid payload for the topic, `other` a valid message of another kind. */
function commonCases(rig: Rig, typ: SignedType, valid: () => Record<string, unknown>, other: () => string, hugeArrayField: string, hugeArrayLength: number): Case[] {
  const { centre, stranger, impostor } = rig;
  const alg = centre.algorithm;
  return [
    { name: 'empty, retained (clears the topic)', payload: Buffer.alloc(0), retain: true, expect: 'quiet' },
    { name: 'random bytes', payload: noise(256), expect: 'malformed' },
    { name: 'invalid UTF-8 between the tokens', payload: Buffer.concat([Buffer.from('{"protected":'), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from('}')]), expect: 'malformed' },
    // Decoded with U+FFFD in its place: valid JSON, an object without a signature.
    { name: 'invalid UTF-8 inside a string', payload: Buffer.concat([Buffer.from('{"protected":"'), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from('"}')]), expect: 'unsigned' },
    { name: 'not JSON', payload: 'open the gate, please', expect: 'malformed' },
    { name: 'JSON array', payload: '[1,2,3]', expect: 'malformed' },
    { name: 'JSON number', payload: '42', expect: 'malformed' },
    { name: 'JSON string', payload: '"signed"', expect: 'malformed' },
    { name: 'JSON null', payload: 'null', expect: 'malformed' },
    { name: 'JSON nested 8,000 deep', payload: deepArray(8_000), expect: 'malformed', detail: /^message nested deeper than 32 levels/ },
    { name: 'JSON nested 16,000 deep, never closed', payload: '['.repeat(16_000), expect: 'malformed', detail: /^message nested deeper than 32 levels/ },
    { name: 'protected header JSON null', payload: '{"protected":"bnVsbA","payload":"","signature":"AA"}', expect: 'malformed', detail: /protected header is not a JSON object \(null\)/ },
    { name: 'JWS members of the wrong type', payload: () => JSON.stringify({ protected: 1, payload: [], signature: {} }), expect: 'malformed' },
    { name: 'unsigned (the bare payload)', payload: () => JSON.stringify(valid()), expect: 'unsigned' },
    { name: 'unsigned (protected, no signature)', payload: () => JSON.stringify({ protected: b64(JSON.stringify({ alg, typ })), payload: b64(JSON.stringify(valid())) }), expect: 'unsigned' },
    { name: 'protected header not base64url JSON', payload: () => JSON.stringify({ protected: b64('not-json'), payload: b64(JSON.stringify(valid())), signature: 'AAAA' }), expect: 'malformed' },
    {
      name: 'alg "none"',
      payload: () => JSON.stringify({ protected: b64(JSON.stringify({ alg: 'none', kid: centre.kid.toString('base64url'), typ })), payload: b64(JSON.stringify(valid())), signature: 'AA' }),
      expect: 'bad-signature',
    },
    { name: 'signed by a key the gate does not trust', payload: () => sign(typ, valid(), stranger), expect: 'unknown-key' },
    { name: 'signed by another key under the centre kid', payload: () => sign(typ, valid(), impostor), expect: 'bad-signature' },
    {
      name: 'valid signature, payload changed after',
      payload: () => {
        const envelope = signMessage(typ, valid() as never, centre);
        return JSON.stringify({ ...envelope, payload: b64(JSON.stringify({ ...valid(), issuedAt: Date.now() + 1 })) });
      },
      expect: 'bad-signature',
    },
    { name: 'a valid message of another kind', payload: other, expect: 'wrong-type' },
    { name: 'signed, extra field', payload: () => sign(typ, { ...valid(), note: 'hi' }, centre), expect: 'schema' },
    { name: 'signed, "__proto__" key', payload: () => sign(typ, JSON.parse(`{"__proto__":{"admin":true},${JSON.stringify(valid()).slice(1)}`) as object, centre), expect: 'schema' },
    { name: 'signed, wrong type (site a number)', payload: () => sign(typ, { ...valid(), site: 7 }, centre), expect: 'schema' },
    { name: `signed, huge array (${hugeArrayField}: ${hugeArrayLength} items)`, payload: () => sign(typ, { ...valid(), [hugeArrayField]: new Array<number>(hugeArrayLength).fill(0) }, centre), expect: 'schema' },
    { name: 'signed, payload nested 1,500 deep', payload: () => sign(typ, { ...valid(), extra: deepObject(1_500) }, centre), expect: 'malformed', detail: /^payload nested deeper than 32 levels/ },
    { name: `oversized (${MAX_BYTES + 7_232} bytes > mqtt.maxMessageBytes ${MAX_BYTES})`, payload: Buffer.alloc(MAX_BYTES + 7_232, 0x7b), expect: 'oversized' },
  ];
}

async function runTable(t: TestContext, rig: Rig, topic: string, cases: Case[]): Promise<void> {
  for (const c of cases) await t.test(c.name, () => check(rig, topic, c));
}

/** After a table: every refused case gave exactly one event, and the lane still decides. */
async function settle(rig: Rig, cases: Case[], extraEvents = 0): Promise<void> {
  await pause(100);
  // A quiet case's marker stands for it in the count.
  assert.equal(rig.events.length, cases.length + extraEvents, rig.events.map((e) => e.kind).join(', '));
  await passGreen(rig);
}

test('colour/change: hostile payloads are refused and reported, nothing applied', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t);
  const { site, centre, topics } = rig;
  const change = (seq: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'colour-change',
    site,
    seq,
    issuedAt: Date.now(),
    changes: [{ sub: `subject-${seq}`, colour: 'red', effectiveAt: Date.now() }],
    ...extra,
  });
  // Two genuine changes: the gate is at seq 2.
  const first = sign('colour-change', change(1), centre);
  const second = sign('colour-change', change(2), centre);
  await send(rig, topics.change, first);
  await send(rig, topics.change, second);
  await until(() => rig.sim.agent.colours.sync.seq === 2, EVENT_WAIT_MS, 'seq 2 applied');
  assert.equal(rig.events.length, 0);

  const cases: Case[] = [
    ...commonCases(rig, 'colour-change', () => change(3), () => sign('command', { type: 'command', id: randomUUID(), site, lane: rig.lane, issuedAt: Date.now(), action: 'open' }, centre), 'changes', 10_001),
    { name: 'wrong site', payload: () => sign('colour-change', change(3, { site: 'another-site' }), centre), expect: 'wrong-target' },
    // An integer to JSON Schema, but past what a JS number keeps exact and what the store's INTEGER column takes.
    { name: 'seq 1e21', payload: () => sign('colour-change', change(1e21), centre), expect: 'schema', detail: /seq must be <= 9007199254740991/ },
    { name: 'seq 2^53', payload: () => sign('colour-change', change(2 ** 53), centre), expect: 'schema', detail: /seq must be <= 9007199254740991/ },
    { name: 'effectiveAt 1e21', payload: () => sign('colour-change', change(3, { changes: [{ sub: 'subject-3', colour: 'red', effectiveAt: 1e21 }] }), centre), expect: 'schema', detail: /changes\.0\.effectiveAt must be <=/ },
    { name: 'stale: issued an hour ahead', payload: () => sign('colour-change', change(3, { issuedAt: Date.now() + 3_600_000 }), centre), expect: 'stale' },
    { name: 'replayed: an old seq signed again', payload: () => sign('colour-change', change(1, { changes: [{ sub: 'subject-1', colour: 'green', effectiveAt: Date.now() }] }), centre), expect: 'replayed' },
    { name: 'replayed: a heartbeat older than the last word', payload: () => sign('colour-change', change(2, { changes: [], issuedAt: Date.now() - 60_000 }), centre), expect: 'replayed' },
    // A QoS 1 redelivery is byte for byte the same message: dropped quietly (the last 16 are remembered).
    { name: 'the last change again (as a QoS 1 redelivery)', payload: second, expect: 'quiet' },
    { name: 'an older change again, byte for byte, still among the last 16', payload: first, expect: 'quiet' },
  ];
  await runTable(t, rig, topics.change, cases);
  await settle(rig, cases);
  assert.equal(rig.sim.agent.colours.get('subject-1')?.colour, 'red');
});

test('colour/snapshot: hostile payloads are refused and reported, nothing applied', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t);
  const { site, centre, topics } = rig;
  const snapshot = (version: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'colour-snapshot',
    site,
    version,
    seq: 0,
    issuedAt: Date.now(),
    statuses: [{ sub: 'baseline-subject', colour: 'yellow', effectiveAt: 1 }],
    ...extra,
  });
  const second = sign('colour-snapshot', snapshot(2), centre);
  await send(rig, topics.snapshot, second);
  await until(() => rig.sim.agent.colours.sync.snapshotVersion === 2, EVENT_WAIT_MS, 'version 2 applied');

  const cases: Case[] = [
    ...commonCases(rig, 'colour-snapshot', () => snapshot(3), () => sign('colour-change', { type: 'colour-change', site, seq: 1, issuedAt: Date.now(), changes: [] }, centre), 'statuses', 10_001),
    { name: 'wrong site', payload: () => sign('colour-snapshot', snapshot(3, { site: 'another-site' }), centre), expect: 'wrong-target' },
    { name: 'version 1e21', payload: () => sign('colour-snapshot', snapshot(1e21), centre), expect: 'schema', detail: /version must be <= 9007199254740991/ },
    { name: 'seq 1e21', payload: () => sign('colour-snapshot', snapshot(3, { seq: 1e21 }), centre), expect: 'schema', detail: /seq must be <= 9007199254740991/ },
    { name: 'stale: issued an hour ahead', payload: () => sign('colour-snapshot', snapshot(3, { issuedAt: Date.now() + 3_600_000 }), centre), expect: 'stale' },
    { name: 'replayed: the older version 1', payload: rig.baseline, expect: 'replayed' },
    // The retained copy of the snapshot in force, delivered again (resync, reconnect): nothing to do.
    { name: 'the version in force again', payload: second, expect: 'quiet' },
  ];
  await runTable(t, rig, topics.snapshot, cases);
  await settle(rig, cases);
});

test('command: hostile payloads are refused and reported, no command runs, no result', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t);
  const { site, lane, centre, topics } = rig;
  const command = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'command',
    id: randomUUID(),
    site,
    lane,
    issuedAt: Date.now(),
    action: 'open',
    ...extra,
  });
  // A genuine command that changes nothing: there is no hold to release. It gets its one result.
  const genuine = sign('command', command({ action: 'release-hold' }), centre);
  await send(rig, topics.command, genuine);
  await until(() => rig.results.length === 1, EVENT_WAIT_MS, 'the genuine command result');
  assert.equal(rig.results[0]!.ok, false);
  assert.equal(rig.results[0]!.detail, 'no hold to release');

  const cases: Case[] = [
    ...commonCases(rig, 'command', () => command(), () => sign('colour-snapshot', { type: 'colour-snapshot', site, version: 9, seq: 0, issuedAt: Date.now(), statuses: [] }, centre), 'action', 5_000),
    { name: 'wrong lane', payload: () => sign('command', command({ lane: 'lane-9' }), centre), expect: 'wrong-target' },
    { name: 'wrong site', payload: () => sign('command', command({ site: 'another-site' }), centre), expect: 'wrong-target' },
    { name: 'stale: issued an hour ago', payload: () => sign('command', command({ issuedAt: Date.now() - 3_600_000 }), centre), expect: 'stale' },
    { name: 'stale: issued an hour ahead', payload: () => sign('command', command({ issuedAt: Date.now() + 3_600_000 }), centre), expect: 'stale' },
    { name: 'issuedAt 1e21', payload: () => sign('command', command({ issuedAt: 1e21 }), centre), expect: 'schema', detail: /issuedAt must be <=/ },
    { name: 'replayed: the genuine command again', payload: genuine, expect: 'replayed' },
    { name: 'bigger than a command may be (16 KiB)', payload: () => sign('command', command({ key: 'log.level', value: 'x'.repeat(20_000) }), centre), expect: 'oversized' },
  ];
  await runTable(t, rig, topics.command, cases);
  await settle(rig, cases);
  assert.equal(rig.results.length, 1, 'a refused command got a result');
});

test('lookup/reply: hostile replies are refused and reported; a stale one does not answer the look-up', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  // Long enough for a refused reply and then the genuine one inside one look-up, on a busy machine too.
  const rig = await startRig(t, { mqtt: { lookupTimeoutMs: 2_000 } });
  const { site, lane, centre, topics, sim } = rig;
  const reply = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    type: 'lookup-reply',
    correlationId: randomUUID(),
    site,
    lane,
    issuedAt: Date.now(),
    colour: 'green',
    ...extra,
  });
  const cases: Case[] = [
    ...commonCases(rig, 'lookup-reply', () => reply(), () => sign('command', { type: 'command', id: randomUUID(), site, lane, issuedAt: Date.now(), action: 'open' }, centre), 'colour', 5_000),
    { name: 'wrong lane', payload: () => sign('lookup-reply', reply({ lane: 'lane-9' }), centre), expect: 'wrong-target' },
    { name: 'effectiveAt 1e21', payload: () => sign('lookup-reply', reply({ effectiveAt: 1e21 }), centre), expect: 'schema', detail: /effectiveAt must be <=/ },
    { name: 'an answer to no look-up of this gate', payload: () => sign('lookup-reply', reply(), centre), expect: 'replayed' },
    { name: 'bigger than a reply may be (16 KiB)', payload: () => sign('lookup-reply', reply({ correlationId: 'x'.repeat(20_000) }), centre), expect: 'oversized' },
  ];
  await runTable(t, rig, topics.reply, cases);

  // A printed code: the lane asks the centre. A reply issued before the request is refused (and says red);
  // the genuine one (green) then answers it; the same reply again is a replay.
  const { wire, world, agent } = sim;
  wire.setForehead({ ok: true, celsius: 36.5 });
  const printed = world.platform.issue({ colour: 'green', kind: 'printed', maskedName: '郑*一' });
  let decided = new Promise<DecisionEvent>((resolve) => agent.lane.once('decision', ({ event }) => resolve(event)));
  wire.presentCode(printed.code, 'scanner');
  await until(() => rig.requests.length === 1, EVENT_WAIT_MS, 'the look-up request');
  const request = rig.requests[0]!;
  const requestedAt = Date.parse(request.time);
  let events = rig.events.length;
  await send(rig, topics.reply, sign('lookup-reply', reply({ correlationId: request.correlationId, issuedAt: requestedAt - 60_000, colour: 'red' }), centre));
  assert.equal((await nextEvent(rig, events, 'stale reply')).kind, 'stale');
  const answer = sign('lookup-reply', reply({ correlationId: request.correlationId, colour: 'green' }), centre);
  await send(rig, topics.reply, answer);
  const event = await within(decided, EVENT_WAIT_MS, 'the decision on the look-up');
  assert.equal(event.decidedBy, 'online-lookup');
  assert.equal(event.verdict, 'pass', 'the stale red reply was applied');
  await wire.walkThrough();
  events = rig.events.length;
  await send(rig, topics.reply, answer);
  const replayed = await nextEvent(rig, events, 'answered reply again');
  assert.equal(replayed.kind, 'replayed');
  assert.match(replayed.detail, /already answered/);

  // A reply after the deadline is late, not hostile: dropped quietly (the lane decided without it).
  await until(() => agent.lane.state === 'idle', 10_000, 'the lane idle');
  const unanswered = world.platform.issue({ colour: 'green', kind: 'printed', maskedName: '郑*二' });
  decided = new Promise<DecisionEvent>((resolve) => agent.lane.once('decision', ({ event: e }) => resolve(e)));
  wire.presentCode(unanswered.code, 'scanner');
  const late = await within(decided, EVENT_WAIT_MS, 'the decision without an answer');
  assert.equal(late.decidedBy, 'offline-code');
  assert.equal(late.reason, 'status-unknown');
  const lateRequest = rig.requests[1]!;
  assert.ok(lateRequest);
  await until(() => agent.lane.state === 'idle', 10_000, 'the lane idle');
  const lateCase: Case = { name: 'a reply after the deadline', payload: sign('lookup-reply', reply({ correlationId: lateRequest.correlationId }), centre), expect: 'quiet' };
  await t.test(lateCase.name, () => check(rig, topics.reply, lateCase));
  await settle(rig, [...cases, lateCase], 2);
});

/** The signed trust list the tests put in credentials.trust: the simulator's issuer, and the operator delegated. */
function trustList(rig: Rig, version: number, operatorPem: string): string {
  const now = Date.now();
  const payload = {
    type: 'trust-list',
    site: rig.site,
    version,
    issuedAt: now,
    certificates: [rig.sim.world.platform.issuer.certificatePem],
    operators: [{ name: 'duty-desk', certificate: operatorPem, actions: ['open', 'lock', 'release-hold'], notBefore: now - 86_400_000, notAfter: now + 86_400_000 }],
  };
  return JSON.stringify(signJws('trust-list', payload, rig.centre));
}

/** A centre reload-trust command and its result. */
async function reloadTrust(rig: Rig): Promise<CommandResultMessage> {
  const results = rig.results.length;
  const command = { type: 'command', id: randomUUID(), site: rig.site, lane: rig.lane, issuedAt: Date.now(), action: 'reload-trust' };
  await send(rig, rig.topics.command, sign('command', command, rig.centre));
  await until(() => rig.results.length > results, EVENT_WAIT_MS, 'the reload-trust result');
  return rig.results[results]!;
}

/** A rig whose signed trust list delegates commands to `operator`: its commands take the operator's path in the command handler. */
async function startOperatorRig(t: TestContext, operator: SignerKeyPair): Promise<Rig> {
  const rig = await startRig(t, { trust: true });
  writeFileSync(rig.trustFile, trustList(rig, 1, operator.certificatePem));
  const loaded = await reloadTrust(rig);
  assert.equal(loaded.ok, true, loaded.detail);
  const results = rig.results.length;
  const command = { type: 'command', id: randomUUID(), site: rig.site, lane: rig.lane, issuedAt: Date.now(), action: 'release-hold' };
  await send(rig, rig.topics.command, sign('command', command, messageSigner(operator)));
  await until(() => rig.results.length > results, EVENT_WAIT_MS, "the operator's command result");
  assert.equal(rig.results[results]!.signedBy, 'duty-desk');
  return rig;
}

const b64json = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Every kind of signed message the link receives: its topic, its typ, whose kid it names, a valid payload. */
const SIGNED_KINDS: Array<{ kind: string; typ: SignedType; topic: (rig: Rig) => string; operator?: true; payload: (rig: Rig) => string }> = [
  { kind: 'colour/change', typ: 'colour-change', topic: (rig) => rig.topics.change, payload: (rig) => b64json({ type: 'colour-change', site: rig.site, seq: 1, issuedAt: Date.now(), changes: [] }) },
  { kind: 'colour/snapshot', typ: 'colour-snapshot', topic: (rig) => rig.topics.snapshot, payload: (rig) => b64json({ type: 'colour-snapshot', site: rig.site, version: 9, seq: 0, issuedAt: Date.now(), statuses: [] }) },
  { kind: 'command (centre)', typ: 'command', topic: (rig) => rig.topics.command, payload: (rig) => b64json({ type: 'command', id: randomUUID(), site: rig.site, lane: rig.lane, issuedAt: Date.now(), action: 'open' }) },
  { kind: 'command (operator)', typ: 'command', operator: true, topic: (rig) => rig.topics.command, payload: (rig) => b64json({ type: 'command', id: randomUUID(), site: rig.site, lane: rig.lane, issuedAt: Date.now(), action: 'open' }) },
  { kind: 'lookup/reply', typ: 'lookup-reply', topic: (rig) => rig.topics.reply, payload: (rig) => b64json({ type: 'lookup-reply', correlationId: randomUUID(), site: rig.site, lane: rig.lane, issuedAt: Date.now(), colour: 'green' }) },
];

// A lane reports a burst of SECURITY_EVENT_BURST refusals of one kind, then counts them: each rig takes that many forms.
const MALFORMED_FORMS = malformedJws('AAAAAAAAAAA', 'colour-change', '').length;

for (const signed of SIGNED_KINDS) {
  test(`${signed.kind}: every malformed JWS is refused as malformed, naming what, and reported like any refusal`, { timeout: 120_000 }, async (t) => {
    if (!requireMosquitto(t)) return;
    const operatorKey = signed.operator ? await createSignerCertificate({ subject: 'CN=Operator duty-desk, O=Site, C=CN' }) : null;
    for (let from = 0; from < MALFORMED_FORMS; from += SECURITY_EVENT_BURST) {
      const to = Math.min(from + SECURITY_EVENT_BURST, MALFORMED_FORMS);
      await t.test(`forms ${from + 1} to ${to}`, async (chunk) => {
        const rig = operatorKey ? await startOperatorRig(chunk, operatorKey) : await startRig(chunk);
        const kid = (operatorKey ? messageSigner(operatorKey) : rig.centre).kid.toString('base64url');
        const forms = malformedJws(kid, signed.typ, signed.payload(rig)).slice(from, to);
        const events = rig.events.length;
        for (const form of forms) {
          await chunk.test(form.name, () => check(rig, signed.topic(rig), { name: form.name, payload: form.text, expect: 'malformed', detail: form.detail }));
        }
        // Each refused as itself, none logged as a message that "could not be handled".
        assert.equal(rig.events.length - events, forms.length);
        assert.deepEqual(rig.logs.filter((l) => l.level >= 50).map((l) => l.msg), []);
      });
    }
  });
}

test('trust list: every malformed JWS in credentials.trust is refused by reload-trust, naming what; the list in force stays', { timeout: 120_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const operatorKey = await createSignerCertificate({ subject: 'CN=Operator duty-desk, O=Site, C=CN' });
  const rig = await startOperatorRig(t, operatorKey);
  const payload = b64json({ type: 'trust-list', site: rig.site, version: 2, issuedAt: Date.now(), certificates: [rig.sim.world.platform.issuer.certificatePem] });
  for (const form of malformedJws(rig.centre.kid.toString('base64url'), 'trust-list', payload)) {
    await t.test(form.name, async () => {
      writeFileSync(rig.trustFile, form.text);
      const result = await reloadTrust(rig);
      assert.equal(result.ok, false, `${form.name}: ${result.detail}`);
      assert.match(result.detail, /^trust list .*: refused: /, form.name);
      assert.match(result.detail, form.detail, form.name);
    });
  }
  assert.equal(rig.sim.agent.issuerTrust?.version, 1);
  assert.equal(rig.sim.agent.issuerTrust?.operators.size, 1);
  assert.deepEqual(rig.logs.filter((l) => l.level >= 50).map((l) => l.msg), []);
  await passGreen(rig);
});

test('topics the lane never subscribed to (a session left with stale subscriptions): unexpected-topic, nothing run', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const stray = (site: string): string[] => [`${BASE}/${site}/lane-9/command`, `${BASE}/another-site/colour/change`, `${BASE}/${site}/colour/other`, 'elsewhere/anything'];
  // An earlier gate under the same client id subscribed more widely; the broker keeps its session (clean start false).
  const rig = await startRig(t, {
    beforeAgent: async ({ site, lane, broker }) => {
      const old = await mqtt.connectAsync(broker.url, { clientId: `gate-${site}-${lane}`, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
      await old.subscribeAsync(stray(site), { qos: 1 });
      await old.endAsync();
    },
  });
  const command = sign('command', { type: 'command', id: randomUUID(), site: rig.site, lane: 'lane-9', issuedAt: Date.now(), action: 'open' }, rig.centre);
  const [otherLane, otherSite, notALeaf, elsewhere] = stray(rig.site) as [string, string, string, string];
  const cases: Array<[string, Case]> = [
    [otherLane, { name: "another lane's genuine command", payload: command, expect: 'unexpected-topic' }],
    [otherSite, { name: "another site's colour change", payload: 'x', expect: 'unexpected-topic' }],
    [notALeaf, { name: 'a leaf outside the topic tree', payload: 'x', expect: 'unexpected-topic' }],
    [elsewhere, { name: 'outside the base topic', payload: 'x', expect: 'unexpected-topic' }],
  ];
  for (const [topic, c] of cases) await t.test(`${c.name} (${topic})`, () => check(rig, topic, c));
  assert.equal(rig.results.length, 0);
  await passGreen(rig);
});

test('a stale subscription to its own security topic: the echo is rate-limited, not a storm', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t, {
    beforeAgent: async ({ site, lane, broker }) => {
      const old = await mqtt.connectAsync(broker.url, { clientId: `gate-${site}-${lane}`, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
      await old.subscribeAsync(`${BASE}/${site}/${lane}/security`, { qos: 1 });
      await old.endAsync();
    },
  });
  // One refused message; its event comes back as a message on a topic the lane does not expect, whose event comes back...
  await send(rig, rig.topics.command, 'not JSON');
  const window = SECURITY_EVENT_REFILL_MS + 1_000;
  await pause(window);
  const unexpected = rig.events.filter((e) => e.kind === 'unexpected-topic');
  assert.equal(rig.events.filter((e) => e.kind === 'malformed').length, 1);
  // A burst, then one report per refill period carrying the count of those not reported one by one.
  assert.ok(unexpected.length >= SECURITY_EVENT_BURST, `${unexpected.length} echoes reported`);
  assert.ok(unexpected.length <= SECURITY_EVENT_BURST + 2, `${unexpected.length} echoes reported in ${window} ms`);
  assert.ok(unexpected.some((e) => /not reported one by one/.test(e.detail)), 'no report of the suppressed echoes');
  await passGreen(rig);
});

/** The refused messages an event stands for: 1, or the count a summary carries. */
function represented(event: SecurityEventMessage): number {
  const summary = /^(\d+) messages refused as /.exec(event.detail);
  return summary ? Number(summary[1]) : 1;
}

test('a flood of 2,000 garbage messages on every topic: the lane keeps deciding, reports are rate-limited and add up', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t, { outbox: { maxMessages: 100 }, dropLogGuard: 1_000 });
  const { agent } = rig.sim;
  const topics = [rig.topics.change, rig.topics.snapshot, rig.topics.command, rig.topics.reply];
  const unknownKey = sign('colour-change', { type: 'colour-change', site: rig.site, seq: 5, issuedAt: Date.now(), changes: [] }, rig.stranger);
  const garbage = [noise(200, 7), 'garbage', JSON.stringify({ type: 'command', action: 'open' }), unknownKey];
  const FLOOD = 2_000;

  let maxDepth = 0;
  let maxLagMs = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - last - 10);
    last = now;
    maxDepth = Math.max(maxDepth, agent.outbox!.depth);
  }, 10);
  t.after(() => clearInterval(probe));

  // The burst, and a person at the gate while it arrives.
  for (let i = 0; i < FLOOD; i++) rig.attacker.publish(topics[i % topics.length]!, garbage[Math.floor(i / topics.length) % garbage.length]!, { qos: 0 });
  const during = passGreen(rig, 20_000);
  await send(rig, rig.topics.command, 'end of flood');
  const duringMs = await within(during, 30_000, 'the decision during the flood');

  // Every refused message is accounted for once the per-kind summaries are out.
  const total = FLOOD + 1;
  await until(() => rig.events.reduce((n, e) => n + represented(e), 0) >= total, SECURITY_EVENT_REFILL_MS * 3, 'every refused message reported or counted');
  await pause(200);
  clearInterval(probe);
  assert.equal(rig.events.reduce((n, e) => n + represented(e), 0), total);
  const kinds = new Set(rig.events.map((e) => e.kind));
  // The stranger's colour change is of the wrong kind on the other three topics.
  assert.deepEqual([...kinds].sort(), ['malformed', 'unknown-key', 'unsigned', 'wrong-type']);
  for (const kind of kinds) {
    const reported = rig.events.filter((e) => e.kind === kind);
    assert.ok(reported.length <= SECURITY_EVENT_BURST + 2, `${reported.length} ${kind} events for the flood`);
  }
  assert.ok(rig.events.length < 100, `${rig.events.length} security events`);
  const warnings = refusedWarnings(rig).length;
  assert.equal(warnings, rig.events.length, 'one warning per report, none per suppressed message');

  const afterMs = await passGreen(rig);
  t.diagnostic(`decision during the flood ${duringMs.toFixed(0)} ms, after ${afterMs.toFixed(0)} ms; worst event-loop lag ${maxLagMs.toFixed(0)} ms; outbox depth at most ${maxDepth}; ${rig.events.length} security events for ${total} refused messages`);
  assert.ok(maxDepth <= 100, `outbox depth ${maxDepth}`);
  assert.equal(agent.outbox!.dropped, 0, 'the flood pushed messages out of the outbox');
  assert.equal(rig.sim.agent.colours.sync.snapshotVersion, 1);
});

test('a flood while the outbox cannot drain: security reports give way to decisions, and a drop report does not feed on itself', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t, { outbox: { maxMessages: 100 }, dropLogGuard: 1_000 });
  const { agent } = rig.sim;
  const { site, lane, centre, stranger, impostor } = rig;

  // Broker gone: nothing leaves the outbox. The lane's pass waits there.
  await rig.broker.stop();
  await until(() => !agent.brokerConnected, EVENT_WAIT_MS, 'the link down');
  const { wire, world } = rig.sim;
  wire.setForehead({ ok: true, celsius: 36.5 });
  const decided = new Promise<DecisionEvent>((resolve) => agent.lane.once('decision', ({ event }) => resolve(event)));
  wire.presentCode(world.platform.issue({ colour: 'green', maskedName: '张*三' }).code, 'scanner');
  const decision = await within(decided, EVENT_WAIT_MS, 'the decision with the broker away');
  await wire.walkThrough();
  assert.ok(agent.outbox!.peek(1000).some((row) => row.id === decision.id));

  // Hostile messages of ten kinds, straight into the link's message handler, as fast as it takes them:
  // what a pump that cannot keep up with the network would face.
  const client = (agent.link as unknown as { client: MqttClient }).client;
  const change = (extra: Record<string, unknown>): string =>
    sign('colour-change', { type: 'colour-change', site, seq: 1, issuedAt: Date.now(), changes: [], ...extra } as never, centre);
  const kinds: Array<[string, string | Buffer]> = [
    [rig.topics.change, 'garbage'],
    [rig.topics.change, '{}'],
    [rig.topics.change, sign('colour-change', { type: 'colour-change', site, seq: 1, issuedAt: Date.now(), changes: [] }, stranger)],
    [rig.topics.change, sign('colour-change', { type: 'colour-change', site, seq: 1, issuedAt: Date.now(), changes: [] }, impostor)],
    [rig.topics.change, sign('command', { type: 'command', id: randomUUID(), site, lane, issuedAt: Date.now(), action: 'open' }, centre)],
    [rig.topics.change, change({ extra: 1 })],
    [rig.topics.change, change({ site: 'another-site' })],
    [rig.topics.change, change({ issuedAt: Date.now() + 3_600_000 })],
    [rig.topics.change, Buffer.alloc(MAX_BYTES + 1, 0x20)],
    [`${BASE}/${site}/${lane}/status`, 'x'],
  ];
  for (let i = 0; i < 2_000; i++) {
    const [topic, payload] = kinds[i % kinds.length]!;
    client.emit('message', topic, typeof payload === 'string' ? Buffer.from(payload) : payload, { cmd: 'publish', topic, payload, qos: 0, dup: false, retain: false } as never);
  }
  await pause(200); // the event loop turns: no report loop holds it

  assert.ok(agent.outbox!.depth <= 100, `outbox depth ${agent.outbox!.depth}`);
  assert.ok(agent.outbox!.dropped > 0, 'the reports did not overflow the outbox: the test proves nothing');
  assert.ok(agent.outbox!.peek(1000).some((row) => row.id === decision.id), 'a security report pushed the decision out of the outbox');
  const dropLogs = rig.logs.filter((l) => l.msg.startsWith('outbox full'));
  assert.ok(dropLogs.length >= 1 && dropLogs.length <= 3, `${dropLogs.length} drop reports for one burst`);

  // The broker back (empty: no persistence): it acknowledges the decision, which leaves the outbox. Seen there,
  // not at the observer, which may subscribe again only after the gate has sent it.
  await rig.broker.start();
  await until(() => !agent.outbox!.peek(1000).some((row) => row.id === decision.id), 15_000, 'the broker acknowledging the decision after the outage');
  await until(() => rig.observer.connected, 15_000, 'the observer back');
  await within(rig.observer.subscribeAsync(`${BASE}/${site}/${lane}/#`, { qos: 1 }), EVENT_WAIT_MS, 'the observer subscribing again');
  await passGreen(rig);
});

test('stopping while the broker has stopped answering: the agent still stops, within a bound', { timeout: 30_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t);
  // Frozen, the broker keeps the connection open and acknowledges nothing, as when a link dies during shutdown.
  rig.broker.signal('SIGSTOP');
  try {
    assert.equal(rig.sim.agent.brokerConnected, true);
    const started = performance.now();
    await within(rig.close(), 8_000, 'the agent stopping');
    t.diagnostic(`stopped in ${(performance.now() - started).toFixed(0)} ms without the broker's acknowledgement`);
  } finally {
    rig.broker.signal('SIGCONT');
  }
});
