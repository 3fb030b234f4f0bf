/**
 * The lane across a stop and a start: a red-code hold kept in the journal's
 * file until staff release it, and no lane timer left behind by stop(). The
 * real Lane on virtual hardware, a real Journal in a temp dir, real timers
 * counted as they are set and cleared.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { HardwareFault } from '../../device/contracts.js';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier } from '../../edge-agent/credential/verifier.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { Lane, systemTimers, type DecisionRecord, type LaneDependencies, type Timers } from '../../edge-agent/lane/lane.js';
import { LaneHolds } from '../../edge-agent/lane/lane-holds.js';
import { createVirtualLaneHardware, type VirtualLaneHardware } from '../../simulator/hardware/virtual-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';

const logger = pino({ level: 'silent' });
const tempDirs: string[] = [];
const journals: Journal[] = [];
let platform: ReferencePlatform;

before(async () => {
  platform = await ReferencePlatform.create();
});

after(() => {
  for (const journal of journals) {
    try {
      journal.close();
    } catch {
      // already closed by the test
    }
  }
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Real timers, with the ones still pending counted. */
class CountingTimers implements Timers {
  readonly pending = new Set<unknown>();
  now(): number {
    return systemTimers.now();
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const handle = systemTimers.setTimeout(() => {
      this.pending.delete(handle);
      fn();
    }, ms);
    this.pending.add(handle);
    return handle;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle);
    systemTimers.clearTimeout(handle);
  }
}

/** A journal file reopened by each call, as a restarted agent opens it. */
function journalFile(): () => Journal {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lane-hold-'));
  tempDirs.push(dir);
  const file = path.join(dir, 'journal.db');
  return () => {
    const journal = Journal.open(file, { sync: 'normal' });
    journals.push(journal);
    return journal;
  };
}

interface Run {
  lane: Lane;
  hw: VirtualLaneHardware & { faults: EventEmitter<{ fault: [HardwareFault] }> };
  journal: Journal;
  holds: LaneHolds;
  timers: CountingTimers;
}

/** One run of a lane on `journal`: its hardware made afresh, as after a restart. */
function startLane(journal: Journal, deps: Partial<Pick<LaneDependencies, 'lookup' | 'holds'>> = {}, beforeStart?: (hw: Run['hw']) => void): Run {
  const faults = new EventEmitter<{ fault: [HardwareFault] }>();
  const hw = Object.assign(createVirtualLaneHardware(), {
    faults,
    health: { onFault: (listener: (fault: HardwareFault) => void) => (faults.on('fault', listener), () => faults.off('fault', listener)) },
  });
  const trust = new TrustStore();
  trust.add(platform.issuer.certificate, 'reference platform');
  const timers = new CountingTimers();
  const holds = LaneHolds.attach(journal.database);
  const lane = new Lane({
    site: 'test-site',
    lane: 'lane-1',
    hardware: hw,
    verifier: new CredentialVerifier({ trust }),
    colours: new ColourStatusStore(),
    journal,
    policy: { feverThresholdC: 37.3 },
    timing: { relayPulseMs: 1200, passageTimeoutMs: 60_000, denyDisplayMs: 60_000, temperatureDeadlineMs: 200, repeatSuppressMs: 0 },
    logger,
    timers,
    holds,
    ...deps,
  });
  beforeStart?.(hw);
  void hw.reader.start();
  lane.start();
  return { lane, hw, journal, holds, timers };
}

async function present(run: Run, colour: 'green' | 'yellow' | 'red', kind?: 'printed'): Promise<DecisionRecord> {
  run.hw.thermometer.next = { ok: true, celsius: 36.6 };
  const decided = once(run.lane, 'decision') as Promise<[DecisionRecord]>;
  run.hw.reader.present(platform.issue({ colour, maskedName: '张*三', ...(kind ? { kind } : {}) }).code);
  const [record] = await decided;
  return record;
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
};

test('a red-code hold outlasts a restart on the same journal: back held, alarm on, leaf locked, until staff release it for good', async () => {
  const open = journalFile();
  const first = startLane(open());
  const record = await present(first, 'red');
  assert.equal(first.lane.state, 'held');
  assert.deepEqual(first.holds.get('lane-1'), { lane: 'lane-1', eventId: record.event.id, since: Date.parse(record.event.time) });
  first.lane.stop();
  first.journal.close();

  const second = startLane(open());
  assert.equal(second.lane.state, 'held', 'a restart does not release the person');
  assert.equal(second.hw.annunciator.alarmOn, true);
  assert.equal(second.hw.annunciator.signals.at(-1), 'hold');
  assert.equal(second.hw.gate.state, 'locked');
  assert.equal(second.lane.staffCan.release, true, 'the staff page offers the release');
  // Held as before the restart: no new code is decided, the centre cannot open it.
  second.hw.reader.present(platform.issue({ colour: 'green', maskedName: '李*四' }).code);
  await settle();
  assert.equal(second.lane.state, 'held');
  assert.equal(second.journal.count(), 1);
  assert.equal(second.lane.remoteOpen(), false);

  assert.equal(second.lane.staffRelease(), true);
  assert.equal(second.lane.state, 'idle');
  assert.equal(second.hw.annunciator.alarmOn, false);
  assert.equal(second.holds.get('lane-1'), null);
  second.lane.stop();
  second.journal.close();

  const third = startLane(open());
  assert.equal(third.lane.state, 'idle', 'released is released, after a restart too');
  assert.equal(third.hw.annunciator.alarmOn, false);
  third.lane.stop();
});

