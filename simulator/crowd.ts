/**
 * The scripted crowd: one person per path of the decision table, each with the verdict the rules expect. The runner walks
 * them through a lane the way people and staff would.
 */
import { randomBytes } from 'node:crypto';
import type { TemperatureReading } from '../device/contracts.js';
import { encodeGzhcCode } from '../protocol/credential/encoder.js';
import type { Colour, Verdict } from '../protocol/domain.js';
import type { DecisionRecord, Lane } from '../edge-agent/lane/lane.js';
import type { Reason } from '../protocol/reasons.js';
import { nationalIdCheckCharacter } from '../protocol/privacy/national-id.js';
import type { RegistrationDetails } from '../protocol/privacy/registration.js';
import type { CodeWay } from './hardware/wire-lane.js';
import { ReferencePlatform } from './platform.js';

/** What a person does at the gate. */
export type Approach =
  | { kind: 'code'; code: string; way: CodeWay }
  | { kind: 'no-code'; details: RegistrationDetails } // asks staff, who then register them
  | { kind: 'id-card'; nationalId: string } // no smartphone: swipes the resident ID card
  | { kind: 'fire-alarm' }; // not a person: the building's alarm goes off

export interface Person {
  label: string;
  /** What is shown on a line of output: the colour on the code, or what the person lacks. */
  shows: string;
  approach: Approach;
  temperature: TemperatureReading;
  /** When the thermometer fails: the temperature staff take by hand. */
  staffTakesCelsius?: number;
  /**
   * What the platform tells the centre before this person walks up: colour
   * changes (the centre pushes them to the gates) and, with idHash, a
   * resident's colour under the keyed hash of the ID number (the centre keeps
   * the hash to answer ID-card look-ups; it never reaches the gates).
   */
  pushBefore?: Array<{ sub: string; colour: Colour; idHash?: string }>;
  /** How the colour that decides should be learnt, when one does. */
  expectDecidedBy?: 'offline-code' | 'pushed-status' | 'online-lookup';
  expect: { verdict: Verdict | 'emergency'; reason: Reason | 'fire-alarm' };
}

export interface CrowdWorld {
  platform: ReferencePlatform;
  /** Codes from an issuer the gate does not trust. */
  stranger: ReferencePlatform;
  /** A key that is not the issuer's, used to forge codes under the issuer's kid. */
  forger: ReferencePlatform;
  /** The site's key for ID-card look-ups, shared by the gate and the centre. */
  idHashKey: Buffer;
}

const normal = (celsius: number): TemperatureReading => ({ ok: true, celsius });

export async function createCrowdWorld(): Promise<CrowdWorld> {
  return {
    platform: await ReferencePlatform.create(),
    stranger: await ReferencePlatform.create({ issuerName: 'UNKNOWN-ISSUER' }),
    forger: await ReferencePlatform.create({ issuerName: 'GZ-HC-DEMO' }),
    idHashKey: randomBytes(32),
  };
}

/**
 * Build the crowd. A printed code carries no colour: the centre pushes it to
 * the gates; an ID card's colour comes from the centre by an online look-up
 * (the gate never holds residents' colours); a code that turned red after
 * it was issued is overruled by the colour change the centre pushes first.
 */
