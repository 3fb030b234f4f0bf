/**
 * What a lane is built from and what it reports: its dependencies, timing
 * and timers, and the events it emits. Apart from Lane so the turn pipeline
 * and its helpers can name them without importing the lane itself.
 */
import type { Logger } from 'pino';
import type { HardwareFault, LaneHardware, TemperatureReading } from '../../device/contracts.js';
import type { Colour } from '../../protocol/domain.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import type { RegistrationRecord, SealedRecord } from '../../protocol/privacy/sealed-record.js';
import type { ColourStatusStore } from '../colour/status-store.js';
import type { CredentialVerifier, VerificationResult } from '../credential/verifier.js';
import type { Journal } from '../journal/journal.js';
import type { Decision, PolicyConfig } from '../policy/policy.js';
import type { LaneHolds } from './lane-holds.js';
import type { LaneState } from './lane-states.js';

export interface LaneTiming {
  /** How long the leaf is released for one person. */
  relayPulseMs: number;
  /** How long to wait for the passage beam after opening. */
  passageTimeoutMs: number;
  /** How long a refusal stays on show before the lane takes the next person. */
  denyDisplayMs: number;
  /** Deadline for one temperature measurement. */
  temperatureDeadlineMs: number;
  /** The same code read again within this time after its decision is ignored (a phone held still). */
  repeatSuppressMs: number;
}

/** Timers behind an interface so tests can drive time. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  now: () => Date.now(),
  // Unref'd: a lane timer never keeps the process alive by itself (the lane runs while its hardware and runner do), and stop() clears them all.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface LaneDependencies {
  site: string;
  lane: string;
  hardware: LaneHardware;
  verifier: CredentialVerifier;
  colours: ColourStatusStore;
  journal: Journal;
  policy: PolicyConfig;
  timing: LaneTiming;
  logger: Logger;
  timers?: Timers;
  /** The link's view of the centre: a degraded gate says so in its events and follows whenDegraded. */
  link?: { readonly degraded: boolean };
  /** colour.whenDegraded; absent: 'staff', the config's default. */
  whenDegraded?: 'offline-code' | 'staff';
  /**
   * Asks the centre for the colour of a printed code (key: its subject) or of
   * an ID card (key: the keyed hash of its number); resolves null when no answer came in time.
   */
  lookup?: (kind: 'printed-code' | 'id-hash', key: string) => Promise<{ colour: Colour | null; effectiveAt: number } | null>;
  /**
   * The keyed hash of a checked ID number (privacy/id-hash.ts), the only form
   * in which the number leaves the swipe handler. Without it, or without
   * lookup, ID cards are refused as not supported.
   */
  idHash?: (nationalId: string) => string;
  /** With it, staff registrations need the person's details and are sealed; without, only the registration is recorded. */
  registrar?: Registrar;
  /** Where red-code holds are kept across restarts (the journal's file); without it a hold ends with the process. */
  holds?: LaneHolds;
}

/** Seals and keeps a staff registration's details (the agent builds it when privacy.authorityKey is set). */
export interface Registrar {
  /** Encrypts to the health authority; nothing personal leaves in clear. */
  seal(record: RegistrationRecord): SealedRecord;
  /** Runs inside the transaction that journals the decision event: stores and queues the sealed record. */
  keep(sealed: SealedRecord, event: DecisionEvent): void;
}

export interface DecisionRecord {
  event: DecisionEvent;
  decision: Decision;
  /** The verified credential, when there was a code; for the screen (masked name) and tests. */
  credential: VerificationResult | null;
  temperature: TemperatureReading | null;
}

export interface LaneFault {
  kind: 'journal' | 'thermometer' | 'driver' | HardwareFault['device'];
  detail: string;
  /** False when a device reports it has recovered. */
  active?: boolean;
}

export interface LaneEvents {
  state: [state: LaneState, previous: LaneState];
  decision: [record: DecisionRecord];
  passage: [outcome: { eventId: string; confirmed: boolean }];
  fault: [fault: LaneFault];
  /** A command from the centre (open, lock) and whether the lane carried it out. */
  remote: [outcome: { action: 'open' | 'lock'; accepted: boolean; state: LaneState }];
}

