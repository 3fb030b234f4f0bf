/**
 * The real edge agent (real drivers on wire-level virtual hardware) against
 * a real Mosquitto with TLS, client certificates (the CN is the username)
 * and a per-device ACL, with the simulated centre over mTLS too. A raw
 * subscriber on hc/v1/# records every message that crosses the broker; at
 * the end each one is checked against the schema its topic names in the
 * AsyncAPI document.
 *
 * Over 500 lines on purpose: every case runs against the one broker, agent
 * and recording subscriber started once, so that the final schema check sees
 * every message all of them sent.
 */
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import type { GateAgent } from '../../edge-agent/agent.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { DecisionRecord, Lane } from '../../edge-agent/lane/lane.js';
import { asyncApiDocument } from '../../protocol/asyncapi.js';
import {
  check,
  type CommandResultMessage,
  type DecisionEventMessage,
  type LaneStatusMessage,
  type RedAlertMessage,
  type SchemaName,
  type TelemetryMessage,
} from '../../protocol/contract.js';
import { isContractError } from '../../protocol/message-error.js';
import { type MessageSigner, messageSigner, signMessage } from '../../protocol/signed-message.js';
import { LANE_UP_LEAVES } from '../../protocol/topics.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { createSimulatedLane, pushAndWait, type SimulatedLane } from '../../simulator/simulated-lane.js';
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  type CertificateAuthority,
  type CertifiedKey,
} from '../../provisioning/pki.js';
import { cleanupStack } from '../support/cleanups.js';
import { requireMosquitto, startMosquitto, type MosquittoBroker } from '../support/mosquitto.js';
import { pause, until } from '../support/wait.js';

const BASE = 'hc/v1';
const SITE = 's1';
const LANE = 'l1';
const GATE = `gate-${SITE}-${LANE}`;
const LANE_TOPIC = `${BASE}/${SITE}/${LANE}`;
const COLOUR_CHANGE = `${BASE}/${SITE}/colour/change`;
const COLOUR_SNAPSHOT = `${BASE}/${SITE}/colour/snapshot`;

/**
 * The gate writes only its own up topics: Mosquitto has no write-only deny,
 * so "its lane except command and lookup/reply" is spelt out leaf by leaf.
 */
const ACL = [
  `user ${GATE}`,
  ...LANE_UP_LEAVES.map((leaf) => `topic write ${LANE_TOPIC}/${leaf}`),
  `topic read ${BASE}/${SITE}/centre/#`,
  `topic read ${BASE}/${SITE}/colour/#`,
  `topic read ${LANE_TOPIC}/command`,
  `topic read ${LANE_TOPIC}/lookup/reply`,
  '',
  'user centre',
  `topic readwrite ${BASE}/#`,
].join('\n');

let ca: CertificateAuthority;
let server: CertifiedKey;
let gateCert: CertifiedKey;
let centreCert: CertifiedKey;

before(async () => {
  ca = await createCertificateAuthority({ subject: 'CN=Agent Link Test CA, O=Demo, C=CN' });
  server = await issueServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  gateCert = await issueClientCertificate(ca, { commonName: GATE });
  centreCert = await issueClientCertificate(ca, { commonName: 'centre' });
});



interface Captured {
  topic: string;
  payload: Buffer;
  /** As published (the subscription asks for retain-as-published). */
  retain: boolean;
}

interface Rig {
  broker: MosquittoBroker;
  simulated: SimulatedLane;
  agent: GateAgent;
  centre: SimulatedCentre;
  signer: MessageSigner;
  captured: Captured[];
  dir: string;
}

/** The centre's mTLS options: its own client certificate. */
function centreTls() {
  return { ca: ca.certificatePem, cert: centreCert.certificatePem, key: centreCert.privateKeyPem, protocolVersion: 5 as const };
}

/**
 * Broker, monitor, agent and centre; all stopped (in reverse order) and the
 * temp dir removed when the test ends, whatever happened.
 */
