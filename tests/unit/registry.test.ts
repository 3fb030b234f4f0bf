/**
 * The topic table (protocol/registry.ts) and what is read from it: every
 * leaf's scope, direction, schema, QoS, retain flag and signed kind as the
 * link has always sent them; the topic tree's leaf lists, subscriptions and
 * parser; the schema of each signed kind; and the lane messages the gate
 * builds from it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { laneMessage } from '../../edge-agent/link/lane-publish.js';
import { schemas, SIGNED_TYPES } from '../../protocol/contract.js';
import { isDownLeaf, isLeaf, leafSignedAs, leafSpec, leavesOf, publishOptions, signedSchema, signedTyp, TOPICS, type Leaf, type SignedLeaf } from '../../protocol/registry.js';
import { LANE_DOWN_LEAVES, LANE_UP_LEAVES, laneSubscriptions, laneTopic, parseTopic, RESERVED_LANE_IDS, SITE_DOWN_LEAVES, siteTopic } from '../../protocol/topics.js';

/** What each leaf carried before the table existed: [scope, direction, schema, qos, retain, signed typ]. */
const EXPECTED: Record<Leaf, [string, string, string, number, boolean, string | null]> = {
  status: ['lane', 'up', 'laneStatus', 1, true, null],
  decision: ['lane', 'up', 'decisionEvent', 1, false, null],
  alert: ['lane', 'up', 'redAlert', 1, false, null],
  fault: ['lane', 'up', 'fault', 1, false, null],
  security: ['lane', 'up', 'securityEvent', 1, false, null],
  telemetry: ['lane', 'up', 'telemetry', 0, false, null],
  'command/result': ['lane', 'up', 'commandResult', 1, false, null],
  'lookup/request': ['lane', 'up', 'lookupRequest', 1, false, null],
  registration: ['lane', 'up', 'sealedRegistration', 1, false, null],
  'colour/applied': ['lane', 'up', 'colourApplied', 1, false, null],
  'ha/state': ['lane', 'up', 'haState', 1, true, null],
  'ha/last-decision': ['lane', 'up', 'haLastDecision', 1, true, null],
  command: ['lane', 'down', 'command', 1, false, 'command'],
  'lookup/reply': ['lane', 'down', 'lookupReply', 1, false, 'lookup-reply'],
  'centre/key': ['site', 'down', 'centreKey', 1, true, 'centre-key'],
  'centre/trust-list': ['site', 'down', 'trustList', 1, true, 'trust-list'],
  'colour/change': ['site', 'down', 'colourChange', 1, false, 'colour-change'],
  'colour/snapshot': ['site', 'down', 'colourSnapshot', 1, true, 'colour-snapshot'],
};

test('every leaf has the scope, direction, schema, QoS, retain flag and signed kind it always had', () => {
  assert.deepEqual(Object.keys(TOPICS), Object.keys(EXPECTED));
  for (const leaf of Object.keys(EXPECTED) as Leaf[]) {
    const spec = leafSpec(leaf);
    assert.deepEqual([spec.scope, spec.direction, spec.schema, spec.qos, spec.retain, spec.signed ?? null], EXPECTED[leaf], leaf);
    assert.ok(spec.schema in schemas, `${leaf}: ${spec.schema} is a contract schema`);
    assert.equal(isDownLeaf(leaf), spec.direction === 'down', leaf);
    // What the centre sends is signed, what the gate sends is not.
    assert.equal(spec.signed !== undefined, spec.direction === 'down', `${leaf}: signed`);
  }
  assert.ok(isLeaf('colour/change') && isLeaf('status'));
  assert.ok(!isLeaf('colour') && !isLeaf('toString') && !isLeaf('status/'));
});

