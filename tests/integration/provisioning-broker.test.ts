/**
 * What gate-provision makes, run for real: a Mosquitto started with the
 * site's own broker/mosquitto.conf and ACL, and gates connecting with the
 * agent's MQTT options from their bundles' agent.yaml. A gate publishes on
 * its own topics; the broker refuses (PUBACK 0x87) its writes on another
 * lane's topics and on the site's colour topic; no certificate, no entry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { loadConsoleConfig } from '../../protocol/config/console-config.js';
import { loadConfig } from '../../protocol/config/gate-config.js';
import { mqttClientOptions } from '../../edge-agent/link/mqtt-options.js';
import { main } from '../../provisioning/cli/gate-provision.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { checkMosquittoPassword } from '../../provisioning/site/devices.js';
import { spawnSync } from 'node:child_process';
import { accepts, freePort, mosquittoPath, requireMosquitto } from '../support/mosquitto.js';

const SITE = 'mall-1';
const quiet = { stdout: () => {}, stderr: () => {}, stderrIsTty: false };

async function provision(...argv: string[]): Promise<void> {
  assert.equal(await main(argv, quiet), 0, `gate-provision ${argv.join(' ')}`);
}

/**
 * Mosquitto on the generated config, as it is. Only lines the test needs are
 * put in front: its log on stderr and, when the tests run as root, `user root`
 * (Mosquitto would drop to user mosquitto, who cannot read the 0600 keys).
 */
async function startBroker(t: TestContext, conf: string, port: number): Promise<{ log(): string; stop(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-provision-broker-'));
  const file = path.join(dir, 'mosquitto.conf');
  const preamble = [...(process.getuid?.() === 0 ? ['user root'] : []), 'log_dest stderr', 'log_type all'];
  fs.writeFileSync(file, `${preamble.join('\n')}\n${fs.readFileSync(conf, 'utf8')}`);
  const child: ChildProcess = spawn(mosquittoPath()!, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  t.after(stop);
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { log: () => output, stop };
}


/** One connection attempt, no retries: the client, or why it was refused. */
function attempt(t: TestContext, url: string, options: IClientOptions): Promise<{ client?: MqttClient; error?: Error }> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { ...options, reconnectPeriod: 0, reconnectOnConnackError: false, connectTimeout: 5_000 });
    t.after(() => client.endAsync(true));
    let lastError: Error | undefined;
    client.on('error', (error) => (lastError = error));
    client.once('connect', () => resolve({ client }));
    client.once('close', () => resolve({ error: lastError ?? new Error('closed before CONNACK') }));
  });
}

/** The agent's own connection options, from the bundle's agent.yaml. */
function bundleOptions(bundle: string): { url: string; options: IClientOptions } {
  const config = loadConfig(path.join(bundle, 'agent.yaml'), {});
  assert.equal(config.mqtt.protocolVersion, 5);
  return { url: config.mqtt.url!, options: mqttClientOptions(config.mqtt, config) };
}

