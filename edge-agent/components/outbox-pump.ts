/**
 * The outbox pump as a component: it sends the outbox's rows, oldest first,
 * while the broker link is connected (the link hands it each new connection
 * and tells it when one closes), and each decision wakes it. There is nothing
 * to start before the first connection; it is started before the link and
 * stopped after it, so nothing is sent once the link has said goodbye, and
 * what was in flight stays in the outbox for the next start.
 */
import type { Logger } from 'pino';
import type { Lane } from '../lane/lane.js';
import { OutboxPump } from '../link/outbox-pump.js';
import type { Outbox } from '../link/outbox.js';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import type { Component } from './component.js';

export interface OutboxPumpComponentOptions {
  config: GateConfig;
  outbox: Outbox;
  lane: Lane;
  logger: Logger;
}

export class OutboxPumpComponent implements Component {
  readonly name = 'outbox pump';
  readonly pump: OutboxPump;

  constructor(options: OutboxPumpComponentOptions) {
    const pump = new OutboxPump({ outbox: options.outbox, inflight: options.config.outbox.inflight, logger: options.logger });
    this.pump = pump;
    // The decision's outbox row was written in the journal's transaction, which has committed by now.
    options.lane.on('decision', () => pump.kick());
  }

  start(): void {}

  stop(): void {
    this.pump.offline();
  }
}
