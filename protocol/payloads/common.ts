/**
 * The pieces every payload schema is built of, as TypeBox schemas (plain
 * JSON Schema with a TypeScript type attached), and the few builders the
 * contract writes its own way.
 *
 * Enum, Const and OrNull exist because TypeBox would spell the same rules
 * differently (a Union of Literals as anyOf with a type per branch, a
 * Literal with an added type, a nullable number as anyOf): the published
 * document and Ajv's error messages stay what they were.
 *
 * Times: what the gate sends carries ISO 8601 strings (as the journal does);
 * what the centre signs carries epoch milliseconds, which compare without
 * parsing.
 *
 * Every number has a minimum and a maximum (a test walks the schemas for
 * it): what the stores can hold. SQLite's INTEGER is 64-bit, but a JS number
 * is exact only up to 2^53 - 1, and a larger one (1e21 is an integer to
 * JSON Schema) reaches better-sqlite3 as a REAL its STRICT tables refuse; so
 * counts, seqs and versions stop at Number.MAX_SAFE_INTEGER, and times and
 * durations at what they can mean.
 */
import { Type, type SchemaOptions, type Static, type TInteger, type TNumber, type TObject, type TProperties, type TSchema, type TString, type TUnsafe } from '@sinclair/typebox';
import { COLOURS, DECIDED_BY, VERDICTS } from '../domain.js';

/** `{ enum: [...] }`, typed as the union of its values. */
export function Enum<const T extends readonly (string | number | null)[]>(values: T, options: SchemaOptions = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, enum: [...values] });
}

/** `{ const: value }`, typed as that value. */
export function Const<const T extends string | number>(value: T, options: SchemaOptions = {}): TUnsafe<T> {
  return Type.Unsafe<T>({ ...options, const: value });
}

/** The schema with `type: [its type, 'null']`: its bounds apply to the non-null value. */
export function OrNull<T extends TString | TNumber | TInteger>(schema: T, options: SchemaOptions = {}): TUnsafe<Static<T> | null> {
  // Object.entries: the JSON keywords only, not TypeBox's symbol-keyed kind of the original.
  return Type.Unsafe<Static<T> | null>({ ...Object.fromEntries(Object.entries(schema)), ...options, type: [schema.type, 'null'] });
}

/** The schema with a description of its use here. */
export function described<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, description };
}

/** An object that takes no field but those listed: every object of the contract is closed. */
export function Closed<P extends TProperties>(properties: P, options: SchemaOptions = {}): TObject<P> {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

/** A message of the contract: closed, with the title errors and the document name it by. */
export function Message<P extends TProperties>(title: string, description: string, properties: P): TObject<P> & { title: string; description: string } {
  return Closed(properties, { title, description }) as TObject<P> & { title: string; description: string };
}

export const ISO_TIME = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$' });
/** Up to the end of year 9999: a time the gate writes back in ISO 8601 keeps its four-digit year (ISO_TIME). */
export const MAX_EPOCH_MS = 253_402_300_799_999;
export const EPOCH_MS = Type.Integer({ minimum: 0, maximum: MAX_EPOCH_MS });
/** Ages in seconds: at most the span of EPOCH_MS. */
export const AGE_SECONDS = Type.Number({ minimum: 0, maximum: Math.ceil(MAX_EPOCH_MS / 1000) });
/** Seqs, versions and counts: exact as a JS number, and within SQLite's INTEGER. */
export const COUNT_FROM_0 = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const COUNT_FROM_1 = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
/** The most statuses one snapshot lists (and so the most one message can write). */
export const MAX_SNAPSHOT_STATUSES = 1_000_000;
export const ID = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
/** A message id: a UUID or any opaque token without spaces. */
export const MESSAGE_ID = Type.String({ pattern: '^[A-Za-z0-9_.:-]{8,128}$' });
/** The pseudonymous code subject: never a name or an ID number (the credential checks refuse those). */
export const SUBJECT = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' });
export const B64URL = Type.String({ pattern: '^[A-Za-z0-9_-]{1,8192}$' });
export const COLOUR = Enum(COLOURS);
/** A stable reason code (protocol/reasons.ts) or fault kind. */
export const REASON = Type.String({ pattern: '^[a-z-]{1,64}$' });
export const VERDICT = Enum(VERDICTS);
export const DECIDED_BY_SCHEMA = Enum(DECIDED_BY);
/** Free text for people: bounded so one message stays small. */
export const DETAIL = Type.String({ maxLength: 2000 });
export const FAULTS = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32, description: 'Devices with an active fault' });

export const LANE_STATES = ['idle', 'reading', 'measuring', 'deciding', 'open', 'locked', 'held', 'staff', 'emergency'] as const;
export type LaneState = (typeof LANE_STATES)[number];
export const LANE_STATE = Enum(LANE_STATES);

export const COMMAND_ACTIONS = ['open', 'lock', 'release-hold', 'reload-trust', 'set-config'] as const;
export type CommandAction = (typeof COMMAND_ACTIONS)[number];
export const COMMAND_ACTION = Enum(COMMAND_ACTIONS);
