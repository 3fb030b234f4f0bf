/**
 * What an ID-card reader's byte stream is cut into: ID numbers, or errors a
 * person can act on. One parser per wire protocol (line.ts, sam.ts), picked
 * by the config's `protocol`; a reader speaking something else needs one
 * more class implementing IdCardFrameParser, nothing in the driver.
 *
 * No error message may carry the number: a message goes to the log and to
 * the centre as a fault, where an ID number must never be (rules §6).
 * Messages give lengths and positions, never characters of what was read.
 */

export type IdCardFrameErrorCode =
  /** line: not 18 characters. */
  | 'length'
  /** line or sam: 18 characters, but not 17 digits and a digit or X. */
  | 'characters'
  /** line: longer than any ID line, dropped as it arrived. */
  | 'overlong'
  /** line: bytes went quiet without a delimiter (the reader's ending is set otherwise). */
  | 'no-delimiter'
  /** sam: bytes outside any frame, skipped to the next preamble. */
  | 'garbage'
  /** sam: declared length too short to hold a reply, or above the cap. */
  | 'frame-length'
  | 'checksum'
  /** sam: the frame stopped early (a new preamble inside it, or the line went quiet). */
  | 'truncated'
  /** sam: the module reported a failure in SW1 SW2 SW3. */
  | 'status'
  /** sam: a success reply that is not a readable basic-information block. */
  | 'layout';

export type IdCardFrame = { nationalId: string } | { error: string; code: IdCardFrameErrorCode };

export interface IdCardFrameParser {
  /** Bytes as they arrive, in any chunking; returns what they completed, in order. Must not keep `chunk`: the driver wipes it once push() returns. */
  push(chunk: Buffer): IdCardFrame[];
  /** The line went quiet or the port closed: whatever is held is reported cut short and dropped; what comes next is read afresh. */
  flush(): IdCardFrame[];
  /** Drops whatever is held, reporting nothing. */
  reset(): void;
  /** Bytes held while waiting for the rest of a frame. */
  readonly buffered: number;
}

export type IdCardProtocol = 'line' | 'sam';

export function frameError(code: IdCardFrameErrorCode, error: string): IdCardFrame {
  return { error, code };
}

/**
 * The shape of a resident ID number (GB 11643-1999 §4: 17 digits and a check
 * character, a digit or X). Only the shape: the check character and the
 * birth date are the lane's to verify (protocol/privacy/national-id.ts).
 */
export function idNumberFrame(text: string, what: string): IdCardFrame {
  // Counted and checked as read: upper-casing first would turn one "ß" into "SS" and miscount.
  const characters = [...text];
  // Errors give lengths and positions only: no part of what was read, which may be most of a number.
  if (characters.length !== 18) return frameError('length', `${what} has ${characters.length} characters, an ID number has 18`);
  const bad = characters.findIndex((c, i) => !(/[0-9]/.test(c) || (i === 17 && (c === 'X' || c === 'x'))));
  if (bad !== -1) {
    const expected = bad === 17 ? 'a digit or X' : 'a digit';
    return frameError('characters', `${what} has something other than ${expected} at position ${bad + 1}`);
  }
  return { nationalId: text.toUpperCase() };
}
