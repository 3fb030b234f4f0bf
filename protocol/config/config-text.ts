/**
 * A config file's bytes to plain data (mappings, lists, strings, numbers,
 * booleans, null), for the gate's loader (gate-config.ts) and the console's
 * (console-config.ts). A JSON file is read as the YAML it also is, so both
 * kinds get the same bounds and the same errors.
 *
 * Refused, and why:
 * - more bytes than the loader allows, and bytes that are not UTF-8: a
 *   config is a few kilobytes of text, while the YAML parser's time and
 *   memory grow with its input (bad input can cost it tens of microseconds
 *   and most of a kilobyte a byte), and brackets nested past
 *   FLOW_NESTING_LIMIT exhaust its memory (a crash, not an exception);
 * - aliases (*name): no config needs one, a config written as JSON cannot
 *   have one, and the loaders write into the parsed tree (environment
 *   overrides, defaults), where an alias makes two keys one object, an
 *   override of one silently changing the other. Refusing them also rules
 *   out cycles and alias bombs before anything is built;
 * - nesting deeper than DEPTH_LIMIT, a key that is not a plain value, a key
 *   twice in one mapping, a tag YAML's core schema does not know (%YAML 1.1
 *   would otherwise bring dates, sets and binary), a second document.
 *
 * A problem names a line and column and what is wrong, never the text:
 * the line at fault may hold a password, a passphrase or a PIN hash. The
 * yaml library's own messages are not passed on, as some quote the source.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type ErrorCode } from 'yaml';
import type { ConfigTextErrorCode } from './errors.js';

/** Each is also the code of the loaders' ConfigError (errors.ts). */
export type ConfigTextProblem = ConfigTextErrorCode;

export type ConfigText = { ok: true; value: unknown } | { ok: false; code: ConfigTextProblem; problem: string };

/** Mappings and lists inside each other: a config needs a handful. */
export const DEPTH_LIMIT = 32;
/** Open brackets counted without regard to quotes, before the parser runs; its memory runs out near 100,000. */
const FLOW_NESTING_LIMIT = 1000;

/** What a YAML error code means, in our words: the library's messages may quote the text. */
const YAML_PROBLEMS: Partial<Record<ErrorCode, string>> = {
  ALIAS_PROPS: 'an alias with an anchor or a tag',
  BAD_ALIAS: 'an alias that is not well formed',
  BAD_DIRECTIVE: 'a directive (%…) that is not understood',
  BAD_DQ_ESCAPE: 'an escape sequence a double-quoted string cannot have',
  BAD_INDENT: 'wrong indentation',
  BAD_PROP_ORDER: 'an anchor or tag in the wrong place',
  BAD_SCALAR_START: 'a plain value beginning with a character that needs quotes',
  BLOCK_AS_IMPLICIT_KEY: 'a block used as a key',
  BLOCK_IN_FLOW: 'a block inside brackets',
  DUPLICATE_KEY: 'a key given twice in one mapping',
  KEY_OVER_1024_CHARS: 'a key longer than 1,024 characters',
  MISSING_CHAR: 'a missing character (a closing bracket or quote, a comma or a colon)',
  MULTILINE_IMPLICIT_KEY: 'a key running over more than one line',
  MULTIPLE_ANCHORS: 'more than one anchor on a value',
  MULTIPLE_DOCS: 'more than one document (---)',
  MULTIPLE_TAGS: 'more than one tag on a value',
  NON_STRING_KEY: 'a key that is not a plain value',
  TAB_AS_INDENT: 'a tab used as indentation',
  TAG_RESOLVE_FAILED: 'a tag (!…) that is not understood',
  UNEXPECTED_TOKEN: 'something that does not belong there',
  BAD_COLLECTION_TYPE: 'a tag that does not fit its value',
};

/**
 * The file's first maxBytes + 1 bytes: enough to tell it is too long,
 * whatever it is (a device, a pipe, a file of gigabytes). Throws what fs throws.
 */
export function readConfigFile(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/** The plain data in a config file's bytes (or text), or where and what the problem is. Never throws. */
export function parseConfigText(source: Uint8Array | string, maxBytes: number): ConfigText {
  const bytes = typeof source === 'string' ? Buffer.byteLength(source) : source.length;
  if (bytes > maxBytes) return { ok: false, code: 'size', problem: `more than ${maxBytes} bytes, the most a config file may have` };
  let text: string;
  if (typeof source === 'string') text = source;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(source);
    } catch {
      const lenient = Buffer.from(source.buffer, source.byteOffset, source.length).toString('utf8');
      return { ok: false, code: 'encoding', problem: `${at(lenient, lenient.indexOf('\uFFFD'))}bytes that are not UTF-8 text` };
    }
  }
  try {
    return parseText(text);
  } catch {
    // The checks above keep the parser within its means; this is a last guard, so that bad input stays a config error.
    return { ok: false, code: 'syntax', problem: 'cannot be read as YAML' };
  }
}

