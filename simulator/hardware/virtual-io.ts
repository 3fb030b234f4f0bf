/**
 * A wire-level virtual board: a johnny-five IO plugin (the Firmata-shaped
 * interface johnny-five's Board, Relay, Button and Thermometer call), so the
 * real device drivers run on it unchanged.
 *   - every pin write is recorded with performance.now() (and whether it could
 *     reach the board: writes after disconnect() are not delivered);
 *   - tests and the simulator drive input pins with setInput(); a HIGH write
 *     on an INPUT pin enables the pull-up, as on Firmata;
 *   - disconnect() emits what johnny-five treats as a lost board ('close' by
 *     default, as Firmata does when its serial port goes away);
 *   - I2C devices answer at their address; EmulatedMlx90614 is an MLX90614.
 * Continuous I2C reads run in one sampling loop, like Firmata's (19 ms default).
 */
import { EventEmitter } from 'node:events';

export interface PinWrite {
  pin: number;
  value: number;
  /** performance.now() of the write. */
  at: number;
  /** false once the board is disconnected: the write went nowhere. */
  delivered: boolean;
}

interface VirtualPin {
  supportedModes: number[];
  mode: number;
  value: number;
  report: number;
  analogChannel: number;
  pullUp: boolean;
  /** Level driven from outside (setInput), or null when floating. */
  driven: number | null;
}

/** Something on the I2C bus. `repeatedStart`: the master kept the bus between command and read. */
export interface I2cDevice {
  read(command: number | undefined, length: number, repeatedStart: boolean): number[] | null;
  write?(bytes: number[]): void;
}

export interface VirtualIOOptions {
  /** Digital pins 0..13 and analog pins A0..A5 (20 pins, an Uno) by default. */
  digitalPins?: number;
  analogPins?: number;
  samplingIntervalMs?: number;
  /** Emit 'connect' and 'ready' by itself (default true); false models a board that never answers. */
  autoReady?: boolean;
}

type ReadCallback = (bytes: number[]) => void;
interface ContinuousRead {
  address: number;
  register: number | undefined;
  length: number;
  callback: ReadCallback;
}

/** How many pin and I2C writes are kept for tests to read (the oldest are dropped). */
const RECORDED_WRITES = 10_000;

const MODES = { INPUT: 0x00, OUTPUT: 0x01, ANALOG: 0x02, PWM: 0x03, SERVO: 0x04, I2C: 0x06, PULLUP: 0x0b } as const;

export class VirtualIO extends EventEmitter {
  readonly name = 'VirtualIO';
  readonly MODES = MODES;
  readonly HIGH = 1;
  readonly LOW = 0;
  readonly defaultLed = 13;
  readonly RESOLUTION = { ADC: 1023, DAC: null, PWM: 255 };
  readonly pins: VirtualPin[];
  readonly analogPins: number[];
  readonly writes: PinWrite[] = [];
  readonly i2cWrites: Array<{ address: number; bytes: number[]; at: number }> = [];
  isReady = false;
  connected = true;
  private samplingIntervalMs: number;
  private readonly devices = new Map<number, I2cDevice>();
  private readonly i2cSettings = new Map<number, { stopTX: boolean }>();
  private readonly continuous: ContinuousRead[] = [];
  private loop: NodeJS.Timeout | null = null;
  private readonly digitalListeners = new Map<number, Set<(value: number) => void>>();

  constructor(options: VirtualIOOptions = {}) {
    super();
    const digital = options.digitalPins ?? 14;
    const analog = options.analogPins ?? 6;
    this.samplingIntervalMs = options.samplingIntervalMs ?? 19;
    this.pins = Array.from({ length: digital + analog }, (_, index) => ({
      supportedModes: index < digital ? [MODES.INPUT, MODES.OUTPUT, MODES.PULLUP] : [MODES.INPUT, MODES.OUTPUT, MODES.ANALOG],
      mode: index < digital ? MODES.OUTPUT : MODES.ANALOG,
      value: 0,
      report: 1,
      analogChannel: index < digital ? 127 : index - digital,
      pullUp: false,
      driven: null,
    }));
    this.analogPins = Array.from({ length: analog }, (_, channel) => digital + channel);
    if (options.autoReady ?? true) {
      setImmediate(() => {
        this.emit('connect');
        this.isReady = true;
        this.emit('ready');
      });
    }
  }

