/**
 * The `line` protocol: a reader in "serial output" mode sends the 18-character
 * ID number as ASCII, then its line ending (CR, LF or CRLF as set). Framing is
 * the scanner's LineFramer; lines are short, so a longer one is dropped as it
 * arrives (64 bytes: 18 characters with room for padding some readers add).
 *
 * Delimiter mismatch: a CRLF reader read with 'LF' leaves a CR at the end of
 * each line and read with 'CR' an LF at the start of the next; trimming
 * whitespace removes both. A CR-only reader read with 'CRLF' never ends a
 * line: flush() (called when the line goes quiet) reports it.
 */
import { LineFramer, type LineDelimiter } from '../scanner/serial-scanner.js';
import { frameError, idNumberFrame, type IdCardFrame, type IdCardFrameParser } from './frame-parser.js';

const DELIMITERS: Record<LineDelimiter, Buffer> = {
  CR: Buffer.from([0x0d]),
  LF: Buffer.from([0x0a]),
  CRLF: Buffer.from([0x0d, 0x0a]),
};

export const MAX_ID_LINE_BYTES = 64;

export class LineFrameParser implements IdCardFrameParser {
  private framer: LineFramer;
  private out: IdCardFrame[] = [];

  constructor(private readonly delimiter: LineDelimiter = 'CRLF') {
    if (!Object.hasOwn(DELIMITERS, delimiter)) throw new RangeError(`id-card line protocol: bad delimiter ${String(delimiter)}`);
    this.framer = this.newFramer();
  }

  get buffered(): number {
    return this.framer.buffered;
  }

  push(chunk: Buffer): IdCardFrame[] {
    this.framer.push(chunk);
    return this.take();
  }

  flush(): IdCardFrame[] {
    // One byte held is the half of a line ending (the LF of a CRLF read with 'CR'), not a line.
    if (this.framer.buffered > 1) {
      this.out.push(
        frameError('no-delimiter', `${this.framer.buffered} bytes without a ${this.delimiter} ending: is the reader set to end lines with ${this.delimiter}?`),
      );
    }
    this.reset();
    return this.take();
  }

  reset(): void {
    this.framer = this.newFramer();
  }

  private take(): IdCardFrame[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private newFramer(): LineFramer {
    return new LineFramer(
      DELIMITERS[this.delimiter],
      MAX_ID_LINE_BYTES,
      (line) => {
        // latin1: one character per byte, so a stray non-ASCII byte is counted, not merged.
        const text = line.toString('latin1').trim();
        if (text.length > 0) this.out.push(idNumberFrame(text, 'line'));
      },
      () => this.out.push(frameError('overlong', `line longer than ${MAX_ID_LINE_BYTES} bytes dropped`)),
    );
  }
}
