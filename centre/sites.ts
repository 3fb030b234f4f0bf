/**
 * The sites the centre serves and the keys each is signed with: read from a
 * site folder `gate-provision init` made (site.json names the site;
 * centre/centre.key, centre/centre.pem and centre/id-hash.key are the
 * centre's), or from key files the config names. With no site configured
 * the centre serves one local site whose keys it makes on first start under
 * dataDir, so that `npm run centre` runs with nothing else; its gates pin
 * the certificate it prints.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { CentreConfig, CentreSiteConfig } from '../protocol/config/centre-config.js';
import { ConfigError } from '../protocol/config/errors.js';
import { loadOperatorKey } from '../protocol/operator-command.js';
import { generateIdHashKeyFile, parseIdHashKey } from '../protocol/privacy/id-hash.js';
import { createSignerCertificate, type SignerKeyPair } from '../protocol/trust/signer-certificate.js';

export interface CentreSite {
  id: string;
  /** The key the site's messages are signed with now, and its certificate (the gates pin it). */
  key: SignerKeyPair;
  keyFile: string;
  certificateFile: string;
  /** The ID-card hash key shared with the site's gates; null: the site's gates ask by ID card never (none made). */
  idHashKey: Buffer | null;
  /** The site folder, when the site came from one. */
  folder: string | null;
  /** The passphrase its keys are encrypted with, when they are. */
  passphrase: string | undefined;
}

/** The id the centre's own local site takes when the config lists none. */
export const LOCAL_SITE = 'local';

/** Where a site folder keeps the centre's files (provisioning/site/site.ts LAYOUT). */
const FOLDER = { record: 'site.json', key: 'centre/centre.key', certificate: 'centre/centre.pem', idHashKey: 'centre/id-hash.key' } as const;

function invalid(at: string, message: string): ConfigError {
  return new ConfigError('invalid', `centre config: ${at}: ${message}`);
}

function readText(path: string, at: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw invalid(at, `${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function siteIdOfFolder(folder: string, at: string): string {
  let record: { site?: unknown };
  try {
    record = JSON.parse(readText(join(folder, FOLDER.record), at)) as { site?: unknown };
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw invalid(at, `${join(folder, FOLDER.record)} is not JSON: is ${folder} a site folder gate-provision init made?`);
  }
  if (typeof record.site !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(record.site)) throw invalid(at, `${join(folder, FOLDER.record)} names no site id`);
  return record.site;
}

function loadKey(keyFile: string, certificateFile: string, passphrase: string | undefined, at: string): SignerKeyPair {
  try {
    const loaded = loadOperatorKey({ keyFile, certFile: certificateFile }, passphrase);
    return { ...loaded, certificatePem: loaded.certificate.toString() };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A wrong or missing passphrase reads as a decoding failure: say what to check, never the key.
    const why = code === 'ERR_OSSL_BAD_DECRYPT' || code === 'ERR_MISSING_PASSPHRASE' ? 'the key is encrypted and the passphrase is missing or wrong (passphraseFile)' : (code ?? (error as Error).message);
    throw invalid(at, `${keyFile}, ${certificateFile}: ${why}`);
  }
}

function loadConfiguredSite(site: CentreSiteConfig, index: number): CentreSite {
  const at = `sites.${index}`;
  const folder = site.folder === undefined ? null : resolve(site.folder);
  const id = site.id ?? siteIdOfFolder(folder!, at);
  if (folder !== null && site.id !== undefined && existsSync(join(folder, FOLDER.record)) && siteIdOfFolder(folder, at) !== site.id) {
    throw invalid(at, `id ${site.id} is not the id of the site folder ${folder}`);
  }
  const passphrase = site.passphraseFile === undefined ? undefined : readText(site.passphraseFile, `${at}.passphraseFile`).replace(/[\r\n]+$/, '');
  const keyFile = site.signingKey ?? join(folder!, FOLDER.key);
  const certificateFile = site.certificate ?? join(folder!, FOLDER.certificate);
  const idHashFile = site.idHashKey ?? (folder === null ? undefined : join(folder, FOLDER.idHashKey));
  let idHashKey: Buffer | null = null;
  if (idHashFile !== undefined && (site.idHashKey !== undefined || existsSync(idHashFile))) {
    try {
      idHashKey = parseIdHashKey(readText(idHashFile, `${at}.idHashKey`));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw invalid(`${at}.idHashKey`, `${idHashFile}: ${(error as Error).message}`);
    }
  }
  return { id, key: loadKey(keyFile, certificateFile, passphrase, at), keyFile, certificateFile, idHashKey, folder, passphrase };
}

/** The centre's own site, its keys made under dataDir/local the first time. */
async function localSite(dataDir: string, logger: Logger): Promise<CentreSite> {
  const dir = resolve(dataDir, LOCAL_SITE);
  const keyFile = join(dir, 'centre.key');
  const certificateFile = join(dir, 'centre.pem');
  const idHashFile = join(dir, 'id-hash.key');
  if (!existsSync(keyFile) || !existsSync(certificateFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const made = await createSignerCertificate({ subject: 'CN=Health-code centre (local site), O=Health-code gate, C=CN', days: 825 });
    writeFileSync(keyFile, made.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    chmodSync(keyFile, 0o600);
    writeFileSync(certificateFile, made.certificatePem);
    logger.info({ site: LOCAL_SITE, certificate: certificateFile }, 'made the local site key: gates of this site pin this certificate (mqtt.centreKeys)');
  }
  if (!existsSync(idHashFile)) writeFileSync(idHashFile, generateIdHashKeyFile(), { mode: 0o600 });
  return {
    id: LOCAL_SITE,
    key: loadKey(keyFile, certificateFile, undefined, `${dataDir}/${LOCAL_SITE}`),
    keyFile,
    certificateFile,
    idHashKey: parseIdHashKey(readFileSync(idHashFile, 'utf8')),
    folder: null,
    passphrase: undefined,
  };
}

/** Every site of the config with its keys, or the local site; a key that cannot be read is a ConfigError naming the file. */
export async function loadSites(config: Pick<CentreConfig, 'sites' | 'dataDir'>, logger: Logger): Promise<CentreSite[]> {
  if (config.sites.length === 0) return [await localSite(config.dataDir, logger)];
  const sites = config.sites.map(loadConfiguredSite);
  const seen = new Set<string>();
  for (const site of sites) {
    if (seen.has(site.id)) throw new ConfigError('schema', `centre config: sites: site ${site.id} is listed twice`);
    seen.add(site.id);
  }
  return sites;
}
