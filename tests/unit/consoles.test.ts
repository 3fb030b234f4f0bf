/**
 * gate-provision console add|remove|list: the fleet console's MQTT login.
 * A client certificate from the site CA (CN console-<site>-<name>), its key
 * owner-only, a console.yaml the console's own schema takes once users are
 * added, an ACL block (read the site, write lane commands); a duplicate is
 * refused, --force revokes the old certificate, remove puts it on the CRL
 * and drops the block and the folder.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { checkConsoleConfig, loadConsoleConfig } from '../../protocol/config/console-config.js';
import { hashPassword } from '../../protocol/privacy/passwords.js';
import { main } from '../../provisioning/cli/gate-provision.js';
import { openSite } from '../../provisioning/site/site.js';

const SITE = 'mall';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'consoles-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function quietly(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (text) => (out += text), stderr: (text) => (err += text), stderrIsTty: false });
  return { code, out, err };
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

test('console add: certificate, key 0600, console.yaml, ACL block; duplicate refused; --force revokes; remove puts it on the CRL', async () => {
  const site = path.join(tmp, 'site');
  let run = await quietly('init', site, '--site', SITE, '--broker-url', 'mqtts://broker.mall.example:8883');
  assert.equal(run.code, 0, run.err);
  const base = `${openSite(site).record.baseTopic}/${SITE}`;

  run = await quietly('console', 'add', site, '--name', 'hq');
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /added console hq: MQTT user console-mall-hq/);
  const folder = path.join(site, 'consoles', 'hq');
  assert.deepEqual(fs.readdirSync(folder).sort(), ['ca.pem', 'console.key', 'console.pem', 'console.yaml']);
  assert.equal(mode(path.join(folder, 'console.key')), 0o600);
  assert.equal(mode(path.join(folder, 'console.pem')), 0o644);

  // The certificate: from the site CA, CN the MQTT username, its key the one beside it.
  const certificate = new X509Certificate(fs.readFileSync(path.join(folder, 'console.pem')));
  const ca = new X509Certificate(fs.readFileSync(path.join(site, 'ca', 'ca.pem')));
  assert.equal(certificate.verify(ca.publicKey), true);
  assert.match(certificate.subject, /CN=console-mall-hq/);
  assert.equal(certificate.checkPrivateKey((await import('node:crypto')).createPrivateKey(fs.readFileSync(path.join(folder, 'console.key')))), true);
  assert.deepEqual(fs.readFileSync(path.join(folder, 'ca.pem')), fs.readFileSync(path.join(site, 'ca', 'ca.pem')));

  // The record.
  const record = openSite(site).record.consoles?.['hq'];
  assert.equal(record?.commonName, 'console-mall-hq');
  assert.equal(record?.serial, certificate.serialNumber.toLowerCase());

  // The ACL block.
  const acl = fs.readFileSync(path.join(site, 'broker', 'acl'), 'utf8');
  assert.ok(acl.includes(`\n# console hq\nuser console-mall-hq\ntopic read ${base}/#\ntopic write ${base}/+/command\n`), acl);

  // console.yaml: broker url from the site, TLS paths into the folder; valid once users are added.
  const yamlText = fs.readFileSync(path.join(folder, 'console.yaml'), 'utf8');
  assert.match(yamlText, /^# .*users/m);
  assert.match(yamlText, /operatorKey/);
  const raw = parseYaml(yamlText) as Record<string, unknown>;
  raw['users'] = [{ name: 'alice', role: 'operator', passwordHash: await hashPassword('a long password 1') }];
  const withUsers = path.join(tmp, 'console.yaml');
  fs.writeFileSync(withUsers, stringify(raw));
  const config = loadConsoleConfig(withUsers);
  assert.equal(config.broker.url, 'mqtts://broker.mall.example:8883');
  assert.deepEqual(config.broker.tls, { ca: path.join(folder, 'ca.pem'), cert: path.join(folder, 'console.pem'), key: path.join(folder, 'console.key') });
  assert.equal(config.baseTopic, openSite(site).record.baseTopic);
  assert.equal(config.users.length, 1);
  checkConsoleConfig(parseYaml(yamlText));

  // Refusals change nothing.
  const before = fs.readFileSync(path.join(site, 'site.json'), 'utf8');
  run = await quietly('console', 'add', site, '--name', 'hq');
  assert.equal(run.code, 1);
  assert.match(run.err, /console hq exists/);
  run = await quietly('console', 'add', site, '--name', 'bad/name');
  assert.equal(run.code, 2);
  assert.equal(fs.readFileSync(path.join(site, 'site.json'), 'utf8'), before);
  assert.equal(new X509Certificate(fs.readFileSync(path.join(folder, 'console.pem'))).serialNumber, certificate.serialNumber);

  // list
  assert.equal((await quietly('console', 'add', site, '--name', 'night')).code, 0);
  run = await quietly('console', 'list', site);
  assert.match(run.out, /^site mall: 2 console\(s\)\nhq  console-mall-hq  \S+  serial [0-9a-f]+\nnight  console-mall-night  \S+  serial [0-9a-f]+\n$/);

  // --force: a new certificate, the old one on the CRL.
  run = await quietly('console', 'add', site, '--name', 'hq', '--force');
  assert.equal(run.code, 0, run.err);
  const renewed = new X509Certificate(fs.readFileSync(path.join(folder, 'console.pem')));
  assert.notEqual(renewed.serialNumber, certificate.serialNumber);
  let revoked = openSite(site).record.revoked ?? [];
  assert.deepEqual(revoked.map((entry) => [entry.serial, entry.commonName, entry.reason]), [[certificate.serialNumber.toLowerCase(), 'console-mall-hq', 'superseded']]);
  assert.ok(fs.existsSync(path.join(site, 'broker', 'ca.crl')));
  assert.match(fs.readFileSync(path.join(site, 'broker', 'mosquitto.conf'), 'utf8'), /^crlfile /m);

  // remove: on the CRL, the block and the folder gone, the other console kept.
  run = await quietly('console', 'remove', site, '--name', 'hq');
  assert.equal(run.code, 0, run.err);
  assert.equal(fs.existsSync(folder), false);
  const after = openSite(site).record;
  assert.deepEqual(Object.keys(after.consoles ?? {}), ['night']);
  revoked = after.revoked ?? [];
  assert.deepEqual(revoked.at(-1) && [revoked.at(-1)!.serial, revoked.at(-1)!.reason], [renewed.serialNumber.toLowerCase(), 'cessationOfOperation']);
  const aclAfter = fs.readFileSync(path.join(site, 'broker', 'acl'), 'utf8');
  assert.equal(aclAfter.includes('console-mall-hq'), false);
  assert.ok(aclAfter.includes('user console-mall-night'));
  const crl = fs.readFileSync(path.join(site, 'broker', 'ca.crl'), 'utf8');
  assert.match(crl, /BEGIN X509 CRL/);
  run = await quietly('console', 'remove', site, '--name', 'hq');
  assert.equal(run.code, 1);
  assert.match(run.err, /no console "hq" in site mall \(consoles: night\)/);
});

test('an encrypted site needs its passphrase to add and remove a console; the console key is not encrypted', async () => {
  const site = path.join(tmp, 'site-encrypted');
  const passphrase = path.join(tmp, 'passphrase');
  fs.writeFileSync(passphrase, 'correct horse battery\n');
  assert.equal((await quietly('init', site, '--site', SITE, '--passphrase-file', passphrase)).code, 0);
  assert.equal((await quietly('console', 'add', site, '--name', 'hq')).code, 2);
  const run = await quietly('console', 'add', site, '--name', 'hq', '--passphrase-file', passphrase);
  assert.equal(run.code, 0, run.err);
  assert.match(fs.readFileSync(path.join(site, 'consoles', 'hq', 'console.key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.equal((await quietly('console', 'remove', site, '--name', 'hq')).code, 2);
  assert.equal((await quietly('console', 'remove', site, '--name', 'hq', '--passphrase-file', passphrase)).code, 0);
});
