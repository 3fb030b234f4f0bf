/**
 * The ID-card frame parsers, byte by byte: the `line` protocol (a number and
 * a line ending) and the `sam` protocol (the SAM module's reply frames, built
 * by the simulator's reader and pinned to the vendor's published header).
 * Every error path asserts its code, its message, and that the number is not
 * in the message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkNationalId } from '../../protocol/privacy/national-id.js';
import type { IdCardFrame, IdCardFrameParser } from '../../device/id-card/frame-parser.js';
import { LineFrameParser } from '../../device/id-card/line.js';
import { SAM_MAX_LENGTH, SAM_PREAMBLE, SamFrameParser } from '../../device/id-card/sam.js';
import { createIdCardFrameParser } from '../../device/id-card/serial-id-card-reader.js';
import { samBasicInfoFrame, samFrame, samTextBlock } from '../../simulator/hardware/virtual-id-card-reader.js';

// GB 11643-1999 §8.2: weights 2^(17-i) mod 11; remainder → check character.
function withCheck(first17: string): string {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((acc, digit, i) => acc + Number(digit) * weights[i]!, 0);
  return first17 + '10X98765432'[sum % 11]!;
}

const ID = withCheck('11010119900307123');
const ID2 = withCheck('44030419851120004');
// A number whose check character is X.
const ID_X = (() => {
  for (let seq = 0; seq < 1000; seq++) {
    const id = withCheck(`31011519780601${String(seq).padStart(3, '0')}`);
    if (id.endsWith('X')) return id;
  }
  throw new Error('no X check character found');
})();

test('test numbers are valid by GB 11643 (protocol/privacy/national-id.ts)', () => {
  for (const id of [ID, ID2, ID_X]) assert.equal(checkNationalId(id).ok, true, 'a test number is not valid');
  assert.ok(ID_X.endsWith('X'));
});

const ids = (frames: IdCardFrame[]): string[] => frames.flatMap((f) => ('nationalId' in f ? [f.nationalId] : []));
const errors = (frames: IdCardFrame[]) => frames.flatMap((f) => ('error' in f ? [f] : []));

/** Feeds one byte at a time; returns everything produced. */
function byteByByte(parser: IdCardFrameParser, bytes: Buffer): IdCardFrame[] {
  const out: IdCardFrame[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...parser.push(bytes.subarray(i, i + 1)));
  return out;
}

/** No message may carry a number: neither the ones the test used nor any 17-digit run. */
function assertNoNumber(frames: IdCardFrame[], ...numbers: string[]): void {
  for (const e of errors(frames)) {
    for (const n of [ID, ID2, ID_X, ...numbers]) assert.ok(!e.error.includes(n) && !e.error.includes(n.slice(0, 17)), `number leaked in "${e.error}"`);
    // Lengths and positions only: no run of what was read, not even a masked one.
    assert.doesNotMatch(e.error, /\d{6}|\*/, `part of a number in "${e.error}"`);
  }
}

function onlyError(frames: IdCardFrame[], code: string, message: RegExp): void {
  const found = errors(frames);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0]!.code, code);
  assert.match(found[0]!.error, message);
  assertNoNumber(frames);
}

// ---- line -----------------------------------------------------------------------

test('line: a number and its ending, for each delimiter', () => {
  for (const [delimiter, ending] of [['CR', '\r'], ['LF', '\n'], ['CRLF', '\r\n']] as const) {
    const parser = new LineFrameParser(delimiter);
    assert.deepEqual(parser.push(Buffer.from(`${ID}${ending}`)), [{ nationalId: ID }]);
    assert.equal(parser.buffered, 0);
  }
});

test('line: surrounding whitespace ignored, a lower-case x read as X, empty lines skipped', () => {
  const parser = new LineFrameParser('CRLF');
  const frames = parser.push(Buffer.from(`  ${ID}\t \r\n\r\n   \r\n${ID_X.toLowerCase()}\r\n`));
  assert.deepEqual(frames, [{ nationalId: ID }, { nationalId: ID_X }]);
});

