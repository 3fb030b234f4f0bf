/**
 * The journal's file and every store kept in it, opened in one place: the
 * decisions, the outbox, the centre's config overrides, the pushed colours,
 * red-code holds, sealed registrations and the signed trust list's version.
 * The journal component closes the file, after every other component.
 */
import { EventEmitter } from 'node:events';
import { ColourStatusStore } from '../colour/status-store.js';
import { ConfigOverrides } from '../config/overrides.js';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import { TrustListVersions } from '../credential/trust-list-versions.js';
import { openGateDatabase, type GateDatabase } from '../database/gate-database.js';
import { Journal } from '../journal/journal.js';
import { LaneHolds } from '../lane/lane-holds.js';
import { Outbox, type OutboxDrop, type OutboxLevel } from '../link/outbox.js';
import { RegistrationStore } from '../privacy/retention.js';
import type { Component } from './component.js';

/** What the outbox says about itself: each overflowing enqueue's drop, and its level crossing the warning mark. */
export interface OutboxSignals {
  drop: [OutboxDrop];
  level: [OutboxLevel, number];
}

export interface GateStores {
  journal: Journal;
  db: GateDatabase;
  overrides: ConfigOverrides;
  colours: ColourStatusStore;
  holds: LaneHolds;
  /** The signed trust list's version loaded; null when no credentials.trust path is configured. */
  versions: TrustListVersions | null;
  /** Sealed registrations; null without an authority key. */
  registrations: RegistrationStore | null;
  /** Messages waiting for the broker; null without mqtt.url (there is no broker to wait for). */
  outbox: Outbox | null;
  /** The outbox's drops and level changes, for the component that reports them. */
  outboxSignals: EventEmitter<OutboxSignals>;
}

/** Opens the journal's file and its stores; a store that fails to open closes the file before the error goes on. */
export function openStores(config: GateConfig, options: { sealsRegistrations: boolean }): GateStores {
  const db = openGateDatabase(config.journal.path, { sync: config.journal.sync });
  const journal = Journal.over(db);
  try {
    const outboxSignals = new EventEmitter<OutboxSignals>();
    return {
      journal,
      db,
      versions: config.credentials.trust ? new TrustListVersions(db) : null,
      overrides: ConfigOverrides.attach(db),
      colours: ColourStatusStore.attach(db),
      registrations: options.sealsRegistrations ? new RegistrationStore(db, { retentionDays: config.privacy.retentionDays }) : null,
      outbox: config.mqtt.url
        ? Outbox.attach(db, {
            ...config.outbox,
            onDrop: (drop) => outboxSignals.emit('drop', drop),
            onLevel: (level, depth) => outboxSignals.emit('level', level, depth),
          })
        : null,
      // A red-code hold outlasts a restart: the person is still at the gate until staff release them.
      holds: LaneHolds.attach(db),
      outboxSignals,
    };
  } catch (error) {
    journal.close();
    throw error;
  }
}

/** The journal's file: nothing to start; closed last, once every other component has stopped. */
export function journalComponent(stores: GateStores): Component {
  return {
    name: 'journal',
    start: () => {},
    stop: () => {},
    close: () => {
      stores.journal.setAppendHook(null);
      stores.journal.close();
    },
  };
}
