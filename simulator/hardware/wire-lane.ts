/**
 * A lane of wire-level virtual hardware: the virtual johnny-five board (relay,
 * beam, fire alarm, exit button, lamps and an emulated MLX90614 on I2C), a QR
 * scanner module and a resident ID-card reader (SAM frames) on serialport's
 * MockBinding, and an ONVIF camera emulator on loopback. The real drivers (device/lane-hardware.ts) run on top of it, as
 * they would on a gate; the crowd acts on it from the person's side.
 */
import type { TemperatureReading } from '../../device/contracts.js';
import type { HardwareConfig, HardwareInjection } from '../../device/lane-hardware.js';
import { OnvifCameraEmulator } from './onvif-camera-emulator.js';
import { EmulatedMlx90614, VirtualIO, type EmulatedMlxFault } from './virtual-io.js';
import { VirtualScanner } from './virtual-scanner.js';
import { VirtualIdCardReader } from './virtual-id-card-reader.js';
import { serialPorts } from './serial-ports.js';

/** The simulator's wiring: an Uno-sized board. */
export const SIM_PINS = { relay: 7, beam: 2, fireAlarm: 3, exitButton: 4, green: 5, red: 6, buzzer: 8 } as const;
const SCANNER_PATH = '/dev/ttySIM-scanner';
const ID_CARD_PATH = '/dev/ttySIM-idcard';
const CAMERA_USER = 'gate';
const CAMERA_PASSWORD = 'simulated-camera';

/** How a person holds up a code: to the scanner module's window, or to the camera. */
export type CodeWay = 'scanner' | 'camera';

const FAULT_OF: Record<Exclude<TemperatureReading, { ok: true }>['fault'], EmulatedMlxFault> = {
  checksum: 'bad-pec',
  'out-of-range': 'out-of-range',
  stuck: 'stuck',
  silent: 'silent',
  disconnected: 'silent',
};

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class WireLane {
  private constructor(
    readonly io: VirtualIO,
    readonly mlx: EmulatedMlx90614,
    readonly scanner: VirtualScanner,
    /** Absent when the lane has no camera fitted. */
    readonly camera: OnvifCameraEmulator | null,
    readonly idCard: VirtualIdCardReader,
  ) {}

  static async start(options: { camera?: boolean } = {}): Promise<WireLane> {
    const io = new VirtualIO();
    const mlx = new EmulatedMlx90614();
    io.attachI2c(mlx.address, mlx);
    const scanner = new VirtualScanner({ path: SCANNER_PATH });
    const camera = options.camera === false ? null : await OnvifCameraEmulator.start({ user: CAMERA_USER, pass: CAMERA_PASSWORD });
    camera?.show(null);
    const idCard = new VirtualIdCardReader({ path: ID_CARD_PATH, protocol: 'sam' });
    return new WireLane(io, mlx, scanner, camera, idCard);
  }

  /** The wiring description the agent's config would hold for this lane. */
  hardwareConfig(): HardwareConfig {
    return {
      board: { io: 'virtual', readyTimeoutMs: 5000 },
      relay: { pin: SIM_PINS.relay, type: 'NO', failSafe: 'open' },
      passageBeam: { pin: SIM_PINS.beam, debounceMs: 20 },
      fireAlarm: { pin: SIM_PINS.fireAlarm, debounceMs: 20 },
      exitButton: { pin: SIM_PINS.exitButton, debounceMs: 20 },
      lights: { green: SIM_PINS.green, red: SIM_PINS.red, buzzer: SIM_PINS.buzzer },
      thermometer: { address: this.mlx.address, stableSamples: 4, freq: 25 },
      scanner: { path: SCANNER_PATH, baudRate: 9600, delimiter: 'CRLF' },
      idCardReader: { path: ID_CARD_PATH, baudRate: 115200, protocol: 'sam' },
      ...(this.camera
        ? { camera: { xaddr: this.camera.xaddr, user: CAMERA_USER, password: CAMERA_PASSWORD, framesPerSecond: 5, decoder: 'zxing-wasm' as const } }
        : {}),
    };
  }

  /** What goes under the real drivers instead of a USB board and a tty. */
  injection(): HardwareInjection {
    return { io: this.io, serialBinding: serialPorts(this.scanner, this.idCard) };
  }

  /** Resolves once the agent's scanner driver has the port open (bytes sent before are lost, as on a real tty). */
  async scannerOpened(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.scanner.connected) {
      if (Date.now() > deadline) throw new Error(`scanner port not opened by the driver within ${timeoutMs} ms`);
      await pause(10);
    }
  }

  /** A person holds a code up; `way` picks the scanner window or the camera. */
  presentCode(text: string, way: CodeWay): void {
    if (way === 'camera' && this.camera) this.camera.show(text);
    else this.scanner.scan(text);
  }

  /** A person lays their resident ID card on the reader; false when no driver has its port open. */
  swipeIdCard(nationalId: string): Promise<boolean> {
    return this.idCard.swipe(nationalId);
  }

  /** Resolves once the lane's ID-card reader driver has the port open. */
  async idCardOpened(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.idCard.connected) {
      if (Date.now() > deadline) throw new Error(`id-card reader port not opened by the driver within ${timeoutMs} ms`);
      await pause(10);
    }
  }

  /** The phone is taken away from the camera. */
  withdrawCode(): void {
    this.camera?.show(null);
  }

  /** What the forehead sensor will see: a temperature, or a sensor fault. */
  setForehead(reading: TemperatureReading): void {
    if (reading.ok) {
      this.mlx.fault = null;
      this.mlx.objectCelsius = reading.celsius;
    } else {
      this.mlx.fault = FAULT_OF[reading.fault];
    }
  }

  /** Someone walks through: the beam is broken, then clear again (longer than the debounce). */
  async walkThrough(): Promise<void> {
    this.io.setInput(SIM_PINS.beam, 1);
    await pause(80);
    this.io.setInput(SIM_PINS.beam, 0);
  }

  setFireAlarm(active: boolean): void {
    this.io.setInput(SIM_PINS.fireAlarm, active ? 1 : 0);
  }

  /** The lock-release relay is energised (wired NO: pin HIGH). */
  get leafReleased(): boolean {
    return this.io.level(SIM_PINS.relay) === 1;
  }

  async close(): Promise<void> {
    await this.camera?.close();
  }
}
