/**
 * Home Assistant discovery: every config payload against a JSON Schema
 * written here from Home Assistant's own documentation, every template
 * rendered over sample payloads that pass our contract, and the extension's
 * announce, re-announce, counts and stop with a recording link, a real
 * journal and the lane's events.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { ColourSync } from '../../edge-agent/colour/colour-sync.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import type { Lane } from '../../edge-agent/lane/lane.js';
import { check, LANE_STATES, type SchemaName, type TelemetryMessage } from '../../protocol/contract.js';
import {
  discoveryMessages,
  HomeAssistantDiscovery,
  lastDecisionOf,
  startOfDay,
  type DiscoveryMessage,
  type HaLeaf,
  type HomeAssistantLink,
} from '../../edge-agent/link/home-assistant.js';
import { laneMessage } from '../../edge-agent/link/lane-publish.js';
import type { PayloadOf } from '../../protocol/registry.js';
import { pause, until } from '../support/wait.js';

// ---------------------------------------------------------------------------
// Home Assistant's MQTT discovery options, as documented:
//   https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery (topic format, device and origin blocks, availability)
//   https://www.home-assistant.io/integrations/sensor.mqtt/ (configuration variables)
//   https://www.home-assistant.io/integrations/binary_sensor.mqtt/ (configuration variables)
//   https://developers.home-assistant.io/docs/core/entity/sensor/ (device classes, their units, state classes, enum)
//   https://www.home-assistant.io/integrations/binary_sensor/#device-class
// Full keys only (no abbreviations), every documented key allowed and no
// other, so a misspelt key fails here instead of being ignored by HA. Enums
// hold the documented values this gate uses (a new one is a deliberate edit).

const TEMPLATE = { type: 'string', minLength: 1 } as const;
const TOPIC = { type: 'string', minLength: 1, pattern: '^[^#+]+$' } as const;

const HA_DEVICE = {
  type: 'object',
  additionalProperties: false,
  // "At least one of identifiers or connections must be present to identify the device."
  anyOf: [{ required: ['identifiers'] }, { required: ['connections'] }],
  properties: {
    configuration_url: { type: 'string' },
    connections: { type: 'array', items: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 } },
    hw_version: { type: 'string' },
    identifiers: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] },
    manufacturer: { type: 'string' },
    model: { type: 'string' },
    model_id: { type: 'string' },
    name: { type: 'string' },
    serial_number: { type: 'string' },
    suggested_area: { type: 'string' },
    sw_version: { type: 'string' },
    via_device: { type: 'string' },
  },
} as const;

const HA_ORIGIN = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string' }, sw_version: { type: 'string' }, support_url: { type: 'string' } },
} as const;

const HA_AVAILABILITY = {
  type: 'array',
  minItems: 1,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['topic'],
    properties: { topic: TOPIC, payload_available: { type: 'string' }, payload_not_available: { type: 'string' }, value_template: TEMPLATE },
  },
} as const;

/** Options both components document. */
const COMMON = {
  availability: HA_AVAILABILITY,
  availability_mode: { enum: ['all', 'any', 'latest'] },
  availability_template: TEMPLATE,
  availability_topic: TOPIC,
  device: HA_DEVICE,
  default_entity_id: { type: 'string' },
  enabled_by_default: { type: 'boolean' },
  encoding: { type: 'string' },
  entity_category: { enum: ['diagnostic'] }, // sensors may not be 'config'
  entity_picture: { type: 'string' },
  expire_after: { type: 'integer', minimum: 0 },
  force_update: { type: 'boolean' },
  icon: { type: 'string', pattern: '^mdi:[a-z0-9-]+$' },
  json_attributes_template: TEMPLATE,
  json_attributes_topic: TOPIC,
  name: { type: ['string', 'null'] },
  object_id: { type: 'string' },
  origin: HA_ORIGIN,
  payload_available: { type: 'string' },
  payload_not_available: { type: 'string' },
  platform: { const: 'mqtt' },
  qos: { enum: [0, 1, 2] },
  state_topic: TOPIC,
  unique_id: { type: 'string', minLength: 1 },
  value_template: TEMPLATE,
} as const;

