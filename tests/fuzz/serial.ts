/**
 * The serial framers, fed byte streams in any chunking as a port delivers
 * them:
 * - the QR scanner's lines (SerialScanner: its LineFramer and the control
 *   character stripping behind it), checked against a model of what the
 *   framer documents: every line up to maxLineBytes, and nothing else, in
 *   order, with no control character, and never more held than a line;
 * - the ID-card reader's `line` protocol (LineFrameParser), against the
 *   same model and the shape of an ID number;
 * - the ID-card reader's `sam` frames (SamFrameParser), chunks wiped after
 *   each push as the driver does. Streams made of whole frames, frames cut
 *   short and garbage must give exactly the whole frames' ID numbers, in
 *   order, including a cut frame whose length runs into the next frame with
 *   an XOR that happens to pass; other streams are checked for shape.
 * Every error must be one of the documented codes and carry no ID number.
 */
import { SerialPortMock } from 'serialport';
import fc from 'fast-check';
import { pino } from 'pino';
import type { IdCardFrame } from '../../device/id-card/frame-parser.js';
import { LineFrameParser, MAX_ID_LINE_BYTES } from '../../device/id-card/line.js';
import { SAM_MAX_LENGTH, SamFrameParser } from '../../device/id-card/sam.js';
import { SerialScanner, type LineDelimiter } from '../../device/scanner/serial-scanner.js';
import type { CodeRead } from '../../device/contracts.js';
import { samBasicInfoFrame, samFrame } from '../../simulator/hardware/virtual-id-card-reader.js';
import { mutatedBytes } from './mutate.js';
import { fromUtf8, ok, offShape, thrown, describeError, utf8, type Regression, type Rig, type Surface, type Verdict } from './surface.js';

const DELIMITER_BYTES: Record<LineDelimiter, Buffer> = { CR: Buffer.from('\r'), LF: Buffer.from('\n'), CRLF: Buffer.from('\r\n') };
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g;
// eslint-disable-next-line no-control-regex
const HAS_CONTROL = /[\u0000-\u001f\u007f]/;
const ID_NUMBER = /^\d{17}[\dX]$/;
/** An error message may give lengths and positions (up to 5 digits), never a run of an ID number's digits. */
const DIGIT_RUN = /\d{6,}/;
const FRAME_CODES = new Set(['length', 'characters', 'overlong', 'no-delimiter', 'garbage', 'frame-length', 'checksum', 'truncated', 'status', 'layout']);

/** Where a stream is cut into chunks, as offsets; and whether the line goes quiet (flush) at the end. */
interface Chunking {
  cuts: number[];
}

function chunksOf(stream: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (stream.length === 0 ? 0 : c % (stream.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of at) {
    if (cut > from) out.push(stream.subarray(from, cut));
    from = Math.max(from, cut);
  }
  if (from < stream.length || out.length === 0) out.push(stream.subarray(from));
  return out;
}

const cuts = fc.array(fc.nat(), { maxLength: 12 });

/** Lines the way scanner modules send them: code texts, blank lines, control characters, over-long lines, text in other encodings. */
const lineText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:'), maxLength: 60 }).map((t) => `GZHC1:${t}`) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '\u0000', '\u0002HC1:ABC\u0003', '\r', '\n', '\t \u007f') },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 6000 }).map((n) => 'X'.repeat(n)) },
);

interface LineInput extends Chunking {
  delimiter: LineDelimiter;
  maxLineBytes: number;
  stream: Buffer;
  flush: boolean;
}

