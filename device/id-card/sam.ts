/**
 * The `sam` protocol: frames of the ID-card SAM module (the reader module
 * built on the Ministry of Public Security's secure access module; interface
 * in GA 467, serial framing in the modules' "SAM 通讯协议"), as a reader in
 * auto-read mode sends them after each swipe. A reply frame is
 *
 *   AA AA AA 96 69 | Len1 Len2 | SW1 SW2 SW3 | data | CHK_SUM
 *
 * Len (big-endian) counts SW1 through CHK_SUM; CHK_SUM is the XOR of every
 * byte from Len1 to the last data byte. SW = 00 00 90 is success. The reply
 * to "read basic information" (30 01) carries: text length (2 bytes, BE,
 * 256), photo length (2, 1024), [fingerprint length (2) on firmwares that
 * add the fingerprint, 30 10], the text block, the photo, [the fingerprint].
 * The text block is UCS-2 little-endian in fixed fields: name 30 bytes,
 * sex 2, nation 4, birth date 16, address 70, ID number 36, issuing
 * authority 30, valid from 16, valid to 16, reserved 36.
 *
 * Only the ID number field is decoded. The frame is parsed in a buffer this
 * parser owns and that buffer is zero-filled once parsed, so the name,
 * address and photo never outlive push() (data minimisation, rules §6).
 *
 * Finding frames: bytes before a preamble are skipped. A frame is read only
 * when all of these hold, and otherwise dropped by one byte, so that a good
 * frame that began inside it is still found:
 * - its length is one a reply can have (MIN_LENGTH to SAM_MAX_LENGTH);
 * - no frame header (a preamble and such a length) begins inside its
 *   declared bytes: a frame cut short is followed by the next one, and the
 *   8-bit checksum alone would let one cut frame in 256 pass and swallow its
 *   successor. So a frame whose last bytes could begin a header is held
 *   until the next bytes (at most 6) or flush() settle it;
 * - its checksum holds;
 * - its content has the documented layout (a status, or basic information
 *   of a 256-byte text block and a 1,024-byte photo whose lengths add up).
 * The cost: a photo holding, by chance, a preamble and a plausible length
 * (about one frame in 10^10) loses its swipe, and the person swipes again.
 * One error is reported per loss of step, which ends at the next good frame
 * or when the line goes quiet.
 */
import { frameError, idNumberFrame, type IdCardFrame, type IdCardFrameParser } from './frame-parser.js';

export const SAM_PREAMBLE = Buffer.from([0xaa, 0xaa, 0xaa, 0x96, 0x69]);
/** Preamble and the two length bytes. */
const HEADER_BYTES = SAM_PREAMBLE.length + 2;
/** SW1 SW2 SW3 and the checksum: the shortest reply. */
const MIN_LENGTH = 4;
/** The longest reply expected, basic information with fingerprint: 3 + 6 + 256 + 1024 + 1024 + 1 = 2314. */
export const SAM_MAX_LENGTH = 2400;

/** Text-block field sizes in bytes, in order (UCS-2LE, space padded). */
export const SAM_TEXT_FIELDS = [
  ['name', 30],
  ['sex', 2],
  ['nation', 4],
  ['birthDate', 16],
  ['address', 70],
  ['idNumber', 36],
  ['authority', 30],
  ['validFrom', 16],
  ['validTo', 16],
  ['reserved', 36],
] as const;
const TEXT_BYTES = SAM_TEXT_FIELDS.reduce((sum, [, bytes]) => sum + bytes, 0);
const PHOTO_BYTES = 1024;
const ID_FIELD_AT = 30 + 2 + 4 + 16 + 70;
const ID_FIELD_END = ID_FIELD_AT + 36;

/** SW3 of the replies that carry no card data: "card found" answers a find, not a read. */
const SW3_CARD_FOUND = 0x9f;
const SW3_OK = 0x90;
/** What SW3 means when it reports a failure (SAM 通讯协议, status table). */
const SW3_MEANING: Record<number, string> = {
  0x10: 'checksum of the command wrong',
  0x11: 'length of the command wrong',
  0x21: 'command not understood',
  0x23: 'operation not permitted',
  0x24: 'unknown error',
  0x31: 'card failed to authenticate the reader',
  0x32: 'reader failed to authenticate the card',
  0x33: 'information check failed',
  0x40: 'not a resident ID card',
  0x41: 'reading the card failed',
  0x47: 'getting a random number failed',
  0x60: 'module self-test failed',
  0x66: 'module not authorised',
  0x80: 'no card found',
  0x81: 'selecting the card failed',
};

