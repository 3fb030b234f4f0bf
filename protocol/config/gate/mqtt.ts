/** The link to the site broker: where it is, how the gate signs in, what it takes from the centre. */
import { Type, type Static } from '@sinclair/typebox';
import { Choice, Defaulted, FilledObject, StrictObject } from '../schema-kit.js';

export const mqttTlsSchema = StrictObject(
  {
    ca: Type.String({ minLength: 1, description: 'PEM file of the CA(s) that signed the broker certificate' }),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate (mTLS)' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of the client certificate' })),
    keyPassphrase: Type.Optional(Type.String({ description: 'Passphrase of an encrypted key' })),
    servername: Type.Optional(Type.String({ minLength: 1, description: 'Name to verify the broker certificate against; default the URL host' })),
  },
  {
    description: 'For mqtts:// and wss://. The server is always verified against ca.',
    dependencies: { cert: ['key'], key: ['cert'] },
  },
);

export const homeAssistantSchema = FilledObject(
  {
    enabled: Defaulted(Type.Boolean(), false),
    discoveryPrefix: Defaulted(
      Type.String({
        pattern: '^[^#+/]+(/[^#+/]+)*$',
        description: "Home Assistant's discovery prefix; the ACL gate-provision writes allows the default only",
      }),
      'homeassistant',
    ),
  },
  {
    // Off by default: the discovery configs are retained, and a site broker without Home Assistant would keep
    // them (and the lane's ha/ topics) for nobody; the centre needs none of it.
    description: 'Home Assistant MQTT discovery: the lane announces itself as a read-only device (README, "Home Assistant")',
  },
);

export const mqttSchema = FilledObject({
  url: Type.Optional(Type.String({ pattern: '^(mqtts?|wss?)://', description: 'Broker URL; absent: no broker' })),
  baseTopic: Defaulted(Type.String({ minLength: 1, pattern: '^[^#+]+$' }), 'hc/v1'),
  clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'MQTT client id; default gate-<site>-<lane>' })),
  protocolVersion: Defaulted(
    Choice([4, 5], {
      description: '5 (MQTT 5: refusals carry a reason, sessions an expiry) or 4 (MQTT 3.1.1, for brokers without 5, such as the embedded aedes)',
    }),
    5,
  ),
  username: Type.Optional(Type.String({ minLength: 1 })),
  password: Type.Optional(Type.String({ minLength: 1, description: 'Prefer passwordFile: a password here sits in the config file' })),
  passwordFile: Type.Optional(Type.String({ minLength: 1, description: 'File whose first line is the password' })),
  tls: Type.Optional(mqttTlsSchema),
  centreKeys: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'File or folder of the centre signing certificates (PEM or DER) that sign colour changes, snapshots, look-up replies and commands; without it every signed message is refused',
    }),
  ),
  // The largest message the centre sends is the retained colour snapshot: about 100 bytes a status once
  // signed (a 16-character subject, JSON then base64url in the JWS; 160 with a 64-character one), so 4 MiB
  // holds some 40,000 statuses. A site with more raises it; anything larger costs memory and parse time.
  maxMessageBytes: Defaulted(
    Type.Integer({ minimum: 1024, maximum: 16777216, description: 'Incoming messages larger than this are dropped unread' }),
    4194304,
  ),
  commandMaxAgeSeconds: Defaulted(
    Type.Integer({
      minimum: 5,
      maximum: 3600,
      description: 'A command issued longer ago than this (or this far in the future) is refused as stale',
    }),
    120,
  ),
  lookupTimeoutMs: Defaulted(Type.Integer({ minimum: 100, maximum: 10000, description: 'Deadline of an online look-up' }), 1500),
  telemetryIntervalSeconds: Defaulted(Type.Integer({ minimum: 1, maximum: 3600 }), 30),
  homeAssistant: homeAssistantSchema,
});

export type MqttTlsConfig = Static<typeof mqttTlsSchema>;
export type HomeAssistantConfig = Static<typeof homeAssistantSchema>;
export type MqttConfig = Static<typeof mqttSchema>;