function lineInputs(maxLine: fc.Arbitrary<number>): fc.Arbitrary<LineInput> {
  const structured = fc
    .record({
      delimiter: fc.constantFrom<LineDelimiter>('CR', 'LF', 'CRLF'),
      sentWith: fc.constantFrom<LineDelimiter | 'same'>('same', 'same', 'same', 'CR', 'LF', 'CRLF'),
      maxLineBytes: maxLine,
      lines: fc.array(lineText, { maxLength: 8 }),
      tail: fc.oneof(fc.constant(''), lineText),
      cuts,
      flush: fc.boolean(),
    })
    .map(({ delimiter, sentWith, maxLineBytes, lines, tail, cuts: c, flush }) => {
      const ending = DELIMITER_BYTES[sentWith === 'same' ? delimiter : sentWith].toString('latin1');
      const stream = Buffer.from(lines.map((l) => l + ending).join('') + tail, 'utf8');
      return { delimiter, maxLineBytes, stream, cuts: c, flush };
    });
  return fc.oneof(
    { weight: 4, arbitrary: structured },
    {
      weight: 1,
      arbitrary: fc.tuple(structured, mutatedBytes(structured.map((s) => new Uint8Array(s.stream)))).map(([s, bytes]) => ({ ...s, stream: Buffer.from(bytes) })),
    },
  );
}

/** Complete lines of a stream (each followed by the delimiter) and what is left after the last one. */
function splitLines(stream: Buffer, delimiter: Buffer): { lines: Buffer[]; rest: Buffer } {
  const lines: Buffer[] = [];
  let data = stream;
  let at: number;
  while ((at = data.indexOf(delimiter)) !== -1) {
    lines.push(data.subarray(0, at));
    data = data.subarray(at + delimiter.length);
  }
  return { lines, rest: data };
}

const encodeJson = <T>(toJson: (input: T) => unknown) => (input: T): Uint8Array => utf8(JSON.stringify(toJson(input)));

const lineToJson = (i: LineInput): unknown => ({ delimiter: i.delimiter, maxLineBytes: i.maxLineBytes, stream: i.stream.toString('base64'), cuts: i.cuts, flush: i.flush });
const lineFromJson = (bytes: Uint8Array): LineInput => {
  const j = JSON.parse(fromUtf8(bytes)) as { delimiter: LineDelimiter; maxLineBytes: number; stream: string; cuts: number[]; flush: boolean };
  return { ...j, stream: Buffer.from(j.stream, 'base64') };
};

async function setupScannerLines(): Promise<Rig<LineInput>> {
  const logger = pino({ level: 'silent' });
  const scanners = new Map<string, { scanner: SerialScanner; reads: CodeRead[] }>();
  const scannerFor = (delimiter: LineDelimiter, maxLineBytes: number): { scanner: SerialScanner; reads: CodeRead[] } => {
    const key = `${delimiter}/${maxLineBytes}`;
    let entry = scanners.get(key);
    if (!entry) {
      const scanner = new SerialScanner({ path: `/dev/fuzz-${scanners.size}`, binding: SerialPortMock.binding, delimiter, maxLineBytes, logger });
      const reads: CodeRead[] = [];
      scanner.onRead((read) => reads.push(read));
      entry = { scanner, reads };
      scanners.set(key, entry);
    }
    return entry;
  };
  /** What SerialScanner's port handlers are; the rig drives them as a port delivering bytes would. */
  interface Inside {
    onPortStatus(status: { state: 'connected' | 'disconnected'; reason: string }): void;
    framer: { push(chunk: Buffer): void; buffered: number } | null;
  }
  const run = (input: LineInput): Verdict => {
    const { scanner, reads } = scannerFor(input.delimiter, input.maxLineBytes);
    const inside = scanner as unknown as Inside;
    reads.length = 0;
    const delimiter = DELIMITER_BYTES[input.delimiter];
    try {
      // A fresh connection frames afresh, as after a plug-in.
      inside.onPortStatus({ state: 'connected', reason: 'fuzz' });
      for (const chunk of chunksOf(input.stream, input.cuts)) {
        inside.framer!.push(Buffer.from(chunk));
        if (inside.framer!.buffered > input.maxLineBytes + delimiter.length - 1) {
          return offShape(`holds ${inside.framer!.buffered} bytes, more than a line of ${input.maxLineBytes} and a partial delimiter`);
        }
      }
    } catch (error) {
      return thrown(`the scanner's framer threw: ${describeError(error)}`);
    }
    const { lines } = splitLines(input.stream, delimiter);
    const expected = lines
      .filter((line) => line.length <= input.maxLineBytes)
      .map((line) => line.toString('utf8').replace(CONTROL, ''))
      .filter((text) => text.length > 0);
    const got = reads.map((r) => r.text);
    for (const read of reads) {
      if (read.source !== 'scanner' || HAS_CONTROL.test(read.text)) return offShape(`a read with a control character or the wrong source: ${JSON.stringify(read).slice(0, 200)}`);
    }
    if (got.length !== expected.length || got.some((text, i) => text !== expected[i])) {
      const i = got.findIndex((text, n) => text !== expected[n]);
      return offShape(`read ${got.length} lines, the stream holds ${expected.length}; first difference at ${i === -1 ? got.length : i}: ${JSON.stringify(got[i] ?? null)?.slice(0, 80)} for ${JSON.stringify(expected[i] ?? null)?.slice(0, 80)}`);
    }
    return ok(`${Math.min(got.length, 5)}${got.length >= 5 ? '+' : ''} lines`);
  };
  const seeds: LineInput[] = [
    { delimiter: 'CRLF', maxLineBytes: 4500, stream: Buffer.from('GZHC1:6BFOXN*TS0BIO DBEPAN9I6TVVHZUIQJAT\r\nHC1:NCF\r\n'), cuts: [3, 30], flush: false },
    { delimiter: 'CR', maxLineBytes: 64, stream: Buffer.from('\u0002abc\u0003\rdef\r'), cuts: [], flush: false },
  ];
  return {
    seeds,
    regressions: [],
    arbitrary: (passing) =>
      fc.oneof(
        { weight: 6, arbitrary: lineInputs(fc.oneof(fc.constant(4500), fc.integer({ min: 1, max: 100 }))) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...seeds, ...passing), cuts).map(([s, c]) => ({ ...s, cuts: c })) },
      ),
    run,
    encode: encodeJson(lineToJson),
    decode: lineFromJson,
    close: async () => {},
  };
}

