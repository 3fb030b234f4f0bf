/**
 * The MQTT contract: docs/asyncapi.yaml is what the code generates, it is a
 * valid AsyncAPI 3.0.0 document (checked against the official JSON Schema
 * from @asyncapi/specs), its references all resolve, every channel carries
 * the payload schema contract.ts defines, each schema accepts a good
 * message and refuses one with a single field wrong, and every number in
 * every schema is bounded to what the stores hold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { asyncApiDocument, asyncApiYaml } from '../../protocol/asyncapi.js';
import { configSchema } from '../../protocol/config/gate-schema.js';
import { RUNTIME_CONFIG_KEYS } from '../../edge-agent/components/config-keys.js';
import { check, schemas, type ContractTypes, type SchemaName } from '../../protocol/contract.js';
import { isContractError, MessageError } from '../../protocol/message-error.js';
import { LANE_DOWN_LEAVES, LANE_UP_LEAVES, SITE_DOWN_LEAVES } from '../../protocol/topics.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const docPath = `${repoRoot}docs/asyncapi.yaml`;
const specPath = `${repoRoot}node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function loadDoc(): JsonObject {
  return parse(readFileSync(docPath, 'utf8')) as JsonObject;
}

let specValidator: ValidateFunction | null = null;
function asyncApiValidator(): ValidateFunction {
  // The spec schema uses formats and keywords ajv's strict mode refuses; formats are not what is tested here.
  specValidator ??= new Ajv({ strict: false, validateFormats: false, allErrors: true }).compile(JSON.parse(readFileSync(specPath, 'utf8')) as object);
  return specValidator;
}

function specErrors(doc: unknown): string[] {
  const validate = asyncApiValidator();
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '(document)'} ${e.message ?? 'is not valid'}`);
}

/** A JSON pointer fragment (#/a/b~1c) resolved in `doc`; undefined when it leads nowhere. */
function resolvePointer(doc: Json, ref: string): Json | undefined {
  if (!ref.startsWith('#')) return undefined;
  let node: Json | undefined = doc;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object') return undefined;
    node = Array.isArray(node) ? node[Number(part)] : Object.hasOwn(node, part) ? node[part] : undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

/** Every `$ref` in the document that does not resolve, with where it sits. */
function brokenRefs(doc: JsonObject): string[] {
  const broken: string[] = [];
  const walk = (node: Json, path: string): void => {
    if (node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${path}/${i}`));
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && (typeof value !== 'string' || resolvePointer(doc, value) === undefined)) broken.push(`${path}: ${JSON.stringify(value)}`);
      walk(value, `${path}/${key}`);
    }
  };
  walk(doc, '');
  return broken;
}

function refName(node: Json | undefined, prefix: string): string {
  const ref = node !== null && typeof node === 'object' && !Array.isArray(node) ? node.$ref : undefined;
  assert.ok(typeof ref === 'string' && ref.startsWith(prefix), `expected a $ref under ${prefix}, got ${JSON.stringify(node)}`);
  return ref.slice(prefix.length);
}

function asObject(node: Json | undefined, what: string): JsonObject {
  assert.ok(node !== null && typeof node === 'object' && !Array.isArray(node), `${what} is not an object`);
  return node;
}

test('docs/asyncapi.yaml is what the code generates', () => {
  assert.equal(
    readFileSync(docPath, 'utf8'),
    asyncApiYaml(),
    'docs/asyncapi.yaml is out of date: run `node dist/edge-agent/cli/main.js contract > docs/asyncapi.yaml`',
  );
});

test('the document is valid AsyncAPI 3.0.0, and an edited copy is not', () => {
  const doc = loadDoc();
  assert.equal(doc.asyncapi, '3.0.0');
  assert.deepEqual(specErrors(doc), []);

  // The check can fail: 'publish' is AsyncAPI 2's word, gone in 3.0.
  const publish = structuredClone(doc);
  const operations = asObject(publish.operations, 'operations');
  const first = Object.keys(operations)[0]!;
  asObject(operations[first], first).action = 'publish';
  assert.ok(specErrors(publish).some((e) => e.startsWith(`/operations/${first}/action`)), `action publish accepted: ${specErrors(publish).join('; ')}`);

  const noInfo = structuredClone(doc);
  delete noInfo.info;
  assert.notDeepEqual(specErrors(noInfo), [], 'a document without info accepted');
});

test('every $ref in the document resolves', () => {
  const doc = loadDoc();
  assert.deepEqual(brokenRefs(doc), []);
  let refs = 0;
  JSON.stringify(doc, (key, value: unknown) => {
    if (key === '$ref') refs++;
    return value;
  });
  assert.ok(refs >= 40, `only ${refs} $refs: the walk missed them`);

  const broken = structuredClone(doc);
  const channels = asObject(broken.channels, 'channels');
  const decision = asObject(asObject(channels.decision, 'decision').messages, 'decision messages');
  decision.decisionEvent = { $ref: '#/components/messages/noSuchMessage' };
  assert.deepEqual(brokenRefs(broken), ['/channels/decision/messages/decisionEvent: "#/components/messages/noSuchMessage"']);
});

test("every channel's payload schema is contract.ts's, and every topic of the tree has its channel", () => {
  const doc = loadDoc();
  const components = asObject(doc.components, 'components');
  const docSchemas = asObject(components.schemas, 'components.schemas');
  // JSON round trip: the contract's schemas are `as const` objects, the doc's came from YAML.
  assert.deepEqual(docSchemas, JSON.parse(JSON.stringify(schemas)));

  const channels = asObject(doc.channels, 'channels');
  const operations = Object.values(asObject(doc.operations, 'operations')).map((op) => asObject(op, 'operation'));
  const seen = new Map<string, { action: string; payload: string; signed: string | null }>();
  for (const [id, channelNode] of Object.entries(channels)) {
    const channel = asObject(channelNode, id);
    const address = channel.address;
    assert.ok(typeof address === 'string' && address.startsWith('hc/v1/{site}/'), `${id}: address ${String(address)}`);
    const channelMessages = Object.values(asObject(channel.messages, `${id}.messages`));
    assert.equal(channelMessages.length, 1, `${id} carries one message`);
    const message = asObject(resolvePointer(doc, `#/components/messages/${refName(channelMessages[0], '#/components/messages/')}`), `${id} message`);
    const payload = refName(message.payload, '#/components/schemas/');
    assert.ok(payload in schemas, `${id}: payload ${payload} is not a contract schema`);
    assert.deepEqual(docSchemas[payload], JSON.parse(JSON.stringify(schemas[payload as SchemaName])), `${id}: payload schema differs from contract.ts`);
    const signed = message['x-signed-payload'] === undefined ? null : refName(message['x-signed-payload'], '#/components/schemas/');
    if (signed !== null) {
      assert.equal(payload, 'signedEnvelope', `${id}: a signed message travels as a JWS`);
      assert.ok(signed in schemas, `${id}: signed payload ${signed} is not a contract schema`);
    }
    const ops = operations.filter((op) => refName(op.channel, '#/channels/') === id);
    assert.equal(ops.length, 1, `${id} has one operation`);
    seen.set(address.replace(/^hc\/v1\/\{site\}\/(\{lane\}\/)?/, (_all, lane: string | undefined) => (lane ? 'lane:' : 'site:')), {
      action: String(ops[0]!.action),
      payload,
      signed,
    });
  }

  // The topic tree and the document agree on every leaf and on its direction.
  const expected = [
    ...LANE_UP_LEAVES.map((leaf) => [`lane:${leaf}`, 'send'] as const),
    ...LANE_DOWN_LEAVES.map((leaf) => [`lane:${leaf}`, 'receive'] as const),
    ...SITE_DOWN_LEAVES.map((leaf) => [`site:${leaf}`, 'receive'] as const),
  ];
  assert.deepEqual([...seen.keys()].sort(), expected.map(([key]) => key).sort());
  for (const [key, action] of expected) {
    const channel = seen.get(key)!;
    assert.equal(channel.action, action, `${key}: action`);
    // What the centre sends is signed; what the gate sends is not.
    assert.equal(channel.signed !== null, action === 'receive', `${key}: signed`);
  }
});

// ---------------------------------------------------------------------------
// One good message per schema, and one field to get wrong.

const NOW_ISO = '2025-06-15T08:30:00.123Z';
const NOW_MS = 1_750_000_000_000;
const UUID = '0b6f7a52-6c1e-4f0a-9a51-2f0c2b1e9d47';
/** A certificate's shape as the schema sees it (the readers parse it). */
const CERTIFICATE = `-----BEGIN CERTIFICATE-----\nMIIBfzCCASWgAwIBAgIJ${'A'.repeat(60)}\n-----END CERTIFICATE-----\n`;

const samples: { [N in SchemaName]: ContractTypes[N] } = {
  laneStatus: { state: 'online', time: NOW_ISO, laneState: 'idle', degraded: false, staffMode: false },
  decisionEvent: {
    id: UUID,
    seq: 7,
    time: NOW_ISO,
    site: 's1',
    lane: 'l1',
    verdict: 'pass',
    reason: 'green-normal',
    decidedBy: 'offline-code',
    subject: 'u3Jx0q1b9cZ2yA7k',
    colour: 'green',
    temperatureC: 36.5,
    sensorFault: null,
    credential: { profile: 'gzhc', kind: 'dynamic', kid: 'AbCdEfGh', iss: 'GZ-HC-DEMO', failure: null },
    decisionMs: 58.6,
    degraded: false,
  },
  redAlert: { id: `${UUID}.alert`, eventId: UUID, time: NOW_ISO, site: 's1', lane: 'l1', subject: 'u3Jx0q1b9cZ2yA7k', colour: 'red', decidedBy: 'pushed-status' },
  sealedRegistration: { id: `${UUID}.registration`, v: 1, kid: 'AAAAAAAAAAAAAAAAAAAAAA', eventId: UUID, site: 's1', lane: 'l1', time: NOW_ISO, epk: 'ZXBr', salt: 'c2FsdA', nonce: 'bm9uY2U', ct: 'Y3Q', tag: 'dGFn' },
  fault: { id: UUID, time: NOW_ISO, site: 's1', lane: 'l1', kind: 'thermometer', detail: 'checksum: PEC mismatch', active: true },
  securityEvent: { id: UUID, time: NOW_ISO, site: 's1', lane: 'l1', topic: 'hc/v1/s1/l1/command', kind: 'bad-signature', detail: 'signature does not verify' },
  telemetry: {
    time: NOW_ISO,
    site: 's1',
    lane: 'l1',
    laneState: 'idle',
    degraded: false,
    colourSyncAgeSeconds: 2.4,
    colourSeq: 3,
    outbox: { depth: 0, oldestAgeSeconds: null, dropped: 0 },
    faults: [],
  },
  commandResult: { id: UUID, commandId: UUID, time: NOW_ISO, site: 's1', lane: 'l1', action: 'set-config', ok: true, detail: 'policy.feverThresholdC = 37.5', signedBy: 'centre' },
  colourApplied: { id: UUID, site: 's1', lane: 'l1', seq: 4, issuedAt: NOW_MS, appliedAt: NOW_MS + 180, via: 'change', changes: 1 },
  haState: {
    time: NOW_ISO,
    laneState: 'held',
    held: true,
    degraded: false,
    sensorFault: true,
    faults: ['thermometer'],
    outboxDepth: 3,
    colourSyncAgeSeconds: null,
    passesToday: 120,
    refusalsToday: 4,
    countsSince: '2025-06-14T16:00:00.000Z',
  },
  haLastDecision: { verdict: 'hold', reason: 'red-code', colour: 'red', decidedBy: 'pushed-status', time: NOW_ISO },
  lookupRequest: { correlationId: UUID, time: NOW_ISO, deadline: NOW_MS + 1500, site: 's1', lane: 'l1', kind: 'printed-code', key: 'u3Jx0q1b9cZ2yA7k' },
  signedEnvelope: { protected: 'eyJhbGciOiJFUzI1NiJ9', payload: 'eyJ0eXBlIjoiY29tbWFuZCJ9', signature: 'c2lnbmF0dXJl' },
  jwsHeader: { alg: 'ES256', kid: 'AbCdEfGhIjk', typ: 'command' },
  colourChange: { type: 'colour-change', site: 's1', seq: 4, issuedAt: NOW_MS, changes: [{ sub: 'u3Jx0q1b9cZ2yA7k', colour: 'red', effectiveAt: NOW_MS }] },
  colourSnapshot: { type: 'colour-snapshot', site: 's1', version: 2, seq: 4, issuedAt: NOW_MS, statuses: [{ sub: 'u3Jx0q1b9cZ2yA7k', colour: 'red', effectiveAt: NOW_MS }] },
  command: { type: 'command', id: UUID, site: 's1', lane: 'l1', issuedAt: NOW_MS, action: 'set-config', key: 'policy.feverThresholdC', value: 37.5 },
  lookupReply: { type: 'lookup-reply', correlationId: UUID, site: 's1', lane: 'l1', issuedAt: NOW_MS, colour: 'green', effectiveAt: NOW_MS },
  centreKey: { type: 'centre-key', site: 's1', version: 1, issuedAt: NOW_MS, certificate: CERTIFICATE, activeFrom: NOW_MS + 86_400_000, previousUntil: NOW_MS + 8 * 86_400_000 },
  trustList: {
    type: 'trust-list',
    site: 's1',
    version: 3,
    issuedAt: NOW_MS,
    certificates: [CERTIFICATE],
    operators: [{ name: 'duty-desk', certificate: CERTIFICATE, actions: ['open', 'lock'], notBefore: NOW_MS, notAfter: NOW_MS + 86_400_000 }],
  },
};

/** Per schema: a dotted field path and a value that field must refuse. */
const wrongField: { [N in SchemaName]: [string, unknown] } = {
  laneStatus: ['state', 'sleeping'],
  decisionEvent: ['verdict', 'maybe'],
  redAlert: ['colour', 'yellow'],
  sealedRegistration: ['ct', 'not base64url!'],
  fault: ['kind', 'Thermometer Fault'],
  securityEvent: ['kind', 'rude'],
  telemetry: ['outbox.depth', -1],
  commandResult: ['ok', 'yes'],
  colourApplied: ['via', 'carrier-pigeon'],
  haState: ['passesToday', -1],
  haLastDecision: ['verdict', 'maybe'],
  lookupRequest: ['kind', 'id-number'],
  signedEnvelope: ['signature', 'not base64url!'],
  jwsHeader: ['kid', 7],
  colourChange: ['changes.0.colour', 'blue'],
  colourSnapshot: ['version', 0],
  command: ['action', 'self-destruct'],
  lookupReply: ['site', 'has spaces'],
  centreKey: ['activeFrom', -1],
  trustList: ['certificates', []],
};

function withField(value: unknown, path: string, replacement: unknown): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  const parts = path.split('.');
  let node: Record<string, unknown> = copy;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  assert.ok(parts.at(-1)! in node, `sample has no field ${path}`);
  node[parts.at(-1)!] = replacement;
  return copy;
}

