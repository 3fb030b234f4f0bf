/**
 * The config loaders, from a file as at start: the gate's loadConfig
 * (protocol/config/gate-config.ts, YAML or JSON, with GATE__ environment
 * overrides) and the console's loadConsoleConfig (protocol/config/console-config.ts). Seeds
 * are the documented example config and small valid ones, some holding
 * secrets; they are mutated as text (YAML syntax, anchors and aliases, tags,
 * merge keys, documents, deep nesting, huge numbers), as trees (any value
 * at any key, wrong types, the schema's own key names) written back as YAML
 * or JSON, and by environment overrides.
 *
 * The shape: a checked config (plain JSON that checks again as it is), or
 * the loader's own error (ConfigError) with a message
 * that never contains the value of a secret the file or environment held
 * (a password, a key passphrase, a PIN hash).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { checkConsoleConfig, consoleConfigSchema, loadConsoleConfig } from '../../protocol/config/console-config.js';
import { centreConfigSchema, checkCentreConfig, parseCentreConfig } from '../../protocol/config/centre-config.js';
import { checkConfig, loadConfig } from '../../protocol/config/gate-config.js';
import { configSchema } from '../../protocol/config/gate-schema.js';
import { applyTextOps, applyTreeEdits, textOps, treeEdits } from './mutate.js';
import { describeError, fromUtf8, notPlainJson, ok, offShape, thrown, utf8, type Regression, type Rig, type Surface, type Verdict } from './surface.js';
import { ConfigError } from '../../protocol/config/errors.js';

export interface ConfigInput {
  format: 'yaml' | 'json';
  text: string;
  env: Record<string, string>;
}

const MB = 1 << 20;
/** The shape hashPin writes (salt 22, hash 43 characters); no PIN hashes to it. */
const PIN_HASH = 'scrypt$32768$8$1$Q2hhbmdlTWVQbGVhc2VYWA$VGhpcy1pcy1ub3QtYS1yZWFsLWhhc2gtanVzdC1zaGF';

/** Keys whose values are secrets, wherever they stand. */
const GATE_SECRET_KEYS = new Set(['password', 'keyPassphrase', 'pinHash']);
const CONSOLE_SECRET_KEYS = new Set(['password', 'passphrase', 'url']);

