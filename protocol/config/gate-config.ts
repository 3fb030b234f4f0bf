/**
 * Read the config file (YAML or JSON), apply environment overrides, check it
 * against the schema and fill defaults. Any error names the key and what is
 * allowed, and never prints a value: a secret typed in the wrong place (a
 * PIN where its hash belongs, a passphrase in a block missing a key) would
 * land in the logs. What was found is described by its kind (a string, a
 * list), and YAML errors by line and column (config-text.ts).
 *
 * Environment overrides: GATE__<KEY>__<KEY>=value, matched to schema keys
 * without regard to case, e.g. GATE__POLICY__FEVERTHRESHOLDC=37.5.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { parseConfigText, printableKey, readConfigFile } from './config-text.js';
import { ConfigError } from './errors.js';
import { configSchema, type GateConfig } from './gate-schema.js';

/** A gate config is a few kilobytes; the YAML parser's cost grows with its input (config-text.ts). */
export const MAX_CONFIG_BYTES = 64 * 1024;
/** Schema errors listed in one message, at most: the rest are counted. */
const MAX_LISTED = 20;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(configSchema);

interface SchemaNode {
  $ref?: string;
  type?: string;
  enum?: readonly unknown[];
  not?: { const?: unknown; enum?: unknown[] };
  properties?: Record<string, SchemaNode>;
  description?: string;
}

function keyPath(instancePath: string): string {
  return instancePath === '' ? '(top level)' : instancePath.slice(1).replaceAll('/', '.');
}

/** Follow a local "#/$defs/name" reference, the only kind the schema uses. */
function resolve(node: SchemaNode | undefined): SchemaNode | undefined {
  const ref = node?.$ref;
  if (!ref) return node;
  return (configSchema.$defs as unknown as Record<string, SchemaNode>)[ref.replace('#/$defs/', '')];
}

function schemaAt(instancePath: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = configSchema as unknown as SchemaNode;
  for (const part of instancePath.split('/').filter(Boolean)) node = resolve(node?.properties?.[part]);
  return node;
}

// Named with "the value is not shown", though no error shows a value: these are where a secret is most likely mistyped.
const SECRET_KEYS = new Set(['/staff/pinHash', '/mqtt/password', '/mqtt/tls/keyPassphrase', '/hardware/camera/password']);

/** What a value is, never what it holds. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'boolean') return 'true or false';
  return `a ${typeof value}`;
}

function describe(error: ErrorObject, config: unknown): string {
  const at = keyPath(error.instancePath);
  if (SECRET_KEYS.has(error.instancePath)) return `"${at}" ${error.message ?? 'is invalid'}; the value is not shown`;
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = printableKey((error.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys(schemaAt(error.instancePath)?.properties ?? {});
      const where = error.instancePath ? `${at}.${key}` : key;
      return `unknown key "${where}"; allowed here: ${allowed.join(', ')}`;
    }
    case 'required':
      return `missing key "${error.instancePath ? `${at}.` : ''}${(error.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `"${at}" must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'not': {
      // The schema's value the file's equals: the schema's words, not the file's.
      const schema = schemaAt(error.instancePath);
      const found = valueAt(config, error.instancePath);
      const taken = schema?.not?.const ?? schema?.not?.enum?.find((v) => v === found);
      return `"${at}" cannot be ${JSON.stringify(taken)} (reserved); ${schema?.description ?? ''}`.trim();
    }
    case 'type': {
      const found = valueAt(config, error.instancePath);
      return `"${at}" ${error.message ?? 'is invalid'}; found ${kindOf(found)}`;
    }
    default:
      // ajv's messages are made of the schema (limits, patterns, property names), never of the data.
      return `"${at}" ${error.message ?? 'is invalid'}`;
  }
}

/** Apply GATE__A__B=value overrides, typed by the schema. */
export function applyEnvironment(config: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('GATE__') || raw === undefined) continue;
    const parts = name.slice(6).split('__');
    let node: SchemaNode | undefined = configSchema as unknown as SchemaNode;
    let target = config;
    const keys: string[] = [];
    for (const [i, part] of parts.entries()) {
      const key: string | undefined = Object.keys(node?.properties ?? {}).find((k) => k.toLowerCase() === part.toLowerCase());
      if (!key) throw new ConfigError('environment', `environment variable ${name}: "${printableKey(part)}" is not a config key; allowed: ${Object.keys(node?.properties ?? {}).join(', ')}`);
      keys.push(key);
      node = resolve(node!.properties![key]);
      if (i < parts.length - 1) {
        if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
        target = target[key] as Record<string, unknown>;
      } else {
        if (node?.type === 'number' || node?.type === 'integer') {
          const value = Number(raw);
          if (raw.trim() === '' || !Number.isFinite(value)) {
            throw new ConfigError('environment', `environment variable ${name} is not a number`);
          }
          target[key] = value;
        } else if (node?.type === 'boolean') {
          if (raw !== 'true' && raw !== 'false') throw new ConfigError('environment', `environment variable ${name} is not true or false`);
          target[key] = raw === 'true';
        } else {
          target[key] = raw;
        }
      }
    }
  }
  return config;
}

/** Check a config object; returns it with defaults filled. */
export function checkConfig(input: unknown): GateConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError('shape', 'config must be a mapping of keys to values');
  }
  const config = structuredClone(input);
  if (!validate(config)) {
    const messages = [...new Set((validate.errors ?? []).map((e) => describe(e, input)))];
    const more = messages.length > MAX_LISTED ? `\n  - and ${messages.length - MAX_LISTED} more` : '';
    throw new ConfigError('schema', `config is not valid:\n  - ${messages.slice(0, MAX_LISTED).join('\n  - ')}${more}`);
  }
  const checked = config as unknown as GateConfig;
  // Staff type names, ID numbers and phones into the staff page: never across a network in clear.
  const screen = checked.screen;
  if (screen && checked.staff.pinHash && !screen.tls && !isLoopback(screen.host)) {
    throw new ConfigError('schema', `screen.tls: required when the staff page is served on ${screen.host} (not loopback) with staff.pinHash set: personal details would cross the network in clear`);
  }
  return checked;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): GateConfig {
  let bytes: Buffer;
  try {
    bytes = readConfigFile(path, MAX_CONFIG_BYTES);
  } catch (error) {
    throw new ConfigError('file', `config file ${path} cannot be read: ${(error as Error).message}`);
  }
  return parseConfig(bytes, { env, name: `config file ${path}`, json: path.endsWith('.json') });
}

/**
 * A config file's bytes (YAML or JSON) to the checked config. Throws only
 * ConfigError, whatever the bytes, in time and memory bounded by
 * MAX_CONFIG_BYTES. `name` begins its messages; `json` names the syntax in them.
 */
export function parseConfig(source: Uint8Array | string, options: { env?: NodeJS.ProcessEnv; name?: string; json?: boolean } = {}): GateConfig {
  const { env = {}, name = 'config', json = false } = options;
  const parsed = parseConfigText(source, MAX_CONFIG_BYTES);
  if (!parsed.ok) {
    throw new ConfigError(parsed.code, `${name} ${parsed.code === 'syntax' ? `is not valid ${json ? 'JSON' : 'YAML'}` : 'is refused'}: ${parsed.problem}`);
  }
  const value = parsed.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError('shape', `${name} must hold a mapping of keys to values`);
  }
  return checkConfig(applyEnvironment(value as Record<string, unknown>, env));
}

/** The value at a JSON pointer of the config file. */
function valueAt(config: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .filter(Boolean)
    .reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], config);
}
