/**
 * One gate lane's state machine.
 *
 * Over 500 lines because every transition below reads and writes the same
 * lane state and timers; the states are still checked where they change
 * rather than in one table, and the file is kept whole until they are.
 *
 *   idle ─code─▶ reading ─▶ measuring ─▶ deciding ─┬─ pass ─▶ open ─▶ (passage | timeout) ─▶ idle
 *                                                  ├─ deny ─▶ locked ─(display time)─▶ idle
 *                                                  ├─ hold ─▶ held ─(staff release)─▶ idle
 *                                                  └─ sensor fault ─▶ staff ─(staff resume)─▶ idle
 *   idle ─ID card─▶ measuring + look-up by the keyed hash ─▶ deciding ─▶ as a code; no colour from the centre ─▶ staff
 *   start with a hold kept from before a restart ─▶ held;   staff ─staff resume, a hold still kept─▶ held
 *   any state ─fire alarm─▶ emergency (leaf held open) ─alarm cleared─▶ idle
 *   idle | locked | staff ─centre's open─▶ open;   open | locked | a turn ─centre's lock─▶ idle
 *   journal write fails, or a driver throws ─▶ staff
 *
 * A thermometer fault puts the lane in staff mode whatever the colour (a red
 * code is still held): staff may enter a temperature they took by hand, which
 * decides the same person again, on the record as decided by staff.
 *
 * An ID card's number is checked (GB 11643) and hashed with the site key as
 * it is swiped; only the hash goes on, to the look-up: never into the turn,
 * the journal, the event or the log.
 *
 * A red-code hold is kept (LaneHolds) in the transaction that journals its
 * decision and lasts, through staff mode and restarts, until staff release it;
 * a fire alarm ends it, as the evacuation takes the person out of the lane.
 *
 * It talks to hardware only through device/contracts.ts. Every decision is in
 * the journal before the gate acts on it; if it cannot be recorded, nobody passes.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CodeRead, HardwareFault, IdCardSwipe, LaneHardware, Signal, TemperatureReading } from '../../device/contracts.js';
import type { ColourStatusStore } from '../colour/status-store.js';
import type { CredentialVerifier, VerificationResult } from '../credential/verifier.js';
import type { Colour } from '../../protocol/domain.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import type { Journal } from '../journal/journal.js';
import type { LaneHolds, StoredHold } from './lane-holds.js';
import { checkNationalId } from '../../protocol/privacy/national-id.js';
import { checkRegistrationDetails, type RegistrationDetails } from '../../protocol/privacy/registration.js';
import type { RegistrationRecord, SealedRecord } from '../../protocol/privacy/sealed-record.js';
import { decide, remoteOpenDecision, type CredentialInput, type Decision, type LookupAnswer, type PolicyConfig } from '../policy/policy.js';

export type LaneState =
  | 'idle'
  | 'reading'
  | 'measuring'
  | 'deciding'
  | 'open'
  | 'locked'
  | 'held'
  | 'staff'
  | 'emergency';

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

/** A look-up that never settles must not hold the lane: the link's own deadline is at most 10 s. */
const LOOKUP_GUARD_MS = 15_000;

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

/** One person's turn at the lane: what they showed, and the code read if any. */
type Turn =
  | { kind: 'code'; read: CodeRead }
  | { kind: 'no-code' }
  | { kind: 'staff-registered'; details: RegistrationDetails | null }
  /** Staff took the temperature by hand after a thermometer fault: the same person decided again. */
  | { kind: 'staff-temperature'; previous: AwaitingTemperature; celsius: number }
  /** An ID card: its number already checked and hashed (hash null when refused); the number itself is not kept. */
  | { kind: 'id-card'; status: 'ok' | 'unreadable' | 'not-configured'; hash: string | null };

/**
 * Whoever waits for staff to take their temperature. An ID card keeps its
 * keyed hash while staff mode lasts, to ask the centre again once staff have
 * the temperature: the colour may have changed meanwhile, and no pushed
 * change is keyed by the hash.
 */
interface AwaitingTemperature {
  input: CredentialInput;
  credential: VerificationResult | null;
  idHash?: string;
}

const SIGNAL_OF: Record<LaneState, Signal> = {
  idle: 'idle',
  reading: 'busy',
  measuring: 'busy',
  deciding: 'busy',
  open: 'pass',
  locked: 'deny',
  held: 'hold',
  staff: 'staff',
  emergency: 'emergency',
};

