/**
 * A site folder made by `gate-provision init`: its layout, its record
 * (site.json: ids, broker, issuer list, enrolled devices), the lock that
 * keeps two runs from changing it at once, and its private keys, encrypted
 * with the operator's passphrase when one was given.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { ProvisionError, usage } from './errors.js';

export const SITE_FORMAT = 'gate-provision-site/1';

/** Where each piece lives in a site folder, relative to it. */
export const LAYOUT = {
  record: 'site.json',
  caCert: 'ca/ca.pem',
  caKey: 'ca/ca.key',
  centreCert: 'centre/centre.pem',
  centreKey: 'centre/centre.key',
  centreClientCert: 'centre/mqtt-client.pem',
  centreClientKey: 'centre/mqtt-client.key',
  /**
   * The MQTT logins of the centre's other connections: the broker names each
   * client by its certificate (use_username_as_clientid), so each of the
   * centre's sessions needs a certificate of its own.
   */
  centreDepartmentCert: 'centre/mqtt-department.pem',
  centreDepartmentKey: 'centre/mqtt-department.key',
  centreRecordCert: 'centre/mqtt-record.pem',
  centreRecordKey: 'centre/mqtt-record.key',
  /** The site's ID-card hash key (base64 of 32 random bytes): shared by the centre and every gate, never sent. */
  idHashKey: 'centre/id-hash.key',
  broker: 'broker',
  brokerCa: 'broker/ca.pem',
  brokerCert: 'broker/broker.pem',
  brokerKey: 'broker/broker.key',
  brokerConf: 'broker/mosquitto.conf',
  brokerAcl: 'broker/acl',
  brokerCrl: 'broker/ca.crl',
  brokerPasswd: 'broker/passwd',
  issuers: 'issuers',
  devices: 'devices',
  /** operators/<name>/operator.key and operator.pem: keys the trust list delegates commands to. */
  operators: 'operators',
  /** consoles/<name>/console.key, console.pem, ca.pem, console.yaml: fleet console MQTT logins. */
  consoles: 'consoles',
} as const;

/** Site, lane and device ids: as the agent's config schema allows them in topics. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export interface IssuerEntry {
  /** base64 of the first 8 bytes of SHA-256 over the DER, as `gate-agent verify` prints it. */
  kid: string;
  /** Relative to the site folder. */
  file: string;
  subject: string;
  fingerprint256: string;
  notAfter: string;
  addedAt: string;
}

export interface DeviceEntry {
  lane: string;
  /** The certificate's CN: the MQTT username under use_identity_as_username. */
  commonName: string;
  /** Hex; random, as pki.ts makes them (kept here for revocation). Absent for a password gate. */
  serial?: string;
  notAfter?: string;
  enrolledAt: string;
  /** Where the bundle lives on the gate: the folder its agent.yaml paths point into. */
  installDir: string;
  /** How it logs in to the broker; absent: certificate (sites made before password mode). */
  auth?: DeviceAuth;
  /** Set by revoke: its certificate is on the CRL, its ACL block gone, its lane free; the entry stays. */
  revokedAt?: string;
}

export type DeviceAuth = 'certificate' | 'password';

/** A certificate on the site's CRL (broker/ca.crl). */
export interface RevocationEntry {
  /** Hex, lower case. */
  serial: string;
  device: string;
  commonName: string;
  revokedAt: string;
  /** revoke: cessationOfOperation; rotate and enroll --force: superseded. */
  reason: 'superseded' | 'cessationOfOperation';
}

export interface SiteRecord {
  format: typeof SITE_FORMAT;
  site: string;
  createdAt: string;
  baseTopic: string;
  broker: {
    url: string;
    /** DNS names and IP addresses in the broker certificate. */
    hosts: string[];
    /** Mosquitto's listener port (the URL's unless a port forward changes it). */
    port: number;
    /** Where the broker/ folder is installed on the broker machine: mosquitto.conf's paths point there. */
    dir: string;
  };
  /** Default install folder of a gate's bundle. */
  installDir: string;
  /** True: ca.key, centre.key and the centre's mqtt-*.key are encrypted with the site passphrase. */
  keysEncrypted: boolean;
  trustList: { version: number; changedAt: string; issuers: IssuerEntry[] };
  devices: Record<string, DeviceEntry>;
  /** Every certificate revoked so far, on broker/ca.crl; absent until the first revocation. */
  revoked?: RevocationEntry[];
  /** Operator keys the signed trust list delegates commands to, by name; absent until the first operator add. */
  operators?: Record<string, OperatorRecord>;
  /** Fleet console MQTT logins (console add), by name; absent until the first console add. */
  consoles?: Record<string, ConsoleRecord>;
}

