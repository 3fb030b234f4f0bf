/**
 * The lane's states and, for each, the events it accepts and the state each
 * leads to: the one table the lane runs. An event a state does not list is
 * refused, in one place (Lane.admit). docs/lane-states.md is rendered from
 * this table (renderLaneStates), and a unit test keeps the two equal.
 *
 * Guards that are not states stay with the lane: a red-code hold or a lost
 * device refuses the centre's open, a lost device keeps staff mode, and staff
 * may register or enter a temperature only for the person waiting for it.
 */
import type { Signal } from '../../device/contracts.js';
import { LANE_STATES, type LaneState } from '../../protocol/contract.js';

export { LANE_STATES, type LaneState };

/** Every event the lane knows, with what it means (the doc's words). */
export const LANE_EVENTS = {
  start: 'the lane comes into service',
  'hold-kept': 'a red-code hold is still kept: from before a restart, or under staff mode',
  code: 'a code is read',
  'code-valid': 'the code verified: its temperature is taken',
  'code-refused': 'the code is refused: nobody is measured to be turned away',
  'id-card': 'an ID card with a valid number is swiped: looked up by its keyed hash while measured',
  'id-card-refused': 'an ID card is swiped whose number is not valid, or that this gate cannot look up',
  'no-code': 'the person has no code and presses for help',
  'staff-registered': 'staff register the person who had no code',
  'staff-temperature': 'staff enter a temperature they took by hand after a thermometer fault',
  measured: 'the thermometer answered: a reading or a fault',
  pass: 'the decision is a pass',
  deny: 'the decision is a refusal',
  hold: 'the decision is a red-code hold',
  'refer-to-staff': "the thermometer is out, or an ID card's colour could not be looked up: staff decide",
  passage: 'the passage beam saw the person through',
  'passage-timeout': 'nobody passed before the passage timeout',
  'refusal-shown': 'the refusal has been on show for its display time',
  'staff-release': 'staff end the red-code hold',
  'staff-resume': 'staff end staff mode',
  'remote-open': "the centre's signed open",
  'remote-lock': "the centre's signed lock",
  'exit-button': 'someone inside presses the exit button: the leaf is released for egress',
  'fire-alarm': 'the fire alarm goes off: the leaf is held open',
  'alarm-cleared': 'the fire alarm is cleared',
  fault: 'a journal write fails, a driver throws, or the board or relay is lost',
} as const;

export type LaneEvent = keyof typeof LANE_EVENTS;

/** Where an accepted event leads: a state, entered again even when it is the current one, or 'stay' (nothing changes). */
export type Target = LaneState | 'stay';

export interface LaneStateRow {
  /** What the lamps and the screen show. */
  signal: Signal;
  /** The leaf is held open, and nothing may command it locked. */
  leafHeldOpen?: true;
  on: Partial<Record<LaneEvent, Target>>;
}

/** Accepted in every state but a fire alarm's: a lock, a fault. */
const IN_SERVICE = { 'exit-button': 'stay', 'fire-alarm': 'emergency', fault: 'staff' } as const;
/** A person's turn or an open leaf: the centre's lock ends it. */
const TURN = { ...IN_SERVICE, 'remote-lock': 'idle' } as const;

export const LANE_TABLE: Readonly<Record<LaneState, LaneStateRow>> = {
  idle: {
    signal: 'idle',
    on: {
      start: 'idle',
      'hold-kept': 'held',
      code: 'reading',
      'id-card': 'measuring',
      'id-card-refused': 'deciding',
      'no-code': 'deciding',
      'staff-registered': 'measuring',
      'remote-open': 'open',
      ...TURN,
    },
  },
  reading: { signal: 'busy', on: { 'code-valid': 'measuring', 'code-refused': 'deciding', ...TURN } },
  measuring: { signal: 'busy', on: { measured: 'deciding', ...TURN } },
  deciding: { signal: 'busy', on: { pass: 'open', deny: 'locked', hold: 'held', 'refer-to-staff': 'staff', ...TURN } },
  open: { signal: 'pass', on: { passage: 'idle', 'passage-timeout': 'idle', ...TURN } },
  // Right after a refusal: the person without a code may be registered, the control room may let someone through.
  locked: { signal: 'deny', on: { 'refusal-shown': 'idle', 'staff-registered': 'measuring', 'remote-open': 'open', ...TURN } },
  // The person is held here: no egress past them, and only staff end it (a fault puts staff mode over it).
  held: { signal: 'hold', on: { 'staff-release': 'idle', 'remote-lock': 'stay', 'fire-alarm': 'emergency', fault: 'staff' } },
  staff: {
    signal: 'staff',
    on: { 'staff-temperature': 'deciding', 'staff-resume': 'idle', 'hold-kept': 'held', 'remote-open': 'open', 'remote-lock': 'stay', ...IN_SERVICE },
  },
  emergency: { signal: 'emergency', leafHeldOpen: true, on: { 'alarm-cleared': 'idle', 'fire-alarm': 'emergency' } },
};

/** Where `event` leads from `state`; null: refused. */
export function transition(state: LaneState, event: LaneEvent): Target | null {
  return LANE_TABLE[state].on[event] ?? null;
}

/** How a refusal is logged, for the events whose refusal the log has always told; the others are refused silently. */
export const REFUSAL_LOG: Partial<Record<LaneEvent, { level: 'debug' | 'warn'; message: string }>> = {
  code: { level: 'debug', message: 'code read while busy: ignored' },
  'id-card': { level: 'debug', message: 'ID card swiped while busy: ignored' },
  'remote-open': { level: 'warn', message: 'remote open refused' },
  'remote-lock': { level: 'warn', message: 'remote lock refused: fire alarm, the leaf stays open' },
};

/** docs/lane-states.md's generated part: the diagram, then the table itself (blank: refused). */
export function renderLaneStates(): string {
  const lines: string[] = ['```mermaid', 'stateDiagram-v2', '  [*] --> idle'];
  for (const state of LANE_STATES) {
    for (const [event, target] of Object.entries(LANE_TABLE[state].on)) {
      if (target !== 'stay') lines.push(`  ${state} --> ${target}: ${event}`);
    }
  }
  lines.push('```', '');
  lines.push(`| event | meaning | ${LANE_STATES.join(' | ')} |`, `|---|---|${LANE_STATES.map(() => '---|').join('')}`);
  lines.push(`| | signal | ${LANE_STATES.map((state) => `\`${LANE_TABLE[state].signal}\``).join(' | ')} |`);
  lines.push(`| | leaf held open | ${LANE_STATES.map((state) => (LANE_TABLE[state].leafHeldOpen ? 'yes' : '')).join(' | ')} |`);
  for (const [event, meaning] of Object.entries(LANE_EVENTS)) {
    const cells = LANE_STATES.map((state) => {
      const target = transition(state, event as LaneEvent);
      return target === null ? '' : target === 'stay' ? 'stays' : target;
    });
    lines.push(`| \`${event}\` | ${meaning} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
