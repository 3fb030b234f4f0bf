/**
 * Whole agents run from what gate-provision makes: a site with one
 * code issuer, two gates enrolled into bundles, the issuer list exported as
 * the signed trust list and each bundle's credentials.trust pointed at it,
 * a real Mosquitto on the site's own mosquitto.conf and ACL, and two real
 * agents (real drivers on wire-level virtual hardware) started from their
 * bundles' agent.yaml. Both connect over mTLS, publish their retained status
 * and their decisions; gate A's own connection cannot write on gate B's
 * topics or push a colour change (PUBACK 0x87, and the centre never sees
 * it); a colour change signed with the site's centre key reaches both gates
 * and decides their next person. A newer list reaches a gate by
 * reload-trust; the older one replayed is refused, also at a restart.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { parse as parseYaml, stringify } from 'yaml';
import { openLaneHardware, type OpenLaneHardware } from '../../device/lane-hardware.js';
import { GateAgent } from '../../edge-agent/agent.js';
import { loadConfig } from '../../protocol/config/gate-config.js';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import type { DecisionRecord } from '../../edge-agent/lane/lane.js';
import type { DecisionEventMessage, LaneStatusMessage } from '../../protocol/contract.js';
import { mqttClientOptions } from '../../edge-agent/link/mqtt-options.js';
import { messageSigner, signMessage } from '../../protocol/signed-message.js';
import { main } from '../../provisioning/cli/gate-provision.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { WireLane } from '../../simulator/hardware/wire-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { freePort, requireMosquitto } from '../support/mosquitto.js';
import { runSiteBroker, siteCentreKey } from '../support/site-broker.js';
import { until } from '../support/wait.js';

const SITE = 'mall-1';
const BASE = 'hc/v1';
const logger = pino({ level: 'silent' });
const quiet = { stdout: () => {}, stderr: () => {}, stderrIsTty: false };



async function provision(...argv: string[]): Promise<void> {
  assert.equal(await main(argv, quiet), 0, `gate-provision ${argv.join(' ')}`);
}


interface Gate {
  device: string;
  lane: string;
  bundle: string;
  config: GateConfig;
  /** The file credentials.trust names: where the centre puts the signed list it pushes. */
  trustFile: string;
  wire: WireLane;
  hardware: OpenLaneHardware;
  agent: GateAgent;
  stopped: boolean;
}

/**
 * The bundle as a gate would be set up from it: the exported trust list put
 * in the bundle and credentials.trust pointed at it; the journal in the
 * bundle; quick timings for the virtual lane. Everything else as enroll wrote it.
 */
