/**
 * The decision table (rules §3 and §4) as
 * one pure function: the same inputs always give the same verdict, so every
 * row is a test case.
 */
import type { TemperatureReading } from '../../device/contracts.js';
import type { PushedStatus } from '../colour/status-store.js';
import type { CredentialFailure } from '../../protocol/credential/failure.js';
import type { VerificationResult } from '../credential/verifier.js';
import type { Colour, DecidedBy, Verdict } from '../../protocol/domain.js';
import { REASONS, type Reason, type StaffAction } from '../../protocol/reasons.js';

/** What the lane knows about the person in front of it. */
export type CredentialInput =
  | { kind: 'code'; result: VerificationResult }
  /** The person has no code to show and asks staff (rules §4, "no code to show"). */
  | { kind: 'none' }
  /** Staff registered the person by hand; the record itself is sealed elsewhere. */
  | { kind: 'staff-registered' }
  /**
   * A resident ID card was swiped: its colour can only come from the
   * centre, by a look-up keyed by a keyed hash of the number (context.lookup).
   * unreadable: not a GB 11643 number; not-configured: the gate has no id-hash
   * key or no link to the centre, so it cannot ask.
   */
  | { kind: 'id-card'; status: 'ok' | 'unreadable' | 'not-configured' };

export interface PolicyConfig {
  /** Temperatures at or above this are a fever (°C). */
  feverThresholdC: number;
}

/** The centre's answer to an online look-up (printed code or ID card); colour null: unknown to the centre. */
export interface LookupAnswer {
  colour: Colour | null;
  effectiveAt: number;
}

/** What the lane knows besides the person: the state of its link to the centre. */
export interface DecisionContext {
  /** Cut off from the centre longer than colour.maxSyncAgeSeconds. */
  degraded?: boolean;
  /** colour.whenDegraded; absent: 'staff', the config's default. */
  whenDegraded?: 'offline-code' | 'staff';
  /** An online look-up: absent when none was made, null when no answer came in time. */
  lookup?: LookupAnswer | null;
}

export interface Decision {
  verdict: Verdict;
  reason: Reason;
  advice: { zh: string; en: string };
  staffAction: StaffAction;
  decidedBy: DecidedBy;
  /** The colour that decided, if any. */
  colour: Colour | null;
  /** A red code showed up: the centre must hear at once (rules §4.4). */
  alert: boolean;
}


function decision(
  verdict: Verdict,
  reason: Reason,
  staffAction: StaffAction,
  decidedBy: DecidedBy,
  colour: Colour | null = null,
): Decision {
  return { verdict, reason, advice: REASONS[reason], staffAction, decidedBy, colour, alert: verdict === 'hold' };
}

const FAILURE_REASON: Record<CredentialFailure, Reason> = {
  'too-large': 'code-unreadable',
  prefix: 'code-unreadable',
  base45: 'code-unreadable',
  decompress: 'code-unreadable',
  cose: 'code-unreadable',
  'untrusted-key': 'code-unknown-issuer',
  signature: 'code-forged',
  'key-usage': 'code-forged',
  'not-yet-valid': 'code-not-yet-valid',
  expired: 'code-expired',
  claims: 'code-invalid',
};

/** Forged or unknown-issuer codes need a person to look; a bad read just needs another try. */
const FAILURE_ACTION: Partial<Record<CredentialFailure, StaffAction>> = {
  'untrusted-key': 'check-credential',
  signature: 'check-credential',
  'key-usage': 'check-credential',
  claims: 'check-credential',
};

/** Temperature rule for whoever may pass on colour: a fault, or no reading at all, never passes by itself. */
function byTemperature(
  temperature: TemperatureReading | null,
  config: PolicyConfig,
  passReason: Reason,
  decidedBy: DecidedBy,
  colour: Colour | null,
): Decision {
  if (!temperature?.ok) return decision('deny', 'sensor-fault', 'manual-temperature', decidedBy, colour);
  if (temperature.celsius >= config.feverThresholdC) return decision('deny', 'fever', 'recheck-temperature', decidedBy, colour);
  return decision('pass', passReason, null, decidedBy, colour);
}

/**
 * @param temperature null when none was taken (no code, or the code was refused before measuring).
 * @param context degraded link and online look-up; absent: a synced gate that made no look-up.
 */