const HA_SENSOR = {
  $id: 'ha-sensor',
  type: 'object',
  additionalProperties: false,
  // state_topic is required by HA; unique_id is what ties an entity to its device (and lets users rename it).
  required: ['state_topic', 'unique_id', 'device', 'name'],
  properties: {
    ...COMMON,
    device_class: { enum: ['enum', 'duration'] },
    last_reset_value_template: TEMPLATE,
    options: { type: 'array', items: { type: 'string' }, minItems: 1, uniqueItems: true },
    state_class: { enum: ['measurement', 'total', 'total_increasing'] },
    suggested_display_precision: { type: 'integer', minimum: 0 },
    unit_of_measurement: { type: 'string' },
  },
  allOf: [
    // enum: "options" lists every state; no state class and no unit.
    {
      if: { required: ['device_class'], properties: { device_class: { const: 'enum' } } },
      then: { required: ['options'], not: { anyOf: [{ required: ['state_class'] }, { required: ['unit_of_measurement'] }] } },
      else: { not: { required: ['options'] } },
    },
    // duration: one of its documented units.
    {
      if: { required: ['device_class'], properties: { device_class: { const: 'duration' } } },
      then: { required: ['unit_of_measurement'], properties: { unit_of_measurement: { enum: ['d', 'h', 'min', 's', 'ms'] } } },
    },
    // last_reset only means something with state class total.
    { if: { required: ['last_reset_value_template'] }, then: { required: ['state_class'], properties: { state_class: { const: 'total' } } } },
  ],
} as const;

const HA_BINARY_SENSOR = {
  $id: 'ha-binary-sensor',
  type: 'object',
  additionalProperties: false,
  required: ['state_topic', 'unique_id', 'device', 'name'],
  properties: {
    ...COMMON,
    device_class: { enum: ['connectivity', 'problem'] },
    off_delay: { type: 'integer', minimum: 0 },
    payload_off: { type: 'string' },
    payload_on: { type: 'string' },
  },
} as const;

// strictRequired off: the if/then rules name keys in required without restating their properties.
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
const validateSensor = ajv.compile(HA_SENSOR);
const validateBinarySensor = ajv.compile(HA_BINARY_SENSOR);

// ---------------------------------------------------------------------------
// Sample payloads of the topics the entities read, each checked by our contract.

const NOW_ISO = '2025-06-15T08:30:00.123Z';
const SAMPLES: Record<string, { schema: SchemaName; payloads: unknown[] }> = {
  status: {
    schema: 'laneStatus',
    payloads: [
      { state: 'online', time: NOW_ISO, laneState: 'idle', degraded: false, staffMode: false },
      // The Last Will, as the link sets it.
      { state: 'offline' },
    ],
  },
  'ha/state': {
    schema: 'haState',
    payloads: [
      {
        time: NOW_ISO,
        laneState: 'held',
        held: true,
        degraded: true,
        sensorFault: true,
        faults: ['thermometer'],
        outboxDepth: 12,
        colourSyncAgeSeconds: 4.2,
        passesToday: 100,
        refusalsToday: 3,
        countsSince: '2025-06-14T16:00:00.000Z',
      },
      {
        time: NOW_ISO,
        laneState: 'idle',
        held: false,
        degraded: false,
        sensorFault: false,
        faults: [],
        outboxDepth: 0,
        colourSyncAgeSeconds: null,
        passesToday: 0,
        refusalsToday: 0,
        countsSince: '2025-06-14T16:00:00.000Z',
      },
    ],
  },
  'ha/last-decision': {
    schema: 'haLastDecision',
    payloads: [
      { verdict: 'hold', reason: 'red-code', colour: 'red', decidedBy: 'pushed-status', time: NOW_ISO },
      { verdict: 'deny', reason: 'no-code', colour: null, decidedBy: 'staff', time: NOW_ISO },
    ],
  },
};