function prepareBundle(bundle: string, trustList: string): { config: GateConfig; trustFile: string } {
  const file = path.join(bundle, 'agent.yaml');
  const yaml = parseYaml(fs.readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  // enroll --in-place points credentials.trust at the bundle's issuers/ folder; a bundle that already names a list file keeps it.
  const named = String(yaml.credentials!.trust);
  assert.ok(named.startsWith(bundle), `credentials.trust ${named} is in the bundle`);
  const trustFile = fs.statSync(named).isDirectory() ? path.join(bundle, 'trust-list.jws') : named;
  fs.copyFileSync(trustList, trustFile);
  yaml.credentials!.trust = trustFile;
  yaml.journal = { path: path.join(bundle, 'journal.db') };
  yaml.timing = { relayPulseMs: 100, passageTimeoutMs: 1000, denyDisplayMs: 30, temperatureDeadlineMs: 300, repeatSuppressMs: 1000 };
  yaml.log = { level: 'silent' };
  fs.writeFileSync(file, stringify(yaml));
  return { config: loadConfig(file, {}), trustFile };
}

async function startGate(t: TestContext, site: string, device: string, trustList: string): Promise<Gate> {
  const bundle = path.join(site, 'devices', device);
  const { config, trustFile } = prepareBundle(bundle, trustList);
  const wire = await WireLane.start();
  const hardware = await openLaneHardware(wire.hardwareConfig(), logger, wire.injection());
  // The agent as the gate's service builds it: everything from the config and the files it names.
  const agent = new GateAgent({ config, hardware, logger });
  const gate: Gate = { device, lane: config.lane, bundle, config, trustFile, wire, hardware, agent, stopped: false };
  t.after(async () => {
    if (!gate.stopped) await gate.agent.stop();
    await hardware.close();
    await wire.close();
  });
  await agent.start();
  await wire.scannerOpened();
  return gate;
}

/** The agent's own MQTT.js client: its certificate, its connection. */
function linkClient(agent: GateAgent): MqttClient {
  const client = (agent.link as unknown as { client: MqttClient | null } | null)?.client;
  assert.ok(client, 'the agent has no MQTT client');
  return client;
}

async function decide(gate: Gate, code: string): Promise<DecisionRecord> {
  const { lane } = gate.agent;
  await until(`lane ${gate.lane} to be idle (it is ${lane.state})`, () => lane.state === 'idle');
  gate.wire.setForehead({ ok: true, celsius: 36.5 });
  const decided = new Promise<DecisionRecord>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no decision on ${gate.lane} within 5 s (lane is ${lane.state})`)), 5_000);
    lane.once('decision', (record) => {
      clearTimeout(timer);
      resolve(record);
    });
  });
  gate.wire.presentCode(code, 'scanner');
  const record = await decided;
  gate.wire.withdrawCode();
  return record;
}

async function passThrough(gate: Gate): Promise<void> {
  await gate.wire.walkThrough();
  await until(`lane ${gate.lane} to be idle`, () => gate.agent.lane.state === 'idle');
}

interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
}

test('two agents from their bundles, trusting the signed list, on the site broker over mTLS: own topics only', { timeout: 120_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'provisioning-agents-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const site = path.join(tmp, 'site');
  const platform = await ReferencePlatform.create({ issuerName: 'GZ-HC-A' });
  const newcomer = await ReferencePlatform.create({ issuerName: 'GZ-HC-B' });
  fs.writeFileSync(path.join(tmp, 'issuer-a.pem'), platform.issuer.certificatePem);
  fs.writeFileSync(path.join(tmp, 'issuer-b.pem'), newcomer.issuer.certificatePem);
  fs.writeFileSync(path.join(tmp, 'devices.csv'), 'device,lane\ngate-a,lane-a\ngate-b,lane-b\n');

  // --- The site, as an operator makes it; no passphrase, so the test can sign as the centre with centre/centre.key.
  const port = await freePort();
  await provision('init', site, '--site', SITE, '--broker-url', `mqtts://127.0.0.1:${port}`, '--broker-dir', path.join(site, 'broker'));
  await provision('issuer', 'add', site, path.join(tmp, 'issuer-a.pem'));
  await provision('enroll', site, '--csv', path.join(tmp, 'devices.csv'), '--in-place');
  await provision('export-trust', site);
  const listV2 = path.join(site, 'trust-list-v2.jws');
  assert.ok(fs.existsSync(listV2), 'export-trust wrote trust-list-v2.jws (v1 is the empty list of init, v2 after one issuer add)');
  const broker = await runSiteBroker(t, path.join(site, 'broker', 'mosquitto.conf'), port);
  const url = `mqtts://127.0.0.1:${port}`;

  // --- The centre, with the MQTT certificate and the signing key init made; its connection is also the monitor.
  const centreTls: IClientOptions = {
    protocolVersion: 5,
    ca: fs.readFileSync(path.join(site, 'ca', 'ca.pem'), 'utf8'),
    cert: fs.readFileSync(path.join(site, 'centre', 'mqtt-client.pem'), 'utf8'),
    key: fs.readFileSync(path.join(site, 'centre', 'mqtt-client.key'), 'utf8'),
    reconnectPeriod: 0,
  };
  const centreKey = siteCentreKey(site);
  const centre = await SimulatedCentre.start({ url, key: centreKey, colourOf: (sub) => platform.colourOf(sub) ?? null, clientOptions: centreTls });
  t.after(() => centre.stop());
  const seen: Seen[] = [];
  centre.client.on('message', (topic, payload, packet) => seen.push({ topic, payload: payload.toString('utf8'), retain: packet.retain }));
  await centre.client.subscribeAsync(`${BASE}/#`, { qos: 1, rap: true });
  await centre.publishSnapshot(SITE);

  // --- Two agents from their bundles.
  const a = await startGate(t, site, 'gate-a', listV2);
  const b = await startGate(t, site, 'gate-b', listV2);
  for (const gate of [a, b]) {
    assert.equal(gate.agent.issuerTrust?.version, 2, `${gate.device} runs on the signed list, version 2`);
    assert.equal(gate.agent.verifier.trust.size, 1);
    assert.equal(gate.agent.settings.mqtt.tls?.cert, path.join(gate.bundle, 'gate.pem'), 'its own certificate from the bundle');
  }
  await until('both agents connected', () => a.agent.brokerConnected && b.agent.brokerConnected, 10_000);
  const onTopic = (topic: string): Seen[] => seen.filter((s) => s.topic === topic);
  for (const gate of [a, b]) {
    const topic = `${BASE}/${SITE}/${gate.lane}/status`;
    await until(`${gate.device}'s online status`, () => onTopic(topic).some((s) => (JSON.parse(s.payload) as LaneStatusMessage).state === 'online'));
    assert.equal(onTopic(topic).find((s) => (JSON.parse(s.payload) as LaneStatusMessage).state === 'online')!.retain, true, 'the status is retained');
  }

  // --- A code from the issuer verifies through the signed list: each gate decides and publishes.
  for (const gate of [a, b]) {
    const person = platform.issue({ colour: 'green', maskedName: '张*三' });
    const record = await decide(gate, person.code);
    assert.deepEqual([record.decision.verdict, record.decision.reason, record.event.decidedBy], ['pass', 'green-normal', 'offline-code'], `${gate.device}`);
    await passThrough(gate);
    await until(`${gate.device}'s decision on the broker`, () =>
      onTopic(`${BASE}/${SITE}/${gate.lane}/decision`).some((s) => (JSON.parse(s.payload) as DecisionEventMessage).id === record.event.id),
    );
  }
  const stranger = newcomer.issue({ colour: 'green', maskedName: '王*五' });
  assert.equal(a.agent.verifier.verify(stranger.code).valid, false, 'an issuer not on the list is not trusted');

  // --- Gate A's own connection: another lane's topics, a colour change (even one the centre signed), B's commands.
  const gateA = linkClient(a.agent);
  const genuineChange = signMessage(
    'colour-change',
    { type: 'colour-change', site: SITE, seq: Number.MAX_SAFE_INTEGER - 1, issuedAt: Date.now(), changes: [{ sub: 'forged-sub', colour: 'green', effectiveAt: Date.now() }] },
    messageSigner(centreKey),
  );
  const forged = [
    { topic: `${BASE}/${SITE}/lane-b/decision`, payload: '{"forged":"decision of B"}' },
    { topic: `${BASE}/${SITE}/lane-b/status`, payload: '{"state":"offline","forged":true}' },
    { topic: `${BASE}/${SITE}/colour/change`, payload: JSON.stringify(genuineChange) },
    { topic: `${BASE}/${SITE}/colour/snapshot`, payload: '{"forged":"snapshot"}' },
    { topic: `${BASE}/${SITE}/lane-b/command`, payload: '{"forged":"command to B"}' },
  ];
  for (const { topic, payload } of forged) {
    await assert.rejects(gateA.publishAsync(topic, payload, { qos: 1 }), (error: Error & { code?: unknown }) => {
      assert.equal(error.code, 0x87, `PUBACK reason for ${topic}: ${error.message}`);
      return true;
    });
  }
  assert.equal(gateA.connected, true, 'a refused publish does not cost the gate its connection');
  // A's messages keep their order: once its next status is in, the refused ones would have been too.
  const statusA = `${BASE}/${SITE}/lane-a/status`;
  const before = onTopic(statusA).length;
  a.agent.link!.publishStatus();
  await until("A's status after the refused publishes", () => onTopic(statusA).length > before);
  for (const { topic, payload } of forged) {
    assert.ok(!seen.some((s) => s.payload === payload), `the centre received A's forged ${topic}`);
  }
  assert.equal(b.agent.colours.get('forged-sub'), null, 'B applied nothing from A');
  assert.match(broker.log(), /Denied PUBLISH from gate-mall-1-lane-a .*'hc\/v1\/mall-1\/colour\/change'/);

  // --- A colour change signed with the site's centre key reaches both gates and decides their next person.
  const turned = platform.issue({ colour: 'green', maskedName: '冯*二' });
  await centre.pushColours(SITE, [{ sub: turned.sub, colour: 'red' }]);
  await until('both gates to apply the change', () => a.agent.colours.get(turned.sub)?.colour === 'red' && b.agent.colours.get(turned.sub)?.colour === 'red');
  for (const gate of [a, b]) {
    const record = await decide(gate, turned.code);
    assert.deepEqual([record.decision.verdict, record.decision.reason, record.event.decidedBy], ['hold', 'red', 'pushed-status'], `${gate.device}`);
    assert.equal(gate.agent.lane.staffRelease(), true);
  }

  // --- A new issuer: the site exports version 3, the centre puts it on gate A and sends reload-trust.
  await provision('issuer', 'add', site, path.join(tmp, 'issuer-b.pem'));
  await provision('export-trust', site);
  fs.copyFileSync(path.join(site, 'trust-list-v3.jws'), a.trustFile);
  let result = await centre.command(SITE, 'lane-a', 'reload-trust');
  assert.equal(result.ok, true, result.detail);
  assert.equal(result.detail, `2 issuer certificates from ${a.trustFile} (signed trust list version 3 of site ${SITE})`);
  assert.equal(a.agent.issuerTrust?.version, 3);
  const record = await decide(a, stranger.code);
  assert.deepEqual([record.decision.verdict, record.event.decidedBy], ['pass', 'offline-code'], 'the new issuer is trusted on A');
  await passThrough(a);
  assert.equal(b.agent.verifier.verify(stranger.code).valid, false, 'B has not been given version 3');

  // The old list replayed: refused, and A keeps version 3.
  fs.copyFileSync(listV2, a.trustFile);
  result = await centre.command(SITE, 'lane-a', 'reload-trust');
  assert.equal(result.ok, false, result.detail);
  assert.match(result.detail, /version 2 is not newer than version 3 the gate holds/);
  assert.equal(a.agent.issuerTrust?.version, 3);
  assert.equal(a.agent.verifier.trust.size, 2);

  // A restart cannot be fed the old list either: the journal file keeps version 3.
  await a.agent.stop();
  a.stopped = true;
  assert.throws(() => new GateAgent({ config: a.config, hardware: a.hardware, logger }), /version 2 is older than version 3 this gate has already loaded/);

  const security = [...centre.security.values()].map((s) => `${s.kind}: ${s.detail}`);
  assert.deepEqual(security, [], 'a gate refused a legitimate message');
});