async function startRig(
  t: TestContext,
  options: { colour?: Record<string, unknown>; beforeStart?: (rig: Omit<Rig, 'agent'>) => Promise<void> } = {},
): Promise<Rig> {
  const cleanups = cleanupStack(t);

  const broker = await startMosquitto({
    plain: false,
    acl: ACL,
    tls: { caPem: ca.certificatePem, certPem: server.certificatePem, keyPem: server.privateKeyPem, requireCertificate: true, useIdentityAsUsername: true },
  });
  cleanups.push(() => broker.stop());
  const url = broker.tlsUrl!;

  const dir = mkdtempSync(join(tmpdir(), 'gate-agent-link-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const tls = { ca: file('ca.pem', ca.certificatePem), cert: file('gate.pem', gateCert.certificatePem), key: file('gate.key', gateCert.privateKeyPem) };

  const captured: Captured[] = [];
  const monitor = await mqtt.connectAsync(url, { ...centreTls(), clientId: 'monitor', reconnectPeriod: 0 });
  cleanups.push(() => monitor.endAsync(true));
  monitor.on('message', (topic, payload, packet) => captured.push({ topic, payload, retain: packet.retain }));
  await monitor.subscribeAsync(`${BASE}/#`, { qos: 1, rap: true });

  const config = checkConfig({
    site: SITE,
    lane: LANE,
    timing: { relayPulseMs: 100, passageTimeoutMs: 1000, denyDisplayMs: 30, temperatureDeadlineMs: 300, repeatSuppressMs: 1000 },
    journal: { path: join(dir, 'journal.db') },
    // Written below, once the simulated world (and its issuer) exists; read only by reload-trust.
    credentials: { trust: join(dir, 'issuers.pem') },
    mqtt: { url, tls, telemetryIntervalSeconds: 1 },
    ...(options.colour ? { colour: options.colour } : {}),
    log: { level: 'silent' },
  });
  const simulated = await createSimulatedLane(config, pino({ level: 'silent' }));
  cleanups.push(() => simulated.close());
  file('issuers.pem', simulated.world.platform.issuer.certificatePem);

  const centre = await SimulatedCentre.start({
    url,
    key: simulated.centreKey,
    colourOf: (sub) => simulated.world.platform.colourOf(sub) ?? null,
    clientOptions: { ...centreTls(), reconnectPeriod: 0 },
  });
  cleanups.push(() => centre.stop());
  const { centreKey } = simulated;
  const signer: MessageSigner = messageSigner(centreKey);

  const rig = { broker, simulated, agent: simulated.agent, centre, signer, captured, dir };
  await options.beforeStart?.(rig);
  await rig.agent.start();
  await simulated.wire.scannerOpened();
  await until('the agent to connect', () => rig.agent.brokerConnected, 10_000);
  return rig;
}

/** Captured messages on one of the lane's topics, parsed. */
function onLane<T>(rig: Rig, leaf: string): Array<{ message: T; retain: boolean; index: number }> {
  const topic = `${LANE_TOPIC}/${leaf}`;
  return rig.captured.flatMap((c, index) => (c.topic === topic ? [{ message: JSON.parse(c.payload.toString('utf8')) as T, retain: c.retain, index }] : []));
}

/** The agent's own MQTT.js client: to act as the gate itself (its identity, its connection). */
function gateClient(agent: GateAgent): MqttClient {
  const client = (agent.link as unknown as { client: MqttClient | null } | null)?.client;
  assert.ok(client, 'the agent has no MQTT client');
  return client;
}

function untilIdle(lane: Lane, timeoutMs = 5_000): Promise<void> {
  return until(`the lane to be idle (it is ${lane.state})`, () => lane.state === 'idle', timeoutMs);
}

/** A person holds a code to the scanner; resolves with the lane's decision. */
async function decide(rig: Rig, code: string, celsius = 36.5): Promise<DecisionRecord> {
  const { lane } = rig.agent;
  const { wire } = rig.simulated;
  await untilIdle(lane);
  wire.setForehead({ ok: true, celsius });
  const decided = new Promise<DecisionRecord>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no decision within 5 s (lane is ${lane.state})`)), 5_000);
    lane.once('decision', (record) => {
      clearTimeout(timer);
      resolve(record);
    });
  });
  wire.presentCode(code, 'scanner');
  const record = await decided;
  wire.withdrawCode();
  return record;
}

async function passThrough(rig: Rig): Promise<void> {
  await rig.simulated.wire.walkThrough();
  await untilIdle(rig.agent.lane);
}

/** Topic pattern → the schema(s) the AsyncAPI document names for it. */
function channelSchemas(): Array<{ id: string; pattern: RegExp; payload: SchemaName; signed: SchemaName | null }> {
  const doc = asyncApiDocument(BASE) as {
    channels: Record<string, { address: string; messages: Record<string, { $ref: string }> }>;
    components: { messages: Record<string, { payload: { $ref: string }; 'x-signed-payload'?: { $ref: string } }> };
  };
  const schemaOf = (ref: string): SchemaName => ref.replace('#/components/schemas/', '') as SchemaName;
  return Object.entries(doc.channels).map(([id, channel]) => {
    const messageRef = Object.values(channel.messages)[0]!.$ref.replace('#/components/messages/', '');
    const message = doc.components.messages[messageRef]!;
    const pattern = new RegExp(`^${channel.address.replace(/\{site\}|\{lane\}/g, '[A-Za-z0-9_-]{1,64}')}$`);
    const signedRef = message['x-signed-payload']?.$ref;
    return { id, pattern, payload: schemaOf(message.payload.$ref), signed: signedRef ? schemaOf(signedRef) : null };
  });
}

/** Every captured message that does not conform to the schema its topic names, as "topic: problem". */
function contractProblems(captured: Captured[]): string[] {
  const channels = channelSchemas();
  const problems: string[] = [];
  for (const { topic, payload } of captured) {
    const matches = channels.filter((c) => c.pattern.test(topic));
    if (matches.length !== 1) {
      problems.push(`${topic}: ${matches.length} channels of the contract match this topic`);
      continue;
    }
    const channel = matches[0]!;
    try {
      const message = check(channel.payload, JSON.parse(payload.toString('utf8')));
      if (channel.signed) {
        const envelope = message as { payload: string };
        check(channel.signed, JSON.parse(Buffer.from(envelope.payload, 'base64url').toString('utf8')));
      }
    } catch (error) {
      problems.push(`${topic}: ${isContractError(error) ? error.message : `not JSON (${(error as Error).message})`}`);
    }
  }
  return problems;
}

function assertConforms(rig: Rig): void {
  assert.ok(rig.captured.length > 0, 'nothing captured');
  assert.deepEqual(contractProblems(rig.captured), [], 'messages on the broker that break the contract');
}

test('the contract check names the topic and the field of a message that breaks it', () => {
  const envelope = (payload: object): Buffer =>
    Buffer.from(JSON.stringify({ protected: 'eyJhbGciOiJFUzI1NiJ9', payload: Buffer.from(JSON.stringify(payload)).toString('base64url'), signature: 'c2ln' }));
  const problems = contractProblems([
    { topic: `${LANE_TOPIC}/status`, payload: Buffer.from('{"state":"offline"}'), retain: true },
    { topic: `${LANE_TOPIC}/status`, payload: Buffer.from('{"state":"online","laneState":"dancing"}'), retain: true },
    { topic: `${LANE_TOPIC}/decision`, payload: Buffer.from('not json'), retain: false },
    { topic: COLOUR_CHANGE, payload: envelope({ type: 'colour-change', site: SITE, seq: 0, issuedAt: 1, changes: [] }), retain: false },
    { topic: `${LANE_TOPIC}/surprise`, payload: Buffer.from('{}'), retain: false },
  ]);
  assert.equal(problems.length, 4, problems.join('\n'));
  assert.equal(problems[0], 'hc/v1/s1/l1/status: Lane status: laneState must be equal to one of the allowed values');
  assert.match(problems[1]!, /^hc\/v1\/s1\/l1\/decision: not JSON/);
  assert.match(problems[2]!, /^hc\/v1\/s1\/colour\/change: Colour change \(signed payload\): seq must be >= 1/);
  assert.equal(problems[3], 'hc/v1/s1/l1/surprise: 0 channels of the contract match this topic');
});

test('the agent over mTLS with a per-device ACL: status and Last Will, decisions, alerts, pushed colours, gap resync, look-up, commands, ACL refusals, telemetry', { timeout: 120_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t, { beforeStart: ({ centre }) => centre.publishSnapshot(SITE) });
  const { agent, centre, signer } = rig;
  const { world } = rig.simulated;
  const decisions: DecisionRecord[] = [];
  agent.lane.on('decision', (record) => decisions.push(record));
  const statuses = (): Array<{ message: LaneStatusMessage; retain: boolean; index: number }> => onLane<LaneStatusMessage>(rig, 'status');
  const command = async (action: Parameters<SimulatedCentre['command']>[2], extra?: { key?: string; value?: unknown }): Promise<CommandResultMessage> =>
    centre.command(SITE, LANE, action, extra);

  // --- Retained status, online, on connect.
  await until('an online status', () => statuses().some((s) => s.message.state === 'online'));
  const online = statuses().find((s) => s.message.state === 'online')!;
  assert.equal(online.retain, true, 'the status is published retained');
  assert.equal(typeof online.message.time, 'string');
  const late = await mqtt.connectAsync(rig.broker.tlsUrl!, { ...centreTls(), clientId: 'late-subscriber', reconnectPeriod: 0 });
  t.after(() => late.endAsync(true));
  const retained = new Promise<{ payload: string; retain: boolean }>((resolve) => late.once('message', (_topic, payload, packet) => resolve({ payload: payload.toString(), retain: packet.retain })));
  await late.subscribeAsync(`${LANE_TOPIC}/status`, { qos: 1 });
  const seen = await Promise.race([retained, pause(5_000).then(() => null)]);
  assert.ok(seen, 'a late subscriber got no retained status');
  assert.equal(seen.retain, true);
  assert.equal((JSON.parse(seen.payload) as LaneStatusMessage).state, 'online');
  await late.endAsync(true);

  // --- A green code passes; a red code is held, raising an alert, and the centre's release-hold ends it.
  const green = world.platform.issue({ colour: 'green', maskedName: '张*三' });
  let record = await decide(rig, green.code);
  assert.deepEqual([record.decision.verdict, record.decision.reason, record.event.decidedBy], ['pass', 'green-normal', 'offline-code']);
  await passThrough(rig);

  const red = world.platform.issue({ colour: 'red', maskedName: '赵*六' });
  record = await decide(rig, red.code);
  assert.deepEqual([record.decision.verdict, record.decision.reason], ['hold', 'red']);
  assert.equal(agent.lane.state, 'held');
  let result = await command('release-hold');
  assert.equal(result.ok, true, result.detail);
  assert.equal(agent.lane.state, 'idle');

  // --- A colour change pushed by the centre is applied and decides the next person.
  const turned = world.platform.issue({ colour: 'green', maskedName: '冯*二' });
  await pushAndWait(centre, agent, [{ sub: turned.sub, colour: 'red' }]);
  assert.equal(agent.colours.get(turned.sub)?.colour, 'red');
  record = await decide(rig, turned.code);
  assert.deepEqual([record.decision.verdict, record.decision.reason, record.event.decidedBy], ['hold', 'red', 'pushed-status']);
  assert.equal(agent.lane.staffRelease(), true);

  // --- A printed code's colour comes from the centre by an online look-up.
  const printed = world.platform.issue({ colour: 'green', kind: 'printed', maskedName: '郑*一' });
  record = await decide(rig, printed.code);
  assert.deepEqual([record.decision.verdict, record.event.decidedBy], ['pass', 'online-lookup']);
  await passThrough(rig);
  const requests = onLane<{ key: string }>(rig, 'lookup/request');
  assert.deepEqual(requests.map((r) => r.message.key), [printed.sub]);
  await until('the look-up reply on the broker', () => onLane(rig, 'lookup/reply').length === 1);

  // --- Commands: set-config takes effect on the next person; a bad value is refused and changes nothing.
  result = await command('set-config', { key: 'policy.feverThresholdC', value: 38.5 });
  assert.equal(result.ok, true, result.detail);
  assert.equal(agent.settings.policy.feverThresholdC, 38.5);
  const warm = world.platform.issue({ colour: 'green', maskedName: '李*四' });
  record = await decide(rig, warm.code, 38.2);
  assert.deepEqual([record.decision.verdict, record.decision.reason], ['pass', 'green-normal'], '38.2 °C is under the new threshold');
  await passThrough(rig);
  result = await command('set-config', { key: 'policy.feverThresholdC', value: 45 });
  assert.equal(result.ok, false, `45 °C accepted: ${result.detail}`);
  assert.match(result.detail, /policy\.feverThresholdC/);
  assert.equal(agent.settings.policy.feverThresholdC, 38.5);

  result = await command('open');
  assert.equal(result.ok, true, result.detail);
  assert.equal(agent.lane.state, 'open');
  assert.equal(decisions.at(-1)?.decision.reason, 'remote-open');
  result = await command('lock');
  assert.equal(result.ok, true, result.detail);
  assert.equal(agent.lane.state, 'idle');
  assert.equal(rig.simulated.wire.leafReleased, false, 'the relay is back at locked');

  result = await command('reload-trust');
  assert.equal(result.ok, true, result.detail);
  assert.match(result.detail, /^1 issuer certificate from /);

  // --- A gap in the colour sequence: the gate reads the retained snapshot again and learns what it missed.
  const gate = gateClient(agent);
  const n = agent.colourSync.lastSeq!;
  const version = agent.colours.sync.snapshotVersion!;
  const missed = world.platform.issue({ colour: 'green', maskedName: '卫*五' });
  const later = world.platform.issue({ colour: 'green', maskedName: '蒋*六' });
  // The gate misses the live copy of the next snapshot (it is unsubscribed while the centre publishes it).
  await gate.unsubscribeAsync(COLOUR_SNAPSHOT);
  const kept = agent.colours.get(turned.sub)!;
  const now = Date.now();
  const snapshot = signMessage(
    'colour-snapshot',
    {
      type: 'colour-snapshot',
      site: SITE,
      version: version + 1,
      seq: n + 1,
      issuedAt: now,
      statuses: [
        { sub: turned.sub, colour: 'red', effectiveAt: kept.effectiveAt },
        { sub: missed.sub, colour: 'yellow', effectiveAt: now },
      ],
    },
    signer,
  );
  const snapshotText = JSON.stringify(snapshot);
  await centre.client.publishAsync(COLOUR_SNAPSHOT, snapshotText, { qos: 1, retain: true });
  await until('the monitor to see the snapshot', () => rig.captured.some((c) => c.payload.toString() === snapshotText));
  await pause(200);
  assert.equal(agent.colours.get(missed.sub), null, 'the gate should not have had the live snapshot');

  const resyncs: unknown[] = [];
  agent.colourSync.on('resync', (info) => resyncs.push(info));
  const skipped = signMessage(
    'colour-change',
    { type: 'colour-change', site: SITE, seq: n + 2, issuedAt: Date.now(), changes: [{ sub: later.sub, colour: 'red', effectiveAt: Date.now() }] },
    signer,
  );
  await centre.client.publishAsync(COLOUR_CHANGE, JSON.stringify(skipped), { qos: 1 });
  await until('the missed subject to be known after the resync', () => agent.colours.get(missed.sub)?.colour === 'yellow');
  assert.deepEqual(resyncs, [{ seq: n, missingUpTo: n + 1 }]);
  assert.equal(agent.colourSync.resyncPending, false);
  assert.equal(agent.colourSync.lastSeq, n + 2);
  assert.equal(agent.colours.get(later.sub)?.colour, 'red');
  record = await decide(rig, missed.code);
  assert.deepEqual([record.decision.verdict, record.decision.reason, record.event.decidedBy], ['deny', 'yellow', 'pushed-status']);

  // --- The gate cannot speak for the centre: the broker refuses (PUBACK 0x87) and nobody receives it.
  const forged = [
    { topic: COLOUR_CHANGE, payload: JSON.stringify(signMessage('colour-change', { type: 'colour-change', site: SITE, seq: n + 3, issuedAt: Date.now(), changes: [{ sub: red.sub, colour: 'green', effectiveAt: Date.now() }] }, signer)) },
    { topic: `${LANE_TOPIC}/command`, payload: '{"forged":"command"}' },
    { topic: `${LANE_TOPIC}/lookup/reply`, payload: '{"forged":"lookup reply"}' },
  ];
  for (const { topic, payload } of forged) {
    await assert.rejects(gate.publishAsync(topic, payload, { qos: 1 }), (error: Error & { code?: unknown }) => {
      assert.equal(error.code, 0x87, `PUBACK reason for ${topic}: ${error.message}`);
      return true;
    });
  }
  assert.equal(gate.connected, true, 'a refused publish does not cost the gate its connection');
  // One publisher's messages keep their order: once a later one is in, the refused ones would have been too.
  const marker = statuses().length;
  agent.link!.publishStatus();
  await until('a status after the refused publishes', () => statuses().length > marker);
  for (const { topic, payload } of forged) {
    assert.ok(!rig.captured.some((c) => c.payload.toString() === payload), `the monitor received the gate's forged ${topic}`);
  }
  assert.match(rig.broker.log(), new RegExp(`Denied PUBLISH from ${GATE} .*'${COLOUR_CHANGE}'`));

  // --- Telemetry, every second: outbox depth and the age of the last colour sync.
  await until('telemetry after the gap', () => onLane<TelemetryMessage>(rig, 'telemetry').some((m) => m.message.colourSeq === n + 2), 5_000);
  const telemetry = onLane<TelemetryMessage>(rig, 'telemetry').at(-1)!.message;
  assert.equal(telemetry.site, SITE);
  assert.ok(Number.isInteger(telemetry.outbox.depth) && telemetry.outbox.depth >= 0, `outbox depth ${telemetry.outbox.depth}`);
  assert.ok(typeof telemetry.colourSyncAgeSeconds === 'number' && telemetry.colourSyncAgeSeconds < 60, `colour sync age ${telemetry.colourSyncAgeSeconds}`);
  assert.equal(telemetry.degraded, false);

  // mqtt.telemetryIntervalSeconds is a run-time key: the new interval must take effect, not just be accepted.
  result = await command('set-config', { key: 'mqtt.telemetryIntervalSeconds', value: 60 });
  assert.equal(result.ok, true, result.detail);
  const slowedAt = Date.now();
  const telemetryBefore = onLane(rig, 'telemetry').length;

  // --- Last Will: the connection dies without a DISCONNECT; the broker says offline, then the agent is back.
  await until('the outbox to drain', () => agent.outbox!.depth === 0);
  const beforeKill = statuses().length;
  gate.stream.destroy();
  await until('the Last Will', () => statuses().slice(beforeKill).some((s) => s.message.state === 'offline'), 10_000);
  const will = statuses().slice(beforeKill).find((s) => s.message.state === 'offline')!;
  assert.deepEqual(will.message, { state: 'offline' }, 'the Will carries no time');
  assert.equal(will.retain, true);
  await until('online again', () => statuses().some((s) => s.index > will.index && s.message.state === 'online'), 10_000);
  const after = world.platform.issue({ colour: 'green', maskedName: '韩*七' });
  record = await decide(rig, after.code);
  assert.equal(record.decision.verdict, 'pass');
  await passThrough(rig);
  result = await command('lock');
  assert.equal(result.ok, true, 'commands reach the gate after the reconnect');

  await pause(Math.max(0, slowedAt + 2_500 - Date.now()));
  assert.equal(onLane(rig, 'telemetry').length, telemetryBefore, 'telemetry still every second after set-config made it 60 s');

  // --- Every decision and alert published once; seq gap-free.
  await until('every decision on the broker', () => decisions.every((d) => onLane<DecisionEventMessage>(rig, 'decision').some((m) => m.message.id === d.event.id)));
  await pause(300); // a duplicate would show by now
  const published = onLane<DecisionEventMessage>(rig, 'decision').map((m) => m.message);
  assert.deepEqual(published.map((e) => e.id).sort(), decisions.map((d) => d.event.id).sort(), 'each decision published once');
  assert.deepEqual(published.map((e) => e.seq), published.map((_e, i) => i + 1), 'per-lane seq gap-free, in order');
  for (const event of published) assert.deepEqual(event, agent.journal.get(event.id), `event ${event.id} as journaled`);
  const holds = decisions.filter((d) => d.decision.verdict === 'hold').map((d) => d.event.id);
  assert.equal(holds.length, 2);
  await until('every alert', () => onLane(rig, 'alert').length >= holds.length);
  await pause(100);
  assert.deepEqual(onLane<RedAlertMessage>(rig, 'alert').map((a) => a.message.eventId).sort(), [...holds].sort(), 'each red hold alerted once');

  const security = onLane<{ kind: string; detail: string }>(rig, 'security').map((s) => `${s.message.kind}: ${s.message.detail}`);
  assert.deepEqual(security, [], 'the gate refused a legitimate message');
  assertConforms(rig);
});

