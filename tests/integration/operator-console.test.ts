/**
 * The two gate-side pieces a fleet console needs, end to end on a
 * real Mosquitto run on the site's own mosquitto.conf and ACL, with a real
 * agent (real drivers on wire-level virtual hardware) started from its
 * gate-provision bundle:
 *
 * - Operator keys. The site delegates open and release-hold to operator
 *   "duty-desk" (gate-provision operator add); export-trust signs it into the
 *   trust list the gate loads. A command the console signs with that key
 *   (signOperatorCommand) opens the lane and its result names the operator;
 *   one signed with a key not in the list, or an action the operator was not
 *   given, is refused and reported as a security event, with no result.
 * - Colour timeliness. Each colour change the centre pushes comes back from
 *   the lane on <lane>/colour/applied with its seq, the centre's issuedAt and
 *   the lane's appliedAt; the gate's ACL lets it write there.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import { pino } from 'pino';
import { parse as parseYaml, stringify } from 'yaml';
import { openLaneHardware } from '../../device/lane-hardware.js';
import { GateAgent } from '../../edge-agent/agent.js';
import { loadConfig } from '../../protocol/config/gate-config.js';
import { check, type ColourAppliedMessage, type CommandResultMessage, type SecurityEventMessage } from '../../protocol/contract.js';
import { loadOperatorKey, signOperatorCommand } from '../../protocol/operator-command.js';
import { laneTopic } from '../../protocol/topics.js';
import { main } from '../../provisioning/cli/gate-provision.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { WireLane } from '../../simulator/hardware/wire-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { freePort, requireMosquitto } from '../support/mosquitto.js';
import { runSiteBroker, siteCentreKey } from '../support/site-broker.js';
import { pause, until } from '../support/wait.js';

const SITE = 'mall-1';
const LANE = 'east-1';
const BASE = 'hc/v1';
const logger = pino({ level: 'silent' });
const quiet = { stdout: () => {}, stderr: () => {}, stderrIsTty: false };

async function provision(...argv: string[]): Promise<void> {
  assert.equal(await main(argv, quiet), 0, `gate-provision ${argv.join(' ')}`);
}

interface Rig {
  site: string;
  agent: GateAgent;
  centre: SimulatedCentre;
  platform: ReferencePlatform;
  /** Everything on the lane's up topics, as the centre's monitor saw it. */
  seen: Array<{ topic: string; message: unknown }>;
}

/** A site with one issuer, operator duty-desk (open, release-hold), one gate from its bundle on the signed list, the broker, the centre. */
async function startRig(t: TestContext): Promise<Rig> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'operator-console-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const site = path.join(tmp, 'site');
  const platform = await ReferencePlatform.create({ issuerName: 'GZ-HC-A' });
  fs.writeFileSync(path.join(tmp, 'issuer.pem'), platform.issuer.certificatePem);
  const port = await freePort();
  await provision('init', site, '--site', SITE, '--broker-url', `mqtts://127.0.0.1:${port}`, '--broker-dir', path.join(site, 'broker'));
  await provision('issuer', 'add', site, path.join(tmp, 'issuer.pem'));
  await provision('operator', 'add', site, '--name', 'duty-desk', '--actions', 'open,release-hold', '--days', '7');
  await provision('enroll', site, '--device', 'gate-01', '--lane', LANE, '--in-place');
  await provision('export-trust', site);
  await runSiteBroker(t, path.join(site, 'broker', 'mosquitto.conf'), port);
  const url = `mqtts://127.0.0.1:${port}`;

  const centreTls: IClientOptions = {
    protocolVersion: 5,
    ca: fs.readFileSync(path.join(site, 'ca', 'ca.pem'), 'utf8'),
    cert: fs.readFileSync(path.join(site, 'centre', 'mqtt-client.pem'), 'utf8'),
    key: fs.readFileSync(path.join(site, 'centre', 'mqtt-client.key'), 'utf8'),
    reconnectPeriod: 0,
  };
  const centre = await SimulatedCentre.start({ url, key: siteCentreKey(site), colourOf: (sub) => platform.colourOf(sub) ?? null, clientOptions: centreTls });
  t.after(() => centre.stop());
  const seen: Rig['seen'] = [];
  centre.client.on('message', (topic, payload) => {
    if (topic.startsWith(`${BASE}/${SITE}/${LANE}/`)) seen.push({ topic, message: JSON.parse(payload.toString('utf8')) });
  });
  await centre.client.subscribeAsync(laneTopic(BASE, SITE, '+', 'colour/applied'), { qos: 1 });
  await centre.publishSnapshot(SITE);

  // The bundle as a gate is set up from it: the signed list in place of issuers/, quick timings.
  const bundle = path.join(site, 'devices', 'gate-01');
  const file = path.join(bundle, 'agent.yaml');
  const yaml = parseYaml(fs.readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  const trustFile = path.join(bundle, 'trust-list.jws');
  fs.copyFileSync(path.join(site, 'trust-list-v3.jws'), trustFile);
  yaml.credentials!.trust = trustFile;
  yaml.journal = { path: path.join(bundle, 'journal.db') };
  yaml.timing = { relayPulseMs: 100, passageTimeoutMs: 1000, denyDisplayMs: 30, temperatureDeadlineMs: 300, repeatSuppressMs: 1000 };
  yaml.log = { level: 'silent' };
  fs.writeFileSync(file, stringify(yaml));
  const config = loadConfig(file, {});

  const wire = await WireLane.start();
  const hardware = await openLaneHardware(wire.hardwareConfig(), logger, wire.injection());
  const agent = new GateAgent({ config, hardware, logger });
  t.after(async () => {
    await agent.stop();
    await hardware.close();
    await wire.close();
  });
  await agent.start();
  await wire.scannerOpened();
  await until('the agent to connect', () => agent.brokerConnected, 10_000);
  assert.deepEqual(agent.issuerTrust?.operators.names, ['duty-desk'], 'the gate loaded the operator from the signed list');
  return { site, agent, centre, platform, seen };
}

