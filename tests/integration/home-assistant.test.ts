/**
 * Home Assistant discovery with the real agent (real drivers on wire-level
 * virtual hardware) against a real Mosquitto with TLS, client certificates
 * and the ACL lines gate-provision writes for it. A client with Home
 * Assistant's identity reads what Home Assistant would: the retained
 * configs, the lane's status (availability) and its ha/ topics; and it sends
 * Home Assistant's birth message.
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
import { check, type HaStateMessage, type LaneStatusMessage } from '../../protocol/contract.js';
import { LANE_UP_LEAVES } from '../../protocol/topics.js';
import { HA_DISCOVERY_PREFIX } from '../../provisioning/site/broker.js';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate, type CertificateAuthority, type CertifiedKey } from '../../provisioning/pki.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { createSimulatedLane } from '../../simulator/simulated-lane.js';
import { cleanupStack } from '../support/cleanups.js';
import { requireMosquitto, startMosquitto } from '../support/mosquitto.js';
import { decideAtScanner } from '../support/lane.js';
import { pause, until } from '../support/wait.js';

const BASE = 'hc/v1';
const SITE = 's1';
const LANE = 'l1';
const GATE = `gate-${SITE}-${LANE}`;
const LANE_TOPIC = `${BASE}/${SITE}/${LANE}`;
const CONFIGS = `${HA_DISCOVERY_PREFIX}/+/+/+/config`;

/** The gate's block as provisioning/site/broker.ts writes it, Home Assistant's own user, and the centre. */
const ACL = [
  `user ${GATE}`,
  ...LANE_UP_LEAVES.map((leaf) => `topic write ${LANE_TOPIC}/${leaf}`),
  `topic read ${BASE}/${SITE}/centre/#`,
  `topic read ${BASE}/${SITE}/colour/#`,
  `topic read ${LANE_TOPIC}/command`,
  `topic read ${LANE_TOPIC}/lookup/reply`,
  `topic write ${HA_DISCOVERY_PREFIX}/+/${GATE}/+/config`,
  `topic read ${HA_DISCOVERY_PREFIX}/status`,
  '',
  // Read-only for Home Assistant: it may not write a gate's topics.
  'user homeassistant',
  `topic read ${HA_DISCOVERY_PREFIX}/#`,
  `topic write ${HA_DISCOVERY_PREFIX}/status`,
  `topic read ${BASE}/+/+/status`,
  `topic read ${BASE}/+/+/ha/#`,
  '',
  'user centre',
  `topic readwrite ${BASE}/#`,
].join('\n');

let ca: CertificateAuthority;
let server: CertifiedKey;
let gateCert: CertifiedKey;
let haCert: CertifiedKey;
let centreCert: CertifiedKey;

before(async () => {
  ca = await createCertificateAuthority({ subject: 'CN=Home Assistant Test CA, O=Demo, C=CN' });
  server = await issueServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  gateCert = await issueClientCertificate(ca, { commonName: GATE });
  haCert = await issueClientCertificate(ca, { commonName: 'homeassistant' });
  centreCert = await issueClientCertificate(ca, { commonName: 'centre' });
});

interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
}

function tlsOf(cert: CertifiedKey) {
  return { ca: ca.certificatePem, cert: cert.certificatePem, key: cert.privateKeyPem, protocolVersion: 5 as const, reconnectPeriod: 0 };
}

async function homeAssistant(url: string, t: TestContext, clientId: string): Promise<{ client: MqttClient; seen: Seen[] }> {
  const client = await mqtt.connectAsync(url, { ...tlsOf(haCert), clientId });
  t.after(() => client.endAsync(true));
  const seen: Seen[] = [];
  client.on('message', (topic, payload, packet) => seen.push({ topic, payload: payload.toString('utf8'), retain: packet.retain }));
  // Retain-as-published: a live subscriber sees the retain flag the gate set.
  await client.subscribeAsync([CONFIGS, `${BASE}/+/+/status`, `${BASE}/+/+/ha/#`], { qos: 1, rap: true });
  return { client, seen };
}

