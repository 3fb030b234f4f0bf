/**
 * The decision table (rules §3–4), one row per case.
 * The policy is a pure function, so each row is inputs → expected verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TemperatureReading } from '../../device/contracts.js';
import type { CredentialFailure } from '../../protocol/credential/failure.js';
import type { VerificationResult } from '../../edge-agent/credential/verifier.js';
import type { CodeKind, Colour } from '../../protocol/domain.js';
import type { PushedStatus } from '../../edge-agent/colour/status-store.js';
import { decide, type CredentialInput, type DecisionContext } from '../../edge-agent/policy/policy.js';

const config = { feverThresholdC: 37.3 };

function code(colour: Colour | null, kind: CodeKind = 'dynamic'): CredentialInput {
  const result: VerificationResult = {
    valid: true,
    failure: null,
    message: null,
    profile: 'gzhc',
    kid: 'AAAAAAAAAAA=',
    iss: 'GZ',
    iat: 1_000, // seconds: the code was issued at 1,000,000 ms
    exp: 2_000,
    algorithm: 'ES256',
    steps: {},
    gzhc: { sub: 'pseudonym-1', colour, kind, maskedName: '张*三' },
    dcc: null,
  };
  return { kind: 'code', result };
}

/** A resident ID card swiped; its colour comes from the look-up in the context. */
function idCard(status: 'ok' | 'unreadable' | 'not-configured' = 'ok'): CredentialInput {
  return { kind: 'id-card', status };
}

function refused(failure: CredentialFailure): CredentialInput {
  return {
    kind: 'code',
    result: {
      valid: false,
      failure,
      message: 'x',
      profile: 'gzhc',
      kid: null,
      iss: null,
      iat: null,
      exp: null,
      algorithm: null,
      steps: {},
      gzhc: null,
      dcc: null,
    },
  };
}

const dcc: CredentialInput = {
  kind: 'code',
  result: { ...(code('green') as { result: VerificationResult & { valid: true } }).result, profile: 'dcc', gzhc: null, dcc: { type: 'v', masked: {} } },
};

const t = (celsius: number): TemperatureReading => ({ ok: true, celsius });
const fault: TemperatureReading = { ok: false, fault: 'checksum', detail: 'PEC mismatch' };
/** A change the centre made after the code was issued (iat 1,000 s), unless told otherwise. */
const pushed = (colour: Colour, effectiveAt = 1_500_000): PushedStatus => ({ colour, effectiveAt, seq: 1 });

interface Row {
  name: string;
  credential: CredentialInput;
  pushed?: PushedStatus;
  temperature: TemperatureReading | null;
  feverThresholdC?: number;
  expect: { verdict: string; reason: string; staffAction: string | null; decidedBy: string; alert?: boolean };
}

