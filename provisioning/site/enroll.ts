/**
 * `gate-provision enroll`: for each device a key pair made here, a client
 * certificate from the site CA whose CN is its MQTT username, and a bundle
 * folder the agent loads as it is; then the broker's ACL and listener are
 * made again from the whole site. All of a batch is checked first and
 * committed together: a bad row or a failed write changes nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../protocol/config/gate-config.js';
import { configSchema } from '../../protocol/config/gate-schema.js';
import { parseIdHashKey } from '../../protocol/privacy/id-hash.js';
import { issueClientCertificate } from '../pki.js';
import { gateCommonName, passwordPort } from './broker.js';
import type { DeviceRequest } from './devices-csv.js';
import { mosquittoPasswordLine, newGatePassword, retire, siteCa, stageBroker } from './devices.js';
import { ProvisionError } from './errors.js';
import { FILE_MODE, KEY_MODE, Transaction, type StepHook, type Tree } from './files.js';
import { putRecord } from './issuers.js';
import { absoluteDir, isActive, LAYOUT, sitePath, type DeviceEntry, type RevocationEntry, type Site, type SiteRecord } from './site.js';

/** The files of a bundle, relative to its folder; agent.yaml's paths point at them under the install folder. */
export const BUNDLE = {
  config: 'agent.yaml',
  ca: 'ca.pem',
  cert: 'gate.pem',
  key: 'gate.key',
  /** Password gates: the password's file, owner-only, instead of gate.pem and gate.key. */
  password: 'mqtt-password',
  centre: 'centre.pem',
  issuers: 'issuers',
  /** The site's ID-card hash key, owner-only (privacy.idHashKey). */
  idHashKey: 'id-hash.key',
} as const;

export interface EnrollOptions {
  passphrase?: string;
  force?: boolean;
  /** Where bundles are installed on the gates; "{device}" is replaced by the device id. Default the site's. */
  installDir?: string;
  now?: Date;
  hook?: StepHook;
  /** Called as each device's certificate is made. */
  progress?: (done: number, total: number, device: string) => void;
}

export interface EnrolledDevice {
  device: string;
  lane: string;
  commonName: string;
  /** The bundle folder in the site folder. */
  bundle: string;
  /** Absent for a password gate. */
  serial?: string;
  installDir: string;
  auth: 'certificate' | 'password';
  /** The serial of the certificate this enrolment revoked (enroll --force). */
  revokedSerial?: string;
}

