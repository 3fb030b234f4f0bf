/**
 * The console's store on its own (SQLite in memory): since-times, late
 * messages from a gate's outbox, dedupe, and the §7 figures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleStore } from '../../console/store.js';

const T = Date.parse('2026-03-02T08:00:00Z');

test('since-times move only when a flag changes; a late, older message changes no state', () => {
  const store = new ConsoleStore({ path: ':memory:', timeZone: 'Asia/Shanghai' });
  let lane = store.updateLane({ site: 's', lane: 'l', time: T, online: true, laneState: 'idle', degraded: false, staffMode: false });
  assert.equal(lane.state, 'online');
  assert.equal(lane.onlineSince, T);
  lane = store.updateLane({ site: 's', lane: 'l', time: T + 1000, online: true, degraded: true, laneState: 'idle', faults: [] });
  assert.equal(lane.state, 'degraded');
  assert.equal(lane.degradedSince, T + 1000);
  assert.equal(lane.onlineSince, T);
  lane = store.updateLane({ site: 's', lane: 'l', time: T + 2000, fault: { kind: 'thermometer', active: true } });
  assert.deepEqual([lane.state, lane.faults, lane.faultsSince], ['fault', ['thermometer'], T + 2000]);
  // Telemetry from before, delivered late by the gate's outbox: ignored for state.
  lane = store.updateLane({ site: 's', lane: 'l', time: T + 500, online: true, degraded: false, laneState: 'idle', faults: [] });
  assert.deepEqual([lane.state, lane.degraded, lane.faults], ['fault', true, ['thermometer']]);
  lane = store.updateLane({ site: 's', lane: 'l', time: T + 3000, laneState: 'staff', fault: { kind: 'thermometer', active: false } });
  assert.deepEqual([lane.state, lane.staffMode, lane.staffModeSince, lane.faults, lane.faultsSince], ['staff', true, T + 3000, [], T + 3000]);
  // The Last Will, timed by a console clock behind the gate's, still applies.
  lane = store.updateLane({ site: 's', lane: 'l', time: T + 2500, online: false, latest: true });
  assert.deepEqual([lane.state, lane.online, lane.onlineSince, lane.stateSince], ['offline', false, T + 2500, T + 2500]);
  store.close();
});

test('figures: verdicts per day in the configured zone, duplicates once, timeliness with snapshots', () => {
  const store = new ConsoleStore({ path: ':memory:', timeZone: 'Asia/Shanghai' });
  const day = store.day(T);
  assert.equal(day, '2026-03-02');
  // 23:30 UTC on the 1st is already the 2nd in Shanghai.
  assert.equal(store.day(Date.parse('2026-03-01T23:30:00Z')), '2026-03-02');
  for (const lane of ['a', 'b', 'c']) store.updateLane({ site: 's', lane, time: T - 60_000, online: true });
  const d = (id: string, verdict: 'pass' | 'deny' | 'hold', time = T) =>
    store.addDecision({ id, site: 's', lane: 'a', seq: 1, time, verdict, reason: 'x', decidedBy: 'offline-code', colour: null, temperatureC: null, sensorFault: null, degraded: false });
  assert.equal(d('d1', 'pass'), true);
  assert.equal(d('d1', 'pass'), false);
  d('d2', 'deny');
  d('d3', 'hold');
  d('d4', 'pass', T - 86_400_000);
  store.addColourChange({ site: 's', seq: 10, issuedAt: T, verified: true });
  store.addColourChange({ site: 's', seq: 11, issuedAt: T + 1000, verified: true });
  store.addColourApplied({ site: 's', lane: 'a', seq: 10, appliedAt: T + 100, via: 'change' });
  store.addColourApplied({ site: 's', lane: 'a', seq: 11, appliedAt: T + 1300, via: 'change' });
  // Lane b missed both changes and caught up from a snapshot complete to seq 11.
  store.addColourApplied({ site: 's', lane: 'b', seq: 11, appliedAt: T + 5000, via: 'snapshot' });
  // A lane seen only after the changes was not expected to apply them.
  store.updateLane({ site: 's', lane: 'late', time: T + 60_000, online: true });
  const f = store.figures('s', day);
  assert.deepEqual([f.checks, f.passes, f.refusals, f.holds], [3, 1, 1, 1]);
  assert.equal(f.colourChanges.changes, 2);
  assert.equal(f.colourChanges.expected, 6);
  assert.equal(f.colourChanges.applied, 4);
  // Delays: a 100, 300; b 5000, 4000 → sorted 100, 300, 4000, 5000.
  assert.equal(f.colourChanges.medianMs, 2150);
  assert.equal(f.colourChanges.worstMs, 5000);
  assert.deepEqual(f.colourChanges.neverApplied.map((n) => `${n.lane}#${n.seq}`), ['c#10', 'c#11']);
  assert.equal(store.figures('s', store.day(T - 86_400_000)).checks, 1);
  store.close();
});