function parseText(text: string): ConfigText {
  const deep = flowNestingBeyond(text, FLOW_NESTING_LIMIT);
  if (deep !== -1) return { ok: false, code: 'nesting', problem: `${at(text, deep)}brackets nested more than ${FLOW_NESTING_LIMIT} deep` };
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter: lines, schema: 'core', uniqueKeys: false, logLevel: 'error' });
  // Warnings too: an unknown tag would otherwise be read as a plain string.
  const first = [...doc.errors, ...doc.warnings].reduce<(typeof doc.errors)[number] | undefined>((earliest, e) => (earliest && earliest.pos[0] <= e.pos[0] ? earliest : e), undefined);
  if (first) {
    const problem = YAML_PROBLEMS[first.code] ?? first.code.toLowerCase().replaceAll('_', ' ');
    return { ok: false, code: 'syntax', problem: `${position(lines, first.pos[0])}${problem}` };
  }
  const structure = checkStructure(doc.contents, lines);
  if (structure) return structure;
  return { ok: true, value: doc.toJS({ maxAliasCount: 0 }) };
}

interface Visit {
  node: unknown;
  depth: number;
  /** The key or index this node is under, and the visit of its parent: the key path, built only for an error. */
  key?: string;
  parent?: Visit;
}

/** Aliases, depth and keys, walked without recursion (the depth is what is being checked). */
function checkStructure(root: unknown, lines: LineCounter): Extract<ConfigText, { ok: false }> | null {
  const refuse = (code: ConfigTextProblem, visit: Visit, node: unknown, what: string) => {
    const path = keyPath(visit);
    return { ok: false as const, code, problem: `${position(lines, startOf(node))}${path ? `"${path}": ` : ''}${what}` };
  };
  const stack: Visit[] = [{ node: root, depth: 0 }];
  for (let visit = stack.pop(); visit; visit = stack.pop()) {
    const { node, depth } = visit;
    if (isAlias(node)) return refuse('alias', visit, node, 'an alias (*…): a config takes none; write the value out');
    if ((isSeq(node) || isMap(node)) && depth >= DEPTH_LIMIT) return refuse('nesting', visit, node, `mappings and lists nested more than ${DEPTH_LIMIT} deep`);
    const children: Visit[] = [];
    if (isSeq(node)) {
      node.items.forEach((value, index) => children.push({ node: value, depth: depth + 1, key: String(index), parent: visit }));
    } else if (isMap(node)) {
      const keys = new Set<string>();
      for (const { key, value } of node.items) {
        const keyNode = startOf(key) === undefined ? node : key;
        if (isAlias(key)) return refuse('alias', visit, keyNode, 'an alias (*…) as a key: a config takes none');
        if (!isScalar(key) || key.value === null || typeof key.value === 'object') {
          return refuse('key', visit, keyNode, 'a key that is not a plain value (a name, a number or true/false)');
        }
        const name = String(key.value);
        const under: Visit = { node: value, depth: depth + 1, key: name, parent: visit };
        if (keys.has(name)) return refuse('key', under, keyNode, 'a key given twice in one mapping');
        keys.add(name);
        children.push(under);
      }
    }
    // Last pushed, first visited: reversed, so that the first problem in the file is the one reported.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return null;
}

/** Keys joined with dots, each shown in printable characters and cut at 64. */
function keyPath(visit: Visit): string {
  const keys: string[] = [];
  for (let v: Visit | undefined = visit; v?.key !== undefined; v = v.parent) keys.push(printableKey(v.key));
  return keys.reverse().join('.');
}

export function printableKey(key: string): string {
  // A key holding ":" or a space is most likely a "key:value" line missing its space: what follows may be a secret.
  const cut = key.search(/[: \t]/u);
  const shown = [...(cut === -1 ? key : key.slice(0, cut)).replace(/\p{C}/gu, '?')];
  return shown.length > 64 ? `${shown.slice(0, 63).join('')}…` : cut === -1 ? shown.join('') : `${shown.join('')}…`;
}

function startOf(node: unknown): number | undefined {
  return (node as { range?: [number, number, number] } | null | undefined)?.range?.[0];
}

/** Offset of the first open bracket past `limit` levels, or -1. Quotes and comments are not told apart: the limit is far above any config. */
function flowNestingBeyond(text: string, limit: number): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return -1;
}

function position(lines: LineCounter, offset: number | undefined): string {
  if (offset === undefined || offset < 0) return '';
  const { line, col } = lines.linePos(offset);
  return `line ${line}, column ${col}: `;
}

/** "line L, column C: " of an offset in text, counted as the yaml library counts. */
function at(text: string, offset: number): string {
  if (offset < 0) return '';
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return `line ${line}, column ${offset - lineStart + 1}: `;
}
