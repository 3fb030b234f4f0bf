/**
 * Melexis MLX90614 IR thermometer over SMBus (I2C) as a johnny-five
 * Thermometer with our own controller (johnny-five ships none for it), and
 * the gate's Thermometer on top: a stable, averaged, compensated reading or
 * a fault, never an exception.
 *
 * References: MLX90614 family datasheet (Melexis 3901090614), sections on the
 * SMBus interface, RAM and EEPROM maps, PEC and temperature calculation (§8.7),
 * and Melexis' application note "SMBus communication with MLX90614".
 */
import { EventEmitter } from 'node:events';
import type { TemperatureReading, Thermometer, ThermometerFault } from '../contracts.js';
import { five, type GateBoard, type J5Controller, type J5Thermometer } from '../board/board.js';

/** Factory SMBus slave address (datasheet: EEPROM 0x0E, default 0x5A). */
export const MLX90614_ADDRESS = 0x5a;
/** RAM access is command 000x xxxx: RAM 0x06 = Ta (ambient), RAM 0x07 = Tobj1 (object, zone 1). */
export const RAM_TA = 0x06;
export const RAM_TOBJ1 = 0x07;
/** EEPROM access is command 001x xxxx: EEPROM 0x04 (emissivity correction coefficient) = command 0x24. */
export const EEPROM_EMISSIVITY = 0x20 | 0x04;
/** §8.7: T[K] = RAM word × 0.02 (resolution 0.02 K); bit 15 of a RAM word is an error flag. */
export const KELVIN_PER_LSB = 0.02;
export const ERROR_FLAG = 0x8000;
/** Datasheet §1 (features): factory calibrated for Ta −40…125 °C and To −70…380 °C. */
export const AMBIENT_RANGE_C: readonly [number, number] = [-40, 125];
export const OBJECT_RANGE_C: readonly [number, number] = [-70, 380];

/**
 * SMBus Packet Error Code (SMBus 2.0 §5.4.1.4; datasheet, PEC): CRC-8 with polynomial
 * x⁸+x²+x+1 (0x07), initial value 0, no reflection, over every byte of the transaction,
 * for a read word: [addr<<1, command, (addr<<1)|1, LSB, MSB].
 */
export function smbusPec(bytes: Iterable<number>): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte & 0xff;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** The PEC a device at `address` appends to the word it returns for `command`. */
export function readWordPec(address: number, command: number, lsb: number, msb: number): number {
  return smbusPec([(address << 1) & 0xfe, command, ((address << 1) | 1) & 0xff, lsb, msb]);
}

export type DecodedWord =
  | { ok: true; word: number; kelvin: number; celsius: number }
  | { ok: false; error: 'pec'; word: number; expected: number; received: number }
  | { ok: false; error: 'error-flag'; word: number };

/** One RAM temperature word as read (LSB first, then MSB and PEC), checked and converted (§8.7). */
export function decodeWord(lsb: number, msb: number, pec: number, address: number, command: number): DecodedWord {
  const word = ((msb & 0xff) << 8) | (lsb & 0xff);
  const expected = readWordPec(address, command, lsb, msb);
  if (expected !== pec) return { ok: false, error: 'pec', word, expected, received: pec };
  if (word & ERROR_FLAG) return { ok: false, error: 'error-flag', word };
  const kelvin = word * KELVIN_PER_LSB;
  return { ok: true, word, kelvin, celsius: kelvin - 273.15 };
}

/** Datasheet, EEPROM: emissivity coefficient = round(65535 × ε). */
export const emissivityFromWord = (word: number): number => word / 0xffff;

export interface Mlx90614Sample {
  register: 'object' | 'ambient';
  /** performance.now() when the reply arrived. */
  at: number;
  decoded: DecodedWord;
}

type Mlx90614Component = J5Thermometer & { emit(event: string, ...args: unknown[]): boolean };

/**
 * The johnny-five controller (property descriptors, as Board.Controller wants).
 * initialize() reads the emissivity EEPROM once and Tobj1 and Ta continuously,
 * 3 bytes each (LSB, MSB, PEC); it hands Tobj1 words to johnny-five (celsius,
 * 'data', 'change') and emits every reply as 'sample' for the gate's driver.
 */