export class Lane extends EventEmitter<LaneEvents> {
  private current: LaneState = 'idle';
  /** Bumped whenever the lane leaves a person's session, so late async results are dropped. */
  private session = 0;
  private timer: unknown = null;
  private lastCode: { text: string; decidedAt: number } | null = null;
  /** The keyed hash of the last ID card decided: a card left on the reader is not decided twice. */
  private lastSwipe: { hash: string; decidedAt: number } | null = null;
  /** The event of the pass the lane is open for, until passage or timeout. */
  private openEventId: string | null = null;
  /** Set by a no-code refusal: only then may staff register the person by hand. */
  private awaitingRegistration = false;
  /** The person whose temperature could not be taken, while in staff mode. */
  private awaitingTemperature: AwaitingTemperature | null = null;
  private readonly unsubscribers: Array<() => void> = [];
  /** The red-code hold in force (kept in deps.holds), from its decision until staff release it; it outlasts staff mode and restarts. */
  private hold: StoredHold | null = null;
  /** Look-ups in flight: stop() settles them (as no answer) and clears their guard timers. */
  private readonly lookupsInFlight = new Set<() => void>();
  /** Devices whose loss keeps the lane in staff mode until they report back. */
  private readonly blockingFaults = new Set<HardwareFault['device']>();
  private readonly timers: Timers;
  private readonly log: Logger;

  constructor(private readonly deps: LaneDependencies) {
    super();
    this.timers = deps.timers ?? systemTimers;
    this.log = deps.logger.child({ lane: deps.lane });
  }

  get state(): LaneState {
    return this.current;
  }

  /** What staff may do at this moment: the staff page offers these and nothing else. */
  get staffCan(): { noCode: boolean; register: boolean; temperature: boolean; release: boolean; resume: boolean } {
    return {
      noCode: this.current === 'idle',
      register: this.awaitingRegistration && (this.current === 'idle' || this.current === 'locked'),
      temperature: this.current === 'staff' && this.awaitingTemperature !== null,
      release: this.current === 'held',
      resume: this.current === 'staff' && this.blockingFaults.size === 0,
    };
  }

  start(): void {
    const { reader, passage, fireAlarm, exitButton, health } = this.deps.hardware;
    this.unsubscribers.push(
      reader.onRead((read) => void this.onCode(read)),
      passage.onPassage(() => this.onPassage()),
      fireAlarm.onChange((active) => this.onFireAlarm(active)),
    );
    if (exitButton) this.unsubscribers.push(exitButton.onPress(() => this.onExitRequest()));
    if (health) this.unsubscribers.push(health.onFault((fault) => this.onHardwareFault(fault)));
    const { idCardReader } = this.deps.hardware;
    if (idCardReader) {
      this.unsubscribers.push(idCardReader.onSwipe((swipe) => void this.onSwipe(swipe)));
      if (!this.deps.idHash || !this.deps.lookup) {
        this.log.warn('an ID-card reader is fitted but ID cards cannot be looked up (privacy.idHashKey and mqtt.url are needed): swipes are refused');
      }
    }
    this.hold = this.deps.holds?.get(this.deps.lane) ?? null;
    // During a fire alarm the leaf must never be commanded locked, not even for an instant.
    if (fireAlarm.active) this.onFireAlarm(true);
    else {
      this.deps.hardware.gate.lock();
      if (this.hold) {
        this.log.warn({ eventId: this.hold.eventId, since: new Date(this.hold.since).toISOString() }, 'red-code hold kept from before the restart: held until staff release it');
        this.enterHeld();
      } else this.enter('idle');
    }
  }

  /** Every timer of the lane is cleared; a red-code hold stays kept for the next start. */
  stop(): void {
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    this.clearTimer();
    for (const settle of [...this.lookupsInFlight]) settle();
    this.session++;
    // A lane taken out of service mid-pulse must not stay released; during a fire alarm it stays open.
    if (this.current !== 'emergency') this.deps.hardware.gate.lock();
  }

  /** The person has no code and presses for help (or staff marks it). */
  async noCode(): Promise<DecisionRecord | null> {
    if (this.current !== 'idle') return null;
    return this.runSession({ kind: 'no-code' }, this.timers.now(), performance.now());
  }

