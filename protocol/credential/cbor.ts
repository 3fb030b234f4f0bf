/**
 * CBOR for the credential stack: a well-formedness check of the bytes
 * (RFC 8949 §3) that runs before cbor-x decodes anything, then cbor-x.
 *
 * Why a check of our own in front of cbor-x (the one CBOR library we depend
 * on): cbor-x reads tags through one global table, and none of its options
 * turns entries off. Besides the date and bignum tags it builds shared values
 * and references (tags 28/29, where a few bytes describe a graph whose tree
 * is exponentially large, so walking or re-encoding it exhausts memory),
 * records (tags 0xe000 and up), typed arrays (64–87), Sets (258), Error and
 * RegExp objects from the text given (27), packed tables (51) and more. None
 * of it belongs in a credential. So the bytes are first walked head by head,
 * without building values, and refused unless they are exactly one item,
 * every tag is one the profile uses there (an allow-list per item, and tags
 * only around the whole item, as COSE and CWT put them), nesting stays
 * shallow and the items are few. What passes is a plain tree no larger than
 * its bytes, which cbor-x then decodes in linear time.
 *
 * The limits are far above what the profiles need: a GZHC1 claims set is 19
 * items, 2 levels deep; the EU DCC test vectors hold at most 86 items, 5
 * levels deep (docs/credential-profile.md, "CBOR").
 */
import { Decoder, Encoder } from 'cbor-x';
import { CredentialError } from './failure.js';

// Maps stay Maps: COSE and CWT use integer keys that plain objects would turn into strings.
export const cborDecoder = new Decoder({ mapsAsObjects: false, useRecords: false });
const cborEncoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });

export function cborEncode(value: unknown): Buffer {
  return cborEncoder.encode(value);
}

/** For items that carry no tags at all: protected headers and claims. */
export const NO_TAGS: ReadonlySet<number> = new Set();

/** Deepest nesting of arrays, maps and tags accepted (the top item is at depth 0). */
export const MAX_CBOR_DEPTH = 16;
/** Most data items accepted in one CBOR item, counting map keys and tag contents. */
export const MAX_CBOR_ITEMS = 1024;

/** Names for the refusal messages: the tags the profiles use and those an attacker would try. */
const TAG_NAMES: Record<number, string> = {
  0: 'date/time text',
  1: 'epoch date/time',
  2: 'positive bignum',
  3: 'negative bignum',
  18: 'COSE_Sign1',
  24: 'embedded CBOR',
  25: 'string reference',
  27: 'generic object',
  28: 'shared value',
  29: 'shared reference',
  51: 'packed table',
  61: 'CWT',
  256: 'string reference namespace',
  258: 'set',
  259: 'map',
  55799: 'self-described CBOR',
};

function tagName(tag: number | bigint): string {
  const name = typeof tag === 'number' ? TAG_NAMES[tag] : undefined;
  if (name) return `${tag} (${name})`;
  if (typeof tag === 'number' && tag >= 64 && tag <= 87) return `${tag} (typed array)`;
  if (typeof tag === 'number' && tag >= 0xe000 && tag < 0x10000) return `${tag} (cbor-x record)`;
  return String(tag);
}

function allowedTags(tags: ReadonlySet<number>): string {
  if (tags.size === 0) return 'this item may carry no tags';
  const names = [...tags].map(tagName);
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0];
  return `this item may carry only tag${names.length > 1 ? 's' : ''} ${list}, around the whole of it`;
}

