/**
 * What happens to an enrolled gate after enrolment: `rotate` (a new key and
 * certificate, the old one revoked) and `revoke` (its certificate on the
 * site's CRL, its ACL block gone, its entry kept and marked). And what every
 * device change stages for the broker: ACL, listener, CRL and password file,
 * all made again from the site record.
 */
import { X509Certificate, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { createCrl, issueClientCertificate, type CertificateAuthorityPem } from '../pki.js';
import { aclText, hasPasswordGates, hasRevocations, mosquittoConfText } from './broker.js';
import { ProvisionError } from './errors.js';
import { FILE_MODE, inTransaction, KEY_MODE, type StepHook, type Transaction } from './files.js';
import { putRecord, readCertificates } from './issuers.js';
import { exportKey, isActive, LAYOUT, loadSiteKey, sitePath, type DeviceEntry, type RevocationEntry, type Site, type SiteRecord } from './site.js';

/** The bundle's certificate and key files, as enroll writes them (enroll.ts BUNDLE). */
const BUNDLE_CERT = 'gate.pem';
const BUNDLE_KEY = 'gate.key';

export interface DeviceChangeOptions {
  passphrase?: string;
  now?: Date;
  hook?: StepHook;
}

/** The site CA as pki.ts signs with it, decrypted. */
export function siteCa(site: Site, passphrase?: string): CertificateAuthorityPem & { certificate: X509Certificate } {
  const ca = loadSiteKey(site, LAYOUT.caKey, LAYOUT.caCert, passphrase);
  return { certificatePem: ca.certificate.toString(), privateKeyPem: exportKey(ca.key), certificate: ca.certificate };
}

/** The revocation of a device's current certificate, if it has one. */
export function retire(device: string, entry: DeviceEntry, reason: RevocationEntry['reason'], now: Date): RevocationEntry[] {
  if (entry.serial === undefined || !isActive(entry) || entry.auth === 'password') return [];
  return [{ serial: entry.serial, device, commonName: entry.commonName, revokedAt: now.toISOString(), reason }];
}

/**
 * Stage broker/acl, broker/mosquitto.conf, broker/ca.crl (once anything is
 * revoked) and broker/passwd (while a password gate is active), all from the
 * next record; newPasswords holds the hash lines of password gates made in
 * this change, the others are kept from the current passwd file.
 */
export async function stageBroker(
  transaction: Transaction,
  site: Site,
  next: SiteRecord,
  ca: CertificateAuthorityPem,
  newPasswords: Map<string, string> = new Map(),
  now = new Date(),
): Promise<void> {
  transaction.putFile(sitePath(site, LAYOUT.brokerAcl), { data: aclText(next), mode: FILE_MODE });
  transaction.putFile(sitePath(site, LAYOUT.brokerConf), { data: mosquittoConfText(next), mode: FILE_MODE });
  if (hasRevocations(next)) {
    const revoked = next.revoked!.map((entry) => ({ serial: entry.serial, revokedAt: new Date(entry.revokedAt), reason: entry.reason }));
    // Backdated like the certificates, so a broker whose clock is a little behind does not find it "not yet valid".
    const crl = await createCrl(ca, revoked, { thisUpdate: new Date(now.getTime() - 3_600_000) });
    transaction.putFile(sitePath(site, LAYOUT.brokerCrl), { data: crl, mode: FILE_MODE });
  }
  const passwdFile = sitePath(site, LAYOUT.brokerPasswd);
  if (hasPasswordGates(next)) {
    const kept = existsSync(passwdFile) ? parsePasswordFile(readFileSync(passwdFile, 'utf8')) : new Map<string, string>();
    const lines: string[] = [];
    for (const entry of Object.values(next.devices).sort((a, b) => a.commonName.localeCompare(b.commonName))) {
      if (!isActive(entry) || entry.auth !== 'password') continue;
      const line = newPasswords.get(entry.commonName) ?? kept.get(entry.commonName);
      if (line === undefined) {
        throw new ProvisionError('damaged', `${LAYOUT.brokerPasswd} has no password for ${entry.commonName}; enroll it again with --force --auth password`);
      }
      lines.push(line);
    }
    // Hashes only, but a hash can be attacked offline: owner-only, like a key.
    transaction.putFile(passwdFile, { data: `${lines.join('\n')}\n`, mode: KEY_MODE });
  } else if (existsSync(passwdFile)) {
    transaction.remove(passwdFile);
  }
}

/** Mosquitto 2's password hash ($7$: PBKDF2-SHA512, 101 iterations, 12-byte salt, 64-byte hash), as mosquitto_passwd writes it. */
export const PBKDF2_ITERATIONS = 101;

export function mosquittoPasswordLine(username: string, password: string, salt: Buffer = randomBytes(12)): string {
  if (/[:\n\r]/.test(username)) throw new Error(`a Mosquitto username cannot hold ":" or a line break: ${JSON.stringify(username)}`);
  const hash = pbkdf2Sync(password, salt, PBKDF2_ITERATIONS, 64, 'sha512');
  return `${username}:$7$${PBKDF2_ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** True when password matches a $7$ line (for tests and for checking a file mosquitto_passwd wrote). */
export function checkMosquittoPassword(line: string, password: string): boolean {
  const match = /^[^:]+:\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(line.trim());
  if (!match) return false;
  const expected = Buffer.from(match[3]!, 'base64');
  const actual = pbkdf2Sync(password, Buffer.from(match[2]!, 'base64'), Number(match[1]), expected.length, 'sha512');
  return timingSafeEqual(actual, expected);
}

function parsePasswordFile(text: string): Map<string, string> {
  const lines = new Map<string, string>();
  for (const line of text.split('\n')) {
    const user = line.split(':', 1)[0];
    if (user && line.includes(':')) lines.set(user, line);
  }
  return lines;
}

/** A random password for a gate: 32 bytes, base64url (no ':' or line break to upset a password file). */
export function newGatePassword(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Which device a command means: --device, or --cert, a certificate file that
 * must come from this site's CA and be a device's current certificate.
 */
export function findDevice(site: Site, reference: { device?: string; cert?: string }): [string, DeviceEntry] {
  const { devices } = site.record;
  if (reference.device !== undefined) {
    const entry = devices[reference.device];
    if (!entry) throw new ProvisionError('unknown-device', `site ${site.record.site} has no device ${reference.device}`);
    return [reference.device, entry];
  }
  const file = reference.cert!;
  if (existsSync(file) && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(readFileSync(file, 'latin1'))) {
    throw new ProvisionError('not-a-certificate', `${file} holds a private key: give the gate's certificate (gate.pem), not its key`);
  }
  const [certificate] = readCertificates(file);
  const ca = new X509Certificate(readFileSync(sitePath(site, LAYOUT.caCert)));
  if (!certificate!.checkIssued(ca) || !certificate!.verify(ca.publicKey)) {
    throw new ProvisionError(
      'foreign-certificate',
      `${file}: the certificate of ${certificate!.subject.replaceAll('\n', ', ')} is not from site ${site.record.site} (not signed by its CA ${ca.subject.replaceAll('\n', ', ')})`,
    );
  }
  const serial = certificate!.serialNumber.toLowerCase();
  const found = Object.entries(devices).find(([, entry]) => entry.serial === serial);
  if (!found) {
    const old = site.record.revoked?.find((entry) => entry.serial === serial);
    throw new ProvisionError(
      'unknown-device',
      old
        ? `${file}: serial ${serial} of device ${old.device} was already revoked on ${old.revokedAt}`
        : `${file}: serial ${serial} is no device's certificate in site ${site.record.site}`,
    );
  }
  return found;
}

