/**
 * What only the leading centre does: publish to the gates, answer their
 * look-ups, take their alerts and registrations for the department, deliver
 * those, and keep the central record. Started when the election says this
 * process leads, stopped the moment it says the lead is lost, and started
 * again if it comes back; the transitions run one after another, so a quick
 * lost-then-leading never overlaps two sets of duties.
 *
 * Each duty that reads from the broker has its own connection: the publisher
 * and the look-ups share one with a clean session (nothing of theirs is worth
 * keeping while the centre is away); the department's intake and the record
 * each keep a persistent session, so what gates send while no centre leads
 * waits at the broker.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { CentreConfig } from '../protocol/config/centre-config.js';
import type { MessageSigner } from '../protocol/signed-message.js';
import { TrustStore } from '../protocol/trust/trust-store.js';
import type { BrokerEndpoint } from './broker.js';
import { CentreError } from './errors.js';
import type { Component } from './components.js';
import { Deliverer, type AlarmEvent } from './department/deliverer.js';
import { DepartmentIntake } from './department/intake.js';
import { departmentSettings } from './department/settings.js';
import type { LeaderElection } from './leader/election.js';
import { LookupResponder } from './lookups/lookup-responder.js';
import { Publisher, type PublisherAlarm } from './publisher/publisher.js';
import { CentreRecord } from './record.js';
import type { CentreKeysControl } from './api/options.js';
import { KeyRing } from './keys/key-ring.js';
import { SiteContinuity } from './site-continuity.js';
import type { CentreSite } from './sites.js';
import type { CentreStore } from './store/store.js';

export interface LeaderDutiesOptions {
  config: CentreConfig;
  election: LeaderElection;
  broker: () => BrokerEndpoint;
  store: () => CentreStore;
  sites: readonly CentreSite[];
  logger: Logger;
}

export interface DutiesEvents {
  /** Something an operator must see (a snapshot too large, an alert not delivered in time). */
  alarm: [{ kind: 'publisher'; alarm: PublisherAlarm } | { kind: 'department'; alarm: AlarmEvent }];
  /** The duties started (this process leads) or stopped. */
  leading: [boolean];
}

interface Running {
  link: MqttClient;
  intakeLink: MqttClient;
  publisher: Publisher;
  lookups: LookupResponder;
  intake: DepartmentIntake;
  deliverer: Deliverer;
  record: CentreRecord;
  continuity: SiteContinuity;
}

/** An MQTT connection that is up, or the broker's refusal; it keeps retrying in the background when the broker is only away. */
function connect(endpoint: BrokerEndpoint, name: string, persistent: boolean, manual = false): MqttClient {
  return mqtt.connect(endpoint.url, { ...endpoint.clientOptions(name, persistent), ...(manual ? { manualConnect: true } : {}) });
}

export class LeaderDuties extends EventEmitter<DutiesEvents> implements Component {
  readonly name = 'leader-duties';
  #running: Running | null = null;
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly #log: Logger;
  readonly #onLeading = (): void => this.#queue(() => this.#startDuties());
  readonly #onLost = (): void => this.#queue(() => this.#stopDuties());

  constructor(private readonly options: LeaderDutiesOptions) {
    super();
    this.#log = options.logger.child({ part: 'leader-duties' });
  }

  /** The publisher while this process leads (the API wakes it after each commit). */
  get publisher(): Publisher | null {
    return this.#running?.publisher ?? null;
  }

  get deliverer(): Deliverer | null {
    return this.#running?.deliverer ?? null;
  }

  get record(): CentreRecord | null {
    return this.#running?.record ?? null;
  }

  /** The sites' keys and epochs while this process leads. */
  get keys(): CentreKeysControl | null {
    return this.#running?.continuity ?? null;
  }

  get lookups(): LookupResponder | null {
    return this.#running?.lookups ?? null;
  }

  get leading(): boolean {
    return this.#running !== null && this.options.election.leading;
  }

  /** Resolves when the transitions asked for so far have run. */
  settled(): Promise<void> {
    return this.#chain;
  }