test("a raw client with gate A's bundle options is gate A: it cannot read B's commands nor write the colour topic", { timeout: 30_000 }, async (t) => {
  // The agents above act with their own link clients; a raw MQTT.js client built with mqttClientOptions
  // from A's agent.yaml is the same identity, and the ACL holds for it without the agent too.
  if (!requireMosquitto(t)) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'provisioning-agents-raw-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const site = path.join(tmp, 'site');
  const platform = await ReferencePlatform.create();
  fs.writeFileSync(path.join(tmp, 'issuer.pem'), platform.issuer.certificatePem);
  const port = await freePort();
  await provision('init', site, '--site', SITE, '--broker-url', `mqtts://127.0.0.1:${port}`, '--broker-dir', path.join(site, 'broker'));
  await provision('issuer', 'add', site, path.join(tmp, 'issuer.pem'));
  await provision('enroll', site, '--device', 'gate-a', '--lane', 'lane-a', '--in-place');
  await provision('enroll', site, '--device', 'gate-b', '--lane', 'lane-b', '--in-place');
  await runSiteBroker(t, path.join(site, 'broker', 'mosquitto.conf'), port);
  const config = loadConfig(path.join(site, 'devices', 'gate-a', 'agent.yaml'), {});
  const gateA = await mqtt.connectAsync(config.mqtt.url!, { ...mqttClientOptions(config.mqtt, config), reconnectPeriod: 0 });
  t.after(() => gateA.endAsync(true));
  const centre = await mqtt.connectAsync(config.mqtt.url!, {
    protocolVersion: 5,
    ca: fs.readFileSync(path.join(site, 'ca', 'ca.pem'), 'utf8'),
    cert: fs.readFileSync(path.join(site, 'centre', 'mqtt-client.pem'), 'utf8'),
    key: fs.readFileSync(path.join(site, 'centre', 'mqtt-client.key'), 'utf8'),
    reconnectPeriod: 0,
  });
  t.after(() => centre.endAsync(true));

  const received: string[] = [];
  gateA.on('message', (topic) => received.push(topic));
  // Mosquitto grants the subscription and applies the read ACL to each message it would deliver.
  await gateA.subscribeAsync([`${BASE}/${SITE}/lane-b/command`, `${BASE}/${SITE}/lane-a/command`], { qos: 1 });
  await centre.publishAsync(`${BASE}/${SITE}/lane-b/command`, 'for B', { qos: 1 });
  await centre.publishAsync(`${BASE}/${SITE}/lane-a/command`, 'for A', { qos: 1 });
  await until("A's own command", () => received.includes(`${BASE}/${SITE}/lane-a/command`));
  assert.deepEqual(received, [`${BASE}/${SITE}/lane-a/command`], "A reads its own commands, not B's");
  await assert.rejects(gateA.publishAsync(`${BASE}/${SITE}/colour/change`, 'x', { qos: 1 }), (error: Error & { code?: unknown }) => error.code === 0x87);
});