test('each schema accepts a good message and refuses one with a field wrong, naming the field', () => {
  assert.deepEqual(Object.keys(samples).sort(), Object.keys(schemas).sort());
  for (const name of Object.keys(schemas) as SchemaName[]) {
    assert.deepEqual(check(name, samples[name]), samples[name], `${name}: the good sample`);
    const [field, bad] = wrongField[name];
    assert.throws(
      () => check(name, withField(samples[name], field, bad)),
      (error: unknown) => {
        assert.ok(error instanceof MessageError, `${name}: ${String(error)}`);
        assert.equal(error.code, 'contract');
        assert.equal(error.schema, name);
        assert.ok(error.message.startsWith(`${schemas[name].title}: ${field} `), `${name}: "${error.message}" does not name ${field}`);
        return true;
      },
      `${name}: ${field} = ${JSON.stringify(bad)} accepted`,
    );
    // An unknown field is refused too: every object in the contract is closed.
    assert.throws(() => check(name, { ...(samples[name] as object), surplus: 1 }), isContractError, `${name}: an extra field accepted`);
  }
});

test('the generated document follows the base topic', () => {
  const doc = asyncApiDocument('site-7/hc');
  const channels = asObject(doc.channels as Json, 'channels');
  for (const [id, channel] of Object.entries(channels)) {
    assert.match(String(asObject(channel, id).address), /^site-7\/hc\/\{site\}\//, id);
  }
  assert.deepEqual(specErrors(JSON.parse(JSON.stringify(doc))), []);
});

// ---------------------------------------------------------------------------
// Every number bounded: a new integer or number field without a minimum and a
// maximum (within Number.MAX_SAFE_INTEGER) fails here.

interface SchemaNode {
  type?: string | string[];
  minimum?: number;
  maximum?: number;
  const?: unknown;
  enum?: unknown[];
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
}

/** Fields that take any JSON value on purpose, and what bounds them instead. */
const UNTYPED: Record<string, string> = {
  'command.value': 'set-config: checked against the config schema of its key (the run-time keys are bounded: the next test)',
};

/** What is wrong with the numbers of one schema: each unbounded field by its path. */
function unboundedNumbers(node: SchemaNode, path: string, found: string[], untyped: string[]): void {
  if (node.const !== undefined || node.enum !== undefined) return;
  const branches = [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])];
  branches.forEach((branch) => unboundedNumbers(branch, path, found, untyped));
  if (node.type === undefined) {
    if (branches.length === 0) untyped.push(path);
    return;
  }
  const types = ([] as string[]).concat(node.type);
  if (types.includes('integer') || types.includes('number')) {
    const { minimum, maximum } = node;
    const safe = (n: unknown): boolean => typeof n === 'number' && Math.abs(n) <= Number.MAX_SAFE_INTEGER && (!types.includes('integer') || Number.isSafeInteger(n));
    if (!safe(minimum) || !safe(maximum) || minimum! > maximum!) found.push(`${path} (minimum ${String(minimum)}, maximum ${String(maximum)})`);
  }
  for (const [key, child] of Object.entries(node.properties ?? {})) unboundedNumbers(child, path ? `${path}.${key}` : key, found, untyped);
  if (node.items) unboundedNumbers(node.items, `${path}[]`, found, untyped);
  if (typeof node.additionalProperties === 'object') unboundedNumbers(node.additionalProperties, `${path}.*`, found, untyped);
}

