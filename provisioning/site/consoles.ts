/**
 * `gate-provision console add|remove|list`: the fleet console's own MQTT
 * login. Each console has a key pair made here and a client certificate from
 * the site CA whose CN, console-<site>-<name>, is its MQTT username under
 * use_identity_as_username; its folder consoles/<name>/ holds the key
 * (owner-only), the certificate, the site CA and a console.yaml whose broker
 * section points at them. The ACL gives it one block: it reads the whole
 * site and writes only lane commands. Removing one (or replacing it with
 * --force) puts its certificate on the site's CRL, as revoke does a gate's.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { stringify } from 'yaml';
import { parseConsoleConfig } from '../../protocol/config/console-config.js';
import { issueClientCertificate } from '../pki.js';
import { consoleCommonName } from './broker.js';
import { siteCa, stageBroker } from './devices.js';
import { ProvisionError, usage } from './errors.js';
import { FILE_MODE, inTransaction, KEY_MODE, PRIVATE_DIR_MODE, type StepHook } from './files.js';
import { putRecord } from './issuers.js';
import { ID_PATTERN, LAYOUT, sitePath, type ConsoleRecord, type RevocationEntry, type Site, type SiteRecord } from './site.js';

/** The files of a console's folder, consoles/<name>/. */
export const CONSOLE_FILES = {
  config: 'console.yaml',
  ca: 'ca.pem',
  cert: 'console.pem',
  key: 'console.key',
} as const;

export interface ConsoleAddOptions {
  name: string;
  passphrase?: string;
  force?: boolean;
  now?: Date;
  hook?: StepHook;
}

export interface AddedConsole {
  name: string;
  record: ConsoleRecord;
  /** Absolute path of its folder in the site folder. */
  folder: string;
  /** The serial of the certificate --force replaced (now on the CRL). */
  revokedSerial?: string;
}

export function checkConsoleName(name: string): string {
  if (!ID_PATTERN.test(name)) throw usage(`--name ${JSON.stringify(name)}: use 1 to 64 letters, digits, - or _`);
  return name;
}

/** How a console's certificate is named on the CRL (RevocationEntry.device). */
function crlName(name: string): string {
  return `console:${name}`;
}

function retireConsole(name: string, record: ConsoleRecord, reason: RevocationEntry['reason'], now: Date): RevocationEntry {
  return { serial: record.serial, device: crlName(name), commonName: record.commonName, revokedAt: now.toISOString(), reason };
}

export async function addConsole(site: Site, options: ConsoleAddOptions): Promise<AddedConsole> {
  const name = checkConsoleName(options.name);
  const record = site.record;
  const existing = record.consoles?.[name];
  const folderRel = posix.join(LAYOUT.consoles, name);
  if (existing && !options.force) {
    throw new ProvisionError('exists', `console ${name} exists (${existing.commonName}, until ${existing.notAfter}); --force gives it a new key and certificate and revokes the old one`);
  }
  if (!existing && existsSync(sitePath(site, folderRel)) && !options.force) {
    throw new ProvisionError('exists', `${folderRel} exists though the site has no such console; --force replaces it`);
  }
  const commonName = consoleCommonName(record.site, name);
  const ca = siteCa(site, options.passphrase);
  const now = options.now ?? new Date();
  const certified = await issueClientCertificate(ca, { commonName });
  const folder = sitePath(site, folderRel);
  const entry: ConsoleRecord = {
    commonName,
    serial: certified.certificate.serialNumber.toLowerCase(),
    notAfter: new Date(certified.certificate.validTo).toISOString(),
    certFile: posix.join(folderRel, CONSOLE_FILES.cert),
    keyFile: posix.join(folderRel, CONSOLE_FILES.key),
    configFile: posix.join(folderRel, CONSOLE_FILES.config),
    addedAt: now.toISOString(),
  };
  const revoked = [...(record.revoked ?? []), ...(existing ? [retireConsole(name, existing, 'superseded', now)] : [])];
  const next: SiteRecord = { ...record, consoles: { ...record.consoles, [name]: entry }, ...(revoked.length > 0 ? { revoked } : {}) };
  mkdirSync(sitePath(site, LAYOUT.consoles), { recursive: true, mode: PRIVATE_DIR_MODE });
  await inTransaction(site.dir, options.hook, async (transaction) => {
    transaction.putTree(folder, {
      [CONSOLE_FILES.ca]: { data: readFileSync(sitePath(site, LAYOUT.caCert)), mode: FILE_MODE },
      [CONSOLE_FILES.cert]: { data: certified.certificatePem, mode: FILE_MODE },
      // Not encrypted: the console starts unattended (console.yaml has no passphrase for its MQTT key).
      [CONSOLE_FILES.key]: { data: certified.privateKeyPem, mode: KEY_MODE },
      [CONSOLE_FILES.config]: { data: consoleYaml(record, name, folder, now), mode: FILE_MODE },
    });
    await stageBroker(transaction, site, next, ca, new Map(), now);
    putRecord(transaction, site, next);
  });
  return { name, record: entry, folder, ...(existing ? { revokedSerial: existing.serial } : {}) };
}

