/**
 * One gate lane's state machine.
 *
 *   idle ─code─▶ reading ─▶ measuring ─▶ deciding ─┬─ pass ─▶ open ─▶ (passage | timeout) ─▶ idle
 *                                                  ├─ deny ─▶ locked ─(display time)─▶ idle
 *                                                  ├─ hold ─▶ held ─(staff release)─▶ idle
 *                                                  └─ sensor fault ─▶ staff ─(staff resume)─▶ idle
 *   any state ─fire alarm─▶ emergency (leaf held open) ─alarm cleared─▶ idle
 *
 * It talks to hardware only through device/contracts.ts. Every decision is in
 * the journal before the gate acts on it; if it cannot be recorded, nobody passes.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CodeRead, LaneHardware, Signal, TemperatureReading } from '../../device/contracts.js';
import type { ColourStatusStore } from '../colour/status-store.js';
import type { CredentialVerifier, VerificationResult } from '../credential/verifier.js';
import type { DecisionEvent } from '../domain.js';
import type { Journal } from '../journal/journal.js';
import { decide, type CredentialInput, type Decision, type PolicyConfig } from '../policy/policy.js';

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
  setTimeout: (fn, ms) => setTimeout(fn, ms),
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
}

export interface DecisionRecord {
  event: DecisionEvent;
  decision: Decision;
  /** The verified credential, when there was a code; for the screen (masked name) and tests. */
  credential: VerificationResult | null;
  temperature: TemperatureReading | null;
}

export interface LaneEvents {
  state: [state: LaneState, previous: LaneState];
  decision: [record: DecisionRecord];
  passage: [outcome: { eventId: string; confirmed: boolean }];
  fault: [fault: { kind: 'journal' | 'thermometer'; detail: string }];
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
  private readonly unsubscribers: Array<() => void> = [];
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

  start(): void {
    const { reader, passage, fireAlarm } = this.deps.hardware;
    this.unsubscribers.push(
      reader.onRead((read) => void this.onCode(read)),
      passage.onPassage(() => this.onPassage()),
      fireAlarm.onChange((active) => this.onFireAlarm(active)),
    );
    // During a fire alarm the leaf must never be commanded locked, not even for an instant.
    if (fireAlarm.active) this.onFireAlarm(true);
    else {
      this.deps.hardware.gate.lock();
      this.enter('idle');
    }
  }

  stop(): void {
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    this.clearTimer();
    this.session++;
  }

  /** The person has no code and presses for help (or staff marks it). */
  async noCode(): Promise<DecisionRecord | null> {
    if (this.current !== 'idle') return null;
    return this.runSession({ kind: 'none' }, null, this.timers.now(), performance.now());
  }

  /** Staff registered the person by hand: temperature, then the decision. */
  async staffRegistered(): Promise<DecisionRecord | null> {
    if (this.current !== 'idle' && this.current !== 'locked') return null;
    this.clearTimer();
    return this.runSession({ kind: 'staff-registered' }, null, this.timers.now(), performance.now());
  }

  /** Staff end a red-code hold once the person is in their care. */
  staffRelease(): boolean {
    if (this.current !== 'held') return false;
    this.deps.hardware.annunciator.alarm(false);
    this.log.info('hold released by staff');
    this.enter('idle');
    return true;
  }

  /** Staff leave staff mode (thermometer repaired or checked). */
  staffResume(): boolean {
    if (this.current !== 'staff') return false;
    this.enter('idle');
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
    await this.runSession(null, read, now, read.at);
  }

