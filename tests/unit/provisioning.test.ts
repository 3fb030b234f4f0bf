/**
 * gate-provision end to end on real files: init, the issuer list, enrolment
 * of one gate and of a CSV batch, the broker's ACL, the signed trust list;
 * every refusal with its message and the site folder byte for byte as it
 * was; and writes made to fail half-way, which must leave nothing behind.
 *
 * Over 500 lines on purpose: every verb of the CLI (init, issuers, enroll,
 * export-trust, revoke, atomic writes) is run here with one set of helpers
 * that spawn it and compare site folders byte for byte; a file per verb
 * would copy them.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, verify as cryptoVerify } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../protocol/config/gate-config.js';
import { TrustStore, kidOf } from '../../protocol/trust/trust-store.js';
import { mqttClientOptions } from '../../edge-agent/link/mqtt-options.js';
import { enrollDevices } from '../../provisioning/site/enroll.js';
import { ProvisionError } from '../../provisioning/site/errors.js';
import { initSite } from '../../provisioning/site/init.js';
import { openSite } from '../../provisioning/site/site.js';
import { checkMosquittoPassword, mosquittoPasswordLine, rotateDevice, revokeDevice } from '../../provisioning/site/devices.js';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { ok, refuses, run, snapshot } from '../support/provision-cli.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = path.join(ROOT, 'dist', 'provisioning', 'cli', 'main.js');
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-provision-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let folders = 0;
/** A fresh path under the test's temp folder (not created). */
const fresh = (name: string): string => path.join(tmp, `${name}-${++folders}`);

const issuerA = await createSignerCertificate({ subject: 'CN=Issuer A, O=Test, C=CN' });
const issuerB = await createSignerCertificate({ subject: 'CN=Issuer B, O=Test, C=CN' });
const expired = await createSignerCertificate({ subject: 'CN=Old issuer, O=Test, C=CN', notBefore: new Date(Date.now() - 400 * 86_400_000), days: 30 });
const ISSUER_A = path.join(tmp, 'issuer-a.pem');
const ISSUER_B = path.join(tmp, 'issuer-b.der');
const EXPIRED = path.join(tmp, 'expired.pem');
const PRIVATE_KEY = path.join(tmp, 'issuer-a.key');
const NOT_A_CERT = path.join(tmp, 'not-a-cert.pem');
const PASSPHRASE = path.join(tmp, 'passphrase');
const WRONG_PASSPHRASE = path.join(tmp, 'wrong-passphrase');
fs.writeFileSync(ISSUER_A, issuerA.certificatePem);
fs.writeFileSync(ISSUER_B, issuerB.certificate.raw);
fs.writeFileSync(EXPIRED, expired.certificatePem);
fs.writeFileSync(PRIVATE_KEY, issuerA.privateKey.export({ type: 'pkcs8', format: 'pem' }));
fs.writeFileSync(NOT_A_CERT, 'hello, I am not a certificate\n');
fs.writeFileSync(PASSPHRASE, 'correct horse battery\n');
fs.writeFileSync(WRONG_PASSPHRASE, 'incorrect horse battery\n');

/** A site with issuer A, made through the CLI. */
async function site(...extra: string[]): Promise<string> {
  const dir = fresh('site');
  await ok('init', dir, '--site', 'mall-1', '--broker-url', 'mqtts://broker.mall.test:8883', '--broker-host', 'broker.mall.test,10.1.2.3', ...extra);
  await ok('issuer', 'add', dir, ISSUER_A);
  return dir;
}

const mode = (file: string): number => fs.statSync(file).mode & 0o777;
const read = (file: string): string => fs.readFileSync(file, 'utf8');