export interface RemovedConsole {
  name: string;
  record: ConsoleRecord;
  /** Its certificate's serial, now on broker/ca.crl. */
  serial: string;
}

/** Its certificate on the CRL, its ACL block and its folder gone, its entry dropped from the record. */
export async function removeConsole(site: Site, name: string, options: { passphrase?: string; now?: Date; hook?: StepHook } = {}): Promise<RemovedConsole> {
  const record = site.record;
  const entry = record.consoles?.[name];
  if (!entry) {
    const known = Object.keys(record.consoles ?? {});
    throw new ProvisionError('unknown-console', `no console ${JSON.stringify(name)} in site ${record.site}${known.length ? ` (consoles: ${known.join(', ')})` : ' (it has none)'}`);
  }
  const ca = siteCa(site, options.passphrase);
  const now = options.now ?? new Date();
  const consoles = { ...record.consoles };
  delete consoles[name];
  const next: SiteRecord = { ...record, consoles, revoked: [...(record.revoked ?? []), retireConsole(name, entry, 'cessationOfOperation', now)] };
  await inTransaction(site.dir, options.hook, async (transaction) => {
    transaction.remove(sitePath(site, posix.join(LAYOUT.consoles, name)));
    await stageBroker(transaction, site, next, ca, new Map(), now);
    putRecord(transaction, site, next);
  });
  return { name, record: entry, serial: entry.serial };
}

/**
 * The console's config: its broker section (url, TLS paths into the folder
 * where it is written) and base topic; checked by the console's own schema
 * before it is written. The operator adds users and operatorKey.
 */
export function consoleYaml(record: SiteRecord, name: string, folder: string, now: Date): string {
  const at = (file: string): string => posix.join(folder, file);
  const config = {
    broker: {
      url: record.broker.url,
      tls: { ca: at(CONSOLE_FILES.ca), cert: at(CONSOLE_FILES.cert), key: at(CONSOLE_FILES.key) },
    },
    baseTopic: record.baseTopic,
  };
  const text = [
    `# Fleet console config of console ${name} (site ${record.site}), made by gate-provision on ${now.toISOString()}.`,
    `# Its MQTT login is the client certificate ${consoleCommonName(record.site, name)}: it reads ${record.baseTopic}/${record.site}/# and writes only lane commands.`,
    `# The TLS paths point into ${folder}: if you move this folder, change them.`,
    '# Add a "users" list (names, roles, password hashes from `node dist/console/main.js hash-password`) before starting it,',
    '# and "operatorKey" (gate-provision operator add) so that it can send commands; README "Fleet console".',
    stringify(config),
  ].join('\n');
  try {
    parseConsoleConfig(text); // read as the console reads it: an alias stringify wrote would be refused there
  } catch (error) {
    throw new ProvisionError('damaged', `the console would refuse the config made for ${name}: ${(error as Error).message}`);
  }
  return text;
}
