/**
 * One person's turn up to its decision: verify the code, ask the centre for
 * a colour it did not push, take the temperature, decide. Each step is a
 * transition of the lane's table (lane-states.ts), taken through the lane;
 * the lane then journals the decision and acts on it.
 *
 * An ID card's number is checked (GB 11643) and hashed with the site key as
 * it is swiped; only the hash goes on, to the look-up: never into the turn,
 * the journal, the event or the log.
 */
import type { Logger } from 'pino';
import type { CodeRead, TemperatureReading } from '../../device/contracts.js';
import { checkNationalId } from '../../protocol/privacy/national-id.js';
import type { RegistrationDetails } from '../../protocol/privacy/registration.js';
import type { VerificationResult } from '../credential/verifier.js';
import { decide, type CredentialInput, type Decision, type LookupAnswer } from '../policy/policy.js';
import type { GuardedLookup } from './guarded-lookup.js';
import type { LaneEvent } from './lane-states.js';
import type { LaneDependencies } from './lane-types.js';

/** One person's turn at the lane: what they showed, and the code read if any. */
export type Turn =
  | { kind: 'code'; read: CodeRead }
  | { kind: 'no-code' }
  | { kind: 'staff-registered'; details: RegistrationDetails | null }
  /** Staff took the temperature by hand after a thermometer fault: the same person decided again. */
  | { kind: 'staff-temperature'; previous: AwaitingTemperature; celsius: number }
  /** An ID card: its number already checked and hashed (hash null when refused); the number itself is not kept. */
  | { kind: 'id-card'; status: 'ok' | 'unreadable' | 'not-configured'; hash: string | null };

/**
 * Whoever waits for staff to take their temperature. An ID card keeps its
 * keyed hash while staff mode lasts, to ask the centre again once staff have
 * the temperature: the colour may have changed meanwhile, and no pushed
 * change is keyed by the hash.
 */
export interface AwaitingTemperature {
  input: CredentialInput;
  credential: VerificationResult | null;
  idHash?: string;
}

/** What a turn decided, and on what. */
export interface DecidedTurn {
  input: CredentialInput;
  credential: VerificationResult | null;
  temperature: TemperatureReading | null;
  decision: Decision;
  decisionMs: number;
  /** As the decision read it, so the decision and its event agree. */
  degraded: boolean;
}

export interface TurnContext<R> {
  /** The lane's own dependencies, read as the turn goes: the centre may change the policy between turns. */
  deps: Pick<LaneDependencies, 'verifier' | 'colours' | 'hardware' | 'policy' | 'timing' | 'link' | 'whenDegraded'>;
  /** Present when the gate can ask the centre. */
  lookups: GuardedLookup | null;
  /** Takes a step's transition in the lane's table; throws when the lane refuses it. */
  step(event: LaneEvent): void;
  /** False once the lane has left the turn: a fire alarm, the centre's lock, a lost device, stop(). */
  live(): boolean;
  /** Journals the decision and acts on it, in the same task as the decision: nothing comes between. */
  decided(turn: DecidedTurn): R;
}

/** The step each kind of turn takes into measuring, or straight into deciding when nobody is measured. */
const STEPS: Record<Turn['kind'], { measure?: LaneEvent; decide?: LaneEvent }> = {
  code: { measure: 'code-valid', decide: 'code-refused' },
  'id-card': { measure: 'id-card', decide: 'id-card-refused' },
  'no-code': { decide: 'no-code' },
  'staff-registered': { measure: 'staff-registered' },
  'staff-temperature': { decide: 'staff-temperature' },
};

