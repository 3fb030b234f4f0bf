/**
 * The centre's settings as one JSON Schema (centre.yaml or JSON), built as
 * the console's is (console-schema.ts); the types are the schema's own, as a
 * config is once checked and its defaults filled (centre-config.ts). With no
 * file at all the centre runs on its embedded defaults: an SQLite file, the
 * embedded broker, and a local site whose keys it makes on first start.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Choice, Defaulted, FilledObject, StrictObject } from './schema-kit.js';

const ID = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const FILE = Type.String({ minLength: 1, maxLength: 4096 });

/** One connection's client certificate and key (PEM files). */
function connectionSchema() {
  return Type.Optional(StrictObject({ cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) }));
}

export const centreBrokerSchema = FilledObject({
  url: Type.Optional(
    Type.String({ pattern: '^(mqtt|mqtts|ws|wss)://', description: 'The site broker; absent: the centre runs the embedded broker (aedes) on embedded.host:embedded.port' }),
  ),
  embedded: FilledObject(
    {
      host: Defaulted(Type.String({ minLength: 1 }), '127.0.0.1'),
      port: Defaulted(Type.Integer({ minimum: 0, maximum: 65535 }), 1883),
    },
    { description: 'Where the embedded broker listens when broker.url is absent' },
  ),
  tls: Type.Optional(
    StrictObject({
      ca: Type.String({ minLength: 1, description: 'PEM file of the CA that signed the broker certificate (the site CA)' }),
      cert: Type.Optional(Type.String({ minLength: 1, description: "Client certificate (PEM) for mTLS: the site folder's centre/mqtt-client.pem" })),
      key: Type.Optional(Type.String({ minLength: 1, description: 'Client private key (PEM) for mTLS' })),
      servername: Type.Optional(Type.String({ minLength: 1 })),
      connections: Type.Optional(
        StrictObject(
          { publisher: connectionSchema(), department: connectionSchema(), record: connectionSchema() },
          {
            description:
              "A client certificate of its own for each of the centre's connections (the publisher with the look-ups, the department intake, the record), over cert and key: a broker that names each client by its certificate (use_username_as_clientid, as a provisioned site's does) keeps one session per certificate. A site folder has centre/mqtt-department.* and centre/mqtt-record.*",
          },
        ),
      ),
    }),
  ),
  username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  clientId: Type.Optional(ID),
  protocolVersion: Defaulted(Choice([4, 5]), 5),
});

export const centreHttpSchema = FilledObject({
  host: Defaulted(Type.String({ minLength: 1 }), '127.0.0.1'),
  port: Defaulted(Type.Integer({ minimum: 0, maximum: 65535 }), 8093),
  tls: Type.Optional(
    StrictObject(
      {
        cert: FILE,
        key: FILE,
        clientCa: Type.Optional(
          Type.String({ minLength: 1, description: "PEM file of the CA whose client certificates are accepted (the site CA); a client is then named by its certificate's CN" }),
        ),
      },
      { description: 'Serve HTTPS: required on any address other than loopback' },
    ),
  ),
  maxBodyBytes: Defaulted(Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, description: 'The largest request body but a baseline (which streams)' }), 8 * 1024 * 1024),
});

/** A database: the SQLite file, or PostgreSQL when `postgres` is given. */
function storeSchema(path: string, what: string) {
  return FilledObject({
    sqlite: FilledObject({ path: Defaulted(Type.String({ minLength: 1 }), path) }),
    postgres: Type.Optional(
      StrictObject(
        {
          url: Type.String({ pattern: '^postgres(ql)?://', description: 'postgres://user:password@host:port/database; the database must exist, the tables are made' }),
          poolSize: Defaulted(Type.Integer({ minimum: 1, maximum: 100, description: 'Connections kept open to the database' }), 10),
        },
        { description: `Keep ${what} in PostgreSQL instead of the SQLite file` },
      ),
    ),
  });
}

export const centreStoreSchema = storeSchema('data/centre.db', "the centre's statuses, change messages, batches, audit trail and deliveries");
export const centreRecordSchema = storeSchema('data/centre-record.db', 'what the gates report (decisions, alerts, faults, registrations): the §7 figures per site and day');

export const centreSiteSchema = StrictObject({
  id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: "The site id; default the site folder's" })),
  folder: Type.Optional(Type.String({ minLength: 1, description: 'A site folder gate-provision init made: the centre reads centre/centre.key, centre/centre.pem and centre/id-hash.key from it' })),
  signingKey: Type.Optional(Type.String({ minLength: 1, description: "PEM private key the site's messages are signed with (instead of the folder's)" })),
  certificate: Type.Optional(Type.String({ minLength: 1, description: 'Its PEM certificate, which the gates pin (mqtt.centreKeys)' })),
  idHashKey: Type.Optional(Type.String({ minLength: 1, description: "The site's ID-card hash key file (instead of the folder's)" })),
  passphraseFile: Type.Optional(Type.String({ minLength: 1, description: 'A file holding the passphrase the keys are encrypted with' })),
});