/** The one template form allowed: `{{ value_json.<field> }}`. */
const TEMPLATE_FORM = /^\{\{ value_json\.([A-Za-z_][A-Za-z0-9_]*) \}\}$/;

/** What HA's Jinja renders for `{{ value_json.x }}`: Python's str() of the JSON value. */
function render(template: string, payload: unknown): string {
  const match = TEMPLATE_FORM.exec(template);
  assert.ok(match, `template ${JSON.stringify(template)} is not of the form {{ value_json.<field> }}`);
  const record = payload as Record<string, unknown>;
  assert.ok(match[1]! in record, `field ${match[1]} missing from ${JSON.stringify(payload)}`);
  const value = record[match[1]!];
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  assert.ok(typeof value === 'string' || typeof value === 'number', `${match[1]} renders an object`);
  return String(value);
}

function samplesFor(topic: string): unknown[] {
  const leaf = topic.replace(/^hc\/v1\/s1\/l1\//, '');
  const sample = SAMPLES[leaf];
  assert.ok(sample, `no samples for topic ${topic}`);
  for (const payload of sample.payloads) check(sample.schema, payload);
  return sample.payloads;
}

const messages = discoveryMessages({ site: 's1', lane: 'l1', baseTopic: 'hc/v1', discoveryPrefix: 'homeassistant' });

test('every discovery payload matches Home Assistant\'s documented options for its component', () => {
  assert.equal(messages.length, 10);
  for (const m of messages) {
    const validate = m.component === 'sensor' ? validateSensor : validateBinarySensor;
    assert.ok(validate(m.config), `${m.topic}: ${ajv.errorsText(validate.errors)}`);
    // <discovery_prefix>/<component>/[<node_id>/]<object_id>/config, ids of [a-zA-Z0-9_-].
    assert.match(m.topic, /^homeassistant\/(sensor|binary_sensor)\/[a-zA-Z0-9_-]+\/[a-zA-Z0-9_-]+\/config$/);
    assert.equal(m.topic, `homeassistant/${m.component}/gate-s1-l1/${m.objectId}/config`);
    // Read-only: nothing Home Assistant could send back to the gate.
    for (const key of Object.keys(m.config)) assert.doesNotMatch(key, /command|^cmd_t$/, `${m.topic}: ${key}`);
  }
  const ids = messages.map((m) => m.config.unique_id);
  assert.equal(new Set(ids).size, ids.length, 'unique_id is unique per entity');
  assert.ok(ids.every((id) => typeof id === 'string' && id.startsWith('gate-s1-l1-')), 'unique ids stable per site, lane and entity');
  const devices = new Set(messages.map((m) => JSON.stringify(m.config.device)));
  assert.equal(devices.size, 1, 'one device per lane');
  const device = messages[0]!.config.device as Record<string, unknown>;
  assert.equal(device.name, 'Gate s1/l1');
  assert.deepEqual(device.identifiers, ['gate-s1-l1']);
  const pkg = JSON.parse(fs.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
  assert.equal(device.sw_version, pkg.version);
  assert.equal(device.manufacturer, pkg.name);
  assert.deepEqual(
    messages.map((m) => `${m.component}/${m.objectId}`).sort(),
    [
      'binary_sensor/degraded',
      'binary_sensor/held',
      'binary_sensor/online',
      'binary_sensor/sensor_fault',
      'sensor/colour_sync_age',
      'sensor/lane_state',
      'sensor/last_verdict',
      'sensor/outbox_depth',
      'sensor/passes_today',
      'sensor/refusals_today',
    ],
  );
});

test('the schema refuses what Home Assistant would refuse or ignore', () => {
  const laneState = messages.find((m) => m.objectId === 'lane_state')!.config;
  const syncAge = messages.find((m) => m.objectId === 'colour_sync_age')!.config;
  const online = messages.find((m) => m.objectId === 'online')!.config;
  assert.equal(validateSensor({ ...laneState, command_topic: 'x/set' }), false, 'a command topic');
  assert.equal(validateSensor({ ...laneState, stat_t: 'x' }), false, 'an abbreviation mixed in');
  assert.equal(validateSensor({ ...laneState, state_class: 'measurement' }), false, 'enum with a state class');
  assert.equal(validateSensor({ ...syncAge, unit_of_measurement: 'seconds' }), false, 'a duration unit HA does not know');
  assert.equal(validateSensor({ ...syncAge, device: { name: 'no identifiers' } }), false, 'a device without identifiers');
  assert.equal(validateBinarySensor({ ...online, device_class: 'door' }), false, 'a device class this gate does not use');
  assert.equal(validateBinarySensor({ ...online, availability: [{ payload_available: 'online' }] }), false, 'availability without a topic');
});

test('each template renders a state Home Assistant accepts from real payloads', () => {
  for (const m of messages) {
    const config = m.config as Record<string, unknown> & { state_topic: string; value_template: string };
    for (const payload of samplesFor(config.state_topic)) {
      const rendered = render(config.value_template, payload);
      const where = `${m.objectId} over ${JSON.stringify(payload)}`;
      if (m.component === 'binary_sensor') {
        assert.ok(rendered === config.payload_on || rendered === config.payload_off, `${where}: ${rendered} is neither on nor off`);
      } else if (config.device_class === 'enum') {
        assert.ok((config.options as string[]).includes(rendered), `${where}: ${rendered} not among the options`);
      } else {
        // A numeric sensor: a number, or None, which HA documents as making the state unknown.
        assert.ok(rendered === 'None' || Number.isFinite(Number(rendered)), `${where}: ${rendered} is not a number`);
      }
    }
    const availability = config.availability as Array<{ topic: string; value_template: string; payload_available: string; payload_not_available: string }> | undefined;
    if (m.objectId === 'online') {
      assert.equal(availability, undefined, 'connectivity shows disconnected, not unavailable');
      continue;
    }
    assert.ok(availability?.length === 1, `${m.objectId}: availability`);
    const [online, will] = samplesFor(availability[0]!.topic);
    assert.equal(availability[0]!.topic, 'hc/v1/s1/l1/status');
    assert.equal(render(availability[0]!.value_template, online), availability[0]!.payload_available);
    assert.equal(render(availability[0]!.value_template, will), availability[0]!.payload_not_available, 'the Last Will makes it unavailable');
  }
  const verdict = messages.find((m) => m.objectId === 'last_verdict')!.config;
  assert.equal(verdict.json_attributes_topic, 'hc/v1/s1/l1/ha/last-decision');
  assert.deepEqual(verdict.options, ['pass', 'deny', 'hold']);
  assert.deepEqual(messages.find((m) => m.objectId === 'lane_state')!.config.options, [...LANE_STATES]);
  const counts = messages.filter((m) => m.objectId.endsWith('_today'));
  assert.ok(counts.every((m) => m.config.state_class === 'total_increasing'));
  assert.equal(messages.find((m) => m.objectId === 'online')!.config.payload_off, 'offline');
});

test('the prefix and ids follow the config', () => {
  const other = discoveryMessages({ site: 'mall-1', lane: 'lane-3', baseTopic: 'gates', discoveryPrefix: 'ha/discovery' });
  assert.ok(other.every((m) => m.topic.startsWith(`ha/discovery/${m.component}/gate-mall-1-lane-3/`)));
  assert.ok(other.every((m) => String(m.config.state_topic).startsWith('gates/mall-1/lane-3/')));
  const config = checkConfig({ site: 's1', lane: 'l1' });
  assert.deepEqual(config.mqtt.homeAssistant, { enabled: false, discoveryPrefix: 'homeassistant' });
  assert.throws(() => checkConfig({ site: 's1', lane: 'l1', mqtt: { homeAssistant: { discoveryPrefix: 'home/#' } } }));
});

test('the last decision for Home Assistant never carries the subject, the credential or the temperature', () => {
  const event = decision('pass', new Date().toISOString());
  const message = lastDecisionOf({ ...event, seq: 1 });
  check('haLastDecision', message);
  assert.doesNotMatch(JSON.stringify(message), new RegExp(event.subject!));
  assert.deepEqual(Object.keys(message).sort(), ['colour', 'decidedBy', 'reason', 'time', 'verdict']);
});

// ---------------------------------------------------------------------------
// The extension, with a recording link, a real journal and the lane's events.

const dirs: string[] = [];
after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function decision(verdict: DecisionEvent['verdict'], time: string): Omit<DecisionEvent, 'seq'> {
  return {
    id: randomUUID(),
    time,
    site: 's1',
    lane: 'l1',
    verdict,
    reason: verdict === 'pass' ? 'green-normal' : verdict === 'hold' ? 'red-code' : 'fever',
    decidedBy: 'offline-code',
    subject: `subj${randomUUID().slice(0, 8)}`,
    colour: verdict === 'hold' ? 'red' : 'green',
    temperatureC: 36.6,
    sensorFault: null,
    credential: { profile: 'gzhc', kind: 'dynamic', kid: 'k1', iss: 'GZHC', failure: null },
    decisionMs: 40,
  };
}

class RecordingLink extends EventEmitter implements HomeAssistantLink {
  connected = true;
  published: Array<{ topic: string; payload: string; retain: boolean }> = [];
  handlers = new Map<string, (payload: Buffer) => void>();
  laneState: TelemetryMessage['laneState'] = 'idle';
  faults: string[] = [];
  publishNow(topic: string, payload: string, options: { retain?: boolean } = {}): boolean {
    if (!this.connected) return false;
    this.published.push({ topic, payload, retain: options.retain ?? false });
    return true;
  }
  /** As the link sends on a lane leaf: topic, payload and retain flag from laneMessage. */
  publish<L extends HaLeaf>(leaf: L, payload: PayloadOf<L>): boolean {
    if (!this.connected) return false;
    const { topic, payload: text, retain } = laneMessage({ base: 'hc/v1', site: 's1', lane: 'l1' }, leaf, payload);
    this.published.push({ topic, payload: text, retain });
    return true;
  }
  subscribeExtra(topic: string, handler: (payload: Buffer) => void): () => void {
    this.handlers.set(topic, handler);
    return () => this.handlers.delete(topic);
  }
  telemetry(): TelemetryMessage {
    return {
      time: new Date().toISOString(),
      site: 's1',
      lane: 'l1',
      laneState: this.laneState,
      degraded: false,
      colourSyncAgeSeconds: 1.5,
      colourSeq: 2,
      outbox: { depth: 7, oldestAgeSeconds: 0.5, dropped: 0 },
      faults: this.faults,
    };
  }
  configs(): DiscoveryMessage['topic'][] {
    return this.published.filter((p) => p.topic.endsWith('/config')).map((p) => p.topic);
  }
  last(topic: string): unknown {
    const found = this.published.filter((p) => p.topic === topic).at(-1);
    return found ? JSON.parse(found.payload) : undefined;
  }
}

function rig(options: { reannounceMinMs?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-ha-'));
  dirs.push(dir);
  const journal = Journal.open(path.join(dir, 'journal.db'));
  const link = new RecordingLink();
  const lane = new EventEmitter();
  const colourSync = new EventEmitter();
  const ha = new HomeAssistantDiscovery({
    link,
    lane: lane as unknown as Lane,
    colourSync: colourSync as unknown as ColourSync,
    db: journal.database,
    site: 's1',
    laneId: 'l1',
    baseTopic: 'hc/v1',
    discoveryPrefix: 'homeassistant',
    refreshSeconds: 3600,
    reannounceMinMs: options.reannounceMinMs ?? 200,
    logger: pino({ level: 'silent' }),
  });
  return { journal, link, lane, colourSync, ha };
}

test('announces on start and on every connect, retained; Home Assistant\'s birth message re-announces, throttled; offline does nothing', async (t) => {
  const { journal, link, ha } = rig();
  t.after(() => {
    ha.stop();
    journal.close();
  });
  ha.start();
  assert.equal(link.configs().length, 10);
  assert.ok(link.published.every((p) => p.retain), 'everything it publishes is retained');
  assert.ok(link.handlers.has('homeassistant/status'));
  check('haState', link.last('hc/v1/s1/l1/ha/state'));

  link.emit('connected');
  assert.equal(link.configs().length, 20);

  const birth = link.handlers.get('homeassistant/status')!;
  birth(Buffer.from('offline'));
  await pause(300);
  assert.equal(link.configs().length, 20, 'offline is not a reason to announce');
  birth(Buffer.from('online'));
  birth(Buffer.from('online'));
  birth(Buffer.from('online'));
  await until('the re-announce', () => link.configs().length === 30, 2_000);
  await pause(400);
  assert.equal(link.configs().length, 30, 'three birth messages in a burst make one re-announce');
});

test('counts today\'s passes and refusals from the journal (a restart keeps them), and publishes the last decision after each one', async (t) => {
  const { journal, link, lane, colourSync, ha } = rig();
  t.after(() => {
    ha.stop();
    journal.close();
  });
  const now = new Date();
  const yesterday = new Date(startOfDay(now).getTime() - 60_000).toISOString();
  journal.append(decision('pass', yesterday));
  journal.append(decision('deny', yesterday));
  journal.append(decision('pass', now.toISOString()));
  const held = journal.append(decision('hold', now.toISOString()));
  ha.start();
  let state = check('haState', link.last('hc/v1/s1/l1/ha/state'));
  assert.equal(state.passesToday, 1);
  assert.equal(state.refusalsToday, 1);
  assert.equal(state.countsSince, startOfDay(now).toISOString());
  assert.equal(state.outboxDepth, 7);
  // The last decision is read back from the journal at start, without its subject.
  assert.deepEqual(link.last('hc/v1/s1/l1/ha/last-decision'), lastDecisionOf(held));

  link.laneState = 'held';
  link.faults = ['thermometer'];
  const denied = journal.append(decision('deny', new Date().toISOString()));
  lane.emit('decision', { event: denied });
  lane.emit('state', 'held', 'deciding');
  await until('a new state', () => check('haState', link.last('hc/v1/s1/l1/ha/state')).refusalsToday === 2, 2_000);
  state = check('haState', link.last('hc/v1/s1/l1/ha/state'));
  assert.equal(state.held, true);
  assert.equal(state.sensorFault, true);
  assert.deepEqual(state.faults, ['thermometer']);
  const last = check('haLastDecision', link.last('hc/v1/s1/l1/ha/last-decision'));
  assert.equal(last.verdict, 'deny');
  // Degraded shows at once, not at the next refresh.
  const published = link.published.length;
  colourSync.emit('degraded', { syncAgeMs: null });
  await until('a state after degraded', () => link.published.length > published, 2_000);
  assert.ok(!link.published.some((p) => p.payload.includes(denied.subject!)), 'no subject on any topic');
});

test('stop removes every listener and the birth subscription, and publishes nothing (the retained configs stay)', (t) => {
  const { journal, link, lane, colourSync, ha } = rig();
  t.after(() => journal.close());
  ha.start();
  const before = link.published.length;
  ha.stop();
  assert.equal(link.published.length, before, 'nothing removed or published on stop');
  assert.equal(link.handlers.size, 0);
  assert.equal(link.listenerCount('connected'), 0);
  for (const event of ['state', 'fault', 'decision']) assert.equal(lane.listenerCount(event), 0, event);
  for (const event of ['degraded', 'synced']) assert.equal(colourSync.listenerCount(event), 0, event);
  link.emit('connected');
  assert.equal(link.published.length, before);
});

test('disconnected: nothing published, nothing thrown; the next connect announces', (t) => {
  const { journal, link, ha } = rig();
  t.after(() => {
    ha.stop();
    journal.close();
  });
  link.connected = false;
  ha.start();
  assert.equal(link.published.length, 0);
  link.connected = true;
  link.emit('connected');
  assert.equal(link.configs().length, 10);
});
