/**
 * `gate-provision init`: a new site folder with its site CA, the broker's
 * server certificate, the centre's signing key and MQTT client certificates,
 * the ID-card hash key, an empty issuer trust list and the site record,
 * written in one rename.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { generateIdHashKeyFile } from '../../protocol/privacy/id-hash.js';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../pki.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { aclText, CENTRE_DEPARTMENT_USER, CENTRE_RECORD_USER, CENTRE_USER, mosquittoConfText } from './broker.js';
import { ProvisionError, usage } from './errors.js';
import { FILE_MODE, KEY_MODE, writeFolderAtomically, type StepHook, type Tree } from './files.js';
import { absoluteDir, checkId, exportKey, LAYOUT, SITE_FORMAT, type SiteRecord } from './site.js';

export const DEFAULTS = {
  brokerUrl: 'mqtts://localhost:8883',
  brokerDir: '/etc/mosquitto/gates',
  installDir: '/etc/gate',
  baseTopic: 'hc/v1',
} as const;

/** The centre signs for this long; an expired centre certificate signs nothing at the gates. */
const CENTRE_SIGNING_DAYS = 825;
const MIN_PASSPHRASE_LENGTH = 8;

export interface InitOptions {
  site: string;
  brokerUrl?: string;
  /** DNS names and IP addresses for the broker certificate; default the URL's host. */
  brokerHosts?: string[];
  /** Mosquitto's listener port; default the URL's port. */
  brokerPort?: number;
  brokerDir?: string;
  installDir?: string;
  baseTopic?: string;
  passphrase?: string;
  force?: boolean;
  now?: Date;
  hook?: StepHook;
}

export interface InitResult {
  dir: string;
  record: SiteRecord;
  caFingerprint256: string;
  centreFingerprint256: string;
}

