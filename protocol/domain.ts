/** The words of the health-code rules (Guizhou Health Code Management Rules), as types. */

export const COLOURS = ['green', 'yellow', 'red'] as const;
export type Colour = (typeof COLOURS)[number];

/** A dynamic code is shown on a phone and lives minutes; a printed code is static paper. */
export const CODE_KINDS = ['dynamic', 'printed'] as const;
export type CodeKind = (typeof CODE_KINDS)[number];

export type Verdict = 'pass' | 'deny' | 'hold';

/** How the colour that decided was learnt: recorded with every decision. */
export type DecidedBy = 'offline-code' | 'pushed-status' | 'online-lookup' | 'staff';

/** One decision at one lane: what the journal keeps and the broker receives. */
export interface DecisionEvent {
  /** Unique id (UUID): consumers drop duplicates by it. */
  id: string;
  /** Per-lane sequence number, assigned by the journal when the event is stored. */
  seq: number;
  /** ISO 8601 time of the decision. */
  time: string;
  site: string;
  lane: string;
  verdict: Verdict;
  /** Stable reason code, see protocol/reasons.ts. */
  reason: string;
  decidedBy: DecidedBy;
  /** Pseudonymous subject: the code id, never a name or national ID number; null when there was no code. */
  subject: string | null;
  /** The colour that decided, when one did. */
  colour: Colour | null;
  /** Forehead temperature in °C, or null when there was none or the sensor failed. */
  temperatureC: number | null;
  /** Sensor fault code when the thermometer failed. */
  sensorFault: string | null;
  /** What was read, without personal data (an ID card: kind 'id-card', never the number). */
  credential: {
    profile: 'gzhc' | 'dcc' | null;
    kind: CodeKind | 'id-card' | null;
    kid: string | null;
    iss: string | null;
    failure: string | null;
  } | null;
  /** Milliseconds from the code read to the verdict. */
  decisionMs: number;
  /** The gate was cut off from the centre when it decided; the lane always sets it (older journal rows lack it). */
  degraded?: boolean;
}
