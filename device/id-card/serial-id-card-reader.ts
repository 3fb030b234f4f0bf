/**
 * A resident ID-card reader on a serial port (a UART, or a USB CDC port of a
 * desktop reader). The port is kept open by ReopeningSerialPort (unplugged
 * and plugged back, it reopens by itself); the bytes are cut into ID numbers
 * by the parser of the configured protocol (line.ts, sam.ts).
 *
 * Only the number leaves: a swipe carries nationalId and a time. Bad frames
 * are reported as a 'bad-frame' status and logged with their reason, never
 * with the number; the next good read reports 'connected' again.
 *
 * A frame cut short at the end of the stream (the card pulled away, the
 * cable pulled out) would wait forever for its rest: when the line stays
 * quiet for frameIdleMs the parser is flushed, which reports it, and the
 * next bytes are read afresh (a parser out of step after line noise reports
 * the next bad frame as a new error, not as more of the same noise). Between the chunks of one frame a UART is never quiet that
 * long: 2,314 bytes at 9,600 baud arrive as a steady stream. The flush also
 * reads a whole `sam` frame held because its last bytes could have begun the
 * next frame's header (about one swipe in 256, when nothing follows it).
 */
// The package's exports map has types for its CommonJS entry only.
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Logger } from 'pino';
import type { IdCardReader, IdCardSwipe } from '../contracts.js';
import { ReopeningSerialPort, type SerialPortStatus } from '../serial/reopening-port.js';
import type { LineDelimiter } from '../scanner/serial-scanner.js';
import type { IdCardFrame, IdCardFrameErrorCode, IdCardFrameParser, IdCardProtocol } from './frame-parser.js';
import { LineFrameParser } from './line.js';
import { SamFrameParser } from './sam.js';

export interface SerialIdCardReaderOptions {
  /** Device path, e.g. /dev/ttyUSB1 or /dev/serial/by-id/… */
  path: string;
  /** 115,200: the SAM modules' default. */
  baudRate?: number;
  protocol?: IdCardProtocol;
  /** The line ending of the `line` protocol. */
  delimiter?: LineDelimiter;
  /** A parser for a protocol not built in; `protocol` and `delimiter` are then unused. */
  parser?: IdCardFrameParser;
  reopenIntervalMs?: number;
  frameIdleMs?: number;
  /** The serialport binding; the platform's (@serialport/bindings-cpp) when absent. */
  binding?: BindingInterface;
  logger: Logger;
}

export type IdCardReaderStatus =
  | SerialPortStatus
  /** A frame could not be read: the person swipes again. */
  | { state: 'bad-frame'; code: IdCardFrameErrorCode; reason: string };

export function createIdCardFrameParser(protocol: IdCardProtocol, delimiter: LineDelimiter = 'CRLF'): IdCardFrameParser {
  switch (protocol) {
    case 'line':
      return new LineFrameParser(delimiter);
    case 'sam':
      return new SamFrameParser();
    default:
      throw new RangeError(`id-card reader: unknown protocol ${String(protocol)}`);
  }
}

export class SerialIdCardReader implements IdCardReader {
  private readonly swipes = new Set<(swipe: IdCardSwipe) => void>();
  private readonly statuses = new Set<(status: IdCardReaderStatus) => void>();
  private readonly log: Logger;
  private readonly parser: IdCardFrameParser;
  private readonly port: ReopeningSerialPort;
  private readonly frameIdleMs: number;
  private idle: NodeJS.Timeout | null = null;
  private current: IdCardReaderStatus | null = null;

  constructor(options: SerialIdCardReaderOptions) {
    const { path, baudRate = 115200, protocol = 'line', delimiter = 'CRLF', reopenIntervalMs = 1000, frameIdleMs = 500 } = options;
    if (!path) throw new TypeError('id-card reader: path is required');
    if (!Number.isInteger(baudRate) || baudRate <= 0) throw new RangeError(`id-card reader: bad baudRate ${baudRate}`);
    if (!(reopenIntervalMs > 0)) throw new RangeError(`id-card reader: bad reopenIntervalMs ${reopenIntervalMs}`);
    if (!(frameIdleMs > 0)) throw new RangeError(`id-card reader: bad frameIdleMs ${frameIdleMs}`);
    this.frameIdleMs = frameIdleMs;
    this.parser = options.parser ?? createIdCardFrameParser(protocol, delimiter);
    this.log = options.logger.child({ component: 'id-card-reader', path, protocol: options.parser ? 'custom' : protocol });
    this.port = new ReopeningSerialPort(
      { path, baudRate, reopenIntervalMs, binding: options.binding, device: 'id-card reader', logger: this.log },
      { onData: (chunk) => this.onData(chunk), onStatus: (status) => this.onPortStatus(status) },
    );
  }

  /** The last status reported; null before start() or after stop(). */
  get status(): IdCardReaderStatus | null {
    return this.current;
  }

  onSwipe(listener: (swipe: IdCardSwipe) => void): () => void {
    this.swipes.add(listener);
    return () => this.swipes.delete(listener);
  }

  onStatus(listener: (status: IdCardReaderStatus) => void): () => void {
    this.statuses.add(listener);
    return () => this.statuses.delete(listener);
  }

  /** Idempotent. Resolves even when the reader is absent: it is opened again until it is there. */
  async start(): Promise<void> {
    await this.port.start();
  }

  /** Idempotent. Drops any frame half received. */
  async stop(): Promise<void> {
    await this.port.stop();
    this.clearIdle();
    this.parser.reset();
    this.current = null;
  }

  private onData(chunk: Buffer): void {
    const frames = this.parser.push(chunk);
    // The chunk may hold the holder's name, address or photo: nothing else reads it, so it is wiped now.
    chunk.fill(0);
    this.handle(frames);
    // Re-armed by every chunk, so it fires only once the line is quiet.
    this.clearIdle();
    this.idle = setTimeout(() => {
      this.idle = null;
      this.handle(this.parser.flush());
    }, this.frameIdleMs);
  }

  private onPortStatus(status: SerialPortStatus): void {
    // A frame cut by the unplug is reported; bytes of the old connection never join the new one's.
    this.clearIdle();
    const cut = this.parser.flush();
    this.setStatus(status);
    this.handle(cut);
  }

  private handle(frames: IdCardFrame[]): void {
    for (const frame of frames) {
      if ('error' in frame) {
        this.log.warn({ code: frame.code, reason: frame.error }, 'id card not read');
        this.setStatus({ state: 'bad-frame', code: frame.code, reason: frame.error });
        continue;
      }
      if (this.current?.state === 'bad-frame') this.setStatus({ state: 'connected', reason: 'a card was read again' });
      this.log.info('id card read'); // never the number
      const swipe: IdCardSwipe = { nationalId: frame.nationalId, at: performance.now() };
      for (const listener of [...this.swipes]) {
        try {
          listener(swipe);
        } catch (error) {
          this.log.error({ err: error }, 'id card swipe listener failed');
        }
      }
    }
  }

  private setStatus(next: IdCardReaderStatus): void {
    this.current = next;
    for (const listener of [...this.statuses]) {
      try {
        listener(next);
      } catch (error) {
        this.log.error({ err: error }, 'id card status listener failed');
      }
    }
  }

  private clearIdle(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
  }
}
