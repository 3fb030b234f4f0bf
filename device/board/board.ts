/**
 * One johnny-five Board for the gate's pins and I2C bus, opened from config:
 *   - `io`: an IO plugin instance already made (the simulator's VirtualIO);
 *   - `ioPlugin`: a module to import and construct (raspi-io, linux-io based plugins);
 *   - otherwise Firmata over serialport: `port`, or the first USB/ACM/COM port found.
 *
 * No global board: every component gets `board` explicitly, the REPL, the
 * debug console and johnny-five's SIGINT handler are off. The board resolves
 * when ready or rejects with a DeviceError carrying a board code; once ready,
 * 'lost' fires (once) when the board reports close, exit, error or disconnect.
 *
 * johnny-five 2.1.0 is CommonJS without types: the little of it the drivers
 * use is typed here, and loaded with createRequire.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';
import { DeviceError } from '../errors.js';

const require = createRequire(import.meta.url);

/** What the drivers call on an IO plugin (johnny-five's IO plugin interface, the parts we use). */
export interface IoPlugin extends EventEmitter {
  readonly name: string;
  readonly isReady: boolean;
  readonly pins: readonly unknown[];
  readonly MODES: Readonly<Record<string, number>>;
  readonly HIGH: number;
  readonly LOW: number;
  pinMode(pin: number, mode: number): unknown;
  digitalWrite(pin: number, value: number): unknown;
  digitalRead(pin: number, callback: (value: number) => void): unknown;
  i2cConfig(options: unknown): unknown;
  i2cRead(address: number, register: number, bytesToRead: number, callback: (bytes: number[]) => void): unknown;
  i2cReadOnce(address: number, register: number, bytesToRead: number, callback: (bytes: number[]) => void): unknown;
  /** Firmata and VirtualIO: stop continuous reads of an address. Not every plugin has it. */
  i2cStop?(options: number | { address: number }): unknown;
  /** Firmata: the serial port it talks through. */
  transport?: { close?(callback?: () => void): unknown };
}

export interface J5Board extends EventEmitter {
  readonly id: string;
  readonly io: IoPlugin;
  readonly isReady: boolean;
}
export interface J5Relay {
  readonly pin: number;
  readonly type: 'NO' | 'NC';
  readonly isClosed: boolean;
  open(): J5Relay;
  close(): J5Relay;
}
export interface J5Button extends EventEmitter {
  readonly pin: number;
  readonly isDown: boolean;
}
export interface J5Thermometer extends EventEmitter {
  readonly io: IoPlugin;
  readonly celsius: number;
  disable(): J5Thermometer;
}
/** A johnny-five controller: property descriptors (Board.Controller applies them with Object.defineProperties). */
export type J5Controller = Record<string, PropertyDescriptor>;

interface JohnnyFive {
  Board: new (options: Record<string, unknown>) => J5Board;
  Relay: new (options: { board: J5Board; pin: number | string; type: 'NO' | 'NC' }) => J5Relay;
  Button: new (options: {
    board: J5Board;
    pin: number | string;
    invert: boolean;
    pullup: boolean;
    holdtime: number;
  }) => J5Button;
  Thermometer: new (options: { board: J5Board; controller: J5Controller; freq?: number; [key: string]: unknown }) => J5Thermometer;
}

export const five = require('johnny-five') as JohnnyFive;

export interface BoardLoss {
  reason: 'close' | 'exit' | 'error' | 'disconnect';
  detail: string;
  /** performance.now() when it was seen. */
  at: number;
}

export interface BoardOptions {
  /** An IO plugin instance, e.g. the simulator's VirtualIO. */
  io?: object;
  /** Module name (or absolute path) of an IO plugin to import and construct, e.g. 'raspi-io'. */
  ioPlugin?: string;
  /** Options for the plugin's constructor. */
  ioPluginOptions?: Record<string, unknown>;
  /** Firmata over serialport: the port's path; default the first USB/ACM/COM port. */
  port?: string;
  readyTimeoutMs: number;
}

/** An open board: johnny-five's Board plus the 'lost' notification. */
export class GateBoard {
  private readonly events = new EventEmitter<{ lost: [loss: BoardLoss] }>();
  private loss: BoardLoss | null = null;
  private readonly detach: Array<() => void> = [];

  constructor(readonly j5: J5Board) {
    for (const reason of ['close', 'exit', 'error', 'disconnect'] as const) {
      const listener = (data: unknown): void => this.markLost(reason, describe(data));
      j5.on(reason, listener);
      this.detach.push(() => j5.off(reason, listener));
    }
  }

