/**
 * The few shapes the config schemas are built of, on top of TypeBox. Each
 * yields plain JSON Schema (what Ajv checks and the README documents) and a
 * type, and the types are those of a config once checked: Ajv runs with
 * useDefaults, so a key with a default is always there afterwards, though
 * the file may leave it out.
 */
import { Type, type ObjectOptions, type SchemaOptions, type Static, type TObject, type TProperties, type TSchema, type TUnsafe } from '@sinclair/typebox';

/**
 * Left out of `required`, as an optional key is, yet typed as present: the
 * file may omit it and Ajv then writes the default in. The default is
 * checked against the key's own type, and typed so for code that reads it.
 */
export function Defaulted<T extends TSchema>(schema: T, value: Static<T>): T & { default: Static<T> } {
  // Marked optional for TypeBox's `required` only; the type stays T's own, so Static<> has the key present.
  return Type.Optional({ ...schema, default: value }) as unknown as T & { default: Static<T> };
}

/** A mapping that takes only the keys it names. */
export function StrictObject<T extends TProperties>(properties: T, options: ObjectOptions = {}): TObject<T> {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

/**
 * A mapping the checked config always has: absent, it is filled in as {}
 * and then with its keys' defaults.
 */
export function FilledObject<T extends TProperties>(properties: T, options: ObjectOptions = {}): TObject<T> {
  return Defaulted(StrictObject(properties, options), {} as Static<TObject<T>>);
}

/** One of a few constant values, written as JSON Schema's `enum` (TypeBox's unions of literals would be `anyOf`). */
export function Choice<const V extends readonly (string | number)[]>(values: V, options: SchemaOptions = {}): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ ...options, enum: [...values] });
}

/** A reference to a shape under the root schema's `$defs`, typed as that shape. */
export function DefinitionRef<T extends TSchema>(name: string, _definition: T): TUnsafe<Static<T>> {
  return Type.Unsafe<Static<T>>({ $ref: `#/$defs/${name}` });
}
