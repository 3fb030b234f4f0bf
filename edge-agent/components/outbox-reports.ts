/**
 * The outbox's reports to the centre: messages dropped (the outbox full, or
 * messages past their age) and the outbox filling up or back to normal.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { OutboxDrop, OutboxLevel } from '../link/outbox.js';
import type { CentrePort } from './centre-port.js';
import type { Component } from './component.js';
import type { OutboxSignals } from './stores.js';

export class OutboxReports implements Component {
  readonly name = 'outbox';
  #drops: OutboxDrop[] = [];
  readonly #onDrop = (drop: OutboxDrop): void => {
    // One drop comes per overflowing enqueue: summed over a turn of the event loop and reported live. Queued in a
    // full outbox, each report would drop another message, be reported in turn, and so on without end.
    if (this.#drops.push(drop) === 1) setImmediate(() => this.#reportDrops());
  };
  readonly #onLevel = (level: OutboxLevel, depth: number): void => {
    const filling = level === 'filling';
    const { logger, maxMessages, centre } = this.options;
    logger[filling ? 'warn' : 'info']({ depth, max: maxMessages }, filling ? 'outbox filling' : 'outbox back to normal');
    centre.reportFault({ kind: 'outbox-filling', detail: `${depth} of ${maxMessages} messages waiting for the broker`, active: filling });
  };

  constructor(
    private readonly options: { signals: EventEmitter<OutboxSignals>; centre: CentrePort; maxMessages: number; logger: Logger },
  ) {
    // From the build on, as the outbox fills from the first decision on.
    options.signals.on('drop', this.#onDrop);
    options.signals.on('level', this.#onLevel);
  }

  start(): void {}

  stop(): void {}

  close(): void {
    this.options.signals.off('drop', this.#onDrop);
    this.options.signals.off('level', this.#onLevel);
  }

  #reportDrops(): void {
    const batch = this.#drops;
    this.#drops = [];
    const counts = new Map<string, number>();
    for (const d of batch) {
      const key = `${d.priority === 'telemetry' ? 'telemetry and security reports' : 'events'} (${d.reason})`;
      counts.set(key, (counts.get(key) ?? 0) + d.count);
    }
    const what = [...counts].map(([key, count]) => `${count} ${key}`).join(', ');
    const ids = `ids ${batch[0]!.firstId}…${batch[batch.length - 1]!.lastId}`;
    this.options.logger.error({ dropped: what, ids }, 'outbox full or aged: messages dropped (decisions stay in the journal)');
    this.options.centre.reportFault({ kind: 'outbox-dropped', detail: `messages dropped: ${what}; ${ids}` }, { queue: false });
  }
}