export const MLX90614_CONTROLLER: J5Controller = {
  ADDRESSES: { value: [MLX90614_ADDRESS] },
  initialize: {
    value(this: Mlx90614Component, options: { address?: number }, dataHandler: (raw: number) => void): void {
      const address = options.address ?? MLX90614_ADDRESS;
      const io = this.io;
      // Reads are "write command, repeated START, read" (datasheet, SMBus read word): no STOP in between.
      io.i2cConfig({ address, settings: { stopTX: false } });
      const readEmissivity = (triesLeft: number): void => {
        io.i2cReadOnce(address, EEPROM_EMISSIVITY, 3, (bytes) => {
          const [lsb = 0, msb = 0, pec = -1] = bytes;
          if (readWordPec(address, EEPROM_EMISSIVITY, lsb, msb) === pec) this.emit('emissivity', emissivityFromWord((msb << 8) | lsb));
          else if (triesLeft > 0) readEmissivity(triesLeft - 1);
        });
      };
      readEmissivity(3);
      const poll = (command: number, register: Mlx90614Sample['register']): void => {
        io.i2cRead(address, command, 3, (bytes) => {
          const [lsb = 0, msb = 0, pec = -1] = bytes;
          const decoded = decodeWord(lsb, msb, pec, address, command);
          if (register === 'object' && decoded.ok) dataHandler(decoded.word);
          this.emit('sample', { register, at: performance.now(), decoded } satisfies Mlx90614Sample);
        });
      };
      poll(RAM_TOBJ1, 'object');
      poll(RAM_TA, 'ambient');
    },
  },
  toCelsius: {
    value(raw: number | null): number {
      return raw === null ? NaN : Math.round((raw * KELVIN_PER_LSB - 273.15) * 100) / 100;
    },
  },
};

/**
 * What the device reports was computed with its EEPROM emissivity ε_dev; the
 * radiated-power balance it solves is ε·(To⁴ − Ta⁴) (Stefan–Boltzmann, kelvins), so for a
 * target of emissivity ε: To⁴ = Ta⁴ + (ε_dev/ε)·(To_dev⁴ − Ta⁴).
 */
export function compensateEmissivity(objectK: number, ambientK: number, deviceEmissivity: number, emissivity: number): number {
  const ta4 = ambientK ** 4;
  return Math.max(0, ta4 + (deviceEmissivity / emissivity) * (objectK ** 4 - ta4)) ** 0.25;
}

export interface Mlx90614Options {
  /** SMBus address, default 0x5A. */
  address?: number;
  /** Emissivity of the target (skin ≈ 0.98); compensated when it differs from the device's EEPROM value. */
  emissivity?: number;
  /** Calibration offset added to the result, °C (from a reference blackbody). Default 0. */
  offsetC?: number;
  /** A reading is stable when this many consecutive object samples lie within `toleranceC`. Default 5. */
  stableSamples?: number;
  /** Largest spread (max − min) of a stable window, °C. Default 0.3. */
  toleranceC?: number;
  /** A forehead outside this range is implausible. Default [20, 45] °C. */
  plausibleC?: readonly [number, number];
  /**
   * A stable reading below this is no forehead (a wall, an empty view, a
   * person not yet close): the measurement keeps waiting for one until its
   * deadline. Default 30 °C (forehead skin reads about 33–37 °C).
   */
  minForeheadC?: number;
  /** This many PEC errors in a row is a 'checksum' fault (fewer are counted and skipped). Default 3. */
  checksumFaultAfter?: number;
  /** The same object word this many times in a row is 'stuck'. Default 50 (≈1 s at Firmata's 19 ms). */
  stuckSamples?: number;
  /** The same object word for this long while the ambient word changes is 'stuck'. Default 1000 ms. */
  stuckMs?: number;
  /** johnny-five's 'data' event interval, ms. Default 100. */
  freq?: number;
}

type Finish = (reading: TemperatureReading) => void;
const fault = (kind: ThermometerFault, detail: string): TemperatureReading => ({ ok: false, fault: kind, detail });
const hex = (value: number, digits = 2): string => `0x${value.toString(16).toUpperCase().padStart(digits, '0')}`;

export class Mlx90614Thermometer implements Thermometer {
  readonly component: J5Thermometer;
  readonly address: number;
  private readonly o: Required<Omit<Mlx90614Options, 'emissivity' | 'address' | 'freq'>> & { emissivity?: number };
  private readonly samples = new EventEmitter<{ sample: [sample: Mlx90614Sample] }>();
  private device: number | null = null;
  private pecTotal = 0;
  private pecRun = 0;
  private run: { word: number; since: number; count: number; ambientWord: number | null; ambientChanged: boolean } | null = null;
  private ambient: { word: number; kelvin: number } | null = null;
  /** The last few Ta values (K), averaged like the object's. */
  private readonly ambientWindow: number[] = [];
  private lostDetail: string | null = null;
  /** Measurements in progress, to end at once when the board is lost. */
  private readonly pending = new Set<Finish>();
  private readonly stopWatching: () => void;

