/**
 * Config: the schema checks keys, types and ranges and names what is wrong,
 * never a value of the file; any bytes end in a ConfigError.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { applyEnvironment, checkConfig, loadConfig, MAX_CONFIG_BYTES, parseConfig } from '../../protocol/config/gate-config.js';
import { ConfigError } from '../../protocol/config/errors.js';

const minimal = { site: 'mall', lane: 'lane-1' };

/** checkConfig refuses input with a ConfigError matching message, in which none of `unshown` appears. */
function rejects(input: unknown, message: RegExp, ...unshown: string[]): void {
  assert.throws(() => checkConfig(input), (error: unknown) => {
    assert.ok(error instanceof ConfigError, 'a ConfigError');
    assert.match(error.message, message);
    for (const value of unshown) assert.ok(!error.message.includes(value), `"${value}" shown in ${error.message}`);
    return true;
  });
}

/** parseConfig refuses text with a ConfigError of this code, matching message, in which none of `unshown` appears. */
function refusesText(text: string | Uint8Array, code: string, message: RegExp, ...unshown: string[]): void {
  assert.throws(() => parseConfig(text, { name: 'config file gate.yaml' }), (error: unknown) => {
    assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    for (const value of unshown) assert.ok(!error.message.includes(value), `"${value}" shown in ${error.message}`);
    return true;
  });
}

test('config: a minimal config gets every default', () => {
  const config = checkConfig(minimal);
  assert.equal(config.policy.feverThresholdC, 37.3);
  assert.equal(config.timing.relayPulseMs, 3000);
  assert.equal(config.journal.sync, 'normal');
  assert.equal(config.mqtt.baseTopic, 'hc/v1');
  assert.equal(config.mqtt.url, undefined);
});

test('config: the documented example loads as it is', () => {
  const config = loadConfig('docs/gate-config.example.yaml', {});
  assert.equal(config.site, 'demo-mall');
  assert.equal(config.credentials.trust, '/etc/gate/trust');
  assert.equal(config.mqtt.url, 'mqtts://broker.example:8883');
});

test('config: fever threshold outside 36.0–40.0 names the key and the limit, not the value', () => {
  rejects({ ...minimal, policy: { feverThresholdC: 41 } }, /"policy\.feverThresholdC" must be <= 40$/, '41');
  rejects({ ...minimal, policy: { feverThresholdC: 35.9 } }, /"policy\.feverThresholdC" must be >= 36$/, '35.9');
});

test('config: an unknown key is named with the keys allowed there', () => {
  rejects({ ...minimal, policy: { feverTreshold: 37 } }, /unknown key "policy\.feverTreshold"; allowed here: feverThresholdC/);
  rejects({ ...minimal, color: 'green' }, /unknown key "color"; allowed here: site, lane, policy/);
});

test('config: a lane cannot be called colour or centre, which the site topics use', () => {
  rejects({ ...minimal, lane: 'colour' }, /"lane" cannot be "colour" \(reserved\)/);
  rejects({ ...minimal, lane: 'centre' }, /"lane" cannot be "centre" \(reserved\)/);
});

test('config: mqtt.tls needs cert and key together', () => {
  rejects({ ...minimal, mqtt: { url: 'mqtts://broker:8883', tls: { ca: 'ca.pem', cert: 'gate.pem' } } }, /"mqtt\.tls" must have property key when property cert is present/);
});

test('config: a wrong type is named with the kind of value found, not the value', () => {
  rejects({ ...minimal, timing: { relayPulseMs: '3s' } }, /"timing\.relayPulseMs" must be integer; found a string/, '3s');
  rejects({ ...minimal, policy: 'strict' }, /"policy" must be object; found a string/, 'strict');
  rejects({ ...minimal, policy: [37] }, /"policy" must be object; found a list/, '37');
  rejects({ ...minimal, site: null }, /"site" must be string; found null/);
});

test('config: an enum names its allowed values, not the value', () => {
  rejects({ ...minimal, journal: { sync: 'sometimes' } }, /"journal\.sync" must be one of "full", "normal"$/, 'sometimes');
});

test('config: missing site and lane are named', () => {
  rejects({}, /missing key "site"/);
  rejects({ site: 'x' }, /missing key "lane"/);
  rejects([], /config must be a mapping/);
});

test('config: a site id that would break MQTT topics is refused', () => {
  rejects({ ...minimal, site: 'mall/#' }, /"site" must match pattern/);
});

