/**
 * The console's settings as one JSON Schema (console.yaml or JSON), built
 * as the gate's is (gate-schema.ts); the types are the schema's own, as a
 * config is once checked and its defaults filled (console-config.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import { PASSWORD_HASH_PATTERN } from '../privacy/passwords.js';
import { Choice, Defaulted, FilledObject, StrictObject } from './schema-kit.js';

export const consoleBrokerSchema = FilledObject({
  url: Defaulted(Type.String({ pattern: '^(mqtt|mqtts|ws|wss)://' }), 'mqtt://127.0.0.1:1883'),
  tls: Type.Optional(
    StrictObject({
      ca: Type.String({ minLength: 1, description: 'PEM file of the CA that signed the broker certificate' }),
      cert: Type.Optional(Type.String({ minLength: 1, description: 'Client certificate (PEM) for mTLS' })),
      key: Type.Optional(Type.String({ minLength: 1, description: 'Client private key (PEM) for mTLS' })),
      servername: Type.Optional(Type.String({ minLength: 1 })),
    }),
  ),
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  clientId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
  protocolVersion: Defaulted(Choice([4, 5]), 5),
});

export const consoleHttpSchema = FilledObject({
  host: Defaulted(Type.String({ minLength: 1 }), '127.0.0.1'),
  port: Defaulted(Type.Integer({ minimum: 0, maximum: 65535 }), 8090),
  tls: Type.Optional(
    StrictObject(
      { cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) },
      { description: 'Serve HTTPS: required on any address other than loopback' },
    ),
  ),
});

export const consoleStoreSchema = FilledObject({
  sqlite: FilledObject({ path: Defaulted(Type.String({ minLength: 1 }), 'data/console.db') }),
  postgres: Type.Optional(
    StrictObject(
      {
        url: Type.String({
          pattern: '^postgres(ql)?://',
          description: 'postgres://user:password@host:port/database; the database must exist, the tables are made',
        }),
        poolSize: Defaulted(Type.Integer({ minimum: 1, maximum: 100, description: 'Connections kept open to the database' }), 10),
      },
      { description: "Keep the console's data in PostgreSQL instead of the SQLite file" },
    ),
  ),
});

export const consoleUserSchema = StrictObject({
  name: Type.String({ pattern: '^[A-Za-z0-9_.@-]{1,64}$' }),
  role: Choice(['operator', 'viewer']),
  passwordHash: Type.String({ pattern: PASSWORD_HASH_PATTERN, description: 'From `node dist/console/main.js hash-password`' }),
});

export const consoleOperatorKeySchema = StrictObject(
  {
    key: Type.String({ minLength: 1, description: 'PEM private key (EC P-256 or Ed25519) commands are signed with' }),
    certificate: Type.String({ minLength: 1, description: 'Its PEM certificate; gates must trust it (mqtt.centreKeys)' }),
    passphrase: Type.Optional(Type.String()),
  },
  { description: 'Without it, commands are disabled' },
);

export const consoleCentreSchema = StrictObject(
  {
    url: Type.String({ pattern: '^https?://', description: "The centre's API, e.g. https://centre.internal:8093; http:// only on loopback (the token would cross the network in clear)" }),
    tokenFile: Type.String({ minLength: 1, description: "File holding the bearer token of the console's client at the centre (a viewer: `gate-centre token`)" }),
    ca: Type.Optional(Type.String({ minLength: 1, description: "PEM file of the CA that signed the centre's HTTPS certificate" })),
    timeoutMs: Defaulted(Type.Integer({ minimum: 100, maximum: 30_000, description: 'How long one look-up at the centre may take; past it the delivery state is unknown' }), 3000),
    cacheSeconds: Defaulted(Type.Integer({ minimum: 1, maximum: 300, description: "How long the centre's answer (or its silence) is reused, whatever the number of pages" }), 5),
  },
  { description: "The centre that delivers red-code alerts to the epidemic-control department: each alert's delivery state is read from it; without it none is shown" },
);

export const consoleConfigSchema = StrictObject({
  broker: consoleBrokerSchema,
  baseTopic: Defaulted(Type.String({ pattern: '^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$' }), 'hc/v1'),
  http: consoleHttpSchema,
  store: consoleStoreSchema,
  users: Defaulted(Type.Array(consoleUserSchema, { maxItems: 1000 }), []),
  sessionMinutes: Defaulted(Type.Integer({ minimum: 1, maximum: 1440, description: 'A session unused this long ends' }), 30),
  sessionMaxHours: Defaulted(Type.Integer({ minimum: 1, maximum: 72, description: 'A session ends this long after sign-in, used or not' }), 12),
  operatorKey: Type.Optional(consoleOperatorKeySchema),
  centreCertificate: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'PEM certificate(s) of the centre: colour changes are verified with it; without it they are only parsed',
    }),
  ),
  commandTimeoutSeconds: Defaulted(Type.Integer({ minimum: 1, maximum: 3600 }), 30),
  timeZone: Type.Optional(Type.String({ minLength: 1, description: "IANA zone the day of the figures is counted in; default the machine's" })),
  centre: Type.Optional(consoleCentreSchema),
});

export type ConsoleBrokerConfig = Static<typeof consoleBrokerSchema>;
export type ConsoleHttpConfig = Static<typeof consoleHttpSchema>;
export type ConsoleStoreConfig = Static<typeof consoleStoreSchema>;
export type ConsoleUser = Static<typeof consoleUserSchema>;
export type ConsoleOperatorKey = Static<typeof consoleOperatorKeySchema>;
export type ConsoleCentreConfig = Static<typeof consoleCentreSchema>;
export type ConsoleConfig = Static<typeof consoleConfigSchema>;
