/**
 * A resident ID-card reader on serialport's MockBinding, for the real
 * SerialIdCardReader: swipe(id) sends what a reader sends when a card is laid
 * on it, in either protocol. For `sam` that is a full "read basic
 * information" reply built here byte by byte (made-up name, address and
 * photo included, so a driver that drops them is seen to drop them); for
 * `line`, the number and the line ending.
 *
 * The serial side (a port at a path, unplug and plug back, chunked reads) is
 * the virtual scanner's: a serial module is a serial module.
 * Faults: a frame with a wrong checksum, a frame cut short, garbage, a module
 * status failure, raw bytes, unplug() and plugIn().
 */
import type { BindingInterface, BindingPortInterface, OpenOptions } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { VirtualScanner, type LineEnding } from './virtual-scanner.js';

export type VirtualIdCardProtocol = 'line' | 'sam';

const ENDINGS: Record<LineEnding, string> = { CR: '\r', LF: '\n', CRLF: '\r\n' };
const PREAMBLE = [0xaa, 0xaa, 0xaa, 0x96, 0x69];

/** What is printed on a made-up card. Only nationalId is meant to come out of the driver. */
export interface VirtualCard {
  nationalId: string;
  name?: string;
  /** '1' male, '2' female (GB/T 2261.1). */
  sex?: string;
  /** GB 3304 code, '01' Han. */
  nation?: string;
  /** YYYYMMDD */
  birthDate?: string;
  address?: string;
  authority?: string;
  validFrom?: string;
  validTo?: string;
}

export interface SamFrameOptions {
  /** Fingerprint-firmware layout (30 10): a third length and 1,024 fingerprint bytes. */
  fingerprint?: boolean;
}

/** A SAM reply frame: preamble, Len (SW through checksum, BE), SW1 SW2 SW3, data, XOR checksum from Len1. */
export function samFrame(sw: readonly [number, number, number], data: Buffer = Buffer.alloc(0)): Buffer {
  const length = 3 + data.length + 1;
  const frame = Buffer.concat([Buffer.from([...PREAMBLE, length >> 8, length & 0xff, ...sw]), data, Buffer.alloc(1)]);
  let xor = 0;
  for (let i = PREAMBLE.length; i < frame.length - 1; i++) xor ^= frame[i]!;
  frame[frame.length - 1] = xor;
  return frame;
}

/** UCS-2LE, padded with spaces to the field's size. */
function field(text: string, bytes: number): Buffer {
  const out = Buffer.from(' '.repeat(bytes / 2), 'utf16le');
  Buffer.from(text, 'utf16le').copy(out, 0, 0, bytes);
  return out;
}

/**
 * Made-up photo (or fingerprint) bytes. A preamble is planted inside (with a
 * length no reply has), so a parser must go by the frame's length, and one
 * resynchronising after a bad frame meets a false start.
 */
function noise(bytes: number, seed: number): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >> 16;
  }
  Buffer.from([...PREAMBLE, 0x00, 0x02, 0x00, 0x00, 0x90]).copy(out, 100);
  return out;
}

/** The 256-byte text block: name 30, sex 2, nation 4, birth 16, address 70, ID 36, authority 30, from 16, to 16, reserved 36. */
export function samTextBlock(card: VirtualCard): Buffer {
  return Buffer.concat([
    field(card.name ?? '张三', 30),
    field(card.sex ?? '1', 2),
    field(card.nation ?? '01', 4),
    field(card.birthDate ?? card.nationalId.slice(6, 14), 16),
    field(card.address ?? '北京市东城区景山前街4号故宫博物院西华门内', 70),
    field(card.nationalId, 36),
    field(card.authority ?? '北京市公安局东城分局', 30),
    field(card.validFrom ?? '20200101', 16),
    field(card.validTo ?? '20400101', 16),
    field('', 36),
  ]);
}

