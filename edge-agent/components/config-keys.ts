/**
 * The config keys the centre's set-config may change while the gate runs:
 * those the components read at run time declare, in the order of the
 * component kinds below. The rest need a restart (or would move the gate's
 * identity).
 */
import { checkConfig } from '../../protocol/config/gate-config.js';
import { configSchema, type GateConfig } from '../../protocol/config/gate-schema.js';
import { schemaAtKeyPath } from '../../protocol/config/schema-keys.js';
import { ColourSyncComponent } from './colour-sync.js';
import { LaneComponent } from './lane.js';
import { LinkComponent } from './link.js';
import { LogComponent } from './log.js';
import { ConfigError } from '../../protocol/config/errors.js';

/** Every component kind with run-time config keys (a gate builds only those its config calls for; the keys are the same on every gate). */
const CONFIGURABLE: ReadonlyArray<{ readonly configKeys: readonly string[] }> = [LaneComponent, ColourSyncComponent, LogComponent, LinkComponent];

export const RUNTIME_CONFIG_KEYS: readonly string[] = [...new Set(CONFIGURABLE.flatMap((kind) => kind.configKeys))];

/**
 * The config with one run-time key changed, checked whole against the
 * schema; `config` itself is left as it was. Throws ConfigError naming the
 * key, what is allowed and what was found.
 */
export function applyConfigChange(config: GateConfig, key: string, value: unknown): GateConfig {
  if (!RUNTIME_CONFIG_KEYS.includes(key)) {
    const why = schemaAtKeyPath(configSchema, key) !== undefined ? `"${key}" cannot change at run time` : `unknown config key "${key}"`;
    throw new ConfigError('invalid', `${why}; keys that can: ${RUNTIME_CONFIG_KEYS.join(', ')}`);
  }
  const next = structuredClone(config) as unknown as Record<string, Record<string, unknown>>;
  const [section, leaf] = key.split('.') as [string, string];
  next[section] = { ...next[section], [leaf]: value };
  try {
    return checkConfig(next);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // checkConfig lists every problem under a heading; only this key changed, so its lines are the answer.
    throw new ConfigError('invalid', `cannot set "${key}": ${error.message.replace(/^config is not valid:\s*- /, '').replaceAll('\n  - ', '; ')}`);
  }
}
