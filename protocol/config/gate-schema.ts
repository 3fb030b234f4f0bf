/**
 * The agent's settings: one JSON Schema that checks the file at start, fills
 * defaults and documents each key (the example config and README follow it).
 * One file over 500 lines on purpose: the whole file's shape is one schema,
 * and splitting it by section would scatter the defaults a reader compares.
 */
import type { HardwareConfig } from '../../device/lane-hardware.js';
import { PIN_HASH_PATTERN } from '../privacy/staff-pin.js';

/** Commercial terminals allow 36.0–40.0 °C; 37.3 is the usual threshold (rules, "What a checkpoint adds"). */
export const FEVER_THRESHOLD_RANGE = { min: 36.0, max: 40.0, default: 37.3 } as const;

export const configSchema = {
  $id: 'https://health-code-gate.invalid/config.schema.json',
  $defs: {
    input: {
      type: 'object',
      additionalProperties: false,
      required: ['pin'],
      properties: {
        pin: { type: 'integer', minimum: 0, maximum: 255 },
        invert: { type: 'boolean', default: false, description: 'active-low wiring' },
        pullUp: { type: 'boolean', default: false },
        debounceMs: { type: 'integer', minimum: 0, maximum: 1000, default: 20 },
      },
    },
  },
  type: 'object',
  additionalProperties: false,
  required: ['site', 'lane'],
  properties: {
    site: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'Site id, used in MQTT topics' },
    lane: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9_-]+$',
      not: { const: 'colour' },
      description: "Lane id within the site ('colour' is taken by the site's colour topics)",
    },
    policy: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        feverThresholdC: {
          type: 'number',
          minimum: FEVER_THRESHOLD_RANGE.min,
          maximum: FEVER_THRESHOLD_RANGE.max,
          default: FEVER_THRESHOLD_RANGE.default,
          description: 'Forehead temperature (°C) at or above which a person is refused as feverish',
        },
      },
    },
    credentials: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        trust: {
          type: 'string',
          minLength: 1,
          description: 'File or folder of issuer signer certificates (PEM or DER), or the signed trust list gate-provision export-trust writes (checked with mqtt.centreKeys)',
        },
        clockSkewSeconds: { type: 'integer', minimum: 0, maximum: 3600, default: 60, description: 'Tolerance on iat and exp' },
        maxDynamicLifetimeSeconds: {
          type: 'integer',
          minimum: 30,
          maximum: 86400,
          default: 900,
          description: 'A dynamic code that lives longer than this is refused',
        },
      },
    },
    timing: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        relayPulseMs: { type: 'integer', minimum: 100, maximum: 30000, default: 3000 },
        passageTimeoutMs: { type: 'integer', minimum: 500, maximum: 60000, default: 4000 },
        denyDisplayMs: { type: 'integer', minimum: 0, maximum: 60000, default: 3000 },
        temperatureDeadlineMs: { type: 'integer', minimum: 100, maximum: 10000, default: 2000 },
        repeatSuppressMs: { type: 'integer', minimum: 0, maximum: 60000, default: 5000 },
      },
    },
    journal: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        path: { type: 'string', minLength: 1, default: 'data/journal.db' },
        sync: {
          enum: ['full', 'normal'],
          default: 'normal',
          description:
            'normal: an event survives a crash of the agent before the gate acts, and a power cut once flushed right after; full: fsync before the gate acts (slower on SD cards)',
        },
      },
    },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', pattern: '^(mqtts?|wss?)://', description: 'Broker URL; absent: no broker' },
        baseTopic: { type: 'string', minLength: 1, pattern: '^[^#+]+$', default: 'hc/v1' },
        clientId: { type: 'string', minLength: 1, maxLength: 128, description: 'MQTT client id; default gate-<site>-<lane>' },
        protocolVersion: {
          enum: [4, 5],
          default: 5,
          description: '5 (MQTT 5: refusals carry a reason, sessions an expiry) or 4 (MQTT 3.1.1, for brokers without 5, such as the embedded aedes)',
        },
        username: { type: 'string', minLength: 1 },
        password: { type: 'string', minLength: 1, description: 'Prefer passwordFile: a password here sits in the config file' },
        passwordFile: { type: 'string', minLength: 1, description: 'File whose first line is the password' },
        tls: {
          type: 'object',
          additionalProperties: false,
          description: 'For mqtts:// and wss://. The server is always verified against ca.',
          required: ['ca'],
          properties: {
            ca: { type: 'string', minLength: 1, description: 'PEM file of the CA(s) that signed the broker certificate' },
            cert: { type: 'string', minLength: 1, description: 'PEM client certificate (mTLS)' },
            key: { type: 'string', minLength: 1, description: 'PEM private key of the client certificate' },
            keyPassphrase: { type: 'string', description: 'Passphrase of an encrypted key' },
            servername: { type: 'string', minLength: 1, description: 'Name to verify the broker certificate against; default the URL host' },
          },
          dependencies: { cert: ['key'], key: ['cert'] },
        },
        centreKeys: {
          type: 'string',
          minLength: 1,
          description: 'File or folder of the centre signing certificates (PEM or DER) that sign colour changes, snapshots, look-up replies and commands; without it every signed message is refused',
        },
        // The largest message the centre sends is the retained colour snapshot: about 100 bytes a status once
        // signed (a 16-character subject, JSON then base64url in the JWS; 160 with a 64-character one), so 4 MiB
        // holds some 40,000 statuses. A site with more raises it; anything larger costs memory and parse time.
        maxMessageBytes: {
          type: 'integer',
          minimum: 1024,
          maximum: 16777216,
          default: 4194304,
          description: 'Incoming messages larger than this are dropped unread',
        },
        commandMaxAgeSeconds: {
          type: 'integer',
          minimum: 5,
          maximum: 3600,
          default: 120,
          description: 'A command issued longer ago than this (or this far in the future) is refused as stale',
        },
        lookupTimeoutMs: { type: 'integer', minimum: 100, maximum: 10000, default: 1500, description: 'Deadline of an online look-up' },
        telemetryIntervalSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 30 },
        homeAssistant: {
          type: 'object',
          additionalProperties: false,
          default: {},
          // Off by default: the discovery configs are retained, and a site broker without Home Assistant would keep
          // them (and the lane's ha/ topics) for nobody; the centre needs none of it.
          description: 'Home Assistant MQTT discovery: the lane announces itself as a read-only device (README, "Home Assistant")',
          properties: {
            enabled: { type: 'boolean', default: false },
            discoveryPrefix: {
              type: 'string',
              pattern: '^[^#+/]+(/[^#+/]+)*$',
              default: 'homeassistant',
              description: "Home Assistant's discovery prefix; the ACL gate-provision writes allows the default only",
            },
          },
        },
      },
    },
    outbox: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Events waiting for the broker, kept on disk (in the journal file) until it acknowledges them',
      properties: {
        maxMessages: { type: 'integer', minimum: 100, maximum: 10000000, default: 200000 },
        maxAgeDays: { type: 'integer', minimum: 1, maximum: 365, default: 30 },
        warnAtFraction: {
          type: 'number',
          exclusiveMinimum: 0,
          exclusiveMaximum: 1,
          default: 0.8,
          description: 'Raise an outbox-filling fault when the depth passes this fraction of maxMessages',
        },
        inflight: { type: 'integer', minimum: 1, maximum: 65535, default: 256, description: 'Messages published but not yet acknowledged, at most' },
      },
    },
    colour: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: "Colour changes pushed by the centre",
      properties: {
        maxSyncAgeSeconds: {
          type: 'integer',
          minimum: 10,
          maximum: 86400,
          default: 300,
          description: 'Without a valid message from the centre for this long, the gate is degraded',
        },
        whenDegraded: {
          enum: ['offline-code', 'staff'],
          default: 'staff',
          description: 'offline-code: decide by the colour in the code as usual (flagged degraded); staff: no automatic pass, staff decide',
        },
      },
    },
    hardware: {
      type: 'object',
      additionalProperties: false,
      description: 'How the lane is wired; see docs/wiring.md. Absent: the agent runs on the simulator only.',
      required: ['relay', 'passageBeam', 'fireAlarm'],
      properties: {
        board: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            io: { type: 'string', minLength: 1, default: 'firmata', description: "'firmata' (an Arduino on USB) or a johnny-five IO plugin module, e.g. 'raspi-io'" },
            port: { type: 'string', minLength: 1, description: 'Firmata serial port; the first USB/ACM port when absent' },
            readyTimeoutMs: { type: 'integer', minimum: 1000, maximum: 120000, default: 15000 },
          },
        },
        relay: {
          type: 'object',
          additionalProperties: false,
          required: ['pin'],
          properties: {
            pin: { type: 'integer', minimum: 0, maximum: 255 },
            type: { enum: ['NO', 'NC'], default: 'NO', description: 'the relay contact the lock-release circuit is wired through' },
            failSafe: { enum: ['open', 'locked'], default: 'open', description: 'what the leaf does when the board is lost' },
          },
        },
        passageBeam: { $ref: '#/$defs/input' },
        fireAlarm: { $ref: '#/$defs/input' },
        exitButton: { $ref: '#/$defs/input' },
        lights: {
          type: 'object',
          additionalProperties: false,
          properties: {
            green: { type: 'integer', minimum: 0, maximum: 255 },
            red: { type: 'integer', minimum: 0, maximum: 255 },
            buzzer: { type: 'integer', minimum: 0, maximum: 255 },
          },
        },
        thermometer: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            address: { type: 'integer', minimum: 1, maximum: 127, default: 90, description: 'SMBus address (0x5A = 90)' },
            emissivity: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'of skin, about 0.98; compensated when the sensor is set otherwise' },
            offsetC: { type: 'number', minimum: -5, maximum: 5, default: 0, description: 'calibration offset from a reference blackbody' },
            minForeheadC: { type: 'number', minimum: 20, maximum: 36, default: 30, description: 'a stable reading below this is no forehead: the sensor keeps waiting for one' },
          },
        },
        scanner: {
          type: 'object',
          additionalProperties: false,
          required: ['path'],
          properties: {
            path: { type: 'string', minLength: 1, description: 'serial device of the QR scanner module, e.g. /dev/ttyUSB0' },
            baudRate: { enum: [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200], default: 9600 },
            delimiter: { enum: ['CR', 'LF', 'CRLF'], default: 'CRLF' },
          },
        },
        idCardReader: {
          type: 'object',
          additionalProperties: false,
          required: ['path'],
          properties: {
            path: { type: 'string', minLength: 1, description: 'serial device of the resident ID-card reader, e.g. /dev/ttyUSB1' },
            baudRate: { enum: [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200], default: 115200 },
            protocol: { enum: ['line', 'sam'], default: 'line', description: "'line': the number as a text line; 'sam': the SAM module's frames" },
            delimiter: { enum: ['CR', 'LF', 'CRLF'], default: 'CRLF', description: "line ending of the 'line' protocol" },
          },
        },
        camera: {
          type: 'object',
          additionalProperties: false,
          required: ['xaddr'],
          properties: {
            xaddr: { type: 'string', pattern: '^https?://', description: 'ONVIF device service address' },
            user: { type: 'string' },
            password: { type: 'string' },
            framesPerSecond: { type: 'number', exclusiveMinimum: 0, maximum: 30, default: 5 },
            region: {
              type: 'object',
              additionalProperties: false,
              required: ['left', 'top', 'width', 'height'],
              properties: {
                left: { type: 'integer', minimum: 0 },
                top: { type: 'integer', minimum: 0 },
                width: { type: 'integer', minimum: 21 },
                height: { type: 'integer', minimum: 21 },
              },
            },
            maxWidth: { type: 'integer', minimum: 64 },
            decoder: { enum: ['zxing-wasm', 'zxing-library'], default: 'zxing-wasm' },
          },
        },
      },
    },
    privacy: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: "Personal data of staff-assisted registrations (rules §6)",
      properties: {
        authorityKey: {
          type: 'string',
          minLength: 1,
          description: "PEM (SPKI) file of the health authority's X25519 public key; registrations are sealed to it before they touch the disk. Absent: a staff registration records only that it happened, no details",
        },
        idHashKey: {
          type: 'string',
          minLength: 1,
          description:
            "File holding the site's secret key (base64 of at least 32 random bytes, made by gate-provision init) for ID-card look-ups: the gate asks the centre by an HMAC-SHA256 of the ID number under this key, never the number. Absent: ID cards are refused",
        },
        // The rules give no figure. 21 days: the 14 days contact tracing looks
        // back over (the incubation period epidemic-control work uses), plus a
        // week for sealed events to reach the authority after a broker outage.
        retentionDays: {
          type: 'integer',
          minimum: 1,
          maximum: 365,
          default: 21,
          description: 'Sealed registration records older than this are purged from the gate',
        },
      },
    },
    screen: {
      type: 'object',
      additionalProperties: false,
      description: "The gate's screen (GET /) and the staff page (/staff), served by the agent; absent: not served",
      properties: {
        host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'Address to listen on; the kiosk browser on the gate uses loopback' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080, description: '0: any free port (printed in the log)' },
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['cert', 'key'],
          description: 'Serve over HTTPS: required for a staff sign-in on any address but loopback',
          properties: {
            cert: { type: 'string', minLength: 1, description: 'PEM certificate chain file' },
            key: { type: 'string', minLength: 1, description: 'PEM private key file' },
          },
        },
      },
    },
    metrics: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'The Prometheus endpoint (README, "Metrics"); off unless enabled',
      properties: {
        enabled: { type: 'boolean', default: false },
        host: {
          type: 'string',
          minLength: 1,
          default: '127.0.0.1',
          description: 'Address to listen on; anything but loopback lets that network read the gate state (no personal data)',
        },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 9464, description: "9464, Prometheus' usual exporter port; 0: any free port" },
        path: { type: 'string', pattern: '^/[^?#]*$', default: '/metrics' },
      },
    },
    staff: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        pinHash: {
          type: 'string',
          pattern: PIN_HASH_PATTERN,
          description: 'scrypt hash of the staff PIN (scrypt$N$r$p$salt$hash, from hashPin in protocol/privacy/staff-pin.ts); absent: no staff page sign-in',
        },
        sessionMinutes: { type: 'integer', minimum: 1, maximum: 720, default: 15, description: 'A staff page session unused this long ends' },
      },
    },
    voice: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Spoken prompts: each verdict and its advice, rendered ahead of time and played through a player command (docs/operations.md, "Voice prompts")',
      properties: {
        enabled: { type: 'boolean', default: true },
        languages: {
          type: 'array',
          items: { enum: ['zh', 'en'] },
          minItems: 1,
          uniqueItems: true,
          default: ['zh', 'en'],
          description: 'Spoken in this order',
        },
        idlePrompt: {
          type: 'boolean',
          default: true,
          description: 'Say "请出示健康码 / Please show your health code" when the lane is ready again after a turn, unless a verdict is still being spoken',
        },
        player: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          minItems: 1,
          default: ['aplay', '-q', '{file}'],
          description: 'Command that plays one WAV file ({file}), run without a shell; missing: the gate is silent',
        },
        playTimeoutMs: { type: 'integer', minimum: 1000, maximum: 120000, default: 30000, description: 'A player still running after this is stopped' },
        render: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          minItems: 1,
          default: ['espeak-ng', '-v', '{voice}', '-s', '150', '-w', '{file}', '{text}'],
          description: 'Command that writes one prompt to a WAV file ({voice}, {file}, {text}), run at start without a shell for every prompt not cached or shipped',
        },
        voices: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            zh: { type: 'string', minLength: 1, default: 'cmn', description: "the render command's {voice} for Chinese (espeak-ng: Mandarin)" },
            en: { type: 'string', minLength: 1, default: 'en', description: "the render command's {voice} for English" },
          },
        },
        renderTimeoutMs: { type: 'integer', minimum: 1000, maximum: 300000, default: 30000, description: 'Deadline of one prompt render' },
        cacheDir: { type: 'string', minLength: 1, description: 'Folder of rendered prompts; absent: voice/ beside the journal file' },
        audioDir: {
          type: 'string',
          minLength: 1,
          description: 'Folder of shipped recordings <prompt-id>.zh.wav and <prompt-id>.en.wav, played as they are; a prompt without one is rendered',
        },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
      },
    },
  },
} as const;