  // ---- what johnny-five calls -------------------------------------------

  /** 'A0' → its pin index; numbers and numeric strings as they are. */
  normalize(pin: number | string): number {
    if (typeof pin === 'number') return pin;
    const analog = /^A(\d+)$/i.exec(pin);
    if (analog) return this.analogPins[Number(analog[1])] ?? -1;
    return Number(pin);
  }

  pinMode(pin: number | string, mode: number): this {
    const target = this.pin(pin);
    target.mode = mode;
    if (mode === MODES.PULLUP) target.pullUp = true;
    return this;
  }

  digitalWrite(pin: number | string, value: number): this {
    const index = this.normalize(pin);
    const target = this.pin(index);
    this.record(this.writes, { pin: index, value: value ? 1 : 0, at: performance.now(), delivered: this.connected });
    if (!this.connected) return this;
    if (target.mode === MODES.INPUT || target.mode === MODES.PULLUP) {
      const before = this.level(index);
      target.pullUp = !!value; // Firmata: writing an input pin switches its pull-up
      this.notify(index, before);
    } else target.value = value ? 1 : 0;
    return this;
  }

  /** Calls back with the level now, then on every change (as Firmata reports a digital pin). */
  digitalRead(pin: number | string, callback: (value: number) => void): this {
    const index = this.normalize(pin);
    this.pin(index).report = 1;
    let listeners = this.digitalListeners.get(index);
    if (!listeners) this.digitalListeners.set(index, (listeners = new Set()));
    listeners.add(callback);
    setImmediate(() => {
      if (this.connected) callback(this.level(index));
    });
    return this;
  }

  analogRead(pin: number | string, callback: (value: number) => void): this {
    const index = this.normalize(pin);
    setImmediate(() => callback(this.pin(index).value));
    return this;
  }

  analogWrite(pin: number | string, value: number): this {
    const index = this.normalize(pin);
    this.record(this.writes, { pin: index, value, at: performance.now(), delivered: this.connected });
    if (this.connected) this.pin(index).value = value;
    return this;
  }

  pwmWrite(pin: number | string, value: number): this {
    return this.analogWrite(pin, value);
  }

  queryPinState(_pin: number | string, callback: () => void): this {
    setImmediate(callback);
    return this;
  }

  setSamplingInterval(ms: number): this {
    this.samplingIntervalMs = Math.max(1, ms);
    if (this.loop) this.startLoop(true);
    return this;
  }

  /** johnny-five passes a delay or { address, settings: { stopTX } } (Firmata's form). */
  i2cConfig(options?: number | { address?: number; settings?: { stopTX?: boolean } }): this {
    if (typeof options === 'object' && options.address !== undefined) {
      const current = this.i2cSettings.get(options.address) ?? { stopTX: true };
      this.i2cSettings.set(options.address, { ...current, ...options.settings } as { stopTX: boolean });
    }
    return this;
  }

  /** i2cWrite(address, bytes) or i2cWrite(address, register, bytes | byte). */
  i2cWrite(address: number, registerOrBytes: number | number[], bytes?: number | number[]): this {
    const data = Array.isArray(registerOrBytes) ? registerOrBytes : [registerOrBytes, ...(bytes === undefined ? [] : Array.isArray(bytes) ? bytes : [bytes])];
    this.record(this.i2cWrites, { address, bytes: data, at: performance.now() });
    if (this.connected) this.devices.get(address)?.write?.(data);
    return this;
  }

  i2cWriteReg(address: number, register: number, byte: number): this {
    return this.i2cWrite(address, register, [byte]);
  }

  /** Continuous read: i2cRead(address, [register,] length, callback), answered every sampling interval. */
  i2cRead(address: number, ...args: Array<number | ReadCallback>): this {
    this.continuous.push({ address, ...readArgs(args) });
    this.startLoop(false);
    return this;
  }

  i2cReadOnce(address: number, ...args: Array<number | ReadCallback>): this {
    const request = { address, ...readArgs(args) };
    setImmediate(() => this.answer(request));
    return this;
  }