  constructor(
    private readonly board: GateBoard,
    options: Mlx90614Options = {},
  ) {
    this.address = options.address ?? MLX90614_ADDRESS;
    this.o = {
      offsetC: options.offsetC ?? 0,
      stableSamples: options.stableSamples ?? 5,
      toleranceC: options.toleranceC ?? 0.3,
      plausibleC: options.plausibleC ?? [20, 45],
      minForeheadC: options.minForeheadC ?? 30,
      checksumFaultAfter: options.checksumFaultAfter ?? 3,
      stuckSamples: options.stuckSamples ?? 50,
      stuckMs: options.stuckMs ?? 1000,
      ...(options.emissivity !== undefined ? { emissivity: options.emissivity } : {}),
    };
    this.component = new five.Thermometer({ board: board.j5, controller: MLX90614_CONTROLLER, address: this.address, freq: options.freq ?? 100 });
    this.component.on('emissivity', (value: number) => (this.device = value));
    this.component.on('sample', (sample: Mlx90614Sample) => this.track(sample));
    this.stopWatching = board.onLost((loss) => {
      const detail = `thermometer board lost (${loss.reason}${loss.detail ? `: ${loss.detail}` : ''})`;
      this.lostDetail = detail;
      for (const finish of [...this.pending]) finish(fault('disconnected', detail));
    });
  }

  /** PEC errors seen since start. */
  get pecErrors(): number {
    return this.pecTotal;
  }
  /** Emissivity in the device's EEPROM, once read. */
  get deviceEmissivity(): number | null {
    return this.device;
  }

  measure(deadlineMs: number): Promise<TemperatureReading> {
    if (this.lostDetail) return Promise.resolve(fault('disconnected', this.lostDetail));
    return new Promise((resolve) => {
      const started = performance.now();
      const window: Array<{ word: number; celsius: number }> = [];
      let seen = 0;
      let spread = NaN;
      let noForehead: number | null = null;
      const finish: Finish = (reading) => {
        clearTimeout(timer);
        this.samples.off('sample', onSample);
        this.pending.delete(finish);
        resolve(reading);
      };
      const onSample = (sample: Mlx90614Sample): void => {
        seen++;
        const verdict = this.judge(sample, window);
        if (verdict) return finish(verdict);
        if (window.length < this.o.stableSamples) return;
        const values = window.map((entry) => entry.celsius);
        spread = Math.max(...values) - Math.min(...values);
        // A window of one repeated word proves nothing (a stuck sensor looks perfectly stable).
        if (spread > this.o.toleranceC || new Set(window.map((entry) => entry.word)).size < 2) return;
        const result = this.result(values);
        if (result?.ok && result.celsius < this.o.minForeheadC) {
          // Nobody (yet) in front of the sensor: start a new window and keep waiting.
          noForehead = result.celsius;
          window.length = 0;
          return;
        }
        if (result) finish(result);
      };
      const timer = setTimeout(() => {
        const waited = Math.round(performance.now() - started);
        if (seen === 0) finish(fault('silent', `no answer from the MLX90614 at ${hex(this.address)} within ${waited} ms`));
        else if (noForehead !== null) {
          finish(fault('out-of-range', `no forehead in view within ${waited} ms: a stable ${noForehead.toFixed(2)} °C is below ${this.o.minForeheadC} °C`));
        }
        else if (this.o.emissivity !== undefined && this.device === null) finish(fault('silent', `emissivity EEPROM (command ${hex(EEPROM_EMISSIVITY)}) never read correctly within ${waited} ms`));
        else finish(fault('silent', `no stable reading within ${waited} ms (${seen} replies, last spread ${Number.isNaN(spread) ? 'n/a' : spread.toFixed(2)} °C, tolerance ${this.o.toleranceC} °C)`));
      }, deadlineMs);
      this.samples.on('sample', onSample);
      this.pending.add(finish);
    });
  }

  /** Stop reading the sensor (johnny-five's interval, the plugin's continuous I2C reads). */
  close(): void {
    this.stopWatching();
    this.component.disable();
    this.component.removeAllListeners('sample');
    this.board.io.i2cStop?.({ address: this.address });
  }