test('a hold lasts through staff mode: a board lost under a held lane, then staff resume → held again, never idle', async () => {
  const run = startLane(journalFile()());
  await present(run, 'red');
  run.hw.faults.emit('fault', { device: 'board', detail: 'board lost', blocking: true, active: true });
  assert.equal(run.lane.state, 'staff');
  assert.equal(run.lane.remoteOpen(), false, 'the centre cannot open a lane holding a person, in staff mode either');
  run.hw.faults.emit('fault', { device: 'board', detail: 'board back', blocking: true, active: false });
  assert.equal(run.lane.staffResume(), true);
  assert.equal(run.lane.state, 'held');
  assert.equal(run.hw.annunciator.alarmOn, true);
  assert.equal(run.hw.gate.state, 'locked');
  assert.notEqual(run.holds.get('lane-1'), null);
  assert.equal(run.lane.staffRelease(), true);
  assert.equal(run.lane.state, 'idle');
  assert.equal(run.holds.get('lane-1'), null);
  run.lane.stop();
});

test('a fire alarm ends the hold with the evacuation; a lane started during a fire alarm with a hold kept starts in emergency and drops it', async () => {
  const open = journalFile();
  const run = startLane(open());
  await present(run, 'red');
  run.hw.fireAlarm.set(true);
  assert.equal(run.lane.state, 'emergency');
  assert.equal(run.holds.get('lane-1'), null);
  run.hw.fireAlarm.set(false);
  assert.equal(run.lane.state, 'idle');
  await present(run, 'red');
  run.lane.stop();
  run.journal.close();

  const restarted = startLane(open(), {}, (hw) => hw.fireAlarm.set(true));
  assert.equal(restarted.lane.state, 'emergency');
  assert.equal(restarted.hw.gate.state, 'held-open');
  assert.equal(restarted.holds.get('lane-1'), null);
  restarted.hw.fireAlarm.set(false);
  assert.equal(restarted.lane.state, 'idle');
  restarted.lane.stop();
});

test('the hold is kept in the transaction of its decision: a hold that cannot be kept is a decision not made (staff mode)', async () => {
  const journal = journalFile()();
  const holds = LaneHolds.attach(journal.database);
  holds.hold = () => {
    throw new Error('disk I/O error');
  };
  const run = startLane(journal, { holds });
  run.hw.thermometer.next = { ok: true, celsius: 36.6 };
  const faulted = once(run.lane, 'fault');
  run.hw.reader.present(platform.issue({ colour: 'red', maskedName: '张*三' }).code);
  await faulted;
  assert.equal(run.lane.state, 'staff');
  assert.equal(journal.count(), 0, 'the decision was rolled back with the hold');
  assert.equal(run.hw.gate.state, 'locked');
  run.lane.stop();
});

test('stop clears every lane timer: an open leaf, a refusal on show, a look-up in flight (settled as no answer)', async () => {
  const journal = journalFile()();
  let lookups = 0;
  const run = startLane(journal, {
    lookup: () => {
      lookups++;
      return new Promise(() => {}); // the centre never answers
    },
  });

  await present(run, 'green');
  assert.equal(run.lane.state, 'open');
  assert.equal(run.timers.pending.size, 1, 'the passage timeout');
  run.lane.stop();
  assert.equal(run.timers.pending.size, 0);

  const denied = startLane(journal);
  await present(denied, 'yellow');
  assert.equal(denied.lane.state, 'locked');
  assert.equal(denied.timers.pending.size, 1, 'the refusal on show');
  denied.lane.stop();
  assert.equal(denied.timers.pending.size, 0);

  const asking = startLane(journal, {
    lookup: () => {
      lookups++;
      return new Promise(() => {});
    },
  });
  asking.hw.thermometer.next = { ok: true, celsius: 36.6 };
  asking.hw.reader.present(platform.issue({ colour: 'green', maskedName: '张*三', kind: 'printed' }).code);
  for (let i = 0; i < 100 && asking.timers.pending.size === 0; i++) await settle();
  assert.equal(lookups, 1);
  assert.equal(asking.timers.pending.size, 1, 'the look-up guard');
  asking.lane.stop();
  assert.equal(asking.timers.pending.size, 0);
  await settle();
  assert.equal(journal.count(), 2, 'the turn cut short by the stop decided nothing');
  assert.notEqual(asking.lane.state, 'open');
});
