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
 * reopenIntervalMs until the module is back. start() resolves even when the
 * module is absent, so a lane without one still reads codes with its camera.
 */
import { SerialPortStream } from '@serialport/stream';
// The package's exports map has types for its CommonJS entry only.
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Logger } from 'pino';
import type { CodeRead, CodeReader } from '../contracts.js';

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

export interface ScannerStatus {
  state: 'connected' | 'disconnected';
  reason: string;
}

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
  private port: SerialPortStream | null = null;
  private opening: Promise<void> | null = null;
  private retry: NodeJS.Timeout | null = null;
  private running = false;
  private current: ScannerStatus | null = null;

  constructor(private readonly options: SerialScannerOptions) {
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
  }

  /** The last status reported; null before start() or after stop(). */
  get status(): ScannerStatus | null {
    return this.current;
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
    if (this.running) return;
    this.running = true;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    await this.opening; // an open in flight closes its port itself once it sees running is false
    const port = this.port;
    this.port = null;
    this.current = null;
    if (port) await closeQuietly(detach(port));
  }

  private connect(): Promise<void> {
    this.opening ??= this.open().finally(() => (this.opening = null));
    return this.opening;
  }

  private async open(): Promise<void> {
    const { path, baudRate } = this.settings;
    let port: SerialPortStream;
    try {
      // Loaded only when needed, so the simulator never loads the native addon.
      const binding = this.options.binding ?? (await import('serialport')).SerialPort.binding;
      port = new SerialPortStream({ binding, path, baudRate, autoOpen: false });
      const failed = await new Promise<Error | null>((resolve) => port.open(resolve));
      if (failed) throw failed;
    } catch (error) {
      this.lost(`cannot open ${path}: ${(error as Error).message}`);
      return;
    }
    if (!this.running) {
      await closeQuietly(port);
      return;
    }
    this.attach(port);
    this.setStatus({ state: 'connected', reason: `opened ${path} at ${baudRate} baud` });
  }

  private attach(port: SerialPortStream): void {
    this.port = port;
    const framer = new LineFramer(
      DELIMITERS[this.settings.delimiter],
      this.settings.maxLineBytes,
      (line) => this.onLine(line),
      () => this.log.warn({ maxLineBytes: this.settings.maxLineBytes }, 'line longer than maxLineBytes dropped'),
    );
    port.on('data', (chunk: Buffer) => framer.push(chunk));
    port.on('close', (error: Error | null) => this.onGone(port, error ? `unplugged: ${error.message}` : 'port closed'));
    port.on('error', (error: Error) => this.onGone(port, `port error: ${error.message}`));
  }

  private onGone(port: SerialPortStream, reason: string): void {
    if (this.port !== port) return;
    this.port = null;
    void closeQuietly(detach(port));
    this.lost(reason);
  }

  private lost(reason: string): void {
    if (!this.running) return;
    this.setStatus({ state: 'disconnected', reason });
    if (!this.retry) {
      this.retry = setTimeout(() => {
        this.retry = null;
        if (this.running) void this.connect();
      }, this.settings.reopenIntervalMs);
    }
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

  private setStatus(next: ScannerStatus): void {
    if (this.current?.state === next.state) {
      this.log.debug({ reason: next.reason }, `still ${next.state}`);
      return;
    }
    this.current = next;
    if (next.state === 'connected') this.log.info({ reason: next.reason }, 'scanner connected');
    else this.log.warn({ reason: next.reason }, 'scanner disconnected: retrying');
    for (const listener of [...this.statuses]) {
      try {
        listener(next);
      } catch (error) {
        this.log.error({ err: error }, 'scanner status listener failed');
      }
    }
  }
}

/** Drop our listeners; keep one on 'error' so a late error from a discarded port cannot throw. */
function detach(port: SerialPortStream): SerialPortStream {
  for (const event of ['data', 'close', 'error']) port.removeAllListeners(event);
  port.on('error', () => {});
  return port;
}

function closeQuietly(port: SerialPortStream): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}
