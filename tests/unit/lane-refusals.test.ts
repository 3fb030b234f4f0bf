/**
 * The lane runs its table: every state change it reports is a transition of
 * lane-states.ts, and what the table refuses changes nothing and is logged
 * as the lane has always logged it; every failure takes the one way into
 * staff mode. The real Lane on virtual hardware, a real Journal in a temp
 * dir, a logger that keeps what it is given.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { CredentialVerifier } from '../../edge-agent/credential/verifier.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { Lane, systemTimers, type LaneEvents, type LaneState } from '../../edge-agent/lane/lane.js';
import { LANE_EVENTS, transition, type LaneEvent } from '../../edge-agent/lane/lane-states.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { createVirtualLaneHardware, type VirtualLaneHardware } from '../../simulator/hardware/virtual-lane.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lane-refusals-'));
const journal = Journal.open(path.join(dir, 'journal.db'), { sync: 'normal' });

after(() => {
  journal.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface LogLine {
  level: number;
  msg: string;
  state?: LaneState;
  devices?: string[];
}

function makeLane(laneJournal: Journal = journal): { lane: Lane; hw: VirtualLaneHardware; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const hw = createVirtualLaneHardware();
  const lane = new Lane({
    site: 'test-site',
    lane: 'lane-1',
    hardware: hw,
    verifier: new CredentialVerifier({ trust: new TrustStore() }),
    colours: new ColourStatusStore(),
    journal: laneJournal,
    policy: { feverThresholdC: 37.3 },
    timing: { relayPulseMs: 1200, passageTimeoutMs: 60_000, denyDisplayMs: 60_000, temperatureDeadlineMs: 200, repeatSuppressMs: 0 },
    logger,
    timers: systemTimers,
  });
  void hw.reader.start();
  lane.start();
  return { lane, hw, logs };
}

test('state changes follow the table; refusals change nothing and are logged as before', async () => {
  const { lane, hw, logs } = makeLane();
  const changes: Array<[LaneState, LaneState]> = [];
  lane.on('state', (state, previous) => changes.push([previous, state]));
  const logged = (msg: string): LogLine[] => logs.filter((line) => line.msg === msg);

  await lane.noCode();
  assert.equal(lane.state, 'locked');

  // A code while the refusal is on show: ignored, at debug level, with the state.
  hw.reader.present('not a code');
  assert.equal(lane.state, 'locked');
  assert.deepEqual(
    logged('code read while busy: ignored').map((line) => [line.level, line.state]),
    [[20, 'locked']],
  );
  assert.equal(await lane.noCode(), null, 'no-code is refused while locked');
  assert.equal(lane.staffRelease(), false, 'nobody is held');
  assert.equal(lane.staffResume(), false, 'not in staff mode');

  assert.equal(lane.remoteOpen(), true);
  assert.equal(lane.state, 'open');
  assert.equal(lane.remoteOpen(), false, 'already open');
  assert.deepEqual(
    logged('remote open refused').map((line) => [line.level, line.state, line.devices]),
    [[40, 'open', []]],
  );

  hw.fireAlarm.set(true);
  assert.equal(lane.state, 'emergency');
  const commands = hw.gate.commands.length;
  assert.equal(lane.remoteLock(), false);
  assert.equal(hw.gate.commands.length, commands, 'the leaf is not commanded during a fire alarm');
  assert.deepEqual(
    logged('remote lock refused: fire alarm, the leaf stays open').map((line) => [line.level, line.state]),
    [[40, 'emergency']],
  );
  hw.fireAlarm.set(false);
  assert.equal(lane.state, 'idle');
  lane.stop();

  assert.deepEqual(changes, [
    ['idle', 'deciding'],
    ['deciding', 'locked'],
    ['locked', 'open'],
    ['open', 'emergency'],
    ['emergency', 'idle'],
  ]);
  for (const [from, to] of changes) {
    const by = (Object.keys(LANE_EVENTS) as LaneEvent[]).filter((event) => transition(from, event) === to);
    assert.ok(by.length > 0, `${from} → ${to} is not in the table`);
  }
});

/** The lane's reports while `act` runs. */
function watch(lane: Lane, act: () => unknown): { faults: Array<LaneEvents['fault'][0]>; remote: Array<LaneEvents['remote'][0]>; decisions: number } {
  const seen = { faults: [] as Array<LaneEvents['fault'][0]>, remote: [] as Array<LaneEvents['remote'][0]>, decisions: 0 };
  lane.on('fault', (fault) => seen.faults.push(fault));
  lane.on('remote', (outcome) => seen.remote.push(outcome));
  lane.on('decision', () => seen.decisions++);
  act();
  return seen;
}

test("the centre's open with a journal that fails: logged, a journal fault, leaf locked, staff mode, refused", () => {
  const failing = {
    append(): never {
      throw new Error('disk I/O error');
    },
    async flush(): Promise<void> {},
  } as unknown as Journal;
  const { lane, hw, logs } = makeLane(failing);
  const seen = watch(lane, () => assert.equal(lane.remoteOpen(), false));
  assert.equal(lane.state, 'staff');
  assert.deepEqual(seen.faults, [{ kind: 'journal', detail: 'disk I/O error' }]);
  assert.deepEqual(seen.remote, [{ action: 'open', accepted: false, state: 'staff' }]);
  assert.equal(seen.decisions, 0);
  assert.deepEqual(hw.gate.commands.map((c) => c.command), ['lock', 'lock']);
  assert.equal(logs.filter((line) => line.level === 50 && line.msg === 'journal append failed: remote open refused, lane goes to staff mode').length, 1);
  lane.stop();
});

test("the centre's open with a relay that throws: journaled and reported, a driver fault, staff mode, refused", () => {
  const { lane, hw, logs } = makeLane();
  hw.gate.pulse = () => {
    throw new Error('relay board not answering');
  };
  const before = journal.count();
  const seen = watch(lane, () => assert.equal(lane.remoteOpen(), false));
  assert.equal(lane.state, 'staff');
  assert.deepEqual(seen.faults, [{ kind: 'driver', detail: 'relay board not answering' }]);
  assert.deepEqual(seen.remote, [{ action: 'open', accepted: false, state: 'staff' }]);
  assert.equal(seen.decisions, 1, 'recorded is made: the decision is reported');
  assert.equal(journal.count(), before + 1);
  assert.equal(hw.gate.state, 'locked');
  assert.equal(logs.filter((line) => line.level === 50 && line.msg === 'remote open failed: staff mode').length, 1);
  assert.equal(lane.staffResume(), true);
  assert.equal(lane.state, 'idle');
  lane.stop();
});