function checkFrame(frame: IdCardFrame): string | null {
  const keys = Object.keys(frame).sort().join(',');
  if ('nationalId' in frame) {
    if (keys !== 'nationalId') return `an ID frame with more than the number: ${keys}`;
    return ID_NUMBER.test(frame.nationalId) ? null : `nationalId ${JSON.stringify(frame.nationalId)} is not 17 digits and a digit or X`;
  }
  if (keys !== 'code,error') return `an error frame with fields ${keys}`;
  if (!FRAME_CODES.has(frame.code)) return `unknown error code ${JSON.stringify(frame.code)}`;
  if (typeof frame.error !== 'string' || frame.error.length === 0) return 'an error frame without a message';
  if (DIGIT_RUN.test(frame.error)) return `an error message carries a run of digits: ${JSON.stringify(frame.error)}`;
  return null;
}

async function setupIdCardLines(): Promise<Rig<LineInput>> {
  const parsers = new Map<LineDelimiter, LineFrameParser>();
  const idLine = fc.oneof(
    fc.tuple(fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 17, maxLength: 17 }), fc.constantFrom(...'0123456789Xx')).map(([d, c]) => d + c),
    fc.string({ unit: fc.constantFrom(...'0123456789X '), maxLength: 24 }),
    lineText,
  );
  const structured = fc
    .record({ delimiter: fc.constantFrom<LineDelimiter>('CR', 'LF', 'CRLF'), sentWith: fc.constantFrom<LineDelimiter | 'same'>('same', 'same', 'CR', 'LF', 'CRLF'), lines: fc.array(idLine, { maxLength: 6 }), tail: fc.oneof(fc.constant(''), idLine), cuts, flush: fc.boolean() })
    .map(({ delimiter, sentWith, lines, tail, cuts: c, flush }) => {
      const ending = DELIMITER_BYTES[sentWith === 'same' ? delimiter : sentWith].toString('latin1');
      return { delimiter, maxLineBytes: MAX_ID_LINE_BYTES, stream: Buffer.from(lines.map((l) => l + ending).join('') + tail, 'utf8'), cuts: c, flush };
    });
  const run = (input: LineInput): Verdict => {
    let parser = parsers.get(input.delimiter);
    if (!parser) parsers.set(input.delimiter, (parser = new LineFrameParser(input.delimiter)));
    parser.reset();
    const frames: IdCardFrame[] = [];
    const delimiter = DELIMITER_BYTES[input.delimiter];
    try {
      for (const chunk of chunksOf(input.stream, input.cuts)) {
        const copy = Buffer.from(chunk);
        frames.push(...parser.push(copy));
        copy.fill(0);
        if (parser.buffered > MAX_ID_LINE_BYTES + delimiter.length - 1) return offShape(`holds ${parser.buffered} bytes, more than an ID line`);
      }
      if (input.flush) frames.push(...parser.flush());
    } catch (error) {
      return thrown(`the ID-card line parser threw: ${describeError(error)}`);
    }
    for (const frame of frames) {
      const problem = checkFrame(frame);
      if (problem) return offShape(problem);
    }
    // The model: each complete line, the rest if the line went quiet.
    const { lines, rest } = splitLines(input.stream, delimiter);
    const expected: string[] = [];
    for (const line of lines) {
      if (line.length > MAX_ID_LINE_BYTES) expected.push('overlong');
      else {
        const text = line.toString('latin1').trim();
        if (text.length > 0) expected.push(ID_NUMBER.test(text.toUpperCase()) ? `id:${text.toUpperCase()}` : text.length === 18 ? 'characters' : 'length');
      }
    }
    const keep = delimiter.length - 1;
    if (rest.length > MAX_ID_LINE_BYTES + keep) expected.push('overlong');
    else if (input.flush && rest.length > 1) expected.push('no-delimiter');
    const got = frames.map((f) => ('nationalId' in f ? `id:${f.nationalId}` : f.code));
    if (got.join('|') !== expected.join('|')) return offShape(`frames ${JSON.stringify(got).slice(0, 200)}, the stream holds ${JSON.stringify(expected).slice(0, 200)}`);
    return ok(frames.some((f) => 'nationalId' in f) ? 'read a number' : frames.length > 0 ? 'errors only' : 'nothing');
  };
  const seeds: LineInput[] = [{ delimiter: 'CRLF', maxLineBytes: MAX_ID_LINE_BYTES, stream: Buffer.from('11010519491231002X\r\n'), cuts: [5], flush: true }];
  return {
    seeds,
    regressions: [],
    arbitrary: (passing) =>
      fc.oneof(
        { weight: 5, arbitrary: structured },
        { weight: 1, arbitrary: fc.tuple(structured, mutatedBytes(structured.map((s) => new Uint8Array(s.stream)))).map(([s, b]) => ({ ...s, stream: Buffer.from(b) })) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...seeds, ...passing), cuts).map(([s, c]) => ({ ...s, cuts: c })) },
      ),
    run,
    encode: encodeJson(lineToJson),
    decode: lineFromJson,
    close: async () => {},
  };
}

