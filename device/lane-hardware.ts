/**
 * A lane's hardware from its wiring description: the board (Firmata over
 * USB, or an IO plugin), the relay, the beam, fire-alarm and exit inputs,
 * lamps, the MLX90614, and the code readers (serial scanner, ONVIF camera,
 * or both: the first read wins). The simulator passes its virtual board
 * and serial binding in; a real gate passes nothing and gets the real ones.
 */
import { EventEmitter } from 'node:events';
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Logger } from 'pino';
import type { CodeReader, FrameTimings, HardwareFault, HardwareHealth, LaneHardware } from './contracts.js';
import { openBoard, type GateBoard } from './board/board.js';
import { CameraCodeReader } from './camera/camera-reader.js';
import type { FramePipelineOptions } from './camera/frame-pipeline.js';
import { OnvifCamera } from './camera/onvif-camera.js';
import { BeamPassageSensor, DebouncedInput, ExitButton, FireAlarmRelease, type DebouncedInputOptions } from './gate/inputs.js';
import { RelayGate, type RelayGateOptions } from './gate/relay-gate.js';
import { SignalLights, type SignalLightOptions } from './gate/signal-lights.js';
import { FirstReadWins } from './reader/first-read-wins.js';
import { SerialScanner, type LineDelimiter } from './scanner/serial-scanner.js';
import type { IdCardProtocol } from './id-card/frame-parser.js';
import { SerialIdCardReader } from './id-card/serial-id-card-reader.js';
import { Mlx90614Thermometer, type Mlx90614Options } from './thermometer/mlx90614.js';
import type { QrBackendName } from './qr/decoder.js';

export interface HardwareConfig {
  board: { io: string; port?: string; readyTimeoutMs: number };
  relay: RelayGateOptions & { pin: number };
  passageBeam: DebouncedInputOptions & { pin: number };
  fireAlarm: DebouncedInputOptions & { pin: number };
  exitButton?: DebouncedInputOptions & { pin: number };
  lights?: SignalLightOptions;
  thermometer: Mlx90614Options;
  scanner?: { path: string; baudRate: number; delimiter: LineDelimiter };
  /** A resident ID-card reader; defaults as in the config schema. */
  idCardReader?: { path: string; baudRate?: number; protocol?: IdCardProtocol; delimiter?: LineDelimiter };
  camera?: {
    xaddr: string;
    user?: string;
    password?: string;
    framesPerSecond: number;
    region?: FramePipelineOptions['region'];
    maxWidth?: number;
    decoder: QrBackendName;
  };
}

/** What the simulator (or a test) puts under the real drivers. */
export interface HardwareInjection {
  /** An IO plugin instance used instead of `board.io`. */
  io?: object;
  /** A serialport binding for the scanner and the ID-card reader (MockBinding in the simulator). */
  serialBinding?: BindingInterface;
}

export interface OpenLaneHardware extends LaneHardware {
  health: HardwareHealth;
  board: GateBoard;
  close(): Promise<void>;
}

export async function openLaneHardware(config: HardwareConfig, logger: Logger, injection: HardwareInjection = {}): Promise<OpenLaneHardware> {
  const board = await openBoard({
    readyTimeoutMs: config.board.readyTimeoutMs,
    ...(injection.io ? { io: injection.io } : config.board.io === 'firmata' ? (config.board.port ? { port: config.board.port } : {}) : { ioPlugin: config.board.io }),
  });
  const faults = new EventEmitter<{ fault: [fault: HardwareFault] }>();
  const report = (fault: HardwareFault): void => {
    const fields = { device: fault.device, active: fault.active, blocking: fault.blocking };
    if (fault.active) logger.warn(fields, fault.detail);
    else logger.info(fields, fault.detail);
    faults.emit('fault', fault);
  };
  board.onLost((loss) => report({ device: 'board', detail: `board lost (${loss.reason}): ${loss.detail}`, blocking: true, active: true }));

  const gate = new RelayGate(board, config.relay);
  gate.onFault((message) => report({ device: 'relay', detail: message, blocking: true, active: true }));
  const inputs: DebouncedInput[] = [];
  const input = (options: DebouncedInputOptions): DebouncedInput => {
    const made = new DebouncedInput(board, options);
    inputs.push(made);
    return made;
  };
  const passage = new BeamPassageSensor(input(config.passageBeam));
  // An alarm opens the lane at its first edge; only its end is debounced.
  const fireAlarm = new FireAlarmRelease(input({ ...config.fireAlarm, immediateActive: true }));
  const exitButton = config.exitButton ? new ExitButton(input(config.exitButton)) : undefined;
  const thermometer = new Mlx90614Thermometer(board, config.thermometer);
  const annunciator = new SignalLights(board, config.lights ?? {});

  const readers: CodeReader[] = [];
  const cameras: OnvifCamera[] = [];
  let frames: FrameTimings | undefined;
  if (config.scanner) {
    const scanner = new SerialScanner({ ...config.scanner, logger, ...(injection.serialBinding ? { binding: injection.serialBinding } : {}) });
    scanner.onStatus((status) =>
      report({ device: 'scanner', detail: `scanner ${status.state}: ${status.reason}`, blocking: false, active: status.state !== 'connected' }),
    );
    readers.push(scanner);
  }
  if (config.camera) {
    const { xaddr, user, password, framesPerSecond, region, maxWidth, decoder } = config.camera;
    const camera = new OnvifCamera({ xaddr, ...(user ? { user } : {}), ...(password ? { pass: password } : {}) });
    cameras.push(camera);
    const reader = new CameraCodeReader({
      camera,
      framesPerSecond,
      pipeline: { ...(region ? { region } : {}), ...(maxWidth ? { maxWidth } : {}), backend: decoder },
      logger,
    });
    reader.onStatus((status) =>
      report({
        device: 'camera',
        detail: status.state === 'ok' ? 'camera ok' : `camera ${status.reason}: ${status.detail}`,
        blocking: false,
        active: status.state !== 'ok',
      }),
    );
    readers.push(reader);
    frames = reader;
  }
  if (readers.length === 0) throw new Error('hardware: neither a scanner nor a camera is configured; the lane could read no code');
  const reader = readers.length === 1 ? readers[0]! : new FirstReadWins(readers);

  // Started and stopped by the lane that takes ID cards; close() stops it too (stop() is idempotent).
  let idCardReader: SerialIdCardReader | undefined;
  if (config.idCardReader) {
    idCardReader = new SerialIdCardReader({ ...config.idCardReader, logger, ...(injection.serialBinding ? { binding: injection.serialBinding } : {}) });
    // Unplugged is a fault; a misread card is not (the driver logs it, and the person swipes again).
    let unplugged = false;
    idCardReader.onStatus((status) => {
      if (status.state === 'bad-frame' || (status.state === 'disconnected') === unplugged) return;
      unplugged = status.state === 'disconnected';
      report({ device: 'id-card-reader', detail: `id-card reader ${status.state}: ${status.reason}`, blocking: false, active: unplugged });
    });
  }

  return {
    board,
    reader,
    thermometer,
    gate,
    passage,
    fireAlarm,
    annunciator,
    ...(exitButton ? { exitButton } : {}),
    ...(idCardReader ? { idCardReader } : {}),
    ...(frames ? { frames } : {}),
    health: { onFault: (listener) => (faults.on('fault', listener), () => faults.off('fault', listener)) },
    close: async () => {
      await reader.stop();
      await idCardReader?.stop();
      for (const camera of cameras) camera.close();
      thermometer.close();
      for (const each of inputs) each.close();
      gate.close();
      board.close();
      faults.removeAllListeners();
    },
  };
}