test('line: two numbers in one chunk, and one byte at a time', () => {
  const bytes = Buffer.from(`${ID}\r\n${ID2}\r\n`);
  assert.deepEqual(ids(new LineFrameParser().push(bytes)), [ID, ID2]);
  assert.deepEqual(byteByByte(new LineFrameParser(), bytes), [{ nationalId: ID }, { nationalId: ID2 }]);
});

test('line: a reader ending lines otherwise than configured still reads (CRLF read as LF, and as CR)', () => {
  const bytes = Buffer.from(`${ID}\r\n${ID2}\r\n`);
  assert.deepEqual(ids(new LineFrameParser('LF').push(bytes)), [ID, ID2]);
  const cr = new LineFrameParser('CR');
  assert.deepEqual(ids(cr.push(bytes)), [ID, ID2]);
  assert.deepEqual(cr.flush(), [], 'the LF left of the last CRLF is no line');
});

test('line: wrong length is an error naming the length, never the number', () => {
  const short = new LineFrameParser().push(Buffer.from(`${ID.slice(0, 17)}\r\n`));
  onlyError(short, 'length', /has 17 characters, an ID number has 18/);
  const long = new LineFrameParser().push(Buffer.from(`${ID}9\r\n`));
  onlyError(long, 'length', /has 19 characters/);
  const tiny = new LineFrameParser().push(Buffer.from('12ab\r\n'));
  onlyError(tiny, 'length', /has 4 characters/);
});

test('line: a character that is not a digit is an error naming its position, never the number', () => {
  const letter = `${ID.slice(0, 8)}A${ID.slice(9)}`;
  const frames = new LineFrameParser().push(Buffer.from(`${letter}\r\n`));
  onlyError(frames, 'characters', /other than a digit at position 9/);
  assert.ok(!errors(frames)[0]!.error.includes(letter));
  const badLast = `${ID.slice(0, 17)}Y`;
  onlyError(new LineFrameParser().push(Buffer.from(`${badLast}\r\n`)), 'characters', /other than a digit or X at position 18/);
  // Checked as read, not upper-cased first: the byte 0xDF (latin1 "ß") would become "SS", a line of 18 characters one of 19.
  const sharpS = `${ID.slice(0, 10)}ß${ID.slice(11)}`;
  onlyError(new LineFrameParser().push(Buffer.from(`${sharpS}\r\n`, 'latin1')), 'characters', /other than a digit at position 11/);
});

test('line: an over-long line is dropped as it arrives, then the next number is read', () => {
  const parser = new LineFrameParser();
  const frames = [...parser.push(Buffer.from(ID.repeat(5))), ...parser.push(Buffer.from(`${ID}\r\n${ID2}\r\n`))];
  assert.ok(parser.buffered <= 65);
  assert.deepEqual(ids(frames), [ID2]);
  onlyError(frames, 'overlong', /longer than 64 bytes dropped/);
});

test('line: bytes that never see their ending are reported by flush() as a delimiter problem', () => {
  const parser = new LineFrameParser('CRLF');
  assert.deepEqual(parser.push(Buffer.from(`${ID}\r`)), []);
  const flushed = parser.flush();
  onlyError(flushed, 'no-delimiter', /19 bytes without a CRLF ending/);
  assert.equal(parser.buffered, 0);
  assert.deepEqual(parser.push(Buffer.from(`${ID2}\r\n`)), [{ nationalId: ID2 }]);
});

test('line: reset() drops a half line', () => {
  const parser = new LineFrameParser();
  parser.push(Buffer.from(ID.slice(0, 10)));
  parser.reset();
  assert.equal(parser.buffered, 0);
  assert.deepEqual(parser.push(Buffer.from(`${ID2}\r\n`)), [{ nationalId: ID2 }]);
});

// ---- sam: the frames ----------------------------------------------------------------

