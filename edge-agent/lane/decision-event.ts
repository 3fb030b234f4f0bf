/**
 * The decision event a turn journals and reports: what was decided, on what,
 * and how fast; never who (a subject is a code's pseudonym, a staff
 * registration's random id, or nothing).
 */
import { randomUUID } from 'node:crypto';
import type { TemperatureReading } from '../../device/contracts.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import type { VerificationResult } from '../credential/verifier.js';
import type { CredentialInput, Decision } from '../policy/policy.js';

export interface DecisionFacts {
  site: string;
  lane: string;
  decision: Decision;
  credential: VerificationResult | null;
  temperature: TemperatureReading | null;
  input: CredentialInput;
  /** When the turn began (wall clock, epoch ms): the event's time. */
  wallStart: number;
  decisionMs: number;
  degraded: boolean;
}

/** The event as the journal takes it: the journal gives it its seq. */
export function buildDecisionEvent(facts: DecisionFacts): Omit<DecisionEvent, 'seq'> {
  const { decision, credential, temperature, input } = facts;
  // An ID card's event has no subject: the event id already names the turn, and the
  // keyed hash would be a stable pseudonym linking one person's passages across gates,
  // reversible by anyone who took the key off a gate (brute force over the numbers).
  let subject: string | null = null;
  if (credential?.valid && credential.gzhc) subject = credential.gzhc.sub;
  else if (input.kind === 'staff-registered') subject = `staff:${randomUUID()}`;
  return {
    id: randomUUID(),
    time: new Date(facts.wallStart).toISOString(),
    site: facts.site,
    lane: facts.lane,
    verdict: decision.verdict,
    reason: decision.reason,
    decidedBy: decision.decidedBy,
    subject,
    colour: decision.colour,
    temperatureC: temperature?.ok ? Math.round(temperature.celsius * 10) / 10 : null,
    sensorFault: temperature && !temperature.ok ? temperature.fault : null,
    credential: credential
      ? {
          profile: credential.profile,
          kind: credential.gzhc?.kind ?? null,
          kid: credential.kid,
          iss: credential.valid ? credential.iss : null,
          failure: credential.failure,
        }
      : input.kind === 'id-card'
        ? { profile: null, kind: 'id-card', kid: null, iss: null, failure: input.status === 'ok' ? null : input.status }
        : null,
    decisionMs: Math.round(facts.decisionMs * 1000) / 1000,
    degraded: facts.degraded,
  };
}