  /** Firmata's i2cStop: end the continuous reads of an address. */
  i2cStop(options: number | { address: number }): this {
    const address = typeof options === 'number' ? options : options.address;
    for (let i = this.continuous.length - 1; i >= 0; i--) if (this.continuous[i]?.address === address) this.continuous.splice(i, 1);
    return this;
  }

  /** Firmata's system reset: reads and reports stop, pins go back to their defaults. */
  reset(): this {
    this.continuous.length = 0;
    this.stopLoop();
    this.digitalListeners.clear();
    for (const pin of this.pins) pin.pullUp = false;
    return this;
  }

  // ---- what tests and the simulator use ------------------------------------

  /** Drive an input pin from outside (a contact, a beam, a fire-alarm relay), or float it (null). */
  setInput(pin: number | string, level: 0 | 1 | boolean | null): void {
    const index = this.normalize(pin);
    const before = this.level(index);
    this.pin(index).driven = level === null ? null : level ? 1 : 0;
    this.notify(index, before);
  }

  /** The level a pin is at: an output's last write, an input's driven level or its pull-up. */
  level(pin: number | string): number {
    const target = this.pin(pin);
    if (target.mode === MODES.OUTPUT) return target.value;
    return target.driven ?? (target.pullUp ? 1 : 0);
  }

  /** Keep the latest RECORDED_WRITES of a log: the simulator runs for days under `npm start --rounds`. */
  private record<T>(log: T[], entry: T): void {
    log.push(entry);
    if (log.length > RECORDED_WRITES) log.splice(0, log.length - RECORDED_WRITES);
  }

  /** Recorded writes to one pin. */
  writesTo(pin: number | string): PinWrite[] {
    const index = this.normalize(pin);
    return this.writes.filter((write) => write.pin === index);
  }

  attachI2c(address: number, device: I2cDevice): void {
    this.devices.set(address, device);
  }

  /** Lose the board: nothing reaches it or comes back any more, and johnny-five is told. */
  disconnect(kind: 'close' | 'disconnect' | 'error' = 'close'): void {
    if (!this.connected) return;
    this.connected = false;
    this.stopLoop();
    this.digitalListeners.clear();
    if (kind === 'error') this.emit('error', new Error('virtual board: link error'));
    else this.emit(kind);
  }

  // ---- inside ----------------------------------------------------------------

  private pin(pin: number | string): VirtualPin {
    const target = this.pins[this.normalize(pin)];
    if (!target) throw new RangeError(`virtual board has no pin ${String(pin)}`);
    return target;
  }

  private notify(index: number, before: number): void {
    const after = this.level(index);
    if (after === before || !this.connected) return;
    for (const listener of [...(this.digitalListeners.get(index) ?? [])]) setImmediate(() => this.connected && listener(after));
  }

  private answer(request: ContinuousRead): void {
    if (!this.connected) return;
    const device = this.devices.get(request.address);
    const repeatedStart = this.i2cSettings.get(request.address)?.stopTX === false;
    const bytes = device?.read(request.register, request.length, repeatedStart) ?? null;
    if (bytes) request.callback(bytes); // no device, or one that does not answer: Firmata reports nothing
  }

  private startLoop(restart: boolean): void {
    if (this.loop && !restart) return;
    this.stopLoop();
    this.loop = setInterval(() => {
      for (const request of [...this.continuous]) this.answer(request);
    }, this.samplingIntervalMs);
    this.loop.unref();
  }

  private stopLoop(): void {
    if (this.loop) clearInterval(this.loop);
    this.loop = null;
  }
}

function readArgs(args: Array<number | ReadCallback>): Omit<ContinuousRead, 'address'> {
  const callback = args[args.length - 1];
  if (typeof callback !== 'function') throw new TypeError('i2cRead: the last argument must be a callback');
  const numbers = args.slice(0, -1) as number[];
  return numbers.length >= 2 ? { register: numbers[0], length: numbers[1] ?? 0, callback } : { register: undefined, length: numbers[0] ?? 0, callback };
}

// ---- an MLX90614 on the bus --------------------------------------------------