test('config: environment variables override the file, typed by the schema', () => {
  const config = checkConfig(applyEnvironment({ ...minimal }, { GATE__POLICY__FEVERTHRESHOLDC: '37.8', GATE__MQTT__URL: 'mqtt://127.0.0.1:1883' }));
  assert.equal(config.policy.feverThresholdC, 37.8);
  assert.equal(config.mqtt.url, 'mqtt://127.0.0.1:1883');
  assert.equal(checkConfig(applyEnvironment({ ...minimal }, { GATE__VOICE__ENABLED: 'false' })).voice.enabled, false);
  assert.equal(checkConfig(applyEnvironment({ ...minimal }, { GATE__VOICE__ENABLED: 'true' })).voice.enabled, true);
});

test('config: an environment override that is not a number or not a key is refused', () => {
  assert.throws(() => applyEnvironment({ ...minimal }, { GATE__POLICY__FEVERTHRESHOLDC: 'hot' }), (error: Error) => /GATE__POLICY__FEVERTHRESHOLDC is not a number/.test(error.message) && !error.message.includes('hot'));
  assert.throws(() => applyEnvironment({ ...minimal }, { GATE__VOICE__ENABLED: 'yes' }), (error: Error) => /GATE__VOICE__ENABLED is not true or false/.test(error.message) && !error.message.includes('yes'));
  assert.throws(() => applyEnvironment({ ...minimal }, { GATE__POLICY__FEVER: '37' }), /GATE__POLICY__FEVER: "FEVER" is not a config key; allowed: feverThresholdC/);
});

