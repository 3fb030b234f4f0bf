/**
 * The bounds on JSON from the network: nesting past the depth bound, or
 * more values than the values bound, is refused before JSON.parse, at the
 * first bracket or comma too many; brackets and commas inside strings
 * (escaped quotes and backslashes too) do not count; what is within the
 * bounds parses as JSON.parse would; what is not JSON says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundsExceeded, MAX_JSON_DEPTH, parseBoundedJson } from '../../protocol/json-bounds.js';
import { isJsonBoundsError } from '../../protocol/message-error.js';

/** The byte offset of the first bracket nested deeper than maxDepth, or -1. */
const depthExceededAt = (json: string | Uint8Array, maxDepth?: number): number => {
  const exceeded = boundsExceeded(json, maxDepth === undefined ? {} : { maxDepth });
  assert.notEqual(exceeded?.code, 'too-many-values');
  return exceeded?.at ?? -1;
};

const nested = (depth: number, open = '[', close = ']'): string => `${open.repeat(depth)}${close.repeat(depth)}`;

function refusedTooDeep(json: string | Buffer, at: number, maxDepth?: number): void {
  assert.throws(
    () => parseBoundedJson(json, maxDepth === undefined ? {} : { maxDepth }),
    (error: unknown) => {
      assert.ok(isJsonBoundsError(error), String(error));
      assert.equal(error.code, 'too-deep');
      assert.equal(error.message, `nested deeper than ${maxDepth ?? MAX_JSON_DEPTH} levels (at byte ${at})`);
      return true;
    },
  );
}

test('nesting up to the bound parses; one level more is refused at its bracket, arrays and objects alike', () => {
  assert.equal(MAX_JSON_DEPTH, 32);
  assert.deepEqual(parseBoundedJson(nested(32)), JSON.parse(nested(32)));
  refusedTooDeep(nested(33), 32);
  const objects = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  assert.deepEqual(parseBoundedJson(objects(32)), JSON.parse(objects(32)));
  refusedTooDeep(objects(33), 32 * 5);
  // Mixed, and depth that comes back down before going deeper again.
  const mixed = `[${'{"x":'.repeat(15)}${nested(16)}${'}'.repeat(15)}, ${nested(31)}]`;
  assert.deepEqual(parseBoundedJson(mixed), JSON.parse(mixed));
  refusedTooDeep('[[1],[[2]]]', 6, 2);
  assert.deepEqual(parseBoundedJson('[[1],[2]]', { maxDepth: 2 }), [[1], [2]]);
});

test('a two-megabyte nest of a million levels, closed or not, is refused at the bound without being parsed', () => {
  const million = 1_000_000;
  refusedTooDeep(Buffer.from(nested(million)), 32);
  refusedTooDeep(Buffer.from('['.repeat(2 * million)), 32);
  refusedTooDeep('{"a":'.repeat(million), 32 * 5);
});

test('brackets inside strings do not count, however many; escaped quotes and backslashes do not end a string', () => {
  const brackets = JSON.stringify(['['.repeat(10_000), '{'.repeat(10_000)]);
  assert.equal(depthExceededAt(brackets), -1);
  assert.equal((parseBoundedJson(brackets) as string[])[0]!.length, 10_000);
  // An escaped quote keeps the string open: the brackets after it are still inside.
  const escapedQuote = JSON.stringify([`say \\"${'['.repeat(100)}`]);
  assert.deepEqual(parseBoundedJson(escapedQuote), JSON.parse(escapedQuote));
  // An escaped backslash before the quote ends the string: the brackets after it count.
  assert.equal(depthExceededAt(`["a\\\\", ${nested(3)}]`, 3), 10);
  assert.equal(depthExceededAt(`["a\\\\\\"", ${nested(3)}]`, 3), 12);
  assert.equal(depthExceededAt(`["\\\\\\\\", ${nested(2)}]`, 3), -1);
});

test('bytes and strings give the same answer; multi-byte characters do not confuse the offsets', () => {
  const text = `{"名字":"张三[[[","list":${nested(40)}}`;
  const at = depthExceededAt(text);
  assert.equal(at, depthExceededAt(Buffer.from(text)));
  assert.equal(Buffer.from(text).subarray(at, at + 1).toString(), '[');
  // The object is one level, so the 32nd bracket of the list is the 33rd level (three more sit in the string).
  assert.equal(Buffer.from(text).subarray(0, at).toString().split('[').length - 1, 3 + 31);
  // A view into a larger buffer is scanned where it lies.
  const backing = Buffer.from(`xxxx${nested(40)}`);
  assert.equal(depthExceededAt(new Uint8Array(backing.buffer, backing.byteOffset + 4, backing.length - 4)), 32);
  assert.deepEqual(parseBoundedJson(new Uint8Array(Buffer.from('{"a":[1]}'))), { a: [1] });
});

test('what is not JSON is refused as not-json with the reason; an unterminated string is JSON.parse\'s to refuse', () => {
  for (const text of ['', 'open the gate', '[1,2', '{"a":"unterminated [[[[', ']]]]', '{"a":1}}']) {
    assert.throws(
      () => parseBoundedJson(text),
      (error: unknown) => isJsonBoundsError(error) && error.code === 'not-json' && error.message.startsWith('not JSON: '),
      JSON.stringify(text),
    );
  }
  assert.equal(parseBoundedJson('42'), 42);
  assert.equal(parseBoundedJson('null'), null);
});

test('the values bound counts arrays, objects and the values after commas, outside strings, and refuses at the first too many', () => {
  const refusedTooMany = (json: string, maxValues: number, at: number): void => {
    assert.throws(
      () => parseBoundedJson(json, { maxValues }),
      (error: unknown) => isJsonBoundsError(error) && error.code === 'too-many-values' && error.message === `has more than ${maxValues} values (at byte ${at})`,
      json,
    );
  };
  // An envelope: one object, two commas.
  const envelope = '{"protected":"e30","payload":"","signature":"AA"}';
  assert.deepEqual(parseBoundedJson(envelope, { maxValues: 3 }), JSON.parse(envelope));
  refusedTooMany(envelope, 2, envelope.lastIndexOf(','));
  assert.deepEqual(parseBoundedJson('[[],[],{}]', { maxValues: 6 }), [[], [], {}]);
  refusedTooMany('[[],[],{}]', 5, 7);
  // Commas and brackets in strings are text.
  assert.deepEqual(parseBoundedJson('["a,b,[c],{d}"]', { maxValues: 1 }), ['a,b,[c],{d}']);
  // A scalar alone is no container and follows no comma.
  assert.equal(parseBoundedJson('7', { maxValues: 0 }), 7);
  // Four megabytes of empty objects: refused after the first few, never parsed.
  const broad = Buffer.from(`[${Array(1_000_000).fill('{}').join(',')}]`);
  refusedTooMany(broad.toString(), 1024, 1 + 3 * 511 + 2);
  assert.equal(boundsExceeded(broad)?.code, undefined, 'no values bound unless asked');
});
