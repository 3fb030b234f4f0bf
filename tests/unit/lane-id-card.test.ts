/**
 * A person without a smartphone swipes their resident ID card: the
 * lane checks the number (GB 11643), asks the centre for the colour by the
 * keyed hash of the number while it takes the temperature, and decides by the
 * same rules as a code; no answer in time puts the lane in staff mode. The
 * number is never looked up, journaled, reported or logged. Real Lane and
 * Journal on virtual hardware with an in-memory ID-card reader, fake timers.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { TemperatureReading } from '../../device/contracts.js';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier } from '../../edge-agent/credential/verifier.js';
import type { Colour } from '../../protocol/domain.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { Lane, type DecisionRecord, type LaneDependencies, type LaneState, type LaneTiming, type Timers } from '../../edge-agent/lane/lane.js';
import { idHash, idHasher } from '../../protocol/privacy/id-hash.js';
import { createVirtualLaneHardware, InMemoryIdCardReader, type VirtualLaneHardware } from '../../simulator/hardware/virtual-lane.js';

class FakeTimers implements Timers {
  private clock = Date.now();
  private nextHandle = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
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
  advance(ms: number): void {
    const target = this.clock + ms;
    for (;;) {
      const due = [...this.pending].filter(([, t]) => t.at <= target).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.clock = due[1].at;
      due[1].fn();
    }
    this.clock = target;
  }
}

const TIMING: LaneTiming = { relayPulseMs: 1200, passageTimeoutMs: 8000, denyDisplayMs: 3000, temperatureDeadlineMs: 60, repeatSuppressMs: 5000 };
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
/** The example number of GB 11643-1999; its birth date, to look for in what the lane writes. */
const NUMBER = '11010519491231002X';
const BIRTH = '19491231';
const HASH = idHash(KEY, NUMBER);

const tempDirs: string[] = [];
const journals: Journal[] = [];
after(() => {
  for (const journal of journals) {
    try {
      journal.close();
    } catch {
      // closed by the test
    }
  }
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

type Lookup = NonNullable<LaneDependencies['lookup']>;

interface Fixture {
  lane: Lane;
  hw: VirtualLaneHardware;
  card: InMemoryIdCardReader;
  timers: FakeTimers;
  journal: Journal;
  dir: string;
  calls: Array<[string, string]>;
  logs: string[];
  states: LaneState[];
}

function answering(colour: Colour | null): Lookup {
  return async () => ({ colour, effectiveAt: Date.now() });
}

function makeLane(deps: { lookup?: Lookup | null; idHash?: LaneDependencies['idHash'] | null } = {}): Fixture {
  const hw = createVirtualLaneHardware();
  const card = new InMemoryIdCardReader();
  hw.idCardReader = card;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lane-id-card-'));
  tempDirs.push(dir);
  const journal = Journal.open(path.join(dir, 'journal.db'), { sync: 'normal' });
  journals.push(journal);
  const timers = new FakeTimers();
  const logs: string[] = [];
  const logger = pino({ level: 'trace' }, new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) }));
  const calls: Array<[string, string]> = [];
  const lookup = deps.lookup === undefined ? answering('green') : deps.lookup;
  const hasher = deps.idHash === undefined ? idHasher(KEY) : deps.idHash;
  const lane = new Lane({
    site: 'test-site',
    lane: 'lane-1',
    hardware: hw,
    verifier: new CredentialVerifier({ trust: new TrustStore() }),
    colours: new ColourStatusStore(),
    journal,
    policy: { feverThresholdC: 37.3 },
    timing: TIMING,
    logger,
    timers,
    ...(lookup
      ? {
          lookup: (kind: 'printed-code' | 'id-hash', key: string) => {
            calls.push([kind, key]);
            return lookup(kind, key);
          },
        }
      : {}),
    ...(hasher ? { idHash: hasher } : {}),
  });
  const states: LaneState[] = [];
  lane.on('state', (state) => states.push(state));
  void card.start();
  lane.start();
  return { lane, hw, card, timers, journal, dir, calls, logs, states };
}

async function swipe(f: Fixture, nationalId = NUMBER, temperature: TemperatureReading = { ok: true, celsius: 36.5 }): Promise<DecisionRecord> {
  f.hw.thermometer.next = temperature;
  const decided = once(f.lane, 'decision') as Promise<[DecisionRecord]>;
  f.card.swipe(nationalId);
  const [record] = await decided;
  return record;
}

/** Nothing the lane wrote (event, journal file, logs) holds the number or its birth date, nor the hash. */
function assertNoNumber(f: Fixture, record: DecisionRecord): void {
  const event = JSON.stringify(record.event);
  for (const secret of [NUMBER, BIRTH, HASH]) assert.ok(!event.includes(secret), `event holds ${secret}: ${event}`);
  f.journal.flush();
  for (const name of fs.readdirSync(f.dir)) {
    const bytes = fs.readFileSync(path.join(f.dir, name)).toString('latin1');
    for (const secret of [NUMBER, BIRTH, HASH]) assert.ok(!bytes.includes(secret), `${name} holds ${secret}`);
  }
  const logs = f.logs.join('');
  for (const secret of [NUMBER, BIRTH, HASH, '110***']) assert.ok(!logs.includes(secret), `logs hold ${secret}`);
}

