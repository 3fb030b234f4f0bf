/**
 * The pushed-colour sync as a component: its check timer runs from the build
 * (a restart measures the sync's age from the last word heard) and is
 * cleared when the gate closes; the centre may change how old the last word
 * may be before the gate says it is degraded.
 */
import type { Logger } from 'pino';
import { ColourSync } from '../colour/colour-sync.js';
import type { ColourStatusStore } from '../colour/status-store.js';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import type { TrustStore } from '../../protocol/trust/trust-store.js';
import type { Component } from './component.js';

export class ColourSyncComponent implements Component {
  static readonly configKeys: readonly string[] = ['colour.maxSyncAgeSeconds'];

  readonly name = 'colour sync';
  readonly configKeys = ColourSyncComponent.configKeys;
  readonly colourSync: ColourSync;

  constructor(options: { config: GateConfig; colours: ColourStatusStore; centreKeys: TrustStore | null; logger: Logger }) {
    const { config, colours, centreKeys, logger } = options;
    this.colourSync = new ColourSync({ store: colours, keys: centreKeys, site: config.site, config: config.colour, logger });
  }

  start(): void {}

  stop(): void {}

  close(): void {
    this.colourSync.stop();
  }

  applyConfig(next: GateConfig): void {
    this.colourSync.updateConfig(next.colour);
  }
}
