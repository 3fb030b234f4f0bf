/**
 * Read the config file (YAML or JSON), apply environment overrides, check it
 * against the schema and fill defaults. Any error names the key, what is
 * allowed, and what was found.
 *
 * Environment overrides: GATE__<KEY>__<KEY>=value, matched to schema keys
 * without regard to case, e.g. GATE__POLICY__FEVERTHRESHOLDC=37.5.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { configSchema, type GateConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(configSchema);

interface SchemaNode {
  $ref?: string;
  type?: string;
  enum?: readonly unknown[];
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

// Never echoed in an error: a PIN typed where its hash belongs would land in the logs.
const SECRET_KEYS = new Set(['/staff/pinHash', '/mqtt/password', '/mqtt/tls/keyPassphrase', '/hardware/camera/password']);

function describe(error: ErrorObject, config: unknown): string {
  const at = keyPath(error.instancePath);
  if (SECRET_KEYS.has(error.instancePath)) return `"${at}" ${error.message ?? 'is invalid'}; the value is not shown`;
  const found = error.instancePath
    .split('/')
    .filter(Boolean)
    .reduce<unknown>((value, part) => (value as Record<string, unknown> | undefined)?.[part], config);
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(schemaAt(error.instancePath)?.properties ?? {});
      const where = error.instancePath ? `${at}.${key}` : key;
      return `unknown key "${where}"; allowed here: ${allowed.join(', ')}`;
    }
    case 'required':
      return `missing key "${error.instancePath ? `${at}.` : ''}${(error.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `"${at}" must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}; found ${JSON.stringify(found)}`;
    case 'not':
      return `"${at}" cannot be ${JSON.stringify(found)} (reserved); ${schemaAt(error.instancePath)?.description ?? ''}`.trim();
    default:
      return `"${at}" ${error.message ?? 'is invalid'}; found ${JSON.stringify(found)}`;
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
      if (!key) throw new ConfigError(`environment variable ${name}: "${part}" is not a config key; allowed: ${Object.keys(node?.properties ?? {}).join(', ')}`);
      keys.push(key);
      node = resolve(node!.properties![key]);
      if (i < parts.length - 1) {
        if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
        target = target[key] as Record<string, unknown>;
      } else {
        if (node?.type === 'number' || node?.type === 'integer') {
          const value = Number(raw);
          if (raw.trim() === '' || !Number.isFinite(value)) {
            throw new ConfigError(`environment variable ${name}: "${raw}" is not a number`);
          }
          target[key] = value;
        } else if (node?.type === 'boolean') {
          if (raw !== 'true' && raw !== 'false') throw new ConfigError(`environment variable ${name}: "${raw}" is not true or false`);
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
    throw new ConfigError('config must be a mapping of keys to values');
  }
  const config = structuredClone(input);
  if (!validate(config)) {
    const messages = (validate.errors ?? []).map((e) => describe(e, input));
    throw new ConfigError(`config is not valid:\n  - ${[...new Set(messages)].join('\n  - ')}`);
  }
  const checked = config as unknown as GateConfig;
  // Staff type names, ID numbers and phones into the staff page: never across a network in clear.
  const screen = checked.screen;
  if (screen && checked.staff.pinHash && !screen.tls && !isLoopback(screen.host)) {
    throw new ConfigError(`screen.tls: required when the staff page is served on ${screen.host} (not loopback) with staff.pinHash set: personal details would cross the network in clear`);
  }
  return checked;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): GateConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${path} cannot be read: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a mapping of keys to values`);
  }
  return checkConfig(applyEnvironment(parsed as Record<string, unknown>, env));
}