test('ID card, centre answers green, normal temperature: pass by online-lookup, asked by the keyed hash only', async () => {
  const f = makeLane();
  const record = await swipe(f);
  assert.deepEqual([record.decision.verdict, record.decision.reason, record.event.decidedBy], ['pass', 'green-normal', 'online-lookup']);
  assert.deepEqual(f.calls, [['id-hash', HASH]]);
  assert.notEqual(HASH, NUMBER);
  assert.equal(record.event.subject, null, 'an ID card event has no subject');
  assert.deepEqual(record.event.credential, { profile: null, kind: 'id-card', kid: null, iss: null, failure: null });
  assert.equal(record.event.colour, 'green');
  assert.equal(record.event.temperatureC, 36.5);
  assert.equal(f.lane.state, 'open');
  assertNoNumber(f, record);
  f.lane.stop();
});

test('ID card: a lower-case x is the same number, the same hash', async () => {
  const f = makeLane();
  await swipe(f, ` ${NUMBER.toLowerCase()} `);
  assert.deepEqual(f.calls, [['id-hash', HASH]]);
  f.lane.stop();
});

test('ID card: yellow refused, red held with an alert, green with a fever refused — the rules of a code', async () => {
  const cases: Array<{ colour: Colour; celsius: number; expect: [string, string, string | null, LaneState, boolean] }> = [
    { colour: 'yellow', celsius: 36.5, expect: ['deny', 'yellow', null, 'locked', false] },
    { colour: 'red', celsius: 36.5, expect: ['hold', 'red', 'isolate-and-notify', 'held', true] },
    { colour: 'green', celsius: 38.2, expect: ['deny', 'fever', 'recheck-temperature', 'locked', false] },
  ];
  for (const { colour, celsius, expect } of cases) {
    const f = makeLane({ lookup: answering(colour) });
    const record = await swipe(f, NUMBER, { ok: true, celsius });
    const d = record.decision;
    assert.deepEqual([d.verdict, d.reason, d.staffAction, f.lane.state, d.alert], expect, colour);
    assert.equal(record.event.decidedBy, 'online-lookup', colour);
    assert.equal(f.hw.gate.commands.filter((c) => c.command === 'pulse').length, 0, colour);
    assertNoNumber(f, record);
    f.lane.stop();
  }
});

test('ID card, no answer in time, unknown to the centre, or the look-up fails: staff mode, and staff can resume', async () => {
  const cases: Array<{ name: string; lookup: Lookup; decidedBy: string }> = [
    { name: 'no answer in time', lookup: async () => null, decidedBy: 'offline-code' },
    { name: 'unknown to the centre', lookup: answering(null), decidedBy: 'online-lookup' },
    { name: 'look-up rejects', lookup: () => Promise.reject(new Error('link down')), decidedBy: 'offline-code' },
  ];
  for (const { name, lookup, decidedBy } of cases) {
    const f = makeLane({ lookup });
    const record = await swipe(f);
    const d = record.decision;
    assert.deepEqual([d.verdict, d.reason, d.staffAction, record.event.decidedBy], ['deny', 'id-lookup-failed', 'verify-colour', decidedBy], name);
    assert.deepEqual(d.advice, { zh: '无法查询码色，请等待工作人员核验', en: 'Colour could not be looked up: please wait for staff' });
    assert.equal(f.lane.state, 'staff', name);
    assert.equal(f.hw.gate.state, 'locked', name);
    // Staff mode waits for staff, not for a timer.
    f.timers.advance(60_000);
    assert.equal(f.lane.state, 'staff', name);
    assert.equal(f.lane.staffResume(), true, name);
    assert.equal(f.lane.state, 'idle', name);
    assertNoNumber(f, record);
    f.lane.stop();
  }
});

test('ID card: a look-up that never settles is given up at the guard time: staff mode', async () => {
  const f = makeLane({ lookup: () => new Promise(() => {}) });
  const decided = once(f.lane, 'decision') as Promise<[DecisionRecord]>;
  f.card.swipe(NUMBER);
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(f.lane.state, 'deciding');
  f.timers.advance(15_000);
  const [record] = await decided;
  assert.equal(record.decision.reason, 'id-lookup-failed');
  assert.equal(f.lane.state, 'staff');
  assert.equal(f.lane.staffResume(), true);
  f.lane.stop();
});