export function decide(
  credential: CredentialInput,
  pushed: PushedStatus | null,
  temperature: TemperatureReading | null,
  config: PolicyConfig,
  context: DecisionContext = {},
): Decision {
  const made = decideByRules(credential, pushed, temperature, config, context.lookup);
  // Cut off with the 'staff' rule: a colour the gate may no longer know is
  // current lets nobody through by itself. A look-up answer is current, and
  // staff registrations are staff's own decision; refusals stand as made.
  const staffRule = (context.whenDegraded ?? 'staff') === 'staff';
  if (context.degraded && staffRule && made.verdict === 'pass' && credential.kind === 'code' && made.decidedBy !== 'online-lookup') {
    return decision('deny', 'degraded', 'verify-colour', made.decidedBy, made.colour);
  }
  return made;
}

/** The centre's signed open command: a pass staff decided, for nobody in particular. */
export function remoteOpenDecision(): Decision {
  return decision('pass', 'remote-open', null, 'staff');
}

/**
 * An ID card: decided at the gate ('offline-code': without the centre) when
 * it cannot be asked; otherwise the centre's colour decides, by the same rules
 * as a code. No answer in time, or a number the centre does not know: staff
 * confirm the colour another way (the lane goes to staff mode).
 */
function decideIdCard(
  status: 'ok' | 'unreadable' | 'not-configured',
  temperature: TemperatureReading | null,
  config: PolicyConfig,
  lookup: LookupAnswer | null | undefined,
): Decision {
  if (status === 'unreadable') return decision('deny', 'id-card-unreadable', null, 'offline-code');
  if (status === 'not-configured') return decision('deny', 'id-card-not-supported', 'verify-colour', 'offline-code');
  if (!lookup?.colour) return decision('deny', 'id-lookup-failed', 'verify-colour', lookup ? 'online-lookup' : 'offline-code');
  switch (lookup.colour) {
    case 'red':
      return decision('hold', 'red', 'isolate-and-notify', 'online-lookup', 'red');
    case 'yellow':
      return decision('deny', 'yellow', null, 'online-lookup', 'yellow');
    case 'green':
      return byTemperature(temperature, config, 'green-normal', 'online-lookup', 'green');
  }
}

function decideByRules(
  credential: CredentialInput,
  pushed: PushedStatus | null,
  temperature: TemperatureReading | null,
  config: PolicyConfig,
  lookup: LookupAnswer | null | undefined,
): Decision {
  if (credential.kind === 'none') return decision('deny', 'no-code', 'register', 'staff');
  if (credential.kind === 'staff-registered') return byTemperature(temperature, config, 'staff-registered', 'staff', null);
  if (credential.kind === 'id-card') return decideIdCard(credential.status, temperature, config, lookup);

  const result = credential.result;
  if (!result.valid) {
    return decision('deny', FAILURE_REASON[result.failure], FAILURE_ACTION[result.failure] ?? null, 'offline-code');
  }
  if (result.profile !== 'gzhc' || !result.gzhc) return decision('deny', 'not-a-health-code', null, 'offline-code');

  // A pushed change overrides the colour inside the code (rules §5), unless the
  // code was issued after the change took effect: the platform signed the
  // colour it knew then, which is newer news. A printed code's colour is never
  // trusted, so without a pushed status it is unknown.
  const issuedAtMs = (result.iat ?? 0) * 1000;
  const pushWins = pushed !== null && (result.gzhc.kind === 'printed' || pushed.effectiveAt >= issuedAtMs);
  let colour: Colour | null;
  let decidedBy: DecidedBy;
  if (pushWins) {
    colour = pushed!.colour;
    decidedBy = 'pushed-status';
  } else if (result.gzhc.kind === 'printed') {
    // Asked the centre: its answer decides; no answer, or unknown to it, is still unknown.
    if (!lookup?.colour) return decision('deny', 'status-unknown', 'check-credential', lookup ? 'online-lookup' : 'offline-code');
    colour = lookup.colour;
    decidedBy = 'online-lookup';
  } else {
    colour = result.gzhc.colour;
    decidedBy = 'offline-code';
  }

  switch (colour) {
    case 'red':
      return decision('hold', 'red', 'isolate-and-notify', decidedBy, 'red');
    case 'yellow':
      return decision('deny', 'yellow', null, decidedBy, 'yellow');
    case 'green':
      return byTemperature(temperature, config, 'green-normal', decidedBy, 'green');
    default:
      return decision('deny', 'status-unknown', 'check-credential', decidedBy);
  }
}
