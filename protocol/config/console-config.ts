/**
 * The console's settings (console.yaml or JSON): one JSON Schema that checks
 * the file at start and fills defaults, as the gate's config does
 * (protocol/config/gate-schema.ts). An error names the key and what was wrong,
 * never a value of the file; the file is read with the gate's bounds and
 * YAML errors (protocol/config/config-text.ts).
 */
import { Ajv } from 'ajv';
import { parseConfigText, printableKey, readConfigFile } from './config-text.js';
import { PASSWORD_HASH_PATTERN } from '../privacy/passwords.js';

export const consoleConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    broker: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', pattern: '^(mqtt|mqtts|ws|wss)://', default: 'mqtt://127.0.0.1:1883' },
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['ca'],
          properties: {
            ca: { type: 'string', minLength: 1, description: 'PEM file of the CA that signed the broker certificate' },
            cert: { type: 'string', minLength: 1, description: 'Client certificate (PEM) for mTLS' },
            key: { type: 'string', minLength: 1, description: 'Client private key (PEM) for mTLS' },
            servername: { type: 'string', minLength: 1 },
          },
        },
        username: { type: 'string', minLength: 1, maxLength: 256 },
        password: { type: 'string', minLength: 1, maxLength: 256 },
        clientId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
        protocolVersion: { enum: [4, 5], default: 5 },
      },
    },
    baseTopic: { type: 'string', pattern: '^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$', default: 'hc/v1' },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', minLength: 1, default: '127.0.0.1' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8090 },
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['cert', 'key'],
          properties: { cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
          description: 'Serve HTTPS: required on any address other than loopback',
        },
      },
    },
    store: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        sqlite: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { path: { type: 'string', minLength: 1, default: 'data/console.db' } },
        },
        postgres: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          properties: {
            url: { type: 'string', pattern: '^postgres(ql)?://', description: 'postgres://user:password@host:port/database; the database must exist, the tables are made' },
            poolSize: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'Connections kept open to the database' },
          },
          description: 'Keep the console\'s data in PostgreSQL instead of the SQLite file',
        },
      },
    },
    users: {
      type: 'array',
      default: [],
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'role', 'passwordHash'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.@-]{1,64}$' },
          role: { enum: ['operator', 'viewer'] },
          passwordHash: { type: 'string', pattern: PASSWORD_HASH_PATTERN, description: 'From `node dist/console/main.js hash-password`' },
        },
      },
    },
    sessionMinutes: { type: 'integer', minimum: 1, maximum: 1440, default: 30, description: 'A session unused this long ends' },
    sessionMaxHours: { type: 'integer', minimum: 1, maximum: 72, default: 12, description: 'A session ends this long after sign-in, used or not' },
    operatorKey: {
      type: 'object',
      additionalProperties: false,
      required: ['key', 'certificate'],
      properties: {
        key: { type: 'string', minLength: 1, description: 'PEM private key (EC P-256 or Ed25519) commands are signed with' },
        certificate: { type: 'string', minLength: 1, description: 'Its PEM certificate; gates must trust it (mqtt.centreKeys)' },
        passphrase: { type: 'string' },
      },
      description: 'Without it, commands are disabled',
    },
    centreCertificate: { type: 'string', minLength: 1, description: 'PEM certificate(s) of the centre: colour changes are verified with it; without it they are only parsed' },
    commandTimeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 30 },
    timeZone: { type: 'string', minLength: 1, description: 'IANA zone the day of the figures is counted in; default the machine\'s' },
  },
} as const;

export interface ConsoleUser {
  name: string;
  role: 'operator' | 'viewer';
  passwordHash: string;
}

