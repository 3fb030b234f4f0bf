/**
 * gate-provision's issuer list: kids printed in standard base64 and taken
 * in any of base64, base64url or hex, a kid starting with "-" given safely;
 * and `issuer add` refusing what is no code signer's certificate (a gate's
 * TLS certificate, a CA), naming why, while a real signer goes in.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { kidOf } from '../../protocol/trust/trust-store.js';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../../provisioning/pki.js';
import { ProvisionError } from '../../provisioning/site/errors.js';
import { removeIssuer } from '../../provisioning/site/issuers.js';
import { openSite } from '../../provisioning/site/site.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { ok, refuses, run } from '../support/provision-cli.js';

const DCC_VACCINATION_USAGE = '1.3.6.1.4.1.1847.2021.1.2';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-provision-issuers-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let folders = 0;

async function site(): Promise<string> {
  const dir = path.join(tmp, `site-${++folders}`);
  await ok('init', dir, '--site', 'mall-1', '--broker-url', 'mqtts://broker.mall.test:8883');
  return dir;
}

function pemFile(name: string, pem: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, pem);
  return file;
}

/**
 * A signer certificate whose kid has the property asked for. Kids are hashes,
 * so a test that needs one starting with "+" (base64url "-") makes signers
 * until one has it: each does with odds 1 in 64, so the bound is never met.
 */
async function signerWhoseKid(want: (base64: string) => boolean, subject: string): Promise<SignerKeyPair> {
  for (let tries = 0; tries < 5000; tries++) {
    const signer = await createSignerCertificate({ subject });
    if (want(kidOf(signer.certificate.raw).toString('base64'))) return signer;
  }
  throw new Error(`no signer with the kid wanted after 5000 tries (${subject})`);
}

const issuers = (dir: string): string[] => openSite(dir).record.trustList.issuers.map((entry) => entry.kid);

describe('issuer kids', () => {
  test('a kid whose base64url starts with "-": removed by --kid, --kid= and after --; bare, a usage error that says so and changes nothing', async () => {
    const signer = await signerWhoseKid((kid) => kid.startsWith('+'), 'CN=Dash Issuer, O=Test, C=CN');
    const kid = kidOf(signer.certificate.raw);
    const dashed = kid.toString('base64url');
    assert.match(dashed, /^-/);
    const file = pemFile('dash.pem', signer.certificatePem);
    const dir = await site();

    const added = await ok('issuer', 'add', dir, file);
    assert.ok(added.stdout.includes(`added issuer kid ${kid.toString('base64')}: CN=Dash Issuer`), added.stdout);
    assert.ok((await ok('issuer', 'list', dir)).stdout.includes(`\n${kid.toString('base64')}  `), 'list prints the kid in standard base64');
    assert.deepEqual(issuers(dir), [kid.toString('base64')]);

    const bare = await refuses(dir, 2, /unknown option/, 'issuer', 'remove', dir, dashed);
    assert.match(bare.stderr, /a kid that starts with "-" reads as an option: give it as --kid <kid>, or after --/);

    await ok('issuer', 'remove', dir, '--kid', dashed);
    assert.deepEqual(issuers(dir), []);
    await ok('issuer', 'add', dir, file);
    await ok('issuer', 'remove', dir, `--kid=${dashed}`);
    assert.deepEqual(issuers(dir), []);
    await ok('issuer', 'add', dir, file);
    const removed = await ok('issuer', 'remove', dir, '--', dashed);
    assert.ok(removed.stdout.includes(`removed issuer kid ${kid.toString('base64')}: CN=Dash Issuer`), removed.stdout);
    assert.deepEqual(issuers(dir), []);
    // The base64 form of the same kid starts with "+": no option, taken as it is.
    await ok('issuer', 'add', dir, file);
    await ok('issuer', 'remove', dir, kid.toString('base64'));
    assert.deepEqual(issuers(dir), []);
  });

  test('"+" and "/" (base64) or "-" and "_" (base64url), padded or not, hex: the same kid; one starting with "/" is no file path', async () => {
    const signer = await signerWhoseKid((kid) => kid.startsWith('/'), 'CN=Slash Issuer, O=Test, C=CN');
    const kid = kidOf(signer.certificate.raw);
    const file = pemFile('slash.pem', signer.certificatePem);
    const dir = await site();
    const forms = [
      kid.toString('base64'),
      kid.toString('base64').replace(/=$/, ''),
      kid.toString('base64url'),
      `${kid.toString('base64url')}=`,
      kid.toString('hex').toUpperCase(),
    ];
    assert.match(forms[0]!, /^\/.{10}=$/);
    assert.match(forms[2]!, /^_/);
    for (const form of forms) {
      await ok('issuer', 'add', dir, file);
      const removed = await ok('issuer', 'remove', dir, form);
      assert.ok(removed.stdout.includes(`removed issuer kid ${kid.toString('base64')}:`), `${form}: ${removed.stdout}`);
      await ok('issuer', 'add', dir, file);
      await ok('issuer', 'remove', dir, '--kid', form);
      assert.deepEqual(issuers(dir), [], form);
    }
    // --kid reads a kid even where a file of that name is; a bare argument is the file.
    await ok('issuer', 'add', dir, file);
    await refuses(dir, 1, /"\S+slash\.pem" is not a kid \(base64 or base64url of 8 bytes, or 16 hex digits\)/, 'issuer', 'remove', dir, '--kid', file);
    await refuses(dir, 2, /give the issuer as <kid\|file> or --kid <kid> \(one of them\)/, 'issuer', 'remove', dir);
    await refuses(dir, 2, /one of them/, 'issuer', 'remove', dir, file, '--kid', kid.toString('base64'));
    await ok('issuer', 'remove', dir, file);
    assert.throws(
      () => removeIssuer(openSite(dir), { kid: '-'.repeat(11) }),
      (error: unknown) => error instanceof ProvisionError && error.code === 'unknown-issuer' && /no issuer \+\+\+\+\+\+\+\+\+\+8= in the trust list/.test(error.message),
    );
  });
});

