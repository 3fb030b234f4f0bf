/**
 * The lane's table of states (edge-agent/lane/lane-states.ts): every state ×
 * event is either one of the transitions listed here or refused; every state
 * is reachable and can come back to idle; the safety rules hold whatever the
 * table grows into; docs/lane-states.md is what the table renders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  LANE_EVENTS,
  LANE_STATES,
  LANE_TABLE,
  REFUSAL_LOG,
  renderLaneStates,
  transition,
  type LaneEvent,
  type LaneState,
  type Target,
} from '../../edge-agent/lane/lane-states.js';

const EVENTS = Object.keys(LANE_EVENTS) as LaneEvent[];
const IN_SERVICE: LaneState[] = ['idle', 'reading', 'measuring', 'deciding', 'open', 'locked', 'held', 'staff'];
const TURN: LaneState[] = ['idle', 'reading', 'measuring', 'deciding', 'open', 'locked'];

/** The lane's diagram, written out: a change to the table must change this list too. */
const TRANSITIONS: Array<[from: LaneState | LaneState[], event: LaneEvent, to: Target]> = [
  ['idle', 'start', 'idle'],
  [['idle', 'staff'], 'hold-kept', 'held'],
  ['idle', 'code', 'reading'],
  ['reading', 'code-valid', 'measuring'],
  ['reading', 'code-refused', 'deciding'],
  ['idle', 'id-card', 'measuring'],
  ['idle', 'id-card-refused', 'deciding'],
  ['idle', 'no-code', 'deciding'],
  [['idle', 'locked'], 'staff-registered', 'measuring'],
  ['staff', 'staff-temperature', 'deciding'],
  ['measuring', 'measured', 'deciding'],
  ['deciding', 'pass', 'open'],
  ['deciding', 'deny', 'locked'],
  ['deciding', 'hold', 'held'],
  ['deciding', 'refer-to-staff', 'staff'],
  ['open', 'passage', 'idle'],
  ['open', 'passage-timeout', 'idle'],
  ['locked', 'refusal-shown', 'idle'],
  ['held', 'staff-release', 'idle'],
  ['staff', 'staff-resume', 'idle'],
  [['idle', 'locked', 'staff'], 'remote-open', 'open'],
  [TURN, 'remote-lock', 'idle'],
  [['held', 'staff'], 'remote-lock', 'stay'],
  [['idle', 'reading', 'measuring', 'deciding', 'open', 'locked', 'staff'], 'exit-button', 'stay'],
  [[...LANE_STATES], 'fire-alarm', 'emergency'],
  ['emergency', 'alarm-cleared', 'idle'],
  [IN_SERVICE, 'fault', 'staff'],
];

function listed(state: LaneState, event: LaneEvent): Target | null {
  for (const [from, on, to] of TRANSITIONS) {
    if (on === event && (Array.isArray(from) ? from.includes(state) : from === state)) return to;
  }
  return null;
}

test('the table has a row for every lane state of the contract, in its order', () => {
  assert.deepEqual(Object.keys(LANE_TABLE), [...LANE_STATES]);
});

test('every state × event is a listed transition or refused', () => {
  for (const state of LANE_STATES) {
    for (const event of EVENTS) {
      assert.equal(transition(state, event), listed(state, event), `${state} on ${event}`);
    }
    for (const event of Object.keys(LANE_TABLE[state].on)) assert.ok(event in LANE_EVENTS, `${state} lists an unknown event ${event}`);
  }
});

test('every event is accepted somewhere, and every target is a state or stays', () => {
  for (const event of EVENTS) assert.ok(LANE_STATES.some((state) => transition(state, event) !== null), `${event} is accepted nowhere`);
  for (const state of LANE_STATES) {
    for (const target of Object.values(LANE_TABLE[state].on)) {
      assert.ok(target === 'stay' || (LANE_STATES as readonly string[]).includes(target), `${state} leads to ${target}`);
    }
  }
});

function reachable(from: LaneState): Set<LaneState> {
  const seen = new Set<LaneState>([from]);
  const queue = [from];
  for (let state = queue.shift(); state !== undefined; state = queue.shift()) {
    for (const target of Object.values(LANE_TABLE[state].on)) {
      if (target !== 'stay' && !seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  return seen;
}

test('no unreachable state: every state is reached from idle, and idle from every state', () => {
  assert.deepEqual([...reachable('idle')].sort(), [...LANE_STATES].sort());
  for (const state of LANE_STATES) assert.ok(reachable(state).has('idle'), `${state} never comes back to idle`);
});

test('a fire alarm is taken in every state; the emergency takes nothing but the alarm, and holds the leaf open', () => {
  for (const state of LANE_STATES) assert.equal(transition(state, 'fire-alarm'), 'emergency', state);
  assert.deepEqual(Object.keys(LANE_TABLE.emergency.on).sort(), ['alarm-cleared', 'fire-alarm']);
  assert.deepEqual(
    LANE_STATES.filter((state) => LANE_TABLE[state].leafHeldOpen),
    ['emergency'],
  );
});

test('a held person is let go only by staff, a fire alarm, or staff mode over the hold; never by the exit button', () => {
  const leaving = Object.entries(LANE_TABLE.held.on).filter(([, target]) => target !== 'stay' && target !== 'held');
  assert.deepEqual(leaving.map(([event]) => event).sort(), ['fault', 'fire-alarm', 'staff-release']);
  assert.equal(transition('held', 'exit-button'), null);
  assert.equal(transition('held', 'remote-open'), null);
});

test('the leaf opens only on a pass or the centre\u2019s open', () => {
  const opening = LANE_STATES.flatMap((state) => Object.entries(LANE_TABLE[state].on).filter(([, target]) => target === 'open').map(([event]) => event));
  assert.deepEqual([...new Set(opening)].sort(), ['pass', 'remote-open']);
});

test('each state shows its own signal', () => {
  assert.deepEqual(Object.fromEntries(LANE_STATES.map((state) => [state, LANE_TABLE[state].signal])), {
    idle: 'idle',
    reading: 'busy',
    measuring: 'busy',
    deciding: 'busy',
    open: 'pass',
    locked: 'deny',
    held: 'hold',
    staff: 'staff',
    emergency: 'emergency',
  });
});

test('every logged refusal is of an event some state refuses', () => {
  for (const event of Object.keys(REFUSAL_LOG) as LaneEvent[]) {
    assert.ok(LANE_STATES.some((state) => transition(state, event) === null), `${event} is never refused`);
  }
});

test('docs/lane-states.md is what the table renders', () => {
  const doc = fs.readFileSync(fileURLToPath(new URL('../../../docs/lane-states.md', import.meta.url)), 'utf8');
  const generated = /<!-- lane-states:begin \(generated\) -->\n([\s\S]*)\n<!-- lane-states:end -->/.exec(doc);
  assert.ok(generated, 'docs/lane-states.md has lost its generated part');
  assert.equal(generated[1], renderLaneStates(), 'docs/lane-states.md is out of date: render it again (the command is in the file)');
});