const configsIn = (seen: Seen[]): Seen[] => seen.filter((s) => s.topic.endsWith('/config'));
const lastOn = <T>(seen: Seen[], topic: string): T | undefined => {
  const found = seen.filter((s) => s.topic === topic).at(-1);
  return found ? (JSON.parse(found.payload) as T) : undefined;
};

function gateClient(agent: GateAgent): MqttClient {
  const client = (agent.link as unknown as { client: MqttClient | null } | null)?.client;
  assert.ok(client, 'the agent has no MQTT client');
  return client;
}

test('Home Assistant discovery: retained configs, re-announce on the birth message, counts after decisions, Last Will availability, nothing removed on stop', { timeout: 90_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const cleanups = cleanupStack(t);
  const broker = await startMosquitto({
    plain: false,
    acl: ACL,
    tls: { caPem: ca.certificatePem, certPem: server.certificatePem, keyPem: server.privateKeyPem, requireCertificate: true, useIdentityAsUsername: true },
  });
  cleanups.push(() => broker.stop());
  const url = broker.tlsUrl!;
  const dir = mkdtempSync(join(tmpdir(), 'gate-ha-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const tls = { ca: file('ca.pem', ca.certificatePem), cert: file('gate.pem', gateCert.certificatePem), key: file('gate.key', gateCert.privateKeyPem) };
  const config = checkConfig({
    site: SITE,
    lane: LANE,
    timing: { relayPulseMs: 100, passageTimeoutMs: 1000, denyDisplayMs: 30, temperatureDeadlineMs: 300, repeatSuppressMs: 1000 },
    journal: { path: join(dir, 'journal.db') },
    credentials: { trust: join(dir, 'issuers.pem') },
    mqtt: { url, tls, telemetryIntervalSeconds: 1, homeAssistant: { enabled: true } },
    log: { level: 'silent' },
  });
  const simulated = await createSimulatedLane(config, pino({ level: 'silent' }));
  cleanups.push(() => simulated.close());
  file('issuers.pem', simulated.world.platform.issuer.certificatePem);
  const centre = await SimulatedCentre.start({
    url,
    key: simulated.centreKey,
    colourOf: (sub) => simulated.world.platform.colourOf(sub) ?? null,
    clientOptions: { ...tlsOf(centreCert) },
  });
  cleanups.push(() => centre.stop());
  await centre.publishSnapshot(SITE);

  const ha = await homeAssistant(url, t, 'home-assistant');
  const { agent } = simulated;
  await agent.start();
  await simulated.wire.scannerOpened();
  await until('the agent to connect', () => agent.brokerConnected, 10_000);

  // --- Ten configs under the node id, retained.
  await until('ten discovery configs', () => configsIn(ha.seen).length >= 10, 5_000);
  const configs = configsIn(ha.seen);
  assert.equal(configs.length, 10);
  assert.ok(configs.every((c) => c.retain), 'configs are retained');
  assert.ok(configs.every((c) => c.topic.startsWith(`${HA_DISCOVERY_PREFIX}/`) && c.topic.split('/')[2] === GATE));
  const parsed = configs.map((c) => JSON.parse(c.payload) as Record<string, unknown>);
  assert.ok(parsed.every((c) => !Object.keys(c).some((key) => key.includes('command'))), 'read-only');
  assert.equal(new Set(parsed.map((c) => c.unique_id)).size, 10);

  // A Home Assistant that starts later gets them from the broker.
  const late = await homeAssistant(url, t, 'home-assistant-late');
  await until('retained configs for a late subscriber', () => configsIn(late.seen).length === 10, 5_000);
  assert.ok(configsIn(late.seen).every((c) => c.retain));
  await until('a retained ha/state', () => late.seen.some((s) => s.topic === `${LANE_TOPIC}/ha/state` && s.retain), 5_000);
  await late.client.endAsync(true);

  // --- Home Assistant's birth message: every config again (at most every 5 s; the connect announce was just now).
  const beforeBirth = configsIn(ha.seen).length;
  await ha.client.publishAsync(`${HA_DISCOVERY_PREFIX}/status`, 'online', { qos: 1 });
  await until('the re-announce', () => configsIn(ha.seen).length === beforeBirth + 10, 8_000);

  // --- Counts and the last verdict follow decisions; no subject reaches Home Assistant's topics.
  const state = (): HaStateMessage | undefined => lastOn<HaStateMessage>(ha.seen, `${LANE_TOPIC}/ha/state`);
  await until('a state', () => state() !== undefined);
  assert.deepEqual([state()!.passesToday, state()!.refusalsToday], [0, 0]);
  const green = simulated.world.platform.issue({ colour: 'green', maskedName: '张*三' });
  let record = await decideAtScanner(simulated, green.code);
  assert.equal(record.decision.verdict, 'pass');
  await simulated.wire.walkThrough();
  await until('passesToday 1', () => state()?.passesToday === 1, 5_000);
  const red = simulated.world.platform.issue({ colour: 'red', maskedName: '赵*六' });
  record = await decideAtScanner(simulated, red.code);
  assert.equal(record.decision.verdict, 'hold');
  await until('refusalsToday 1 and held', () => state()?.refusalsToday === 1 && state()?.held === true, 5_000);
  const last = lastOn<{ verdict: string }>(ha.seen, `${LANE_TOPIC}/ha/last-decision`);
  assert.equal(last?.verdict, 'hold');
  assert.equal(agent.lane.staffRelease(), true);
  await until('held cleared', () => state()?.held === false && state()?.laneState === 'idle', 5_000);
  const subjects = [record.event.subject, green.sub, red.sub].filter((s): s is string => typeof s === 'string');
  for (const s of ha.seen) {
    for (const subject of subjects) assert.ok(!s.payload.includes(subject), `${s.topic} carries a subject`);
    if (s.topic === `${LANE_TOPIC}/ha/state`) check('haState', JSON.parse(s.payload));
    if (s.topic === `${LANE_TOPIC}/ha/last-decision`) check('haLastDecision', JSON.parse(s.payload));
  }

  // --- The ACL keeps the gate to its own node id.
  await gateClient(agent).publishAsync(`${HA_DISCOVERY_PREFIX}/sensor/gate-s1-other/x/config`, '{}', { qos: 1, retain: true }).catch(() => undefined);
  await pause(300);
  assert.ok(!ha.seen.some((s) => s.topic.includes('gate-s1-other')), 'a config for another node id got through');

  // --- Last Will: the connection dies without a DISCONNECT; availability goes offline, then online, configs again.
  const status = (): LaneStatusMessage | undefined => lastOn<LaneStatusMessage>(ha.seen, `${LANE_TOPIC}/status`);
  const beforeKill = ha.seen.length;
  const beforeKillConfigs = configsIn(ha.seen).length;
  gateClient(agent).stream.destroy();
  await until('the Last Will', () => ha.seen.slice(beforeKill).some((s) => s.topic === `${LANE_TOPIC}/status` && JSON.parse(s.payload).state === 'offline'), 10_000);
  await until('online again', () => status()?.state === 'online', 10_000);
  await until('announced again on reconnect', () => configsIn(ha.seen).length >= beforeKillConfigs + 10, 5_000);

  // --- A clean stop says offline and removes nothing: a new Home Assistant still finds the device.
  await agent.stop();
  await until('offline on stop', () => status()?.state === 'offline', 5_000);
  const after = await homeAssistant(url, t, 'home-assistant-after');
  await until('configs still retained', () => configsIn(after.seen).length === 10, 5_000);
  await until('availability offline', () => lastOn<LaneStatusMessage>(after.seen, `${LANE_TOPIC}/status`)?.state === 'offline', 5_000);
});
