/**
 * The agent's settings: one JSON Schema that checks the file at start, fills
 * defaults and documents each key (the example config and README follow it).
 */
import { FEVER_THRESHOLD_RANGE } from '../policy/policy.js';

export const configSchema = {
  $id: 'https://health-code-gate.invalid/config.schema.json',
  type: 'object',
  additionalProperties: false,
  required: ['site', 'lane'],
  properties: {
    site: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'Site id, used in MQTT topics' },
    lane: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'Lane id within the site' },
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
          description: 'File or folder of issuer signer certificates (PEM or DER)',
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
  mqtt: { url?: string; baseTopic: string };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
}