describe('issuer add takes code signers only', () => {
  test("a gate's MQTT client certificate from enroll is refused, naming its TLS-only usage and the site CA", async () => {
    const dir = await site();
    const signer = pemFile('signer-for-enroll.pem', (await createSignerCertificate({ subject: 'CN=Issuer, O=Test, C=CN' })).certificatePem);
    await ok('issuer', 'add', dir, signer);
    await ok('enroll', dir, '--device', 'gate-01', '--lane', 'east-1');
    const gate = path.join(dir, 'devices/gate-01/gate.pem');
    await refuses(
      dir,
      1,
      /gate\.pem: the certificate of CN=gate-mall-1-east-1 is not a code signer: its extended key usage is TLS client authentication only; it was issued by the site's CA \(which issues TLS certificates only\) to device gate-01 as its MQTT client certificate; a code signer needs digitalSignature key usage, is no CA, and has no TLS-only extended key usage$/m,
      'issuer', 'add', dir, gate,
    );
    await refuses(dir, 1, /CN=gate-mall-1-east-1 is not a code signer/, 'issuer', 'add', dir, gate, '--force');
    await refuses(dir, 1, /TLS server authentication only; it was issued by the site's CA \(which issues TLS certificates only\) to the broker/, 'issuer', 'add', dir, path.join(dir, 'broker/broker.pem'));
    await refuses(dir, 1, /to the centre as its MQTT client certificate/, 'issuer', 'add', dir, path.join(dir, 'centre/mqtt-client.pem'));
    assert.equal(openSite(dir).record.trustList.issuers.length, 1);
  });

  test('a CA certificate is refused, the site\'s own and a foreign one; so are TLS-only certificates of a foreign CA and a key without digitalSignature', async () => {
    const dir = await site();
    await refuses(
      dir,
      1,
      /is not a code signer: it is a CA certificate \(basicConstraints cA=true\); its key usage \(keyCertSign, cRLSign\) lacks digitalSignature; it is the site's own CA certificate;/,
      'issuer', 'add', dir, path.join(dir, 'ca/ca.pem'),
    );
    const foreignCa = await createCertificateAuthority({ subject: 'CN=Some Platform CA, O=Test, C=CN' });
    await refuses(dir, 1, /CN=Some Platform CA, O=Test, C=CN is not a code signer: it is a CA certificate \(basicConstraints cA=true\); its key usage/, 'issuer', 'add', dir, pemFile('foreign-ca.pem', foreignCa.certificatePem));
    const client = await issueClientCertificate(foreignCa, { commonName: 'someone' });
    const refused = await refuses(dir, 1, /CN=someone is not a code signer: its extended key usage is TLS client authentication only; a code signer needs/, 'issuer', 'add', dir, pemFile('foreign-client.pem', client.certificatePem));
    assert.doesNotMatch(refused.stderr, /site's CA/, 'a foreign CA is not the site CA');
    const server = await issueServerCertificate(foreignCa, { commonName: 'platform.test' });
    await refuses(dir, 1, /extended key usage is TLS server authentication only/, 'issuer', 'add', dir, pemFile('foreign-server.pem', server.certificatePem));
    const both = await createSignerCertificate({ subject: 'CN=TLS both, O=Test, C=CN', extendedKeyUsage: [CLIENT_AUTH, '1.3.6.1.5.5.7.3.1'] });
    await refuses(dir, 1, /TLS client authentication and TLS server authentication only/, 'issuer', 'add', dir, pemFile('tls-both.pem', both.certificatePem));
    await refuses(dir, 1, /its key usage \(keyEncipherment, keyAgreement\) lacks digitalSignature/, 'issuer', 'add', dir, pemFile('no-signing.pem', await keyWithoutDigitalSignature()));
    assert.deepEqual(issuers(dir), []);
  });

  test('a signer with a DCC usage, with a DCC usage beside TLS, or with no extended key usage is added', async () => {
    const dir = await site();
    for (const [name, extendedKeyUsage] of [
      ['dcc', [DCC_VACCINATION_USAGE]],
      ['dcc-and-tls', [CLIENT_AUTH, DCC_VACCINATION_USAGE]],
      ['none', []],
    ] as const) {
      const signer = await createSignerCertificate({ subject: `CN=Signer ${name}, O=Test, C=CN`, extendedKeyUsage: [...extendedKeyUsage] });
      const result = await run('issuer', 'add', dir, pemFile(`signer-${name}.pem`, signer.certificatePem));
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      assert.ok(issuers(dir).includes(kidOf(signer.certificate.raw).toString('base64')), name);
    }
  });
});

/** Self-signed, end entity, key usage keyEncipherment and keyAgreement: a key that may not sign. */
async function keyWithoutDigitalSignature(): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Encryption only, O=Test, C=CN',
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyAgreement, true),
    ],
  });
  return certificate.toString('pem');
}