  /** Background bookkeeping on every reply (PEC runs, stuck runs, last ambient), then on to measurements. */
  private track(sample: Mlx90614Sample): void {
    const { decoded } = sample;
    if (!decoded.ok && decoded.error === 'pec') {
      this.pecTotal++;
      this.pecRun++;
    } else this.pecRun = 0;
    if (decoded.ok && sample.register === 'ambient') {
      this.ambient = { word: decoded.word, kelvin: decoded.kelvin };
      this.ambientWindow.push(decoded.kelvin);
      if (this.ambientWindow.length > this.o.stableSamples) this.ambientWindow.shift();
      if (this.run && this.run.ambientWord === null) this.run.ambientWord = decoded.word;
      else if (this.run && this.run.ambientWord !== decoded.word) this.run.ambientChanged = true;
    }
    if (decoded.ok && sample.register === 'object') {
      if (this.run && this.run.word === decoded.word) this.run.count++;
      else this.run = { word: decoded.word, since: sample.at, count: 1, ambientWord: this.ambient?.word ?? null, ambientChanged: false };
    }
    this.samples.emit('sample', sample);
  }

  /** A fault this reply proves, or null; valid object samples go into the window. */
  private judge(sample: Mlx90614Sample, window: Array<{ word: number; celsius: number }>): TemperatureReading | null {
    const { decoded, register } = sample;
    const ram = register === 'object' ? `RAM ${hex(RAM_TOBJ1)} (Tobj1)` : `RAM ${hex(RAM_TA)} (Ta)`;
    if (!decoded.ok) {
      if (decoded.error === 'error-flag') return fault('out-of-range', `${ram}: error flag (bit 15) set, word ${hex(decoded.word, 4)}: the sensor marks its reading invalid`);
      if (this.pecRun >= this.o.checksumFaultAfter) {
        return fault('checksum', `${this.pecRun} PEC errors in a row (last at ${ram}: received ${hex(decoded.received)}, expected ${hex(decoded.expected)}; ${this.pecTotal} since start)`);
      }
      return null; // an isolated PEC error: counted, sample skipped
    }
    const [low, high] = register === 'object' ? OBJECT_RANGE_C : AMBIENT_RANGE_C;
    if (decoded.celsius < low || decoded.celsius > high) {
      return fault('out-of-range', `${ram}: ${decoded.celsius.toFixed(2)} °C is outside the datasheet range ${low}…${high} °C`);
    }
    if (register === 'ambient') return null;
    const run = this.run;
    if (run && (run.count >= this.o.stuckSamples || (run.ambientChanged && sample.at - run.since >= this.o.stuckMs))) {
      const why = run.count >= this.o.stuckSamples ? `${run.count} replies in a row` : `${Math.round(sample.at - run.since)} ms while the ambient changed`;
      return fault('stuck', `${ram}: the same word ${hex(run.word, 4)} for ${why}`);
    }
    window.push({ word: decoded.word, celsius: decoded.celsius });
    if (window.length > this.o.stableSamples) window.shift();
    return null;
  }

  /** The average of a stable window, compensated and offset; null while something it needs is still missing. */
  private result(values: number[]): TemperatureReading | null {
    let celsius = values.reduce((sum, value) => sum + value, 0) / values.length;
    const ambientK = this.ambientWindow.length ? this.ambientWindow.reduce((sum, value) => sum + value, 0) / this.ambientWindow.length : null;
    const target = this.o.emissivity;
    if (target !== undefined) {
      if (this.device === null || ambientK === null) return null; // wait for the EEPROM and Ta reads
      if (Math.abs(this.device - target) > 1e-4) celsius = compensateEmissivity(celsius + 273.15, ambientK, this.device, target) - 273.15;
    }
    celsius += this.o.offsetC;
    const ambientCelsius = ambientK === null ? undefined : Math.round((ambientK - 273.15) * 100) / 100;
    const [low, high] = this.o.plausibleC;
    if (celsius < low || celsius > high) {
      return fault('out-of-range', `forehead reading ${celsius.toFixed(2)} °C is physically implausible (outside ${low}…${high} °C): not a forehead, or the sensor is wrong`);
    }
    const rounded = Math.round(celsius * 100) / 100;
    return ambientCelsius === undefined ? { ok: true, celsius: rounded } : { ok: true, celsius: rounded, ambientCelsius };
  }
}