/** A fleet console's MQTT login (console add): a client certificate from the site CA. */
export interface ConsoleRecord {
  /** The certificate's CN, console-<site>-<name>: the MQTT username under use_identity_as_username. */
  commonName: string;
  /** Hex, lower case: for the CRL when it is removed or replaced. */
  serial: string;
  notAfter: string;
  /** Relative to the site folder. */
  certFile: string;
  keyFile: string;
  configFile: string;
  addedAt: string;
}

/** An operator key (operator add): its files, what it may do and until when. */
export interface OperatorRecord {
  /** Relative to the site folder. */
  certFile: string;
  keyFile: string;
  /** base64 of the first 8 bytes of SHA-256 over the certificate's DER: the JWS kid (base64url) the console signs with. */
  kid: string;
  fingerprint256: string;
  actions: string[];
  /** The delegation's validity: its certificate's. */
  notBefore: string;
  notAfter: string;
  addedAt: string;
}

/** A device the broker still lets in: enrolled and not revoked. */
export function isActive(entry: DeviceEntry): boolean {
  return entry.revokedAt === undefined;
}

const ISO = { type: 'string', minLength: 20 } as const;
const STRING = { type: 'string', minLength: 1 } as const;
const recordSchema = {
  type: 'object',
  required: ['format', 'site', 'createdAt', 'baseTopic', 'broker', 'installDir', 'keysEncrypted', 'trustList', 'devices'],
  properties: {
    format: { const: SITE_FORMAT },
    site: { type: 'string', pattern: ID_PATTERN.source },
    createdAt: ISO,
    baseTopic: STRING,
    broker: {
      type: 'object',
      required: ['url', 'hosts', 'port', 'dir'],
      properties: {
        url: STRING,
        hosts: { type: 'array', minItems: 1, items: STRING },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        dir: STRING,
      },
    },
    installDir: STRING,
    keysEncrypted: { type: 'boolean' },
    trustList: {
      type: 'object',
      required: ['version', 'changedAt', 'issuers'],
      properties: {
        version: { type: 'integer', minimum: 1 },
        changedAt: ISO,
        issuers: {
          type: 'array',
          items: {
            type: 'object',
            required: ['kid', 'file', 'subject', 'fingerprint256', 'notAfter', 'addedAt'],
            properties: { kid: STRING, file: STRING, subject: { type: 'string' }, fingerprint256: STRING, notAfter: STRING, addedAt: ISO },
          },
        },
      },
    },
    devices: {
      type: 'object',
      propertyNames: { pattern: ID_PATTERN.source },
      additionalProperties: {
        type: 'object',
        required: ['lane', 'commonName', 'enrolledAt', 'installDir'],
        properties: {
          lane: STRING,
          commonName: STRING,
          serial: STRING,
          notAfter: STRING,
          enrolledAt: ISO,
          installDir: STRING,
          auth: { enum: ['certificate', 'password'] },
          revokedAt: ISO,
        },
      },
    },
    operators: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['certFile', 'keyFile', 'kid', 'fingerprint256', 'actions', 'notBefore', 'notAfter', 'addedAt'],
        properties: {
          certFile: STRING,
          keyFile: STRING,
          kid: STRING,
          fingerprint256: STRING,
          actions: { type: 'array', minItems: 1, items: STRING },
          notBefore: ISO,
          notAfter: ISO,
          addedAt: ISO,
        },
      },
    },
    consoles: {
      type: 'object',
      propertyNames: { pattern: ID_PATTERN.source },
      additionalProperties: {
        type: 'object',
        required: ['commonName', 'serial', 'notAfter', 'certFile', 'keyFile', 'configFile', 'addedAt'],
        properties: {
          commonName: STRING,
          serial: { type: 'string', pattern: '^[0-9a-f]+$' },
          notAfter: STRING,
          certFile: STRING,
          keyFile: STRING,
          configFile: STRING,
          addedAt: ISO,
        },
      },
    },
    revoked: {
      type: 'array',
      items: {
        type: 'object',
        required: ['serial', 'device', 'commonName', 'revokedAt', 'reason'],
        properties: {
          serial: { type: 'string', pattern: '^[0-9a-f]+$' },
          device: STRING,
          commonName: STRING,
          revokedAt: ISO,
          reason: { enum: ['superseded', 'cessationOfOperation'] },
        },
      },
    },
  },
} as const;

const validateRecord = new Ajv({ allErrors: false, strict: false }).compile(recordSchema);

export interface Site {
  /** Absolute. */
  dir: string;
  record: SiteRecord;
}

export function sitePath(site: Site, relativePath: string): string {
  return join(site.dir, relativePath);
}