test('a broker from the generated config: gates connect with their bundles, write only under their own lane', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-provision-it-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const site = path.join(tmp, 'site');
  const issuer = await createSignerCertificate({ subject: 'CN=Issuer A, O=Test, C=CN' });
  fs.writeFileSync(path.join(tmp, 'issuer.pem'), issuer.certificatePem);
  const devices = path.join(tmp, 'devices.csv');
  fs.writeFileSync(devices, 'device,lane\ngate-a,lane-a\ngate-b,lane-b\n');

  const port = await freePort();
  // The broker folder is used where init wrote it, so mosquitto.conf points there.
  await provision('init', site, '--site', SITE, '--broker-url', `mqtts://127.0.0.1:${port}`, '--broker-dir', path.join(site, 'broker'));
  await provision('issuer', 'add', site, path.join(tmp, 'issuer.pem'));
  await provision('enroll', site, '--csv', devices, '--in-place');
  const broker = await startBroker(t, path.join(site, 'broker', 'mosquitto.conf'), port);

  const a = bundleOptions(path.join(site, 'devices', 'gate-a'));
  const b = bundleOptions(path.join(site, 'devices', 'gate-b'));
  const gateA = await attempt(t, a.url, a.options);
  assert.ok(gateA.client, `gate A connects: ${gateA.error?.message}\n${broker.log()}`);
  const gateB = await attempt(t, b.url, b.options);
  assert.ok(gateB.client, `gate B connects: ${gateB.error?.message}`);

  // The centre, with the client certificate init made for it, pushes a colour change that A receives.
  const centre = await attempt(t, a.url, {
    protocolVersion: 5,
    clientId: 'centre',
    ca: fs.readFileSync(path.join(site, 'ca', 'ca.pem'), 'utf8'),
    cert: fs.readFileSync(path.join(site, 'centre', 'mqtt-client.pem'), 'utf8'),
    key: fs.readFileSync(path.join(site, 'centre', 'mqtt-client.key'), 'utf8'),
  });
  assert.ok(centre.client, `the centre connects: ${centre.error?.message}`);
  const received: string[] = [];
  gateA.client.on('message', (_topic, payload) => received.push(payload.toString()));
  await gateA.client.subscribeAsync(`hc/v1/${SITE}/colour/#`, { qos: 1 });
  await centre.client.publishAsync(`hc/v1/${SITE}/colour/change`, 'from-the-centre', { qos: 1 });

  await gateA.client.publishAsync(`hc/v1/${SITE}/lane-a/decision`, 'own-lane', { qos: 1 });
  await gateB.client.publishAsync(`hc/v1/${SITE}/lane-b/decision`, 'own-lane', { qos: 1 });
  for (const topic of [`hc/v1/${SITE}/lane-b/decision`, `hc/v1/${SITE}/lane-b/status`, `hc/v1/${SITE}/colour/change`, `hc/v1/${SITE}/lane-a/command`]) {
    await assert.rejects(gateA.client.publishAsync(topic, `forged ${topic}`, { qos: 1 }), (error: Error & { code?: unknown }) => {
      assert.equal(error.code, 0x87, `PUBACK reason for ${topic}: ${error.message}`);
      return true;
    });
  }
  assert.equal(gateA.client.connected, true, 'a refused publish does not cost the gate its connection');
  const deadline = Date.now() + 5_000;
  while (!received.includes('from-the-centre') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(received, ['from-the-centre'], "gate A hears the centre's colour change and not its own forged one");

  const { cert: _cert, key: _key, ...withoutCertificate } = a.options;
  const anonymous = await attempt(t, a.url, { ...withoutCertificate, clientId: 'no-certificate' });
  assert.ok(anonymous.error, 'a client without a certificate is refused');
});

/** A refused TLS handshake or CONNACK: the client never connects. */
async function refused(t: TestContext, url: string, options: IClientOptions, what: string, log: () => string): Promise<Error> {
  const result = await attempt(t, url, options);
  assert.ok(result.error && !result.client, `${what} must be refused\n${log()}`);
  return result.error;
}

