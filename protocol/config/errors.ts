/**
 * One error for a config that cannot be used: the gate's (gate-config.ts)
 * and the console's (console-config.ts), and what the applications find
 * wrong with a file the config names. Callers switch on `code`, a closed set
 * listed here and in docs/errors.md; the message names the key and never a
 * value of the file (a secret typed in the wrong place would reach the log).
 */

/** The file's bytes as text (config-text.ts): why they are not a tree of plain data. */
export const CONFIG_TEXT_ERRORS = [
  'size', // more bytes than the loader allows
  'encoding', // not UTF-8
  'syntax', // not YAML (or JSON)
  'alias', // an alias (*name): refused, see config-text.ts
  'nesting', // nested deeper than the bound
  'key', // a key twice, a key that is not a plain value, an unknown tag, a second document
] as const;

export const CONFIG_ERRORS = [
  'file', // the file cannot be read
  ...CONFIG_TEXT_ERRORS,
  'shape', // not a mapping at the top
  'schema', // against the schema, or a rule between keys
  'environment', // a GATE__… environment variable
  'invalid', // anything else: a file the config names, a key it lacks for a use, a key that cannot change
] as const;

export type ConfigTextErrorCode = (typeof CONFIG_TEXT_ERRORS)[number];
export type ConfigErrorCode = (typeof CONFIG_ERRORS)[number];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly code: ConfigErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