export interface GateConfig {
  site: string;
  lane: string;
  policy: { feverThresholdC: number };
  credentials: { trust?: string; clockSkewSeconds: number; maxDynamicLifetimeSeconds: number };
  timing: {
    relayPulseMs: number;
    passageTimeoutMs: number;
    denyDisplayMs: number;
    temperatureDeadlineMs: number;
    repeatSuppressMs: number;
  };
  journal: { path: string; sync: 'full' | 'normal' };
  mqtt: MqttConfig;
  outbox: OutboxConfig;
  colour: ColourConfig;
  hardware?: HardwareConfig;
  privacy: PrivacyConfig;
  staff: StaffConfig;
  screen?: ScreenConfig;
  metrics: MetricsConfig;
  voice: VoiceConfig;
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
}

export interface MqttTlsConfig {
  ca: string;
  cert?: string;
  key?: string;
  keyPassphrase?: string;
  servername?: string;
}

export interface MqttConfig {
  url?: string;
  baseTopic: string;
  clientId?: string;
  protocolVersion: 4 | 5;
  username?: string;
  password?: string;
  passwordFile?: string;
  tls?: MqttTlsConfig;
  centreKeys?: string;
  maxMessageBytes: number;
  commandMaxAgeSeconds: number;
  lookupTimeoutMs: number;
  telemetryIntervalSeconds: number;
  homeAssistant: { enabled: boolean; discoveryPrefix: string };
}

export interface OutboxConfig {
  maxMessages: number;
  maxAgeDays: number;
  warnAtFraction: number;
  inflight: number;
}

export interface ColourConfig {
  maxSyncAgeSeconds: number;
  whenDegraded: 'offline-code' | 'staff';
}

export interface PrivacyConfig {
  authorityKey?: string;
  idHashKey?: string;
  retentionDays: number;
}

export interface StaffConfig {
  pinHash?: string;
  sessionMinutes: number;
}

export interface ScreenConfig {
  host: string;
  port: number;
  tls?: { cert: string; key: string };
}

export interface MetricsConfig {
  enabled: boolean;
  host: string;
  port: number;
  path: string;
}

export interface VoiceConfig {
  enabled: boolean;
  languages: Array<'zh' | 'en'>;
  idlePrompt: boolean;
  player: string[];
  playTimeoutMs: number;
  render: string[];
  voices: { zh: string; en: string };
  renderTimeoutMs: number;
  cacheDir?: string;
  audioDir?: string;
}
