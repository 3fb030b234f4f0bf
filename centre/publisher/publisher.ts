/**
 * The centre's push to the gates, for every site it serves: a SitePublisher
 * each (site-publisher.ts), woken when the store commits a batch (the API's
 * onStored), ticked for heartbeats every publisher.heartbeatSeconds, and
 * told to publish a new snapshot whenever the broker connection is made
 * again (a broker that restarted without persistence lost the retained
 * snapshots the gates resync from).
 *
 * The MQTT client is the caller's (the service makes it, with its TLS and
 * credentials); so is each site's signer, asked for every message so that a
 * key rollover can swap it.
 */
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { CentrePublisherConfig } from '../../protocol/config/centre-schema.js';
import type { MessageSigner } from '../../protocol/signed-message.js';
import type { CentreStore } from '../store/store.js';
import { SitePublisher, type PublisherAlarm, type PublisherCounters } from './site-publisher.js';

export type { PublisherAlarm, PublisherCounters } from './site-publisher.js';

export interface PublisherOptions {
  store: CentreStore;
  client: MqttClient;
  /** The sites the centre serves. */
  sites: readonly string[];
  signer: (site: string) => MessageSigner;
  config: CentrePublisherConfig;
  baseTopic: string;
  logger: Logger;
  /** Epoch ms; tests may inject. */
  now?: () => number;
  /** How long stop() waits for a publish in flight; default 5 s. */
  stopWaitMs?: number;
  /** The largest snapshot published; default the gates' 4 MiB. */
  maxSnapshotBytes?: number;
}

export interface PublisherEvents {
  /** Something an operator must see: a snapshot refused as too large. Also logged at error. */
  alarm: [alarm: PublisherAlarm];
}

export class Publisher extends EventEmitter<PublisherEvents> {
  readonly counters: PublisherCounters = { changes: 0, snapshots: 0, heartbeats: 0, failures: 0, snapshotsRefused: 0 };
  private readonly sites = new Map<string, SitePublisher>();
  private readonly log: Logger;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private started = false;
  private readonly onConnect = (): void => {
    this.log.info('broker connected: the retained snapshots are published again and what is owed is sent');
    for (const site of this.sites.values()) {
      site.forceSnapshot();
      site.wake();
    }
  };

  constructor(private readonly options: PublisherOptions) {
    super();
    this.log = options.logger.child({ part: 'publisher' });
    for (const site of new Set(options.sites)) {
      this.sites.set(
        site,
        new SitePublisher({
          site,
          baseTopic: options.baseTopic,
          store: options.store,
          client: options.client,
          signer: options.signer,
          config: options.config,
          logger: options.logger,
          counters: this.counters,
          onAlarm: (alarm) => this.emit('alarm', alarm),
          now: options.now ?? Date.now,
          ...(options.maxSnapshotBytes ? { maxSnapshotBytes: options.maxSnapshotBytes } : {}),
        }),
      );
    }
  }

  /**
   * Goes on from the store: whatever was committed and not acknowledged is
   * published, and each site gets a snapshot of a new version (the broker
   * may have lost the retained one while the centre was away).
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.options.client.on('connect', this.onConnect);
    for (const site of this.sites.values()) {
      site.wake();
      site.forceSnapshot();
    }
    this.heartbeatTimer = setInterval(() => {
      for (const site of this.sites.values()) site.heartbeat();
    }, this.options.config.heartbeatSeconds * 1000);
    this.heartbeatTimer.unref();
    this.log.info({ sites: this.sites.size, heartbeatSeconds: this.options.config.heartbeatSeconds }, 'publisher started');
  }

  /** A batch for `site` was committed: publish it. A site the centre does not serve is logged and left. */
  wake(site: string): void {
    const publisher = this.sites.get(site);
    if (!publisher) {
      this.log.warn({ site }, 'woken for a site the centre does not serve');
      return;
    }
    publisher.wake();
  }

  /** A new snapshot of `site` at once (its key changed: the retained one is signed by the old key); start() makes one anyway. */
  forceSnapshot(site: string): void {
    if (this.started) this.sites.get(site)?.forceSnapshot();
  }

  /** Resolves when every site's loop is idle (what was owed then is published). */
  async idle(): Promise<void> {
    await Promise.all([...this.sites.values()].map((site) => site.idle()));
  }

  async stop(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.options.client.off('connect', this.onConnect);
    await Promise.all([...this.sites.values()].map((site) => site.stop(this.options.stopWaitMs ?? 5_000)));
    this.log.info({ ...this.counters }, 'publisher stopped');
  }
}