export async function initSite(dir: string, options: InitOptions): Promise<InitResult> {
  const site = checkId('--site', options.site);
  const broker = parseBrokerUrl(options.brokerUrl ?? DEFAULTS.brokerUrl);
  const hosts = options.brokerHosts?.length ? options.brokerHosts : [broker.host];
  for (const host of hosts) {
    if (!isIP(host) && !/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/.test(host)) {
      throw usage(`--broker-host: ${JSON.stringify(host)} is neither a DNS name nor an IP address`);
    }
  }
  const port = options.brokerPort ?? broker.port;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usage(`--broker-port: ${port} is not a TCP port`);
  const baseTopic = options.baseTopic ?? DEFAULTS.baseTopic;
  if (!/^[^#+]+$/.test(baseTopic) || baseTopic.startsWith('/') || baseTopic.endsWith('/')) {
    throw usage(`--base-topic ${JSON.stringify(baseTopic)}: no wildcards (# +) and no leading or trailing /`);
  }
  if (options.passphrase !== undefined && options.passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw usage(`the passphrase is too short: at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  const brokerDir = absoluteDir('--broker-dir', options.brokerDir ?? DEFAULTS.brokerDir);
  const installDir = absoluteDir('--install-dir', options.installDir ?? DEFAULTS.installDir);
  const target = resolve(dir);
  checkTarget(dir, target, options.force ?? false);

  const now = options.now ?? new Date();
  const passphrase = options.passphrase;
  const ca = await createCertificateAuthority({ subject: `CN=${site} gate site CA, O=health-code-gate` });
  const server = await issueServerCertificate(ca, {
    commonName: hosts[0]!,
    dnsNames: hosts.filter((host) => !isIP(host)),
    ipAddresses: hosts.filter((host) => isIP(host)),
  });
  const centre = await createSignerCertificate({ algorithm: 'ES256', subject: `CN=${site} centre signing key, O=health-code-gate`, days: CENTRE_SIGNING_DAYS });
  const centreClient = await issueClientCertificate(ca, { commonName: CENTRE_USER });
  const centreDepartment = await issueClientCertificate(ca, { commonName: CENTRE_DEPARTMENT_USER });
  const centreRecord = await issueClientCertificate(ca, { commonName: CENTRE_RECORD_USER });

  const record: SiteRecord = {
    format: SITE_FORMAT,
    site,
    createdAt: now.toISOString(),
    baseTopic,
    broker: { url: broker.url, hosts, port, dir: brokerDir },
    installDir,
    keysEncrypted: passphrase !== undefined,
    trustList: { version: 1, changedAt: now.toISOString(), issuers: [] },
    devices: {},
  };
  const file = (data: string) => ({ data, mode: FILE_MODE });
  const key = (data: string) => ({ data, mode: KEY_MODE });
  const tree: Tree = {
    [LAYOUT.record]: file(`${JSON.stringify(record, null, 2)}\n`),
    [LAYOUT.caCert]: file(ca.certificatePem),
    [LAYOUT.caKey]: key(exportKey(ca.privateKey, passphrase)),
    [LAYOUT.centreCert]: file(centre.certificatePem),
    [LAYOUT.centreKey]: key(exportKey(centre.privateKey, passphrase)),
    [LAYOUT.centreClientCert]: file(centreClient.certificatePem),
    [LAYOUT.centreClientKey]: key(exportKey(centreClient.privateKey, passphrase)),
    [LAYOUT.centreDepartmentCert]: file(centreDepartment.certificatePem),
    [LAYOUT.centreDepartmentKey]: key(exportKey(centreDepartment.privateKey, passphrase)),
    [LAYOUT.centreRecordCert]: file(centreRecord.certificatePem),
    [LAYOUT.centreRecordKey]: key(exportKey(centreRecord.privateKey, passphrase)),
    // Not encrypted with the passphrase: every gate reads its copy unattended, as it does gate.key.
    [LAYOUT.idHashKey]: key(generateIdHashKeyFile()),
    [LAYOUT.brokerCa]: file(ca.certificatePem),
    [LAYOUT.brokerCert]: file(server.certificatePem),
    // Mosquitto reads its key unattended at start: it cannot take a passphrase.
    [LAYOUT.brokerKey]: key(server.privateKeyPem),
    [LAYOUT.brokerConf]: file(mosquittoConfText(record)),
    [LAYOUT.brokerAcl]: file(aclText(record)),
    [LAYOUT.issuers]: 'dir',
    [LAYOUT.devices]: 'dir',
  };
  writeFolderAtomically(target, tree, { ...(options.hook ? { hook: options.hook } : {}) });
  return { dir: target, record, caFingerprint256: ca.certificate.fingerprint256, centreFingerprint256: centre.certificate.fingerprint256 };
}

/** Nothing is replaced without --force, and --force replaces only a site folder, never some other folder. */
function checkTarget(dir: string, target: string, force: boolean): void {
  if (!existsSync(target)) return;
  if (!statSync(target).isDirectory()) throw new ProvisionError('exists', `${dir} exists and is not a folder`);
  if (readdirSync(target).length === 0) return;
  if (!existsSync(join(target, LAYOUT.record))) {
    throw new ProvisionError('exists', `${dir} exists, is not empty and is not a site folder: refusing to write there`);
  }
  if (!force) {
    throw new ProvisionError('exists', `${dir} is already a site folder; --force replaces it with a new CA and keys (every gate must then be enrolled again)`);
  }
}

function parseBrokerUrl(text: string): { url: string; host: string; port: number } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usage(`--broker-url: ${JSON.stringify(text)} is not a URL`);
  }
  // The listener gate-provision makes is MQTT over TLS with client certificates.
  if (url.protocol !== 'mqtts:') throw usage(`--broker-url: ${text}: use mqtts:// (the site broker is TLS with client certificates)`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw usage(`--broker-url: ${text} names no host`);
  if (url.pathname !== '' && url.pathname !== '/') throw usage(`--broker-url: ${text}: no path after the host`);
  const port = url.port === '' ? 8883 : Number(url.port);
  return { url: `mqtts://${url.hostname}:${port}`, host, port };
}