test('sam: the simulator builds the header the vendor documents (AA AA AA 96 69 05 08 00 00 90 01 00 04 00)', () => {
  const frame = samBasicInfoFrame({ nationalId: ID });
  assert.deepEqual([...frame.subarray(0, 14)], [0xaa, 0xaa, 0xaa, 0x96, 0x69, 0x05, 0x08, 0x00, 0x00, 0x90, 0x01, 0x00, 0x04, 0x00]);
  assert.equal(frame.length, 7 + 0x0508);
  let xor = 0;
  for (const byte of frame.subarray(5, -1)) xor ^= byte;
  assert.equal(frame[frame.length - 1], xor);
  const text = samTextBlock({ nationalId: ID, name: '王美娜' });
  assert.equal(text.length, 256);
  assert.equal(text.subarray(0, 6).toString('utf16le'), '王美娜');
  assert.equal(text.subarray(122, 158).toString('utf16le'), ID);
});

test('sam: a basic-information reply yields the number and nothing else', () => {
  const parser = new SamFrameParser();
  const card = { nationalId: ID, name: '王美娜', address: '广东省广州市天河区体育西路1号' };
  const chunk = samBasicInfoFrame(card);
  const copy = Buffer.from(chunk);
  const frames = parser.push(chunk);
  assert.deepEqual(frames, [{ nationalId: ID }]);
  assert.equal(parser.buffered, 0, 'nothing of the frame is kept');
  assert.deepEqual(chunk, copy, "the caller's chunk is not touched");
  const out = JSON.stringify(frames);
  assert.ok(!out.includes('王') && !out.includes('广东'));
});

test('sam: the fingerprint layout (three lengths) and an X check character', () => {
  assert.deepEqual(new SamFrameParser().push(samBasicInfoFrame({ nationalId: ID_X }, { fingerprint: true })), [{ nationalId: ID_X }]);
});

test('sam: one byte at a time, and two frames in one chunk', () => {
  const one = samBasicInfoFrame({ nationalId: ID });
  const two = samBasicInfoFrame({ nationalId: ID2 });
  const parser = new SamFrameParser();
  assert.deepEqual(byteByByte(parser, Buffer.concat([one, two])), [{ nationalId: ID }, { nationalId: ID2 }]);
  assert.deepEqual(new SamFrameParser().push(Buffer.concat([one, two])), [{ nationalId: ID }, { nationalId: ID2 }]);
  // A frame's end and the next frame's start in one chunk.
  const split = new SamFrameParser();
  const both = Buffer.concat([one, two]);
  assert.deepEqual([...split.push(both.subarray(0, 1000)), ...split.push(both.subarray(1000, 1400)), ...split.push(both.subarray(1400))], [
    { nationalId: ID },
    { nationalId: ID2 },
  ]);
});

test('sam: garbage between frames is one error, then the parser resynchronises on the next preamble', () => {
  const garbage = Buffer.from([0x13, 0x37, 0xaa, 0xaa, 0x96, 0x69, 0x00, 0xaa, 0xaa]);
  const bytes = Buffer.concat([garbage, samBasicInfoFrame({ nationalId: ID }), garbage, garbage, samBasicInfoFrame({ nationalId: ID2 })]);
  for (const frames of [new SamFrameParser().push(bytes), byteByByte(new SamFrameParser(), bytes)]) {
    assert.deepEqual(ids(frames), [ID, ID2]);
    assert.deepEqual(
      errors(frames).map((e) => e.code),
      ['garbage', 'garbage'],
    );
    assert.match(errors(frames)[0]!.error, /outside any frame: skipping to the next preamble/);
    assertNoNumber(frames);
  }
});

test('sam: garbage alone is reported once and nothing is kept but a possible preamble start', () => {
  const parser = new SamFrameParser();
  const frames = [...parser.push(Buffer.alloc(5000, 0x55)), ...parser.push(Buffer.from([0x01, 0xaa, 0xaa]))];
  onlyError(frames, 'garbage', /5000 bytes outside any frame/);
  assert.equal(parser.buffered, 2);
});

