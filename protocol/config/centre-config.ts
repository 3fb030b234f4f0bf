/**
 * The centre's settings (centre.yaml or JSON), checked against their schema
 * (centre-schema.ts) at start with defaults filled, as the console's are
 * (console-config.ts). An error names the key and what was wrong, never a
 * secret of the file.
 */
import { centreConfigSchema, type CentreConfig } from './centre-schema.js';
import { ConfigError } from './errors.js';
import { hostOf, isLoopbackHost, serviceConfigFile, withoutUserInfo } from './service-config.js';

export * from './centre-schema.js';

const SECRET = /^\/(broker\/password|store\/postgres\/url|record\/postgres\/url)$/;
/** Room for the 10,000 clients and sites the schema allows, and their comments. */
export const MAX_CENTRE_CONFIG_BYTES = 4 * 1024 * 1024;
const file = serviceConfigFile<CentreConfig>('centre config', centreConfigSchema, MAX_CENTRE_CONFIG_BYTES, (path) => SECRET.test(path));

function refuse(message: string): never {
  throw new ConfigError('schema', `centre config: ${message}`);
}

/** Checks a parsed config, fills defaults (in place) and returns it typed. */
export function checkCentreConfig(raw: unknown): CentreConfig {
  const checked = file.checkSchema(raw);

  const clientIds = new Set<string>();
  const cns = new Set<string>();
  for (const [i, client] of checked.clients.entries()) {
    if (clientIds.has(client.id)) refuse(`clients: "${client.id}" appears twice`);
    clientIds.add(client.id);
    if (client.tokenSha256 === undefined && client.certificateCn === undefined) refuse(`clients.${i} (${client.id}): give tokenSha256 or certificateCn, or it can never sign in`);
    if (client.certificateCn !== undefined) {
      if (!checked.http.tls?.clientCa) refuse(`clients.${i} (${client.id}): certificateCn needs http.tls.clientCa`);
      if (cns.has(client.certificateCn)) refuse(`clients: certificate CN "${client.certificateCn}" names two clients`);
      cns.add(client.certificateCn);
    }
  }

  const siteIds = new Set<string>();
  for (const [i, site] of checked.sites.entries()) {
    if (site.folder === undefined && (site.signingKey === undefined || site.certificate === undefined)) {
      refuse(`sites.${i}: give folder (a gate-provision site folder), or signingKey and certificate`);
    }
    if (site.folder === undefined && site.id === undefined) refuse(`sites.${i}: give id (only a site folder names its own)`);
    if (site.id !== undefined) {
      if (siteIds.has(site.id)) refuse(`sites: "${site.id}" appears twice`);
      siteIds.add(site.id);
    }
  }

  const { broker, http, department } = checked;
  if (broker.url !== undefined && broker.password !== undefined && !/^(mqtts|wss):\/\//.test(broker.url) && !isLoopbackHost(hostOf(broker.url))) {
    refuse(`broker.url ${withoutUserInfo(broker.url)} is not encrypted, and the password would cross the network in clear; use mqtts:// or wss://`);
  }
  if (broker.url === undefined && (broker.tls || broker.username !== undefined)) refuse('broker.tls and broker.username are for broker.url: the embedded broker needs neither');
  if (!http.tls && !isLoopbackHost(http.host)) refuse(`http.host ${http.host} is not loopback: tokens and subjects would cross the network in clear; set http.tls`);
  if (department.url !== undefined) {
    if (department.secretFile === undefined) refuse('department.url needs department.secretFile: every body the department gets is signed');
    if (department.url.startsWith('http://') && !isLoopbackHost(hostOf(department.url))) refuse(`department.url ${withoutUserInfo(department.url)} is not HTTPS: alerts would cross the network in clear`);
  }
  if (department.firstRetryMs > department.maxRetryMs) refuse('department.firstRetryMs is more than department.maxRetryMs');
  return checked;
}

/** Reads centre.yaml (or JSON); no path: every default (embedded broker, data/centre.db, a local site). */
export function loadCentreConfig(path?: string): CentreConfig {
  return file.load(path, checkCentreConfig);
}

/** A centre config's bytes or text (YAML or JSON), checked; `name` (its path) goes in the messages. Throws only ConfigError. */
export function parseCentreConfig(source: Uint8Array | string, name = 'the file'): CentreConfig {
  return file.parse(source, checkCentreConfig, name);
}