/** The site in a folder, checked: refuses a folder init did not make, or one missing its keys. */
export function openSite(dir: string): Site {
  const absolute = resolve(dir);
  if (!existsSync(absolute) || !statSync(absolute).isDirectory()) {
    throw new ProvisionError('not-a-site', `${dir}: no such site folder (make one with gate-provision init)`);
  }
  const recordFile = join(absolute, LAYOUT.record);
  if (!existsSync(recordFile)) {
    throw new ProvisionError('not-a-site', `${dir} is not a gate-provision site folder (no ${LAYOUT.record}; make one with gate-provision init)`);
  }
  let record: unknown;
  try {
    record = JSON.parse(readFileSync(recordFile, 'utf8'));
  } catch (error) {
    throw new ProvisionError('damaged', `${recordFile} is not valid JSON: ${(error as Error).message}`);
  }
  if (!validateRecord(record)) {
    const first = validateRecord.errors?.[0];
    throw new ProvisionError('damaged', `${recordFile} is not a site record: ${first?.instancePath || '(top level)'} ${first?.message ?? ''}`.trim());
  }
  for (const file of [LAYOUT.caCert, LAYOUT.caKey, LAYOUT.centreCert, LAYOUT.centreKey]) {
    if (!existsSync(join(absolute, file))) throw new ProvisionError('damaged', `${dir}: ${file} is missing`);
  }
  return { dir: absolute, record: record as SiteRecord };
}

/**
 * Run fn holding the site's lock file, so two runs cannot interleave their
 * changes. A lock left by a process that is gone is taken over.
 */
export async function withSiteLock<T>(site: Site, fn: () => Promise<T>): Promise<T> {
  const lock = join(site.dir, '.lock');
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const pid = Number.parseInt(readFileSync(lock, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && isRunning(pid)) {
        throw new ProvisionError('locked', `${site.dir} is being changed by another gate-provision (pid ${pid}); if none runs, remove ${lock}`);
      }
      unlinkSync(lock);
    }
  }
  try {
    // Read again under the lock: another run may have changed the site since it was opened.
    site.record = openSite(site.dir).record;
    return await fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // already gone
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The first line of a passphrase file. */
export function readPassphrase(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw usage(`--passphrase-file: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const passphrase = text.split(/\r?\n/, 1)[0] ?? '';
  if (passphrase === '') throw usage(`--passphrase-file: the first line of ${file} is empty`);
  return passphrase;
}

/** The passphrase a command needs for this site's keys: given exactly when the keys are encrypted. */
export function sitePassphrase(site: Site, passphraseFile: string | undefined): string | undefined {
  if (site.record.keysEncrypted && passphraseFile === undefined) {
    throw usage(`the keys of site ${site.record.site} are encrypted: give --passphrase-file`);
  }
  if (!site.record.keysEncrypted && passphraseFile !== undefined) {
    throw usage(`the keys of site ${site.record.site} are not encrypted: drop --passphrase-file`);
  }
  return passphraseFile === undefined ? undefined : readPassphrase(passphraseFile);
}

/** PKCS#8 PEM, encrypted (PBES2, AES-256-CBC) when a passphrase is given. */
export function exportKey(key: KeyObject, passphrase?: string): string {
  return (
    passphrase === undefined
      ? key.export({ type: 'pkcs8', format: 'pem' })
      : key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
  ) as string;
}

/** A site key, decrypted, checked against its certificate. */
export function loadSiteKey(site: Site, keyFile: string, certificateFile: string, passphrase?: string): { key: KeyObject; certificate: X509Certificate } {
  const certificate = new X509Certificate(readFileSync(sitePath(site, certificateFile)));
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: readFileSync(sitePath(site, keyFile)), ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (error) {
    if (passphrase !== undefined) throw new ProvisionError('passphrase', `wrong passphrase: cannot decrypt ${keyFile} of site ${site.record.site}`);
    throw new ProvisionError('damaged', `${keyFile} of site ${site.record.site} cannot be read (${(error as Error).message})`);
  }
  if (!certificate.checkPrivateKey(key)) throw new ProvisionError('damaged', `${keyFile} is not the key of ${certificateFile}`);
  return { key, certificate };
}

export function checkId(what: string, value: string): string {
  if (!ID_PATTERN.test(value)) throw usage(`${what} ${JSON.stringify(value)}: use 1 to 64 letters, digits, - or _`);
  return value;
}

/** A folder on another machine: relative to this one's working folder it would mean nothing there. */
export function absoluteDir(option: string, dir: string): string {
  if (!isAbsolute(dir)) throw usage(`${option} ${JSON.stringify(dir)}: give an absolute path (a folder on the broker or the gate)`);
  return normalize(dir);
}