test('ID card with a number that is not GB 11643: refused as unreadable, nothing looked up', async () => {
  const f = makeLane();
  for (const bad of ['110105194912310021', '11010519491231002', 'ABCDEFGHIJKLMNOPQR', '']) {
    const record = await swipe(f, bad);
    const d = record.decision;
    assert.deepEqual([d.verdict, d.reason, d.staffAction, record.event.decidedBy], ['deny', 'id-card-unreadable', null, 'offline-code'], bad);
    assert.deepEqual(d.advice, { zh: '无法识别身份证，请重新刷卡或联系工作人员', en: 'ID card could not be read: swipe again or ask staff' });
    assert.equal(record.event.credential?.failure, 'unreadable');
    assert.equal(record.temperature, null, 'no measurement for a refused card');
    assert.equal(f.lane.state, 'locked');
    f.timers.advance(TIMING.denyDisplayMs);
    assert.equal(f.lane.state, 'idle');
  }
  assert.deepEqual(f.calls, []);
  assert.ok(!f.logs.join('').includes('110105194912310021'), 'a bad number is not logged either');
  f.lane.stop();
});

test('ID card at a gate not set up for it (no id-hash key, or no centre to ask): refused with the reason, logged, no crash', async () => {
  for (const [name, deps] of [
    ['no id-hash key', { idHash: null }],
    ['no look-up', { lookup: null }],
  ] as const) {
    const f = makeLane(deps);
    assert.match(f.logs.join(''), /ID-card reader is fitted but ID cards cannot be looked up/, name);
    const record = await swipe(f);
    const d = record.decision;
    assert.deepEqual([d.verdict, d.reason, d.staffAction], ['deny', 'id-card-not-supported', 'verify-colour'], name);
    assert.equal(record.event.credential?.failure, 'not-configured', name);
    assert.equal(f.lane.state, 'locked', name);
    assert.deepEqual(f.calls, [], name);
    assert.match(f.logs.join(''), /not set up for ID-card look-ups/, name);
    assertNoNumber(f, record);
    f.lane.stop();
  }
});

test('ID card: a hasher that throws refuses the card and logs no error text', async () => {
  const f = makeLane({
    idHash: (n) => {
      throw new Error(`cannot hash ${n}`);
    },
  });
  const record = await swipe(f);
  assert.equal(record.decision.reason, 'id-card-not-supported');
  assertNoNumber(f, record);
  f.lane.stop();
});

test('ID card with a thermometer fault: staff mode; once staff have the temperature the centre is asked again, and its new answer decides', async () => {
  // Green when swiped, red by the time staff have taken the temperature.
  const answers: Colour[] = ['green', 'red'];
  const f = makeLane({ lookup: async () => ({ colour: answers.shift() ?? null, effectiveAt: Date.now() }) });
  const record = await swipe(f, NUMBER, { ok: false, fault: 'silent', detail: 'no reading' });
  assert.deepEqual([record.decision.reason, f.lane.state], ['sensor-fault', 'staff']);
  const again = await f.lane.staffTemperature(36.6);
  assert.ok(again);
  assert.deepEqual([again.decision.verdict, again.decision.reason, again.event.colour], ['hold', 'red', 'red'], 'a stale green answer let a red person through');
  assert.deepEqual(again.event.credential?.kind, 'id-card');
  assert.deepEqual(f.calls, [['id-hash', HASH], ['id-hash', HASH]]);
  assert.equal(f.lane.state, 'held');
  f.lane.stop();
});

test('ID card: the same card read again within repeatSuppressMs is not decided twice; after it, it is', async () => {
  const f = makeLane();
  const first = await swipe(f);
  assert.equal(first.decision.verdict, 'pass');
  f.hw.passage.walkThrough();
  assert.equal(f.lane.state, 'idle');
  let decisions = 0;
  f.lane.on('decision', () => decisions++);
  f.card.swipe(NUMBER);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(decisions, 0, 'a card left on the reader opened the gate again');
  assert.equal(f.calls.length, 1);
  f.timers.advance(TIMING.repeatSuppressMs);
  const second = await swipe(f);
  assert.equal(second.decision.verdict, 'pass');
  assert.equal(f.calls.length, 2);
  f.lane.stop();
});

test('ID card on a degraded link: the centre\'s answer is current, so it decides; no answer is staff mode', async () => {
  const f = makeLane();
  (f.lane as unknown as { deps: { link: { degraded: boolean } } }).deps.link = { degraded: true };
  const record = await swipe(f);
  assert.deepEqual([record.decision.verdict, record.event.decidedBy, record.event.degraded], ['pass', 'online-lookup', true]);
  f.lane.stop();
  const g = makeLane({ lookup: async () => null });
  (g.lane as unknown as { deps: { link: { degraded: boolean } } }).deps.link = { degraded: true };
  const unanswered = await swipe(g);
  assert.deepEqual([unanswered.decision.reason, g.lane.state], ['id-lookup-failed', 'staff']);
  g.lane.stop();
});

test('ID card: swipes while busy are ignored; after stop() the lane no longer listens', async () => {
  const f = makeLane({ lookup: answering('yellow') });
  await swipe(f);
  assert.equal(f.lane.state, 'locked');
  let decisions = 0;
  f.lane.on('decision', () => decisions++);
  f.card.swipe(NUMBER);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(decisions, 0);
  f.timers.advance(TIMING.denyDisplayMs);
  f.lane.stop();
  f.card.swipe(NUMBER);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(decisions, 0);
  assert.equal(f.calls.length, 1);
});
