/**
 * A serial QR scanner module on serialport's MockBinding: pass `binding` to
 * the real SerialScanner, then scan(text) sends the text and the module's
 * line ending as the module would; send(...chunks) sends raw bytes, one chunk
 * per read the driver sees.
 *
 * Unplugging. MockBinding cannot do it: its port registry is private (only
 * reset(), which drops every port in the process), open() succeeds for any
 * created path, and a MockPortBinding's read in flight only ends through
 * close() with a CanceledError, which serialport takes for its own close, not
 * a disconnect. So this file adds the smallest faithful extension, a binding
 * that wraps MockBinding and changes nothing while the module is plugged in:
 * - unplug() fails the read in flight, and every later call on that port,
 *   with ENXIO marked `disconnect`, as @serialport/bindings-cpp's unixRead
 *   throws when a USB serial device goes away; serialport's stream then
 *   closes the port and emits 'close' with a DisconnectedError;
 * - opening an unplugged path fails with ENOENT, as the OS does once the
 *   device node is gone;
 * - plugIn() creates a fresh MockBinding port at the same path (a new device
 *   node: a stale handle a driver still holds does not lock it).
 */
import { SerialPortMock } from 'serialport';
import type {
  BindingInterface,
  BindingPortInterface,
  OpenOptions,
  PortInfo,
  SetOptions,
  UpdateOptions,
} from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };

// serialport's own MockBinding (the CommonJS instance): one port registry with SerialPortMock.
const MockBinding = SerialPortMock.binding;
type MockPortBinding = Awaited<ReturnType<typeof MockBinding.open>>;

export type LineEnding = 'CR' | 'LF' | 'CRLF';

const ENDINGS: Record<LineEnding, string> = { CR: '\r', LF: '\n', CRLF: '\r\n' };

export interface VirtualScannerOptions {
  path: string;
  /** What the module appends to each code (CRLF). */
  lineEnding?: LineEnding;
  /** Plugged in when created (true). */
  present?: boolean;
  /** Most bytes one read hands the driver (MockBinding's default, 1024). */
  maxReadSize?: number;
}

function osError(code: string, errno: number, message: string, disconnect = false): Error {
  return Object.assign(new Error(message), { code, errno }, disconnect ? { disconnect } : {});
}

/** A MockPortBinding whose calls fail as a real port's do once its device is unplugged. */
class UnpluggablePort implements BindingPortInterface {
  private failure: Error | null = null;
  private fail: (error: Error) => void = () => {};
  private readonly unplugged = new Promise<never>((_, reject) => (this.fail = reject));

  constructor(readonly mock: MockPortBinding) {
    this.unplugged.catch(() => {}); // nobody may be reading when the plug is pulled
  }

  get openOptions(): Required<OpenOptions> {
    return this.mock.openOptions;
  }
  get isOpen(): boolean {
    return this.mock.isOpen;
  }

  unplug(error: Error): void {
    this.failure = error;
    this.fail(error);
  }

  close(): Promise<void> {
    return this.mock.close(); // closing the handle of a vanished device succeeds
  }
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    return this.guard(() => this.mock.read(buffer, offset, length));
  }
  write(buffer: Buffer): Promise<void> {
    return this.guard(() => this.mock.write(buffer));
  }
  update(options: UpdateOptions): Promise<void> {
    return this.guard(() => this.mock.update(options));
  }
  set(options: SetOptions): Promise<void> {
    return this.guard(() => this.mock.set(options));
  }
  get(): ReturnType<MockPortBinding['get']> {
    return this.guard(() => this.mock.get());
  }
  getBaudRate(): Promise<{ baudRate: number }> {
    return this.guard(() => this.mock.getBaudRate());
  }
  flush(): Promise<void> {
    return this.guard(() => this.mock.flush());
  }
  drain(): Promise<void> {
    return this.guard(() => this.mock.drain());
  }

  private guard<T>(call: () => Promise<T>): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return Promise.race([call(), this.unplugged]);
  }
}

export class VirtualScanner {
  readonly path: string;
  readonly lineEnding: LineEnding;
  /** The serialport binding the driver under test must use. */
  readonly binding: BindingInterface<UnpluggablePort>;
  /** How many times a driver tried to open the port, present or not. */
  openAttempts = 0;
  /** The options of the last successful open (baud rate and the rest). */
  lastOpenOptions: OpenOptions | null = null;
  private present: boolean;
  private port: UnpluggablePort | null = null;
  private readonly maxReadSize: number | undefined;

  constructor(options: VirtualScannerOptions) {
    this.path = options.path;
    this.lineEnding = options.lineEnding ?? 'CRLF';
    this.maxReadSize = options.maxReadSize;
    this.present = options.present ?? true;
    if (this.present) this.createNode();
    this.binding = {
      list: async (): Promise<PortInfo[]> =>
        this.present ? (await MockBinding.list()).filter((info) => info.path === this.path) : [],
      open: (openOptions: OpenOptions) => this.open(openOptions),
    };
  }

  get pluggedIn(): boolean {
    return this.present;
  }

  /** A driver holds the port open. */
  get connected(): boolean {
    return this.present && (this.port?.isOpen ?? false);
  }

  /** Sends the text and the line ending; false when no driver has the port open (the bytes are lost). */
  scan(text: string): boolean {
    return this.emit(Buffer.from(text + ENDINGS[this.lineEnding], 'utf8'));
  }

  /** Sends raw bytes as separate reads: each chunk is handed over before the next is sent. */
  async send(...chunks: Array<Buffer | string>): Promise<boolean> {
    for (const chunk of chunks) {
      if (!this.emit(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk)) return false;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return true;
  }

  /** Pulls the module's plug: the open port fails as a vanished USB serial device does. */
  unplug(): void {
    if (!this.present) return;
    this.present = false;
    const port = this.port;
    this.port = null;
    port?.unplug(osError('ENXIO', -6, 'ENXIO: no such device or address, read', true));
  }

  /** Plugs the module back in at the same path. */
  plugIn(): void {
    if (this.present) return;
    this.present = true;
    this.createNode();
  }

  private createNode(): void {
    MockBinding.createPort(this.path, this.maxReadSize ? { maxReadSize: this.maxReadSize } : {});
  }

  private emit(bytes: Buffer): boolean {
    if (!this.connected || !this.port) return false;
    this.port.mock.emitData(bytes);
    return true;
  }

  private async open(options: OpenOptions): Promise<UnpluggablePort> {
    this.openAttempts++;
    if (options.path !== this.path) throw new Error(`virtual scanner at ${this.path} cannot open ${options.path}`);
    const missing = () => osError('ENOENT', -2, `Error: No such file or directory, cannot open ${this.path}`);
    if (!this.present) {
      await new Promise((resolve) => process.nextTick(resolve));
      throw missing();
    }
    const mock = await MockBinding.open(options);
    if (!this.present) {
      await mock.close(); // unplugged while opening
      throw missing();
    }
    this.lastOpenOptions = { ...options };
    this.port = new UnpluggablePort(mock);
    return this.port;
  }
}
