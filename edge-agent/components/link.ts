/**
 * The broker link as a component: the centre's signed commands run on the
 * lane and the config, its next key and trust list are taken (centre-trust.ts), each decision reaches the outbox in the transaction
 * that journals it (the outbox pump sends it), and the lane's faults and
 * state changes are reported.
 * Built after the lane; the parts built before it send through the centre
 * port it connects.
 */
import type { Logger } from 'pino';
import type { ColourSync } from '../colour/colour-sync.js';
import type { CredentialVerifier } from '../credential/verifier.js';
import type { CentreKeyRollover } from '../credential/centre-key-rollover.js';
import { centreTrustHandlers } from '../link/centre-trust.js';
import { CommandHandler, reloadTrustStore } from '../link/command-handler.js';
import { GateLink } from '../link/gate-link.js';
import type { LookupClient } from '../link/lookup-client.js';
import type { Outbox } from '../link/outbox.js';
import type { OutboxPump } from '../link/outbox-pump.js';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import type { IssuerTrust } from '../../protocol/trust/trust-list.js';
import type { TrustStore } from '../../protocol/trust/trust-store.js';
import type { CentrePort } from './centre-port.js';
import type { Component } from './component.js';
import type { LaneComponent } from './lane.js';
import type { GateStores } from './stores.js';

export interface LinkComponentOptions {
  config: GateConfig;
  mqttUrl: string;
  stores: Pick<GateStores, 'journal' | 'db'>;
  outbox: Outbox;
  pump: OutboxPump;
  centreKeys: TrustStore | null;
  /** The centre's key announcements; null without centre keys (then none is taken). */
  rollover: CentreKeyRollover | null;
  colourSync: ColourSync;
  lookup: LookupClient | null;
  lane: LaneComponent;
  verifier: CredentialVerifier;
  issuerTrust: IssuerTrust | null;
  centre: CentrePort;
  /** The centre's set-config: checked, kept and applied by the agent. */
  changeConfig: (key: string, value: unknown) => string;
  logger: Logger;
}

export class LinkComponent implements Component {
  static readonly configKeys: readonly string[] = ['mqtt.telemetryIntervalSeconds'];

  readonly name = 'broker link';
  readonly configKeys = LinkComponent.configKeys;
  readonly link: GateLink;

  constructor(options: LinkComponentOptions) {
    const { config, stores, centreKeys, lane: laneComponent, verifier, issuerTrust, logger } = options;
    const lane = laneComponent.lane;
    const commands = new CommandHandler({
      db: stores.db,
      keys: centreKeys,
      // Operator keys the signed trust list delegates open, lock and release-hold to; reload-trust replaces them.
      operators: () => issuerTrust?.operators,
      site: config.site,
      lane: config.lane,
      maxAgeSeconds: config.mqtt.commandMaxAgeSeconds,
      logger,
      target: {
        open: () => lane.remoteOpen(),
        lock: () => lane.remoteLock(),
        releaseHold: () => lane.staffRelease(),
        reloadTrust: () => {
          if (!issuerTrust) throw new Error('credentials.trust is not set: nothing to reload from');
          const summary = reloadTrustStore(verifier, issuerTrust);
          logger.info({ trust: summary }, 'issuer trust reloaded');
          return summary;
        },
        setConfig: (key, value) => options.changeConfig(key, value),
      },
    });
    const link = new GateLink({
      mqtt: { ...config.mqtt, url: options.mqttUrl },
      site: config.site,
      lane: config.lane,
      outbox: options.outbox,
      pump: options.pump,
      inflight: config.outbox.inflight,
      colourSync: options.colourSync,
      commands,
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.rollover ? { centreTrust: centreTrustHandlers({ rollover: options.rollover, issuerTrust, verifier, logger }) } : {}),
      laneView: laneComponent.view,
      logger,
    });
    this.link = link;
    options.centre.connect(link);
    // From the build on: a fault the lane reports while starting is queued for the centre too.
    // Each decision and its alert reach the outbox in the transaction that journals the decision.
    stores.journal.setAppendHook((event) => link.enqueueDecision(event));
    lane.on('fault', (fault) => link.reportFault(fault));
    lane.on('state', () => link.publishStatus());
  }

  start(): void {
    this.link.start();
  }

  stop(): Promise<void> {
    return this.link.stop();
  }

  applyConfig(next: GateConfig): void {
    this.link.setTelemetryInterval(next.mqtt.telemetryIntervalSeconds);
  }
}