export const centreClientSchema = StrictObject({
  id: ID,
  tokenSha256: Type.Optional(
    Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 (hex) of the bearer token; `gate-centre token` makes one. Tokens are 256 random bits, so a fast hash is enough' }),
  ),
  certificateCn: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'The CN of the client certificate (from http.tls.clientCa) that names this client' })),
  role: Defaulted(Choice(['platform', 'viewer', 'operator'], { description: 'viewer reads; platform also sends colours; operator also rolls keys over and raises epochs' }), 'platform'),
  sites: Defaulted(Type.Array(Type.String({ pattern: '^([A-Za-z0-9_-]{1,64}|\\*)$' }), { minItems: 1, maxItems: 10_000, description: 'Sites it may act on; * for all' }), ['*']),
  requestsPerMinute: Defaulted(Type.Integer({ minimum: 1, maximum: 1_000_000 }), 600),
});

export const centrePublisherSchema = FilledObject({
  heartbeatSeconds: Defaulted(Type.Number({ minimum: 0.1, maximum: 3600, description: "How often each site hears the centre with no change: keep it well under the gates' colour.maxSyncAgeSeconds" }), 15),
  snapshotDelayMs: Defaulted(Type.Integer({ minimum: 0, maximum: 600_000, description: 'How long after a change the retained snapshot is refreshed (changes in between share one)' }), 1000),
  trustListCheckSeconds: Defaulted(Type.Number({ minimum: 0.1, maximum: 3600, description: "How often each site folder is looked at for a newer trust-list-v*.jws to push to the gates" }), 30),
  keepChanges: Defaulted(Type.Integer({ minimum: 10, maximum: 10_000_000, description: 'Change messages kept after a snapshot covers them' }), 10_000),
});

export const centreDepartmentSchema = FilledObject({
  url: Type.Optional(Type.String({ pattern: '^https?://', description: "The epidemic-control department's webhook; alerts and sealed registrations are POSTed to it. http:// only on loopback" })),
  secretFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the HMAC-SHA256 key each body is signed with (X-Signature)' })),
  ca: Type.Optional(Type.String({ minLength: 1, description: "PEM file of the CA that signed the department's server certificate" })),
  timeoutMs: Defaulted(Type.Integer({ minimum: 100, maximum: 300_000 }), 10_000),
  firstRetryMs: Defaulted(Type.Integer({ minimum: 10, maximum: 3_600_000 }), 1000),
  maxRetryMs: Defaulted(Type.Integer({ minimum: 10, maximum: 86_400_000 }), 300_000),
  alarmAfterSeconds: Defaulted(Type.Integer({ minimum: 1, maximum: 86_400, description: 'An alert not delivered this long after it reached the centre raises an operator alarm' }), 60),
});

export const centreLimitsSchema = FilledObject({
  maxBatchChanges: Defaulted(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Changes one batch request may carry (one change message)' }), 10_000),
  maxBaselineRows: Defaulted(Type.Integer({ minimum: 1, maximum: 10_000_000 }), 2_000_000),
});

export const centreLeaderSchema = FilledObject({
  lockKey: Defaulted(Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1, description: 'The PostgreSQL advisory lock the leading centre holds' }), 4_143_001),
  checkMs: Defaulted(Type.Integer({ minimum: 100, maximum: 1400, description: 'How often the leader checks its lock and a standby tries to take it; a takeover takes at most 7 × checkMs, so at most 1400 keeps it under 10 s' }), 1000),
});

export const centreConfigSchema = StrictObject({
  broker: centreBrokerSchema,
  baseTopic: Defaulted(Type.String({ pattern: '^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$' }), 'hc/v1'),
  http: centreHttpSchema,
  store: centreStoreSchema,
  record: centreRecordSchema,
  /** Each site the centre serves; none given: a local site (`local`) with keys made under dataDir on first start. */
  sites: Defaulted(Type.Array(centreSiteSchema, { maxItems: 10_000 }), []),
  dataDir: Defaulted(Type.String({ minLength: 1, description: 'Where the centre keeps what it makes itself (the local site, the local token)' }), 'data/centre'),
  clients: Defaulted(Type.Array(centreClientSchema, { maxItems: 10_000 }), []),
  publisher: centrePublisherSchema,
  department: centreDepartmentSchema,
  limits: centreLimitsSchema,
  leader: centreLeaderSchema,
  logLevel: Defaulted(Choice(['fatal', 'error', 'warn', 'info', 'debug', 'trace']), 'info'),
});

export type CentreBrokerConfig = Static<typeof centreBrokerSchema>;
export type CentreHttpConfig = Static<typeof centreHttpSchema>;
export type CentreStoreConfig = Static<typeof centreStoreSchema>;
export type CentreSiteConfig = Static<typeof centreSiteSchema>;
export type CentreClientConfig = Static<typeof centreClientSchema>;
export type CentrePublisherConfig = Static<typeof centrePublisherSchema>;
export type CentreDepartmentConfig = Static<typeof centreDepartmentSchema>;
export type CentreLimitsConfig = Static<typeof centreLimitsSchema>;
export type CentreLeaderConfig = Static<typeof centreLeaderSchema>;
export type CentreConfig = Static<typeof centreConfigSchema>;
