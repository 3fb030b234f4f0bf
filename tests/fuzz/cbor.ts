/**
 * CBOR for the credential fuzzer (RFC 8949): a writer of raw items, written
 * here because hostile encodings are exactly what an encoder library will not
 * emit (declared lengths far beyond the data, reserved additional-information
 * values, breaks out of place, invalid UTF-8, value-sharing graphs of tags
 * 28/29), and arbitraries of hostile items and of decoded values for
 * re-encoding with cbor-x.
 */
import fc from 'fast-check';
import { Tag } from 'cbor-x';

/** An item head: major type and argument in the shortest form, or the width asked for. */
export function head(major: number, argument: number | bigint, width?: 0 | 1 | 2 | 4 | 8): Buffer {
  const value = BigInt(argument);
  const w = width ?? (value < 24n ? 0 : value < 0x100n ? 1 : value < 0x10000n ? 2 : value < 0x100000000n ? 4 : 8);
  const top = major << 5;
  if (w === 0) return Buffer.from([top | Number(value)]);
  const out = Buffer.alloc(1 + w);
  out[0] = top | { 1: 24, 2: 25, 4: 26, 8: 27 }[w];
  for (let i = 0; i < w; i++) out[w - i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

export const cbor = {
  uint: (n: number | bigint): Buffer => head(0, n),
  /** -1 - n, as CBOR writes negatives. */
  nint: (n: number | bigint): Buffer => head(1, n),
  int: (n: number): Buffer => (n >= 0 ? head(0, n) : head(1, -1 - n)),
  bytes: (bytes: Uint8Array): Buffer => Buffer.concat([head(2, bytes.length), bytes]),
  text: (text: string): Buffer => {
    const bytes = Buffer.from(text, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  },
  array: (items: readonly Buffer[]): Buffer => Buffer.concat([head(4, items.length), ...items]),
  map: (pairs: ReadonlyArray<readonly [Buffer, Buffer]>): Buffer => Buffer.concat([head(5, pairs.length), ...pairs.flat()]),
  tag: (tag: number | bigint, item: Buffer): Buffer => Buffer.concat([head(6, tag), item]),
  null: Buffer.from([0xf6]),
};

/**
 * A value-sharing graph (tags 28 and 29): item i is a shared array holding
 * two references to item i - 1, so expanding it makes 2^depth nodes out of
 * a few bytes per level.
 */
export function sharedValueGraph(depth: number): Buffer {
  const items = [cbor.tag(28, cbor.array([cbor.text('x')]))];
  for (let i = 1; i < depth; i++) items.push(cbor.tag(28, cbor.array([cbor.tag(29, cbor.uint(i - 1)), cbor.tag(29, cbor.uint(i - 1))])));
  return cbor.array(items);
}

/** A shared array that holds itself. */
export function sharedValueCycle(): Buffer {
  return cbor.tag(28, cbor.array([cbor.tag(29, cbor.uint(0))]));
}

/** Tag numbers with a meaning somewhere (RFC 8949, the IANA registry, cbor-x's own extensions). */
const TAGS = [0, 1, 2, 3, 4, 5, 6, 14, 15, 16, 17, 18, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 32, 33, 34, 35, 36, 37, 51, 61, 64, 65, 66, 68, 69, 70, 72, 77, 78, 79, 81, 85, 86, 96, 97, 98, 105, 216, 225, 255, 256, 258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 1040, 6391, 28704, 27647, 55799, 57344, 57599, 0x53687264];
const LENGTH_ARGUMENTS: Array<[bigint, 1 | 2 | 4 | 8]> = [
  [0xffn, 1],
  [0x10000n, 4],
  [0x7fffffffn, 4],
  [0xffffffffn, 4],
  [2n ** 53n, 8],
  [2n ** 63n, 8],
  [2n ** 64n - 1n, 8],
];

const smallItem: fc.Arbitrary<Buffer> = fc.oneof(
  fc.integer({ min: -1000, max: 100000 }).map((n) => cbor.int(n)),
  fc.string({ maxLength: 8 }).map((s) => cbor.text(s)),
  fc.uint8Array({ maxLength: 8 }).map((b) => cbor.bytes(b)),
  fc.constant(cbor.null),
  fc.constantFrom(Buffer.from([0xf4]), Buffer.from([0xf5]), Buffer.from([0xf7]), Buffer.from([0x80]), Buffer.from([0xa0])),
);

/** One hostile item, each kind a way decoders have been known to fail. */
export const hostileItem: fc.Arbitrary<Buffer> = fc.oneof(
  // Nesting deep enough to exhaust a recursive decoder or consumer.
  fc.record({ depth: fc.constantFrom(10, 100, 1000, 5000, 20000), kind: fc.constantFrom(0x81, 0xa1, 0xc6, 0x9f, 0xd8) }).map(({ depth, kind }) => {
    if (kind === 0xa1) return Buffer.concat([Buffer.alloc(depth * 2, Buffer.from([0xa1, 0x00])), cbor.null]);
    if (kind === 0x9f) return Buffer.concat([Buffer.alloc(depth, 0x9f), Buffer.alloc(depth, 0xff)]);
    if (kind === 0xd8) return Buffer.concat([Buffer.alloc(depth * 2, Buffer.from([0xd8, 0x1c])), cbor.array([])]);
    return Buffer.concat([Buffer.alloc(depth, kind), cbor.null]);
  }),
  // Value sharing: exponential graphs, cycles, references to nothing.
  fc.integer({ min: 2, max: 40 }).map(sharedValueGraph),
  fc.constant(sharedValueCycle()),
  fc.integer({ min: 0, max: 100 }).map((id) => cbor.tag(29, cbor.uint(id))),
  // Lengths far beyond the data.
  fc.record({ major: fc.integer({ min: 2, max: 5 }), length: fc.constantFrom(...LENGTH_ARGUMENTS), tail: fc.uint8Array({ maxLength: 8 }) }).map(({ major, length, tail }) =>
    Buffer.concat([head(major, length[0], length[1]), tail]),
  ),
  // Integers and big numbers at and past 64 bits.
  fc.constantFrom(
    Buffer.from('1bffffffffffffffff', 'hex'),
    Buffer.from('3bffffffffffffffff', 'hex'),
    Buffer.from('1b0020000000000000', 'hex'),
    Buffer.from('1b0020000000000001', 'hex'),
  ),
  fc.record({ negative: fc.boolean(), bytes: fc.uint8Array({ minLength: 9, maxLength: 600 }) }).map(({ negative, bytes }) => cbor.tag(negative ? 3 : 2, cbor.bytes(bytes))),
  // Floats: NaN, infinities, negative zero, subnormals, in every width.
  fc.constantFrom('f97e00', 'f97c00', 'f9fc00', 'f98000', 'f90001', 'fa7fc00000', 'fa00000001', 'fb7ff8000000000001', 'fb0000000000000001', 'fbc3e0000000000000').map((hex) => Buffer.from(hex, 'hex')),
  // Simple values, reserved additional information, breaks out of place.
  fc.integer({ min: 0, max: 255 }).map((n) => Buffer.from([0xf8, n])),
  fc.record({ major: fc.integer({ min: 0, max: 7 }), info: fc.integer({ min: 28, max: 31 }) }).map(({ major, info }) => Buffer.from([(major << 5) | info, 0x00])),
  fc.constant(Buffer.from([0xff])),
  // Text that is not UTF-8, and indefinite strings with the wrong chunks inside.
  fc.constantFrom('62c328', '63eda080', '62c0af', '7f61617fff', '5f41004100ff', '7f4100ff', '5f6161ff').map((hex) => Buffer.from(hex, 'hex')),
  // Tags with a meaning to some decoder, over small or odd content.
  fc.record({ tag: fc.constantFrom(...TAGS), item: smallItem }).map(({ tag, item }) => cbor.tag(tag, item)),
  fc.record({ tag: fc.constantFrom(27, 258, 259, 105, 51), items: fc.array(smallItem, { maxLength: 4 }) }).map(({ tag, items }) => cbor.tag(tag, cbor.array(items))),
  fc.constant(cbor.tag(27, cbor.array([cbor.text('RegExp'), cbor.text('(a+)+$')]))),
  fc.record({ tag: fc.constantFrom(...[...LENGTH_ARGUMENTS.map(([n]) => n)]), item: smallItem }).map(({ tag, item }) => cbor.tag(tag, item)),
  // Embedded CBOR (tag 24) whose content is itself hostile.
  fc.integer({ min: 20, max: 30 }).map((depth) => cbor.tag(24, cbor.bytes(sharedValueGraph(depth)))),
  // Maps with repeated keys, keys of every type, and keys a plain object would misread.
  fc.array(fc.tuple(fc.oneof(smallItem, fc.constantFrom(cbor.text('__proto__'), cbor.text('constructor'), cbor.array([]), cbor.map([]), Buffer.from('f97e00', 'hex'))), smallItem), { minLength: 1, maxLength: 6 }).map((pairs) =>
    cbor.map([...pairs, ...pairs.slice(0, 1)]),
  ),
  // Anything at all.
  fc.uint8Array({ minLength: 1, maxLength: 48 }).map((b) => Buffer.from(b)),
);

/** Decoded values to put into a tree before it is encoded again with cbor-x. */
export const cborValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.constantFrom(0, -1, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -(2 ** 53), 1e21, 1.5, -0, Number.NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    fc.constantFrom(2n ** 64n - 1n, -(2n ** 64n), 2n ** 63n),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.constantFrom('green', 'yellow', 'red', 'dynamic', 'printed', '张*三', 'v', 't', 'r', 'ver', '1.3.0', '', '*'),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
    fc.constantFrom(null, undefined, true, false),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(fc.integer({ min: -70000, max: 10 }), fc.string({ maxLength: 6 })), tie('value')), { maxLength: 4 }).map((pairs) => new Map(pairs)),
    fc.record({ tag: fc.constantFrom(...TAGS), value: tie('value') }).map(({ tag, value }) => new Tag(value, tag)),
  ),
})).value;
