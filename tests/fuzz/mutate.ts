/**
 * Generic mutators as fast-check arbitraries: a few edits to bytes or text
 * (flip, set, insert, delete, duplicate, truncate, append), and edits to a
 * decoded tree (replace a node, drop one, wrap one). Surfaces combine them
 * with their own layers (base45, zlib, CBOR, JSON, YAML, HTTP).
 */
import fc from 'fast-check';

/** Bytes that break parsers more often than random ones. */
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x0a, 0x0d, 0x20, 0x22, 0x5c, 0xaa, 0x96, 0x69, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x9f, 0xbf, 0xdf, 0xf7];

type ByteOp =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; value: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; length: number }
  | { op: 'duplicate'; at: number; length: number }
  | { op: 'truncate'; at: number }
  | { op: 'append'; bytes: Uint8Array };

const byteValue = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...INTERESTING_BYTES));

const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: byteValue }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }) },
);

export function applyByteOps(seed: Uint8Array, ops: readonly ByteOp[]): Uint8Array {
  let bytes = Buffer.from(seed);
  for (const op of ops) {
    const n = bytes.length;
    const at = (value: number, extra = 0): number => (n + extra === 0 ? 0 : value % (n + extra));
    switch (op.op) {
      case 'flip':
        if (n > 0) bytes[at(op.at)]! ^= 1 << op.bit;
        break;
      case 'set':
        if (n > 0) bytes[at(op.at)] = op.value;
        break;
      case 'insert': {
        const i = at(op.at, 1);
        bytes = Buffer.concat([bytes.subarray(0, i), op.bytes, bytes.subarray(i)]);
        break;
      }
      case 'delete': {
        const i = at(op.at);
        bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + op.length)]);
        break;
      }
      case 'duplicate': {
        const i = at(op.at);
        const part = bytes.subarray(i, i + op.length);
        bytes = Buffer.concat([bytes.subarray(0, i), part, part, bytes.subarray(i + part.length)]);
        break;
      }
      case 'truncate':
        bytes = bytes.subarray(0, at(op.at));
        break;
      case 'append':
        bytes = Buffer.concat([bytes, op.bytes]);
        break;
    }
  }
  return bytes;
}

/** A few byte edits to one of `seeds`. */
export function mutatedBytes(seeds: fc.Arbitrary<Uint8Array>, maxOps = 6): fc.Arbitrary<Uint8Array> {
  return fc.tuple(seeds, fc.array(byteOp, { minLength: 1, maxLength: maxOps })).map(([seed, ops]) => applyByteOps(seed, ops));
}

type TextOp =
  | { op: 'replace'; at: number; text: string }
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; length: number }
  | { op: 'duplicate'; at: number; length: number }
  | { op: 'truncate'; at: number }
  | { op: 'append'; text: string };

/** Characters that parsers of text trip on: controls, quotes, escapes, separators, a lone surrogate, a BOM. */
const AWKWARD = ['\0', '\t', '\n', '\r', '\r\n', ' ', '"', "'", '\\', '%', '&', '*', '#', ':', '-', '{', '}', '[', ']', ',', '|', '>', '!', '@', '`', '\u2028', '\ud800', '\ufeff', '\u00a0', '中'];

export function textOps(alphabet: string): fc.Arbitrary<TextOp[]> {
  const piece = fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...alphabet), minLength: 1, maxLength: 6 }) },
    { weight: 2, arbitrary: fc.constantFrom(...AWKWARD) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }) },
  );
  const op: fc.Arbitrary<TextOp> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('replace' as const), at: fc.nat(), text: piece }) },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: piece }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 80 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('append' as const), text: piece }) },
  );
  return fc.array(op, { minLength: 1, maxLength: 6 });
}

export function applyTextOps(seed: string, ops: readonly TextOp[]): string {
  let text = seed;
  for (const op of ops) {
    const n = text.length;
    const at = (value: number, extra = 0): number => (n + extra === 0 ? 0 : value % (n + extra));
    switch (op.op) {
      case 'replace': {
        const i = at(op.at);
        text = text.slice(0, i) + op.text + text.slice(i + op.text.length);
        break;
      }
      case 'insert': {
        const i = at(op.at, 1);
        text = text.slice(0, i) + op.text + text.slice(i);
        break;
      }
      case 'delete': {
        const i = at(op.at);
        text = text.slice(0, i) + text.slice(i + op.length);
        break;
      }
      case 'duplicate': {
        const i = at(op.at);
        const part = text.slice(i, i + op.length);
        text = text.slice(0, i) + part + text.slice(i);
        break;
      }
      case 'truncate':
        text = text.slice(0, at(op.at));
        break;
      case 'append':
        text += op.text;
        break;
    }
  }
  return text;
}

