/** Config: the schema checks keys, types and ranges and names what is wrong. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEnvironment, checkConfig, ConfigError, loadConfig } from '../../edge-agent/config/load.js';

const minimal = { site: 'mall', lane: 'lane-1' };

function rejects(input: unknown, message: RegExp): void {
  assert.throws(() => checkConfig(input), (error: unknown) => {
    assert.ok(error instanceof ConfigError, 'a ConfigError');
    assert.match(error.message, message);
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

test('config: fever threshold outside 36.0–40.0 names the key and the limit', () => {
  rejects({ ...minimal, policy: { feverThresholdC: 41 } }, /"policy\.feverThresholdC" must be <= 40; found 41/);
  rejects({ ...minimal, policy: { feverThresholdC: 35.9 } }, /"policy\.feverThresholdC" must be >= 36; found 35\.9/);
});

test('config: an unknown key is named with the keys allowed there', () => {
  rejects({ ...minimal, policy: { feverTreshold: 37 } }, /unknown key "policy\.feverTreshold"; allowed here: feverThresholdC/);
  rejects({ ...minimal, color: 'green' }, /unknown key "color"; allowed here: site, lane, policy/);
});

test('config: a lane cannot be called colour, which the site colour topics use', () => {
  rejects({ ...minimal, lane: 'colour' }, /"lane" cannot be "colour" \(reserved\)/);
});

test('config: mqtt.tls needs cert and key together', () => {
  rejects({ ...minimal, mqtt: { url: 'mqtts://broker:8883', tls: { ca: 'ca.pem', cert: 'gate.pem' } } }, /"mqtt\.tls" must have property key when property cert is present/);
});

test('config: a wrong type is named with what was found', () => {
  rejects({ ...minimal, timing: { relayPulseMs: '3s' } }, /"timing\.relayPulseMs" must be integer; found "3s"/);
  rejects({ ...minimal, policy: 'strict' }, /"policy" must be object; found "strict"/);
});

test('config: an enum names its allowed values', () => {
  rejects({ ...minimal, journal: { sync: 'sometimes' } }, /"journal\.sync" must be one of "full", "normal"; found "sometimes"/);
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
  assert.throws(() => applyEnvironment({ ...minimal }, { GATE__POLICY__FEVERTHRESHOLDC: 'hot' }), /GATE__POLICY__FEVERTHRESHOLDC: "hot" is not a number/);
  assert.throws(() => applyEnvironment({ ...minimal }, { GATE__VOICE__ENABLED: 'yes' }), /GATE__VOICE__ENABLED: "yes" is not true or false/);
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