  /**
   * Staff registered the person who had no code: temperature, then the
   * decision. With a registrar the details are required; bad details throw
   * a registration PrivacyError and the lane keeps waiting for a correct registration.
   */
  async staffRegistered(details?: RegistrationDetails): Promise<DecisionRecord | null> {
    if (!this.awaitingRegistration || (this.current !== 'idle' && this.current !== 'locked')) return null;
    const checked = this.deps.registrar || details ? checkRegistrationDetails(details, new Date(this.timers.now())) : null;
    this.clearTimer();
    // Without a registrar nothing is sealed, so the details are not kept.
    return this.runSession({ kind: 'staff-registered', details: this.deps.registrar ? checked : null }, this.timers.now(), performance.now());
  }

  /** In staff mode after a thermometer fault: staff took the person's temperature by hand. */
  async staffTemperature(celsius: number): Promise<DecisionRecord | null> {
    const previous = this.awaitingTemperature;
    if (this.current !== 'staff' || !previous || !Number.isFinite(celsius)) return null;
    return this.runSession({ kind: 'staff-temperature', previous, celsius }, this.timers.now(), performance.now());
  }

  /** Staff end a red-code hold once the person is in their care. */
  staffRelease(): boolean {
    if (this.current !== 'held') return false;
    this.endHold();
    this.deps.hardware.annunciator.alarm(false);
    this.log.info('hold released by staff');
    this.enter('idle');
    return true;
  }

  /** Staff leave staff mode (thermometer repaired or checked); not while the board or relay is still gone. */
  staffResume(): boolean {
    if (this.current !== 'staff') return false;
    if (this.blockingFaults.size > 0) {
      this.log.warn({ devices: [...this.blockingFaults] }, 'staff mode kept: a device the lane needs is still out');
      return false;
    }
    if (this.hold) {
      // Staff mode came over a hold (a device failed meanwhile): the person is still held until staff release them.
      this.log.info({ eventId: this.hold.eventId }, 'staff mode ended by staff: back to the red-code hold');
      this.deps.hardware.gate.lock();
      this.enterHeld();
      return true;
    }
    this.log.info('staff mode ended by staff');
    this.enter('idle');
    return true;
  }

  /** The centre changed a config key: the next turn decides and times by the new values. */
  updateSettings(settings: { policy?: PolicyConfig; timing?: LaneTiming; whenDegraded?: 'offline-code' | 'staff' }): void {
    if (settings.policy) this.deps.policy = settings.policy;
    if (settings.timing) this.deps.timing = settings.timing;
    if (settings.whenDegraded) this.deps.whenDegraded = settings.whenDegraded;
  }

  /**
   * The centre's signed open command: the leaf is released for one passage,
   * as staff at the gate would, and the opening is journaled and reported as
   * a pass decided by staff. Refused during a fire alarm, a red-code hold, a
   * person's turn, an open leaf, or with the board or relay out.
   */
  remoteOpen(): boolean {
    const allowed = (this.current === 'idle' || this.current === 'locked' || this.current === 'staff') && this.hold === null;
    if (!allowed || this.blockingFaults.size > 0) {
      this.log.warn({ state: this.current, devices: [...this.blockingFaults] }, 'remote open refused');
      this.emit('remote', { action: 'open', accepted: false, state: this.current });
      return false;
    }
    // Whoever was waiting on staff (registration, hand temperature) is no longer.
    this.session++;
    this.awaitingRegistration = false;
    this.awaitingTemperature = null;
    const decision = remoteOpenDecision();
    const input: CredentialInput = { kind: 'none' };
    let event: DecisionEvent;
    try {
      event = this.deps.journal.append(this.buildEvent(decision, null, null, input, this.timers.now(), 0, this.deps.link?.degraded ?? false));
    } catch (error) {
      this.log.error({ err: error }, 'journal append failed: remote open refused, lane goes to staff mode');
      this.emit('fault', { kind: 'journal', detail: (error as Error).message });
      this.deps.hardware.gate.lock();
      this.enter('staff');
      this.emit('remote', { action: 'open', accepted: false, state: this.current });
      return false;
    }
    this.log.info({ eventId: event.id }, 'leaf released by the centre');
    const record: DecisionRecord = { event, decision, credential: null, temperature: null };
    try {
      this.act(record, input);
    } catch (error) {
      // As in a person's turn: a relay that throws is a fault and staff take over.
      this.log.error({ err: error }, 'remote open failed: staff mode');
      this.emit('fault', { kind: 'driver', detail: (error as Error).message });
      this.deps.hardware.gate.lock();
      this.enter('staff');
      this.emit('decision', record);
      this.emit('remote', { action: 'open', accepted: false, state: this.current });
      return false;
    }
    this.emit('decision', record);
    this.deps.journal.flush().catch((error: unknown) => this.log.error({ err: error }, 'journal flush failed'));
    this.emit('remote', { action: 'open', accepted: true, state: this.current });
    return true;
  }