test('sam: errors while out of step are one loss; after flush() (the line went quiet) the next bad frame is reported anew', () => {
  const bad = samBasicInfoFrame({ nationalId: ID });
  bad[600] = bad[600]! ^ 0xff;
  const parser = new SamFrameParser();
  const first = [...parser.push(Buffer.from('noise')), ...parser.push(bad)];
  onlyError(first, 'garbage', /5 bytes outside any frame/);
  assert.deepEqual(parser.flush(), []);
  onlyError(parser.push(bad), 'checksum', /does not match/);
});

test('sam: a bad checksum is an error, and the next frame is read', () => {
  const bad = samBasicInfoFrame({ nationalId: ID });
  bad[600] = bad[600]! ^ 0xff;
  const frames = new SamFrameParser().push(Buffer.concat([bad, samBasicInfoFrame({ nationalId: ID2 })]));
  assert.deepEqual(ids(frames), [ID2]);
  onlyError(frames, 'checksum', /^checksum [0-9A-F]{2} does not match [0-9A-F]{2}, the XOR of the frame$/);
});

test('sam: a frame cut short by the next one is an error, and the next one is read', () => {
  const cut = samBasicInfoFrame({ nationalId: ID }).subarray(0, 300);
  const bytes = Buffer.concat([cut, samBasicInfoFrame({ nationalId: ID2 }), samBasicInfoFrame({ nationalId: ID_X })]);
  for (const frames of [new SamFrameParser().push(bytes), byteByByte(new SamFrameParser(), bytes)]) {
    assert.deepEqual(ids(frames), [ID2, ID_X]);
    onlyError(frames, 'truncated', /a new frame began inside its 1288 declared bytes/);
  }
});

test('sam: a frame cut short at the end is reported by flush()', () => {
  const parser = new SamFrameParser();
  assert.deepEqual(parser.push(samBasicInfoFrame({ nationalId: ID }).subarray(0, 300)), []);
  assert.equal(parser.buffered, 300);
  onlyError(parser.flush(), 'truncated', /frame cut short: 300 of 1295 bytes arrived/);
  assert.equal(parser.buffered, 0);
  assert.deepEqual(parser.flush(), []);
  assert.deepEqual(parser.push(samBasicInfoFrame({ nationalId: ID2 })), [{ nationalId: ID2 }]);
});

test('sam: a claim whose declared bytes hold the header of a frame is dropped when that header arrives; the frame is read without waiting', () => {
  // A garbage preamble claiming a long frame, then a real frame inside its claim.
  const claim = Buffer.from([0xaa, 0xaa, 0xaa, 0x96, 0x69, 0x09, 0x00]);
  const bytes = Buffer.concat([claim, samBasicInfoFrame({ nationalId: ID2 })]);
  for (const frames of [new SamFrameParser().push(bytes), byteByByte(new SamFrameParser(), bytes)]) {
    assert.deepEqual(ids(frames), [ID2]);
    onlyError(frames, 'truncated', /a new frame began inside its 2304 declared bytes/);
  }
});

test('sam: a length above the cap or below a reply is an error, never a wait for megabytes', () => {
  const parser = new SamFrameParser();
  const huge = Buffer.from([0xaa, 0xaa, 0xaa, 0x96, 0x69, 0xff, 0xff, 0x00, 0x00, 0x90]);
  const frames = parser.push(Buffer.concat([huge, samBasicInfoFrame({ nationalId: ID })]));
  assert.deepEqual(ids(frames), [ID]);
  onlyError(frames, 'frame-length', new RegExp(`declares 65535 bytes; a reply has 4 to ${SAM_MAX_LENGTH}`));
  const tiny = new SamFrameParser().push(Buffer.from([0xaa, 0xaa, 0xaa, 0x96, 0x69, 0x00, 0x02, 0x00, 0x00]));
  onlyError(tiny, 'frame-length', /declares 2 bytes/);
});

test('sam: a failure status from the module is an error naming it; "card found" is no event', () => {
  onlyError(new SamFrameParser().push(samFrame([0x00, 0x00, 0x41])), 'status', /SW 00 00 41: reading the card failed/);
  onlyError(new SamFrameParser().push(samFrame([0x00, 0x00, 0x80])), 'status', /no card found/);
  onlyError(new SamFrameParser().push(samFrame([0x12, 0x34, 0xee])), 'status', /SW 12 34 EE: unknown status/);
  assert.deepEqual(new SamFrameParser().push(samFrame([0x00, 0x00, 0x9f], Buffer.alloc(8))), []);
});