export function scriptedCrowd(world: CrowdWorld, nowMs: number = Date.now()): Person[] {
  const { platform, stranger, forger } = world;
  const forged = encodeGzhcCode(
    {
      iss: platform.issuerName,
      sub: ReferencePlatform.newSubject(),
      iat: Math.floor(nowMs / 1000),
      exp: Math.floor(nowMs / 1000) + 300,
      colour: 'green',
      kind: 'dynamic',
      maskedName: '孙*八',
    },
    // The issuer's certificate (so its kid) with the forger's private key.
    { certificate: platform.issuer.certificate, privateKey: forger.issuer.privateKey, algorithm: 'ES256' },
  );

  // Made up: a Beijing region code, born 1949-12-31, the check character computed.
  const noCodeDetails: RegistrationDetails = { name: '吴十', nationalId: madeUpNationalId('11010519491231002'), phone: '13800000000' };

  const printed = platform.issue({ colour: 'green', kind: 'printed', maskedName: '郑*一' }, nowMs);
  // Residents the centre knows by the keyed hash of their ID number, and one it does not.
  const resident = platform.registerResident('green', world.idHashKey);
  const unknownResident = ReferencePlatform.madeUpNationalId();
  const turnedRed = platform.issue({ colour: 'green', maskedName: '冯*二' }, nowMs);

  return [
    { label: '张*三', shows: 'green', approach: { kind: 'code', code: platform.issue({ colour: 'green', maskedName: '张*三' }, nowMs).code , way: 'camera' }, temperature: normal(36.5), expect: { verdict: 'pass', reason: 'green-normal' } },
    { label: '李*四', shows: 'green', approach: { kind: 'code', code: platform.issue({ colour: 'green', maskedName: '李*四' }, nowMs).code , way: 'scanner' }, temperature: normal(38.2), expect: { verdict: 'deny', reason: 'fever' } },
    { label: '王*五', shows: 'yellow', approach: { kind: 'code', code: platform.issue({ colour: 'yellow', maskedName: '王*五' }, nowMs).code , way: 'camera' }, temperature: normal(36.6), expect: { verdict: 'deny', reason: 'yellow' } },
    { label: '赵*六', shows: 'red', approach: { kind: 'code', code: platform.issue({ colour: 'red', maskedName: '赵*六' }, nowMs).code , way: 'scanner' }, temperature: normal(36.8), expect: { verdict: 'hold', reason: 'red' } },
    { label: '钱*七', shows: 'green, screenshot 20 min old', approach: { kind: 'code', code: platform.issue({ colour: 'green', maskedName: '钱*七', ageSeconds: 1200 }, nowMs).code , way: 'scanner' }, temperature: normal(36.4), expect: { verdict: 'deny', reason: 'code-expired' } },
    { label: '孙*八', shows: 'green, forged signature', approach: { kind: 'code', code: forged , way: 'scanner' }, temperature: normal(36.5), expect: { verdict: 'deny', reason: 'code-forged' } },
    { label: '周*九', shows: 'green, unknown issuer', approach: { kind: 'code', code: stranger.issue({ colour: 'green', maskedName: '周*九' }, nowMs).code , way: 'scanner' }, temperature: normal(36.7), expect: { verdict: 'deny', reason: 'code-unknown-issuer' } },
    { label: '吴*十', shows: 'no code', approach: { kind: 'no-code', details: noCodeDetails }, temperature: normal(36.6), expect: { verdict: 'pass', reason: 'staff-registered' } },
    { label: '郑*一', shows: "printed code, centre's: green", approach: { kind: 'code', code: printed.code , way: 'camera' }, temperature: normal(36.3), pushBefore: [{ sub: printed.sub, colour: 'green' }], expectDecidedBy: 'pushed-status', expect: { verdict: 'pass', reason: 'green-normal' } },
    { label: '冯*二', shows: 'green, centre pushed red', approach: { kind: 'code', code: turnedRed.code , way: 'camera' }, temperature: normal(36.5), pushBefore: [{ sub: turnedRed.sub, colour: 'red' }], expectDecidedBy: 'pushed-status', expect: { verdict: 'hold', reason: 'red' } },
    { label: '陈*三', shows: 'green, thermometer fault', approach: { kind: 'code', code: platform.issue({ colour: 'green', maskedName: '陈*三' }, nowMs).code , way: 'scanner' }, temperature: { ok: false, fault: 'checksum', detail: 'PEC mismatch on object temperature register' }, staffTakesCelsius: 36.6, expect: { verdict: 'pass', reason: 'green-normal' } },
    { label: '(ID card)', shows: 'ID card, look-up: green', approach: { kind: 'id-card', nationalId: resident.nationalId }, temperature: normal(36.5), pushBefore: [{ sub: ReferencePlatform.newSubject(), colour: 'green', idHash: resident.idHash }], expectDecidedBy: 'online-lookup', expect: { verdict: 'pass', reason: 'green-normal' } },
    { label: '(ID card)', shows: 'ID card unknown to the centre', approach: { kind: 'id-card', nationalId: unknownResident }, temperature: normal(36.5), expect: { verdict: 'deny', reason: 'id-lookup-failed' } },
    { label: '(fire alarm)', shows: 'building fire alarm', approach: { kind: 'fire-alarm' }, temperature: normal(36.5), expect: { verdict: 'emergency', reason: 'fire-alarm' } },
  ];
}

export interface Outcome {
  person: Person;
  /** The decision that settled the person; for no-code or a thermometer fault, the one staff made. */
  record: DecisionRecord | null;
  /** Every decision made for this person (no-code and a thermometer fault make two). */
  decisions: DecisionRecord[];
  verdict: Verdict | 'emergency';
  reason: string;
  matches: boolean;
}