  get io(): IoPlugin {
    return this.j5.io;
  }
  get lost(): BoardLoss | null {
    return this.loss;
  }

  /** Called once when the board is lost (at once if it already is). Returns an unsubscribe. */
  onLost(listener: (loss: BoardLoss) => void): () => void {
    if (this.loss) {
      const loss = this.loss;
      queueMicrotask(() => listener(loss));
      return () => {};
    }
    this.events.on('lost', listener);
    return () => this.events.off('lost', listener);
  }

  /** Stop watching and close the serial transport if there is one (no 'lost' for a deliberate close). */
  close(): void {
    for (const off of this.detach.splice(0)) off();
    this.events.removeAllListeners();
    this.io.transport?.close?.();
  }

  private markLost(reason: BoardLoss['reason'], detail: string): void {
    if (this.loss) return;
    this.loss = { reason, detail, at: performance.now() };
    this.events.emit('lost', this.loss);
  }
}

function describe(data: unknown): string {
  if (data instanceof Error) return data.message;
  if (data && typeof data === 'object' && 'message' in data) return String((data as { message: unknown }).message);
  return data === undefined ? '' : String(data);
}

/** Open the board and wait until it is ready. */
export async function openBoard(options: BoardOptions): Promise<GateBoard> {
  const io = (await makeIo(options)) as IoPlugin;
  return new Promise<GateBoard>((resolve, reject) => {
    let settled = false;
    const fail = (error: DeviceError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    };
    // An IO that emits 'error' before johnny-five listens to it must not crash the process.
    io.on('error', (error: unknown) => fail(new DeviceError('connect-failed', `board IO error before ready: ${describe(error)}`)));
    const timer = setTimeout(
      () => fail(new DeviceError('ready-timeout', `board (${io.name ?? 'IO plugin'}) not ready within ${options.readyTimeoutMs} ms: check the cable, the firmware (StandardFirmata) or the plugin`)),
      options.readyTimeoutMs,
    );
    const j5 = new five.Board({ io, repl: false, debug: false, sigint: false, timeout: options.readyTimeoutMs });
    // johnny-five reports its own log lines of type 'error' as 'error' events: always listen.
    j5.on('error', (error: unknown) => fail(new DeviceError('connect-failed', `board error before ready: ${describe(error)}`)));
    j5.once('ready', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(new GateBoard(j5));
    });
  });
}

async function makeIo(options: BoardOptions): Promise<object> {
  if (options.io) return options.io;
  if (options.ioPlugin) return loadPlugin(options.ioPlugin, options.ioPluginOptions ?? {});
  return openFirmata(options.port);
}

/** raspi-io exports a named class (RaspiIO), most others module.exports = the class. */
async function loadPlugin(name: string, pluginOptions: Record<string, unknown>): Promise<object> {
  let module: Record<string, unknown>;
  try {
    module = (await import(isAbsolute(name) ? pathToFileURL(name).href : name)) as Record<string, unknown>;
  } catch (error) {
    throw new DeviceError('plugin-load', `cannot import IO plugin '${name}': ${(error as Error).message}`);
  }
  const candidates = [module.default, ...Object.entries(module).filter(([key]) => /io$/i.test(key)).map(([, value]) => value)];
  const Plugin = candidates.find((value): value is new (options: object) => object => typeof value === 'function');
  if (!Plugin) throw new DeviceError('plugin-load', `IO plugin '${name}' exports no constructor (expected a default export or a class named …IO)`);
  return new Plugin(pluginOptions);
}

/**
 * Firmata over serialport. johnny-five's own serial path requires 'firmata',
 * which builds its port with the serialport 8 constructor; the project has
 * serialport 13, so the port is opened here and handed to firmata-io.
 */
async function openFirmata(port: string | undefined): Promise<object> {
  const { SerialPort } = await import('serialport');
  let path = port;
  if (!path) {
    const found = (await SerialPort.list()).find((info) => /usb|acm|^com/i.test(info.path));
    if (!found) throw new DeviceError('no-port', 'no serial port given and no USB/ACM/COM port found: is the Arduino plugged in?');
    path = found.path;
  }
  const Firmata = (require('firmata-io') as { Firmata: new (transport: object) => object }).Firmata;
  const transport = new SerialPort({ path, baudRate: 57600, highWaterMark: 256 });
  const io = new Firmata(transport) as IoPlugin & { defaultLed?: number };
  io.defaultLed = 13;
  return io;
}