export interface ConsoleConfig {
  broker: {
    url: string;
    tls?: { ca: string; cert?: string; key?: string; servername?: string };
    username?: string;
    password?: string;
    clientId?: string;
    protocolVersion: 4 | 5;
  };
  baseTopic: string;
  http: { host: string; port: number; tls?: { cert: string; key: string } };
  store: { sqlite: { path: string }; postgres?: { url: string; poolSize: number } };
  users: ConsoleUser[];
  sessionMinutes: number;
  sessionMaxHours: number;
  operatorKey?: { key: string; certificate: string; passphrase?: string };
  centreCertificate?: string;
  commandTimeoutSeconds: number;
  timeZone?: string;
}

export class ConsoleConfigError extends Error {
  override readonly name = 'ConsoleConfigError';
}

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(consoleConfigSchema);
const SECRET = new Set(['/broker/password', '/operatorKey/passphrase', '/store/postgres/url']);
/** Room for the 1,000 users the schema allows (some 200 bytes each) and their comments. */
export const MAX_CONSOLE_CONFIG_BYTES = 512 * 1024;

/** Checks a parsed config, fills defaults (in place) and returns it typed. */
export function checkConsoleConfig(raw: unknown): ConsoleConfig {
  const config = raw ?? {};
  if (!validate(config)) {
    const error = validate.errors![0]!;
    const at = error.instancePath === '' ? '(top level)' : error.instancePath.slice(1).replaceAll('/', '.');
    const extra = error.keyword === 'additionalProperties' ? ` (${printableKey((error.params as { additionalProperty: string }).additionalProperty)})` : '';
    const shown = SECRET.has(error.instancePath) ? '; the value is not shown' : '';
    throw new ConsoleConfigError(`console config: "${at}" ${error.message ?? 'is invalid'}${extra}${shown}`);
  }
  const checked = config as ConsoleConfig;
  const names = new Set<string>();
  for (const user of checked.users) {
    if (names.has(user.name)) throw new ConsoleConfigError(`console config: users: "${user.name}" appears twice`);
    names.add(user.name);
  }
  if (checked.timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-CA', { timeZone: checked.timeZone });
    } catch {
      throw new ConsoleConfigError(`console config: timeZone: "${checked.timeZone}" is not an IANA time zone`);
    }
  }
  if (checked.broker.password !== undefined && !/^(mqtts|wss):\/\//.test(checked.broker.url)) {
    let host = '';
    try {
      host = new URL(checked.broker.url).hostname.replace(/^\[(.*)\]$/, '$1');
    } catch {
      // not loopback
    }
    if (!isLoopbackHost(host)) throw new ConsoleConfigError(`console config: broker.url ${withoutUserInfo(checked.broker.url)} is not encrypted, and the password would cross the network in clear; use mqtts:// or wss://`);
  }
  if (!checked.http.tls && !isLoopbackHost(checked.http.host)) {
    throw new ConsoleConfigError(`console config: http.host ${checked.http.host} is not loopback: passwords would cross the network in clear; set http.tls`);
  }
  return checked;
}

/** A URL as it may be shown: a user:password@ part is left out. */
function withoutUserInfo(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^/?#]*@/i, '$1…@');
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Reads console.yaml (or JSON); no path: every default (local broker, data/console.db, nobody can sign in). */
export function loadConsoleConfig(path?: string): ConsoleConfig {
  if (path === undefined) return checkConsoleConfig({});
  let bytes: Buffer;
  try {
    bytes = readConfigFile(path, MAX_CONSOLE_CONFIG_BYTES);
  } catch (error) {
    throw new ConsoleConfigError(`console config: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseConsoleConfig(bytes, path);
}

/** A console config's bytes or text (YAML or JSON), checked; `name` (its path) goes in the messages. Throws only ConsoleConfigError. */
export function parseConsoleConfig(source: Uint8Array | string, name = 'the file'): ConsoleConfig {
  const parsed = parseConfigText(source, MAX_CONSOLE_CONFIG_BYTES);
  if (!parsed.ok) throw new ConsoleConfigError(`console config: ${name} ${parsed.code === 'syntax' ? 'is not YAML or JSON' : 'is refused'}: ${parsed.problem}`);
  return checkConsoleConfig(parsed.value);
}