/** A few text edits to one of `seeds`, the inserted characters mostly from `alphabet`. */
export function mutatedText(seeds: fc.Arbitrary<string>, alphabet: string): fc.Arbitrary<string> {
  return fc.tuple(seeds, textOps(alphabet)).map(([seed, ops]) => applyTextOps(seed, ops));
}

/** Every node of a tree of arrays, Maps and plain objects, with the path to it (keys and indexes). */
export function nodesOf(tree: unknown, limit = 2000): Array<{ path: unknown[]; value: unknown }> {
  const out: Array<{ path: unknown[]; value: unknown }> = [];
  const walk = (value: unknown, path: unknown[], depth: number): void => {
    if (out.length >= limit || depth > 64) return;
    out.push({ path, value });
    if (Array.isArray(value)) value.forEach((item, i) => walk(item, [...path, i], depth + 1));
    else if (value instanceof Map) for (const [k, v] of value) walk(v, [...path, k], depth + 1);
    else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) walk(v, [...path, k], depth + 1);
  };
  walk(tree, [], 0);
  return out;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function childOf(container: unknown, key: unknown): unknown {
  if (Array.isArray(container)) return container[key as number];
  if (container instanceof Map) return container.get(key);
  if (isPlainObject(container)) return container[key as string];
  return undefined;
}

function withChild(container: unknown, key: unknown, child: unknown, remove: boolean): unknown {
  if (Array.isArray(container)) {
    const copy = [...container];
    if (remove) copy.splice(key as number, 1);
    else copy[key as number] = child;
    return copy;
  }
  if (container instanceof Map) {
    const copy = new Map(container);
    if (remove) copy.delete(key);
    else copy.set(key, child);
    return copy;
  }
  const copy = { ...(container as Record<string, unknown>) };
  if (remove) delete copy[key as string];
  else copy[key as string] = child;
  return copy;
}

/** The tree with the node at `path` replaced (copying only the containers on the way). */
export function replaceAt(tree: unknown, path: readonly unknown[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  return withChild(tree, head, replaceAt(childOf(tree, head), rest, value), false);
}

/** The tree without the node at `path` (the root cannot go: it is returned as it is). */
export function removeAt(tree: unknown, path: readonly unknown[]): unknown {
  if (path.length === 0) return tree;
  if (path.length === 1) return withChild(tree, path[0], undefined, true);
  const [head, ...rest] = path;
  return withChild(tree, head, removeAt(childOf(tree, head), rest), false);
}

export type TreeEdit = { op: 'replace'; pick: number; value: unknown } | { op: 'remove'; pick: number } | { op: 'wrap'; pick: number; how: 'array' | 'map' };

/** An edit of a tree whose new values come from `values`. */
export function treeEdits(values: fc.Arbitrary<unknown>, maxEdits = 3): fc.Arbitrary<TreeEdit[]> {
  const edit: fc.Arbitrary<TreeEdit> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('replace' as const), pick: fc.nat(), value: values }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('wrap' as const), pick: fc.nat(), how: fc.constantFrom('array' as const, 'map' as const) }) },
  );
  return fc.array(edit, { minLength: 1, maxLength: maxEdits });
}

export function applyTreeEdits(tree: unknown, edits: readonly TreeEdit[], wrapMap: (value: unknown) => unknown): unknown {
  let out = tree;
  for (const edit of edits) {
    const nodes = nodesOf(out);
    const node = nodes[edit.pick % nodes.length]!;
    if (edit.op === 'replace') out = replaceAt(out, node.path, edit.value);
    else if (edit.op === 'remove') out = removeAt(out, node.path);
    else out = replaceAt(out, node.path, edit.how === 'array' ? [node.value] : wrapMap(node.value));
  }
  return out;
}