test('the topic tree lists the same leaves in the same order as before', () => {
  assert.deepEqual(LANE_UP_LEAVES, ['status', 'decision', 'alert', 'fault', 'security', 'telemetry', 'command/result', 'lookup/request', 'registration', 'colour/applied', 'ha/state', 'ha/last-decision']);
  assert.deepEqual(LANE_DOWN_LEAVES, ['command', 'lookup/reply']);
  // The centre's key and trust list first: a gate subscribing afresh reads the next key before what it signed.
  assert.deepEqual(SITE_DOWN_LEAVES, ['centre/key', 'centre/trust-list', 'colour/change', 'colour/snapshot']);
  assert.deepEqual(leavesOf('site', 'up'), []);
  // parseTopic tells site leaves by their first segment: each is a reserved lane id, which no lane may take.
  assert.deepEqual([...RESERVED_LANE_IDS], ['centre', 'colour']);
  for (const leaf of SITE_DOWN_LEAVES) assert.ok(RESERVED_LANE_IDS.has(leaf.split('/')[0]!) && leaf.split('/').length === 2, leaf);
  assert.deepEqual(laneSubscriptions('hc/v1', 's1', 'l1'), [
    'hc/v1/s1/centre/key',
    'hc/v1/s1/centre/trust-list',
    'hc/v1/s1/colour/change',
    'hc/v1/s1/colour/snapshot',
    'hc/v1/s1/l1/command',
    'hc/v1/s1/l1/lookup/reply',
  ]);
  assert.equal(laneTopic('hc/v1', 's1', 'l1', 'command/result'), 'hc/v1/s1/l1/command/result');
  assert.equal(siteTopic('site-7/hc', 's1', 'colour/snapshot'), 'site-7/hc/s1/colour/snapshot');
});

test('parseTopic recognises the tree as it did, and nothing else', () => {
  const cases: Array<[string, unknown]> = [
    ['hc/v1/s1/l1/status', { scope: 'lane', site: 's1', lane: 'l1', leaf: 'status' }],
    ['hc/v1/s1/l1/command', { scope: 'lane', site: 's1', lane: 'l1', leaf: 'command' }],
    ['hc/v1/s1/l1/command/result', { scope: 'lane', site: 's1', lane: 'l1', leaf: 'command/result' }],
    ['hc/v1/s1/l1/lookup/reply', { scope: 'lane', site: 's1', lane: 'l1', leaf: 'lookup/reply' }],
    ['hc/v1/s1/l1/ha/last-decision', { scope: 'lane', site: 's1', lane: 'l1', leaf: 'ha/last-decision' }],
    ['hc/v1/s1/l1/colour/applied', { scope: 'lane', site: 's1', lane: 'l1', leaf: 'colour/applied' }],
    ['hc/v1/s_1/lane-2/decision', { scope: 'lane', site: 's_1', lane: 'lane-2', leaf: 'decision' }],
    ['hc/v1/s1/colour/change', { scope: 'site', site: 's1', leaf: 'colour/change' }],
    ['hc/v1/s1/colour/snapshot', { scope: 'site', site: 's1', leaf: 'colour/snapshot' }],
    ['hc/v1/s1/centre/key', { scope: 'site', site: 's1', leaf: 'centre/key' }],
    ['hc/v1/s1/centre/trust-list', { scope: 'site', site: 's1', leaf: 'centre/trust-list' }],
    ['hc/v1/s1/centre/status', null],
    ['hc/v1/s1/centre', null],
    ['hc/v1/s1/centre/colour/change', null],
    // A lane leaf under the site, a site leaf under a lane, and what is no leaf at all.
    ['hc/v1/s1/colour/applied', null],
    ['hc/v1/s1/colour/status', null],
    ['hc/v1/s1/colour', null],
    ['hc/v1/s1/l1/colour/change', null],
    ['hc/v1/s1/l1/command/', null],
    ['hc/v1/s1/l1/result', null],
    ['hc/v1/s1/l1/ha', null],
    ['hc/v1/s1/l1/toString', null],
    ['hc/v1/s1/l1', null],
    ['hc/v1/s1', null],
    // Ids that are not ids, another base, wildcards.
    ['hc/v1//l1/status', null],
    ['hc/v1/s 1/l1/status', null],
    ['hc/v1/s1/+/status', null],
    ['hc/v1/#', null],
    [`hc/v1/${'s'.repeat(65)}/l1/status`, null],
    ['hc/v2/s1/l1/status', null],
    ['hc/v1status', null],
    ['hc/v1', null],
  ];
  for (const [topic, expected] of cases) assert.deepEqual(parseTopic('hc/v1', topic), expected, topic);
  assert.deepEqual(parseTopic('site-7/hc', 'site-7/hc/a/b/telemetry'), { scope: 'lane', site: 'a', lane: 'b', leaf: 'telemetry' });
  // Every leaf of the table parses back to itself.
  for (const leaf of Object.keys(TOPICS) as Leaf[]) {
    const topic = TOPICS[leaf].scope === 'lane' ? `hc/v1/s1/l1/${leaf}` : `hc/v1/s1/${leaf}`;
    assert.equal(parseTopic('hc/v1', topic)?.leaf, leaf, topic);
  }
});

