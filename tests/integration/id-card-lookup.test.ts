/**
 * ID-card look-up end to end: the real edge agent, on virtual lane
 * hardware with an in-memory ID-card reader, against a real Mosquitto with a
 * per-device ACL, and the simulated centre answering look-ups from the
 * reference platform's residents. The gate reads the site's id-hash key from
 * the file privacy.idHashKey names, as a provisioned gate does. A raw
 * subscriber on hc/v1/# records every message: the look-up request's key is
 * the keyed hash, and no message that crosses the broker holds the number.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { GateAgent } from '../../edge-agent/agent.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import type { DecisionRecord } from '../../edge-agent/lane/lane.js';
import { check, type LookupRequestMessage, type RedAlertMessage } from '../../protocol/contract.js';
import { openSignedMessage } from '../../protocol/signed-message.js';
import { LANE_UP_LEAVES } from '../../protocol/topics.js';
import { generateIdHashKeyFile, idHash, readIdHashKey } from '../../protocol/privacy/id-hash.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { createVirtualLaneHardware, InMemoryIdCardReader, type VirtualLaneHardware } from '../../simulator/hardware/virtual-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { cleanupStack } from '../support/cleanups.js';
import { requireMosquitto, startMosquitto } from '../support/mosquitto.js';
import { until } from '../support/wait.js';

const BASE = 'hc/v1';
const SITE = 's1';
const LANE = 'l1';
const GATE = `gate-${SITE}-${LANE}`;
const LANE_TOPIC = `${BASE}/${SITE}/${LANE}`;
const PASSWORDS = { [GATE]: 'gate-password-1', centre: 'centre-password-1' };
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

test('an ID card is looked up by the keyed hash over a real broker: green passes, red is held, unknown and unanswered go to staff; no number crosses the broker', { timeout: 120_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const cleanups = cleanupStack(t);
  const broker = await startMosquitto({ passwords: PASSWORDS, acl: ACL });
  cleanups.push(() => broker.stop());
  const dir = mkdtempSync(join(tmpdir(), 'id-card-lookup-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

  // The site key, as gate-provision init makes it; the centre and the gate share it.
  const keyFile = join(dir, 'id-hash.key');
  writeFileSync(keyFile, generateIdHashKeyFile(), { mode: 0o600 });
  const siteKey = readIdHashKey(keyFile);

  const platform = await ReferencePlatform.create();
  const green = platform.registerResident('green', siteKey);
  const red = platform.registerResident('red', siteKey);
  const stranger = ReferencePlatform.madeUpNationalId();
  const numbers = [green.nationalId, red.nationalId, stranger];
  const centreKey = await createSignerCertificate({ subject: 'CN=Health-code centre (test), O=Reference platform, C=CN' });

  const captured: Array<{ topic: string; payload: string; expiry?: number }> = [];
  const monitor = await mqtt.connectAsync(broker.url, { clientId: 'monitor', username: 'centre', password: PASSWORDS.centre, protocolVersion: 5, reconnectPeriod: 0 });
  cleanups.push(() => monitor.endAsync(true));
  monitor.on('message', (topic, payload, packet) => {
    const expiry = packet.properties?.messageExpiryInterval;
    captured.push({ topic, payload: payload.toString('utf8'), ...(expiry !== undefined ? { expiry } : {}) });
  });
  await monitor.subscribeAsync(`${BASE}/#`, { qos: 1 });

  const centre = await SimulatedCentre.start({
    url: broker.url,
    key: centreKey,
    colourOfIdHash: (hash) => platform.colourOfIdHash(hash) ?? null,
    clientOptions: { username: 'centre', password: PASSWORDS.centre, reconnectPeriod: 0 },
  });
  let centreStopped = false;
  cleanups.push(() => (centreStopped ? undefined : centre.stop()));
  await centre.publishSnapshot(SITE);

  const config = checkConfig({
    site: SITE,
    lane: LANE,
    timing: { relayPulseMs: 100, passageTimeoutMs: 1000, denyDisplayMs: 30, temperatureDeadlineMs: 300, repeatSuppressMs: 1000 },
    journal: { path: join(dir, 'journal.db') },
    mqtt: { url: broker.url, username: GATE, password: PASSWORDS[GATE], lookupTimeoutMs: 800 },
    privacy: { idHashKey: keyFile },
    log: { level: 'silent' },
  });
  const trust = new TrustStore();
  trust.add(platform.issuer.certificate, 'reference platform');
  const centreKeys = new TrustStore();
  centreKeys.add(centreKey.certificate, 'test centre');
  const hardware: VirtualLaneHardware = createVirtualLaneHardware();
  const card = new InMemoryIdCardReader();
  hardware.idCardReader = card;
  const agent = new GateAgent({ config, hardware, logger: pino({ level: 'silent' }), trust, centreKeys });
  cleanups.push(() => agent.stop());
  await agent.start();
  await until('the agent to connect', () => agent.brokerConnected, 10_000);

  const swipe = async (nationalId: string): Promise<DecisionRecord> => {
    await until(`the lane to be idle (it is ${agent.lane.state})`, () => agent.lane.state === 'idle');
    const decided = new Promise<DecisionRecord>((resolve) => agent.lane.once('decision', resolve));
    card.swipe(nationalId);
    return decided;
  };
  const onLane = (leaf: string): string[] => captured.filter((c) => c.topic === `${LANE_TOPIC}/${leaf}`).map((c) => c.payload);

  // --- Green: the centre knows the hash; the person passes on the centre's colour.
  let record = await swipe(green.nationalId);
  assert.deepEqual([record.decision.verdict, record.decision.reason, record.event.decidedBy], ['pass', 'green-normal', 'online-lookup']);
  assert.equal(record.event.subject, null);
  assert.equal(record.event.credential?.kind, 'id-card');
  hardware.passage.walkThrough();

  await until('the look-up request on the broker', () => onLane('lookup/request').length === 1);
  const request = check('lookupRequest', JSON.parse(onLane('lookup/request')[0]!)) as LookupRequestMessage;
  assert.equal(request.kind, 'id-hash');
  // The broker keeps a request no longer than the look-up deadline (MQTT 5 message expiry, counted down by the broker).
  const expiry = captured.find((c) => c.topic.endsWith('/lookup/request'))!.expiry;
  assert.ok(expiry !== undefined && expiry >= 1 && expiry <= Math.ceil(config.mqtt.lookupTimeoutMs / 1000), `message expiry ${expiry}`);
  // The key is the HMAC of the number under the site key, computed here from the key file, and what the platform holds.
  assert.equal(request.key, idHash(siteKey, green.nationalId));
  assert.equal(request.key, green.idHash);
  assert.equal(centre.lookupRequests.length, 1);
  assert.equal(centre.lookupRequests[0]!.key, green.idHash);
  await until('the look-up reply on the broker', () => onLane('lookup/reply').length === 1);
  const reply = openSignedMessage(onLane('lookup/reply')[0]!, 'lookup-reply', centreKeys);
  assert.equal(reply.colour, 'green');

  // --- Red: held, and the centre told at once (an alert without a subject).
  record = await swipe(red.nationalId);
  assert.deepEqual([record.decision.verdict, record.decision.reason, record.event.decidedBy, agent.lane.state], ['hold', 'red', 'online-lookup', 'held']);
  await until('the red alert at the centre', () => centre.alerts.size === 1);
  const alert = [...centre.alerts.values()][0] as RedAlertMessage;
  assert.deepEqual([alert.subject, alert.decidedBy, alert.eventId], [null, 'online-lookup', record.event.id]);
  assert.equal(agent.lane.staffRelease(), true);

  // --- A number the centre does not know: answered null at once; staff mode, which staff end.
  record = await swipe(stranger);
  assert.deepEqual([record.decision.reason, record.decision.staffAction, record.event.decidedBy, agent.lane.state], ['id-lookup-failed', 'verify-colour', 'online-lookup', 'staff']);
  assert.equal(agent.lane.staffResume(), true);

  // --- The centre gone: no answer by mqtt.lookupTimeoutMs; staff mode.
  await centre.stop();
  centreStopped = true;
  const started = Date.now();
  record = await swipe(green.nationalId);
  assert.deepEqual([record.decision.reason, record.event.decidedBy, agent.lane.state], ['id-lookup-failed', 'offline-code', 'staff']);
  assert.ok(Date.now() - started >= 700, 'decided only once the look-up deadline had passed');
  assert.equal(agent.lane.staffResume(), true);

  // --- The decisions reached the centre's side of the broker; nothing on it holds a number or a birth date.
  await until('four decisions on the broker', () => onLane('decision').length === 4);
  for (const payload of onLane('decision')) {
    const event = check('decisionEvent', JSON.parse(payload));
    assert.equal(event.subject, null);
    assert.equal(event.credential?.kind, 'id-card');
  }
  assert.equal(onLane('lookup/request').length, 4);
  const everything = captured.map((c) => `${c.topic} ${c.payload}`).join('\n');
  for (const number of numbers) {
    assert.ok(!everything.includes(number), 'an ID number crossed the broker');
    assert.ok(!everything.includes(number.slice(6, 14)), 'a birth date crossed the broker');
  }
  // The hash goes only in look-up requests, never in events or alerts.
  for (const leaf of ['decision', 'alert', 'status', 'telemetry', 'fault']) {
    for (const payload of onLane(leaf)) assert.ok(!payload.includes(green.idHash) && !payload.includes(red.idHash), `${leaf} holds an id hash`);
  }
});
