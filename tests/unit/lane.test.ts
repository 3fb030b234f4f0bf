/**
 * The lane's state machine, driven end to end on virtual hardware: the real
 * Lane, a real CredentialVerifier trusting a ReferencePlatform issuer, a real
 * Journal in a temp dir, and fake timers so the passage timeout, the deny
 * display and the repeat suppression run without real waiting.
 *
 * Over 500 lines on purpose: every transition of the lane's table is driven
 * here with one fixture (verifier, journal, virtual hardware, fake timers);
 * the ID-card and hold cases have files of their own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { TemperatureReading } from '../../device/contracts.js';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier } from '../../edge-agent/credential/verifier.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { Lane, type DecisionRecord, type LaneDependencies, type LaneEvents, type LaneState, type LaneTiming, type Timers } from '../../edge-agent/lane/lane.js';
import { nationalIdCheckCharacter } from '../../protocol/privacy/national-id.js';
import { isRegistrationRefusal } from '../../protocol/privacy/errors.js';
import type { RegistrationRecord, SealedRecord } from '../../protocol/privacy/sealed-record.js';
import { createVirtualLaneHardware, type GateCommand, type VirtualLaneHardware } from '../../simulator/hardware/virtual-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';

// ---------------------------------------------------------------------------
// Fake timers: time moves only when the test says so.

class FakeTimers implements Timers {
  private clock: number;
  private nextHandle = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  /** Starts at the real wall clock: the verifier checks codes against now(). */
  constructor(start = Date.now()) {
    this.clock = start;
  }

  now(): number {
    return this.clock;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const handle = this.nextHandle++;
    this.pending.set(handle, { at: this.clock + Math.max(0, ms), fn });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Move time forward, firing every timer that falls due, in order of due time. */
  advance(ms: number): void {
    const target = this.clock + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const entry of this.pending) {
        if (entry[1].at <= target && (next === null || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.pending.delete(next[0]);
      this.clock = next[1].at;
      next[1].fn();
    }
    this.clock = target;
  }

  get size(): number {
    return this.pending.size;
  }
}

// ---------------------------------------------------------------------------
// Fixture

const TIMING: LaneTiming = {
  relayPulseMs: 1200,
  passageTimeoutMs: 8000,
  denyDisplayMs: 3000,
  temperatureDeadlineMs: 60,
  repeatSuppressMs: 5000,
};

const logger = pino({ level: 'silent' });
const tempDirs: string[] = [];
const openJournals: Journal[] = [];
let platform: ReferencePlatform;

before(async () => {
  platform = await ReferencePlatform.create();
});

after(() => {
  for (const journal of openJournals) {
    try {
      journal.close();
    } catch {
      // already closed by the test
    }
  }
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Fixture {
  lane: Lane;
  hw: VirtualLaneHardware;
  journal: Journal;
  timers: FakeTimers;
  colours: ColourStatusStore;
  states: Array<[LaneState, LaneState]>;
  decisions: DecisionRecord[];
  passages: Array<LaneEvents['passage'][0]>;
  faults: Array<LaneEvents['fault'][0]>;
  pulses(): GateCommand[];
  lastCommand(): GateCommand | undefined;
}

function openTempJournal(): Journal {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lane-test-'));
  tempDirs.push(dir);
  const journal = Journal.open(path.join(dir, 'journal.db'), { sync: 'normal' });
  openJournals.push(journal);
  return journal;
}

type ExtraDeps = Partial<Pick<LaneDependencies, 'link' | 'lookup' | 'whenDegraded' | 'registrar'>>;

function makeLane(options: { journal?: Journal; start?: boolean; beforeStart?: (hw: VirtualLaneHardware) => void; deps?: ExtraDeps } = {}): Fixture {
  const hw = createVirtualLaneHardware();
  const trust = new TrustStore();
  trust.add(platform.issuer.certificate, 'reference platform');
  const verifier = new CredentialVerifier({ trust });
  const journal = options.journal ?? openTempJournal();
  const timers = new FakeTimers();
  const colours = new ColourStatusStore();
  const lane = new Lane({
    site: 'test-site',
    lane: 'lane-1',
    hardware: hw,
    verifier,
    colours,
    journal,
    policy: { feverThresholdC: 37.3 },
    timing: TIMING,
    logger,
    timers,
    ...options.deps,
  });
  const fixture: Fixture = {
    lane,
    hw,
    journal,
    timers,
    colours,
    states: [],
    decisions: [],
    passages: [],
    faults: [],
    pulses: () => hw.gate.commands.filter((c) => c.command === 'pulse'),
    lastCommand: () => hw.gate.commands[hw.gate.commands.length - 1],
  };
  lane.on('state', (state, previous) => fixture.states.push([state, previous]));
  lane.on('decision', (record) => fixture.decisions.push(record));
  lane.on('passage', (outcome) => fixture.passages.push(outcome));
  lane.on('fault', (fault) => fixture.faults.push(fault));
  options.beforeStart?.(hw);
  void hw.reader.start();
  if (options.start !== false) lane.start();
  return fixture;
}

function issue(colour: 'green' | 'yellow' | 'red', extra: { kind?: 'dynamic' | 'printed'; maskedName?: string } = {}) {
  return platform.issue({ colour, maskedName: extra.maskedName ?? '张*三', ...(extra.kind ? { kind: extra.kind } : {}) });
}

/** Present a code and wait for the lane's decision on it. */
async function present(f: Fixture, code: string, temperature?: TemperatureReading | 'silent'): Promise<DecisionRecord> {
  if (temperature !== undefined) f.hw.thermometer.next = temperature;
  const decided = once(f.lane, 'decision') as Promise<[DecisionRecord]>;
  f.hw.reader.present(code);
  const [record] = await decided;
  return record;
}

/** Let pending promise callbacks and immediate tasks run (the lane's async session). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}

function assertNoPersonalData(event: DecisionEvent, maskedName: string): void {
  const json = JSON.stringify(event);
  assert.ok(!json.includes('*'), `event holds a masked name: ${json}`);
  assert.ok(!json.includes(maskedName), `event holds the name ${maskedName}`);
}

const normal = (celsius: number): TemperatureReading => ({ ok: true, celsius });

// ---------------------------------------------------------------------------
// Pass

test('green with a normal temperature: one relay pulse of relayPulseMs, open, passage confirmed, idle', async () => {
  const f = makeLane();
  const { code } = issue('green');
  const record = await present(f, code, normal(36.5));

  assert.equal(record.decision.verdict, 'pass');
  assert.equal(record.decision.reason, 'green-normal');
  assert.equal(record.decision.decidedBy, 'offline-code');
  assert.equal(record.event.temperatureC, 36.5);
  assert.equal(f.lane.state, 'open');
  assert.deepEqual(f.pulses().map((c) => c.ms), [TIMING.relayPulseMs]);
  assert.equal(f.hw.gate.state, 'pulsing');
  assert.equal(f.hw.annunciator.signals.at(-1), 'pass');

  f.hw.passage.walkThrough();
  assert.equal(f.lane.state, 'idle');
  assert.deepEqual(f.passages, [{ eventId: record.event.id, confirmed: true }]);
  assert.equal(f.lastCommand()?.command, 'lock');
  assert.equal(f.hw.gate.state, 'locked');

  // A second beam break with nobody let through is not a passage.
  f.hw.passage.walkThrough();
  assert.equal(f.passages.length, 1);
  assert.equal(f.timers.size, 0, 'passage timeout left armed after the passage');
});

test('green pass with nobody walking through: passage timeout locks the gate and goes idle, confirmed false', async () => {
  const f = makeLane();
  const record = await present(f, issue('green').code, normal(36.6));
  assert.equal(f.lane.state, 'open');

  f.timers.advance(TIMING.passageTimeoutMs - 1);
  assert.equal(f.lane.state, 'open');
  assert.deepEqual(f.passages, []);

  f.timers.advance(1);
  assert.equal(f.lane.state, 'idle');
  assert.deepEqual(f.passages, [{ eventId: record.event.id, confirmed: false }]);
  assert.equal(f.lastCommand()?.command, 'lock');
  assert.equal(f.hw.gate.state, 'locked');
  assert.equal(f.pulses().length, 1);

  // A late beam break after the timeout confirms nothing.
  f.hw.passage.walkThrough();
  assert.equal(f.passages.length, 1);
});

test('state sequence of a pass: idle → reading → measuring → deciding → open → idle', async () => {
  const f = makeLane();
  assert.equal(f.lane.state, 'idle');
  await present(f, issue('green').code, normal(36.4));
  f.hw.passage.walkThrough();
  assert.deepEqual(f.states, [
    ['reading', 'idle'],
    ['measuring', 'reading'],
    ['deciding', 'measuring'],
    ['open', 'deciding'],
    ['idle', 'open'],
  ]);
});

// ---------------------------------------------------------------------------
// Deny

test('yellow: deny, gate locked, no pulse, locked for denyDisplayMs then idle', async () => {
  const f = makeLane();
  const record = await present(f, issue('yellow').code, normal(36.6));
  assert.equal(record.decision.verdict, 'deny');
  assert.equal(record.decision.reason, 'yellow');
  assert.equal(record.event.colour, 'yellow');
  assert.equal(f.lane.state, 'locked');
  assert.equal(f.hw.gate.state, 'locked');
  assert.equal(f.pulses().length, 0);
  assert.equal(f.hw.annunciator.signals.at(-1), 'deny');

  // A new code during the display is ignored.
  f.hw.reader.present(issue('green').code);
  await settle();
  assert.equal(f.decisions.length, 1);

  f.timers.advance(TIMING.denyDisplayMs - 1);
  assert.equal(f.lane.state, 'locked');
  f.timers.advance(1);
  assert.equal(f.lane.state, 'idle');
  assert.equal(f.pulses().length, 0);
});

test('fever with a green code: deny with reason fever, no pulse; the threshold itself is a fever', async () => {
  const f = makeLane();
  const hot = await present(f, issue('green').code, normal(38.2));
  assert.equal(hot.decision.verdict, 'deny');
  assert.equal(hot.decision.reason, 'fever');
  assert.equal(hot.decision.staffAction, 'recheck-temperature');
  assert.equal(hot.event.temperatureC, 38.2);
  assert.equal(f.lane.state, 'locked');
  f.timers.advance(TIMING.denyDisplayMs);
  assert.equal(f.lane.state, 'idle');

  const edge = await present(f, issue('green').code, normal(37.3));
  assert.equal(edge.decision.reason, 'fever');
  f.timers.advance(TIMING.denyDisplayMs);

  const justBelow = await present(f, issue('green').code, normal(37.2));
  assert.equal(justBelow.decision.verdict, 'pass');
  assert.equal(f.pulses().length, 1);
});

// ---------------------------------------------------------------------------
// Red: hold

test('red: hold, alarm on, gate locked; new codes ignored while held; staffRelease → idle, alarm off', async () => {
  const f = makeLane();
  const record = await present(f, issue('red').code, normal(36.8));
  assert.equal(record.decision.verdict, 'hold');
  assert.equal(record.decision.reason, 'red');
  assert.equal(record.decision.alert, true);
  assert.equal(f.lane.state, 'held');
  assert.equal(f.hw.annunciator.alarmOn, true);
  assert.equal(f.hw.annunciator.signals.at(-1), 'hold');
  assert.equal(f.hw.gate.state, 'locked');
  assert.equal(f.lastCommand()?.command, 'lock');

  // Held until staff act: time alone does not release it, nor a new code, nor the other staff buttons.
  f.timers.advance(10 * 60_000);
  f.hw.reader.present(issue('green').code);
  await settle();
  assert.equal(f.lane.state, 'held');
  assert.equal(f.decisions.length, 1);
  assert.equal(f.journal.count(), 1);
  assert.equal(await f.lane.noCode(), null);
  assert.equal(await f.lane.staffRegistered(), null);
  assert.equal(f.lane.staffResume(), false);
  assert.equal(f.lane.state, 'held');
  assert.equal(f.pulses().length, 0);

  assert.equal(f.lane.staffRelease(), true);
  assert.equal(f.lane.state, 'idle');
  assert.equal(f.hw.annunciator.alarmOn, false);
  assert.equal(f.hw.gate.state, 'locked');
  assert.equal(f.lane.staffRelease(), false, 'release outside a hold does nothing');
});

// ---------------------------------------------------------------------------
// Thermometer fault

for (const fault of [
  { name: 'checksum', next: { ok: false, fault: 'checksum', detail: 'PEC mismatch' } as TemperatureReading },
  { name: 'silent', next: 'silent' as const },
]) {
  test(`thermometer fault (${fault.name}): deny sensor-fault, staff mode, never a pulse; staffResume → idle`, async () => {
    const f = makeLane();
    const record = await present(f, issue('green').code, fault.next);
    assert.equal(record.decision.verdict, 'deny');
    assert.equal(record.decision.reason, 'sensor-fault');
    assert.equal(record.decision.staffAction, 'manual-temperature');
    assert.equal(record.event.sensorFault, fault.name);
    assert.equal(record.event.temperatureC, null);
    assert.equal(f.lane.state, 'staff');
    assert.equal(f.hw.annunciator.signals.at(-1), 'staff');
    assert.equal(f.faults.length, 1);
    assert.equal(f.faults[0]?.kind, 'thermometer');

    // Staff mode waits for staff: no timer, no new code, no pulse.
    f.timers.advance(10 * 60_000);
    f.hw.thermometer.next = normal(36.5);
    f.hw.reader.present(issue('green').code);
    await settle();
    assert.equal(f.lane.state, 'staff');
    assert.equal(f.decisions.length, 1);
    assert.equal(f.pulses().length, 0);
    assert.equal(f.hw.gate.state, 'locked');

    assert.equal(f.lane.staffRelease(), false);
    assert.equal(f.lane.staffResume(), true);
    assert.equal(f.lane.state, 'idle');
    assert.equal(f.lane.staffResume(), false);
  });
}

// ---------------------------------------------------------------------------
// Fire alarm

type Setup = (f: Fixture) => Promise<void>;

const FIRE_FROM: Array<{ state: LaneState; setup: Setup }> = [
  { state: 'idle', setup: async () => {} },
  {
    state: 'measuring',
    setup: async (f) => {
      f.hw.thermometer.hold(); // the sensor is settling until released
      f.hw.thermometer.next = normal(36.5);
      f.hw.reader.present(issue('green').code);
    },
  },
  { state: 'open', setup: async (f) => void (await present(f, issue('green').code, normal(36.5))) },
  { state: 'locked', setup: async (f) => void (await present(f, issue('yellow').code, normal(36.5))) },
  { state: 'held', setup: async (f) => void (await present(f, issue('red').code, normal(36.5))) },
  {
    state: 'staff',
    setup: async (f) => void (await present(f, issue('green').code, { ok: false, fault: 'checksum', detail: 'PEC' })),
  },
];

for (const { state, setup } of FIRE_FROM) {
  test(`fire alarm from ${state}: emergency, leaf held open; cleared → locked and idle`, async () => {
    const f = makeLane();
    // Capture the pending measurement so the test can wait for it to finish.
    const measurements: Array<Promise<TemperatureReading>> = [];
    const measure = f.hw.thermometer.measure.bind(f.hw.thermometer);
    f.hw.thermometer.measure = (deadlineMs) => {
      const p = measure(deadlineMs);
      measurements.push(p);
      return p;
    };

    await setup(f);
    assert.equal(f.lane.state, state);
    const decisionsBefore = f.decisions.length;
    const journalBefore = f.journal.count();
    const pulsesBefore = f.pulses().length;
    const passagesBefore = f.passages.length;

    f.hw.fireAlarm.set(true);
    assert.equal(f.lane.state, 'emergency');
    assert.equal(f.lastCommand()?.command, 'hold-open');
    assert.equal(f.hw.gate.state, 'held-open');
    assert.equal(f.hw.annunciator.signals.at(-1), 'emergency');

    // Whatever was pending is dropped: a late measurement, timers, a beam break, new codes, staff buttons.
    f.hw.thermometer.release();
    await Promise.all(measurements);
    await settle();
    f.timers.advance(60_000);
    f.hw.passage.walkThrough();
    f.hw.reader.present(issue('green').code);
    await settle();
    assert.equal(await f.lane.noCode(), null);
    assert.equal(await f.lane.staffRegistered(), null);
    assert.equal(f.lane.staffRelease(), false);
    assert.equal(f.lane.staffResume(), false);
    assert.equal(f.lane.state, 'emergency');
    assert.equal(f.lastCommand()?.command, 'hold-open');
    assert.equal(f.hw.gate.state, 'held-open');
    assert.equal(f.decisions.length, decisionsBefore, 'a decision was made during the emergency');
    assert.equal(f.journal.count(), journalBefore);
    assert.equal(f.pulses().length, pulsesBefore);
    assert.equal(f.passages.length, passagesBefore);

    f.hw.fireAlarm.set(false);
    assert.equal(f.lane.state, 'idle');
    assert.equal(f.lastCommand()?.command, 'lock');
    assert.equal(f.hw.gate.state, 'locked');
    assert.equal(f.hw.annunciator.alarmOn, false);

    // Back in service.
    f.hw.thermometer.latencyMs = 0;
    const record = await present(f, issue('green').code, normal(36.5));
    assert.equal(record.decision.verdict, 'pass');
    assert.equal(f.lane.state, 'open');
  });
}

test('a lane started while the fire alarm is active starts in emergency and never locks the leaf', () => {
  const f = makeLane({ beforeStart: (hw) => hw.fireAlarm.set(true) });
  assert.equal(f.lane.state, 'emergency');
  assert.equal(f.hw.gate.state, 'held-open');
  assert.deepEqual(
    f.hw.gate.commands.map((c) => c.command),
    ['hold-open'],
    'the leaf was commanded locked while the fire alarm was active',
  );
  f.hw.fireAlarm.set(false);
  assert.equal(f.lane.state, 'idle');
  assert.equal(f.hw.gate.state, 'locked');
});

// ---------------------------------------------------------------------------
// Journal first

test('every decision is journaled before the decision event and before the gate acts; events hold no name', async () => {
  const f = makeLane();
  const seenAtCommand: Array<{ command: GateCommand['command']; last: DecisionEvent | undefined }> = [];
  f.hw.gate.onCommand = (command) => {
    seenAtCommand.push({ command: command.command, last: f.journal.list({ lane: 'lane-1' }).at(-1) });
  };
  const checkedInListener: string[] = [];
  f.lane.on('decision', ({ event }) => {
    assert.deepEqual(f.journal.get(event.id), event, 'decision event fired before it was in the journal');
    checkedInListener.push(event.id);
  });

  const people = [
    { colour: 'green' as const, name: '张*三', temperature: normal(36.5), verdict: 'pass', command: 'pulse' },
    { colour: 'yellow' as const, name: '王*五', temperature: normal(36.5), verdict: 'deny', command: 'lock' },
    { colour: 'red' as const, name: '赵*六', temperature: normal(36.5), verdict: 'hold', command: 'lock' },
    { colour: 'green' as const, name: '李*四', temperature: normal(38.5), verdict: 'deny', command: 'lock' },
  ];
  for (const person of people) {
    const { code, sub } = issue(person.colour, { maskedName: person.name });
    seenAtCommand.length = 0;
    const record = await present(f, code, person.temperature);
    assert.equal(record.decision.verdict, person.verdict);

    // The gate's first command for this decision came after the event was stored.
    const acted = seenAtCommand.find((c) => c.command === person.command);
    assert.ok(acted, `no ${person.command} for ${person.verdict}`);
    assert.equal(acted.last?.id, record.event.id, `gate ${person.command} before the decision was journaled`);
    assert.ok(checkedInListener.includes(record.event.id));

    assert.equal(record.event.subject, sub);
    assert.equal(record.credential?.gzhc?.maskedName, person.name, 'the screen still gets the masked name');
    assertNoPersonalData(record.event, person.name);
    assertNoPersonalData(f.journal.get(record.event.id)!, person.name);

    // Back to idle for the next person.
    if (f.lane.state === 'open') f.hw.passage.walkThrough();
    else if (f.lane.state === 'held') f.lane.staffRelease();
    else f.timers.advance(TIMING.denyDisplayMs);
    assert.equal(f.lane.state, 'idle');
  }
  assert.equal(f.journal.count(), people.length);
  assert.deepEqual(
    f.journal.list({ lane: 'lane-1' }).map((e) => e.seq),
    people.map((_, i) => i + 1),
  );
});

test('journal closed under the lane: no pulse, staff mode, fault journal, no decision event', async () => {
  const f = makeLane();
  f.journal.close();
  f.hw.thermometer.next = normal(36.5);
  const faulted = once(f.lane, 'fault') as Promise<[LaneEvents['fault'][0]]>;
  f.hw.reader.present(issue('green').code);
  const [fault] = await faulted;
  assert.equal(fault.kind, 'journal');
  assert.ok(fault.detail.length > 0);
  assert.equal(f.lane.state, 'staff');
  assert.equal(f.decisions.length, 0);
  assert.equal(f.pulses().length, 0);
  assert.equal(f.hw.gate.state, 'locked');
  assert.equal(f.hw.annunciator.signals.at(-1), 'staff');
  assert.equal(f.lane.staffResume(), true);
  assert.equal(f.lane.state, 'idle');
});

test('journal whose append throws: the lane refuses every verdict, even staff-registered', async () => {
  const stub = {
    append(): DecisionEvent {
      throw new Error('disk I/O error');
    },
    async flush(): Promise<void> {},
  } as unknown as Journal;
  const f = makeLane({ journal: stub });

  f.hw.thermometer.next = normal(36.5);
  f.hw.reader.present(issue('green').code);
  await settle();
  assert.equal(f.lane.state, 'staff');
  assert.deepEqual(f.faults, [{ kind: 'journal', detail: 'disk I/O error' }]);
  f.lane.staffResume();

  // No code: the refusal cannot be recorded either, so staff may not register on it.
  assert.equal(await f.lane.noCode(), null);
  assert.equal(f.lane.state, 'staff');
  assert.equal(f.faults.length, 2);
  assert.equal(await f.lane.staffRegistered(), null);
  assert.equal(f.pulses().length, 0);
  assert.equal(f.decisions.length, 0);
});

// ---------------------------------------------------------------------------
// Repeat suppression

test('the same code again within repeatSuppressMs of its decision is ignored; after it, decided again', async () => {
  const f = makeLane();
  const { code } = issue('green');
  const first = await present(f, code, normal(36.5));
  f.timers.advance(100);
  f.hw.passage.walkThrough();
  assert.equal(f.lane.state, 'idle');

  // The phone is still in front of the reader.
  f.timers.advance(TIMING.repeatSuppressMs - 101);
  f.hw.reader.present(code);
  await settle();
  assert.equal(f.lane.state, 'idle');
  assert.equal(f.decisions.length, 1);
  assert.equal(f.pulses().length, 1);

  // A different person in between is not suppressed.
  const other = await present(f, issue('green').code, normal(36.5));
  assert.notEqual(other.event.id, first.event.id);
  f.hw.passage.walkThrough();

  // The suppression counts from the first code's decision, wherever the other one left it.
  const g = makeLane();
  const { code: again } = issue('yellow');
  await present(g, again, normal(36.5));
  g.timers.advance(TIMING.denyDisplayMs);
  assert.equal(g.lane.state, 'idle');
  g.timers.advance(TIMING.repeatSuppressMs - TIMING.denyDisplayMs - 1);
  g.hw.reader.present(again);
  await settle();
  assert.equal(g.decisions.length, 1);
  g.timers.advance(1);
  const second = await present(g, again, normal(36.5));
  assert.equal(second.decision.reason, 'yellow');
  assert.equal(g.decisions.length, 2);
});

// ---------------------------------------------------------------------------
// No code: staff-assisted registration

test('no code: deny no-code (register), then staff registration → measuring → pass staff-registered by staff', async () => {
  const f = makeLane();
  const refused = await f.lane.noCode();
  assert.ok(refused);
  assert.equal(refused.decision.verdict, 'deny');
  assert.equal(refused.decision.reason, 'no-code');
  assert.equal(refused.decision.staffAction, 'register');
  assert.equal(refused.decision.decidedBy, 'staff');
  assert.equal(refused.event.subject, null);
  assert.equal(refused.temperature, null);
  assert.equal(f.lane.state, 'locked');
  assert.equal(await f.lane.noCode(), null, 'noCode outside idle does nothing');

  f.states.length = 0;
  f.hw.thermometer.next = normal(36.6);
  const registered = await f.lane.staffRegistered();
  assert.ok(registered);
  assert.deepEqual(
    f.states.map(([s]) => s),
    ['measuring', 'deciding', 'open'],
  );
  assert.equal(registered.decision.verdict, 'pass');
  assert.equal(registered.decision.reason, 'staff-registered');
  assert.equal(registered.decision.decidedBy, 'staff');
  assert.equal(registered.event.temperatureC, 36.6);
  assert.match(registered.event.subject ?? '', /^staff:/);
  assert.deepEqual(f.pulses().map((c) => c.ms), [TIMING.relayPulseMs]);
  assert.equal(f.journal.count(), 2);

  // The deny display timer from no-code must not fire into the open lane.
  f.timers.advance(TIMING.denyDisplayMs);
  assert.equal(f.lane.state, 'open');
  f.hw.passage.walkThrough();
  assert.equal(f.lane.state, 'idle');
  assert.deepEqual(f.passages, [{ eventId: registered.event.id, confirmed: true }]);
});

test('with a registrar: details required and checked, sealed before the journal, kept in its transaction', async () => {
  const calls: string[] = [];
  const kept: Array<{ sealed: SealedRecord; eventId: string }> = [];
  const fakeSealed = (record: RegistrationRecord): SealedRecord =>
    ({ v: 1, kid: 'k', eventId: record.eventId, site: record.site, lane: record.lane, time: record.time, epk: 'e', salt: 's', nonce: 'n', ct: 'c', tag: 't' });
  let sealedWith: RegistrationRecord | null = null;
  const f = makeLane({
    deps: {
      registrar: {
        seal: (record) => {
          calls.push('seal');
          sealedWith = record;
          return fakeSealed(record);
        },
        keep: (sealed, event) => {
          calls.push(`keep:${f.journal.get(event.id) ? 'visible' : 'absent'}`);
          kept.push({ sealed, eventId: event.id });
        },
      },
    },
  });
  f.hw.thermometer.next = normal(36.6);
  await f.lane.noCode();
  const first17 = '11010519491231002';
  const details = { name: '吴十', nationalId: first17 + nationalIdCheckCharacter(first17), phone: '13800000000' };
  await assert.rejects(f.lane.staffRegistered(), (error: unknown) => isRegistrationRefusal(error) && error.field === 'details');
  await assert.rejects(f.lane.staffRegistered({ ...details, nationalId: first17 + (details.nationalId.endsWith('0') ? '1' : '0') }), /校验位/);
  assert.equal(f.journal.count(), 1, 'refusals decide nothing');
  assert.deepEqual(calls, []);

  const registered = await f.lane.staffRegistered(details);
  assert.equal(registered?.decision.verdict, 'pass');
  // keep runs inside the append: the event is already readable on the same connection.
  assert.deepEqual(calls, ['seal', 'keep:visible']);
  assert.equal(kept[0]!.eventId, registered!.event.id);
  assert.deepEqual(sealedWith, { ...details, temperatureC: 36.6, time: registered!.event.time, site: registered!.event.site, lane: registered!.event.lane, eventId: registered!.event.id });
  assert.ok(!JSON.stringify(registered!.event).includes(details.phone), 'the decision event keeps no personal data');
});

test('staff-registered with a fever is refused, never passed', async () => {
  const f = makeLane();
  f.hw.thermometer.next = normal(38.0);
  await f.lane.noCode();
  const record = await f.lane.staffRegistered();
  assert.equal(record?.decision.verdict, 'deny');
  assert.equal(record?.decision.reason, 'fever');
  assert.equal(f.pulses().length, 0);
});

// ---------------------------------------------------------------------------
// Pushed colour status

test('a pushed colour overrides the QR colour: green code pushed red → hold by pushed-status', async () => {
  const f = makeLane();
  const { code, sub } = issue('green', { maskedName: '冯*二' });
  assert.equal(f.colours.apply(platform.changeColour(sub, 'red')), true);
  const record = await present(f, code, normal(36.5));
  assert.equal(record.decision.verdict, 'hold');
  assert.equal(record.decision.reason, 'red');
  assert.equal(record.decision.decidedBy, 'pushed-status');
  assert.equal(record.event.colour, 'red');
  assert.equal(record.event.subject, sub);
  assert.equal(f.lane.state, 'held');
  assert.equal(f.pulses().length, 0);
  f.lane.staffRelease();

  // And a red code pushed green again passes, by pushed status.
  const red = issue('red');
  f.colours.apply(platform.changeColour(red.sub, 'green'));
  const cleared = await present(f, red.code, normal(36.5));
  assert.equal(cleared.decision.verdict, 'pass');
  assert.equal(cleared.decision.decidedBy, 'pushed-status');
});

test('a printed code: no pushed status → deny status-unknown; with a pushed green → pass by pushed-status', async () => {
  const f = makeLane();
  const unknown = issue('green', { kind: 'printed', maskedName: '郑*一' });
  const refused = await present(f, unknown.code, normal(36.5));
  assert.equal(refused.decision.verdict, 'deny');
  assert.equal(refused.decision.reason, 'status-unknown');
  assert.equal(refused.decision.staffAction, 'check-credential');
  assert.equal(refused.event.credential?.kind, 'printed');
  assert.equal(f.pulses().length, 0);
  f.timers.advance(TIMING.denyDisplayMs);

  const known = issue('green', { kind: 'printed', maskedName: '郑*一' });
  f.colours.apply(platform.changeColour(known.sub, 'green'));
  const passed = await present(f, known.code, normal(36.5));
  assert.equal(passed.decision.verdict, 'pass');
  assert.equal(passed.decision.decidedBy, 'pushed-status');
});

// ---------------------------------------------------------------------------
// Staff flows that must not open a back door, and drivers that fail

test('staff registration is refused unless the person was just refused for having no code', async () => {
  const f = makeLane();
  assert.equal(await f.lane.staffRegistered(), null, 'from idle with nobody refused');
  f.hw.thermometer.next = normal(36.5);
  f.hw.reader.present(issue('yellow').code);
  await settle();
  assert.equal(f.lane.state, 'locked');
  assert.equal(await f.lane.staffRegistered(), null, 'a yellow code must not become a staff registration');
  assert.equal(f.pulses().length, 0);
  f.timers.advance(TIMING.denyDisplayMs);
  await f.lane.noCode();
  const registered = await f.lane.staffRegistered();
  assert.equal(registered?.decision.reason, 'staff-registered');
  assert.equal(await f.lane.staffRegistered(), null, 'one registration per refusal');
});

test('thermometer fault with a yellow code: refused as yellow, and the lane still goes to staff mode', async () => {
  const f = makeLane();
  f.hw.thermometer.next = { ok: false, fault: 'out-of-range', detail: 'object 380.2 °C' };
  f.hw.reader.present(issue('yellow').code);
  await settle();
  assert.equal(f.decisions.at(-1)?.decision.reason, 'yellow');
  assert.equal(f.lane.state, 'staff');
  assert.deepEqual(f.faults.map((x) => x.kind), ['thermometer']);
});

test('staff take the temperature by hand after a fault: the same person is decided again, by staff', async () => {
  const f = makeLane();
  const { code, sub } = issue('green');
  f.hw.thermometer.next = { ok: false, fault: 'checksum', detail: 'PEC mismatch' };
  f.hw.reader.present(code);
  await settle();
  assert.equal(f.lane.state, 'staff');
  assert.equal(await f.lane.staffTemperature(Number.NaN), null, 'not a temperature');
  const record = await f.lane.staffTemperature(36.6);
  assert.equal(record?.decision.verdict, 'pass');
  assert.equal(record?.decision.decidedBy, 'staff');
  assert.equal(record?.event.subject, sub);
  assert.equal(record?.event.temperatureC, 36.6);
  assert.equal(f.pulses().length, 1);
  assert.equal(f.lane.state, 'open');
  assert.equal(await f.lane.staffTemperature(36.6), null, 'only once, and only in staff mode');
});

test('staff-taken fever after a fault: refused', async () => {
  const f = makeLane();
  f.hw.thermometer.next = { ok: false, fault: 'silent', detail: 'no answer' };
  f.hw.reader.present(issue('green').code);
  await settle();
  const record = await f.lane.staffTemperature(38.4);
  assert.equal(record?.decision.reason, 'fever');
  assert.equal(f.pulses().length, 0);
});

test('a thermometer driver that throws is a fault, not a crash', async () => {
  const f = makeLane();
  f.hw.thermometer.measure = () => Promise.reject(new Error('I2C bus error'));
  f.hw.reader.present(issue('green').code);
  await settle();
  assert.equal(f.decisions.at(-1)?.decision.reason, 'sensor-fault');
  assert.equal(f.decisions.at(-1)?.event.sensorFault, 'disconnected');
  assert.equal(f.lane.state, 'staff');
  assert.equal(f.pulses().length, 0);
});

test('a gate driver that throws puts the lane in staff mode and nobody is lost', async () => {
  const f = makeLane();
  f.hw.gate.pulse = () => {
    throw new Error('relay board not answering');
  };
  f.hw.thermometer.next = normal(36.5);
  f.hw.reader.present(issue('green').code);
  await settle();
  assert.equal(f.lane.state, 'staff');
  assert.deepEqual(f.faults.map((x) => x.kind), ['driver']);
  assert.equal(f.journal.count(), 1, 'the decision was recorded before the relay failed');
});

// ---------------------------------------------------------------------------
// Online look-up of printed codes

type LookupFn = NonNullable<LaneDependencies['lookup']>;
type LookupResult = Awaited<ReturnType<LookupFn>>;

/** A look-up the test answers by hand, or never. */
function manualLookup(): { fn: LookupFn; calls: Array<{ kind: string; subject: string; answer: (result: LookupResult) => void }> } {
  const calls: Array<{ kind: string; subject: string; answer: (result: LookupResult) => void }> = [];
  const fn: LookupFn = (kind, subject) => new Promise((resolve) => calls.push({ kind, subject, answer: resolve }));
  return { fn, calls };
}

test('a printed code without a pushed status is looked up: green → pass by online-lookup', async () => {
  const asked: string[] = [];
  const f = makeLane({
    deps: {
      lookup: async (kind, subject) => {
        asked.push(`${kind}:${subject}`);
        return { colour: 'green', effectiveAt: Date.now() };
      },
    },
  });
  const { code, sub } = issue('green', { kind: 'printed', maskedName: '郑*一' });
  const record = await present(f, code, normal(36.5));
  assert.deepEqual(asked, [`printed-code:${sub}`]);
  assert.equal(record.decision.verdict, 'pass');
  assert.equal(record.decision.reason, 'green-normal');
  assert.equal(record.decision.decidedBy, 'online-lookup');
  assert.equal(record.event.decidedBy, 'online-lookup');
  assert.equal(record.event.colour, 'green');
  assert.equal(record.event.degraded, false);
  assert.equal(f.lane.state, 'open');
  assert.equal(f.pulses().length, 1);
  assert.equal(f.timers.size, 1, 'only the passage timeout: the look-up guard was cleared');
});

test('look-up answers red → hold by online-lookup, with an alert', async () => {
  const f = makeLane({ deps: { lookup: async () => ({ colour: 'red', effectiveAt: Date.now() }) } });
  const record = await present(f, issue('green', { kind: 'printed' }).code, normal(36.5));
  assert.equal(record.decision.verdict, 'hold');
  assert.equal(record.decision.decidedBy, 'online-lookup');
  assert.equal(record.decision.alert, true);
  assert.equal(f.lane.state, 'held');
  assert.equal(f.pulses().length, 0);
});

test('look-up without an answer in time, unknown to the centre, or failing: deny status-unknown for staff to check', async () => {
  const answers: Array<{ name: string; lookup: LookupFn; decidedBy: string }> = [
    { name: 'no answer in time', lookup: async () => null, decidedBy: 'offline-code' },
    { name: 'unknown to the centre', lookup: async () => ({ colour: null, effectiveAt: Date.now() }), decidedBy: 'online-lookup' },
    { name: 'look-up rejects', lookup: () => Promise.reject(new Error('link down')), decidedBy: 'offline-code' },
    {
      name: 'look-up throws',
      lookup: () => {
        throw new Error('not connected');
      },
      decidedBy: 'offline-code',
    },
  ];
  for (const { name, lookup, decidedBy } of answers) {
    const f = makeLane({ deps: { lookup } });
    const record = await present(f, issue('green', { kind: 'printed' }).code, normal(36.5));
    assert.equal(record.decision.verdict, 'deny', name);
    assert.equal(record.decision.reason, 'status-unknown', name);
    assert.equal(record.decision.staffAction, 'check-credential', name);
    assert.equal(record.decision.decidedBy, decidedBy, name);
    assert.equal(f.pulses().length, 0, name);
    assert.equal(f.lane.state, 'locked', name);
  }
});

test('no look-up for a dynamic code, nor for a printed code the centre pushed a status for', async () => {
  const lookup = manualLookup();
  const f = makeLane({ deps: { lookup: lookup.fn } });
  const dynamic = await present(f, issue('green').code, normal(36.5));
  assert.equal(dynamic.decision.decidedBy, 'offline-code');
  f.hw.passage.walkThrough();

  const printed = issue('green', { kind: 'printed' });
  f.colours.apply(platform.changeColour(printed.sub, 'yellow'));
  const pushed = await present(f, printed.code, normal(36.5));
  assert.equal(pushed.decision.reason, 'yellow');
  assert.equal(pushed.decision.decidedBy, 'pushed-status');
  assert.equal(lookup.calls.length, 0);
});

test('the lane stays responsive while a look-up is on its way: fire alarm → emergency, the late answer decides nothing', async () => {
  const lookup = manualLookup();
  const f = makeLane({ deps: { lookup: lookup.fn } });
  f.hw.thermometer.next = normal(36.5);
  f.hw.reader.present(issue('green', { kind: 'printed' }).code);
  await settle();
  assert.equal(lookup.calls.length, 1);
  assert.equal(f.lane.state, 'deciding');

  f.hw.fireAlarm.set(true);
  assert.equal(f.lane.state, 'emergency');
  assert.equal(f.hw.gate.state, 'held-open');
  lookup.calls[0]!.answer({ colour: 'green', effectiveAt: Date.now() });
  await settle();
  assert.equal(f.lane.state, 'emergency');
  assert.equal(f.decisions.length, 0);
  assert.equal(f.journal.count(), 0);
  assert.equal(f.pulses().length, 0);
});

test('a look-up that never settles does not hold the lane: decided without an answer after the guard time', async () => {
  const lookup = manualLookup();
  const f = makeLane({ deps: { lookup: lookup.fn } });
  f.hw.thermometer.next = normal(36.5);
  const decided = once(f.lane, 'decision') as Promise<[DecisionRecord]>;
  f.hw.reader.present(issue('green', { kind: 'printed' }).code);
  await settle();
  assert.equal(f.lane.state, 'deciding');
  f.timers.advance(15_000);
  const [record] = await decided;
  assert.equal(record.decision.reason, 'status-unknown');
  assert.equal(f.pulses().length, 0);
});

// ---------------------------------------------------------------------------
// Degraded: cut off from the centre

test('degraded with whenDegraded staff: no automatic pass (deny degraded, staff verify); refusals and holds stand; events say so', async () => {
  const link = { degraded: true };
  const f = makeLane({ deps: { link, whenDegraded: 'staff' } });
  const green = await present(f, issue('green').code, normal(36.5));
  assert.equal(green.decision.verdict, 'deny');
  assert.equal(green.decision.reason, 'degraded');
  assert.equal(green.decision.staffAction, 'verify-colour');
  assert.ok(green.decision.advice.zh.length > 0 && green.decision.advice.en.length > 0);
  assert.equal(green.event.degraded, true);
  assert.equal(f.journal.get(green.event.id)?.degraded, true);
  assert.equal(f.pulses().length, 0);
  f.timers.advance(TIMING.denyDisplayMs);

  const red = await present(f, issue('red').code, normal(36.5));
  assert.equal(red.decision.verdict, 'hold');
  assert.equal(red.event.degraded, true);
  f.lane.staffRelease();

  // A look-up answer is current news from the centre: it may still pass.
  const g = makeLane({ deps: { link, lookup: async () => ({ colour: 'green', effectiveAt: Date.now() }) } });
  const looked = await present(g, issue('green', { kind: 'printed' }).code, normal(36.5));
  assert.equal(looked.decision.verdict, 'pass');
  assert.equal(looked.event.degraded, true);

  // Back in touch: passes again, flagged not degraded.
  link.degraded = false;
  const again = await present(f, issue('green').code, normal(36.5));
  assert.equal(again.decision.verdict, 'pass');
  assert.equal(again.event.degraded, false);
});

test('degraded with whenDegraded offline-code: decided as usual, flagged degraded', async () => {
  const f = makeLane({ deps: { link: { degraded: true }, whenDegraded: 'offline-code' } });
  const record = await present(f, issue('green').code, normal(36.5));
  assert.equal(record.decision.verdict, 'pass');
  assert.equal(record.decision.decidedBy, 'offline-code');
  assert.equal(record.event.degraded, true);
});

test('without a link the lane is never degraded, and every event says so', async () => {
  const f = makeLane();
  const record = await present(f, issue('green').code, normal(36.5));
  assert.equal(record.event.degraded, false);
  f.hw.passage.walkThrough();
  const none = await f.lane.noCode();
  assert.equal(none?.event.degraded, false);
});

// ---------------------------------------------------------------------------
// The centre's open and lock commands

test('remoteOpen: one pulse, open, journaled as a pass by staff (remote-open, no subject); passage closes it', async () => {
  const f = makeLane();
  const remote: Array<LaneEvents['remote'][0]> = [];
  f.lane.on('remote', (outcome) => remote.push(outcome));
  assert.equal(f.lane.remoteOpen(), true);
  assert.equal(f.lane.state, 'open');
  assert.deepEqual(f.pulses().map((c) => c.ms), [TIMING.relayPulseMs]);
  assert.equal(f.decisions.length, 1);
  const { event, decision } = f.decisions[0]!;
  assert.equal(decision.reason, 'remote-open');
  assert.equal(event.verdict, 'pass');
  assert.equal(event.decidedBy, 'staff');
  assert.equal(event.subject, null);
  assert.equal(event.degraded, false);
  assert.deepEqual(f.journal.get(event.id), event);
  assert.deepEqual(remote, [{ action: 'open', accepted: true, state: 'open' }]);

  assert.equal(f.lane.remoteOpen(), false, 'already open');
  f.hw.passage.walkThrough();
  assert.deepEqual(f.passages, [{ eventId: event.id, confirmed: true }]);
  assert.equal(f.lane.state, 'idle');

  // From a refusal on show, too.
  await present(f, issue('yellow').code, normal(36.5));
  assert.equal(f.lane.state, 'locked');
  assert.equal(f.lane.remoteOpen(), true);
  assert.equal(f.lane.state, 'open');
  f.timers.advance(TIMING.passageTimeoutMs);
  assert.equal(f.lane.state, 'idle');
  assert.equal(f.hw.gate.state, 'locked');
});

test('remoteOpen is refused during a hold, a fire alarm and a person’s turn', async () => {
  const f = makeLane();
  await present(f, issue('red').code, normal(36.5));
  assert.equal(f.lane.remoteOpen(), false);
  assert.equal(f.lane.state, 'held');
  f.lane.staffRelease();

  f.hw.thermometer.hold();
  f.hw.thermometer.next = normal(36.5);
  const decided = once(f.lane, 'decision');
  f.hw.reader.present(issue('green').code);
  await settle();
  assert.equal(f.lane.state, 'measuring');
  assert.equal(f.lane.remoteOpen(), false);
  f.hw.thermometer.release();
  await decided;
  f.hw.passage.walkThrough();

  f.hw.fireAlarm.set(true);
  assert.equal(f.lane.remoteOpen(), false);
  assert.equal(f.hw.gate.state, 'held-open');
  assert.equal(f.pulses().length, 1, 'only the green pass pulsed');
  assert.equal(f.journal.count(), 2);
});

test('remoteLock: an open leaf locks at once and the lane goes idle; never during a fire alarm; a hold stays held', async () => {
  const f = makeLane();
  const record = await present(f, issue('green').code, normal(36.5));
  assert.equal(f.lane.state, 'open');
  assert.equal(f.lane.remoteLock(), true);
  assert.equal(f.lane.state, 'idle');
  assert.equal(f.hw.gate.state, 'locked');
  assert.deepEqual(f.passages, [{ eventId: record.event.id, confirmed: false }]);
  assert.equal(f.timers.size, 0, 'the passage timeout was cleared');

  // A turn in progress is dropped.
  f.hw.thermometer.hold();
  f.hw.reader.present(issue('green').code);
  await settle();
  assert.equal(f.lane.state, 'measuring');
  assert.equal(f.lane.remoteLock(), true);
  assert.equal(f.lane.state, 'idle');
  f.hw.thermometer.release();
  await settle();
  assert.equal(f.decisions.length, 1, 'the dropped turn decided nothing');

  await present(f, issue('red').code, normal(36.5));
  assert.equal(f.lane.remoteLock(), true);
  assert.equal(f.lane.state, 'held', 'only staff end a hold');
  assert.equal(f.hw.annunciator.alarmOn, true);
  f.lane.staffRelease();

  f.hw.fireAlarm.set(true);
  const commands = f.hw.gate.commands.length;
  assert.equal(f.lane.remoteLock(), false);
  assert.equal(f.lane.state, 'emergency');
  assert.equal(f.hw.gate.state, 'held-open');
  assert.equal(f.hw.gate.commands.length, commands, 'no lock command during the fire alarm');
});
