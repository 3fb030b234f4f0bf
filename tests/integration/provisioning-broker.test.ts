/**
 * What gate-provision makes, run for real: a Mosquitto started with the
 * site's own broker/mosquitto.conf and ACL, and gates connecting with the
 * agent's MQTT options from their bundles' agent.yaml. A gate publishes on
 * its own topics; the broker refuses (PUBACK 0x87) its writes on another
 * lane's topics and on the site's colour topic; no certificate, no entry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { loadConfig } from '../../edge-agent/config/load.js';
import { mqttClientOptions } from '../../edge-agent/link/mqtt-options.js';
import { main } from '../../provisioning/cli/gate-provision.js';
import { createSignerCertificate } from '../../provisioning/signer-certificate.js';
import { freePort, mosquittoPath, requireMosquitto } from '../support/mosquitto.js';

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
async function startBroker(t: TestContext, conf: string, port: number): Promise<{ log(): string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-provision-broker-'));
  const file = path.join(dir, 'mosquitto.conf');
  const preamble = [...(process.getuid?.() === 0 ? ['user root'] : []), 'log_dest stderr', 'log_type all'];
  fs.writeFileSync(file, `${preamble.join('\n')}\n${fs.readFileSync(conf, 'utf8')}`);
  const child: ChildProcess = spawn(mosquittoPath()!, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { log: () => output };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
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