  /**
   * The centre's signed lock command: the leaf is locked at once. An open
   * leaf or a turn in progress ends and the lane goes idle; a red-code hold
   * and staff mode stay as they are (staff end those). Never during a fire alarm.
   */
  remoteLock(): boolean {
    if (this.current === 'emergency') {
      this.log.warn('remote lock refused: fire alarm, the leaf stays open');
      this.emit('remote', { action: 'lock', accepted: false, state: this.current });
      return false;
    }
    const openFor = this.current === 'open' ? this.openEventId : null;
    this.deps.hardware.gate.lock();
    if (this.current !== 'held' && this.current !== 'staff') {
      this.session++;
      this.awaitingRegistration = false;
      this.enter('idle');
    }
    if (openFor) this.emit('passage', { eventId: openFor, confirmed: false });
    this.log.info({ state: this.current }, 'leaf locked by the centre');
    this.emit('remote', { action: 'lock', accepted: true, state: this.current });
    return true;
  }

  private async onCode(read: CodeRead): Promise<void> {
    if (this.current !== 'idle') {
      this.log.debug({ state: this.current }, 'code read while busy: ignored');
      return;
    }
    const now = this.timers.now();
    if (this.lastCode && this.lastCode.text === read.text && now - this.lastCode.decidedAt < this.deps.timing.repeatSuppressMs) {
      return; // the same phone still in front of the reader
    }
    await this.runSession({ kind: 'code', read }, now, read.at);
  }

  private async onSwipe(swipe: IdCardSwipe): Promise<void> {
    if (this.current !== 'idle') {
      this.log.debug({ state: this.current }, 'ID card swiped while busy: ignored');
      return;
    }
    const now = this.timers.now();
    // The number goes no further than idCardTurn: checked, hashed, dropped.
    const turn = this.idCardTurn(swipe.nationalId, now);
    if (this.lastSwipe && now - this.lastSwipe.decidedAt >= this.deps.timing.repeatSuppressMs) this.lastSwipe = null;
    if (turn.kind === 'id-card' && turn.hash !== null && turn.hash === this.lastSwipe?.hash) return; // the same card read again
    await this.runSession(turn, now, swipe.at);
  }

  /** Never logs the number, nor its masked form, nor its hash. */
  private idCardTurn(nationalId: string, now: number): Turn {
    const checked = checkNationalId(nationalId, new Date(now));
    if (!checked.ok) {
      this.log.info({ failure: checked.reason }, 'ID card number is not a valid GB 11643 number: refused');
      return { kind: 'id-card', status: 'unreadable', hash: null };
    }
    const { idHash, lookup } = this.deps;
    if (!idHash || !lookup) {
      const missing = [...(idHash ? [] : ['privacy.idHashKey']), ...(lookup ? [] : ['mqtt.url'])];
      this.log.warn({ missing }, 'ID card swiped but this gate is not set up for ID-card look-ups: refused');
      return { kind: 'id-card', status: 'not-configured', hash: null };
    }
    try {
      return { kind: 'id-card', status: 'ok', hash: idHash(checked.id) };
    } catch {
      // No error object in the log: a message could carry what it was given.
      this.log.error('ID number could not be hashed: refused as not supported');
      return { kind: 'id-card', status: 'not-configured', hash: null };
    }
  }

  private async runSession(turn: Turn, wallStart: number, monoStart: number): Promise<DecisionRecord | null> {
    const session = ++this.session;
    this.awaitingRegistration = false;
    this.awaitingTemperature = null;
    try {
      return await this.decideTurn(turn, session, wallStart, monoStart);
    } catch (error) {
      // A driver that throws must not take the gate down: nobody passes, staff take over.
      if (session !== this.session) return null;
      this.log.error({ err: error }, 'lane session failed: staff mode');
      this.emit('fault', { kind: 'driver', detail: (error as Error).message });
      this.deps.hardware.gate.lock();
      this.enter('staff');
      return null;
    }
  }

