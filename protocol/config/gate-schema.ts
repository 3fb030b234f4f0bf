/**
 * The agent's settings: one JSON Schema that checks the file at start, fills
 * defaults and documents each key (the example config and README follow it),
 * assembled from one module a section under gate/. The types are the
 * sections' schemas' own (TypeBox), as a config is once checked.
 */
import { Type, type Static } from '@sinclair/typebox';
import { StrictObject } from './schema-kit.js';
import { leafKeyPaths } from './schema-keys.js';
import { colourSchema } from './gate/colour.js';
import { credentialsSchema } from './gate/credentials.js';
import { hardwareDefinitions, hardwareSchema } from './gate/hardware.js';
import { laneSchema, siteSchema } from './gate/identity.js';
import { journalSchema } from './gate/journal.js';
import { logSchema } from './gate/log.js';
import { metricsSchema } from './gate/metrics.js';
import { mqttSchema } from './gate/mqtt.js';
import { outboxSchema } from './gate/outbox.js';
import { policySchema } from './gate/policy.js';
import { privacySchema } from './gate/privacy.js';
import { screenSchema } from './gate/screen.js';
import { staffSchema } from './gate/staff.js';
import { timingSchema } from './gate/timing.js';
import { voiceSchema } from './gate/voice.js';

export { FEVER_THRESHOLD_RANGE, type PolicyConfig } from './gate/policy.js';
export type { CredentialsConfig } from './gate/credentials.js';
export type { TimingConfig } from './gate/timing.js';
export type { JournalConfig } from './gate/journal.js';
export type { HomeAssistantConfig, MqttConfig, MqttTlsConfig } from './gate/mqtt.js';
export type { OutboxConfig } from './gate/outbox.js';
export type { ColourConfig } from './gate/colour.js';
export type { InputConfig, WiringConfig } from './gate/hardware.js';
export type { PrivacyConfig } from './gate/privacy.js';
export type { ScreenConfig, ScreenTlsConfig } from './gate/screen.js';
export type { MetricsConfig } from './gate/metrics.js';
export type { StaffConfig } from './gate/staff.js';
export type { VoiceConfig } from './gate/voice.js';
export type { LogConfig } from './gate/log.js';

export const configSchema = StrictObject(
  {
    site: siteSchema,
    lane: laneSchema,
    policy: policySchema,
    credentials: credentialsSchema,
    timing: timingSchema,
    journal: journalSchema,
    mqtt: mqttSchema,
    outbox: outboxSchema,
    colour: colourSchema,
    hardware: Type.Optional(hardwareSchema),
    privacy: privacySchema,
    screen: Type.Optional(screenSchema),
    metrics: metricsSchema,
    staff: staffSchema,
    voice: voiceSchema,
    log: logSchema,
  },
  { $id: 'https://health-code-gate.invalid/config.schema.json', $defs: hardwareDefinitions },
);

export type GateConfig = Static<typeof configSchema>;

/** A key path the schema defines, down to a value: "timing.relayPulseMs", "voice.languages". */
export type GateConfigKey = LeafPath<GateConfig>;

type LeafPath<T> = {
  [K in keyof T & string]-?: NonNullable<T[K]> extends readonly unknown[] ? K : NonNullable<T[K]> extends object ? `${K}.${LeafPath<NonNullable<T[K]>>}` : K;
}[keyof T & string];

/** Every key path the gate's schema defines down to a value, in the schema's order ($refs followed). */
export const GATE_CONFIG_KEYS: readonly GateConfigKey[] = Object.freeze(leafKeyPaths(configSchema) as GateConfigKey[]);

/** The key paths of one section, e.g. gateSectionKeys('timing'): 'timing.relayPulseMs', … */
export function gateSectionKeys(section: keyof GateConfig): GateConfigKey[] {
  return GATE_CONFIG_KEYS.filter((key) => key === section || key.startsWith(`${section}.`));
}
