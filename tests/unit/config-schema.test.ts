/**
 * The config schemas as built: plain JSON Schema for Ajv, types that hold
 * once a config is checked (a key with a default is there), and the key
 * paths read off the schema rather than kept in a table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { Type } from '@sinclair/typebox';
import type { HardwareConfig } from '../../device/lane-hardware.js';
import { RUNTIME_CONFIG_KEYS } from '../../edge-agent/components/config-keys.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { checkConsoleConfig, consoleConfigSchema } from '../../protocol/config/console-config.js';
import { configSchema, GATE_CONFIG_KEYS, gateSectionKeys, type WiringConfig } from '../../protocol/config/gate-schema.js';
import { leafKeyPaths, schemaAtKeyPath } from '../../protocol/config/schema-keys.js';
import { Choice, Defaulted, DefinitionRef, FilledObject, StrictObject } from '../../protocol/config/schema-kit.js';

const minimal = { site: 'mall', lane: 'lane-1' };

test('schema kit: a defaulted key is left out of required, a filled object defaults to {}, a choice is an enum', () => {
  const leaf = StrictObject({ a: Type.Integer(), b: Defaulted(Type.Integer({ minimum: 0 }), 3), c: Type.Optional(Type.String()) });
  assert.deepEqual(JSON.parse(JSON.stringify(leaf)), {
    type: 'object',
    additionalProperties: false,
    required: ['a'],
    properties: { a: { type: 'integer' }, b: { type: 'integer', minimum: 0, default: 3 }, c: { type: 'string' } },
  });
  const filled = FilledObject({ d: Defaulted(Choice(['x', 'y'], { description: 'one of two' }), 'x') });
  assert.deepEqual(JSON.parse(JSON.stringify(filled)), {
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: { d: { enum: ['x', 'y'], description: 'one of two', default: 'x' } },
  });
  assert.deepEqual(JSON.parse(JSON.stringify(DefinitionRef('input', leaf))), { $ref: '#/$defs/input' });
});

test('config schemas: plain JSON Schema, compiled by a strict Ajv once TypeBox markers are dropped', () => {
  for (const schema of [configSchema, consoleConfigSchema]) {
    const plain = JSON.parse(JSON.stringify(schema)) as object;
    assert.doesNotThrow(() => new Ajv({ strict: true, useDefaults: true, allowUnionTypes: true }).compile(plain));
  }
  assert.deepEqual(configSchema.required, ['site', 'lane']);
  assert.deepEqual(configSchema.properties.hardware.required, ['relay', 'passageBeam', 'fireAlarm']);
  assert.equal('required' in consoleConfigSchema, false, 'every console key is optional or defaulted');
});

/** Key paths under which every object has a default (or is the top): a minimal config holds each of them once checked. */
function filledPaths(schema: object): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const path of leafKeyPaths(schema)) {
    const parts = path.split('.');
    const chain = parts.map((_, i) => schemaAtKeyPath(schema, parts.slice(0, i + 1).join('.')) as { default?: unknown });
    if (chain.every((node) => node.default !== undefined)) out.push([path, chain.at(-1)!.default]);
  }
  return out;
}

function valueAt(config: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], config);
}

test('config types: every key with a default (in sections with one) is there after a check, as the types say', () => {
  const gate = filledPaths(configSchema);
  assert.ok(gate.some(([path]) => path === 'mqtt.homeAssistant.discoveryPrefix') && gate.length > 30, `${gate.length} defaulted gate keys`);
  const checked = checkConfig(minimal);
  for (const [path, fallback] of gate) assert.deepEqual(valueAt(checked, path), fallback, path);
  const consolePaths = filledPaths(consoleConfigSchema);
  assert.ok(consolePaths.some(([path]) => path === 'store.sqlite.path'));
  const consoleChecked = checkConsoleConfig({});
  for (const [path, fallback] of consolePaths) assert.deepEqual(valueAt(consoleChecked, path), fallback, path);
});

test('config keys: leaf key paths follow $refs and stop at lists', () => {
  const input = StrictObject({ pin: Type.Integer() });
  const probe = StrictObject(
    { a: Type.String(), b: StrictObject({ c: Type.Array(Type.String()), d: StrictObject({ e: Type.Boolean() }) }), f: DefinitionRef('input', input) },
    { $defs: { input } },
  );
  assert.deepEqual(leafKeyPaths(probe), ['a', 'b.c', 'b.d.e', 'f.pin']);
  assert.equal(schemaAtKeyPath(probe, 'f.pin'), input.properties.pin);
  assert.equal(schemaAtKeyPath(probe, 'b.x'), undefined);
  assert.equal(schemaAtKeyPath(probe, 'a.length'), undefined);
  assert.equal(schemaAtKeyPath(probe, 'constructor'), undefined);
});

test('config keys: the gate schema lists its leaf keys, by section', () => {
  for (const key of ['site', 'lane', 'policy.feverThresholdC', 'mqtt.tls.ca', 'mqtt.homeAssistant.enabled', 'hardware.passageBeam.pin', 'hardware.camera.region.width', 'voice.languages', 'log.level']) {
    assert.ok(GATE_CONFIG_KEYS.includes(key as (typeof GATE_CONFIG_KEYS)[number]), key);
  }
  for (const key of ['timing', 'mqtt.tls', 'hardware.passageBeam']) assert.ok(!GATE_CONFIG_KEYS.includes(key as (typeof GATE_CONFIG_KEYS)[number]), key);
  assert.equal(new Set(GATE_CONFIG_KEYS).size, GATE_CONFIG_KEYS.length);
  assert.deepEqual(gateSectionKeys('timing'), ['timing.relayPulseMs', 'timing.passageTimeoutMs', 'timing.denyDisplayMs', 'timing.temperatureDeadlineMs', 'timing.repeatSuppressMs']);
  assert.deepEqual(gateSectionKeys('site'), ['site']);
  assert.deepEqual(leafKeyPaths(consoleConfigSchema).filter((key) => key.startsWith('store.')), ['store.sqlite.path', 'store.postgres.url', 'store.postgres.poolSize']);
});

test('config keys: those set-config may change at run time are keys of the schema', () => {
  for (const key of RUNTIME_CONFIG_KEYS) assert.ok(GATE_CONFIG_KEYS.includes(key as (typeof GATE_CONFIG_KEYS)[number]), key);
});

test("config types: the checked hardware section is what device/'s openLaneHardware takes", () => {
  const checked = checkConfig({ ...minimal, hardware: { relay: { pin: 7 }, passageBeam: { pin: 2 }, fireAlarm: { pin: 3 }, scanner: { path: '/dev/ttyUSB0' } } });
  // The assignment is the check (a compile error if the schema drifts from the drivers' options); the values show the defaults filled.
  const wiring: WiringConfig = checked.hardware!;
  const taken: HardwareConfig = wiring;
  assert.deepEqual(taken.relay, { pin: 7, type: 'NO', failSafe: 'open' });
  assert.deepEqual(taken.passageBeam, { pin: 2, invert: false, pullUp: false, debounceMs: 20 });
  assert.deepEqual(taken.board, { io: 'firmata', readyTimeoutMs: 15000 });
  assert.deepEqual(taken.scanner, { path: '/dev/ttyUSB0', baudRate: 9600, delimiter: 'CRLF' });
});
