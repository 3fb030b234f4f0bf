/**
 * Fleet mode: many lanes' MQTT links in one process, each with its own
 * journal file (outbox, pushed colours, seen commands), its own broker
 * connection and the agent's real link code (GateLink, ColourSync, the
 * durable outbox), but no hardware: a fixed idle lane stands in for the
 * reader, thermometer and leaf. Used by `npm start -- --fleet N` and the
 * propagation benchmark.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ColourSync } from '../edge-agent/colour/colour-sync.js';
import { ColourStatusStore } from '../edge-agent/colour/status-store.js';
import { checkConfig } from '../protocol/config/gate-config.js';
import type { GateConfig } from '../protocol/config/gate-schema.js';
import type { TrustStore } from '../protocol/trust/trust-store.js';
import { Journal } from '../edge-agent/journal/journal.js';
import { GateLink, type LaneView } from '../edge-agent/link/gate-link.js';
import type { MqttClientOptions } from '../edge-agent/link/mqtt-options.js';
import { Outbox } from '../edge-agent/link/outbox.js';
import type { VerifiedSignatures } from '../protocol/signed-message.js';

export interface FleetLaneOptions {
  url: string;
  site: string;
  lane: string;
  /** Folder for this lane's journal file. */
  dir: string;
  centreKeys: TrustStore;
  logger: Logger;
  baseTopic?: string;
  /** Overrides of the lane config (colour.maxSyncAgeSeconds, ...). */
  config?: Record<string, unknown>;
  clientOptions?: Partial<MqttClientOptions>;
  /** Shared by the lanes of this process: a centre message is verified once, not once per lane. */
  verifiedSignatures?: VerifiedSignatures;
}

const IDLE_LANE: LaneView = { laneState: 'idle', activeFaults: [] };

export class FleetLane {
  readonly link: GateLink;
  readonly colours: ColourStatusStore;
  readonly sync: ColourSync;
  readonly journal: Journal;
  readonly config: GateConfig;

  constructor(options: FleetLaneOptions) {
    const { site, lane, logger } = options;
    const overrides = options.config ?? {};
    this.config = checkConfig({
      site,
      lane,
      ...overrides,
      mqtt: { ...(overrides.mqtt as Record<string, unknown> | undefined), url: options.url, baseTopic: options.baseTopic ?? 'hc/v1' },
    });
    mkdirSync(options.dir, { recursive: true });
    this.journal = Journal.open(join(options.dir, `${lane}.db`), { sync: 'normal' });
    this.colours = ColourStatusStore.attach(this.journal.database);
    this.sync = new ColourSync({
      store: this.colours,
      keys: options.centreKeys,
      site,
      config: this.config.colour,
      logger,
      ...(options.verifiedSignatures ? { verifiedSignatures: options.verifiedSignatures } : {}),
    });
    const outbox = Outbox.attach(this.journal.database, this.config.outbox);
    this.link = new GateLink({
      mqtt: { ...this.config.mqtt, url: options.url },
      site,
      lane,
      outbox,
      inflight: this.config.outbox.inflight,
      colourSync: this.sync,
      laneView: IDLE_LANE,
      logger,
      ...(options.clientOptions ? { clientOptions: options.clientOptions } : {}),
    });
  }

  /** Resolves when connected (the link keeps reconnecting by itself afterwards). */
  start(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.config.lane}: not connected within ${timeoutMs} ms`)), timeoutMs);
      this.link.once('connected', () => {
        clearTimeout(timer);
        resolve();
      });
      this.link.start();
    });
  }

  async stop(): Promise<void> {
    await this.link.stop();
    this.sync.stop();
    this.journal.close();
  }
}

/** Start `count` fleet lanes, at most `concurrency` connecting at once (a broker meets a burst of thousands badly). */
export async function startFleet(
  count: number,
  make: (index: number) => FleetLane,
  { concurrency = 100, onProgress }: { concurrency?: number; onProgress?: (started: number) => void } = {},
): Promise<FleetLane[]> {
  const lanes: FleetLane[] = [];
  let next = 0;
  let started = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const lane = make(index);
      lanes[index] = lane;
      await lane.start();
      onProgress?.(++started);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return lanes;
}