/** CRC-8 (x⁸+x²+x+1) by table, written apart from the driver's bitwise one so each checks the other. */
const CRC8_TABLE = Array.from({ length: 256 }, (_, index) => {
  let crc = index;
  for (let bit = 0; bit < 8; bit++) crc = (crc & 0x80 ? (crc << 1) ^ 0x07 : crc << 1) & 0xff;
  return crc;
});
const crc8 = (bytes: number[]): number => bytes.reduce((crc, byte) => CRC8_TABLE[(crc ^ byte) & 0xff] ?? 0, 0);

export type EmulatedMlxFault =
  | 'bad-pec' // every reply carries a wrong PEC
  | 'out-of-range' // Tobj1 reads 0x7FFF (382.2 °C, above the 380 °C the part is calibrated for)
  | 'stuck' // every register keeps answering the word it had when the fault began
  | 'silent' // no answer at all (NACK)
  | 'error-flag'; // bit 15 set in the RAM temperature words

/**
 * The MLX90614's SMBus face: RAM 0x06 (Ta) and 0x07 (Tobj1) in 0.02 K steps,
 * EEPROM 0x04 (emissivity, command 0x24), read word = [LSB, MSB, PEC]. Tobj1
 * is what the device computes with its EEPROM emissivity for a target of
 * `objectEmissivity`. Reads need a repeated start, as on the real part:
 * after a STOP the command is lost and the bus reads back 0xFF.
 */
export class EmulatedMlx90614 implements I2cDevice {
  ambientCelsius = 25;
  objectCelsius = 36.6;
  /** Emissivity of what the sensor looks at; null = the same as the EEPROM's. */
  objectEmissivity: number | null = null;
  /** EEPROM 0x04: round(65535 × ε); factory 0xFFFF (ε = 1). */
  emissivityWord = 0xffff;
  /** Noise on each RAM register's words, in LSB, in the pattern 0, +n, 0, −n (it averages out). */
  noiseLsb = 1;
  /** RAM temperature reads answered. */
  reads = 0;
  private current: EmulatedMlxFault | null = null;
  private readonly frozen = new Map<number, number>();
  private readonly counts = new Map<number, number>();

  constructor(readonly address = 0x5a) {}

  get fault(): EmulatedMlxFault | null {
    return this.current;
  }
  set fault(fault: EmulatedMlxFault | null) {
    this.current = fault;
    this.frozen.clear();
  }

  read(command: number | undefined, length: number, repeatedStart: boolean): number[] | null {
    if (this.current === 'silent' || command === undefined) return null;
    if (!repeatedStart) return Array<number>(length).fill(0xff);
    let word = this.word(command);
    if (this.current === 'stuck') {
      word = this.frozen.get(command) ?? word;
      this.frozen.set(command, word);
    }
    const lsb = word & 0xff;
    const msb = (word >> 8) & 0xff;
    let pec = crc8([(this.address << 1) & 0xfe, command, ((this.address << 1) | 1) & 0xff, lsb, msb]);
    if (this.current === 'bad-pec') pec ^= 0x5a;
    return [lsb, msb, pec].slice(0, length);
  }

  private word(command: number): number {
    if (command === 0x24) return this.emissivityWord;
    if (command !== 0x06 && command !== 0x07) return 0;
    const count = this.counts.get(command) ?? 0;
    this.counts.set(command, count + 1);
    this.reads++;
    const noise = [0, this.noiseLsb, 0, -this.noiseLsb][count % 4] ?? 0;
    const ambientK = this.ambientCelsius + 273.15;
    let kelvin = ambientK;
    if (command === 0x07) {
      if (this.current === 'out-of-range') return 0x7fff;
      const device = this.emissivityWord / 0xffff;
      const target = this.objectEmissivity ?? device;
      kelvin = (ambientK ** 4 + (target / device) * ((this.objectCelsius + 273.15) ** 4 - ambientK ** 4)) ** 0.25;
    }
    const word = Math.max(0, Math.min(0x7fff, Math.round(kelvin / 0.02) + noise));
    return this.current === 'error-flag' ? word | 0x8000 : word;
  }
}