  start(): Promise<void> {
    this.#stopped = false;
    this.options.election.on('leading', this.#onLeading);
    this.options.election.on('lost', this.#onLost);
    this.options.election.on('standby', this.#onLost);
    if (this.options.election.leading) this.#onLeading();
    return this.#chain;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.options.election.off('leading', this.#onLeading);
    this.options.election.off('lost', this.#onLost);
    this.options.election.off('standby', this.#onLost);
    this.#queue(() => this.#stopDuties());
    await this.#chain;
  }

  #queue(step: () => Promise<void>): void {
    this.#chain = this.#chain.then(step).catch((error: Error) => this.#log.error({ err: error.message }, 'a change of lead failed'));
  }

  /**
   * Every message to the gates is signed right before it is published, so the
   * signer is where the lead is checked before each act: a process paused past
   * its lease (and so perhaps no longer the leader) signs nothing more.
   */
  #signer = (site: string): MessageSigner => {
    if (!this.options.election.leading) throw new CentreError('not-leader', `not signing for site ${site}: this centre does not lead now`);
    const ring = this.#running?.continuity.ring(site) ?? this.#starting?.ring(site);
    if (!ring) throw new CentreError('unknown-site', `no key for site ${site}`);
    return ring.signer;
  };
  #starting: SiteContinuity | null = null;

  async #startDuties(): Promise<void> {
    if (this.#running || this.#stopped || !this.options.election.leading) return;
    const { config, logger } = this.options;
    const store = this.options.store();
    const endpoint = this.options.broker();
    const siteIds = this.options.sites.map((s) => s.id);
    const served = new Set(siteIds);
    // Each site's key ring reads its keys (and completes a switch a crash interrupted) before anything is signed.
    const rings = this.options.sites.map(
      (site) => new KeyRing({ site: site.id, files: { key: site.keyFile, certificate: site.certificateFile }, ...(site.passphrase !== undefined ? { passphrase: site.passphrase } : {}), logger }),
    );
    // The record verifies the centre's own colour changes it reads back: every key a site signs with, the next one as soon as announced.
    const centreKeys = new TrustStore();
    for (const ring of rings) centreKeys.addEncoded(Buffer.from(ring.certificatePem), `site ${ring.site}`);
    const link = connect(endpoint, 'publisher', false);
    const intakeLink = connect(endpoint, 'department', true, true);
    const publisher = new Publisher({ store, client: link, sites: siteIds, signer: this.#signer, config: config.publisher, baseTopic: config.baseTopic, logger });
    const lookups = new LookupResponder({ store, client: link, serves: (site) => served.has(site), signer: this.#signer, baseTopic: config.baseTopic, logger });
    const deliverer = new Deliverer({ store, config: config.department, settings: departmentSettings(config.department), logger });
    const intake = new DepartmentIntake({ client: intakeLink, store, baseTopic: config.baseTopic, logger, onStored: () => deliverer.wake() });
    const record = new CentreRecord(config, () => endpoint, centreKeys, logger);
    const continuity = new SiteContinuity({ rings, sites: this.options.sites, store, link, baseTopic: config.baseTopic, logger, wake: (site) => publisher.wake(site), trusted: centreKeys, trustListCheckMs: config.publisher.trustListCheckSeconds * 1000, onSwitched: (site) => publisher.forceSnapshot(site) });
    this.#starting = continuity;
    publisher.on('alarm', (alarm) => this.emit('alarm', { kind: 'publisher', alarm }));
    deliverer.on('alarm', (alarm) => this.emit('alarm', { kind: 'department', alarm }));
    const running: Running = { link, intakeLink, publisher, lookups, intake, deliverer, record, continuity };
    try {
      continuity.start();
      publisher.start();
      // Not awaited (the broker may be away); a subscription lost with the connection is made again on reconnect.
      lookups.start().catch((error: Error) => this.#log.error({ err: error.message }, 'look-up subscription failed'));
      // Hooked before its first connect: the broker resends the session's unacknowledged alerts at once.
      intake.start();
      intakeLink.connect();
      deliverer.start();
      await record.start();
    } catch (error) {
      this.#starting = null;
      await this.#halt(running);
      throw error;
    }
    this.#running = running;
    this.#starting = null;
    this.#log.info({ sites: siteIds.length, broker: endpoint.url }, 'leading: publishing to the gates and delivering to the department');
    this.emit('leading', true);
  }

  async #stopDuties(): Promise<void> {
    const running = this.#running;
    if (!running) return;
    this.#running = null;
    await this.#halt(running);
    this.#log.warn('not leading: publishing and delivering stopped');
    this.emit('leading', false);
  }

  async #halt(running: Running): Promise<void> {
    const steps: Array<[string, () => unknown]> = [
      ['record', () => running.record.stop()],
      ['deliverer', () => running.deliverer.stop()],
      ['intake', () => running.intake.stop()],
      ['lookups', () => running.lookups.stop()],
      ['publisher', () => running.publisher.stop()],
      ['continuity', () => running.continuity.stop()],
      ['intake link', () => running.intakeLink.endAsync()],
      ['link', () => running.link.endAsync()],
    ];
    for (const [name, step] of steps) {
      try {
        await step();
      } catch (error) {
        this.#log.error({ err: (error as Error).message, duty: name }, 'a duty failed to stop');
      }
    }
  }
}
