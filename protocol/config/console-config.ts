/**
 * The console's settings (console.yaml or JSON), checked against their
 * schema (console-schema.ts) at start with defaults filled, as the gate's
 * config is (gate-config.ts). An error names the key and what was wrong,
 * never a value of the file; the file is read with the gate's bounds and
 * YAML errors (config-text.ts).
 */
import { consoleConfigSchema, type ConsoleConfig } from './console-schema.js';
import { ConfigError } from './errors.js';
import { hostOf, isLoopbackHost, serviceConfigFile, withoutUserInfo } from './service-config.js';

export {
  consoleConfigSchema,
  type ConsoleBrokerConfig,
  type ConsoleCentreConfig,
  type ConsoleConfig,
  type ConsoleHttpConfig,
  type ConsoleOperatorKey,
  type ConsoleStoreConfig,
  type ConsoleUser,
} from './console-schema.js';

const SECRET = new Set(['/broker/password', '/operatorKey/passphrase', '/store/postgres/url']);
/** Room for the 1,000 users the schema allows (some 200 bytes each) and their comments. */
export const MAX_CONSOLE_CONFIG_BYTES = 512 * 1024;
const file = serviceConfigFile<ConsoleConfig>('console config', consoleConfigSchema, MAX_CONSOLE_CONFIG_BYTES, (path) => SECRET.has(path));

/** Checks a parsed config, fills defaults (in place) and returns it typed. */
export function checkConsoleConfig(raw: unknown): ConsoleConfig {
  const checked = file.checkSchema(raw);
  const names = new Set<string>();
  for (const user of checked.users) {
    if (names.has(user.name)) throw new ConfigError('schema', `console config: users: "${user.name}" appears twice`);
    names.add(user.name);
  }
  if (checked.timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-CA', { timeZone: checked.timeZone });
    } catch {
      throw new ConfigError('schema', `console config: timeZone: "${checked.timeZone}" is not an IANA time zone`);
    }
  }
  if (checked.broker.password !== undefined && !/^(mqtts|wss):\/\//.test(checked.broker.url)) {
    if (!isLoopbackHost(hostOf(checked.broker.url))) throw new ConfigError('schema', `console config: broker.url ${withoutUserInfo(checked.broker.url)} is not encrypted, and the password would cross the network in clear; use mqtts:// or wss://`);
  }
  if (checked.centre && checked.centre.url.startsWith('http://') && !isLoopbackHost(hostOf(checked.centre.url))) {
    throw new ConfigError('schema', `console config: centre.url ${withoutUserInfo(checked.centre.url)} is not encrypted, and the centre's token would cross the network in clear; use https://`);
  }
  if (!checked.http.tls && !isLoopbackHost(checked.http.host)) {
    throw new ConfigError('schema', `console config: http.host ${checked.http.host} is not loopback: passwords would cross the network in clear; set http.tls`);
  }
  return checked;
}

export { isLoopbackHost } from './service-config.js';

/** Reads console.yaml (or JSON); no path: every default (local broker, data/console.db, nobody can sign in). */
export function loadConsoleConfig(path?: string): ConsoleConfig {
  return file.load(path, checkConsoleConfig);
}

/** A console config's bytes or text (YAML or JSON), checked; `name` (its path) goes in the messages. Throws only ConfigError. */
export function parseConsoleConfig(source: Uint8Array | string, name = 'the file'): ConsoleConfig {
  return file.parse(source, checkConsoleConfig, name);
}
