/**
 * Hardware contracts of one gate lane. device/ knows pins, registers and
 * bytes; these interfaces are all that edge-agent/ sees of it. Real drivers
 * (johnny-five, serialport, ONVIF) and the simulator's virtual hardware both
 * implement them, so the lane's code never learns which one it drives.
 */

/** Where a code text came from: the lane records it with the decision. */
export type CodeSource = 'scanner' | 'camera' | 'virtual';

export interface CodeRead {
  /** Exact text of the QR code as the reader decoded it. */
  text: string;
  source: CodeSource;
  /** Monotonic time (performance.now()) at which the reader produced it. */
  at: number;
}

/** A QR code reader: a serial scanner module or a camera with a decoder. */
export interface CodeReader {
  onRead(listener: (read: CodeRead) => void): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Why a temperature could not be trusted; never a reason to let anyone pass. */
export type ThermometerFault =
  | 'checksum' // SMBus PEC mismatch
  | 'out-of-range' // physically implausible value
  | 'stuck' // the same raw value for too long
  | 'silent' // no answer within the deadline
  | 'disconnected';

export type TemperatureReading =
  | { ok: true; celsius: number; ambientCelsius?: number }
  | { ok: false; fault: ThermometerFault; detail: string };

/** A forehead IR thermometer. measure() never rejects: a failure is a fault reading. */
export interface Thermometer {
  measure(deadlineMs: number): Promise<TemperatureReading>;
}

/** The lock or motor-release relay of the gate leaf. */
export interface GateActuator {
  /** Release the leaf for one passage: energise for `ms`, then lock again. */
  pulse(ms: number): void;
  /** Keep the leaf released until lock() (fire alarm egress, staff open). */
  holdOpen(): void;
  lock(): void;
  readonly state: 'locked' | 'pulsing' | 'held-open';
}

/** The beam (or pair of beams) that sees a person walk through. */
export interface PassageSensor {
  onPassage(listener: () => void): () => void;
}

/** The fire-alarm release input: when active the lane must open (fail-safe egress). */
export interface FireAlarmInput {
  readonly active: boolean;
  onChange(listener: (active: boolean) => void): () => void;
}

/** Lights and buzzer on the gate: what a person sees and hears besides the screen. */
export type Signal = 'idle' | 'busy' | 'pass' | 'deny' | 'hold' | 'staff' | 'emergency';

export interface Annunciator {
  show(signal: Signal): void;
  alarm(on: boolean): void;
}

/**
 * A resident ID card swiped on the serial ID-card reader. Only the ID number
 * leaves the driver: name, address and photo in the card's frame are dropped
 * where they are parsed (data minimisation, rules §6).
 */
export interface IdCardSwipe {
  /** The 18-character number as read (not yet checked against GB 11643). */
  nationalId: string;
  /** Monotonic time (performance.now()) at which the reader produced it. */
  at: number;
}

export interface IdCardReader {
  onSwipe(listener: (swipe: IdCardSwipe) => void): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A device that stopped working, or came back. */
export interface HardwareFault {
  device: 'board' | 'relay' | 'scanner' | 'camera' | 'id-card-reader';
  detail: string;
  /** True when the lane can no longer work without staff (board or relay gone). */
  blocking: boolean;
  /** False when the device has recovered. */
  active: boolean;
}

export interface HardwareHealth {
  onFault(listener: (fault: HardwareFault) => void): () => void;
}

/** One camera frame decoded: how long it took and how many codes it held, never what they say. */
export interface FrameDecoded {
  /** Milliseconds from the snapshot's bytes to the code texts (sharp, then the QR decoder); the fetch is not in it. */
  decodeMs: number;
  codes: number;
}

/** A camera reader's frame timings, for the agent's metrics: device/ reports them, edge-agent/ decides what to do with them. */
export interface FrameTimings {
  onFrameDecoded(listener: (frame: FrameDecoded) => void): () => void;
}

/** The exit (egress) push button: someone inside wants out. */
export interface ExitRequestInput {
  onPress(listener: () => void): () => void;
}

/** Everything one lane is wired to. */
export interface LaneHardware {
  reader: CodeReader;
  thermometer: Thermometer;
  gate: GateActuator;
  passage: PassageSensor;
  fireAlarm: FireAlarmInput;
  annunciator: Annunciator;
  exitButton?: ExitRequestInput;
  health?: HardwareHealth;
  /** Fitted on gates that take a resident ID card from people without a smartphone. */
  idCardReader?: IdCardReader;
  /** The camera's frame decode times, when a camera reads codes. */
  frames?: FrameTimings;
}