test('sam: a success reply that is not basic information is a layout error', () => {
  onlyError(new SamFrameParser().push(samFrame([0x00, 0x00, 0x90])), 'layout', /0 data bytes is not basic information/);
  const lying = Buffer.concat([Buffer.from([0x01, 0x00, 0x04, 0x00]), samTextBlock({ nationalId: ID }), Buffer.alloc(10)]);
  onlyError(new SamFrameParser().push(samFrame([0x00, 0x00, 0x90], lying)), 'layout', /text \(256\) and photo \(1024\) lengths do not add up to the reply's 270 data bytes/);
  const shortText = Buffer.concat([Buffer.from([0x00, 0x40, 0x00, 0x00]), Buffer.alloc(0x40)]);
  onlyError(new SamFrameParser().push(samFrame([0x00, 0x00, 0x90], shortText)), 'layout', /text block of 64 bytes; basic information has 256/);
  const smallPhoto = Buffer.concat([Buffer.from([0x01, 0x00, 0x00, 0x10]), samTextBlock({ nationalId: ID }), Buffer.alloc(16)]);
  onlyError(new SamFrameParser().push(samFrame([0x00, 0x00, 0x90], smallPhoto)), 'layout', /photo of 16 bytes; basic information has 1024/);
});

test('sam: an ID number field that is not a number is an error without the number', () => {
  const letters = `${ID.slice(0, 10)}ABC${ID.slice(13)}`;
  const frames = new SamFrameParser().push(samBasicInfoFrame({ nationalId: letters }));
  onlyError(frames, 'characters', /ID number field has something other than a digit at position 11/);
  assert.ok(!errors(frames)[0]!.error.includes(letters));
  onlyError(new SamFrameParser().push(samBasicInfoFrame({ nationalId: ID.slice(0, 15) })), 'length', /ID number field has 15 characters/);
});

test('sam: reset() drops a half frame', () => {
  const parser = new SamFrameParser();
  parser.push(samBasicInfoFrame({ nationalId: ID }).subarray(0, 700));
  parser.reset();
  assert.equal(parser.buffered, 0);
  assert.deepEqual(parser.flush(), []);
  assert.deepEqual(parser.push(samBasicInfoFrame({ nationalId: ID2 })), [{ nationalId: ID2 }]);
});

test('the protocol picks the parser', () => {
  assert.ok(createIdCardFrameParser('line') instanceof LineFrameParser);
  assert.ok(createIdCardFrameParser('sam') instanceof SamFrameParser);
  assert.throws(() => createIdCardFrameParser('wiegand' as 'line'), /unknown protocol wiegand/);
});

// ---- sam: a cut frame the checksum lets through ---------------------------------------
// A cut frame runs on into the next frame's bytes; its 8-bit XOR then holds for about one cut in 256.

/** Whether the checksum of the frame declared by the header at the start of bytes holds over them. */
function checksumHolds(bytes: Buffer): boolean {
  const end = 7 + bytes.readUInt16BE(5);
  if (bytes.length < end) return false;
  let xor = 0;
  for (let i = 5; i < end - 1; i++) xor ^= bytes[i]!;
  return xor === bytes[end - 1];
}

/** The first card (by name) and cut length in `cuts` for which card's cut frame and `next` pass the checksum. */
function passingCut(next: Buffer, cuts: (frameLength: number) => number[]): { cut: Buffer; name: string } {
  for (let seq = 0; seq < 4096; seq++) {
    // The name varies every byte of the XOR; the number stays ID.
    const name = String.fromCharCode(0x4e00 + seq, 0x4e00 + ((seq * 7919) % 4096));
    const whole = samBasicInfoFrame({ nationalId: ID, name });
    for (const length of cuts(whole.length)) {
      if (checksumHolds(Buffer.concat([whole.subarray(0, length), next]))) return { cut: whole.subarray(0, length), name };
    }
  }
  throw new Error('no passing cut found');
}

const ID_FIELD_END_IN_FRAME = 7 + 3 + 4 + 122 + 36;

test('sam: a cut frame that the next frame makes pass the checksum is dropped, never read, and the next frame is read', () => {
  const next = samBasicInfoFrame({ nationalId: ID2 });
  // Cut after the ID number field, so that the cut frame's own number would be read; the next header whole inside its claim.
  const { cut } = passingCut(next, (n) => Array.from({ length: n - 7 - ID_FIELD_END_IN_FRAME }, (_, i) => ID_FIELD_END_IN_FRAME + 1 + i));
  const bytes = Buffer.concat([cut, next]);
  assert.ok(checksumHolds(bytes), 'the cut frame passes the checksum');
  for (const frames of [new SamFrameParser().push(bytes), byteByByte(new SamFrameParser(), bytes)]) {
    assert.deepEqual(ids(frames), [ID2], 'the next frame is read, the cut one is not');
    onlyError(frames, 'truncated', /a new frame began inside its 1288 declared bytes/);
  }
});

test('sam: a cut frame missing only its last bytes, the next header straddling its end, is dropped too', () => {
  const next = samBasicInfoFrame({ nationalId: ID2 });
  // Cut 1 to 6 bytes short: the next frame's header begins inside the claim but ends after it.
  const { cut } = passingCut(next, (n) => [n - 1, n - 2, n - 3, n - 4, n - 5, n - 6]);
  const bytes = Buffer.concat([cut, next]);
  assert.ok(checksumHolds(bytes));
  for (const frames of [new SamFrameParser().push(bytes), byteByByte(new SamFrameParser(), bytes)]) {
    assert.deepEqual(ids(frames), [ID2]);
    onlyError(frames, 'truncated', /a new frame began inside its 1288 declared bytes/);
  }
});

test('sam: a whole frame whose last byte could begin a preamble is read once the next bytes show none began there, or when the line goes quiet', () => {
  let held: Buffer | undefined;
  for (let seq = 0; !held; seq++) {
    const frame = samBasicInfoFrame({ nationalId: ID, name: String.fromCharCode(0x4e00 + seq) });
    if (frame[frame.length - 1] === SAM_PREAMBLE[0]) held = frame;
  }
  const waits = new SamFrameParser();
  assert.deepEqual(waits.push(held), []);
  assert.equal(waits.buffered, held.length, 'held for the next bytes');
  assert.deepEqual(waits.push(samBasicInfoFrame({ nationalId: ID2 })), [{ nationalId: ID }, { nationalId: ID2 }]);
  const quiet = new SamFrameParser();
  assert.deepEqual(quiet.push(held), []);
  assert.deepEqual(quiet.flush(), [{ nationalId: ID }]);
  const garbage = new SamFrameParser().push(Buffer.concat([held, Buffer.from([0xaa, 0x01])]));
  assert.deepEqual(ids(garbage), [ID]);
  onlyError(garbage, 'garbage', /2 bytes outside any frame/);
  // The next bytes do begin a header there: the frame was cut, and is not read.
  const header = Buffer.from([0xaa, 0xaa, 0x96, 0x69, 0x00, 0x04]);
  const cut = new SamFrameParser().push(Buffer.concat([held, header]));
  onlyError(cut, 'truncated', /a new frame began inside its 1288 declared bytes/);
  assert.deepEqual(ids(cut), []);
});

// ---- sam: random streams ------------------------------------------------------------------
/*
 * Streams of good frames, frames cut short, false claims (a preamble and a
 * length, then fewer bytes than claimed) and garbage, cut into random chunks.
 * Every good frame is read once, in order, and nothing else; each run of
 * damage before a good frame is one error. What makes this a promise the
 * parser keeps, not a bet on the checksum:
 * - garbage and the names on the cards hold no 0x69, so they never complete
 *   a preamble, alone or with their neighbours;
 * - a cut frame or a false claim is followed at once by a frame header (of a
 *   good frame, or of a cut or claim of at least its 7 header bytes), or ends
 *   the stream; a cut of 1 to 6 bytes, too short for a whole header, comes
 *   only first in a run of damage.
 * A cut frame running into anything else is judged by its checksum alone.
 */
type Piece = { id?: string; bytes: Buffer };

const no69 = (bytes: Uint8Array): Buffer => Buffer.from(bytes.map((b) => (b === 0x69 ? 0x68 : b)));
const cardArb = fc.record({
  nationalId: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 17, maxLength: 17 }).map((d) => withCheck(d.join(''))),
  // CJK names, so that the checksum takes every value (and sometimes ends in AA, the hold path).
  name: fc.array(fc.integer({ min: 0x4e00, max: 0x9fff }).filter((c) => (c & 0xff) !== 0x69), { maxLength: 15 }).map((c) => String.fromCharCode(...c)),
  fingerprint: fc.boolean(),
});
const frameOf = (card: { nationalId: string; name: string; fingerprint: boolean }): Buffer =>
  samBasicInfoFrame({ nationalId: card.nationalId, name: card.name }, { fingerprint: card.fingerprint });
