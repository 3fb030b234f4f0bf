/**
 * What the services' configs (the console's, the centre's) share: checking
 * against the schema with defaults filled, the schema's refusal worded by
 * key, and reading the file with the gate's bounds and YAML errors
 * (config-text.ts). Each service adds its own rules between keys.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { parseConfigText, printableKey, readConfigFile } from './config-text.js';
import { ConfigError } from './errors.js';

export interface ServiceConfigFile<T> {
  /** Checks a parsed config against the schema, fills defaults (in place); ConfigError('schema') naming the key. */
  checkSchema(raw: unknown): T;
  /** Reads the file (or, with no path, {}) and checks it with `check`. */
  load(path: string | undefined, check: (raw: unknown) => T): T;
  /** Bytes or text (YAML or JSON), checked with `check`; `name` (its path) goes in the messages. Throws only ConfigError. */
  parse(source: Uint8Array | string, check: (raw: unknown) => T, name?: string): T;
}

/** `what` begins every message ("console config"); `secret(path)` says which values are never echoed. */
export function serviceConfigFile<T>(what: string, schema: TSchema, maxBytes: number, secret: (instancePath: string) => boolean): ServiceConfigFile<T> {
  const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(schema);
  const worded = (error: ErrorObject): string => {
    const at = error.instancePath === '' ? '(top level)' : error.instancePath.slice(1).replaceAll('/', '.');
    const extra = error.keyword === 'additionalProperties' ? ` (${printableKey((error.params as { additionalProperty: string }).additionalProperty)})` : '';
    const shown = secret(error.instancePath) ? '; the value is not shown' : '';
    return `${what}: "${at}" ${error.message ?? 'is invalid'}${extra}${shown}`;
  };
  const file: ServiceConfigFile<T> = {
    checkSchema(raw) {
      const config = raw ?? {};
      if (!validate(config)) throw new ConfigError('schema', worded(validate.errors![0]!));
      return config as T;
    },
    load(path, check) {
      if (path === undefined) return check({});
      let bytes: Buffer;
      try {
        bytes = readConfigFile(path, maxBytes);
      } catch (error) {
        throw new ConfigError('file', `${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      }
      return file.parse(bytes, check, path);
    },
    parse(source, check, name = 'the file') {
      const parsed = parseConfigText(source, maxBytes);
      if (!parsed.ok) throw new ConfigError(parsed.code, `${what}: ${name} ${parsed.code === 'syntax' ? 'is not YAML or JSON' : 'is refused'}: ${parsed.problem}`);
      return check(parsed.value);
    },
  };
  return file;
}

/** The host of a URL, without brackets; '' (not loopback) when it does not parse. */
export function hostOf(url: string): string {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return '';
  }
}

/** A URL as it may be shown: a user:password@ part is left out. */
export function withoutUserInfo(url: string): string {
  return url.replace(/^([a-z]+:\/\/)[^/?#]*@/i, '$1…@');
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