const hex = (byte: number): string => byte.toString(16).padStart(2, '0').toUpperCase();

export class SamFrameParser implements IdCardFrameParser {
  private pending = Buffer.alloc(0);
  /** Out of step since an error: what fails before the next good frame (or flush()) is the same loss, not reported again. */
  private resyncing = false;

  get buffered(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): IdCardFrame[] {
    return this.scan(chunk, false);
  }

  flush(): IdCardFrame[] {
    // The quiet line is news: what it cut is reported even while out of step.
    this.resyncing = false;
    const out = this.scan(Buffer.alloc(0), true);
    this.reset();
    return out;
  }

  reset(): void {
    this.pending.fill(0);
    this.pending = Buffer.alloc(0);
    this.resyncing = false;
  }

  /** Cuts what is held and chunk into frames. `final`: no more bytes will come, so nothing is held for them. */
  private scan(chunk: Buffer, final: boolean): IdCardFrame[] {
    const out: IdCardFrame[] = [];
    // Our own copy (concat always copies): it can be wiped when done, and chunks are views of serialport's read pool.
    const data = Buffer.concat([this.pending, chunk]);
    this.pending.fill(0);
    let at = 0;
    for (;;) {
      const start = data.indexOf(SAM_PREAMBLE, at);
      if (start === -1) {
        const keep = preamblePrefixAtEnd(data, at);
        this.skip(data.length - keep - at, out);
        at = data.length - keep;
        if (final && keep > 0) {
          this.lost(out, frameError('truncated', `frame cut short: ${keep} bytes arrived`));
          at = data.length;
        }
        break;
      }
      this.skip(start - at, out);
      at = start;
      const held = data.length - at;
      if (held < HEADER_BYTES) {
        if (!final) break;
        this.lost(out, frameError('truncated', `frame cut short: ${held} bytes arrived`));
        at += 1;
        continue;
      }
      const length = data.readUInt16BE(at + SAM_PREAMBLE.length);
      if (!plausibleLength(length)) {
        this.lost(out, frameError('frame-length', `frame declares ${length} bytes; a reply has ${MIN_LENGTH} to ${SAM_MAX_LENGTH}`));
        at += 1;
        continue;
      }
      const end = at + HEADER_BYTES + length;
      // Looked for before the frame is whole: a claim holding a real header is dropped as soon as that header arrives.
      const inside = headerInside(data, at, end, final);
      if (inside === 'header') {
        this.lost(out, frameError('truncated', `frame cut short: a new frame began inside its ${length} declared bytes`));
        at += 1;
        continue;
      }
      if (data.length < end) {
        if (!final) break;
        this.lost(out, frameError('truncated', `frame cut short: ${held} of ${end - at} bytes arrived`));
        at += 1;
        continue;
      }
      if (inside === 'maybe') break;
      const frame = data.subarray(at, end);
      const sum = frame[frame.length - 1]!;
      const xor = xorOf(frame.subarray(SAM_PREAMBLE.length, frame.length - 1));
      if (sum !== xor) {
        this.lost(out, frameError('checksum', `checksum ${hex(sum)} does not match ${hex(xor)}, the XOR of the frame`));
        at += 1;
        continue;
      }
      const result = readReply(frame.subarray(HEADER_BYTES, frame.length - 1));
      if (result && 'code' in result && result.code === 'layout') {
        // Not the documented structure: most likely not a frame at all, however its checksum came out.
        this.lost(out, result);
        at += 1;
        continue;
      }
      this.resyncing = false;
      if (result) out.push(result);
      at = end;
    }
    this.pending = Buffer.from(data.subarray(at));
    data.fill(0);
    return out;
  }

  private skip(bytes: number, out: IdCardFrame[]): void {
    if (bytes > 0) this.lost(out, frameError('garbage', `${bytes} bytes outside any frame: skipping to the next preamble`));
  }

