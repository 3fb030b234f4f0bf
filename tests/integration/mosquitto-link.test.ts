/**
 * The agent's MQTT connection options against a real Mosquitto: plain,
 * TLS with server verification, mTLS with the certificate's CN as the
 * username, username and password, and an ACL per device. Certificates come
 * from provisioning/pki.ts, as gate-provision will make them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { mqttClientOptions } from '../../edge-agent/link/mqtt-options.js';
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  type CertificateAuthority,
  type CertifiedKey,
} from '../../provisioning/pki.js';
import { requireMosquitto, startMosquitto, type MosquittoBroker, type MosquittoOptions } from '../support/mosquitto.js';
import { until } from '../support/wait.js';
import { ConfigError } from '../../protocol/config/errors.js';

const SITE = 's1';
const LANE = 'l1';
const GATE = `gate-${SITE}-${LANE}`;

let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
let server: CertifiedKey;
let gate: CertifiedKey;
let centre: CertifiedKey;
let stranger: CertifiedKey;

before(async () => {
  ca = await createCertificateAuthority({ subject: 'CN=Test Gate CA, O=Demo, C=CN' });
  otherCa = await createCertificateAuthority({ subject: 'CN=Another CA, O=Elsewhere, C=CN' });
  server = await issueServerCertificate(ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  gate = await issueClientCertificate(ca, { commonName: GATE });
  centre = await issueClientCertificate(ca, { commonName: 'centre' });
  // Same CN as the gate: only the CA tells them apart.
  stranger = await issueClientCertificate(otherCa, { commonName: GATE });
});

/** A broker stopped, and a temp dir removed, when the test ends. */
async function broker(t: TestContext, options: MosquittoOptions): Promise<MosquittoBroker> {
  const started = await startMosquitto(options);
  t.after(() => started.stop());
  return started;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'gate-mqtt-options-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeFiles(dir: string, files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(files).map(([name, text]) => {
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return [name, path];
    }),
  );
}

/** The gate's mqtt config section as the agent sees it: checked by the real schema, defaults filled. */
function mqttConfig(mqttSection: Record<string, unknown>) {
  return checkConfig({ site: SITE, lane: LANE, mqtt: mqttSection }).mqtt;
}

type Attempt = { client: MqttClient; error?: undefined } | { client?: undefined; error: Error & { code?: unknown } };

/** One connection attempt, no retries: the connected client, or why it was refused. */
function tryConnect(t: TestContext, url: string, options: IClientOptions, timeoutMs = 5_000): Promise<Attempt> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { ...options, reconnectPeriod: 0, reconnectOnConnackError: false, connectTimeout: timeoutMs });
    t.after(() => client.endAsync(true));
    let lastError: Error | undefined;
    let done = false;
    const finish = (attempt: Attempt): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (attempt.error) client.end(true);
      resolve(attempt);
    };
    const timer = setTimeout(() => finish({ error: new Error(`no answer from ${url} within ${timeoutMs} ms`) }), timeoutMs + 1_000);
    client.on('error', (error) => {
      lastError = error;
    });
    client.once('connect', () => finish({ client }));
    client.once('close', () => finish({ error: lastError ?? new Error('connection closed before CONNACK') }));
  });
}

async function connected(t: TestContext, url: string, options: IClientOptions): Promise<MqttClient> {
  const attempt = await tryConnect(t, url, options);
  if (attempt.error) throw new Error(`expected to connect to ${url}: ${attempt.error.message}`);
  return attempt.client;
}

async function refused(t: TestContext, url: string, options: IClientOptions): Promise<Error & { code?: unknown }> {
  const attempt = await tryConnect(t, url, options);
  assert.ok(attempt.error, `expected ${url} to refuse the connection`);
  return attempt.error;
}

