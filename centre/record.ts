/**
 * The central record: what the gates send (decisions, alerts, faults,
 * sealed registrations' ids, colours applied) kept by id at the centre too,
 * with the same feed and store the console uses (record/), so that the §7
 * figures exist per site and day for the department and not only in each
 * site's control room. Its own database (record.sqlite or record.postgres),
 * its own persistent MQTT session: what gates send while the centre is down
 * waits at the broker.
 */
import type { Logger } from 'pino';
import type { CentreConfig } from '../protocol/config/centre-config.js';
import type { TrustStore } from '../protocol/trust/trust-store.js';
import { Feed } from '../record/feed.js';
import { openConsoleStore } from '../record/open-store.js';
import type { ConsoleStore, Figures } from '../record/store.js';
import type { BrokerEndpoint } from './broker.js';
import type { Component } from './components.js';

export class CentreRecord implements Component {
  readonly name = 'record';
  #store: ConsoleStore | null = null;
  #feed: Feed | null = null;

  constructor(
    private readonly config: Pick<CentreConfig, 'record' | 'baseTopic'>,
    private readonly broker: () => BrokerEndpoint,
    private readonly centreKeys: TrustStore,
    private readonly logger: Logger,
  ) {}

  get store(): ConsoleStore {
    if (!this.#store) throw new Error('the record is not open');
    return this.#store;
  }

  get feed(): Feed | null {
    return this.#feed;
  }

  async start(): Promise<void> {
    const log = this.logger.child({ part: 'record' });
    const store = await openConsoleStore({ store: this.config.record, timeZone: undefined }, log, 'health-code-centre-record');
    const endpoint = this.broker();
    const feed = new Feed(
      { broker: { url: endpoint.url, protocolVersion: endpoint.protocolVersion }, baseTopic: this.config.baseTopic },
      store,
      log,
      { centreKeys: this.centreKeys },
    );
    this.#store = store;
    this.#feed = feed;
    try {
      await feed.start(endpoint.clientOptions('record', true));
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** The §7 figures of a site on a day (YYYY-MM-DD in the record's time zone). */
  figures(site: string, day: string): Promise<Figures> {
    return this.store.figures(site, day);
  }

  async stop(): Promise<void> {
    const feed = this.#feed;
    const store = this.#store;
    this.#feed = null;
    this.#store = null;
    if (feed) await feed.stop();
    if (store) await store.close();
  }
}