const goodArb = cardArb.map((card): Piece => ({ id: card.nationalId, bytes: frameOf(card) }));
const shortCutArb = fc.tuple(cardArb, fc.integer({ min: 1, max: 6 })).map(([card, n]): Piece => ({ bytes: frameOf(card).subarray(0, n) }));
const longCutArb = fc.tuple(cardArb, fc.nat()).map(([card, n]): Piece => {
  const whole = frameOf(card);
  return { bytes: whole.subarray(0, 7 + (n % (whole.length - 7))) };
});
const claimArb = fc.tuple(fc.integer({ min: 4, max: SAM_MAX_LENGTH }), fc.uint8Array({ maxLength: 64 })).map(([length, body]): Piece => {
  const header = Buffer.from([...SAM_PREAMBLE, length >> 8, length & 0xff]);
  return { bytes: Buffer.concat([header, no69(body.subarray(0, length - 1))]) };
});
const garbageArb = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes): Piece => ({ bytes: no69(bytes) }));
const damageArb = fc
  .tuple(fc.option(garbageArb), fc.option(shortCutArb), fc.array(fc.oneof(longCutArb, claimArb), { maxLength: 3 }))
  .map(([garbage, short, rest]) => [...(garbage ? [garbage] : []), ...(short ? [short] : []), ...rest]);