export async function enrollDevices(site: Site, requests: DeviceRequest[], options: EnrollOptions = {}): Promise<EnrolledDevice[]> {
  const record = site.record;
  if (options.installDir !== undefined) absoluteDir('--install-dir', options.installDir);
  checkRequests(site, requests, options.force ?? false);
  if (record.trustList.issuers.length === 0) {
    throw new ProvisionError('no-issuers', `site ${record.site} trusts no code issuer yet: a gate could not start. Add one first: gate-provision issuer add ${site.dir} <cert.pem>`);
  }
  const caPem = siteCa(site, options.passphrase);
  const shared = sharedBundleFiles(site);
  const now = options.now ?? new Date();
  const devices: Record<string, DeviceEntry> = { ...record.devices };
  const enrolled: EnrolledDevice[] = [];
  const revoked: RevocationEntry[] = [...(record.revoked ?? [])];
  const passwords = new Map<string, string>();

  const transaction = new Transaction(site.dir, options.hook);
  try {
    for (const [index, request] of requests.entries()) {
      const commonName = gateCommonName(record.site, request.lane);
      const auth = request.auth ?? 'certificate';
      const installDir = absoluteDir('--install-dir', (options.installDir ?? record.installDir).replaceAll('{device}', request.device));
      const withIdHashKey = BUNDLE.idHashKey in shared;
      const tree: Tree = { ...shared, [BUNDLE.config]: { data: agentYaml(record, request, installDir, now, { idHashKey: withIdHashKey }), mode: FILE_MODE } };
      let entry: DeviceEntry = { lane: request.lane, commonName, enrolledAt: now.toISOString(), installDir, auth };
      if (auth === 'certificate') {
        const certified = await issueClientCertificate(caPem, { commonName });
        tree[BUNDLE.cert] = { data: certified.certificatePem, mode: FILE_MODE };
        // Not encrypted: the agent starts unattended, and a passphrase would sit in agent.yaml beside it.
        tree[BUNDLE.key] = { data: certified.privateKeyPem, mode: KEY_MODE };
        entry = { ...entry, serial: certified.certificate.serialNumber.toLowerCase(), notAfter: new Date(certified.certificate.validTo).toISOString() };
      } else {
        const password = newGatePassword();
        tree[BUNDLE.password] = { data: `${password}\n`, mode: KEY_MODE };
        passwords.set(commonName, mosquittoPasswordLine(commonName, password));
      }
      const bundle = sitePath(site, posix.join(LAYOUT.devices, request.device));
      transaction.putTree(bundle, tree);
      // enroll --force: the certificate it held is revoked, so the gate's old key stops working.
      const previous = record.devices[request.device];
      const retired = previous ? retire(request.device, previous, 'superseded', now) : [];
      revoked.push(...retired);
      devices[request.device] = entry;
      enrolled.push({
        device: request.device,
        lane: request.lane,
        commonName,
        bundle,
        ...(entry.serial ? { serial: entry.serial } : {}),
        installDir,
        auth,
        ...(retired[0] ? { revokedSerial: retired[0].serial } : {}),
      });
      options.progress?.(index + 1, requests.length, request.device);
    }
    const next: SiteRecord = { ...record, devices, ...(revoked.length > 0 ? { revoked } : {}) };
    await stageBroker(transaction, site, next, caPem, passwords, now);
    putRecord(transaction, site, next);
  } catch (error) {
    transaction.abort();
    throw error;
  }
  transaction.commit();
  return enrolled;
}

/** Refuses duplicates in the batch, devices already enrolled (without --force) and lanes another device holds. */
function checkRequests(site: Site, requests: DeviceRequest[], force: boolean): void {
  const at = (request: DeviceRequest): string => (request.at === undefined ? '' : `${request.at}: `);
  const byDevice = new Map<string, DeviceRequest>();
  const byLane = new Map<string, DeviceRequest>();
  for (const request of requests) {
    const sameDevice = byDevice.get(request.device);
    if (sameDevice) {
      throw new ProvisionError('duplicate-device', `${at(request)}device ${request.device} is listed twice (also at ${sameDevice.at})`);
    }
    const sameLane = byLane.get(request.lane);
    if (sameLane) {
      throw new ProvisionError('duplicate-lane', `${at(request)}lane ${request.lane} is given to ${sameLane.device} and ${request.device}: one gate per lane (the lane names its MQTT identity)`);
    }
    byDevice.set(request.device, request);
    byLane.set(request.lane, request);
  }
  const devices = site.record.devices;
  for (const request of requests) {
    if (request.auth === 'password' && passwordPort(site.record.broker.port) > 65535) {
      throw new ProvisionError('wrong-auth', `${at(request)}the password listener would be port ${passwordPort(site.record.broker.port)}: the site's broker port ${site.record.broker.port} leaves no port above it`);
    }
    const known = devices[request.device];
    if (known && !force) {
      throw new ProvisionError(
        'duplicate-device',
        isActive(known)
          ? `${at(request)}device ${request.device} is already enrolled (lane ${known.lane}); --force makes it a new key and certificate and revokes the old one`
          : `${at(request)}device ${request.device} was revoked on ${known.revokedAt}; --force enrolls it again`,
      );
    }
    if (!devices[request.device] && existsSync(sitePath(site, posix.join(LAYOUT.devices, request.device))) && !force) {
      throw new ProvisionError('exists', `${at(request)}${LAYOUT.devices}/${request.device} exists though the site has no such device; --force replaces it`);
    }
    // A revoked device frees its lane; one in this batch may be moving away from it.
    const holder = Object.entries(devices).find(([device, entry]) => isActive(entry) && entry.lane === request.lane && device !== request.device && !byDevice.has(device));
    if (holder) {
      throw new ProvisionError('duplicate-lane', `${at(request)}lane ${request.lane} of site ${site.record.site} is already enrolled as device ${holder[0]}`);
    }
  }
}