class Scan {
  private position = 0;
  private items = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
    private readonly tags: ReadonlySet<number>,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): void {
    if (this.bytes.length === 0) this.fail('no bytes');
    this.item(0, true);
    const rest = this.bytes.length - this.position;
    if (rest > 0) this.fail(`${rest === 1 ? '1 byte follows' : `${rest} bytes follow`} the end of its item at byte ${this.position}`);
  }

  private fail(reason: string): never {
    throw new CredentialError('cose', `${this.what} is not well-formed CBOR: ${reason}`);
  }

  private refuse(reason: string): never {
    throw new CredentialError('cose', `${this.what}: ${reason}`);
  }

  private need(count: number, at: number): void {
    if (count > this.bytes.length - this.position) this.fail(`item at byte ${at} runs past the end of the data`);
  }

  /**
   * The argument of a head (RFC 8949 §3): the value itself for 0–23, else
   * the 1, 2, 4 or 8 bytes that follow (for floats, their bits). An 8-byte
   * argument beyond 2^53 is returned as a bigint: as a length it is always
   * too long, as a tag number never allowed.
   */
  private argument(info: number, at: number): number | bigint {
    if (info < 24) return info;
    const view = this.view;
    const width = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (width === 0) this.fail(`additional information ${info} at byte ${at} is reserved`);
    this.need(width, at);
    const p = this.position;
    this.position += width;
    if (width === 1) return view.getUint8(p);
    if (width === 2) return view.getUint16(p);
    if (width === 4) return view.getUint32(p);
    const wide = view.getBigUint64(p);
    return wide <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(wide) : wide;
  }

  private length(value: number | bigint, at: number): number {
    const remaining = this.bytes.length - this.position;
    if (typeof value === 'bigint' || value > remaining) this.fail(`item at byte ${at} runs past the end of the data`);
    return value;
  }

  /** @param top true while every enclosing item is a tag: the only place tags are allowed. */
  private item(depth: number, top: boolean): void {
    const at = this.position;
    if (at >= this.bytes.length) this.fail(`data ends at byte ${at} where an item should start`);
    if (++this.items > MAX_CBOR_ITEMS) this.refuse(`more than ${MAX_CBOR_ITEMS} CBOR items`);
    const initial = this.bytes[this.position++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;

    if (info === 31) {
      this.indefinite(major, depth, at);
      return;
    }
    const argument = this.argument(info, at);
    switch (major) {
      case 0:
      case 1:
        return;
      case 2:
      case 3:
        this.position += this.length(argument, at);
        return;
      case 4: {
        const count = this.length(argument, at);
        this.enter(depth, at);
        for (let i = 0; i < count; i++) this.item(depth + 1, false);
        return;
      }
      case 5: {
        // Each pair takes at least two bytes.
        const count = this.length(typeof argument === 'bigint' ? argument : argument * 2, at) / 2;
        this.enter(depth, at);
        for (let i = 0; i < count * 2; i++) this.item(depth + 1, false);
        return;
      }
      case 6:
        if (typeof argument === 'bigint' || !this.tags.has(argument)) {
          this.refuse(`CBOR tag ${tagName(argument)} at byte ${at} is not allowed: ${allowedTags(this.tags)}`);
        }
        if (!top) this.refuse(`CBOR tag ${tagName(argument)} at byte ${at} is not allowed inside the item: ${allowedTags(this.tags)}`);
        this.enter(depth, at);
        this.item(depth + 1, true);
        return;
      default:
        // Major type 7: false, true, null, undefined and floats. The unassigned simple
        // values (0–19, and one-byte ones) mean nothing to either profile.
        if (info < 20 || info === 24) this.refuse(`CBOR simple value at byte ${at} is not one the profiles use`);
        return;
    }
  }

  private enter(depth: number, at: number): void {
    if (depth + 1 > MAX_CBOR_DEPTH) this.refuse(`CBOR nesting deeper than ${MAX_CBOR_DEPTH} levels at byte ${at}`);
  }

  /** Indefinite-length arrays and maps (RFC 8949 §3.2.2) end at a break byte. */
  private indefinite(major: number, depth: number, at: number): void {
    if (major === 2 || major === 3) {
      // Well-formed, but cbor-x does not read chunked strings, and no profile writes them.
      this.refuse(`indefinite-length ${major === 2 ? 'byte' : 'text'} string at byte ${at} is not accepted`);
    }
    if (major !== 4 && major !== 5) {
      this.fail(major === 7 ? `break at byte ${at} outside an indefinite-length item` : `major type ${major} at byte ${at} cannot have an indefinite length`);
    }
    this.enter(depth, at);
    for (let count = 0; ; count++) {
      if (this.position >= this.bytes.length) this.fail(`indefinite-length item at byte ${at} has no break`);
      if (this.bytes[this.position] === 0xff) {
        if (major === 5 && count % 2 === 1) this.fail(`map at byte ${at} ends after a key with no value`);
        this.position++;
        return;
      }
      this.item(depth + 1, false);
    }
  }
}

/**
 * Refuse `bytes` unless they are one well-formed item within the limits (see
 * the top of this file), as a `cose` failure naming `what` and the reason.
 * @param tags the tags allowed, and only around the whole item
 */
export function checkCbor(bytes: Uint8Array, what: string, tags: ReadonlySet<number>): void {
  new Scan(bytes, what, tags).run();
}

/** checkCbor, then cbor-x's decoding. */
export function decodeCbor(bytes: Uint8Array, what: string, tags: ReadonlySet<number>): unknown {
  checkCbor(bytes, what, tags);
  try {
    return cborDecoder.decode(bytes);
  } catch (error) {
    throw new CredentialError('cose', `${what} is not well-formed CBOR: ${(error as Error).message}`);
  }
}