export interface RunnerTiming {
  /** Pause before staff act (release a hold, register someone, resume after a fault). */
  staffDelayMs: number;
  /** Pause before a person who may pass walks through. */
  walkDelayMs: number;
}

function nextDecision(lane: Lane, timeoutMs = 10_000): Promise<DecisionRecord> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      lane.off('decision', onDecision);
      reject(new Error(`no decision within ${timeoutMs} ms (lane is ${lane.state})`));
    }, timeoutMs);
    const onDecision = (record: DecisionRecord): void => {
      clearTimeout(timer);
      resolve(record);
    };
    lane.once('decision', onDecision);
  });
}

function untilState(lane: Lane, wanted: string, timeoutMs = 30_000): Promise<void> {
  if (lane.state === wanted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      lane.off('state', onState);
      reject(new Error(`lane did not reach ${wanted} within ${timeoutMs} ms (it is ${lane.state})`));
    }, timeoutMs);
    const onState = (state: string): void => {
      if (state !== wanted) return;
      clearTimeout(timer);
      lane.off('state', onState);
      resolve();
    };
    lane.on('state', onState);
  });
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A made-up ID number: 17 digits and their GB 11643 check character. */
export function madeUpNationalId(first17: string): string {
  return first17 + nationalIdCheckCharacter(first17);
}

/** Walk one person through the lane, with staff doing their part; resolves when the lane is idle again. */
/** The person's side of the lane: what people and the building do to the hardware. */
export interface PersonSide {
  presentCode(text: string, way: CodeWay): void;
  withdrawCode(): void;
  setForehead(reading: TemperatureReading): void;
  walkThrough(): Promise<void>;
  setFireAlarm(active: boolean): void;
  swipeIdCard(nationalId: string): Promise<boolean>;
  readonly leafReleased: boolean;
}

/** Walk one person through the lane, with staff doing their part; resolves when the lane is idle again. */
export async function walkThrough(lane: Lane, side: PersonSide, person: Person, timing: RunnerTiming): Promise<Outcome> {
  await untilState(lane, 'idle');
  side.setForehead(person.temperature);
  const decisions: DecisionRecord[] = [];

  if (person.approach.kind === 'fire-alarm') {
    side.setFireAlarm(true);
    await untilState(lane, 'emergency', 5000);
    const opened = side.leafReleased;
    await pause(timing.staffDelayMs);
    side.setFireAlarm(false);
    await untilState(lane, 'idle');
    return { person, record: null, decisions, verdict: 'emergency', reason: 'fire-alarm', matches: opened };
  }

  if (person.approach.kind === 'no-code') {
    const refused = await lane.noCode();
    if (refused) decisions.push(refused);
    await pause(timing.staffDelayMs); // staff take name, ID number and phone
    const registered = await lane.staffRegistered(person.approach.details);
    if (registered) decisions.push(registered);
  } else if (person.approach.kind === 'id-card') {
    const pending = nextDecision(lane);
    await side.swipeIdCard(person.approach.nationalId);
    decisions.push(await pending);
  } else {
    const pending = nextDecision(lane);
    side.presentCode(person.approach.code, person.approach.way);
    decisions.push(await pending);
    side.withdrawCode();
  }

  if (lane.state === 'staff' && person.staffTakesCelsius !== undefined) {
    await pause(timing.staffDelayMs); // the thermometer failed: staff take the temperature by hand
    const byStaff = await lane.staffTemperature(person.staffTakesCelsius);
    if (byStaff) decisions.push(byStaff);
  }

  const record = decisions[decisions.length - 1] ?? null;
  if (record) {
    const { verdict } = record.decision;
    if (verdict === 'pass') {
      await pause(timing.walkDelayMs);
      await side.walkThrough();
    } else if (verdict === 'hold') {
      await pause(timing.staffDelayMs); // staff take the person to isolation
      lane.staffRelease();
    }
  }
  if (lane.state === 'staff') {
    await pause(timing.staffDelayMs); // staff see to the fault, then put the lane back in service
    lane.staffResume();
  }
  await untilState(lane, 'idle');
  const verdict = record?.decision.verdict ?? 'deny';
  const reason = record?.decision.reason ?? 'none';
  return {
    person,
    record,
    decisions,
    verdict,
    reason,
    matches:
      verdict === person.expect.verdict &&
      reason === person.expect.reason &&
      (person.expectDecidedBy === undefined || record?.event.decidedBy === person.expectDecidedBy),
  };
}
