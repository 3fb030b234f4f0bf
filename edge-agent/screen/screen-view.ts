/**
 * What the gate's screen shows, derived from the lane's events: one plain
 * object per change, sent as it is to the page. It carries what a person at
 * the gate may see (verdict, reason, advice, masked name, temperature) and
 * nothing else: no code text, no subject, no ID number.
 */
import { EventEmitter } from 'node:events';
import type { Colour, Verdict } from '../../protocol/domain.js';
import type { DecisionRecord, LaneFault, LaneState } from '../lane/lane.js';
import { REASONS, type Reason } from '../../protocol/reasons.js';

export interface Bilingual {
  zh: string;
  en: string;
}

/** The screen's phases: the lane's states folded into what a person needs to know. */
export type ScreenPhase = 'idle' | 'reading' | 'measuring' | 'pass' | 'deny' | 'hold' | 'staff' | 'emergency';

export interface ScreenView {
  /** Bumped on every change; the page ignores an older view arriving late. */
  seq: number;
  phase: ScreenPhase;
  headline: Bilingual;
  /** The reason and the advice the rules give, when a decision is on show. */
  message: Bilingual | null;
  reason: Reason | null;
  colour: Colour | null;
  /** As the issuer masked it in the code (张*三); null without a code. */
  maskedName: string | null;
  temperatureC: number | null;
  /** The gate cannot vouch for pushed colours: it says so on every phase. */
  degraded: boolean;
  /** The lane waits for staff (a thermometer fault, a device out, an ID look-up unanswered). */
  staffMode: boolean;
  /** Kinds of the devices out of order (board, thermometer, scanner, …). */
  faults: string[];
  /** The decision on show, so a test or the staff page can tell two refusals apart. */
  eventId: string | null;
}

const HEADLINES: Record<ScreenPhase, Bilingual> = {
  idle: { zh: '请出示健康码', en: 'Please show your health code' },
  reading: { zh: '正在核验，请稍候', en: 'Checking your code…' },
  measuring: { zh: '正在测温，请稍候', en: 'Taking your temperature…' },
  pass: { zh: '请通行', en: 'Please pass' },
  deny: { zh: '禁止通行', en: 'Entry refused' },
  hold: { zh: '请原地等候', en: 'Please wait here' },
  staff: { zh: '请等待工作人员', en: 'Please wait for staff' },
  emergency: { zh: '紧急疏散，闸机已打开', en: 'Emergency: the gate is open, leave calmly' },
};

const PHASE_OF_VERDICT: Record<Verdict, ScreenPhase> = { pass: 'pass', deny: 'deny', hold: 'hold' };

export function headlineOf(phase: ScreenPhase): Bilingual {
  return HEADLINES[phase];
}

/** Texts of a reason the lane may give; an unknown one (a newer lane's) is shown without a message. */
function messageOf(reason: string): Bilingual | null {
  return reason in REASONS ? REASONS[reason as Reason] : null;
}

/** The part of a lane the screen listens to (the Lane class, or a test's emitter). */
export interface ScreenSource {
  readonly state: LaneState;
  on(event: 'state', listener: (state: LaneState, previous: LaneState) => void): unknown;
  on(event: 'decision', listener: (record: DecisionRecord) => void): unknown;
  on(event: 'fault', listener: (fault: LaneFault) => void): unknown;
  off(event: 'state', listener: (state: LaneState, previous: LaneState) => void): unknown;
  off(event: 'decision', listener: (record: DecisionRecord) => void): unknown;
  off(event: 'fault', listener: (fault: LaneFault) => void): unknown;
}

export interface ScreenModelEvents {
  view: [view: ScreenView];
}

/**
 * Follows one lane and keeps the current view. `degraded()` is asked on
 * every change and by `refresh()`, which the server calls on a timer: the
 * link's state changes without a lane event.
 */
export class ScreenModel extends EventEmitter<ScreenModelEvents> {
  private view: ScreenView;
  /** The last decision and the lane state it put the lane in: shown while the lane stays there. */
  private decision: { record: DecisionRecord; state: LaneState } | null = null;
  private readonly faults = new Set<string>();
  private readonly laneListeners = {
    state: (): void => this.update(),
    decision: (record: DecisionRecord): void => {
      // The lane acts (enters open, locked, held or staff) before it reports the decision.
      this.decision = { record, state: this.lane.state };
      this.update();
    },
    fault: (fault: LaneFault): void => {
      // A thermometer fault comes with a decision and lasts that turn; devices say when they are back.
      if (fault.kind === 'thermometer' || fault.kind === 'journal' || fault.kind === 'driver') return;
      if (fault.active === false) this.faults.delete(fault.kind);
      else this.faults.add(fault.kind);
      this.update();
    },
  };

  constructor(
    private readonly lane: ScreenSource,
    private readonly degraded: () => boolean = () => false,
  ) {
    super();
    this.view = this.derive(0);
  }

  get current(): ScreenView {
    return this.view;
  }

  start(): void {
    this.lane.on('state', this.laneListeners.state);
    this.lane.on('decision', this.laneListeners.decision);
    this.lane.on('fault', this.laneListeners.fault);
    this.update();
  }

  stop(): void {
    this.lane.off('state', this.laneListeners.state);
    this.lane.off('decision', this.laneListeners.decision);
    this.lane.off('fault', this.laneListeners.fault);
  }

  /** Re-derive; emits only when something a person would see changed. */
  refresh(): void {
    this.update();
  }

  private update(): void {
    const next = this.derive(this.view.seq + 1);
    const { seq: _a, ...was } = this.view;
    const { seq: _b, ...now } = next;
    if (JSON.stringify(was) === JSON.stringify(now)) return;
    this.view = next;
    this.emit('view', next);
  }

  private derive(seq: number): ScreenView {
    const state = this.lane.state;
    // A decision stays on show while the lane is in the state it put it in (a refusal until the next person).
    if (this.decision && this.decision.state !== state) this.decision = null;
    const record = this.decision?.record ?? null;
    let phase: ScreenPhase;
    switch (state) {
      case 'idle':
        phase = 'idle';
        break;
      case 'reading':
      case 'deciding':
        phase = 'reading';
        break;
      case 'measuring':
        phase = 'measuring';
        break;
      case 'emergency':
        phase = 'emergency';
        break;
      case 'staff':
        phase = 'staff';
        break;
      default:
        phase = record ? PHASE_OF_VERDICT[record.event.verdict] : state === 'open' ? 'pass' : state === 'held' ? 'hold' : 'deny';
    }
    const event = record?.event ?? null;
    return {
      seq,
      phase,
      headline: HEADLINES[phase],
      message: event ? messageOf(event.reason) : null,
      reason: event && event.reason in REASONS ? (event.reason as Reason) : null,
      colour: event?.colour ?? null,
      maskedName: record?.credential?.gzhc?.maskedName ?? null,
      temperatureC: event?.temperatureC ?? null,
      degraded: this.degraded(),
      staffMode: state === 'staff',
      faults: [...this.faults].sort(),
      eventId: event?.id ?? null,
    };
  }
}