/** Secret values in a parsed config (and, for text that does not parse, those a line "key: value" gives). */
function secretsOf(input: ConfigInput, keys: ReadonlySet<string>, consoleUrls: boolean): string[] {
  const out = new Set<string>();
  // Key names, and values of keys that are no secret (a host, a site): an error may show them, even when a mutation put a secret's text there.
  const shown = new Set<string>();
  // Each object once: aliases can make the parsed value a graph with cycles, whose paths are exponential.
  const seen = new Set<object>();
  const walk = (value: unknown, depth: number): void => {
    if (depth > 50 || value === null || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      // A key holding ":" or a space may be a "key:value" line: the config shows such a key only up to there.
      if (!/[: \t]/.test(k)) shown.add(k);
      if (keys.has(k) && typeof v === 'string') {
        // The console's only secret URL is the database's (it carries a password); a broker URL is not one.
        if (k !== 'url' || (consoleUrls && /^postgres(ql)?:\/\//.test(v))) out.add(v);
      } else if (typeof v === 'string') {
        shown.add(v);
      }
      walk(v, depth + 1);
    }
  };
  try {
    walk(input.format === 'json' ? JSON.parse(input.text) : parseYaml(input.text, { maxAliasCount: 50 }), 0);
  } catch {
    // Not parseable: read "key: value" lines instead.
  }
  for (const match of input.text.matchAll(/(?:^|[\s{,])["']?([A-Za-z]+)["']?[ \t]*:[ \t]*["']?([^\s"',}]+)/gm)) {
    if (keys.has(match[1]!) && (match[1] !== 'url' || (consoleUrls && /^postgres/.test(match[2]!)))) out.add(match[2]!);
  }
  for (const [name, value] of Object.entries(input.env)) if (/PASSWORD|PASSPHRASE|PINHASH/i.test(name)) out.add(value);
  // Short values are found in any message by chance.
  const inShown = (secret: string): boolean => [...shown].some((text) => text.includes(secret));
  return [...out].filter((s) => s.length >= 8 && !inShown(s));
}

/** Key names of a JSON Schema's properties, at every depth: the vocabulary a mutation draws keys from. */
function schemaKeys(schema: unknown): string[] {
  const keys = new Set<string>();
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const props = (node as { properties?: Record<string, unknown> }).properties;
    if (props) for (const [k, v] of Object.entries(props)) {
      keys.add(k);
      walk(v);
    }
    for (const v of Object.values(node as Record<string, unknown>)) if (typeof v === 'object') walk(v);
  };
  walk(schema);
  return [...keys];
}

const YAML_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789 :-\n\t&*!|>#"\'{}[],.<?%@`~';

/** YAML constructs to splice into a text. */
const yamlPieces = fc.constantFrom(
  '&a ',
  '*a',
  '<<: *a\n',
  '!!binary ',
  '!!set ',
  '!!omap ',
  '!!timestamp ',
  '!!float ',
  '!!int ',
  '!!str ',
  '!!map ',
  '!!seq ',
  '!foo ',
  '!<tag:yaml.org,2002:js/function> ',
  '\n---\n',
  '\n...\n',
  ' |\n  text\n',
  ' >-\n  text\n',
  '.inf',
  '-.inf',
  '.nan',
  '0x1F',
  '0o17',
  '1e400',
  '1_000',
  '~',
  'null',
  'yes',
  'no',
  'on',
  '__proto__: {polluted: 1}\n',
  'constructor: {prototype: {x: 1}}\n',
  '? [a, b]\n: c\n',
  '\ufeff',
  '\r\n',
  '%YAML 1.1\n---\n',
  '%TAG ! tag:example.com,2000:\n---\n',
);

function configArbitrary(seeds: ConfigInput[], keys: string[], secretKeys: string[], envSections: string[]): fc.Arbitrary<ConfigInput> {
  const seed = fc.constantFrom(...seeds);
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom('', ' ', '127.0.0.1', '0.0.0.0', 'mqtts://broker.example:8883', 'mqtt://127.0.0.1:1', 'postgres://u:pw-in-a-url-1234@db/x', '/etc/gate/x.pem', PIN_HASH, 'scrypt$1$1$1$x$y', 65536, -1, 0, 1e21, 37.3, true, null),
    fc.record({ key: fc.constantFrom(...secretKeys), value: fc.string({ minLength: 8, maxLength: 20 }).map((s) => `secret-${s}`) }).map(({ key, value: v }) => ({ [key]: v })),
    fc.integer({ min: 10, max: 2000 }).map((depth) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown),
  );
  const text = fc.tuple(seed, textOps(YAML_ALPHABET), fc.array(fc.tuple(fc.nat(), yamlPieces), { maxLength: 3 })).map(([s, ops, pieces]) => {
    let t = applyTextOps(s.text, ops);
    for (const [at, piece] of pieces) {
      const i = at % (t.length + 1);
      t = t.slice(0, i) + piece + t.slice(i);
    }
    return { ...s, text: t };
  });
  const tree = fc
    .tuple(seed, treeEdits(value, 4), fc.array(fc.tuple(fc.constantFrom(...keys), value), { maxLength: 3 }), fc.nat(), fc.constantFrom<'yaml' | 'json'>('yaml', 'json'))
    .map(([s, edits, inserts, pick, format]) => {
      let parsed: unknown;
      try {
        parsed = s.format === 'json' ? JSON.parse(s.text) : parseYaml(s.text);
      } catch {
        return s;
      }
      if (parsed === null || typeof parsed !== 'object') return s;
      let edited = applyTreeEdits(parsed, edits, (v) => ({ [keys[pick % keys.length]!]: v }));
      // Keys of the schema put somewhere they may or may not belong.
      for (const [key, v] of inserts) {
        if (edited !== null && typeof edited === 'object' && !Array.isArray(edited)) {
          const record = edited as Record<string, unknown>;
          const sections = Object.keys(record).filter((k) => typeof record[k] === 'object' && record[k] !== null && !Array.isArray(record[k]));
          const section = sections[pick % Math.max(1, sections.length)];
          if (section && pick % 2 === 0) record[section] = { ...(record[section] as object), [key]: v };
          else edited = { ...record, [key]: v };
        }
      }
      try {
        return { ...s, format, text: format === 'json' ? JSON.stringify(edited) ?? 'null' : stringifyYaml(edited, { aliasDuplicateObjects: pick % 3 === 0 }) };
      } catch {
        return s;
      }
    });
  const env = fc.tuple(seed, fc.array(fc.tuple(fc.constantFrom(...envSections), fc.constantFrom(...keys), fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('1e400', 'true', 'false', ' ', '-1', '37.5', 'NaN', 'Infinity'))), { minLength: 1, maxLength: 3 })).map(
    ([s, vars]) => ({ ...s, env: Object.fromEntries(vars.map(([section, key, v]) => [`GATE__${section}__${key}`.toUpperCase(), v])) }),
  );
  // Big inputs, kept to sizes the YAML parser gets through in a few hundred milliseconds (it slows more than linearly past them).
  const big = fc.tuple(seed, fc.constantFrom(100, 1000, 10_000, 1_000_000), fc.constantFrom('nest', 'long', 'many', 'aliases')).map(([s, n, how]) => {
    if (how === 'nest') return { ...s, text: `${s.text}\nx: ${'['.repeat(Math.min(n, 10_000))}${']'.repeat(Math.min(n, 10_000))}\n` };
    if (how === 'long') return { ...s, text: `${s.text}\nsite: ${'a'.repeat(n)}\n` };
    if (how === 'many') return { ...s, text: `${s.text}\n${Array.from({ length: Math.min(n, 1000) }, (_, i) => `k${i}: ${i}`).join('\n')}\n` };
    // A billion-laughs ladder of aliases.
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    return { ...s, text: `${lines.join('\n')}\n${s.text}` };
  });
  return fc.oneof({ weight: 4, arbitrary: text }, { weight: 5, arbitrary: tree }, { weight: 1, arbitrary: env }, { weight: 1, arbitrary: big });
}

interface Loader {
  load(path: string, env: Record<string, string>): unknown;
  check(config: unknown): unknown;
  isOwnError(error: unknown): boolean;
  secretKeys: ReadonlySet<string>;
  consoleUrls: boolean;
}

function configRig(loader: Loader, seeds: ConfigInput[], regressions: Regression<ConfigInput>[], schema: unknown): Rig<ConfigInput> {
  const dir = mkdtempSync(join(tmpdir(), 'gate-fuzz-config-'));
  const keys = schemaKeys(schema);
  const sections = Object.keys((schema as { properties: object }).properties);
  const run = (input: ConfigInput): Verdict => {
    const path = join(dir, input.format === 'json' ? 'config.json' : 'config.yaml');
    writeFileSync(path, input.text);
    let config: unknown;
    try {
      config = loader.load(path, input.env);
    } catch (error) {
      if (!loader.isOwnError(error)) return thrown(`the loader threw ${describeError(error)}`);
      const message = (error as Error).message;
      if (typeof message !== 'string' || message.length === 0) return offShape('a config error without a message');
      const leaked = secretsOf(input, loader.secretKeys, loader.consoleUrls).find((secret) => message.includes(secret));
      if (leaked) {
        const line = message.split('\n').find((l) => l.includes(leaked)) ?? message;
        const how = /not valid YAML|not YAML or JSON|not valid JSON/.test(message)
          ? 'quoted from the file in a YAML or JSON syntax error'
          : /found .*/.test(line.slice(0, line.indexOf(leaked)))
            ? 'echoed in the value found at a key that is wrong'
            : 'in the message';
        return offShape(`the error message shows a secret value, ${how} — ${JSON.stringify(line.slice(0, 200))}`);
      }
      return ok('refused');
    }
    const impure = notPlainJson(config, 'config');
    if (impure) return offShape(`accepted, but ${impure}`);
    try {
      loader.check(structuredClone(config));
    } catch (error) {
      return offShape(`accepted, but the config it returned does not check again: ${describeError(error)}`);
    }
    return ok('accepted');
  };
  return {
    seeds,
    regressions,
    arbitrary: (passing) => configArbitrary([...seeds, ...passing], keys, [...loader.secretKeys].filter((k) => k !== 'url'), sections),
    run,
    // Parsing and checking: 50 ms, 100 ms more per MB of text and a quarter of a millisecond per line (the YAML parser's pace here).
    boundMs: (input) => 50 + (100 * Buffer.byteLength(input.text)) / MB + input.text.split('\n').length / 4,
    encode: (input) => utf8(JSON.stringify(input)),
    decode: (bytes) => JSON.parse(fromUtf8(bytes)) as ConfigInput,
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

const yaml = (text: string, env: Record<string, string> = {}): ConfigInput => ({ format: 'yaml', text, env });

async function setupGateConfig(): Promise<Rig<ConfigInput>> {
  const example = readFileSync(new URL('../../../docs/gate-config.example.yaml', import.meta.url), 'utf8');
  const seeds: ConfigInput[] = [
    yaml(example),
    yaml('site: demo-mall\nlane: lane-1\n'),
    { format: 'json', text: JSON.stringify({ site: 'a', lane: 'b', policy: { feverThresholdC: 37.5 }, staff: { pinHash: PIN_HASH }, screen: { host: '127.0.0.1', port: 0 } }), env: {} },
    yaml('site: s\nlane: l\nmqtt:\n  url: mqtts://broker.example:8883\n  password: hunter2-hunter2\n  tls:\n    ca: /etc/gate/ca.pem\n    cert: /etc/gate/gate.pem\n    key: /etc/gate/gate.key\n    keyPassphrase: open-sesame-1234\n'),
    yaml('site: s\nlane: l\n', { GATE__POLICY__FEVERTHRESHOLDC: '37.5', GATE__MQTT__PASSWORD: 'env-password-5678' }),
  ];
  const regressions: Regression<ConfigInput>[] = [
    { name: 'config-yaml-alias-cycle', why: 'policy: &p / feverThresholdC: *p, a mapping that holds itself: a ConfigError, not a crash', input: yaml('policy: &p\n  feverThresholdC: *p\n') },
    {
      name: 'config-tls-key-without-cert',
      why: 'mqtt.tls with key but no cert, and a keyPassphrase: a ConfigError that does not show the passphrase',
      input: yaml('site: s\nlane: l\nmqtt:\n  url: mqtts://broker.example:8883\n  tls:\n    ca: /etc/gate/ca.pem\n    key: /etc/gate/gate.key\n    keyPassphrase: correct-horse-battery-staple\n'),
    },
    { name: 'config-staff-as-list', why: 'staff: written as a list holding a pinHash: a ConfigError that does not show the hash', input: yaml(`site: s\nlane: l\nstaff:\n  - pinHash: ${PIN_HASH}\n`) },
    {
      name: 'config-yaml-error-at-password',
      why: 'a YAML syntax error on the line of mqtt.password: a ConfigError that does not quote the line',
      input: yaml('site: s\nlane: l\nmqtt:\n  password: hunter2-hunter2: x\n'),
    },
  ];
  return configRig(
    {
      load: (path, env) => loadConfig(path, env),
      check: checkConfig,
      isOwnError: (error) => error instanceof ConfigError,
      secretKeys: GATE_SECRET_KEYS,
      consoleUrls: false,
    },
    seeds,
    regressions,
    configSchema,
  );
}

async function setupConsoleConfig(): Promise<Rig<ConfigInput>> {
  const seeds: ConfigInput[] = [
    yaml('broker:\n  url: mqtt://127.0.0.1:1883\nhttp:\n  host: 127.0.0.1\n  port: 8090\n'),
    yaml(
      'broker:\n  url: mqtts://broker.example:8883\n  password: broker-secret-9876\n  tls:\n    ca: ca.pem\nbaseTopic: hc/v1\nstore:\n  postgres:\n    url: postgres://console:db-secret-4321@127.0.0.1/console\nusers:\n  - name: ops\n    role: operator\n    passwordHash: ' +
        PIN_HASH +
        '\noperatorKey:\n  key: op.key\n  certificate: op.pem\n  passphrase: operator-secret-1111\ntimeZone: Asia/Shanghai\n',
    ),
    { format: 'json', text: JSON.stringify({ sessionMinutes: 30, commandTimeoutSeconds: 30, users: [] }), env: {} },
  ];
  const regressions: Regression<ConfigInput>[] = [
    { name: 'console-yaml-alias-cycle', why: 'http: &h / port: *h, a mapping that holds itself: a ConfigError, not a crash', input: yaml('http: &h\n  port: *h\n') },
    {
      name: 'console-yaml-error-at-password',
      why: 'a YAML syntax error on the line of broker.password: a ConfigError that does not quote the line',
      input: yaml('broker:\n  password: broker-secret-9876: x\n'),
    },
    {
      name: 'console-operator-key-extra',
      why: 'operatorKey with a passphrase and an unknown key: a ConfigError that does not show the passphrase',
      input: yaml('operatorKey:\n  key: op.key\n  certificate: op.pem\n  passphrase: operator-secret-2222\n  extra: 1\n'),
    },
  ];
  return configRig(
    {
      // The console reads no environment; the file alone.
      load: (path) => loadConsoleConfig(path),
      check: checkConsoleConfig,
      isOwnError: (error) => error instanceof ConfigError,
      secretKeys: CONSOLE_SECRET_KEYS,
      consoleUrls: true,
    },
    seeds,
    regressions,
    consoleConfigSchema,
  );
}

async function setupCentreConfig(): Promise<Rig<ConfigInput>> {
  const seeds: ConfigInput[] = [
    yaml('broker: { embedded: { port: 18831 } }\nhttp: { port: 18093 }\n'),
    yaml(
      'baseTopic: hc/v1\nbroker:\n  url: mqtts://broker.example:8883\n  username: centre\n  password: broker-secret-9876\n  tls:\n    ca: /etc/centre/ca.pem\nhttp:\n  host: 10.0.0.5\n  port: 8093\n  tls: { cert: /etc/centre/api.pem, key: /etc/centre/api.key, clientCa: /etc/centre/ca.pem }\n' +
        'store: { postgres: { url: "postgres://centre:db-secret-4321@db.internal:5432/health", poolSize: 10 } }\nrecord: { postgres: { url: "postgres://centre:rec-secret-5555@db.internal:5432/record" } }\n' +
        'sites:\n  - { folder: /etc/centre/site-mall-1, passphraseFile: /etc/centre/site.passphrase }\n  - { id: mall-2, signingKey: /etc/centre/m2.key, certificate: /etc/centre/m2.pem }\n' +
        "clients:\n  - { id: platform, tokenSha256: " + 'ab'.repeat(32) + ", role: platform, sites: ['*'], requestsPerMinute: 600 }\n  - { id: console-1, certificateCn: console-1, role: viewer, sites: [mall-1] }\n" +
        'department: { url: https://department.example/hook, secretFile: /etc/centre/department.secret, firstRetryMs: 1000, maxRetryMs: 60000 }\n',
    ),
    { format: 'json', text: JSON.stringify({ store: { sqlite: { path: 'data/centre.db' } }, http: { host: '127.0.0.1', port: 0 } }), env: {} },
  ];
  const regressions: Regression<ConfigInput>[] = [
    { name: 'centre-yaml-alias-cycle', why: 'http: &h / port: *h, a mapping that holds itself: a ConfigError, not a crash', input: yaml('http: &h\n  port: *h\n') },
    { name: 'centre-broker-password-in-clear', why: 'a broker password over mqtt:// to another host: a ConfigError that does not show the password', input: yaml('broker:\n  url: mqtt://broker.example:1883\n  password: broker-secret-7777\n') },
    { name: 'centre-postgres-url-wrong-type', why: 'store.postgres.url as a number beside a secret one: a ConfigError that shows no URL', input: yaml('store:\n  postgres:\n    url: "postgres://centre:db-secret-2468@db/x"\n    poolSize: many\n') },
  ];
  return configRig(
    {
      // The centre reads no environment; the file's bytes, as loadCentreConfig gives them.
      load: (path) => parseCentreConfig(readFileSync(path), path),
      check: checkCentreConfig,
      isOwnError: (error) => error instanceof ConfigError,
      secretKeys: CONSOLE_SECRET_KEYS,
      consoleUrls: true,
    },
    seeds,
    regressions,
    centreConfigSchema,
  );
}

export const centreConfigSurface: Surface<ConfigInput> = {
  name: 'config-centre',
  covers: 'centre config files (YAML and JSON) through parseCentreConfig (protocol/config/centre-config.ts), mutated as for the gate',
  shape: 'a checked config (plain JSON, checks again) or a ConfigError whose message shows no secret value (broker password, the PostgreSQL URLs)',
  setup: setupCentreConfig,
};

export const gateConfigSurface: Surface<ConfigInput> = {
  name: 'config-gate',
  covers: "gate config files (YAML and JSON) and GATE__ environment overrides through loadConfig (protocol/config/gate-config.ts), mutated as text, as trees and with the schema's own keys",
  shape: "a checked config (plain JSON, checks again) or a ConfigError whose message shows no secret value (password, keyPassphrase, pinHash)",
  setup: setupGateConfig,
};

export const consoleConfigSurface: Surface<ConfigInput> = {
  name: 'config-console',
  covers: 'console config files through loadConsoleConfig (protocol/config/console-config.ts), mutated as for the gate',
  shape: 'a checked config (plain JSON, checks again) or a ConfigError whose message shows no secret value (broker password, operator key passphrase, database URL)',
  setup: setupConsoleConfig,
};
