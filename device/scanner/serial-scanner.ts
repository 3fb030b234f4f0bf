/**
 * A serial QR scanner module: it sends each decoded code as one line of text
 * (CR, LF or CRLF terminated, as the module is configured) over a UART or a
 * USB CDC port. The driver frames lines itself rather than with serialport's
 * ReadlineParser, because that parser buffers without limit while it waits
 * for a delimiter; here a line longer than maxLineBytes is dropped as it
 * arrives. A QR symbol holds at most 4,296 alphanumeric characters (ISO/IEC
 * 18004:2015 Table 7, version 40-L), hence the 4,500-byte default.
 *
 * Delimiter mismatch: a CRLF module read with 'LF' leaves a CR at the end of
 * each line, and read with 'CR' leaves an LF at the start of the next; both
 * are control characters and are stripped with the NUL, STX/ETX and other
 * C0 controls and DEL some modules add, so they never reach a code's text.
 *
 * Unplugging: serialport closes the port with a DisconnectedError (or emits
 * 'error'); the scanner reports 'disconnected' and opens the path again every
 * reopenIntervalMs until the module is back (device/serial/reopening-port.ts). start() resolves even when the
 * module is absent, so a lane without one still reads codes with its camera.
 */
// The package's exports map has types for its CommonJS entry only.
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Logger } from 'pino';
import type { CodeRead, CodeReader } from '../contracts.js';
import { ReopeningSerialPort, type SerialPortStatus } from '../serial/reopening-port.js';

export type LineDelimiter = 'CR' | 'LF' | 'CRLF';

export interface SerialScannerOptions {
  /** Device path, e.g. /dev/ttyUSB0 or /dev/ttyACM0 (COM3 on Windows). */
  path: string;
  baudRate?: number;
  delimiter?: LineDelimiter;
  encoding?: 'utf8';
  maxLineBytes?: number;
  reopenIntervalMs?: number;
  /** The serialport binding; the platform's (@serialport/bindings-cpp) when absent. */
  binding?: BindingInterface;
  logger: Logger;
}

export type ScannerStatus = SerialPortStatus;

const DELIMITERS: Record<LineDelimiter, Buffer> = {
  CR: Buffer.from([0x0d]),
  LF: Buffer.from([0x0a]),
  CRLF: Buffer.from([0x0d, 0x0a]),
};

/** C0 controls (U+0000..U+001F, NUL, STX, ETX, TAB, CR, LF...) and DEL. */
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

/**
 * Splits a byte stream into lines at a delimiter, holding at most
 * maxLineBytes + delimiter length - 1 bytes between chunks. An over-long line
 * is reported once and skipped up to its delimiter.
 */
export class LineFramer {
  private pending = Buffer.alloc(0);
  private skipping = false;

  constructor(
    private readonly delimiter: Buffer,
    private readonly maxLineBytes: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onOverlong: () => void,
  ) {}

  /** Bytes held while waiting for a delimiter. */
  get buffered(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): void {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let at: number;
    while ((at = data.indexOf(this.delimiter)) !== -1) {
      if (this.skipping) this.skipping = false; // the end of a line already reported
      else if (at > this.maxLineBytes) this.onOverlong();
      else this.onLine(data.subarray(0, at));
      data = data.subarray(at + this.delimiter.length);
    }
    // Keep what may still be a line, plus a possible first half of a CRLF.
    const keep = this.delimiter.length - 1;
    if (!this.skipping && data.length > this.maxLineBytes + keep) {
      this.skipping = true;
      this.onOverlong();
    }
    if (this.skipping) data = data.subarray(Math.max(0, data.length - keep));
    this.pending = Buffer.from(data); // a copy: chunks are views of serialport's read pool
  }
}

export class SerialScanner implements CodeReader {
  private readonly reads = new Set<(read: CodeRead) => void>();
  private readonly statuses = new Set<(status: ScannerStatus) => void>();
  private readonly log: Logger;
  private readonly settings: Required<Omit<SerialScannerOptions, 'binding' | 'logger'>>;
  private readonly port: ReopeningSerialPort;
  private framer: LineFramer | null = null;

  constructor(options: SerialScannerOptions) {
    this.settings = {
      path: options.path,
      baudRate: options.baudRate ?? 9600,
      delimiter: options.delimiter ?? 'CRLF',
      encoding: options.encoding ?? 'utf8',
      maxLineBytes: options.maxLineBytes ?? 4500,
      reopenIntervalMs: options.reopenIntervalMs ?? 1000,
    };
    const { path, baudRate, delimiter, maxLineBytes, reopenIntervalMs } = this.settings;
    if (!path) throw new TypeError('serial scanner: path is required');
    if (!Number.isInteger(baudRate) || baudRate <= 0) throw new RangeError(`serial scanner: bad baudRate ${baudRate}`);
    if (!Object.hasOwn(DELIMITERS, delimiter)) throw new RangeError(`serial scanner: bad delimiter ${String(delimiter)}`);
    if (this.settings.encoding !== 'utf8') throw new RangeError(`serial scanner: unsupported encoding ${String(this.settings.encoding)}`);
    if (!Number.isInteger(maxLineBytes) || maxLineBytes <= 0) throw new RangeError(`serial scanner: bad maxLineBytes ${maxLineBytes}`);
    if (!(reopenIntervalMs > 0)) throw new RangeError(`serial scanner: bad reopenIntervalMs ${reopenIntervalMs}`);
    this.log = options.logger.child({ component: 'serial-scanner', path });
    this.port = new ReopeningSerialPort(
      { path, baudRate, reopenIntervalMs, binding: options.binding, device: 'scanner', logger: this.log },
      { onData: (chunk) => this.framer?.push(chunk), onStatus: (status) => this.onPortStatus(status) },
    );
  }

  /** The last status reported; null before start() or after stop(). */
  get status(): ScannerStatus | null {
    return this.port.status;
  }

  onRead(listener: (read: CodeRead) => void): () => void {
    this.reads.add(listener);
    return () => this.reads.delete(listener);
  }

  onStatus(listener: (status: ScannerStatus) => void): () => void {
    this.statuses.add(listener);
    return () => this.statuses.delete(listener);
  }

  async start(): Promise<void> {
    await this.port.start();
  }

  async stop(): Promise<void> {
    await this.port.stop();
    this.framer = null;
  }

  private onPortStatus(status: ScannerStatus): void {
    // Each connection frames afresh: half a line from before an unplug never joins the next one.
    this.framer = status.state === 'connected' ? this.newFramer() : null;
    for (const listener of [...this.statuses]) {
      try {
        listener(status);
      } catch (error) {
        this.log.error({ err: error }, 'scanner status listener failed');
      }
    }
  }

  private newFramer(): LineFramer {
    return new LineFramer(
      DELIMITERS[this.settings.delimiter],
      this.settings.maxLineBytes,
      (line) => this.onLine(line),
      () => this.log.warn({ maxLineBytes: this.settings.maxLineBytes }, 'line longer than maxLineBytes dropped'),
    );
  }

  private onLine(bytes: Buffer): void {
    const text = bytes.toString(this.settings.encoding).replace(CONTROL_CHARACTERS, '');
    if (text.length === 0) return; // an empty line, or one of control characters only
    const read: CodeRead = { text, source: 'scanner', at: performance.now() };
    for (const listener of [...this.reads]) {
      try {
        listener(read);
      } catch (error) {
        this.log.error({ err: error }, 'code read listener failed');
      }
    }
  }
}