test('each signed kind has the schema of the topic that carries it, whose type is that kind', () => {
  const carried = Object.values(TOPICS).flatMap((spec) => ('signed' in spec ? [spec.signed] : []));
  assert.deepEqual([...carried].sort(), [...SIGNED_TYPES].sort(), 'every signed kind travels on exactly one leaf');
  for (const typ of SIGNED_TYPES) {
    const schema = schemas[signedSchema(typ)];
    assert.equal((schema.properties as { type?: { const?: unknown } }).type?.const, typ, typ);
  }
  assert.equal(signedSchema('command'), 'command');
  assert.equal(signedSchema('colour-snapshot'), 'colourSnapshot');
  assert.equal(signedSchema('trust-list'), 'trustList');
  assert.equal(signedSchema('centre-key'), 'centreKey');
});

test('each signed leaf names its typ, each typ its leaf; publish options are the leaf\'s QoS and retain flag', () => {
  const signed = (Object.keys(TOPICS) as Leaf[]).filter((leaf): leaf is SignedLeaf => EXPECTED[leaf][5] !== null);
  assert.deepEqual(signed, ['command', 'lookup/reply', 'centre/key', 'centre/trust-list', 'colour/change', 'colour/snapshot']);
  for (const leaf of signed) {
    assert.equal(signedTyp(leaf), EXPECTED[leaf][5], leaf);
    assert.equal(leafSignedAs(signedTyp(leaf)), leaf, leaf);
  }
  assert.throws(() => leafSignedAs('key' as 'command'), /no topic carries messages signed as key/);
  for (const leaf of Object.keys(EXPECTED) as Leaf[]) {
    assert.deepEqual(publishOptions(leaf), { qos: EXPECTED[leaf][3], retain: EXPECTED[leaf][4] }, leaf);
  }
});

test("a lane message takes its topic, QoS and retain flag from the leaf, and its payload as JSON", () => {
  const at = { base: 'hc/v1', site: 's1', lane: 'l1' };
  assert.deepEqual(laneMessage(at, 'status', { state: 'offline' }), { topic: 'hc/v1/s1/l1/status', payload: '{"state":"offline"}', qos: 1, retain: true });
  const telemetry = {
    time: '2025-06-15T08:30:00.123Z',
    site: 's1',
    lane: 'l1',
    laneState: 'idle' as const,
    degraded: false,
    colourSyncAgeSeconds: null,
    colourSeq: null,
    outbox: { depth: 0, oldestAgeSeconds: null, dropped: 0 },
    faults: [],
  };
  assert.deepEqual(laneMessage(at, 'telemetry', telemetry), { topic: 'hc/v1/s1/l1/telemetry', payload: JSON.stringify(telemetry), qos: 0, retain: false });
  const result = laneMessage(at, 'command/result', { id: 'c0ffee00-1', commandId: 'c0ffee00-0', time: telemetry.time, site: 's1', lane: 'l1', action: 'open', ok: true, detail: 'opened' });
  assert.equal(result.topic, 'hc/v1/s1/l1/command/result');
  assert.equal(result.qos, 1);
  assert.equal(result.retain, false);
});
