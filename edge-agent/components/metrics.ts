/**
 * The Prometheus endpoint (config.metrics) as a component. Started before
 * the lane although built after it: every decision is counted, and a metrics
 * port already taken stops the start before anyone is let in.
 */
import type { Logger } from 'pino';
import type { LaneHardware } from '../../device/contracts.js';
import type { ColourSync } from '../colour/colour-sync.js';
import type { Lane } from '../lane/lane.js';
import type { GateLink } from '../link/gate-link.js';
import type { Outbox } from '../link/outbox.js';
import { GateMetrics } from '../metrics/metrics.js';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import type { Component } from './component.js';

export class MetricsComponent implements Component {
  readonly name = 'metrics';
  readonly metrics: GateMetrics;
  /** The endpoint's URL once served; null when metrics.enabled is false. */
  url: string | null = null;

  constructor(options: {
    config: GateConfig;
    lane: Lane;
    frames: LaneHardware['frames'];
    outbox: Outbox | null;
    /** Null on a gate without a broker: no sync age, never degraded. */
    colourSync: ColourSync | null;
    link: GateLink | null;
    logger: Logger;
  }) {
    const { config, colourSync, link } = options;
    this.metrics = new GateMetrics({
      site: config.site,
      laneId: config.lane,
      lane: options.lane,
      frames: options.frames,
      outbox: options.outbox,
      colourSyncAgeMs: () => colourSync?.syncAgeMs() ?? null,
      brokerConnected: () => link?.connected ?? false,
      degraded: () => colourSync?.degraded ?? false,
      server: config.metrics,
      logger: options.logger,
    });
  }

  async start(): Promise<void> {
    this.url = await this.metrics.start();
  }

  stop(): Promise<void> {
    return this.metrics.stop();
  }
}