/** A part of a SAM byte stream; `structured` streams are made of these only, so the numbers they must yield are known. */
type SamPart =
  | { frame: string; fingerprint: boolean }
  | { status: [number, number, number] }
  | { cut: string; fingerprint: boolean; length: number }
  /** A frame cut short, then one byte chosen so that the declared length, running into what follows, passes the XOR check. */
  | { cutPassingXor: string; length: number }
  | { garbage: string };

interface SamInput extends Chunking {
  parts: SamPart[];
  /** Part boundaries after which the line goes quiet (flush). */
  quiet: number[];
  /** Bytes replacing the stream built from the parts (a mutation): then only the shape is checked. */
  raw: string | null;
}

function samStream(parts: readonly SamPart[]): { stream: Buffer; ends: number[]; expected: string[] } {
  const buffers: Buffer[] = [];
  const ends: number[] = [];
  const expected: string[] = [];
  const forced: Array<{ at: number; adjust: number }> = [];
  let length = 0;
  for (const part of parts) {
    let bytes: Buffer;
    if ('frame' in part) {
      bytes = samBasicInfoFrame({ nationalId: part.frame }, { fingerprint: part.fingerprint });
      expected.push(part.frame.toUpperCase());
    } else if ('status' in part) bytes = samFrame(part.status);
    else if ('cut' in part) {
      const whole = samBasicInfoFrame({ nationalId: part.cut }, { fingerprint: part.fingerprint });
      bytes = whole.subarray(0, 7 + (part.length % (whole.length - 8)));
    } else if ('cutPassingXor' in part) {
      const whole = samBasicInfoFrame({ nationalId: part.cutPassingXor });
      const cut = whole.subarray(0, 200 + (part.length % (whole.length - 400)));
      bytes = Buffer.concat([cut, Buffer.from([0])]);
      forced.push({ at: length, adjust: length + cut.length });
    } else bytes = Buffer.from(part.garbage, 'base64');
    buffers.push(bytes);
    length += bytes.length;
    ends.push(length);
  }
  const stream = Buffer.concat(buffers);
  for (const { at, adjust } of forced) {
    const end = at + 7 + stream.readUInt16BE(at + 5);
    if (end > stream.length) continue;
    let xor = 0;
    for (let i = at + 5; i < end - 1; i++) if (i !== adjust) xor ^= stream[i]!;
    stream[adjust] = xor ^ stream[end - 1]!;
  }
  return { stream, ends, expected };
}