/** The module's reply to "read basic information" (30 01; 30 10 with fingerprint) for this card. */
export function samBasicInfoFrame(card: VirtualCard, options: SamFrameOptions = {}): Buffer {
  const text = samTextBlock(card);
  const photo = noise(1024, 1);
  const lengths = [text.length, photo.length, ...(options.fingerprint ? [1024] : [])];
  const header = Buffer.alloc(lengths.length * 2);
  lengths.forEach((n, i) => header.writeUInt16BE(n, i * 2));
  const blocks = [header, text, photo, ...(options.fingerprint ? [noise(1024, 2)] : [])];
  return samFrame([0x00, 0x00, 0x90], Buffer.concat(blocks));
}

export interface VirtualIdCardReaderOptions {
  path: string;
  protocol: VirtualIdCardProtocol;
  /** What a `line` reader appends to each number (CRLF). */
  lineEnding?: LineEnding;
  /** Plugged in when created (true). */
  present?: boolean;
  /** Most bytes one read hands the driver (MockBinding's default, 1024: a SAM frame arrives in two). */
  maxReadSize?: number;
}

export class VirtualIdCardReader {
  readonly path: string;
  readonly protocol: VirtualIdCardProtocol;
  readonly lineEnding: LineEnding;
  private readonly wire: VirtualScanner;

  constructor(options: VirtualIdCardReaderOptions) {
    this.path = options.path;
    this.protocol = options.protocol;
    this.lineEnding = options.lineEnding ?? 'CRLF';
    this.wire = new VirtualScanner({
      path: options.path,
      lineEnding: this.lineEnding,
      ...(options.present !== undefined ? { present: options.present } : {}),
      ...(options.maxReadSize ? { maxReadSize: options.maxReadSize } : {}),
    });
  }

  /** The serialport binding the driver under test must use. */
  get binding(): BindingInterface<BindingPortInterface> {
    return this.wire.binding;
  }
  get connected(): boolean {
    return this.wire.connected;
  }
  get pluggedIn(): boolean {
    return this.wire.pluggedIn;
  }
  get openAttempts(): number {
    return this.wire.openAttempts;
  }
  get lastOpenOptions(): OpenOptions | null {
    return this.wire.lastOpenOptions;
  }

  /** A card is laid on the reader; false when no driver has the port open (the bytes are lost). */
  swipe(card: string | VirtualCard, options: SamFrameOptions = {}): Promise<boolean> {
    return this.send(this.bytesOf(typeof card === 'string' ? { nationalId: card } : card, options));
  }

  /** What swipe() would send, for a test to cut up. */
  bytesOf(card: VirtualCard, options: SamFrameOptions = {}): Buffer {
    return this.protocol === 'sam' ? samBasicInfoFrame(card, options) : Buffer.from(card.nationalId + ENDINGS[this.lineEnding], 'latin1');
  }

  /** A swipe corrupted on the wire (sam: a photo byte flips, so the checksum fails; line: a digit becomes '@'..'I'). */
  swipeCorrupted(nationalId: string): Promise<boolean> {
    const bytes = this.bytesOf({ nationalId });
    const at = this.protocol === 'sam' ? 600 : 5;
    bytes[at] = bytes[at]! ^ (this.protocol === 'sam' ? 0xff : 0x70);
    return this.send(bytes);
  }

  /** Only the first `keep` bytes of a swipe arrive (the card lifted too early). */
  swipeTruncated(nationalId: string, keep = 200): Promise<boolean> {
    return this.send(this.bytesOf({ nationalId }).subarray(0, keep));
  }

  /** A failure reply from the SAM module, e.g. 0x41 (reading the card failed). */
  sendStatus(sw3: number): Promise<boolean> {
    return this.send(samFrame([0x00, 0x00, sw3]));
  }

  /** Line noise. */
  sendGarbage(bytes: Buffer = Buffer.from([0x13, 0x37, 0x00, 0xff, 0xaa, 0x96, 0x69, 0x42, 0x0d, 0x0a])): Promise<boolean> {
    return this.send(bytes);
  }

  /** Raw bytes as separate reads: each chunk is handed over before the next is sent. */
  send(...chunks: Array<Buffer | string>): Promise<boolean> {
    return this.wire.send(...chunks);
  }

  /** Pulls the reader's plug: the open port fails as a vanished USB serial device does. */
  unplug(): void {
    this.wire.unplug();
  }

  plugIn(): void {
    this.wire.plugIn();
  }
}