  private async decideTurn(turn: Turn, session: number, wallStart: number, monoStart: number): Promise<DecisionRecord | null> {
    let input: CredentialInput;
    let credential: VerificationResult | null = null;
    let temperature: TemperatureReading | null = null;
    switch (turn.kind) {
      case 'code':
        this.enter('reading');
        credential = this.deps.verifier.verify(turn.read.text, wallStart);
        input = { kind: 'code', result: credential };
        break;
      case 'no-code':
        input = { kind: 'none' };
        break;
      case 'staff-registered':
        input = { kind: 'staff-registered' };
        break;
      case 'staff-temperature':
        ({ input, credential } = turn.previous);
        temperature = { ok: true, celsius: turn.celsius };
        break;
      case 'id-card':
        input = { kind: 'id-card', status: turn.status };
        break;
    }

    // A printed code the centre pushed nothing for: ask the centre while the temperature is taken.
    let lookup: Promise<LookupAnswer | null> | undefined;
    if (this.deps.lookup && credential?.valid && credential.gzhc?.kind === 'printed' && !this.deps.colours.get(credential.gzhc.sub)) {
      lookup = this.lookUp('printed-code', credential.gzhc.sub);
    } else if (turn.kind === 'id-card' && turn.hash !== null) {
      // Only the keyed hash is asked by: the centre holds the same key, the broker and its logs see no number.
      lookup = this.lookUp('id-hash', turn.hash);
    } else if (turn.kind === 'staff-temperature' && turn.previous.idHash !== undefined) {
      // Asked again: the first answer may be minutes old by the time staff have taken the temperature.
      lookup = this.lookUp('id-hash', turn.previous.idHash);
    }

    // Someone without a code, or with a refused one, needs no measurement to be turned away.
    const needsTemperature =
      input.kind === 'staff-registered' || (input.kind === 'code' && input.result.valid) || (input.kind === 'id-card' && input.status === 'ok');
    if (needsTemperature && !temperature) {
      this.enter('measuring');
      temperature = await this.measure();
      if (session !== this.session) return null; // fire alarm or stop meanwhile
    }

    this.enter('deciding');
    let lookupAnswer: LookupAnswer | null | undefined;
    if (lookup) {
      // Awaited like the thermometer: a fire alarm meanwhile ends the session.
      lookupAnswer = await lookup;
      if (session !== this.session) return null;
    }
    const pushed = credential?.valid && credential.gzhc ? this.deps.colours.get(credential.gzhc.sub) : null;
    // Read once, so the decision and its event agree.
    const degraded = this.deps.link?.degraded ?? false;
    const whenDegraded = this.deps.whenDegraded ?? 'staff';
    let decision = decide(input, pushed, temperature, this.deps.policy, {
      degraded,
      whenDegraded,
      ...(lookup ? { lookup: lookupAnswer ?? null } : {}),
    });
    // A temperature staff took by hand puts the decision on staff's record.
    if (turn.kind === 'staff-temperature') decision = { ...decision, decidedBy: 'staff' };
    const decisionMs = performance.now() - monoStart;

    let event: DecisionEvent;
    try {
      const draft = this.buildEvent(decision, credential, temperature, input, wallStart, decisionMs, degraded);
      const registrar = this.deps.registrar;
      // Sealed before the transaction: the details never reach the disk in clear.
      const sealed =
        turn.kind === 'staff-registered' && turn.details && registrar
          ? registrar.seal({ ...turn.details, temperatureC: draft.temperatureC, time: draft.time, site: draft.site, lane: draft.lane, eventId: draft.id })
          : null;
      const holds = decision.verdict === 'hold' ? this.deps.holds : undefined;
      // The hold is kept with its decision or not at all: a crash between the two never loses it.
      const within =
        (sealed && registrar) || holds
          ? (stored: DecisionEvent): void => {
              if (sealed && registrar) registrar.keep(sealed, stored);
              holds?.hold(this.deps.lane, stored.id, wallStart);
            }
          : undefined;
      event = this.deps.journal.append(draft, within);
    } catch (error) {
      // A decision that cannot be recorded is not made: nobody passes on it.
      this.log.error({ err: error }, 'journal append failed: lane goes to staff mode');
      this.emit('fault', { kind: 'journal', detail: (error as Error).message });
      this.deps.hardware.gate.lock();
      this.enter('staff');
      return null;
    }
    if (decision.verdict === 'hold') this.hold = { lane: this.deps.lane, eventId: event.id, since: wallStart };
    if (turn.kind === 'code') this.lastCode = { text: turn.read.text, decidedAt: this.timers.now() };
    if (turn.kind === 'id-card' && turn.hash !== null) this.lastSwipe = { hash: turn.hash, decidedAt: this.timers.now() };
    const record: DecisionRecord = { event, decision, credential, temperature };
    try {
      const idHash = turn.kind === 'id-card' ? turn.hash : turn.kind === 'staff-temperature' ? turn.previous.idHash : undefined;
      this.act(record, input, idHash ?? undefined);
    } finally {
      // Recorded is made: the decision is reported even when a driver failed to act on it.
      this.emit('decision', record);
    }
    // Once the gate has acted, make the record power-safe (journal sync 'normal');
    // the relay command is not kept waiting for the disk.
    this.deps.journal.flush().catch((error: unknown) => this.log.error({ err: error }, 'journal flush failed'));
    return record;
  }

