/**
 * One status from the platform, checked and brought to the store's form:
 * the fields the schema says, then what a schema cannot say (a time the
 * platform cannot have meant, a subject that is a national ID number).
 * Shared by a batch of changes and each row of a baseline, so both refuse
 * the same things with the same words.
 */
import { createHash, type Hash } from 'node:crypto';
import { Ajv } from 'ajv';
import { changeEntrySchema, type ChangeEntryBody } from '../../protocol/payloads/centre-api.js';
import { checkNationalId } from '../../protocol/privacy/national-id.js';
import type { ColourEntry } from '../store/store.js';
import type { CentreErrorCode } from '../errors.js';

/** No health-code status predates the platforms (2019 - 2020): an earlier time is a unit or field mix-up. */
export const EARLIEST_EFFECTIVE_AT = Date.UTC(2019, 0, 1);

export interface EntryRefusal {
  code: Extract<CentreErrorCode, 'invalid-change' | 'national-id-subject'>;
  field: string;
  message: string;
}

export type EntryCheck = { ok: true; entry: ColourEntry } | { ok: false; refusal: EntryRefusal };

// The same rules the routes' validator keeps: types as sent, nothing added or removed.
const shape = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false, strict: false }).compile<ChangeEntryBody>(changeEntrySchema);

/** The value against the schema first (a baseline row arrives unchecked), then the rules beyond it. */
export function checkEntry(value: unknown, now: number, maxSkewMs: number): EntryCheck {
  if (!shape(value)) {
    const first = shape.errors?.[0];
    const named = first?.keyword === 'additionalProperties' ? String(first.params.additionalProperty) : first?.keyword === 'required' ? String(first.params.missingProperty) : undefined;
    const field = named ?? (first?.instancePath.replace(/^\//, '').split('/')[0] || 'row');
    const message = first?.keyword === 'additionalProperties' ? `${field}: not a field of a change` : first?.keyword === 'required' ? `${field}: missing` : `${field}: ${first?.message ?? 'not a change'}`;
    return { ok: false, refusal: { code: 'invalid-change', field, message } };
  }
  return checkShapedEntry(value, now, maxSkewMs);
}

/** An entry the route's schema has already checked. */
export function checkShapedEntry(value: ChangeEntryBody, now: number, maxSkewMs: number): EntryCheck {
  if (readsAsNationalId(value.subject)) {
    return { ok: false, refusal: { code: 'national-id-subject', field: 'subject', message: 'subject reads as a national ID number: send the pseudonymous code subject' } };
  }
  const effectiveAt = typeof value.effectiveAt === 'number' ? value.effectiveAt : Date.parse(value.effectiveAt);
  if (!Number.isFinite(effectiveAt)) return refuse('effectiveAt', 'effectiveAt: not a time');
  if (effectiveAt < EARLIEST_EFFECTIVE_AT) return refuse('effectiveAt', 'effectiveAt: before 2019 (epoch seconds sent as milliseconds?)');
  if (effectiveAt > now + maxSkewMs) return refuse('effectiveAt', `effectiveAt: ${effectiveAt - now} ms in the future, beyond the ${maxSkewMs} ms allowed`);
  return { ok: true, entry: { subject: value.subject, colour: value.colour, effectiveAt, reason: value.reason ?? null, idHash: value.idHash ?? null } };
}

function refuse(field: string, message: string): EntryCheck {
  return { ok: false, refusal: { code: 'invalid-change', field, message } };
}

/** A valid ID number, or one with a wrong check character only (a typo is still someone's number). */
export function readsAsNationalId(subject: string): boolean {
  if (!/^\d{17}[\dXx]$/.test(subject)) return false;
  const check = checkNationalId(subject);
  return check.ok || check.reason === 'check-digit';
}

/**
 * The digest the store tells a retry from a conflict by: the checked
 * entries in order, each as one canonical line, after what kind of batch
 * it is (a batch and a baseline under the same id are not the same).
 */
export class EntryDigest {
  private readonly hash: Hash;
  constructor(kind: 'changes' | 'baseline') {
    this.hash = createHash('sha256').update(`${kind}\n`);
  }
  add(entry: ColourEntry): void {
    this.hash.update(`${JSON.stringify([entry.subject, entry.colour, entry.effectiveAt, entry.reason ?? null, entry.idHash ?? null])}\n`);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}