test('every integer and number in the contract has a minimum and a maximum within Number.MAX_SAFE_INTEGER', () => {
  const found: string[] = [];
  const untyped: string[] = [];
  for (const name of Object.keys(schemas) as SchemaName[]) unboundedNumbers(schemas[name] as unknown as SchemaNode, name, found, untyped);
  assert.deepEqual(found, [], `unbounded: ${found.join(', ')}`);
  assert.deepEqual(untyped.sort(), Object.keys(UNTYPED).sort(), 'a field that takes any value: bound it, or say in UNTYPED what bounds it');
  // The walk itself: it finds what it must.
  const probe: string[] = [];
  unboundedNumbers({ type: 'object', properties: { a: { type: 'integer', minimum: 0 }, b: { anyOf: [{ type: 'number', minimum: 0, maximum: 1e21 }, { type: 'null' }] }, c: { type: 'array', items: { type: ['integer', 'null'], minimum: 0, maximum: 1 } } } }, 'probe', probe, []);
  assert.deepEqual(probe, ['probe.a (minimum 0, maximum undefined)', 'probe.b (minimum 0, maximum 1e+21)']);
});

test('the config keys set-config may change at run time are bounded numbers too, when they are numbers', () => {
  const unbounded: string[] = [];
  for (const key of RUNTIME_CONFIG_KEYS) {
    let node = configSchema as unknown as SchemaNode;
    for (const part of key.split('.')) node = node.properties![part]!;
    unboundedNumbers(node, key, unbounded, []);
  }
  assert.deepEqual(unbounded, []);
});

test('a seq, a version or a count past Number.MAX_SAFE_INTEGER is refused, naming the field', () => {
  const cases: Array<[SchemaName, string, number]> = [
    ['colourChange', 'seq', 1e21],
    ['colourSnapshot', 'version', 1e21],
    ['colourSnapshot', 'seq', Number.MAX_SAFE_INTEGER + 1],
    ['decisionEvent', 'seq', 2 ** 63],
    ['colourApplied', 'seq', 1e21],
    ['telemetry', 'outbox.dropped', 1e21],
    ['command', 'issuedAt', 1e21],
    ['lookupReply', 'effectiveAt', 8.64e15],
  ];
  for (const [name, field, value] of cases) {
    assert.throws(
      () => check(name, withField(samples[name], field, value)),
      (error: unknown) => isContractError(error) && error.message.startsWith(`${schemas[name].title}: ${field} must be <=`),
      `${name}.${field} = ${value} accepted`,
    );
  }
  assert.deepEqual(check('colourChange', withField(samples.colourChange, 'seq', Number.MAX_SAFE_INTEGER)), withField(samples.colourChange, 'seq', Number.MAX_SAFE_INTEGER));
});
