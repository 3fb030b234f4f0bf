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
 * address and photo never outlive push() (data minimisation, rules.md §6).
 *
 * Resynchronising: bytes before a preamble are skipped; a frame with a bad
 * length or checksum is skipped by one byte only, so a good frame that began
 * inside a cut-short one is still found. One error is reported per loss of
 * step, which ends at the next good frame or when the line goes quiet.
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
        break;
      }
      this.skip(start - at, out);
      at = start;
      if (data.length - at < HEADER_BYTES) break;
      const length = data.readUInt16BE(at + SAM_PREAMBLE.length);
      if (!plausibleLength(length)) {
        this.lost(out, frameError('frame-length', `frame declares ${length} bytes; a reply has ${MIN_LENGTH} to ${SAM_MAX_LENGTH}`));
        at += 1;
        continue;
      }
      const end = at + HEADER_BYTES + length;
      if (data.length < end) break;
      const frame = data.subarray(at, end);
      const sum = frame[frame.length - 1]!;
      const xor = xorOf(frame.subarray(SAM_PREAMBLE.length, frame.length - 1));
      if (sum !== xor) {
        this.lost(
          out,
          frameStartsInside(frame)
            ? frameError('truncated', `frame cut short: a new frame began inside its ${length} declared bytes`)
            : frameError('checksum', `checksum ${hex(sum)} does not match ${hex(xor)}, the XOR of the frame`),
        );
        at += 1;
        continue;
      }
      this.resyncing = false;
      const result = readReply(frame.subarray(HEADER_BYTES, frame.length - 1));
      if (result) out.push(result);
      at = end;
    }
    this.pending = Buffer.from(data.subarray(at));
    data.fill(0);
    return out;
  }

  flush(): IdCardFrame[] {
    const out: IdCardFrame[] = [];
    // What is held begins with a preamble that never got its frame; a whole frame may still follow inside it.
    while (this.pending.length > 0) {
      const held = this.pending.length;
      const declared = held >= HEADER_BYTES ? ` of ${HEADER_BYTES + this.pending.readUInt16BE(SAM_PREAMBLE.length)}` : '';
      out.push(frameError('truncated', `frame cut short: ${held}${declared} bytes arrived`));
      const rest = this.pending.subarray(1);
      const cut = this.pending;
      this.pending = Buffer.alloc(0);
      this.resyncing = true;
      out.push(...this.push(rest));
      cut.fill(0);
    }
    this.reset();
    return out;
  }

  reset(): void {
    this.pending.fill(0);
    this.pending = Buffer.alloc(0);
    this.resyncing = false;
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
  if (textBytes < ID_FIELD_END) return frameError('layout', `text block of ${textBytes} bytes is too short to hold the ID number field`);
  const field = data.subarray(textAt + ID_FIELD_AT, textAt + ID_FIELD_END);
  // Space padded; some modules pad with NUL.
  return idNumberFrame(field.toString('utf16le').replace(/^[\s\0]+|[\s\0]+$/g, ''), 'ID number field');
}

function plausibleLength(length: number): boolean {
  return length >= MIN_LENGTH && length <= SAM_MAX_LENGTH;
}

/**
 * A preamble with a plausible length inside a frame whose checksum failed:
 * the frame was most likely cut short and a new one sent. (A photo holds
 * any bytes, so this only names the error; the parse never depends on it.)
 */
function frameStartsInside(frame: Buffer): boolean {
  for (let at = frame.indexOf(SAM_PREAMBLE, 1); at !== -1; at = frame.indexOf(SAM_PREAMBLE, at + 1)) {
    if (at + HEADER_BYTES <= frame.length && plausibleLength(frame.readUInt16BE(at + SAM_PREAMBLE.length))) return true;
  }
  return false;
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
