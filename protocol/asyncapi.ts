/**
 * docs/asyncapi.yaml, built from the topic table (registry.ts) and the
 * payload schemas (contract.ts), so the document cannot drift from what the
 * agent does: `gate-agent contract` prints it and a test compares it with
 * the file.
 */
import { stringify } from 'yaml';
import { schemas, type SchemaName } from './contract.js';
import { TOPICS, type Leaf, type LeafSpec } from './registry.js';

/** What the document says of each leaf beyond the table: its channel's id and summary. */
const CHANNEL_TEXT: { readonly [L in Leaf]: { id: string; summary: string } } = {
  status: { id: 'laneStatus', summary: 'Online or offline (Last Will), lane state, degraded' },
  decision: { id: 'decision', summary: 'Every decision, from the durable outbox' },
  alert: { id: 'alert', summary: 'A red code showed up: the centre tells the epidemic-control department' },
  fault: { id: 'fault', summary: 'Device and store faults, raised and cleared' },
  security: { id: 'security', summary: 'Messages the gate refused, and why' },
  telemetry: { id: 'telemetry', summary: 'Sensor health, outbox depth, age of the last colour sync' },
  'command/result': { id: 'commandResult', summary: 'The outcome of each accepted command' },
  'lookup/request': { id: 'lookupRequest', summary: 'Ask the centre for a current colour (printed codes, ID-card swipes)' },
  registration: { id: 'registration', summary: 'A staff-assisted registration, sealed to the health authority: only the authority can read it' },
  'colour/applied': { id: 'colourApplied', summary: "A colour change or snapshot this lane applied: seq, the centre's issuedAt and the lane's appliedAt (how long a change took to reach each lane)" },
  'ha/state': { id: 'haState', summary: "Only with mqtt.homeAssistant.enabled: what the lane's Home Assistant entities show (lane state, held, faults, degraded, outbox depth, sync age, today's passes and refusals)" },
  'ha/last-decision': { id: 'haLastDecision', summary: 'Only with mqtt.homeAssistant.enabled: the last verdict, reason, colour and time for Home Assistant; never the subject' },
  command: { id: 'command', summary: 'Open, lock, release a hold, reload the trust list, change a config key: signed by the centre, or (open, lock, release a hold) by an operator key its signed trust list delegates' },
  'lookup/reply': { id: 'lookupReply', summary: 'The centre answers a look-up: signed' },
  'centre/key': { id: 'centreKey', summary: "The centre's next signing key, announced and signed by the current one, with when it takes over and how long the old one is still trusted: retained" },
  'centre/trust-list': { id: 'trustList', summary: 'The issuer trust list (issuer certificates, delegated operator keys), signed by the centre: retained, versioned' },
  'colour/change': { id: 'colourChange', summary: 'Colour changes for the site: signed, sequenced' },
  'colour/snapshot': { id: 'colourSnapshot', summary: 'Every pushed colour of the site: retained, signed, versioned; read again on a gap' },
};

interface ChannelSpec {
  id: string;
  /** Topic under the base, with {site} and {lane}. */
  address: string;
  message: SchemaName;
  /** Who sends it: the gate (send) or the centre (receive, from the gate's side). */
  action: 'send' | 'receive';
  qos: 0 | 1;
  retain: boolean;
  /** For signed messages: the schema of the payload inside the JWS. */
  signedPayload?: SchemaName;
  summary: string;
}

const CHANNELS: ChannelSpec[] = (Object.entries(TOPICS) as [Leaf, LeafSpec][]).map(([leaf, spec]) => ({
  ...CHANNEL_TEXT[leaf],
  address: spec.scope === 'lane' ? `{site}/{lane}/${leaf}` : `{site}/${leaf}`,
  message: spec.signed ? 'signedEnvelope' : spec.schema,
  ...(spec.signed ? { signedPayload: spec.schema } : {}),
  action: spec.direction === 'up' ? 'send' : 'receive',
  qos: spec.qos,
  retain: spec.retain,
}));

const ID_PARAMETER = { description: 'Site or lane id: letters, digits, _ and -, at most 64; a lane is never called "colour" or "centre"' };

export function asyncApiDocument(baseTopic = 'hc/v1'): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const c of CHANNELS) {
    const messageId = c.signedPayload ? `${c.signedPayload}Signed` : c.message;
    messages[messageId] = {
      name: messageId,
      title: schemas[c.signedPayload ?? c.message].title,
      contentType: 'application/json',
      payload: { $ref: `#/components/schemas/${c.message}` },
      ...(c.signedPayload ? { 'x-signed-payload': { $ref: `#/components/schemas/${c.signedPayload}` } } : {}),
    };
    const parameters = c.address.includes('{lane}') ? { site: ID_PARAMETER, lane: ID_PARAMETER } : { site: ID_PARAMETER };
    channels[c.id] = {
      address: `${baseTopic}/${c.address}`,
      description: c.summary,
      parameters,
      messages: { [messageId]: { $ref: `#/components/messages/${messageId}` } },
    };
    operations[`${c.action === 'send' ? 'send' : 'receive'}${c.id[0]!.toUpperCase()}${c.id.slice(1)}`] = {
      action: c.action,
      channel: { $ref: `#/channels/${c.id}` },
      bindings: { mqtt: { qos: c.qos, retain: c.retain, bindingVersion: '0.2.0' } },
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Health-code gate MQTT link',
      version: '1.0.0',
      description: [
        'What a gate sends to the centre and accepts from it. Generated by `gate-agent contract` from protocol/contract.ts and registry.ts; do not edit by hand.',
        `Topics sit under a configurable base (mqtt.baseTopic, default ${baseTopic}).`,
        'Operations are written from the gate\'s side: send is gate to centre, receive is centre to gate.',
        'Everything the centre sends is a JWS (flattened JSON serialization) whose protected header names alg (ES256 or EdDSA), kid and typ; x-signed-payload is the schema of the signed payload.',
        'The gate publishes events (decision, alert, fault, security, command result) from a durable on-disk outbox: at least once, in order per lane; consumers drop duplicates by id.',
        'Incoming messages larger than mqtt.maxMessageBytes, not JSON, nested deeper than 32 levels, not matching their schema, unsigned, signed by an unknown key, stale or replayed are dropped and reported on the security topic.',
      ].join('\n'),
      license: { name: 'Apache-2.0' },
    },
    defaultContentType: 'application/json',
    servers: {
      embedded: { host: 'localhost:1883', protocol: 'mqtt', description: 'The aedes broker `npm start` embeds' },
      site: {
        host: '{broker}:8883',
        protocol: 'secure-mqtt',
        description: 'A site broker: TLS with server verification; each gate authenticates with its client certificate (or username and password) and may use only its own topics (per-device ACL).',
        variables: { broker: { description: 'Broker host name' } },
        security: [{ $ref: '#/components/securitySchemes/clientCertificate' }, { $ref: '#/components/securitySchemes/password' }],
      },
    },
    channels,
    operations,
    components: {
      securitySchemes: {
        clientCertificate: { type: 'X509', description: 'mTLS: a certificate from the site CA, one per gate' },
        password: { type: 'userPassword', description: 'MQTT username and password, over TLS' },
      },
      messages,
      schemas: { ...schemas },
    },
  };
}

export function asyncApiYaml(baseTopic?: string): string {
  return stringify(asyncApiDocument(baseTopic), { lineWidth: 0, aliasDuplicateObjects: false });
}