/**
 * What every bundle of the site holds alike: the site CA, the centre's
 * certificate, the issuers and the ID-card hash key (sites made before it
 * have none: their gates refuse ID cards).
 */
function sharedBundleFiles(site: Site): Tree {
  const tree: Tree = {
    [BUNDLE.ca]: { data: readFileSync(sitePath(site, LAYOUT.caCert)), mode: FILE_MODE },
    [BUNDLE.centre]: { data: readFileSync(sitePath(site, LAYOUT.centreCert)), mode: FILE_MODE },
  };
  const idHashKey = sitePath(site, LAYOUT.idHashKey);
  if (existsSync(idHashKey)) {
    const data = readFileSync(idHashKey);
    try {
      parseIdHashKey(data.toString('utf8'));
    } catch (error) {
      throw new ProvisionError('damaged', `${LAYOUT.idHashKey}: ${(error as Error).message}`);
    }
    tree[BUNDLE.idHashKey] = { data, mode: KEY_MODE };
  }
  for (const issuer of site.record.trustList.issuers) {
    tree[posix.join(BUNDLE.issuers, posix.basename(issuer.file))] = { data: readFileSync(sitePath(site, issuer.file)), mode: FILE_MODE };
  }
  return tree;
}

const props = configSchema.properties;

/** The agent's config, paths absolute under the install folder; checked by the agent's own schema before it is written. */
export function agentYaml(record: SiteRecord, request: DeviceRequest, installDir: string, now: Date, options: { idHashKey?: boolean } = {}): string {
  const at = (file: string): string => posix.join(installDir, file);
  const config = {
    site: record.site,
    lane: request.lane,
    policy: { feverThresholdC: props.policy.properties.feverThresholdC.default },
    credentials: {
      trust: at(BUNDLE.issuers),
      clockSkewSeconds: props.credentials.properties.clockSkewSeconds.default,
      maxDynamicLifetimeSeconds: props.credentials.properties.maxDynamicLifetimeSeconds.default,
    },
    mqtt:
      request.auth === 'password'
        ? {
            // The password listener: one above the certificate listener (broker.ts).
            url: passwordUrl(record.broker.url),
            baseTopic: record.baseTopic,
            username: gateCommonName(record.site, request.lane),
            passwordFile: at(BUNDLE.password),
            tls: { ca: at(BUNDLE.ca) },
            centreKeys: at(BUNDLE.centre),
          }
        : {
            url: record.broker.url,
            baseTopic: record.baseTopic,
            tls: { ca: at(BUNDLE.ca), cert: at(BUNDLE.cert), key: at(BUNDLE.key) },
            centreKeys: at(BUNDLE.centre),
          },
    colour: {
      maxSyncAgeSeconds: props.colour.properties.maxSyncAgeSeconds.default,
      whenDegraded: props.colour.properties.whenDegraded.default,
    },
    ...(options.idHashKey ? { privacy: { idHashKey: at(BUNDLE.idHashKey) } } : {}),
  };
  const text = [
    `# Agent config of gate device ${request.device} (site ${record.site}, lane ${request.lane}), made by gate-provision on ${now.toISOString()}.`,
    `# Its paths are absolute under ${installDir}: install this folder there as it is (docs/provisioning.md).`,
    '# On the gate, add the lane\'s "hardware" section (docs/wiring.md); every other key is in docs/gate-config.example.yaml.',
    stringify(config),
  ].join('\n');
  try {
    parseConfig(text); // read as the gate reads it: an alias stringify wrote for a repeated object would be refused there
  } catch (error) {
    throw new ProvisionError('damaged', `the agent would refuse the config made for ${request.device}: ${(error as Error).message}`);
  }
  return text;
}

/** The broker URL of password gates: the same host, the port one above. */
export function passwordUrl(url: string): string {
  const parsed = new URL(url);
  const port = passwordPort(Number(parsed.port || 8883));
  return `mqtts://${parsed.hostname}:${port}`;
}
