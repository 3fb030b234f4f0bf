/**
 * One gate lane: it runs the table of its states (lane-states.ts, drawn in
 * docs/lane-states.md), takes people through the turn pipeline (turn.ts),
 * journals each decision and acts on it.
 *
 * A thermometer fault puts the lane in staff mode whatever the colour (a red
 * code is still held): staff may enter a temperature they took by hand, which
 * decides the same person again, on the record as decided by staff.
 *
 * A red-code hold is kept (LaneHolds) in the transaction that journals its
 * decision and lasts, through staff mode and restarts, until staff release it;
 * a fire alarm ends it, as the evacuation takes the person out of the lane.
 *
 * It talks to hardware only through device/contracts.ts. Every decision is in
 * the journal before the gate acts on it; if it cannot be recorded, nobody passes.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { CodeRead, HardwareFault, IdCardSwipe } from '../../device/contracts.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import type { StoredHold } from './lane-holds.js';
import { checkRegistrationDetails, type RegistrationDetails } from '../../protocol/privacy/registration.js';
import { remoteOpenDecision, type CredentialInput, type PolicyConfig } from '../policy/policy.js';
import { buildDecisionEvent } from './decision-event.js';
import { GuardedLookup } from './guarded-lookup.js';
import { LANE_TABLE, REFUSAL_LOG, transition, type LaneEvent, type LaneState, type Target } from './lane-states.js';
import { systemTimers, type DecisionRecord, type LaneDependencies, type LaneEvents, type LaneTiming, type Timers } from './lane-types.js';
import { journalDecision } from './record-decision.js';
import { idCardTurn, runTurn, type AwaitingTemperature, type DecidedTurn, type Turn } from './turn.js';

export type { LaneState };
export { systemTimers };
export type { DecisionRecord, LaneDependencies, LaneEvents, LaneFault, LaneTiming, Registrar, Timers } from './lane-types.js';

export class Lane extends EventEmitter<LaneEvents> {
  private current: LaneState = 'idle';
  /** Bumped whenever the lane leaves a person's session, so late async results are dropped. */
  private session = 0;
  private timer: unknown = null;
  private lastCode: { text: string; decidedAt: number } | null = null;
  /** The keyed hash of the last ID card decided: a card left on the reader is not decided twice. */
  private lastSwipe: { hash: string; decidedAt: number } | null = null;
  /** The event of the pass the lane is open for, until passage or timeout; set only while open. */
  private openEventId: string | null = null;
  /** Set by a no-code refusal: only then may staff register the person by hand. */
  private awaitingRegistration = false;
  /** The person whose temperature could not be taken, while in staff mode. */
  private awaitingTemperature: AwaitingTemperature | null = null;
  private readonly unsubscribers: Array<() => void> = [];
  /** The red-code hold in force (kept in deps.holds), from its decision until staff release it; it outlasts staff mode and restarts. */
  private hold: StoredHold | null = null;
  /** Look-ups to the centre; stop() settles those in flight (as no answer). */
  private readonly lookups: GuardedLookup | null;
  /** Devices whose loss keeps the lane in staff mode until they report back. */
  private readonly blockingFaults = new Set<HardwareFault['device']>();
  private readonly timers: Timers;
  private readonly log: Logger;

  constructor(private readonly deps: LaneDependencies) {
    super();
    this.timers = deps.timers ?? systemTimers;
    this.log = deps.logger.child({ lane: deps.lane });
    this.lookups = deps.lookup ? new GuardedLookup(deps.lookup, this.timers, this.log) : null;
  }

  get state(): LaneState {
    return this.current;
  }

  /** What staff may do at this moment: the staff page offers these and nothing else. */
  get staffCan(): { noCode: boolean; register: boolean; temperature: boolean; release: boolean; resume: boolean } {
    return {
      noCode: this.accepts('no-code'),
      register: this.awaitingRegistration && this.accepts('staff-registered'),
      temperature: this.awaitingTemperature !== null && this.accepts('staff-temperature'),
      release: this.accepts('staff-release'),
      resume: this.blockingFaults.size === 0 && this.accepts('staff-resume'),
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
        this.enterHeld('hold-kept');
      } else this.go('start');
    }
  }

  /** Every timer of the lane is cleared; a red-code hold stays kept for the next start. */
  stop(): void {
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    this.clearTimer();
    this.lookups?.settleAll();
    this.session++;
    // A lane taken out of service mid-pulse must not stay released; during a fire alarm it stays open.
    if (!LANE_TABLE[this.current].leafHeldOpen) this.deps.hardware.gate.lock();
  }

  /** The person has no code and presses for help (or staff marks it). */
  async noCode(): Promise<DecisionRecord | null> {
    if (this.admit('no-code') === null) return null;
    return this.runSession({ kind: 'no-code' }, this.timers.now(), performance.now());
  }

  /**
   * Staff registered the person who had no code: temperature, then the
   * decision. With a registrar the details are required; bad details throw
   * a registration PrivacyError and the lane keeps waiting for a correct registration.
   */
  async staffRegistered(details?: RegistrationDetails): Promise<DecisionRecord | null> {
    if (!this.awaitingRegistration || this.admit('staff-registered') === null) return null;
    const checked = this.deps.registrar || details ? checkRegistrationDetails(details, new Date(this.timers.now())) : null;
    this.clearTimer();
    // Without a registrar nothing is sealed, so the details are not kept.
    return this.runSession({ kind: 'staff-registered', details: this.deps.registrar ? checked : null }, this.timers.now(), performance.now());
  }

  /** In staff mode after a thermometer fault: staff took the person's temperature by hand. */
  async staffTemperature(celsius: number): Promise<DecisionRecord | null> {
    const previous = this.awaitingTemperature;
    if (!previous || !Number.isFinite(celsius) || this.admit('staff-temperature') === null) return null;
    return this.runSession({ kind: 'staff-temperature', previous, celsius }, this.timers.now(), performance.now());
  }

  /** Staff end a red-code hold once the person is in their care. */
  staffRelease(): boolean {
    if (this.admit('staff-release') === null) return false;
    this.endHold();
    this.deps.hardware.annunciator.alarm(false);
    this.log.info('hold released by staff');
    this.go('staff-release');
    return true;
  }

  /** Staff leave staff mode (thermometer repaired or checked); not while the board or relay is still gone. */
  staffResume(): boolean {
    if (this.admit('staff-resume') === null) return false;
    if (this.blockingFaults.size > 0) {
      this.log.warn({ devices: [...this.blockingFaults] }, 'staff mode kept: a device the lane needs is still out');
      return false;
    }
    if (this.hold) {
      // Staff mode came over a hold (a device failed meanwhile): the person is still held until staff release them.
      this.log.info({ eventId: this.hold.eventId }, 'staff mode ended by staff: back to the red-code hold');
      this.deps.hardware.gate.lock();
      this.enterHeld('hold-kept');
      return true;
    }
    this.log.info('staff mode ended by staff');
    this.go('staff-resume');
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
    const devices = [...this.blockingFaults];
    if (this.admit('remote-open', { devices }, this.hold === null && devices.length === 0) === null) {
      this.emit('remote', { action: 'open', accepted: false, state: this.current });
      return false;
    }
    // Whoever was waiting on staff (registration, hand temperature) is no longer.
    this.session++;
    this.endWaits();
    const decision = remoteOpenDecision();
    const input: CredentialInput = { kind: 'none' };
    let event: DecisionEvent;
    try {
      const { site, lane } = this.deps;
      const degraded = this.deps.link?.degraded ?? false;
      const draft = buildDecisionEvent({ site, lane, decision, credential: null, temperature: null, input, wallStart: this.timers.now(), decisionMs: 0, degraded });
      event = this.deps.journal.append(draft);
    } catch (error) {
      this.toStaffMode('journal', error, 'journal append failed: remote open refused, lane goes to staff mode');
      this.emit('remote', { action: 'open', accepted: false, state: this.current });
      return false;
    }
    this.log.info({ eventId: event.id }, 'leaf released by the centre');
    const record: DecisionRecord = { event, decision, credential: null, temperature: null };
    try {
      this.act(record, input, 'remote-open');
    } catch (error) {
      // As in a person's turn: a relay that throws is a fault and staff take over.
      this.toStaffMode('driver', error, 'remote open failed: staff mode');
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
    const next = this.admit('remote-lock');
    if (next === null) {
      this.emit('remote', { action: 'lock', accepted: false, state: this.current });
      return false;
    }
    const openFor = this.openEventId;
    this.deps.hardware.gate.lock();
    if (next !== 'stay') {
      this.session++;
      this.awaitingRegistration = false;
      this.go('remote-lock');
    }
    if (openFor) this.emit('passage', { eventId: openFor, confirmed: false });
    this.log.info({ state: this.current }, 'leaf locked by the centre');
    this.emit('remote', { action: 'lock', accepted: true, state: this.current });
    return true;
  }

  private async onCode(read: CodeRead): Promise<void> {
    if (this.admit('code') === null) return;
    const now = this.timers.now();
    if (this.lastCode && this.lastCode.text === read.text && now - this.lastCode.decidedAt < this.deps.timing.repeatSuppressMs) {
      return; // the same phone still in front of the reader
    }
    await this.runSession({ kind: 'code', read }, now, read.at);
  }

  private async onSwipe(swipe: IdCardSwipe): Promise<void> {
    if (this.admit('id-card') === null) return;
    const now = this.timers.now();
    // The number goes no further than idCardTurn: checked, hashed, dropped.
    const turn = idCardTurn(swipe.nationalId, now, this.deps, this.log);
    if (this.lastSwipe && now - this.lastSwipe.decidedAt >= this.deps.timing.repeatSuppressMs) this.lastSwipe = null;
    if (turn.kind === 'id-card' && turn.hash !== null && turn.hash === this.lastSwipe?.hash) return; // the same card read again
    await this.runSession(turn, now, swipe.at);
  }

  private async runSession(turn: Turn, wallStart: number, monoStart: number): Promise<DecisionRecord | null> {
    const session = ++this.session;
    this.endWaits();
    try {
      return await runTurn(
        turn,
        {
          deps: this.deps,
          lookups: this.lookups,
          step: (event) => this.go(event),
          live: () => session === this.session,
          decided: (decided) => this.conclude(turn, decided, wallStart),
        },
        wallStart,
        monoStart,
      );
    } catch (error) {
      // A driver that throws must not take the gate down: nobody passes, staff take over.
      if (session !== this.session) return null;
      this.toStaffMode('driver', error, 'lane session failed: staff mode');
      return null;
    }
  }

  /** The turn is decided: journaled (with its sealed registration and its hold, in one transaction), then acted on. */
  private conclude(turn: Turn, decided: DecidedTurn, wallStart: number): DecisionRecord | null {
    const { input, credential, temperature, decision } = decided;
    let event: DecisionEvent;
    try {
      event = journalDecision(this.deps, turn, decided, wallStart);
    } catch (error) {
      // A decision that cannot be recorded is not made: nobody passes on it.
      this.toStaffMode('journal', error, 'journal append failed: lane goes to staff mode');
      return null;
    }
    if (decision.verdict === 'hold') this.hold = { lane: this.deps.lane, eventId: event.id, since: wallStart };
    if (turn.kind === 'code') this.lastCode = { text: turn.read.text, decidedAt: this.timers.now() };
    if (turn.kind === 'id-card' && turn.hash !== null) this.lastSwipe = { hash: turn.hash, decidedAt: this.timers.now() };
    const record: DecisionRecord = { event, decision, credential, temperature };
    try {
      const idHash = turn.kind === 'id-card' ? turn.hash : turn.kind === 'staff-temperature' ? turn.previous.idHash : undefined;
      this.act(record, input, 'pass', idHash ?? undefined);
    } finally {
      // Recorded is made: the decision is reported even when a driver failed to act on it.
      this.emit('decision', record);
    }
    // Once the gate has acted, make the record power-safe (journal sync 'normal');
    // the relay command is not kept waiting for the disk.
    this.deps.journal.flush().catch((error: unknown) => this.log.error({ err: error }, 'journal flush failed'));
    return record;
  }

  /** The gate acts on a recorded decision; a pass opens by `opening` (a turn's pass, or the centre's open). */
  private act(record: DecisionRecord, input: CredentialInput, opening: 'pass' | 'remote-open', idHash?: string): void {
    const { gate } = this.deps.hardware;
    const { decision, temperature } = record;
    const thermometerFault = temperature && !temperature.ok ? temperature : null;
    if (thermometerFault) this.emit('fault', { kind: 'thermometer', detail: `${thermometerFault.fault}: ${thermometerFault.detail}` });

    if (decision.verdict === 'pass') {
      gate.pulse(this.deps.timing.relayPulseMs);
      this.go(opening);
      this.openEventId = record.event.id;
      this.setTimer(this.deps.timing.passageTimeoutMs, () => {
        this.log.warn({ eventId: record.event.id }, 'passage not seen before the timeout');
        this.emit('passage', { eventId: record.event.id, confirmed: false });
        gate.lock();
        this.go('passage-timeout');
      });
      return;
    }
    gate.lock();
    if (decision.verdict === 'hold') {
      this.log.warn({ eventId: record.event.id }, 'red code: person held, staff and epidemic control to be notified');
      this.enterHeld('hold');
      return;
    }
    if (decision.reason === 'id-lookup-failed') {
      // The centre did not answer for an ID card: staff confirm the colour another way, then resume.
      this.log.warn({ eventId: record.event.id }, 'ID card colour not looked up: staff mode');
      this.go('refer-to-staff');
      return;
    }
    if (thermometerFault) {
      // Whatever the colour said, the thermometer is out: staff mode, never an automatic pass.
      this.awaitingTemperature = { input, credential: record.credential, ...(idHash !== undefined ? { idHash } : {}) };
      this.go('refer-to-staff');
      return;
    }
    this.awaitingRegistration = decision.reason === 'no-code';
    this.go('deny');
    this.setTimer(this.deps.timing.denyDisplayMs, () => this.go('refusal-shown'));
  }

  private onPassage(): void {
    if (!this.openEventId || this.admit('passage') === null) return;
    this.emit('passage', { eventId: this.openEventId, confirmed: true });
    this.deps.hardware.gate.lock();
    this.go('passage');
  }

  /** Someone inside presses the exit button: let them out, unless a red-code person is being held here. */
  private onExitRequest(): void {
    if (this.admit('exit-button') === null) return;
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
    if (!fault.active || !fault.blocking || !this.accepts('fault')) return;
    // The relay has put the leaf in its configured safe state; staff take over.
    this.session++;
    this.go('fault');
  }

  private onFireAlarm(active: boolean): void {
    const { gate, annunciator } = this.deps.hardware;
    if (active) {
      // Fail-safe egress: whatever the lane was doing, the leaf opens and stays open.
      this.session++;
      this.endWaits();
      gate.holdOpen();
      annunciator.alarm(false);
      if (this.hold) {
        this.log.warn({ eventId: this.hold.eventId }, 'fire alarm: the red-code hold ends with the evacuation');
        this.endHold();
      }
      this.log.warn('fire alarm: lane held open');
      this.go('fire-alarm');
    } else if (this.admit('alarm-cleared') !== null) {
      gate.lock();
      this.log.info('fire alarm cleared: lane back in service');
      this.go('alarm-cleared');
    }
  }

  /**
   * The one way into staff mode on a failure (a journal write, a driver):
   * logged, reported as a fault, the leaf locked; nobody passes until staff resume.
   */
  private toStaffMode(kind: 'journal' | 'driver', error: unknown, message: string): void {
    this.log.error({ err: error }, message);
    this.emit('fault', { kind, detail: (error as Error).message });
    // During a fire alarm the leaf stays open, whatever failed.
    if (!this.accepts('fault')) return;
    this.deps.hardware.gate.lock();
    this.go('fault');
  }

  /** Held for a red code: alarm on, leaf locked (the caller locked it), until staff release. */
  private enterHeld(event: 'hold' | 'hold-kept'): void {
    this.deps.hardware.annunciator.alarm(true);
    this.go(event);
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

  /** Whoever was waiting on staff (a registration, a hand-taken temperature) is no longer. */
  private endWaits(): void {
    this.awaitingRegistration = false;
    this.awaitingTemperature = null;
  }

  private accepts(event: LaneEvent): boolean {
    return transition(this.current, event) !== null;
  }

  /**
   * Where `event` leads from the current state, and whether the caller's own
   * guard (a hold, a device out) lets it; null: refused. Every refusal comes
   * through here, logged as REFUSAL_LOG says.
   */
  private admit(event: LaneEvent, context: Record<string, unknown> = {}, guard = true): Target | null {
    const target = guard ? transition(this.current, event) : null;
    if (target === null) {
      const refusal = REFUSAL_LOG[event];
      if (refusal) this.log[refusal.level]({ state: this.current, ...context }, refusal.message);
    }
    return target;
  }

  /** Takes `event`'s transition. The lane only takes steps its state admits: a refused one throws, as a driver fault would. */
  private go(event: LaneEvent): void {
    const target = this.admit(event);
    if (target === null) throw new Error(`the lane in ${this.current} refuses ${event}`);
    if (target !== 'stay') this.enter(target);
  }

  private enter(state: LaneState): void {
    if (state !== 'open') this.openEventId = null;
    this.clearTimer();
    const previous = this.current;
    this.current = state;
    this.deps.hardware.annunciator.show(LANE_TABLE[state].signal);
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
