/**
 * JSON from the network, parsed only once its shape is known to be cheap.
 * Every message of the link is at most four levels deep (a snapshot:
 * object, statuses array, status object), yet a message of a few megabytes
 * under mqtt.maxMessageBytes can nest a million levels, and JSON.parse takes
 * hundreds of milliseconds to build or refuse that while the lane waits.
 * Breadth costs as much: 4 MiB of `[{},{},...]` is some 600 ms of
 * JSON.parse, so where the shape is known to be small (a JWS envelope is one
 * object of three strings) the number of values is bounded too.
 *
 * JSON.parse has no depth or size option, and no library in the project
 * bounds either before parsing, so the bound is a hand-written linear scan
 * of the bytes: brackets and commas outside strings counted, the text
 * refused at the first one past a bound, before JSON.parse sees it.
 */
import { MessageError } from './message-error.js';

/** Deeper than anything the link or the console exchanges (at most 4), shallow enough to be cheap to refuse. */
export const MAX_JSON_DEPTH = 32;

export interface JsonBounds {
  /** Arrays and objects nested at most this deep; default MAX_JSON_DEPTH. */
  maxDepth?: number;
  /**
   * At most this many values in all: every array and object, and every value after a comma, counted (what
   * JSON.parse would build, within one per container); default no bound.
   */
  maxValues?: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** What each byte is to the scan: 0 nothing, 1 a quote, 2 an opening bracket, 3 a closing one, 4 a comma. */
const BYTE_CLASS = new Uint8Array(256);
BYTE_CLASS[QUOTE] = 1;
BYTE_CLASS[0x5b] = BYTE_CLASS[0x7b] = 2; // [ {
BYTE_CLASS[0x5d] = BYTE_CLASS[0x7d] = 3; // ] }
BYTE_CLASS[0x2c] = 4; // ,

/**
 * Where `json` first goes past `bounds`, or null when it does not. Brackets
 * and commas inside strings do not count; whether the text is JSON otherwise
 * (matching brackets, closed strings) is JSON.parse's to say. In UTF-8 the
 * bytes looked for never occur inside a multi-byte character, so the raw
 * bytes are scanned without decoding them. A string is skipped with
 * Buffer.indexOf to its closing quote (one not escaped by an odd run of
 * backslashes): a large message is mostly strings, and the scan then costs a
 * fraction of what JSON.parse does.
 */
export function boundsExceeded(json: Uint8Array | string, bounds: JsonBounds = {}): { code: 'too-deep' | 'too-many-values'; at: number } | null {
  const bytes = typeof json === 'string' ? Buffer.from(json, 'utf8') : Buffer.from(json.buffer, json.byteOffset, json.byteLength);
  const maxDepth = bounds.maxDepth ?? MAX_JSON_DEPTH;
  const maxValues = bounds.maxValues ?? Infinity;
  let depth = 0;
  let values = 0;
  for (let i = 0; i < bytes.length; i++) {
    const kind = BYTE_CLASS[bytes[i]!];
    if (kind === 0) continue;
    if (kind === 2) {
      if (++depth > maxDepth) return { code: 'too-deep', at: i };
      if (++values > maxValues) return { code: 'too-many-values', at: i };
    } else if (kind === 3) {
      depth--;
    } else if (kind === 4) {
      if (++values > maxValues) return { code: 'too-many-values', at: i };
    } else {
      const close = closingQuote(bytes, i + 1);
      if (close < 0) return null; // an unterminated string: nothing after it counts, and JSON.parse refuses it
      i = close;
    }
  }
  return null;
}

/** The offset of the quote that ends a string whose content starts at `from`, or -1. */
function closingQuote(bytes: Buffer, from: number): number {
  for (let at = bytes.indexOf(QUOTE, from); at >= 0; at = bytes.indexOf(QUOTE, at + 1)) {
    let backslashes = 0;
    while (at - backslashes - 1 >= from && bytes[at - backslashes - 1] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

/**
 * JSON.parse of `json` (UTF-8 bytes or a string) once it is within `bounds`.
 * Throws MessageError (isJsonBoundsError): 'too-deep' or 'too-many-values' naming the bound
 * and the byte offset, or 'not-json' with JSON.parse's reason.
 */
export function parseBoundedJson(json: Uint8Array | string, bounds: JsonBounds = {}): unknown {
  const exceeded = boundsExceeded(json, bounds);
  if (exceeded?.code === 'too-deep') {
    const depth = bounds.maxDepth ?? MAX_JSON_DEPTH;
    throw new MessageError('too-deep', `nested deeper than ${depth} level${depth === 1 ? '' : 's'} (at byte ${exceeded.at})`);
  }
  if (exceeded) throw new MessageError('too-many-values', `has more than ${bounds.maxValues} values (at byte ${exceeded.at})`);
  try {
    return JSON.parse(typeof json === 'string' ? json : Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8'));
  } catch (error) {
    throw new MessageError('not-json', `not JSON: ${(error as Error).message}`, { cause: error });
  }
}