  /** A thermometer that throws instead of reporting a fault still gives a fault reading. */
  private async measure(): Promise<TemperatureReading> {
    try {
      return await this.deps.hardware.thermometer.measure(this.deps.timing.temperatureDeadlineMs);
    } catch (error) {
      return { ok: false, fault: 'disconnected', detail: `thermometer driver failed: ${(error as Error).message}` };
    }
  }

  /** Never rejects: an error, or no answer by the guard time, is no answer. */
  private lookUp(kind: 'printed-code' | 'id-hash', key: string): Promise<LookupAnswer | null> {
    const lookup = this.deps.lookup!;
    return new Promise((resolve) => {
      const settle = (answer: LookupAnswer | null): void => {
        this.timers.clearTimeout(guard);
        this.lookupsInFlight.delete(stop);
        resolve(answer);
      };
      const stop = (): void => settle(null);
      this.lookupsInFlight.add(stop);
      const guard = this.timers.setTimeout(() => {
        this.log.warn('online look-up did not settle: decided without an answer');
        settle(null);
      }, LOOKUP_GUARD_MS);
      const failed = (error: unknown): void => {
        this.log.warn({ err: error }, 'online look-up failed: decided without an answer');
        settle(null);
      };
      try {
        lookup(kind, key).then(settle, failed);
      } catch (error) {
        failed(error);
      }
    });
  }

  private buildEvent(
    decision: Decision,
    credential: VerificationResult | null,
    temperature: TemperatureReading | null,
    input: CredentialInput,
    wallStart: number,
    decisionMs: number,
    degraded: boolean,
  ): Omit<DecisionEvent, 'seq'> {
    // An ID card's event has no subject: the event id already names the turn, and the
    // keyed hash would be a stable pseudonym linking one person's passages across gates,
    // reversible by anyone who took the key off a gate (brute force over the numbers).
    let subject: string | null = null;
    if (credential?.valid && credential.gzhc) subject = credential.gzhc.sub;
    else if (input.kind === 'staff-registered') subject = `staff:${randomUUID()}`;
    return {
      id: randomUUID(),
      time: new Date(wallStart).toISOString(),
      site: this.deps.site,
      lane: this.deps.lane,
      verdict: decision.verdict,
      reason: decision.reason,
      decidedBy: decision.decidedBy,
      subject,
      colour: decision.colour,
      temperatureC: temperature?.ok ? Math.round(temperature.celsius * 10) / 10 : null,
      sensorFault: temperature && !temperature.ok ? temperature.fault : null,
      credential: credential
        ? {
            profile: credential.profile,
            kind: credential.gzhc?.kind ?? null,
            kid: credential.kid,
            iss: credential.valid ? credential.iss : null,
            failure: credential.failure,
          }
        : input.kind === 'id-card'
          ? { profile: null, kind: 'id-card', kid: null, iss: null, failure: input.status === 'ok' ? null : input.status }
          : null,
      decisionMs: Math.round(decisionMs * 1000) / 1000,
      degraded,
    };
  }