const idNumber = fc.tuple(fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 17, maxLength: 17 }), fc.constantFrom(...'0123456789Xx')).map(([d, c]) => d + c);
const garbage = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b.map((x) => (x === 0xaa ? 0x55 : x))).toString('base64'));
const samPart: fc.Arbitrary<SamPart> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ frame: idNumber, fingerprint: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ status: fc.tuple(fc.constantFrom(0, 0, 0, 1, 0x90), fc.constantFrom(0, 0, 0x90), fc.constantFrom(0x9f, 0x80, 0x41, 0x10, 0x90, 0x00, 0xff)) }) },
  { weight: 2, arbitrary: fc.record({ cut: idNumber, fingerprint: fc.boolean(), length: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ garbage }) },
);

function samInputs(): fc.Arbitrary<SamInput> {
  const structured = fc.record({ parts: fc.array(samPart, { minLength: 1, maxLength: 6 }), cuts, quiet: fc.array(fc.nat({ max: 6 }), { maxLength: 2 }), raw: fc.constant(null) });
  const forced = fc.record({ before: fc.array(samPart, { maxLength: 2 }), cut: idNumber, length: fc.nat(), after: fc.array(samPart, { maxLength: 2 }), next: idNumber, cuts }).map(
    ({ before, cut, length, next, after, cuts: c }): SamInput => ({ parts: [...before, { cutPassingXor: cut, length }, { frame: next, fingerprint: false }, ...after], cuts: c, quiet: [], raw: null }),
  );
  const mutated = fc.tuple(structured, fc.array(fc.nat(), { maxLength: 3 })).chain(([s, quiet]) =>
    mutatedBytes(fc.constant(new Uint8Array(samStream(s.parts).stream)), 8).map((bytes): SamInput => ({ ...s, quiet, raw: Buffer.from(bytes).toString('base64') })),
  );
  const noise = fc.record({ bytes: fc.uint8Array({ maxLength: 3000 }), cuts }).map(({ bytes, cuts: c }): SamInput => ({ parts: [], cuts: c, quiet: [], raw: Buffer.from(bytes).toString('base64') }));
  return fc.oneof({ weight: 6, arbitrary: structured }, { weight: 1, arbitrary: forced }, { weight: 3, arbitrary: mutated }, { weight: 1, arbitrary: noise });
}