export interface RevokeResult {
  device: string;
  entry: DeviceEntry;
  serial?: string;
}

export async function revokeDevice(site: Site, reference: { device?: string; cert?: string }, options: DeviceChangeOptions = {}): Promise<RevokeResult> {
  const [device, entry] = findDevice(site, reference);
  if (!isActive(entry)) throw new ProvisionError('revoked', `device ${device} was already revoked on ${entry.revokedAt}`);
  const ca = siteCa(site, options.passphrase);
  const now = options.now ?? new Date();
  const record = site.record;
  const revokedEntry: DeviceEntry = { ...entry, revokedAt: now.toISOString() };
  const next: SiteRecord = {
    ...record,
    devices: { ...record.devices, [device]: revokedEntry },
    revoked: [...(record.revoked ?? []), ...retire(device, entry, 'cessationOfOperation', now)],
  };
  await inTransaction(site.dir, options.hook, async (transaction) => {
    await stageBroker(transaction, site, next, ca, new Map(), now);
    putRecord(transaction, site, next);
  });
  return { device, entry: revokedEntry, ...(entry.serial && entry.auth !== 'password' ? { serial: entry.serial } : {}) };
}

export interface RotateResult {
  device: string;
  commonName: string;
  oldSerial: string;
  serial: string;
  bundle: string;
}

export async function rotateDevice(site: Site, reference: { device?: string; cert?: string }, options: DeviceChangeOptions = {}): Promise<RotateResult> {
  const [device, entry] = findDevice(site, reference);
  if (!isActive(entry)) throw new ProvisionError('revoked', `device ${device} was revoked on ${entry.revokedAt}: enroll it again with --force`);
  if (entry.auth === 'password' || entry.serial === undefined) {
    throw new ProvisionError('wrong-auth', `device ${device} logs in with a password, not a certificate: enroll it again with --force --auth password for a new one`);
  }
  const bundle = sitePath(site, posix.join(LAYOUT.devices, device));
  if (!existsSync(sitePath(site, posix.join(LAYOUT.devices, device, BUNDLE_CERT)))) {
    throw new ProvisionError('damaged', `${LAYOUT.devices}/${device}/${BUNDLE_CERT} is missing: enroll the device again with --force`);
  }
  const ca = siteCa(site, options.passphrase);
  const now = options.now ?? new Date();
  const certified = await issueClientCertificate(ca, { commonName: entry.commonName });
  const record = site.record;
  const serial = certified.certificate.serialNumber.toLowerCase();
  const next: SiteRecord = {
    ...record,
    devices: { ...record.devices, [device]: { ...entry, serial, notAfter: new Date(certified.certificate.validTo).toISOString() } },
    revoked: [...(record.revoked ?? []), ...retire(device, entry, 'superseded', now)],
  };
  await inTransaction(site.dir, options.hook, async (transaction) => {
    transaction.putFile(sitePath(site, posix.join(LAYOUT.devices, device, BUNDLE_CERT)), { data: certified.certificatePem, mode: FILE_MODE });
    transaction.putFile(sitePath(site, posix.join(LAYOUT.devices, device, BUNDLE_KEY)), { data: certified.privateKeyPem, mode: KEY_MODE });
    await stageBroker(transaction, site, next, ca, new Map(), now);
    putRecord(transaction, site, next);
  });
  return { device, commonName: entry.commonName, oldSerial: entry.serial, serial, bundle };
}