const streamArb = fc.tuple(fc.array(fc.tuple(damageArb, goodArb), { maxLength: 6 }), damageArb);

test('sam: random streams: every good frame is read once, in order, nothing else; one error per run of damage', () => {
  fc.assert(
    fc.property(streamArb, fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 20 }), ([runs, tail], chunks) => {
      const bytes = Buffer.concat([...runs.flatMap(([damage, good]) => [...damage, good]), ...tail].map((piece) => piece.bytes));
      const parser = new SamFrameParser();
      const out: IdCardFrame[] = [];
      for (let at = 0, i = 0; at < bytes.length; at += chunks[i++ % chunks.length]!) out.push(...parser.push(bytes.subarray(at, at + chunks[i % chunks.length]!)));
      out.push(...parser.flush());
      const seen = out.map((frame) => ('nationalId' in frame ? frame.nationalId : 'error'));
      const expected = runs.flatMap(([damage, good]) => [...(damage.length > 0 ? ['error'] : []), good.id!]);
      assert.deepEqual(seen.slice(0, expected.length), expected);
      const after = seen.slice(expected.length);
      assert.ok(after.every((s) => s === 'error'), 'nothing but errors after the last good frame');
      // Once while the bytes came, and once more for what the quiet line cut.
      assert.ok(tail.length === 0 ? after.length === 0 : after.length >= 1 && after.length <= 2, `${after.length} errors for the damage at the end`);
      assert.equal(parser.buffered, 0);
      assertNoNumber(out, ...runs.map(([, good]) => good.id!));
    }),
    { numRuns: 300 },
  );
});