  private async runSession(
    input: CredentialInput | null,
    read: CodeRead | null,
    wallStart: number,
    monoStart: number,
  ): Promise<DecisionRecord | null> {
    const session = ++this.session;
    let credential: VerificationResult | null = null;
    if (read) {
      this.enter('reading');
      credential = this.deps.verifier.verify(read.text, wallStart);
      input = { kind: 'code', result: credential };
    }
    const person = input!;

    // No code: nothing to measure yet; staff take over.
    let temperature: TemperatureReading | null = null;
    if (person.kind !== 'none' && !(person.kind === 'code' && !person.result.valid)) {
      this.enter('measuring');
      temperature = await this.deps.hardware.thermometer.measure(this.deps.timing.temperatureDeadlineMs);
      if (session !== this.session) return null; // fire alarm or stop meanwhile
    }

    this.enter('deciding');
    const pushed = credential?.valid && credential.gzhc ? this.deps.colours.get(credential.gzhc.sub) : null;
    const decision = decide(person, pushed, temperature ?? { ok: true, celsius: 0 }, this.deps.policy);
    const decisionMs = performance.now() - monoStart;

    let event: DecisionEvent;
    try {
      event = this.deps.journal.append(this.buildEvent(decision, credential, temperature, person, wallStart, decisionMs));
    } catch (error) {
      // A decision that cannot be recorded is not made: nobody passes on it.
      this.log.error({ err: error }, 'journal append failed: lane goes to staff mode');
      this.emit('fault', { kind: 'journal', detail: (error as Error).message });
      this.enter('staff');
      return null;
    }
    if (read) this.lastCode = { text: read.text, decidedAt: this.timers.now() };
    const record: DecisionRecord = { event, decision, credential, temperature };
    this.act(record);
    this.emit('decision', record);
    // Once the gate has acted, make the record power-safe (journal sync 'normal');
    // the relay command is not kept waiting for the disk.
    this.deps.journal.flush().catch((error: unknown) => this.log.error({ err: error }, 'journal flush failed'));
    return record;
  }

  private buildEvent(
    decision: Decision,
    credential: VerificationResult | null,
    temperature: TemperatureReading | null,
    person: CredentialInput,
    wallStart: number,
    decisionMs: number,
  ): Omit<DecisionEvent, 'seq'> {
    let subject: string | null = null;
    if (credential?.valid && credential.gzhc) subject = credential.gzhc.sub;
    else if (person.kind === 'staff-registered') subject = `staff:${randomUUID()}`;
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
        : null,
      decisionMs: Math.round(decisionMs * 1000) / 1000,
    };
  }

  private act(record: DecisionRecord): void {
    const { gate, annunciator } = this.deps.hardware;
    const { decision } = record;
    if (decision.verdict === 'pass') {
      gate.pulse(this.deps.timing.relayPulseMs);
      this.enter('open');
      this.setTimer(this.deps.timing.passageTimeoutMs, () => {
        this.log.warn({ eventId: record.event.id }, 'passage not seen before the timeout');
        this.emit('passage', { eventId: record.event.id, confirmed: false });
        gate.lock();
        this.enter('idle');
      });
      this.openEventId = record.event.id;
      return;
    }
    gate.lock();
    if (decision.verdict === 'hold') {
      annunciator.alarm(true);
      this.log.warn({ eventId: record.event.id }, 'red code: person held, staff and epidemic control to be notified');
      this.enter('held');
      return;
    }
    if (decision.reason === 'sensor-fault') {
      this.emit('fault', { kind: 'thermometer', detail: record.temperature && !record.temperature.ok ? record.temperature.detail : '' });
      this.enter('staff');
      return;
    }
    this.enter('locked');
    this.setTimer(this.deps.timing.denyDisplayMs, () => this.enter('idle'));
  }

  private openEventId: string | null = null;

  private onPassage(): void {
    if (this.current !== 'open' || !this.openEventId) return;
    this.emit('passage', { eventId: this.openEventId, confirmed: true });
    this.deps.hardware.gate.lock();
    this.enter('idle');
  }

  private onFireAlarm(active: boolean): void {
    const { gate, annunciator } = this.deps.hardware;
    if (active) {
      // Fail-safe egress: whatever the lane was doing, the leaf opens and stays open.
      this.session++;
      gate.holdOpen();
      annunciator.alarm(false);
      this.log.warn('fire alarm: lane held open');
      this.enter('emergency');
    } else if (this.current === 'emergency') {
      gate.lock();
      this.log.info('fire alarm cleared: lane back in service');
      this.enter('idle');
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