  private act(record: DecisionRecord, input: CredentialInput, idHash?: string): void {
    const { gate, annunciator } = this.deps.hardware;
    const { decision, temperature } = record;
    const thermometerFault = temperature && !temperature.ok ? temperature : null;
    if (thermometerFault) this.emit('fault', { kind: 'thermometer', detail: `${thermometerFault.fault}: ${thermometerFault.detail}` });

    if (decision.verdict === 'pass') {
      gate.pulse(this.deps.timing.relayPulseMs);
      this.enter('open');
      this.openEventId = record.event.id;
      this.setTimer(this.deps.timing.passageTimeoutMs, () => {
        this.log.warn({ eventId: record.event.id }, 'passage not seen before the timeout');
        this.emit('passage', { eventId: record.event.id, confirmed: false });
        gate.lock();
        this.enter('idle');
      });
      return;
    }
    gate.lock();
    if (decision.verdict === 'hold') {
      this.log.warn({ eventId: record.event.id }, 'red code: person held, staff and epidemic control to be notified');
      this.enterHeld();
      return;
    }
    if (decision.reason === 'id-lookup-failed') {
      // The centre did not answer for an ID card: staff confirm the colour another way, then resume.
      this.log.warn({ eventId: record.event.id }, 'ID card colour not looked up: staff mode');
      this.enter('staff');
      return;
    }
    if (thermometerFault) {
      // Whatever the colour said, the thermometer is out: staff mode, never an automatic pass.
      this.awaitingTemperature = { input, credential: record.credential, ...(idHash !== undefined ? { idHash } : {}) };
      this.enter('staff');
      return;
    }
    this.awaitingRegistration = decision.reason === 'no-code';
    this.enter('locked');
    this.setTimer(this.deps.timing.denyDisplayMs, () => this.enter('idle'));
  }

  private onPassage(): void {
    if (this.current !== 'open' || !this.openEventId) return;
    this.emit('passage', { eventId: this.openEventId, confirmed: true });
    this.deps.hardware.gate.lock();
    this.enter('idle');
  }

  /** Someone inside presses the exit button: let them out, unless a red-code person is being held here. */
  private onExitRequest(): void {
    if (this.current === 'held' || this.current === 'emergency') return;
    this.log.info('exit button: leaf released for egress');
    this.deps.hardware.gate.pulse(this.deps.timing.relayPulseMs);
  }

  /** A device failed or recovered; without the board or the relay nobody can be let through by the lane. */
  private onHardwareFault(fault: HardwareFault): void {
    this.emit('fault', { kind: fault.device, detail: fault.detail, active: fault.active });
    if (fault.blocking) {
      if (fault.active) this.blockingFaults.add(fault.device);
      else this.blockingFaults.delete(fault.device);
    }
    if (!fault.active || !fault.blocking || this.current === 'emergency') return;
    // The relay has put the leaf in its configured safe state; staff take over.
    this.session++;
    this.enter('staff');
  }

  private onFireAlarm(active: boolean): void {
    const { gate, annunciator } = this.deps.hardware;
    if (active) {
      // Fail-safe egress: whatever the lane was doing, the leaf opens and stays open.
      this.session++;
      this.awaitingRegistration = false;
      this.awaitingTemperature = null;
      gate.holdOpen();
      annunciator.alarm(false);
      if (this.hold) {
        this.log.warn({ eventId: this.hold.eventId }, 'fire alarm: the red-code hold ends with the evacuation');
        this.endHold();
      }
      this.log.warn('fire alarm: lane held open');
      this.enter('emergency');
    } else if (this.current === 'emergency') {
      gate.lock();
      this.log.info('fire alarm cleared: lane back in service');
      this.enter('idle');
    }
  }

  /** Held for a red code: alarm on, leaf locked (the caller locked it), until staff release. */
  private enterHeld(): void {
    this.deps.hardware.annunciator.alarm(true);
    this.enter('held');
  }

  /** The hold is over: forgotten here and in the store. A store that fails keeps it, and a restart holds again: the safe side. */
  private endHold(): void {
    this.hold = null;
    try {
      this.deps.holds?.release(this.deps.lane);
    } catch (error) {
      this.log.error({ err: error }, 'the ended hold could not be removed from the journal: a restart will hold the lane again');
    }
  }

  private enter(state: LaneState): void {
    if (state !== 'open') this.openEventId = null;
    this.clearTimer();
    const previous = this.current;
    this.current = state;
    this.deps.hardware.annunciator.show(SIGNAL_OF[state]);
    if (previous !== state) this.emit('state', state, previous);
  }

  private setTimer(ms: number, fn: () => void): void {
    this.clearTimer();
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      fn();
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }
}