test('revoke, rotate and password gates against a real Mosquitto: the CRL keeps old keys out, a password gate keeps to its ACL', { timeout: 90_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-provision-it-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const site = path.join(tmp, 'site');
  const issuer = await createSignerCertificate({ subject: 'CN=Issuer A, O=Test, C=CN' });
  fs.writeFileSync(path.join(tmp, 'issuer.pem'), issuer.certificatePem);
  const devices = path.join(tmp, 'devices.csv');
  fs.writeFileSync(devices, 'device,lane,auth\ngate-a,lane-a,certificate\ngate-b,lane-b,\ngate-c,lane-c,password\n');

  // Two free ports in a row: the certificate listener and the password listener above it.
  let port = await freePort();
  for (let tries = 0; tries < 20 && !(await portFree(port + 1)); tries++) port = await freePort();
  await provision('init', site, '--site', SITE, '--broker-url', `mqtts://127.0.0.1:${port}`, '--broker-dir', path.join(site, 'broker'));
  await provision('issuer', 'add', site, path.join(tmp, 'issuer.pem'));
  await provision('enroll', site, '--csv', devices, '--in-place');
  const conf = path.join(site, 'broker', 'mosquitto.conf');
  assert.match(fs.readFileSync(conf, 'utf8'), new RegExp(`listener ${port + 1}\n`));

  // The password file's format is mosquitto_passwd's own: the same check verifies a line it wrote.
  const passwdFile = path.join(tmp, 'reference-passwd');
  const made = spawnSync('mosquitto_passwd', ['-c', '-b', passwdFile, 'someone', 'a secret: with colons'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const reference = fs.readFileSync(passwdFile, 'utf8').trim();
  const ours = fs.readFileSync(path.join(site, 'broker', 'passwd'), 'utf8').trim();
  const shape = /^[^:]+:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/;
  assert.match(reference, shape, 'mosquitto_passwd of Mosquitto 2 writes $7$ PBKDF2-SHA512 lines');
  assert.match(ours, shape);
  assert.ok(checkMosquittoPassword(reference, 'a secret: with colons') && !checkMosquittoPassword(reference, 'a secret'));

  let broker = await startBroker(t, conf, port);
  const oldA = bundleOptions(path.join(site, 'devices', 'gate-a'));
  const b = bundleOptions(path.join(site, 'devices', 'gate-b'));
  const c = bundleOptions(path.join(site, 'devices', 'gate-c'));
  assert.equal(c.url, `mqtts://127.0.0.1:${port + 1}`);
  assert.equal(c.options.cert, undefined, 'a password gate has no client certificate');
  const gateC = await attempt(t, c.url, c.options);
  assert.ok(gateC.client, `the password gate connects: ${gateC.error?.message}\n${broker.log()}`);
  await gateC.client.publishAsync(`hc/v1/${SITE}/lane-c/decision`, 'own-lane', { qos: 1 });
  for (const topic of [`hc/v1/${SITE}/lane-a/decision`, `hc/v1/${SITE}/colour/change`]) {
    await assert.rejects(gateC.client.publishAsync(topic, 'forged', { qos: 1 }), (error: Error & { code?: unknown }) => error.code === 0x87);
  }
  await refused(t, c.url, { ...c.options, password: 'guessed', clientId: 'guess' }, 'a wrong password', broker.log);
  // A certificate gate's name with no password does not get in on the password listener.
  await refused(t, c.url, { ...c.options, username: `gate-${SITE}-lane-a`, clientId: `gate-${SITE}-lane-a` }, "gate A's name without its certificate", broker.log);
  for (const [name, gate] of [['A', oldA], ['B', b]] as const) {
    const before = await attempt(t, gate.url, gate.options);
    assert.ok(before.client, `gate ${name} connects before any revocation: ${before.error?.message}`);
    await before.client.endAsync();
  }
  await gateC.client.endAsync();
  await broker.stop();

  // Revoke B, rotate A; the broker is restarted with the regenerated files.
  await provision('revoke', site, '--device', 'gate-b');
  await provision('rotate', site, '--device', 'gate-a');
  assert.match(fs.readFileSync(conf, 'utf8'), /crlfile .*ca\.crl\n/);
  broker = await startBroker(t, conf, port);
  const newA = bundleOptions(path.join(site, 'devices', 'gate-a'));
  assert.notEqual(newA.options.cert, oldA.options.cert);
  const gateA = await attempt(t, newA.url, newA.options);
  assert.ok(gateA.client, `gate A connects with its new key: ${gateA.error?.message}\n${broker.log()}`);
  await gateA.client.publishAsync(`hc/v1/${SITE}/lane-a/decision`, 'own-lane', { qos: 1 });
  // The broker's TLS alert names the reason: the CRL (its own log only says "certificate verify failed").
  const oldKey = await refused(t, oldA.url, { ...oldA.options, clientId: 'old-a' }, "gate A's old key", broker.log);
  assert.match(oldKey.message, /certificate revoked/i);
  const revokedB = await refused(t, b.url, b.options, 'the revoked gate B', broker.log);
  assert.match(revokedB.message, /certificate revoked/i);
  const gateC2 = await attempt(t, c.url, c.options);
  assert.ok(gateC2.client, `the password gate still connects: ${gateC2.error?.message}`);

  // A password gate revoked: its line leaves the password file.
  await broker.stop();
  await provision('revoke', site, '--device', 'gate-c');
  await provision('enroll', site, '--device', 'gate-d', '--lane', 'lane-d', '--auth', 'password', '--in-place');
  // enroll --force on gate A: its rotated key is revoked in turn.
  await gateA.client.endAsync();
  await provision('enroll', site, '--device', 'gate-a', '--lane', 'lane-a', '--force', '--in-place');
  broker = await startBroker(t, conf, port);
  const reenrolled = bundleOptions(path.join(site, 'devices', 'gate-a'));
  const gateA2 = await attempt(t, reenrolled.url, reenrolled.options);
  assert.ok(gateA2.client, `gate A enrolled again connects: ${gateA2.error?.message}\n${broker.log()}`);
  const rotatedKey = await refused(t, newA.url, { ...newA.options, clientId: 'rotated-a' }, "gate A's key before enroll --force", broker.log);
  assert.match(rotatedKey.message, /certificate revoked/i);
  await refused(t, c.url, { ...c.options, clientId: 'revoked-c' }, 'the revoked password gate C', broker.log);
  const d = bundleOptions(path.join(site, 'devices', 'gate-d'));
  const gateD = await attempt(t, d.url, d.options);
  assert.ok(gateD.client, `a password gate enrolled later connects: ${gateD.error?.message}\n${broker.log()}`);
});

function portFree(port: number): Promise<boolean> {
  return accepts(port).then((taken) => !taken);
}

test("the fleet console's login (console add) against a real Mosquitto: reads the site as the console subscribes, writes lane commands only; console remove keeps it out", { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-provision-console-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const site = path.join(tmp, 'site');
  const issuer = await createSignerCertificate({ subject: 'CN=Issuer A, O=Test, C=CN' });
  fs.writeFileSync(path.join(tmp, 'issuer.pem'), issuer.certificatePem);
  const port = await freePort();
  await provision('init', site, '--site', SITE, '--broker-url', `mqtts://127.0.0.1:${port}`, '--broker-dir', path.join(site, 'broker'));
  await provision('issuer', 'add', site, path.join(tmp, 'issuer.pem'));
  await provision('enroll', site, '--device', 'gate-a', '--lane', 'lane-a', '--in-place');
  await provision('console', 'add', site, '--name', 'hq');
  let broker = await startBroker(t, path.join(site, 'broker', 'mosquitto.conf'), port);

  // The console's connection options, as record/feed.ts makes them from console.yaml.
  const config = loadConsoleConfig(path.join(site, 'consoles', 'hq', 'console.yaml'));
  const consoleOptions: IClientOptions = {
    protocolVersion: 5,
    clientId: 'hc-console',
    ca: fs.readFileSync(config.broker.tls!.ca, 'utf8'),
    cert: fs.readFileSync(config.broker.tls!.cert!, 'utf8'),
    key: fs.readFileSync(config.broker.tls!.key!, 'utf8'),
  };
  const fleet = await attempt(t, config.broker.url, consoleOptions);
  assert.ok(fleet.client, `the console connects: ${fleet.error?.message}\n${broker.log()}`);
  const a = bundleOptions(path.join(site, 'devices', 'gate-a'));
  const gateA = await attempt(t, a.url, a.options);
  assert.ok(gateA.client, `gate A connects: ${gateA.error?.message}`);

  const heard: string[] = [];
  fleet.client.on('message', (topic, payload) => heard.push(`${topic} ${payload.toString()}`));
  const granted = await fleet.client.subscribeAsync([`${config.baseTopic}/+/+/status`, `${config.baseTopic}/+/colour/change`], { qos: 1 });
  assert.deepEqual(granted.map((grant) => grant.qos), [1, 1], `subscriptions granted: ${JSON.stringify(granted)}\n${broker.log()}`);
  const commands: string[] = [];
  gateA.client.on('message', (_topic, payload) => commands.push(payload.toString()));
  await gateA.client.subscribeAsync(`hc/v1/${SITE}/lane-a/command`, { qos: 1 });

  await gateA.client.publishAsync(`hc/v1/${SITE}/lane-a/status`, 'online', { qos: 1 });
  await fleet.client.publishAsync(`hc/v1/${SITE}/lane-a/command`, 'from-the-console', { qos: 1 });
  for (const topic of [`hc/v1/${SITE}/colour/change`, `hc/v1/${SITE}/lane-a/status`, `hc/v1/other-site/lane-a/command`]) {
    await assert.rejects(fleet.client.publishAsync(topic, `forged ${topic}`, { qos: 1 }), (error: Error & { code?: unknown }) => {
      assert.equal(error.code, 0x87, `PUBACK reason for ${topic}: ${error.message}`);
      return true;
    });
  }
  const deadline = Date.now() + 5_000;
  while ((heard.length === 0 || commands.length === 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(heard, [`hc/v1/${SITE}/lane-a/status online`], 'the console hears the gate');
  assert.deepEqual(commands, ['from-the-console'], "the gate hears the console's command");
  await fleet.client.endAsync(true);
  await broker.stop();

  // console remove: its certificate on the CRL, the broker refuses it.
  await provision('console', 'remove', site, '--name', 'hq');
  broker = await startBroker(t, path.join(site, 'broker', 'mosquitto.conf'), port);
  const removed = await attempt(t, config.broker.url, consoleOptions);
  assert.ok(removed.error, `a removed console is refused\n${broker.log()}`);
});
