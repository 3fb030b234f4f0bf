/** The log's level as a component: the one run-time key no other part reads. */
import type { Logger } from 'pino';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import type { Component } from './component.js';

export class LogComponent implements Component {
  static readonly configKeys: readonly string[] = ['log.level'];

  readonly name = 'log';
  readonly configKeys = LogComponent.configKeys;

  constructor(private readonly logger: Logger) {}

  start(): void {}

  stop(): void {}

  applyConfig(next: GateConfig): void {
    this.logger.level = next.log.level;
  }
}