/** Resolves null when the lane left the turn meanwhile; rejects when a driver throws (the lane goes to staff mode). */
export async function runTurn<R>(turn: Turn, context: TurnContext<R>, wallStart: number, monoStart: number): Promise<R | null> {
  const { deps } = context;
  const step = (event: LaneEvent | undefined): void => {
    if (event === undefined) throw new Error(`a ${turn.kind} turn has no such step`);
    context.step(event);
  };
  let input: CredentialInput;
  let credential: VerificationResult | null = null;
  let temperature: TemperatureReading | null = null;
  switch (turn.kind) {
    case 'code':
      step('code');
      credential = deps.verifier.verify(turn.read.text, wallStart);
      input = { kind: 'code', result: credential };
      break;
    case 'no-code':
      input = { kind: 'none' };
      break;
    case 'staff-registered':
      input = { kind: 'staff-registered' };
      break;
    case 'staff-temperature':
      ({ input, credential } = turn.previous);
      temperature = { ok: true, celsius: turn.celsius };
      break;
    case 'id-card':
      input = { kind: 'id-card', status: turn.status };
      break;
  }

  // Asked while the temperature is taken.
  const lookup = startLookup(turn, credential, context);

  // Someone without a code, or with a refused one, needs no measurement to be turned away.
  const needsTemperature =
    input.kind === 'staff-registered' || (input.kind === 'code' && input.result.valid) || (input.kind === 'id-card' && input.status === 'ok');
  if (needsTemperature && !temperature) {
    step(STEPS[turn.kind].measure);
    temperature = await measure(deps);
    if (!context.live()) return null; // fire alarm or stop meanwhile
    step('measured');
  } else step(STEPS[turn.kind].decide);

  let lookupAnswer: LookupAnswer | null | undefined;
  if (lookup) {
    // Awaited like the thermometer: a fire alarm meanwhile ends the session.
    lookupAnswer = await lookup;
    if (!context.live()) return null;
  }
  const pushed = credential?.valid && credential.gzhc ? deps.colours.get(credential.gzhc.sub) : null;
  // Read once, so the decision and its event agree.
  const degraded = deps.link?.degraded ?? false;
  const whenDegraded = deps.whenDegraded ?? 'staff';
  let decision = decide(input, pushed, temperature, deps.policy, {
    degraded,
    whenDegraded,
    ...(lookup ? { lookup: lookupAnswer ?? null } : {}),
  });
  // A temperature staff took by hand puts the decision on staff's record.
  if (turn.kind === 'staff-temperature') decision = { ...decision, decidedBy: 'staff' };
  return context.decided({ input, credential, temperature, decision, decisionMs: performance.now() - monoStart, degraded });
}

/** The centre is asked for a printed code it pushed nothing for, and for every ID card (by its keyed hash). */
function startLookup(turn: Turn, credential: VerificationResult | null, context: TurnContext<unknown>): Promise<LookupAnswer | null> | undefined {
  const { lookups } = context;
  if (!lookups) return undefined;
  if (credential?.valid && credential.gzhc?.kind === 'printed' && !context.deps.colours.get(credential.gzhc.sub)) {
    return lookups.ask('printed-code', credential.gzhc.sub);
  }
  // Only the keyed hash is asked by: the centre holds the same key, the broker and its logs see no number.
  if (turn.kind === 'id-card' && turn.hash !== null) return lookups.ask('id-hash', turn.hash);
  // Asked again: the first answer may be minutes old by the time staff have taken the temperature.
  if (turn.kind === 'staff-temperature' && turn.previous.idHash !== undefined) return lookups.ask('id-hash', turn.previous.idHash);
  return undefined;
}

/** A thermometer that throws instead of reporting a fault still gives a fault reading. */
async function measure(deps: TurnContext<unknown>['deps']): Promise<TemperatureReading> {
  try {
    return await deps.hardware.thermometer.measure(deps.timing.temperatureDeadlineMs);
  } catch (error) {
    return { ok: false, fault: 'disconnected', detail: `thermometer driver failed: ${(error as Error).message}` };
  }
}

/** The turn of a swiped ID card. The number goes no further: checked, hashed, dropped; never logged, nor its masked form, nor its hash. */
export function idCardTurn(nationalId: string, now: number, deps: Pick<LaneDependencies, 'idHash' | 'lookup'>, log: Logger): Turn {
  const checked = checkNationalId(nationalId, new Date(now));
  if (!checked.ok) {
    log.info({ failure: checked.reason }, 'ID card number is not a valid GB 11643 number: refused');
    return { kind: 'id-card', status: 'unreadable', hash: null };
  }
  const { idHash, lookup } = deps;
  if (!idHash || !lookup) {
    const missing = [...(idHash ? [] : ['privacy.idHashKey']), ...(lookup ? [] : ['mqtt.url'])];
    log.warn({ missing }, 'ID card swiped but this gate is not set up for ID-card look-ups: refused');
    return { kind: 'id-card', status: 'not-configured', hash: null };
  }
  try {
    return { kind: 'id-card', status: 'ok', hash: idHash(checked.id) };
  } catch {
    // No error object in the log: a message could carry what it was given.
    log.error('ID number could not be hashed: refused as not supported');
    return { kind: 'id-card', status: 'not-configured', hash: null };
  }
}