  /** Out of step: reported once; what fails while looking for the next good frame is the same loss. */
  private lost(out: IdCardFrame[], error: IdCardFrame): void {
    if (!this.resyncing) out.push(error);
    this.resyncing = true;
  }
}

/** SW1 SW2 SW3 and the data of a frame whose checksum holds. Null for a reply that carries no card. */
function readReply(reply: Buffer): IdCardFrame | null {
  const [sw1, sw2, sw3] = [reply[0]!, reply[1]!, reply[2]!];
  if (sw1 === 0 && sw2 === 0 && sw3 === SW3_CARD_FOUND) return null;
  if (sw1 !== 0 || sw2 !== 0 || sw3 !== SW3_OK) {
    const meaning = SW3_MEANING[sw3] ?? 'unknown status';
    return frameError('status', `reader replied SW ${hex(sw1)} ${hex(sw2)} ${hex(sw3)}: ${meaning}`);
  }
  return readBasicInformation(reply.subarray(3));
}

/** The ID number field of a basic-information reply; the other fields are never decoded. */
function readBasicInformation(data: Buffer): IdCardFrame {
  if (data.length < 4) return frameError('layout', `success reply with ${data.length} data bytes is not basic information`);
  const textBytes = data.readUInt16BE(0);
  const photoBytes = data.readUInt16BE(2);
  let textAt: number;
  if (4 + textBytes + photoBytes === data.length) textAt = 4;
  else if (data.length >= 6 && 6 + textBytes + photoBytes + data.readUInt16BE(4) === data.length) textAt = 6; // with fingerprint
  else return frameError('layout', `text (${textBytes}) and photo (${photoBytes}) lengths do not add up to the reply's ${data.length} data bytes`);
  if (textBytes !== TEXT_BYTES) return frameError('layout', `text block of ${textBytes} bytes; basic information has ${TEXT_BYTES}`);
  if (photoBytes !== PHOTO_BYTES) return frameError('layout', `photo of ${photoBytes} bytes; basic information has ${PHOTO_BYTES}`);
  const field = data.subarray(textAt + ID_FIELD_AT, textAt + ID_FIELD_END);
  // Space padded; some modules pad with NUL.
  return idNumberFrame(field.toString('utf16le').replace(/^[\s\0]+|[\s\0]+$/g, ''), 'ID number field');
}

function plausibleLength(length: number): boolean {
  return length >= MIN_LENGTH && length <= SAM_MAX_LENGTH;
}

/**
 * Whether a frame header begins inside data[at+1..end): 'header' when one
 * does, 'maybe' when the last bytes held could begin one (only when more
 * bytes may come), else 'none'.
 */
function headerInside(data: Buffer, at: number, end: number, final: boolean): 'header' | 'maybe' | 'none' {
  const stop = Math.min(end, data.length);
  for (let q = data.indexOf(SAM_PREAMBLE, at + 1); q !== -1 && q < stop; q = data.indexOf(SAM_PREAMBLE, q + 1)) {
    if (q + HEADER_BYTES <= data.length) {
      if (plausibleLength(data.readUInt16BE(q + SAM_PREAMBLE.length))) return 'header';
    } else if (!final && (q + SAM_PREAMBLE.length === data.length || data[q + SAM_PREAMBLE.length]! <= (SAM_MAX_LENGTH >> 8))) {
      // A preamble and none or one of its length bytes: a later q cannot be a whole header either.
      return 'maybe';
    }
  }
  if (final) return 'none';
  const keep = preamblePrefixAtEnd(data, at + 1);
  return keep > 0 && data.length - keep < end ? 'maybe' : 'none';
}

function xorOf(bytes: Buffer): number {
  let x = 0;
  for (const byte of bytes) x ^= byte;
  return x;
}

/** How many bytes at the end of data[from..] could begin a preamble (AA, AA AA, AA AA AA, AA AA AA 96). */
function preamblePrefixAtEnd(data: Buffer, from: number): number {
  for (let n = Math.min(SAM_PREAMBLE.length - 1, data.length - from); n > 0; n--) {
    if (data.subarray(data.length - n).equals(SAM_PREAMBLE.subarray(0, n))) return n;
  }
  return 0;
}