const rows: Row[] = [
  { name: 'green, normal temperature: pass', credential: code('green'), temperature: t(36.5), expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'green, just under the threshold: pass', credential: code('green'), temperature: t(37.29), expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'green, at the threshold: fever', credential: code('green'), temperature: t(37.3), expect: { verdict: 'deny', reason: 'fever', staffAction: 'recheck-temperature', decidedBy: 'offline-code' } },
  { name: 'green, fever: deny and call staff', credential: code('green'), temperature: t(38.5), expect: { verdict: 'deny', reason: 'fever', staffAction: 'recheck-temperature', decidedBy: 'offline-code' } },
  { name: 'green, threshold raised to 38.0: 37.6 passes', credential: code('green'), temperature: t(37.6), feverThresholdC: 38.0, expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'green, sensor fault: never an automatic pass', credential: code('green'), temperature: fault, expect: { verdict: 'deny', reason: 'sensor-fault', staffAction: 'manual-temperature', decidedBy: 'offline-code' } },
  { name: 'yellow, normal temperature: deny, report to community', credential: code('yellow'), temperature: t(36.5), expect: { verdict: 'deny', reason: 'yellow', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'yellow, sensor fault: still yellow', credential: code('yellow'), temperature: fault, expect: { verdict: 'deny', reason: 'yellow', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'red: hold, isolate, alert the centre', credential: code('red'), temperature: t(36.5), expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'offline-code', alert: true } },
  { name: 'red with fever: hold', credential: code('red'), temperature: t(39), expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'offline-code', alert: true } },
  { name: 'red, sensor fault: hold', credential: code('red'), temperature: fault, expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'offline-code', alert: true } },
  { name: 'green code, centre pushed red: hold', credential: code('green'), pushed: pushed('red'), temperature: t(36.5), expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'pushed-status', alert: true } },
  { name: 'green code, centre pushed yellow: deny', credential: code('green'), pushed: pushed('yellow'), temperature: t(36.5), expect: { verdict: 'deny', reason: 'yellow', staffAction: null, decidedBy: 'pushed-status' } },
  { name: 'red code, centre pushed green (recovered): pass', credential: code('red'), pushed: pushed('green'), temperature: t(36.5), expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'pushed-status' } },
  { name: 'green code issued after the centre pushed red: the newer code decides', credential: code('green'), pushed: pushed('red', 900_000), temperature: t(36.5), expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'push at the very second the code was issued: the push wins', credential: code('green'), pushed: pushed('red', 1_000_000), temperature: t(36.5), expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'pushed-status', alert: true } },
  { name: 'printed code printed after the last push: the push still decides', credential: code(null, 'printed'), pushed: pushed('yellow', 1), temperature: t(36.5), expect: { verdict: 'deny', reason: 'yellow', staffAction: null, decidedBy: 'pushed-status' } },
  { name: 'green, no temperature taken: never a pass', credential: code('green'), temperature: null, expect: { verdict: 'deny', reason: 'sensor-fault', staffAction: 'manual-temperature', decidedBy: 'offline-code' } },
  { name: 'printed code, no pushed status: colour unknown', credential: code(null, 'printed'), temperature: t(36.5), expect: { verdict: 'deny', reason: 'status-unknown', staffAction: 'check-credential', decidedBy: 'offline-code' } },
  { name: 'printed code, pushed green: pass', credential: code(null, 'printed'), pushed: pushed('green'), temperature: t(36.5), expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'pushed-status' } },
  { name: 'printed code, pushed red: hold', credential: code(null, 'printed'), pushed: pushed('red'), temperature: t(36.5), expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'pushed-status', alert: true } },
  { name: 'no code: staff registration required', credential: { kind: 'none' }, temperature: t(36.5), expect: { verdict: 'deny', reason: 'no-code', staffAction: 'register', decidedBy: 'staff' } },
  { name: 'registered by staff, normal: pass with advice to apply', credential: { kind: 'staff-registered' }, temperature: t(36.5), expect: { verdict: 'pass', reason: 'staff-registered', staffAction: null, decidedBy: 'staff' } },
  { name: 'registered by staff, fever: deny', credential: { kind: 'staff-registered' }, temperature: t(37.8), expect: { verdict: 'deny', reason: 'fever', staffAction: 'recheck-temperature', decidedBy: 'staff' } },
  { name: 'registered by staff, sensor fault: deny', credential: { kind: 'staff-registered' }, temperature: fault, expect: { verdict: 'deny', reason: 'sensor-fault', staffAction: 'manual-temperature', decidedBy: 'staff' } },
  { name: 'expired code (screenshot)', credential: refused('expired'), temperature: t(36.5), expect: { verdict: 'deny', reason: 'code-expired', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'code from the future', credential: refused('not-yet-valid'), temperature: t(36.5), expect: { verdict: 'deny', reason: 'code-not-yet-valid', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'forged signature', credential: refused('signature'), temperature: t(36.5), expect: { verdict: 'deny', reason: 'code-forged', staffAction: 'check-credential', decidedBy: 'offline-code' } },
  { name: 'signer not allowed for this use', credential: refused('key-usage'), temperature: t(36.5), expect: { verdict: 'deny', reason: 'code-forged', staffAction: 'check-credential', decidedBy: 'offline-code' } },
  { name: 'unknown issuer', credential: refused('untrusted-key'), temperature: t(36.5), expect: { verdict: 'deny', reason: 'code-unknown-issuer', staffAction: 'check-credential', decidedBy: 'offline-code' } },
  { name: 'invalid claims', credential: refused('claims'), temperature: t(36.5), expect: { verdict: 'deny', reason: 'code-invalid', staffAction: 'check-credential', decidedBy: 'offline-code' } },
  ...(['prefix', 'base45', 'decompress', 'cose', 'too-large'] as const).map((failure) => ({
    name: `unreadable code (${failure})`,
    credential: refused(failure),
    temperature: t(36.5),
    expect: { verdict: 'deny', reason: 'code-unreadable', staffAction: null, decidedBy: 'offline-code' },
  })),
  { name: 'EU DCC is not a health code here', credential: dcc, temperature: t(36.5), expect: { verdict: 'deny', reason: 'not-a-health-code', staffAction: null, decidedBy: 'offline-code' } },
];

for (const row of rows) {
  test(`policy: ${row.name}`, () => {
    const decision = decide(row.credential, row.pushed ?? null, row.temperature, { ...config, feverThresholdC: row.feverThresholdC ?? config.feverThresholdC });
    assert.equal(decision.verdict, row.expect.verdict);
    assert.equal(decision.reason, row.expect.reason);
    assert.equal(decision.staffAction, row.expect.staffAction);
    assert.equal(decision.decidedBy, row.expect.decidedBy);
    assert.equal(decision.alert, row.expect.alert ?? false);
    assert.ok(decision.advice.zh.length > 0 && decision.advice.en.length > 0, 'advice in both languages');
  });
}

test('policy: never passes without a normal temperature reading', () => {
  for (const row of rows) {
    const decision = decide(row.credential, row.pushed ?? null, fault, config);
    assert.notEqual(decision.verdict, 'pass', row.name);
  }
});

// ---------------------------------------------------------------------------
// Cut off from the centre, and online look-ups

interface ContextRow {
  name: string;
  credential: CredentialInput;
  pushed?: PushedStatus;
  temperature: TemperatureReading | null;
  context: DecisionContext;
  expect: { verdict: string; reason: string; staffAction: string | null; decidedBy: string; colour?: string | null };
}

const staffRule: DecisionContext = { degraded: true, whenDegraded: 'staff' };
const offlineRule: DecisionContext = { degraded: true, whenDegraded: 'offline-code' };

const contextRows: ContextRow[] = [
  { name: 'degraded, staff rule: a green code does not pass by itself', credential: code('green'), temperature: t(36.5), context: staffRule, expect: { verdict: 'deny', reason: 'degraded', staffAction: 'verify-colour', decidedBy: 'offline-code', colour: 'green' } },
  { name: 'degraded, rule absent: staff, the config default', credential: code('green'), temperature: t(36.5), context: { degraded: true }, expect: { verdict: 'deny', reason: 'degraded', staffAction: 'verify-colour', decidedBy: 'offline-code' } },
  { name: 'degraded, staff rule: a pushed green does not pass either', credential: code('red'), pushed: pushed('green'), temperature: t(36.5), context: staffRule, expect: { verdict: 'deny', reason: 'degraded', staffAction: 'verify-colour', decidedBy: 'pushed-status' } },
  { name: 'degraded, staff rule: red still holds', credential: code('red'), temperature: t(36.5), context: staffRule, expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'offline-code' } },
  { name: 'degraded, staff rule: yellow still refused as yellow', credential: code('yellow'), temperature: t(36.5), context: staffRule, expect: { verdict: 'deny', reason: 'yellow', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'degraded, staff rule: fever still fever', credential: code('green'), temperature: t(38.0), context: staffRule, expect: { verdict: 'deny', reason: 'fever', staffAction: 'recheck-temperature', decidedBy: 'offline-code' } },
  { name: 'degraded, staff rule: a staff registration is staff’s own decision', credential: { kind: 'staff-registered' }, temperature: t(36.5), context: staffRule, expect: { verdict: 'pass', reason: 'staff-registered', staffAction: null, decidedBy: 'staff' } },
  { name: 'degraded, staff rule: a look-up answer is current and may pass', credential: code(null, 'printed'), temperature: t(36.5), context: { ...staffRule, lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'online-lookup' } },
  { name: 'degraded, offline-code rule: green passes as usual', credential: code('green'), temperature: t(36.5), context: offlineRule, expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'degraded, offline-code rule: red holds as usual', credential: code('red'), temperature: t(36.5), context: offlineRule, expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'offline-code' } },
  { name: 'not degraded, staff rule: green passes', credential: code('green'), temperature: t(36.5), context: { degraded: false, whenDegraded: 'staff' }, expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'printed code, look-up green: pass by online-lookup', credential: code(null, 'printed'), temperature: t(36.5), context: { lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'online-lookup', colour: 'green' } },
  { name: 'printed code, look-up yellow: deny yellow', credential: code(null, 'printed'), temperature: t(36.5), context: { lookup: { colour: 'yellow', effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'yellow', staffAction: null, decidedBy: 'online-lookup' } },
  { name: 'printed code, look-up red: hold', credential: code(null, 'printed'), temperature: t(36.5), context: { lookup: { colour: 'red', effectiveAt: 1 } }, expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'online-lookup' } },
  { name: 'printed code, look-up green but fever: fever', credential: code(null, 'printed'), temperature: t(38.1), context: { lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'fever', staffAction: 'recheck-temperature', decidedBy: 'online-lookup' } },
  { name: 'printed code, unknown to the centre: status unknown', credential: code(null, 'printed'), temperature: t(36.5), context: { lookup: { colour: null, effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'status-unknown', staffAction: 'check-credential', decidedBy: 'online-lookup' } },
  { name: 'printed code, no answer in time: status unknown', credential: code(null, 'printed'), temperature: t(36.5), context: { lookup: null }, expect: { verdict: 'deny', reason: 'status-unknown', staffAction: 'check-credential', decidedBy: 'offline-code' } },
  { name: 'printed code, a pushed status beats a look-up', credential: code(null, 'printed'), pushed: pushed('yellow'), temperature: t(36.5), context: { lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'yellow', staffAction: null, decidedBy: 'pushed-status' } },
  { name: 'a dynamic code ignores a look-up', credential: code('yellow'), temperature: t(36.5), context: { lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'yellow', staffAction: null, decidedBy: 'offline-code' } },
  // An ID card: its colour only ever comes from the centre's look-up by the keyed hash.
  { name: 'ID card, look-up green, normal: pass by online-lookup', credential: idCard(), temperature: t(36.5), context: { lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'online-lookup', colour: 'green' } },
  { name: 'ID card, look-up green but fever: fever', credential: idCard(), temperature: t(38.1), context: { lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'fever', staffAction: 'recheck-temperature', decidedBy: 'online-lookup' } },
  { name: 'ID card, look-up green, thermometer fault: sensor fault', credential: idCard(), temperature: { ok: false, fault: 'silent', detail: 'x' }, context: { lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'sensor-fault', staffAction: 'manual-temperature', decidedBy: 'online-lookup' } },
  { name: 'ID card, look-up yellow: deny yellow', credential: idCard(), temperature: t(36.5), context: { lookup: { colour: 'yellow', effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'yellow', staffAction: null, decidedBy: 'online-lookup' } },
  { name: 'ID card, look-up red: hold', credential: idCard(), temperature: t(36.5), context: { lookup: { colour: 'red', effectiveAt: 1 } }, expect: { verdict: 'hold', reason: 'red', staffAction: 'isolate-and-notify', decidedBy: 'online-lookup', colour: 'red' } },
  { name: 'ID card, unknown to the centre: staff verify the colour', credential: idCard(), temperature: t(36.5), context: { lookup: { colour: null, effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'id-lookup-failed', staffAction: 'verify-colour', decidedBy: 'online-lookup' } },
  { name: 'ID card, no answer in time: staff verify the colour', credential: idCard(), temperature: t(36.5), context: { lookup: null }, expect: { verdict: 'deny', reason: 'id-lookup-failed', staffAction: 'verify-colour', decidedBy: 'offline-code' } },
  { name: 'ID card, no look-up made: never a pass', credential: idCard(), temperature: t(36.5), context: {}, expect: { verdict: 'deny', reason: 'id-lookup-failed', staffAction: 'verify-colour', decidedBy: 'offline-code' } },
  { name: 'ID card, degraded with the staff rule: a look-up answer is current and may pass', credential: idCard(), temperature: t(36.5), context: { ...staffRule, lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'pass', reason: 'green-normal', staffAction: null, decidedBy: 'online-lookup' } },
  { name: 'ID card, not a GB 11643 number: unreadable, ask again', credential: idCard('unreadable'), temperature: null, context: {}, expect: { verdict: 'deny', reason: 'id-card-unreadable', staffAction: null, decidedBy: 'offline-code' } },
  { name: 'ID card at a gate not set up for it: not supported', credential: idCard('not-configured'), temperature: null, context: { lookup: { colour: 'green', effectiveAt: 1 } }, expect: { verdict: 'deny', reason: 'id-card-not-supported', staffAction: 'verify-colour', decidedBy: 'offline-code' } },
];

for (const row of contextRows) {
  test(`policy: ${row.name}`, () => {
    const decision = decide(row.credential, row.pushed ?? null, row.temperature, config, row.context);
    assert.equal(decision.verdict, row.expect.verdict);
    assert.equal(decision.reason, row.expect.reason);
    assert.equal(decision.staffAction, row.expect.staffAction);
    assert.equal(decision.decidedBy, row.expect.decidedBy);
    if (row.expect.colour !== undefined) assert.equal(decision.colour, row.expect.colour);
    assert.ok(decision.advice.zh.length > 0 && decision.advice.en.length > 0, 'advice in both languages');
  });
}

test('policy: degraded with the staff rule never passes a code by itself', () => {
  for (const row of rows) {
    const decision = decide(row.credential, row.pushed ?? null, row.temperature, config, staffRule);
    if (row.credential.kind === 'code') assert.notEqual(decision.verdict, 'pass', row.name);
  }
});

test('policy: degraded with the offline-code rule decides exactly as a synced gate', () => {
  for (const row of rows) {
    const synced = decide(row.credential, row.pushed ?? null, row.temperature, config);
    assert.deepEqual(decide(row.credential, row.pushed ?? null, row.temperature, config, offlineRule), synced, row.name);
  }
});