test('cut off from the centre: status and the next decision say degraded; a fresh snapshot ends it', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  // The centre's last word was issued 7 s ago and no heartbeat follows: degraded once it is 10 s old.
  let lastWordAt = 0;
  const rig = await startRig(t, {
    colour: { maxSyncAgeSeconds: 10 },
    beforeStart: async ({ centre, signer }) => {
      lastWordAt = Date.now() - 7_000;
      const snapshot = signMessage('colour-snapshot', { type: 'colour-snapshot', site: SITE, version: 1, seq: 0, issuedAt: lastWordAt, statuses: [] }, signer);
      await centre.client.publishAsync(COLOUR_SNAPSHOT, JSON.stringify(snapshot), { qos: 1, retain: true });
    },
  });
  const { agent, centre, signer } = rig;
  const { world } = rig.simulated;
  const statuses = (): LaneStatusMessage[] => onLane<LaneStatusMessage>(rig, 'status').map((s) => s.message);

  await until('the old snapshot applied', () => agent.colours.sync.snapshotVersion === 1);
  // Unless the machine is so loaded that start-up took seconds.
  if (Date.now() - lastWordAt < 9_500) assert.equal(agent.colourSync.degraded, false, 'not yet: the snapshot is under 10 s old');
  await until('a degraded status', () => statuses().some((s) => s.degraded === true), 8_000);
  assert.ok(Date.now() - lastWordAt >= 10_000, 'degraded before maxSyncAgeSeconds passed');
  assert.equal(statuses().find((s) => s.state === 'online')?.degraded, false, 'the first status was not degraded');
  await until('degraded telemetry', () => onLane<TelemetryMessage>(rig, 'telemetry').some((m) => m.message.degraded), 3_000);

  // With whenDegraded 'staff' (the default) a green code no longer passes by itself.
  const green = world.platform.issue({ colour: 'green', maskedName: '张*三' });
  const record = await decide(rig, green.code);
  assert.equal(record.event.degraded, true);
  assert.deepEqual([record.decision.verdict, record.decision.reason], ['deny', 'degraded']);
  await until('the decision on the broker', () => onLane<DecisionEventMessage>(rig, 'decision').some((m) => m.message.id === record.event.id));
  assert.equal(onLane<DecisionEventMessage>(rig, 'decision').find((m) => m.message.id === record.event.id)!.message.degraded, true);

  // The centre is back: a fresh snapshot syncs the gate, which says so.
  const fresh = signMessage('colour-snapshot', { type: 'colour-snapshot', site: SITE, version: 2, seq: 0, issuedAt: Date.now(), statuses: [] }, signer);
  const degradedAt = statuses().length;
  await centre.client.publishAsync(COLOUR_SNAPSHOT, JSON.stringify(fresh), { qos: 1, retain: true });
  await until('a synced status', () => statuses().slice(degradedAt).some((s) => s.degraded === false), 5_000);
  const next = world.platform.issue({ colour: 'green', maskedName: '李*四' });
  const synced = await decide(rig, next.code);
  assert.equal(synced.event.degraded, false);
  assert.equal(synced.decision.verdict, 'pass');
  await passThrough(rig);
  await until('every decision on the broker', () => onLane(rig, 'decision').length === 2);

  assertConforms(rig);
});