test('config: unreadable, malformed and non-mapping files are refused with the path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  try {
    assert.throws(() => loadConfig(join(dir, 'absent.yaml'), {}), /absent\.yaml cannot be read/);
    writeFileSync(join(dir, 'bad.yaml'), 'site: [unclosed');
    assert.throws(() => loadConfig(join(dir, 'bad.yaml'), {}), /bad\.yaml is not valid YAML/);
    writeFileSync(join(dir, 'bad.json'), '{"site": ');
    assert.throws(() => loadConfig(join(dir, 'bad.json'), {}), /bad\.json is not valid JSON/);
    writeFileSync(join(dir, 'list.yaml'), '- a\n- b\n');
    assert.throws(() => loadConfig(join(dir, 'list.yaml'), {}), /list\.yaml must hold a mapping/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- secrets are never shown, whatever the error --------------------------------------

const PASSPHRASE = 'kiwi-Passphrase-7731';
const PIN_HASH = `scrypt$16384$8$1$${'a'.repeat(22)}$${'b'.repeat(43)}`;

test('config: a self-referencing alias is a ConfigError naming the key, not a TypeError', () => {
  refusesText('site: mall\nlane: lane-1\npolicy: &p\n  feverThresholdC: *p\n', 'alias', /line 4, column 20: "policy\.feverThresholdC": an alias/);
  // The same cycle handed to checkConfig as an object.
  const policy: Record<string, unknown> = {};
  policy.feverThresholdC = policy;
  rejects({ ...minimal, policy }, /"policy\.feverThresholdC" must be number; found a mapping/);
});

test('config: a tls block with a key but no cert names mqtt.tls and what it lacks, never the passphrase', () => {
  const text = `site: mall\nlane: lane-1\nmqtt:\n  url: mqtts://broker:8883\n  tls:\n    ca: ca.pem\n    key: gate.key\n    keyPassphrase: ${PASSPHRASE}\n`;
  refusesText(text, 'schema', /"mqtt\.tls" must have property cert when property key is present/, PASSPHRASE);
});

test('config: staff written as a list names staff and what it must be, never the PIN hash', () => {
  refusesText(`site: mall\nlane: lane-1\nstaff:\n  - pinHash: ${PIN_HASH}\n`, 'schema', /"staff" must be object; found a list/, PIN_HASH, PIN_HASH.slice(0, 30));
});

test('config: a YAML error gives line, column and the problem, never the text of the line', () => {
  // A bad escape inside the secret; a secret running into a second colon; a secret in JSON left unquoted.
  refusesText(`site: mall\nlane: lane-1\nmqtt:\n  password: "${PASSPHRASE}\\q"\n`, 'syntax', /^config file gate\.yaml is not valid YAML: line 4, column \d+: an escape sequence/, PASSPHRASE, '\\q');
  refusesText(`site: mall\nlane: lane-1\nmqtt:\n  password: ${PASSPHRASE}: more\n`, 'syntax', /line 4, column \d+: /, PASSPHRASE);
  assert.throws(() => parseConfig(`{"site": "mall", "mqtt": {"password": ${PASSPHRASE}`, { json: true }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /^config is not valid JSON: line 1, column \d+: /);
    assert.ok(!error.message.includes(PASSPHRASE));
    return true;
  });
});

test('config: a file is read with the same bounds, and a JSON file too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-'));
  try {
    writeFileSync(join(dir, 'alias.yaml'), 'site: mall\nlane: lane-1\npolicy: &p\n  feverThresholdC: *p\n');
    assert.throws(() => loadConfig(join(dir, 'alias.yaml'), {}), (error: unknown) => error instanceof ConfigError && /alias\.yaml is refused: line 4/.test(error.message));
    writeFileSync(join(dir, 'big.yaml'), `site: mall\nlane: lane-1\n#${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    assert.throws(() => loadConfig(join(dir, 'big.yaml'), {}), (error: unknown) => error instanceof ConfigError && error.code === 'size');
    writeFileSync(join(dir, 'gate.json'), JSON.stringify({ site: 'mall', lane: 'lane-1', policy: { feverThresholdC: 37.5 } }));
    assert.equal(loadConfig(join(dir, 'gate.json'), {}).policy.feverThresholdC, 37.5);
    writeFileSync(join(dir, 'twice.json'), '{"site": "mall", "lane": "lane-1", "site": "other"}');
    assert.throws(() => loadConfig(join(dir, 'twice.json'), {}), /twice\.json is refused: line 1, column 36: "site": a key given twice/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- any bytes: a ConfigError, bounded -------------------------------------------------

/** Nine levels of nine aliases each: a billion "lol"s if expanded. */
const BILLION_LAUGHS = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
  .concat(Array.from({ length: 8 }, (_, i) => {
    const [name, previous] = [String.fromCharCode(98 + i), String.fromCharCode(97 + i)];
    return `${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`;
  }))
  .join('\n');

test('config: billion laughs is refused before anything is expanded (and the yaml library alone refuses it too)', () => {
  refusesText(`site: mall\nlane: lane-1\n${BILLION_LAUGHS}\n`, 'alias', /line 4, column 8: "b\.0": an alias/);
  // The library's own bound (maxAliasCount, 100 by default), on which its other callers rely.
  assert.throws(() => parseYaml(BILLION_LAUGHS), /Excessive alias count/);
});

test('config: bytes that are not UTF-8, too many, nested too deep, keys twice or not plain, unknown tags: each a ConfigError', () => {
  refusesText(Buffer.concat([Buffer.from('site: mall\nlane: '), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]), 'encoding', /line 2, column 7: bytes that are not UTF-8/);
  refusesText(`site: mall\nlane: lane-1\n${'k: v\n'.repeat(MAX_CONFIG_BYTES / 5)}`, 'size', /more than 65536 bytes/);
  // Brackets deep enough to exhaust the parser's memory are counted before it runs.
  refusesText(`site: ${'['.repeat(60_000)}`, 'nesting', /line 1, column 1007: brackets nested more than 1000 deep/);
  refusesText(`site: ${'['.repeat(40)}${']'.repeat(40)}\nlane: x\n`, 'nesting', /"site(\.0){31}": mappings and lists nested more than 32 deep/);
  const block = Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}k:`).join('\n');
  refusesText(block, 'nesting', /nested more than 32 deep/);
  refusesText('site: mall\nlane: lane-1\nsite: again\n', 'key', /line 3, column 1: "site": a key given twice/);
  refusesText('? [a, b]\n: 1\n', 'key', /a key that is not a plain value/);
  refusesText(`site: !secret ${PASSPHRASE}\nlane: lane-1\n`, 'syntax', /line 1, column 7: a tag \(!…\) that is not understood/, PASSPHRASE);
  refusesText('site: mall\n---\nsite: other\n', 'syntax', /more than one document/);
  // Not a mapping at all.
  refusesText('', 'shape', /must hold a mapping/);
  refusesText('- a\n', 'shape', /must hold a mapping/);
});

test('config: random bytes and random YAML-like text end in a config or a ConfigError, nothing else', () => {
  const yamlish = fc.string({ unit: fc.constantFrom(...'ab: -[]{},&*!|>\'"#%@`?\n\t\\ 0.9'.split('')), maxLength: 200 });
  const texts = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    yamlish,
    yamlish.map((tail) => `site: mall\nlane: lane-1\n${tail}`),
  );
  fc.assert(
    fc.property(texts, (text) => {
      try {
        parseConfig(text);
      } catch (error) {
        assert.ok(error instanceof ConfigError, `${String(error)} for ${JSON.stringify(Buffer.from(text).toString('latin1'))}`);
      }
    }),
    { numRuns: 1000 },
  );
});