async function setupSamFrames(): Promise<Rig<SamInput>> {
  const parser = new SamFrameParser();
  const run = (input: SamInput): Verdict => {
    parser.reset();
    const built = samStream(input.parts);
    const stream = input.raw === null ? built.stream : Buffer.from(input.raw, 'base64');
    // In a stream of parts the line goes quiet only between parts; a raw stream may go quiet anywhere.
    const quietAt = new Set(input.raw === null ? input.quiet.map((q) => built.ends[q % Math.max(1, built.ends.length)]!) : input.quiet.map((q) => q % (stream.length + 1)));
    const frames: IdCardFrame[] = [];
    try {
      const points = [...new Set([...input.cuts.map((c) => c % (stream.length + 1)), ...quietAt])].sort((a, b) => a - b);
      let from = 0;
      for (const point of [...points, stream.length]) {
        if (point > from) {
          // The driver's own copy of what the port delivered, wiped once push() returns.
          const chunk = Buffer.from(stream.subarray(from, point));
          frames.push(...parser.push(chunk));
          chunk.fill(0);
          if (parser.buffered > 7 + SAM_MAX_LENGTH) return offShape(`holds ${parser.buffered} bytes, more than the longest frame`);
          from = point;
        }
        if (quietAt.has(point)) frames.push(...parser.flush());
      }
      frames.push(...parser.flush());
    } catch (error) {
      return thrown(`the SAM frame parser threw: ${describeError(error)}`);
    }
    for (const frame of frames) {
      const problem = checkFrame(frame);
      if (problem) return offShape(problem);
    }
    const read = frames.filter((f): f is { nationalId: string } => 'nationalId' in f).map((f) => f.nationalId);
    if (input.raw === null && read.join(',') !== built.expected.join(',')) {
      const i = read.findIndex((id, n) => id !== built.expected[n]);
      const at = i === -1 ? read.length : i;
      return offShape(`read ${read.length} numbers from a stream of ${built.expected.length} whole frames; first difference at ${at}: read ${read[at] ?? 'nothing'} for ${built.expected[at] ?? 'nothing'}`);
    }
    return ok(input.raw !== null ? 'raw bytes' : read.length > 0 ? 'read numbers' : 'no frame');
  };
  const seeds: SamInput[] = [
    { parts: [{ frame: '11010519491231002X', fingerprint: false }, { frame: '440524188001010014', fingerprint: true }], cuts: [1000], quiet: [], raw: null },
    { parts: [{ status: [0, 0, 0x9f] }, { frame: '11010519491231002X', fingerprint: false }], cuts: [], quiet: [0], raw: null },
  ];
  const regressions: Regression<SamInput>[] = [
    {
      name: 'sam-cut-frame-then-frame-passing-xor',
      why: 'a frame cut short whose declared length runs into the next (whole) frame with an XOR that passes: the whole frame is read, the cut one is not',
      input: { parts: [{ cutPassingXor: '11010519491231002X', length: 100 }, { frame: '440524188001010014', fingerprint: false }], cuts: [], quiet: [], raw: null },
    },
  ];
  const toJson = (i: SamInput): unknown => i;
  return {
    seeds,
    regressions,
    arbitrary: (passing) => fc.oneof({ weight: 10, arbitrary: samInputs() }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...seeds, ...passing), cuts).map(([s, c]) => ({ ...s, cuts: c })) }),
    run,
    encode: encodeJson(toJson),
    decode: (bytes) => JSON.parse(fromUtf8(bytes)) as SamInput,
    close: async () => {},
  };
}

export const scannerLinesSurface: Surface<LineInput> = {
  name: 'serial-scanner-lines',
  covers: "QR scanner byte streams in any chunking through SerialScanner's line framer and text clean-up, for each delimiter and line cap",
  shape: 'exactly the complete lines up to maxLineBytes, in order, control characters stripped, none empty; never more held than a line and a partial delimiter',
  setup: setupScannerLines,
};

export const idCardLinesSurface: Surface<LineInput> = {
  name: 'serial-id-card-lines',
  covers: 'ID-card reader byte streams (line protocol) in any chunking, with and without the line going quiet, through LineFrameParser',
  shape: 'one frame per line as the model says (an ID number, length, characters, overlong, no-delimiter); documented codes; no digits of a number in an error',
  setup: setupIdCardLines,
};

export const samFramesSurface: Surface<SamInput> = {
  name: 'serial-sam-frames',
  covers: 'SAM reply frames, frames cut short, status replies and garbage in any chunking, and mutations of them, through SamFrameParser (chunks wiped after each push)',
  shape: "a stream of parts yields exactly its whole frames' ID numbers in order; every frame an ID number or a documented error code with no digits of a number; never more held than one frame",
  setup: setupSamFrames,
};