/** Messages a client receives, in order, with a bounded wait for the one expected. */
function inbox(client: MqttClient): { messages: Array<{ topic: string; payload: string }>; waitFor(payload: string, ms?: number): Promise<void> } {
  const messages: Array<{ topic: string; payload: string }> = [];
  client.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }));
  return {
    messages,
    async waitFor(payload, ms = 5_000) {
      const deadline = Date.now() + ms;
      while (!messages.some((m) => m.payload === payload)) {
        if (Date.now() > deadline) throw new Error(`"${payload}" not received within ${ms} ms; got ${JSON.stringify(messages)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
  };
}

const v5 = { protocolVersion: 5 } as const;

test('plain listener: a QoS 1 message reaches a subscriber', { timeout: 30_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const mosquitto = await broker(t, {});
  const subscriber = await connected(t, mosquitto.url, v5);
  const received = inbox(subscriber);
  await subscriber.subscribeAsync('hc/v1/#', { qos: 1 });
  const publisher = await connected(t, mosquitto.url, v5);
  await publisher.publishAsync(`hc/v1/${SITE}/${LANE}/decision`, 'plain-1', { qos: 1 });
  await received.waitFor('plain-1');
  assert.deepEqual(received.messages, [{ topic: `hc/v1/${SITE}/${LANE}/decision`, payload: 'plain-1' }]);
});

test("TLS: the agent's options verify the broker; a client trusting another CA, or another name, is refused", { timeout: 30_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const mosquitto = await broker(t, { plain: false, tls: { caPem: ca.certificatePem, certPem: server.certificatePem, keyPem: server.privateKeyPem } });
  const tlsUrl = mosquitto.tlsUrl!;
  const files = writeFiles(tempDir(t), { 'ca.pem': ca.certificatePem });

  const options = mqttClientOptions(mqttConfig({ url: tlsUrl, tls: { ca: files['ca.pem'] } }), { site: SITE, lane: LANE });
  assert.equal(options.rejectUnauthorized, true);
  assert.equal(options.clientId, GATE);
  const agent = await connected(t, tlsUrl, options);
  const received = inbox(agent);
  await agent.subscribeAsync(`hc/v1/${SITE}/${LANE}/colour`, { qos: 1 });
  await agent.publishAsync(`hc/v1/${SITE}/${LANE}/colour`, 'over-tls', { qos: 1 });
  await received.waitFor('over-tls');

  // The certificate names 'localhost' as well as 127.0.0.1: servername checks against it.
  const byName = mqttClientOptions(mqttConfig({ url: tlsUrl, clientId: 'by-name', tls: { ca: files['ca.pem'], servername: 'localhost' } }), { site: SITE, lane: LANE });
  await connected(t, tlsUrl, byName);

  const untrusted = await refused(t, tlsUrl, { ...options, clientId: 'untrusted', ca: otherCa.certificatePem });
  // Mosquitto's OpenSSL sends the chain built from its cafile, so Node sees a root it does not trust.
  assert.match(String(untrusted.code), /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/, untrusted.message);
  const wrongName = await refused(t, tlsUrl, { ...options, clientId: 'wrong-name', servername: 'broker.example' });
  assert.equal(wrongName.code, 'ERR_TLS_CERT_ALTNAME_INVALID', wrongName.message);
});

test('mTLS: the client certificate is required and names the user; none, or one from another CA, is refused', { timeout: 30_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const mosquitto = await broker(t, {
    plain: false,
    tls: { caPem: ca.certificatePem, certPem: server.certificatePem, keyPem: server.privateKeyPem, requireCertificate: true, useIdentityAsUsername: true },
  });
  const tlsUrl = mosquitto.tlsUrl!;
  const files = writeFiles(tempDir(t), {
    'ca.pem': ca.certificatePem,
    'gate.pem': gate.certificatePem,
    'gate.key': gate.privateKeyPem,
    // The key as a gate may store it: encrypted, with the passphrase in its config.
    'gate-encrypted.key': gate.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'turnstile' }) as string,
  });

  const options = mqttClientOptions(mqttConfig({ url: tlsUrl, tls: { ca: files['ca.pem'], cert: files['gate.pem'], key: files['gate.key'] } }), { site: SITE, lane: LANE });
  await connected(t, tlsUrl, options);
  assert.match(mosquitto.log(), new RegExp(`as ${GATE} \\(p5, c0, k60, u'${GATE}'\\)`), 'the CN became the username');

  const encrypted = mqttClientOptions(
    mqttConfig({ url: tlsUrl, clientId: 'encrypted-key', tls: { ca: files['ca.pem'], cert: files['gate.pem'], key: files['gate-encrypted.key'], keyPassphrase: 'turnstile' } }),
    { site: SITE, lane: LANE },
  );
  await connected(t, tlsUrl, encrypted);

  const { cert: _cert, key: _key, ...withoutCertificate } = options;
  const anonymous = await refused(t, tlsUrl, { ...withoutCertificate, clientId: 'no-certificate' });
  // TLS 1.3 has an alert of its own for it; TLS 1.2 fails the handshake.
  assert.match(String(anonymous.code), /^ERR_SSL_TLSV1(3_ALERT_CERTIFICATE_REQUIRED|_ALERT_HANDSHAKE_FAILURE)$/, anonymous.message);
  const foreign = await refused(t, tlsUrl, { ...options, clientId: 'stranger', cert: stranger.certificatePem, key: stranger.privateKeyPem });
  assert.equal(foreign.code, 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', foreign.message);
});

test('username and password: the right one connects, a wrong one is refused with an MQTT 5 reason code', { timeout: 30_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const mosquitto = await broker(t, { passwords: { [GATE]: 'correct horse', other: 'p:ss' } });
  const files = writeFiles(tempDir(t), { password: 'correct horse\nignored second line\n' });

  const options = mqttClientOptions(mqttConfig({ url: mosquitto.url, username: GATE, passwordFile: files.password }), { site: SITE, lane: LANE });
  assert.equal(options.password, 'correct horse');
  await connected(t, mosquitto.url, options);
  // A colon in a password survives (mosquitto_passwd -U would cut it there; the harness uses -b).
  await connected(t, mosquitto.url, { ...v5, clientId: 'other', username: 'other', password: 'p:ss' });

  const wrong = await refused(t, mosquitto.url, { ...options, clientId: 'wrong', password: 'battery staple' });
  // Mosquitto 2.0 answers 0x87 Not authorized rather than 0x86 Bad user name or password.
  assert.ok(wrong.code === 0x87 || wrong.code === 0x86, `reason code ${String(wrong.code)}: ${wrong.message}`);
  const nobody = await refused(t, mosquitto.url, { ...v5, clientId: 'nobody' });
  assert.ok(nobody.code === 0x87 || nobody.code === 0x86, `anonymous refused: reason code ${String(nobody.code)}`);
});

test('ACL per device: a gate publishes under its own lane only; PUBACK 0x87 otherwise, and nobody receives it', { timeout: 30_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const acl = [`user ${GATE}`, `topic write hc/v1/${SITE}/${LANE}/#`, '', 'user centre', 'topic read hc/v1/#'].join('\n');
  const mosquitto = await broker(t, {
    plain: false,
    acl,
    tls: { caPem: ca.certificatePem, certPem: server.certificatePem, keyPem: server.privateKeyPem, requireCertificate: true, useIdentityAsUsername: true },
  });
  const tlsUrl = mosquitto.tlsUrl!;
  const files = writeFiles(tempDir(t), { 'ca.pem': ca.certificatePem, 'gate.pem': gate.certificatePem, 'gate.key': gate.privateKeyPem });
  const centreClient = await connected(t, tlsUrl, { ...v5, clientId: 'centre', ca: ca.certificatePem, cert: centre.certificatePem, key: centre.privateKeyPem });
  const received = inbox(centreClient);
  await centreClient.subscribeAsync('hc/v1/#', { qos: 1 });

  const options = mqttClientOptions(mqttConfig({ url: tlsUrl, tls: { ca: files['ca.pem'], cert: files['gate.pem'], key: files['gate.key'] } }), { site: SITE, lane: LANE });
  const agent = await connected(t, tlsUrl, options);
  await agent.publishAsync(`hc/v1/${SITE}/${LANE}/decision`, 'own-lane', { qos: 1 });

  for (const topic of [`hc/v1/${SITE}/l2/decision`, `hc/v1/${SITE}/colour`]) {
    await assert.rejects(agent.publishAsync(topic, `forged ${topic}`, { qos: 1 }), (error: Error & { code?: unknown }) => {
      assert.equal(error.code, 0x87, `PUBACK reason for ${topic}: ${error.message}`);
      return true;
    });
  }
  assert.equal(agent.connected, true, 'a refused publish does not cost the gate its connection');
  // The broker keeps one publisher's order: once a later message is in, the refused ones would have been too.
  await agent.publishAsync(`hc/v1/${SITE}/${LANE}/status`, 'after-refusals', { qos: 1 });
  await received.waitFor('after-refusals');
  assert.deepEqual(
    received.messages.map((m) => m.payload),
    ['own-lane', 'after-refusals'],
  );
  assert.match(mosquitto.log(), /Denied PUBLISH from gate-s1-l1 .*'hc\/v1\/s1\/l2\/decision'/);
});

test('a broker restarted with start() listens on the same port again', { timeout: 30_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const mosquitto = await broker(t, {});
  const before = mosquitto.port;
  await mosquitto.stop();
  await refused(t, mosquitto.url, { ...v5, clientId: 'while-down' });
  await mosquitto.start();
  assert.equal(mosquitto.port, before);
  await connected(t, mosquitto.url, { ...v5, clientId: 'after-restart' });
  // Mosquitto may accept on the port a moment before it writes its start line: wait for the line, not assume it.
  const starts = (): number => mosquitto.log().match(/mosquitto version \S+ running/g)?.length ?? 0;
  await until('the log spans both runs', () => starts() === 2);
  assert.equal(starts(), 2, 'the log spans both runs');
});

test('bad config: missing or mismatched files are refused with the key and the path', (t) => {
  const dir = tempDir(t);
  const files = writeFiles(dir, {
    'ca.pem': ca.certificatePem,
    'gate.pem': gate.certificatePem,
    'centre.key': centre.privateKeyPem,
    'not-a-cert.pem': 'hello\n',
    'empty-password': '\n',
  });
  const ids = { site: SITE, lane: LANE };
  const missing = join(dir, 'absent', 'ca.pem');
  const expectError = (section: Record<string, unknown>, message: string | RegExp): void => {
    assert.throws(
      () => mqttClientOptions(mqttConfig(section), ids),
      (error: Error) => {
        assert.ok(error instanceof ConfigError, `a ConfigError, not ${error.name}`);
        if (typeof message === 'string') assert.equal(error.message, message);
        else assert.match(error.message, message);
        return true;
      },
    );
  };
  expectError({ url: 'mqtts://127.0.0.1:8883', tls: { ca: missing } }, `mqtt.tls.ca: cannot read ${missing} (ENOENT)`);
  expectError({ url: 'mqtts://127.0.0.1:8883', tls: { ca: files['not-a-cert.pem'] } }, `mqtt.tls.ca: ${files['not-a-cert.pem']} holds no PEM certificate`);
  expectError(
    { url: 'mqtts://127.0.0.1:8883', tls: { ca: files['ca.pem'], cert: files['gate.pem'], key: files['centre.key'] } },
    /^mqtt\.tls\.cert and mqtt\.tls\.key: the certificate in .*gate\.pem is not for the key in .*centre\.key$/,
  );
  expectError({ url: 'mqtt://127.0.0.1:1883', tls: { ca: files['ca.pem'] } }, /^mqtt\.url: mqtt:\/\/127\.0\.0\.1:1883 is not encrypted but mqtt\.tls is set/);
  expectError({ username: GATE, passwordFile: join(dir, 'no-such-password') }, `mqtt.passwordFile: cannot read ${join(dir, 'no-such-password')} (ENOENT)`);
  expectError({ username: GATE, passwordFile: files['empty-password'] }, `mqtt.passwordFile: the first line of ${files['empty-password']} is empty`);
  // A password never crosses the network in clear; loopback is the machine itself.
  expectError({ url: 'mqtt://broker.example:1883', username: GATE, password: 'secret' }, /^mqtt\.url: mqtt:\/\/broker\.example:1883 is not encrypted, and a password would cross the network in clear/);
  expectError({ url: 'ws://10.0.0.5:8080', username: GATE, password: 'secret' }, /is not encrypted, and a password would cross the network in clear/);
  assert.equal(mqttClientOptions(mqttConfig({ url: 'mqtt://localhost:1883', username: GATE, password: 'secret' }), ids).password, 'secret');

  const options = mqttClientOptions(mqttConfig({ url: 'mqtt://127.0.0.1:1883', clientId: 'gate-custom', username: 'u', password: 'inline' }), ids, {
    topic: 'hc/v1/s1/l1/status',
    payload: '{"state":"offline"}',
    qos: 1,
    retain: true,
  });
  assert.equal(options.clientId, 'gate-custom');
  assert.equal(options.password, 'inline');
  assert.equal(options.protocolVersion, 5);
  assert.equal(options.clean, false);
  assert.equal(options.queueQoSZero, false);
  assert.equal(options.will?.retain, true);
  assert.equal(options.ca, undefined, 'no TLS settings without mqtt.tls');
});