describe('init', () => {
  test('makes the site CA, broker certificate, centre keys, broker settings and an empty trust list; keys 0600', async () => {
    const dir = fresh('site');
    const result = await ok('init', dir, '--site', 'mall-1', '--broker-url', 'mqtts://broker.mall.test:8883', '--broker-host', 'broker.mall.test', '--broker-host', '10.1.2.3');
    assert.match(result.stdout, /site mall-1 made in/);
    assert.doesNotMatch(result.stdout + result.stderr, /PRIVATE KEY/);
    for (const key of ['ca/ca.key', 'centre/centre.key', 'centre/mqtt-client.key', 'centre/mqtt-department.key', 'centre/mqtt-record.key', 'broker/broker.key']) {
      assert.equal(mode(path.join(dir, key)), 0o600, key);
      assert.match(read(path.join(dir, key)), /^-----BEGIN PRIVATE KEY-----/, key);
    }
    assert.equal(mode(dir), 0o700);
    // The ID-card hash key: 32 random bytes, base64, owner-only; a new site gets a new one.
    const idHashKey = path.join(dir, 'centre/id-hash.key');
    assert.equal(mode(idHashKey), 0o600);
    assert.match(read(idHashKey), /^[A-Za-z0-9+/]{43}=\n$/);
    assert.equal(Buffer.from(read(idHashKey).trim(), 'base64').length, 32);
    assert.ok(!(result.stdout + result.stderr).includes(read(idHashKey).trim()), 'the key is not printed');
    assert.deepEqual(
      fs.readdirSync(dir).sort(),
      ['broker', 'ca', 'centre', 'devices', 'issuers', 'site.json'],
      'no staging folder or lock left behind',
    );

    const ca = new X509Certificate(read(path.join(dir, 'ca/ca.pem')));
    assert.equal(ca.ca, true);
    assert.ok(ca.checkPrivateKey(createPrivateKey(read(path.join(dir, 'ca/ca.key')))));
    const broker = new X509Certificate(read(path.join(dir, 'broker/broker.pem')));
    assert.ok(broker.checkIssued(ca) && broker.verify(ca.publicKey), 'the broker certificate chains to the site CA');
    assert.match(broker.subjectAltName ?? '', /DNS:broker\.mall\.test/);
    assert.match(broker.subjectAltName ?? '', /IP Address:10\.1\.2\.3/);
    assert.deepEqual(broker.keyUsage, [SERVER_AUTH]);
    assert.equal(read(path.join(dir, 'broker/ca.pem')), read(path.join(dir, 'ca/ca.pem')));
    const centreClient = new X509Certificate(read(path.join(dir, 'centre/mqtt-client.pem')));
    assert.match(centreClient.subject, /CN=centre/);
    assert.ok(centreClient.verify(ca.publicKey));
    // The centre's other sessions each log in with a certificate of their own (the broker names a session by it).
    for (const [file, cn] of [['mqtt-department', 'centre-department'], ['mqtt-record', 'centre-record']] as const) {
      const certificate = new X509Certificate(read(path.join(dir, `centre/${file}.pem`)));
      assert.equal(certificate.subject, `CN=${cn}`);
      assert.ok(certificate.verify(ca.publicKey));
    }
    const centre = new X509Certificate(read(path.join(dir, 'centre/centre.pem')));
    assert.equal(centre.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'the centre signs ES256');

    const record = JSON.parse(read(path.join(dir, 'site.json')));
    assert.equal(record.site, 'mall-1');
    assert.equal(record.broker.url, 'mqtts://broker.mall.test:8883');
    assert.deepEqual(record.broker.hosts, ['broker.mall.test', '10.1.2.3']);
    assert.equal(record.broker.port, 8883);
    assert.equal(record.keysEncrypted, false);
    assert.deepEqual(record.trustList.issuers, []);
    assert.equal(record.trustList.version, 1);
    assert.deepEqual(record.devices, {});
    assert.ok(Number.isFinite(Date.parse(record.createdAt)));

    assert.equal(
      read(path.join(dir, 'broker/mosquitto.conf')).replace(/^#.*\n/gm, ''),
      [
        'per_listener_settings false',
        'allow_anonymous false',
        'acl_file /etc/mosquitto/gates/acl',
        'max_queued_messages 200000',
        'max_queued_bytes 268435456',
        '',
        'listener 8883',
        'cafile /etc/mosquitto/gates/ca.pem',
        'certfile /etc/mosquitto/gates/broker.pem',
        'keyfile /etc/mosquitto/gates/broker.key',
        'require_certificate true',
        'use_identity_as_username true',
        'use_username_as_clientid true',
        '',
      ].join('\n'),
    );
    assert.equal(read(path.join(dir, 'broker/acl')).replace(/^#.*\n/gm, ''), '\nuser centre\ntopic readwrite hc/v1/#\n\nuser centre-department\ntopic read hc/v1/+/+/alert\ntopic read hc/v1/+/+/registration\n\nuser centre-record\ntopic read hc/v1/#\n');
  });

  test('--passphrase-file encrypts the site CA and centre keys (PKCS#8, AES-256-CBC); the broker key stays readable by Mosquitto', async () => {
    const dir = fresh('site');
    const result = await ok('init', dir, '--site', 's2', '--passphrase-file', PASSPHRASE);
    assert.doesNotMatch(result.stdout + result.stderr, /correct horse/);
    for (const key of ['ca/ca.key', 'centre/centre.key', 'centre/mqtt-client.key', 'centre/mqtt-department.key', 'centre/mqtt-record.key']) {
      const pem = read(path.join(dir, key));
      assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/, key);
      assert.throws(() => createPrivateKey({ key: pem, passphrase: 'incorrect horse battery' }));
      assert.equal(createPrivateKey({ key: pem, passphrase: 'correct horse battery' }).asymmetricKeyType, 'ec');
      assert.equal(mode(path.join(dir, key)), 0o600);
    }
    assert.match(read(path.join(dir, 'broker/broker.key')), /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(JSON.parse(read(path.join(dir, 'site.json'))).keysEncrypted, true);
  });

  test('refuses an existing site without --force, and any other non-empty folder even with it; --force makes a new CA', async () => {
    const dir = await site();
    await refuses(dir, 1, /already a site folder; --force replaces it/, 'init', dir, '--site', 'mall-1');
    const other = fresh('other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'mine\n');
    await refuses(other, 1, /is not empty and is not a site folder/, 'init', other, '--site', 'x', '--force');

    const oldCa = read(path.join(dir, 'ca/ca.pem'));
    await ok('init', dir, '--site', 'mall-1', '--force');
    assert.notEqual(read(path.join(dir, 'ca/ca.pem')), oldCa);
    assert.deepEqual(JSON.parse(read(path.join(dir, 'site.json'))).trustList.issuers, []);
    assert.deepEqual(fs.readdirSync(path.dirname(dir)).filter((name) => name.startsWith('.gate-provision')), [], 'nothing left beside it');

    const empty = fresh('empty');
    fs.mkdirSync(empty);
    await ok('init', empty, '--site', 'x');
  });

  test('usage errors exit 2 and make nothing', async () => {
    const dir = fresh('site');
    for (const [message, argv] of [
      [/required option '--site <id>'/, ['init', dir]],
      [/--site "mall 1"/, ['init', dir, '--site', 'mall 1']],
      [/use mqtts:\/\//, ['init', dir, '--site', 's', '--broker-url', 'mqtt://broker:1883']],
      [/not a URL/, ['init', dir, '--site', 's', '--broker-url', 'not a url']],
      [/--broker-port: "0"/, ['init', dir, '--site', 's', '--broker-port', '0']],
      [/neither a DNS name nor an IP/, ['init', dir, '--site', 's', '--broker-host', 'bad host']],
      [/too short/, ['init', dir, '--site', 's', '--passphrase-file', path.join(tmp, 'short')]],
      [/cannot read/, ['init', dir, '--site', 's', '--passphrase-file', path.join(tmp, 'missing')]],
      [/--broker-dir "broker": give an absolute path/, ['init', dir, '--site', 's', '--broker-dir', 'broker']],
    ] as const) {
      fs.writeFileSync(path.join(tmp, 'short'), 'abc\n');
      const result = await run(...argv);
      assert.equal(result.code, 2, `${argv.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(fs.existsSync(dir), false);
    }
  });
});

describe('issuer trust list', () => {
  test('add (PEM and DER), list, remove by kid or by file; the version grows by one per change', async () => {
    const dir = await site();
    const kidA = kidOf(issuerA.certificate.raw);
    const kidB = kidOf(issuerB.certificate.raw);
    const added = await ok('issuer', 'add', dir, ISSUER_B);
    assert.match(added.stdout, new RegExp(`added issuer kid ${kidB.toString('base64').replace(/[+/=]/g, '\\$&')}: CN=Issuer B`));
    assert.equal(read(path.join(dir, `issuers/${kidB.toString('hex')}.pem`)).trim(), issuerB.certificatePem.trim());
    const list = await ok('issuer', 'list', dir);
    assert.match(list.stdout, /trust list version 3, 2 issuer\(s\)/);
    assert.match(list.stdout, /CN=Issuer A/);
    const json = JSON.parse((await ok('issuer', 'list', dir, '--json')).stdout);
    assert.deepEqual(json.issuers.map((entry: { kid: string }) => entry.kid), [kidA.toString('base64'), kidB.toString('base64')]);

    await ok('issuer', 'remove', dir, kidA.toString('hex'));
    assert.equal(fs.existsSync(path.join(dir, `issuers/${kidA.toString('hex')}.pem`)), false);
    await ok('issuer', 'remove', dir, ISSUER_B);
    const after = JSON.parse(read(path.join(dir, 'site.json'))).trustList;
    assert.equal(after.version, 5);
    assert.deepEqual(after.issuers, []);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'issuers')), []);
    await ok('issuer', 'add', dir, ISSUER_A);
    // --kid: base64url may start with "-", which a bare argument would make an option.
    await ok('issuer', 'remove', dir, '--kid', kidA.toString('base64url'));
  });

  test('refuses what is not a certificate, a private key, an expired or duplicate certificate, an unknown kid', async () => {
    const dir = await site();
    await refuses(dir, 1, /not-a-cert\.pem is not an X\.509 certificate in PEM or DER$/m, 'issuer', 'add', dir, NOT_A_CERT);
    await refuses(dir, 1, /holds a private key/, 'issuer', 'add', dir, PRIVATE_KEY);
    await refuses(dir, 1, /expired on/, 'issuer', 'add', dir, EXPIRED);
    await refuses(dir, 1, /cannot read .*missing\.pem \(ENOENT\)/, 'issuer', 'add', dir, path.join(tmp, 'missing.pem'));
    await refuses(dir, 1, /already in the trust list \(--force writes it again\)/, 'issuer', 'add', dir, ISSUER_A);
    await refuses(dir, 1, /no issuer .* in the trust list/, 'issuer', 'remove', dir, '0011223344556677');
    await refuses(dir, 1, /neither a certificate file nor a kid/, 'issuer', 'remove', dir, 'nonsense');
    await ok('issuer', 'add', dir, ISSUER_A, '--force');
  });
});

describe('enroll', () => {
  test('one gate: a bundle the agent loads as it is, a certificate for gate-<site>-<lane> from the site CA, the ACL block', async () => {
    const dir = await site();
    const result = await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-3');
    assert.match(result.stdout, /enrolled dev-1: lane lane-3, MQTT user gate-mall-1-lane-3/);
    assert.doesNotMatch(result.stdout + result.stderr, /PRIVATE KEY/);
    const bundle = path.join(dir, 'devices/dev-1');
    assert.deepEqual(fs.readdirSync(bundle).sort(), ['agent.yaml', 'ca.pem', 'centre.pem', 'gate.key', 'gate.pem', 'id-hash.key', 'issuers']);
    assert.equal(mode(path.join(bundle, 'gate.key')), 0o600);
    assert.equal(mode(path.join(bundle, 'id-hash.key')), 0o600);
    assert.equal(read(path.join(bundle, 'id-hash.key')), read(path.join(dir, 'centre/id-hash.key')), 'the site key, copied as it is');
    assert.equal(Buffer.from(read(path.join(bundle, 'id-hash.key')).trim(), 'base64').length, 32);
    assert.equal(mode(bundle), 0o700);
    assert.equal(read(path.join(bundle, 'ca.pem')), read(path.join(dir, 'ca/ca.pem')));
    assert.equal(read(path.join(bundle, 'centre.pem')), read(path.join(dir, 'centre/centre.pem')));

    const config = loadConfig(path.join(bundle, 'agent.yaml'), {});
    assert.equal(config.site, 'mall-1');
    assert.equal(config.lane, 'lane-3');
    assert.equal(config.mqtt.url, 'mqtts://broker.mall.test:8883');
    assert.deepEqual(config.mqtt.tls, { ca: '/etc/gate/ca.pem', cert: '/etc/gate/gate.pem', key: '/etc/gate/gate.key' });
    assert.equal(config.mqtt.centreKeys, '/etc/gate/centre.pem');
    assert.equal(config.credentials.trust, '/etc/gate/issuers');
    assert.equal(config.policy.feverThresholdC, 37.3);
    assert.equal(config.privacy.idHashKey, '/etc/gate/id-hash.key');

    const ca = new X509Certificate(read(path.join(dir, 'ca/ca.pem')));
    const gate = new X509Certificate(read(path.join(bundle, 'gate.pem')));
    assert.ok(gate.checkIssued(ca) && gate.verify(ca.publicKey), 'the client certificate chains to the site CA');
    assert.equal(gate.subject, 'CN=gate-mall-1-lane-3');
    assert.deepEqual(gate.keyUsage, [CLIENT_AUTH]);
    assert.equal(gate.ca, false);
    assert.ok(gate.checkPrivateKey(createPrivateKey(read(path.join(bundle, 'gate.key')))));

    const record = JSON.parse(read(path.join(dir, 'site.json')));
    assert.equal(record.devices['dev-1'].serial, gate.serialNumber.toLowerCase());
    assert.equal(record.devices['dev-1'].commonName, 'gate-mall-1-lane-3');
    assert.equal(
      read(path.join(dir, 'broker/acl')).replace(/^#.*\n/gm, ''),
      [
        '',
        'user gate-mall-1-lane-3',
        'topic write hc/v1/mall-1/lane-3/status',
        'topic write hc/v1/mall-1/lane-3/decision',
        'topic write hc/v1/mall-1/lane-3/alert',
        'topic write hc/v1/mall-1/lane-3/fault',
        'topic write hc/v1/mall-1/lane-3/security',
        'topic write hc/v1/mall-1/lane-3/telemetry',
        'topic write hc/v1/mall-1/lane-3/command/result',
        'topic write hc/v1/mall-1/lane-3/lookup/request',
        'topic write hc/v1/mall-1/lane-3/registration',
        'topic write hc/v1/mall-1/lane-3/colour/applied',
        'topic write hc/v1/mall-1/lane-3/ha/state',
        'topic write hc/v1/mall-1/lane-3/ha/last-decision',
        'topic read hc/v1/mall-1/centre/#',
        'topic read hc/v1/mall-1/colour/#',
        'topic read hc/v1/mall-1/lane-3/command',
        'topic read hc/v1/mall-1/lane-3/lookup/reply',
        'topic write homeassistant/+/gate-mall-1-lane-3/+/config',
        'topic read homeassistant/status',
        '',
        'user centre',
        'topic readwrite hc/v1/#',
        '',
        'user centre-department',
        'topic read hc/v1/+/+/alert',
        'topic read hc/v1/+/+/registration',
        '',
        'user centre-record',
        'topic read hc/v1/#',
        '',
      ].join('\n'),
    );
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.startsWith('.')), [], 'no staging folder or lock left behind');
  });

  test('--in-place: the agent reads its certificates, key and trust anchors from the bundle where it was written', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1', '--in-place');
    const bundle = path.join(dir, 'devices/dev-1');
    const config = loadConfig(path.join(bundle, 'agent.yaml'), {});
    assert.equal(config.mqtt.tls?.key, path.join(bundle, 'gate.key'));
    const options = mqttClientOptions(config.mqtt, config);
    assert.equal(options.clientId, 'gate-mall-1-lane-1');
    assert.equal(options.rejectUnauthorized, true);
    assert.equal(TrustStore.load(config.credentials.trust!).lookup(kidOf(issuerA.certificate.raw)).length, 1);
    assert.equal(TrustStore.load(config.mqtt.centreKeys!).size, 1);
  });

  test('a CSV batch: a progress line per device on stderr, a bundle and an ACL block each; --install-dir with {device}', async () => {
    const dir = await site();
    const csv = path.join(tmp, 'batch.csv');
    fs.writeFileSync(csv, '\ufeffdevice,lane\r\n# the east entrance\r\ngate-01,east-1\r\n"gate-02",east-2\r\n\r\ngate-03 , east-3\r\n');
    const result = await ok('enroll', dir, '--csv', csv, '--install-dir', '/srv/gates/{device}');
    assert.deepEqual(result.stderr.trim().split('\n'), ['enrolled 1/3: gate-01', 'enrolled 2/3: gate-02', 'enrolled 3/3: gate-03']);
    const acl = read(path.join(dir, 'broker/acl'));
    for (const [device, lane] of [['gate-01', 'east-1'], ['gate-02', 'east-2'], ['gate-03', 'east-3']] as const) {
      const config = loadConfig(path.join(dir, 'devices', device, 'agent.yaml'), {});
      assert.equal(config.lane, lane);
      assert.equal(config.mqtt.tls?.cert, `/srv/gates/${device}/gate.pem`);
      assert.match(acl, new RegExp(`# device ${device}\nuser gate-mall-1-${lane}\ntopic write hc/v1/mall-1/${lane}/status\n`));
    }
    assert.equal(Object.keys(JSON.parse(read(path.join(dir, 'site.json'))).devices).length, 3);
  });

  test('refuses a malformed CSV row, a duplicate device or lane, an enrolled device, an unknown site: exit 1, nothing changed', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    const csv = (name: string, text: string): string => {
      const file = path.join(tmp, name);
      fs.writeFileSync(file, text);
      return file;
    };
    await refuses(dir, 1, /fields\.csv line 3: 3 fields, expected 2 \(device,lane\)/, 'enroll', dir, '--csv', csv('fields.csv', 'device,lane\ndev-2,lane-2\ndev-3,lane-3,extra\n'));
    await refuses(dir, 1, /ids\.csv line 4: device "dev 4": use 1 to 64 letters/, 'enroll', dir, '--csv', csv('ids.csv', 'device,lane\ndev-2,lane-2\ndev-3,lane-3\ndev 4,lane-4\n'));
    await refuses(dir, 1, /colour\.csv line 2: lane "colour"/, 'enroll', dir, '--csv', csv('colour.csv', 'device,lane\ndev-2,colour\n'));
    await refuses(dir, 1, /centre\.csv line 2: lane "centre".*the site's own topics/, 'enroll', dir, '--csv', csv('centre.csv', 'device,lane\ndev-2,centre\n'));
    await refuses(dir, 1, /quote\.csv line 3: .*[Qq]uote/, 'enroll', dir, '--csv', csv('quote.csv', 'device,lane\ndev-2,lane-2\n"dev-3,lane-3\n'));
    await refuses(dir, 1, /header\.csv line 1: unknown column "gate"/, 'enroll', dir, '--csv', csv('header.csv', 'gate,lane\ndev-2,lane-2\n'));
    await refuses(dir, 1, /empty\.csv: no devices after the header/, 'enroll', dir, '--csv', csv('empty.csv', 'device,lane\n'));
    await refuses(dir, 1, /twice\.csv line 3: device dev-2 is listed twice \(also at .*twice\.csv line 2\)/, 'enroll', dir, '--csv', csv('twice.csv', 'device,lane\ndev-2,lane-2\ndev-2,lane-3\n'));
    await refuses(dir, 1, /lane lane-2 is given to dev-2 and dev-3/, 'enroll', dir, '--csv', csv('lanes.csv', 'device,lane\ndev-2,lane-2\ndev-3,lane-2\n'));
    await refuses(dir, 1, /again\.csv line 3: device dev-1 is already enrolled \(lane lane-1\); --force/, 'enroll', dir, '--csv', csv('again.csv', 'device,lane\ndev-2,lane-2\ndev-1,lane-9\n'));
    await refuses(dir, 1, /device dev-1 is already enrolled/, 'enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    await refuses(dir, 1, /lane lane-1 of site mall-1 is already enrolled as device dev-1/, 'enroll', dir, '--device', 'dev-9', '--lane', 'lane-1');
    await refuses(dir, 1, /cannot read .*nope\.csv \(ENOENT\)/, 'enroll', dir, '--csv', path.join(tmp, 'nope.csv'));

    const missing = path.join(tmp, 'no-such-site');
    await refuses(tmp, 1, /no-such-site: no such site folder \(make one with gate-provision init\)/, 'enroll', missing, '--device', 'd', '--lane', 'l');
    const plain = fresh('plain');
    fs.mkdirSync(plain);
    await refuses(plain, 1, /is not a gate-provision site folder \(no site\.json/, 'enroll', plain, '--device', 'd', '--lane', 'l');
    await refuses(plain, 1, /is not a gate-provision site folder/, 'issuer', 'add', plain, ISSUER_A);
    await refuses(plain, 1, /is not a gate-provision site folder/, 'export-trust', plain);

    const bare = fresh('bare');
    await ok('init', bare, '--site', 'bare');
    await refuses(bare, 1, /trusts no code issuer yet.*issuer add/, 'enroll', bare, '--device', 'd', '--lane', 'l');
  });

  test('usage errors exit 2', async () => {
    const dir = await site();
    await refuses(dir, 2, /give --device and --lane, or --csv/, 'enroll', dir, '--device', 'dev-1');
    await refuses(dir, 2, /either --csv or --device and --lane/, 'enroll', dir, '--csv', 'x.csv', '--device', 'd', '--lane', 'l');
    await refuses(dir, 2, /--lane "lane 1"/, 'enroll', dir, '--device', 'd', '--lane', 'lane 1');
    await refuses(dir, 2, /cannot be used with option '--in-place'/, 'enroll', dir, '--device', 'd', '--lane', 'l', '--in-place', '--install-dir', '/x');
    await refuses(dir, 2, /not encrypted: drop --passphrase-file/, 'enroll', dir, '--device', 'd', '--lane', 'l', '--passphrase-file', PASSPHRASE);
    await refuses(dir, 2, /unknown option '--colour'/, 'enroll', dir, '--colour');
    await refuses(dir, 2, /--install-dir "gates\/\{device\}": give an absolute path/, 'enroll', dir, '--device', 'd', '--lane', 'l', '--install-dir', 'gates/{device}');
  });

  test('--force enrolls a device again: a new key and certificate, one ACL block still', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    const firstCert = read(path.join(dir, 'devices/dev-1/gate.pem'));
    const firstKey = read(path.join(dir, 'devices/dev-1/gate.key'));
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1', '--force');
    assert.notEqual(read(path.join(dir, 'devices/dev-1/gate.pem')), firstCert);
    assert.notEqual(read(path.join(dir, 'devices/dev-1/gate.key')), firstKey);
    assert.equal(read(path.join(dir, 'broker/acl')).match(/^user gate-mall-1-lane-1$/gm)?.length, 1);
    // Moved to another lane, the device frees its old one.
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-2', '--force');
    assert.doesNotMatch(read(path.join(dir, 'broker/acl')), /lane-1/);
    await ok('enroll', dir, '--device', 'dev-2', '--lane', 'lane-1');
  });

  test('an encrypted site: enroll needs the passphrase, refuses a wrong one and changes nothing', async () => {
    const dir = await site('--passphrase-file', PASSPHRASE);
    await refuses(dir, 2, /encrypted: give --passphrase-file/, 'enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    await refuses(dir, 1, /wrong passphrase: cannot decrypt ca\/ca\.key of site mall-1/, 'enroll', dir, '--device', 'dev-1', '--lane', 'lane-1', '--passphrase-file', WRONG_PASSPHRASE);
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1', '--passphrase-file', PASSPHRASE);
    // The gate starts unattended: its own key is not encrypted, only owner-readable.
    assert.match(read(path.join(dir, 'devices/dev-1/gate.key')), /^-----BEGIN PRIVATE KEY-----/);
  });
});

describe('export-trust', () => {
  /** The JWS checked with the centre's certificate, as a gate will: header, kid, ES256 signature. */
  function verified(text: string, centrePem: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
    const jws = JSON.parse(text) as { protected: string; payload: string; signature: string };
    assert.deepEqual(Object.keys(jws).sort(), ['payload', 'protected', 'signature']);
    const centre = new X509Certificate(centrePem);
    const header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8'));
    assert.deepEqual(header, { alg: 'ES256', kid: kidOf(centre.raw).toString('base64url'), typ: 'trust-list' });
    const signed = Buffer.from(`${jws.protected}.${jws.payload}`, 'ascii');
    assert.ok(cryptoVerify('sha256', signed, { key: centre.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(jws.signature, 'base64url')), 'signature verifies');
    return { header, payload: JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) };
  }

  test('signs the issuer list with the centre key; the version grows with each change; existing files need --force', async () => {
    const dir = await site();
    const centrePem = read(path.join(dir, 'centre/centre.pem'));
    const first = await ok('export-trust', dir);
    assert.match(first.stdout, /trust list version 2 \(1 issuer\(s\)\) signed by the centre key: .*trust-list-v2\.jws/);
    const v2 = verified(read(path.join(dir, 'trust-list-v2.jws')), centrePem).payload;
    assert.equal(v2.type, 'trust-list');
    assert.equal(v2.site, 'mall-1');
    assert.equal(v2.version, 2);
    assert.ok(Math.abs((v2.issuedAt as number) - Date.now()) < 60_000);
    assert.deepEqual((v2.certificates as string[]).map((pem) => pem.trim()), [issuerA.certificatePem.trim()]);

    await refuses(dir, 1, /trust-list-v2\.jws exists \(--force writes it again\)/, 'export-trust', dir);
    await ok('export-trust', dir, '--force');

    await ok('issuer', 'add', dir, ISSUER_B);
    const out = path.join(tmp, 'pushed.jws');
    await ok('export-trust', dir, '--out', out);
    const v3 = verified(read(out), centrePem).payload;
    assert.equal(v3.version, 3);
    assert.deepEqual(new Set((v3.certificates as string[]).map((pem) => pem.trim())), new Set([issuerA.certificatePem.trim(), issuerB.certificatePem.trim()]));
    const stdout = await ok('export-trust', dir, '--out', '-');
    assert.equal(verified(stdout.stdout, centrePem).payload.version, 3);
  });

  test('an encrypted site: a wrong passphrase signs nothing', async () => {
    const dir = await site('--passphrase-file', PASSPHRASE);
    await refuses(dir, 1, /wrong passphrase: cannot decrypt centre\/centre\.key/, 'export-trust', dir, '--passphrase-file', WRONG_PASSPHRASE);
    await ok('export-trust', dir, '--passphrase-file', PASSPHRASE);
  });
});

describe('atomic writes', () => {
  /** Fails the nth write or rename of a kind. */
  function failAt(kind: 'write' | 'rename', n: number): (step: 'write' | 'rename', file: string) => void {
    let seen = 0;
    return (step, file) => {
      if (step === kind && ++seen === n) throw Object.assign(new Error(`injected ${kind} failure at ${file}`), { code: 'EIO' });
    };
  }

  test('a write failing half-way through a batch leaves the site as it was', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    const before = snapshot(dir);
    const requests = [
      { device: 'dev-2', lane: 'lane-2' },
      { device: 'dev-3', lane: 'lane-3' },
    ];
    // The 9th write is inside the second bundle.
    await assert.rejects(enrollDevices(openSite(dir), requests, { hook: failAt('write', 9) }), /injected write failure/);
    assert.deepEqual(snapshot(dir), before);
  });

  test('a rename failing during the commit is undone: replaced bundles and files come back', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    const before = snapshot(dir);
    const requests = [
      { device: 'dev-1', lane: 'lane-1' },
      { device: 'dev-2', lane: 'lane-2' },
    ];
    // Renames: dev-1 aside, dev-1 in, dev-2 in, acl aside, acl in (fails): three to undo.
    await assert.rejects(enrollDevices(openSite(dir), requests, { force: true, hook: failAt('rename', 5) }), /injected rename failure/);
    assert.deepEqual(snapshot(dir), before);
  });

  test('a real failure: the broker folder cannot be written (chattr +i), so the batch is undone and the CLI says nothing changed', async (t) => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    const broker = path.join(dir, 'broker');
    // Root ignores permission bits; an immutable folder stops even root. Not every filesystem or container allows it.
    if (spawnSync('chattr', ['+i', broker]).status !== 0) {
      t.skip('chattr +i is not available here');
      return;
    }
    try {
      const csv = path.join(tmp, 'real-failure.csv');
      fs.writeFileSync(csv, 'device,lane\ndev-2,lane-2\ndev-3,lane-3\n');
      const before = snapshot(dir);
      const result = await run('enroll', dir, '--csv', csv);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /EPERM: operation not permitted, rename .*broker\/acl.*; nothing was changed/);
      assert.deepEqual(snapshot(dir), before);
    } finally {
      spawnSync('chattr', ['-i', broker]);
    }
  });

  test('init failing half-way leaves no site folder and nothing beside it', async () => {
    const parent = fresh('parent');
    fs.mkdirSync(parent);
    await assert.rejects(initSite(path.join(parent, 'site'), { site: 's', hook: failAt('write', 6) }), /injected write failure/);
    assert.deepEqual(fs.readdirSync(parent), []);
    const dir = path.join(parent, 'site');
    await initSite(dir, { site: 's' });
    const before = snapshot(dir);
    // --force over an existing site: the old one stays if the swap fails.
    await assert.rejects(initSite(dir, { site: 's', force: true, hook: failAt('rename', 2) }), /injected rename failure/);
    assert.deepEqual(snapshot(dir), before);
    assert.deepEqual(fs.readdirSync(parent), ['site']);
  });

  test('a second run while the site is locked is refused', async () => {
    const dir = await site();
    fs.writeFileSync(path.join(dir, '.lock'), `${process.pid}\n`);
    await refuses(dir, 1, /being changed by another gate-provision/, 'enroll', dir, '--device', 'd', '--lane', 'l');
    // A lock whose process is gone is taken over.
    fs.writeFileSync(path.join(dir, '.lock'), '999999999\n');
    await ok('enroll', dir, '--device', 'd', '--lane', 'l');
    assert.equal(fs.existsSync(path.join(dir, '.lock')), false);
  });
});

/** The site's CRL, checked against the site CA: the revoked serials (lower-case hex). */
async function crlSerials(dir: string): Promise<string[]> {
  const text = read(path.join(dir, 'broker/ca.crl'));
  assert.match(text, /^-----BEGIN X509 CRL-----\n/, 'the PEM label OpenSSL reads');
  const crl = new x509.X509Crl(text);
  const ca = new x509.X509Certificate(read(path.join(dir, 'ca/ca.pem')));
  assert.ok(await crl.verify({ publicKey: ca }), 'the CRL is signed by the site CA');
  assert.equal(crl.issuer, ca.subject);
  assert.ok(crl.nextUpdate && crl.nextUpdate.getTime() >= ca.notAfter.getTime() - 1000, 'valid as long as the CA');
  return crl.entries.map((entry) => entry.serialNumber.toLowerCase());
}

const serialOf = (file: string): string => new X509Certificate(read(file)).serialNumber.toLowerCase();
const siteRecord = (dir: string) => JSON.parse(read(path.join(dir, 'site.json')));

describe('revoke', () => {
  test('puts the certificate on a CRL from the site CA, adds crlfile, drops the ACL block, keeps the entry and the bundle; the lane is free', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    await ok('enroll', dir, '--device', 'dev-2', '--lane', 'lane-2');
    assert.equal(fs.existsSync(path.join(dir, 'broker/ca.crl')), false, 'no CRL before the first revocation');
    assert.doesNotMatch(read(path.join(dir, 'broker/mosquitto.conf')), /crlfile/);
    const bundle = snapshot(path.join(dir, 'devices/dev-2'));
    const serial = serialOf(path.join(dir, 'devices/dev-2/gate.pem'));

    const result = await ok('revoke', dir, '--device', 'dev-2');
    assert.match(result.stdout, new RegExp(`revoked dev-2: certificate serial ${serial} is on broker/ca\\.crl, user gate-mall-1-lane-2 left the ACL`));
    assert.match(result.stdout, /bundle devices\/dev-2 is left as it is \(its key no longer connects\)/);
    assert.match(result.stdout, /restart Mosquitto/);
    assert.deepEqual(await crlSerials(dir), [serial]);
    assert.match(read(path.join(dir, 'broker/mosquitto.conf')), /require_certificate true\ncrlfile \/etc\/mosquitto\/gates\/ca\.crl\n/);
    const acl = read(path.join(dir, 'broker/acl'));
    assert.doesNotMatch(acl, /lane-2/);
    assert.match(acl, /user gate-mall-1-lane-1\n/);
    const record = siteRecord(dir);
    assert.ok(Date.parse(record.devices['dev-2'].revokedAt));
    assert.equal(record.devices['dev-1'].revokedAt, undefined);
    assert.deepEqual(record.revoked.map((entry: { serial: string; device: string; reason: string }) => [entry.serial, entry.device, entry.reason]), [[serial, 'dev-2', 'cessationOfOperation']]);
    assert.deepEqual(snapshot(path.join(dir, 'devices/dev-2')), bundle, 'the bundle is left as it was');
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.startsWith('.')), []);

    // The lane is free for another device; the revoked one comes back only with --force.
    await ok('enroll', dir, '--device', 'dev-3', '--lane', 'lane-2');
    await refuses(dir, 1, /device dev-2 was revoked on .*; --force enrolls it again/, 'enroll', dir, '--device', 'dev-2', '--lane', 'lane-9');
    await ok('enroll', dir, '--device', 'dev-2', '--lane', 'lane-9', '--force');
    assert.equal(siteRecord(dir).devices['dev-2'].revokedAt, undefined);
    assert.deepEqual(await crlSerials(dir), [serial], 'the CRL keeps what it had, adds nothing for a revoked certificate');
  });

  test('--cert names the device by its certificate; one not from this site, an unknown or revoked one, is refused and nothing changes', async () => {
    const dir = await site();
    const other = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    await ok('enroll', dir, '--device', 'dev-2', '--lane', 'lane-2');
    await ok('enroll', other, '--device', 'dev-1', '--lane', 'lane-1');
    const keep = path.join(tmp, `dev-1-${folders}.pem`);
    fs.copyFileSync(path.join(dir, 'devices/dev-1/gate.pem'), keep);
    await refuses(dir, 1, /the certificate of CN=gate-mall-1-lane-1 is not from site mall-1 \(not signed by its CA CN=mall-1 gate site CA/, 'revoke', dir, '--cert', path.join(other, 'devices/dev-1/gate.pem'));
    await refuses(dir, 1, /the certificate of CN=Issuer A.* is not from site mall-1/, 'rotate', dir, '--cert', ISSUER_A);
    await refuses(dir, 1, /not-a-cert\.pem is not an X\.509 certificate/, 'revoke', dir, '--cert', NOT_A_CERT);
    await refuses(dir, 1, /gate\.key holds a private key: give the gate's certificate \(gate\.pem\), not its key/, 'revoke', dir, '--cert', path.join(dir, 'devices/dev-1/gate.key'));
    await refuses(dir, 1, /cannot read .*missing\.pem \(ENOENT\)/, 'revoke', dir, '--cert', path.join(tmp, 'missing.pem'));
    await refuses(dir, 1, /site mall-1 has no device dev-9/, 'revoke', dir, '--device', 'dev-9');
    await refuses(dir, 1, /site mall-1 has no device dev-9/, 'rotate', dir, '--device', 'dev-9');
    await refuses(dir, 2, /give --device <id> or --cert <file> \(one of them\)/, 'revoke', dir);
    await refuses(dir, 2, /give --device <id> or --cert <file> \(one of them\)/, 'rotate', dir, '--device', 'dev-1', '--cert', keep);
    await refuses(dir, 2, /--device "dev 1"/, 'revoke', dir, '--device', 'dev 1');
    await refuses(dir, 2, /not encrypted: drop --passphrase-file/, 'revoke', dir, '--device', 'dev-1', '--passphrase-file', PASSPHRASE);
    await refuses(tmp, 1, /no such site folder/, 'revoke', path.join(tmp, 'no-such-site'), '--device', 'dev-1');

    await ok('revoke', dir, '--cert', keep);
    assert.ok(siteRecord(dir).devices['dev-1'].revokedAt);
    await refuses(dir, 1, /device dev-1 was already revoked on/, 'revoke', dir, '--device', 'dev-1');
    await refuses(dir, 1, /device dev-1 was already revoked on/, 'revoke', dir, '--cert', keep);
    await refuses(dir, 1, /device dev-1 was revoked on .*: enroll it again with --force/, 'rotate', dir, '--device', 'dev-1');
    // A certificate of this CA that no device holds now (superseded by rotate).
    const dev2 = path.join(tmp, `dev-2-${folders}.pem`);
    fs.copyFileSync(path.join(dir, 'devices/dev-2/gate.pem'), dev2);
    await ok('rotate', dir, '--device', 'dev-2');
    await refuses(dir, 1, /was already revoked/, 'rotate', dir, '--cert', dev2);
  });

  test('an encrypted site: revoke and rotate need the passphrase (the CRL is signed by the site CA); a wrong one changes nothing', async () => {
    const dir = await site('--passphrase-file', PASSPHRASE);
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1', '--passphrase-file', PASSPHRASE);
    await refuses(dir, 2, /encrypted: give --passphrase-file/, 'revoke', dir, '--device', 'dev-1');
    await refuses(dir, 1, /wrong passphrase: cannot decrypt ca\/ca\.key/, 'revoke', dir, '--device', 'dev-1', '--passphrase-file', WRONG_PASSPHRASE);
    await refuses(dir, 1, /wrong passphrase: cannot decrypt ca\/ca\.key/, 'rotate', dir, '--device', 'dev-1', '--passphrase-file', WRONG_PASSPHRASE);
    await ok('rotate', dir, '--device', 'dev-1', '--passphrase-file', PASSPHRASE);
    await ok('revoke', dir, '--device', 'dev-1', '--passphrase-file', PASSPHRASE);
    assert.equal((await crlSerials(dir)).length, 2);
  });
});

describe('rotate', () => {
  test('a new key and certificate with the same CN in the bundle, the old one on the CRL, the ACL unchanged', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    const bundle = path.join(dir, 'devices/dev-1');
    const oldCert = read(path.join(bundle, 'gate.pem'));
    const oldKey = read(path.join(bundle, 'gate.key'));
    const oldSerial = serialOf(path.join(bundle, 'gate.pem'));
    const agentYaml = read(path.join(bundle, 'agent.yaml'));
    const acl = read(path.join(dir, 'broker/acl'));
    const enrolledAt = siteRecord(dir).devices['dev-1'].enrolledAt;

    const result = await ok('rotate', dir, '--device', 'dev-1');
    assert.doesNotMatch(result.stdout + result.stderr, /PRIVATE KEY/);
    assert.match(result.stdout, new RegExp(`the old certificate \\(serial ${oldSerial}\\) is revoked in broker/ca\\.crl`));
    assert.match(result.stdout, /copy the bundle's gate\.pem and gate\.key to the gate/);
    const cert = new X509Certificate(read(path.join(bundle, 'gate.pem')));
    assert.notEqual(cert.toString(), oldCert);
    assert.notEqual(read(path.join(bundle, 'gate.key')), oldKey);
    assert.equal(cert.subject, 'CN=gate-mall-1-lane-1');
    assert.ok(cert.verify(new X509Certificate(read(path.join(dir, 'ca/ca.pem'))).publicKey));
    assert.ok(cert.checkPrivateKey(createPrivateKey(read(path.join(bundle, 'gate.key')))));
    assert.equal(mode(path.join(bundle, 'gate.key')), 0o600);
    assert.equal(read(path.join(bundle, 'agent.yaml')), agentYaml);
    assert.equal(read(path.join(dir, 'broker/acl')), acl);
    assert.deepEqual(await crlSerials(dir), [oldSerial]);
    const entry = siteRecord(dir).devices['dev-1'];
    assert.equal(entry.serial, cert.serialNumber.toLowerCase());
    assert.equal(entry.enrolledAt, enrolledAt);
    assert.equal(siteRecord(dir).revoked[0].reason, 'superseded');

    await ok('rotate', dir, '--cert', path.join(bundle, 'gate.pem'));
    assert.equal((await crlSerials(dir)).length, 2);
  });

  test('enroll --force revokes the certificate it replaces', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    const first = serialOf(path.join(dir, 'devices/dev-1/gate.pem'));
    const result = await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1', '--force');
    assert.match(result.stdout, new RegExp(`its previous certificate \\(serial ${first}\\) is revoked in broker/ca\\.crl`));
    assert.deepEqual(await crlSerials(dir), [first]);
    assert.match(read(path.join(dir, 'broker/mosquitto.conf')), /crlfile /);
  });

  test('a rename failing while rotating puts back the old key, certificate and broker files', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    const before = snapshot(dir);
    let renames = 0;
    const hook = (step: 'write' | 'rename', file: string): void => {
      // gate.pem aside and in, gate.key aside and in, acl aside: the 5th fails.
      if (step === 'rename' && ++renames === 5) throw Object.assign(new Error(`injected rename failure at ${file}`), { code: 'EIO' });
    };
    await assert.rejects(rotateDevice(openSite(dir), { device: 'dev-1' }, { hook }), /injected rename failure/);
    assert.deepEqual(snapshot(dir), before);
    await assert.rejects(revokeDevice(openSite(dir), { device: 'dev-1' }, { hook: (step) => { if (step === 'write') throw new Error('injected write failure'); } }), /injected write failure/);
    assert.deepEqual(snapshot(dir), before);
  });
});

describe('password gates', () => {
  test('enroll --auth password: a random password in a 0600 file, no client certificate, the password listener; broker/passwd in $7$ format', async () => {
    const dir = await site();
    await ok('enroll', dir, '--device', 'dev-1', '--lane', 'lane-1');
    assert.equal(fs.existsSync(path.join(dir, 'broker/passwd')), false);
    const result = await ok('enroll', dir, '--device', 'dev-2', '--lane', 'lane-2', '--auth', 'password', '--in-place');
    assert.match(result.stdout, /enrolled dev-2: lane lane-2, MQTT user gate-mall-1-lane-2 \(password login\)/);
    const bundle = path.join(dir, 'devices/dev-2');
    assert.deepEqual(fs.readdirSync(bundle).sort(), ['agent.yaml', 'ca.pem', 'centre.pem', 'id-hash.key', 'issuers', 'mqtt-password']);
    assert.equal(mode(path.join(bundle, 'id-hash.key')), 0o600);
    assert.equal(mode(path.join(bundle, 'mqtt-password')), 0o600);
    const password = read(path.join(bundle, 'mqtt-password')).trim();
    assert.match(password, /^[A-Za-z0-9_-]{43}$/);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(password));

    const config = loadConfig(path.join(bundle, 'agent.yaml'), {});
    assert.equal(config.mqtt.url, 'mqtts://broker.mall.test:8884');
    assert.equal(config.mqtt.username, 'gate-mall-1-lane-2');
    assert.equal(config.mqtt.passwordFile, path.join(bundle, 'mqtt-password'));
    assert.equal(config.privacy.idHashKey, path.join(bundle, 'id-hash.key'));
    assert.deepEqual(config.mqtt.tls, { ca: path.join(bundle, 'ca.pem') });
    const options = mqttClientOptions(config.mqtt, config);
    assert.equal(options.password, password);
    assert.equal(options.clientId, 'gate-mall-1-lane-2');

    const passwd = read(path.join(dir, 'broker/passwd'));
    assert.equal(mode(path.join(dir, 'broker/passwd')), 0o600);
    assert.match(passwd, /^gate-mall-1-lane-2:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==\n$/);
    assert.ok(checkMosquittoPassword(passwd, password));
    assert.ok(!checkMosquittoPassword(passwd, `${password}x`));
    const conf = read(path.join(dir, 'broker/mosquitto.conf'));
    assert.match(conf, /password_file \/etc\/mosquitto\/gates\/passwd\n/);
    assert.match(conf, /listener 8883\n[^]*require_certificate true\n[^]*listener 8884\ncafile [^\n]+\ncertfile [^\n]+\nkeyfile [^\n]+\nrequire_certificate false\nuse_username_as_clientid true\n/);
    assert.match(read(path.join(dir, 'broker/acl')), /# device dev-2 \(password login\)\nuser gate-mall-1-lane-2\n/);
    assert.equal(siteRecord(dir).devices['dev-2'].auth, 'password');
    assert.equal(siteRecord(dir).devices['dev-2'].serial, undefined);

    // Another password gate keeps the first one's hash; rotate refuses a password gate; revoke drops its line.
    await ok('enroll', dir, '--device', 'dev-3', '--lane', 'lane-3', '--auth', 'password');
    assert.ok(checkMosquittoPassword(read(path.join(dir, 'broker/passwd')).split('\n')[0]!, password));
    await refuses(dir, 1, /device dev-2 logs in with a password, not a certificate: enroll it again with --force --auth password/, 'rotate', dir, '--device', 'dev-2');
    const revoked = await ok('revoke', dir, '--device', 'dev-2');
    assert.match(revoked.stdout, /revoked dev-2: user gate-mall-1-lane-2 left the ACL and broker\/passwd/);
    assert.doesNotMatch(read(path.join(dir, 'broker/passwd')), /lane-2/);
    assert.equal(fs.existsSync(path.join(dir, 'broker/ca.crl')), false, 'nothing to put on a CRL');
    await ok('revoke', dir, '--device', 'dev-3');
    assert.equal(fs.existsSync(path.join(dir, 'broker/passwd')), false);
    assert.doesNotMatch(read(path.join(dir, 'broker/mosquitto.conf')), /password_file|listener 8884/);
  });

  test('the CSV auth column and --auth with --csv; a bad auth value names its line and changes nothing', async () => {
    const dir = await site();
    const csv = path.join(tmp, 'auth.csv');
    fs.writeFileSync(csv, 'device,lane,auth\ngate-01,east-1,certificate\ngate-02,east-2,password\ngate-03,east-3,\n');
    await ok('enroll', dir, '--csv', csv, '--auth', 'password');
    const devices = siteRecord(dir).devices;
    assert.deepEqual([devices['gate-01'].auth, devices['gate-02'].auth, devices['gate-03'].auth], ['certificate', 'password', 'password']);
    assert.equal(read(path.join(dir, 'broker/passwd')).trim().split('\n').length, 2);
    const bad = path.join(tmp, 'bad-auth.csv');
    fs.writeFileSync(bad, 'device,lane,auth\ngate-04,east-4,password\ngate-05,east-5,token\n');
    await refuses(dir, 1, /bad-auth\.csv line 3: auth "token": use certificate or password/, 'enroll', dir, '--csv', bad);
    await refuses(dir, 2, /--auth.*argument 'secret' is invalid.*certificate, password/, 'enroll', dir, '--device', 'd', '--lane', 'l', '--auth', 'secret');
    const twice = path.join(tmp, 'twice-auth.csv');
    fs.writeFileSync(twice, 'device,lane,auth,auth\ngate-04,east-4,password,password\n');
    await refuses(dir, 1, /the header names column "auth" twice/, 'enroll', dir, '--csv', twice);
  });

  test('mosquittoPasswordLine: PBKDF2-SHA512 with 101 iterations, base64 salt and hash', () => {
    const line = mosquittoPasswordLine('u', 'p', Buffer.alloc(12, 1));
    assert.equal(line.split('$')[3], Buffer.alloc(12, 1).toString('base64'));
    assert.ok(checkMosquittoPassword(line, 'p'));
    assert.throws(() => mosquittoPasswordLine('a:b', 'p'), /cannot hold/);
  });
});

describe('the command line', () => {
  test('--help on every command exits 0', async () => {
    for (const argv of [[], ['init'], ['issuer'], ['issuer', 'add'], ['issuer', 'remove'], ['issuer', 'list'], ['enroll'], ['rotate'], ['revoke'], ['export-trust']]) {
      const result = await run(...argv, '--help');
      assert.equal(result.code, 0, argv.join(' '));
      assert.match(result.stdout, /^Usage: gate-provision/);
    }
    assert.match((await run('export-trust', '--help')).stdout, /"typ":"trust-list"/);
    assert.match((await run('enroll', '--help')).stdout, /device,lane,auth/);
    assert.match((await run('revoke', '--help')).stdout, /not signed by this site's CA is refused/);
  });

  test('the executable: exit 0, 1 and 2, errors on stderr', () => {
    const exec = (...argv: string[]) => spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8' });
    assert.equal(exec('--help').status, 0);
    const refused = exec('enroll', path.join(tmp, 'no-such-site'), '--device', 'd', '--lane', 'l');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^gate-provision: .*no such site folder/);
    assert.equal(exec('init').status, 2);
    assert.equal(exec('frobnicate').status, 2);
  });

  test('ProvisionError codes are stable for callers', async () => {
    const dir = await site();
    await assert.rejects(enrollDevices(openSite(dir), [{ device: 'a', lane: 'l' }, { device: 'a', lane: 'm' }]), (error: unknown) => {
      assert.ok(error instanceof ProvisionError);
      assert.equal(error.code, 'duplicate-device');
      return true;
    });
  });
});