/** Publish a command as the console would (here over the centre's MQTT login) and wait for a result or a security event. */
async function send(rig: Rig, text: string, commandId: string): Promise<{ result?: CommandResultMessage; security?: SecurityEventMessage }> {
  const securityBefore = new Set(rig.centre.security.keys());
  await rig.centre.client.publishAsync(laneTopic(BASE, SITE, LANE, 'command'), text, { qos: 1 });
  let outcome: { result?: CommandResultMessage; security?: SecurityEventMessage } = {};
  await until('a command result or a security event', () => {
    const result = [...rig.centre.results.values()].find((r) => r.commandId === commandId);
    const security = [...rig.centre.security.values()].find((s) => !securityBefore.has(s.id));
    if (result) outcome = { result };
    else if (security) outcome = { security };
    return outcome.result !== undefined || outcome.security !== undefined;
  }, 5_000);
  return outcome;
}

test("an operator's signed open works end to end and its result names the operator; an unlisted key and an action not given are refused", { timeout: 90_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t);
  const key = loadOperatorKey(path.join(rig.site, 'operators', 'duty-desk'));

  const open = signOperatorCommand({ site: SITE, lane: LANE, action: 'open' }, key);
  let { result, security } = await send(rig, open.text, open.command.id);
  assert.equal(security, undefined, security?.detail);
  assert.ok(result);
  assert.deepEqual([result.ok, result.action, result.signedBy], [true, 'open', 'duty-desk'], result.detail);
  check('commandResult', result);
  assert.equal(rig.agent.lane.state, 'open');

  // The centre's own lock still works, and says so.
  const lock = await rig.centre.command(SITE, LANE, 'lock');
  assert.deepEqual([lock.ok, lock.signedBy], [true, 'centre']);
  await until('the lane to be idle', () => rig.agent.lane.state === 'idle');

  // A key the trust list does not list: refused as unknown-key, no result, the lane untouched.
  const stranger = await createSignerCertificate({ subject: 'CN=Not an operator of this site' });
  const forged = signOperatorCommand({ site: SITE, lane: LANE, action: 'open' }, stranger);
  ({ result, security } = await send(rig, forged.text, forged.command.id));
  assert.equal(result, undefined, 'an unlisted key got a result');
  assert.equal(security?.kind, 'unknown-key');
  assert.match(security!.detail, /is not a centre key this gate trusts/);
  assert.equal(rig.agent.lane.state, 'idle');

  // duty-desk was given open and release-hold, not lock.
  const notGiven = signOperatorCommand({ site: SITE, lane: LANE, action: 'lock' }, key);
  ({ result, security } = await send(rig, notGiven.text, notGiven.command.id));
  assert.equal(result, undefined);
  assert.equal(security?.kind, 'not-permitted');
  assert.match(security!.detail, /operator duty-desk may not send lock/);

  // The operator's open replayed: refused.
  ({ result, security } = await send(rig, open.text, `${randomUUID()}`));
  assert.equal(security?.kind, 'replayed');
  for (const event of rig.centre.security.values()) check('securityEvent', event);
});

test('each colour change the centre pushes comes back on colour/applied with its seq, issuedAt and appliedAt', { timeout: 90_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const rig = await startRig(t);
  const appliedTopic = laneTopic(BASE, SITE, LANE, 'colour/applied');
  const applied = (): ColourAppliedMessage[] => rig.seen.filter((s) => s.topic === appliedTopic).map((s) => check('colourApplied', s.message));
  await until('the snapshot reported', () => applied().some((m) => m.via === 'snapshot'), 10_000);

  const pushes: Array<{ seq: number; publishedAt: number }> = [];
  for (const colour of ['red', 'yellow', 'green'] as const) {
    const person = rig.platform.issue({ colour: 'green', maskedName: '张*三' });
    pushes.push(await rig.centre.pushColours(SITE, [{ sub: person.sub, colour }]));
  }
  await until('three change reports', () => applied().filter((m) => m.via === 'change').length === 3, 10_000);
  await pause(300); // one per change: a second copy would show by now
  const changes = applied().filter((m) => m.via === 'change');
  assert.deepEqual(changes.map((m) => m.seq), pushes.map((p) => p.seq), 'one report per change, with its seq, in order');
  for (const [i, m] of changes.entries()) {
    assert.deepEqual([m.site, m.lane, m.changes], [SITE, LANE, 1]);
    assert.ok(m.issuedAt <= pushes[i]!.publishedAt, "issuedAt is the centre's, set before it published");
    assert.ok(m.appliedAt >= m.issuedAt && m.appliedAt - m.issuedAt < 5_000, `applied ${m.appliedAt - m.issuedAt} ms after issue`);
  }
  // A heartbeat applies nothing: no report.
  await rig.centre.heartbeat(SITE);
  await pause(500);
  assert.equal(applied().filter((m) => m.via === 'change').length, 3);
  assert.deepEqual([...rig.centre.security.values()].map((s) => `${s.kind}: ${s.detail}`), []);
});
