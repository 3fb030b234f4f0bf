/**
 * The lane as a component: built from the config and what it decides with,
 * it follows the run-time settings the centre may change (the fever
 * threshold, the timings, what a degraded gate does) and keeps the set of
 * devices with an active fault for the link's status and telemetry.
 */
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { LaneHardware } from '../../device/contracts.js';
import type { ColourSync } from '../colour/colour-sync.js';
import type { CredentialVerifier } from '../credential/verifier.js';
import type { LookupClient } from '../link/lookup-client.js';
import type { LaneView } from '../link/gate-link.js';
import { Lane, type Registrar, type Timers } from '../lane/lane.js';
import { gateSectionKeys, type GateConfig } from '../../protocol/config/gate-schema.js';
import { sealRecord } from '../../protocol/privacy/sealed-record.js';
import type { RegistrationStore } from '../privacy/retention.js';
import type { CentrePort } from './centre-port.js';
import type { Component } from './component.js';
import type { GateStores } from './stores.js';

export interface LaneComponentOptions {
  config: GateConfig;
  hardware: LaneHardware;
  stores: Pick<GateStores, 'journal' | 'colours' | 'holds'>;
  verifier: CredentialVerifier;
  /** The colour sync when the gate is linked to a centre; without a link there is no centre to fall out of sync with: never degraded. */
  colourSync: ColourSync | null;
  lookup: LookupClient | null;
  /** Keyed hash of an ID number; null without privacy.idHashKey (ID cards refused). */
  idHash: ((nationalId: string) => string) | null;
  registrar: Registrar | null;
  timers?: Timers;
  logger: Logger;
}

export class LaneComponent implements Component {
  /** What of the config the lane reads at each turn. */
  static readonly configKeys: readonly string[] = [
    'policy.feverThresholdC',
    ...gateSectionKeys('timing'),
    'colour.whenDegraded',
  ];

  readonly name = 'lane';
  readonly configKeys = LaneComponent.configKeys;
  readonly lane: Lane;
  /** The lane's state and its devices with an active fault, as the link reports them. */
  readonly view: LaneView;
  readonly #activeFaults = new Set<string>();

  constructor({ config, hardware, stores, verifier, colourSync, lookup, idHash, registrar, timers, logger }: LaneComponentOptions) {
    this.lane = new Lane({
      site: config.site,
      lane: config.lane,
      hardware,
      verifier,
      colours: stores.colours,
      journal: stores.journal,
      policy: config.policy,
      timing: config.timing,
      logger,
      ...(colourSync ? { link: colourSync } : {}),
      whenDegraded: config.colour.whenDegraded,
      ...(idHash ? { idHash } : {}),
      ...(lookup
        ? {
            lookup: async (kind: 'printed-code' | 'id-hash', subject: string) => {
              const answer = await lookup.lookup(kind, subject);
              return answer === null ? null : { colour: answer.colour, effectiveAt: answer.effectiveAt ?? Date.now() };
            },
          }
        : {}),
      ...(timers ? { timers } : {}),
      ...(registrar ? { registrar } : {}),
      holds: stores.holds,
    });
    this.lane.on('fault', (fault) => {
      if (fault.active === false) this.#activeFaults.delete(fault.kind);
      else if (fault.active === true) this.#activeFaults.add(fault.kind);
    });
    const lane = this.lane;
    const faults = this.#activeFaults;
    this.view = {
      get laneState() {
        return lane.state;
      },
      get activeFaults() {
        return [...faults];
      },
    };
  }

  start(): void {
    this.lane.start();
  }

  stop(): void {
    this.lane.stop();
  }

  applyConfig(next: GateConfig): void {
    this.lane.updateSettings({ policy: next.policy, timing: next.timing, whenDegraded: next.colour.whenDegraded });
  }
}

/** Seals with the authority's key; keeps the record, and its outbox row when linked, in the decision's transaction. */
export function sealingRegistrar(key: KeyObject, store: RegistrationStore, centre: CentrePort): Registrar {
  return {
    seal: (record) => sealRecord(record, key),
    keep: (sealed) => {
      store.add(sealed);
      centre.enqueueRegistration(sealed);
    },
  };
}
