/**
 * The edge agent of one lane: builds the journal, the credential verifier,
 * the lane and its link from a checked config and the lane's hardware, and
 * starts and stops them in order.
 */
import type { Logger } from 'pino';
import type { LaneHardware } from '../device/contracts.js';
import { ColourStatusStore } from './colour/status-store.js';
import type { GateConfig } from './config/schema.js';
import { TrustStore } from './credential/trust-store.js';
import { CredentialVerifier } from './credential/verifier.js';
import { Journal } from './journal/journal.js';
import { Lane, type Timers } from './lane/lane.js';
import { DecisionPublisher } from './link/decision-publisher.js';

export interface AgentOptions {
  config: GateConfig;
  hardware: LaneHardware;
  logger: Logger;
  /** Trust store given directly (simulator, tests); else loaded from config.credentials.trust. */
  trust?: TrustStore;
  colours?: ColourStatusStore;
  timers?: Timers;
}

export class GateAgent {
  readonly lane: Lane;
  readonly journal: Journal;
  readonly colours: ColourStatusStore;
  readonly verifier: CredentialVerifier;
  private readonly publisher: DecisionPublisher | null;

  constructor(private readonly options: AgentOptions) {
    const { config, hardware, logger } = options;
    const trust = options.trust ?? (config.credentials.trust ? TrustStore.load(config.credentials.trust) : undefined);
    if (!trust) throw new Error('no trust store: set credentials.trust to a file or folder of issuer certificates');
    this.verifier = new CredentialVerifier({
      trust,
      clockSkewSeconds: config.credentials.clockSkewSeconds,
      maxDynamicLifetimeSeconds: config.credentials.maxDynamicLifetimeSeconds,
    });
    this.colours = options.colours ?? new ColourStatusStore();
    this.journal = Journal.open(config.journal.path, { sync: config.journal.sync });
    this.lane = new Lane({
      site: config.site,
      lane: config.lane,
      hardware,
      verifier: this.verifier,
      colours: this.colours,
      journal: this.journal,
      policy: config.policy,
      timing: config.timing,
      logger,
      ...(options.timers ? { timers: options.timers } : {}),
    });
    this.publisher = config.mqtt.url
      ? new DecisionPublisher({ url: config.mqtt.url, baseTopic: config.mqtt.baseTopic, site: config.site, lane: config.lane, logger })
      : null;
    if (this.publisher) {
      const publisher = this.publisher;
      this.lane.on('decision', ({ event, decision }) => {
        publisher.publish(event);
        if (decision.alert) publisher.publishAlert(event);
      });
      this.lane.on('fault', (fault) => publisher.publishFault(fault));
    }
  }

  /** The lane starts deciding at once; the broker link connects when it can. */
  async start(): Promise<void> {
    this.lane.start();
    await this.options.hardware.reader.start();
    this.publisher?.start();
  }

  get brokerConnected(): boolean {
    return this.publisher?.connected ?? false;
  }

  async stop(): Promise<void> {
    this.lane.stop();
    await this.options.hardware.reader.stop();
    await this.publisher?.stop();
    this.journal.close();
  }
}
