/**
 * Virtual hardware behind the device contracts, for the simulator and tests:
 * a code reader the crowd presents codes to, a thermometer whose next reading
 * (or fault) is set, a gate leaf that records every command with its time,
 * a passage beam, a fire-alarm input and an annunciator that records signals.
 * (The wire-level emulators under the real drivers come with the hardware issue.)
 */
import type {
  Annunciator,
  CodeRead,
  CodeReader,
  FireAlarmInput,
  GateActuator,
  IdCardReader,
  IdCardSwipe,
  LaneHardware,
  PassageSensor,
  Signal,
  TemperatureReading,
  Thermometer,
} from '../../device/contracts.js';

type Listener<T> = (value: T) => void;

class Listeners<T> {
  private readonly set = new Set<Listener<T>>();
  add(listener: Listener<T>): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }
  emit(value: T): void {
    for (const listener of [...this.set]) listener(value);
  }
}

export class VirtualCodeReader implements CodeReader {
  private readonly listeners = new Listeners<CodeRead>();
  private running = false;
  onRead(listener: (read: CodeRead) => void): () => void {
    return this.listeners.add(listener);
  }
  async start(): Promise<void> {
    this.running = true;
  }
  async stop(): Promise<void> {
    this.running = false;
  }
  /** A person holds a code up to the reader. */
  present(text: string): void {
    if (this.running) this.listeners.emit({ text, source: 'virtual', at: performance.now() });
  }
}

/**
 * An ID-card reader in memory, for the lane's tests (the serial reader's
 * wire-level emulator comes with its driver). Not fitted by
 * createVirtualLaneHardware; a test or the simulator sets hardware.idCardReader.
 */
export class InMemoryIdCardReader implements IdCardReader {
  private readonly listeners = new Listeners<IdCardSwipe>();
  private running = false;
  onSwipe(listener: (swipe: IdCardSwipe) => void): () => void {
    return this.listeners.add(listener);
  }
  async start(): Promise<void> {
    this.running = true;
  }
  async stop(): Promise<void> {
    this.running = false;
  }
  /** A person lays their resident ID card on the reader. */
  swipe(nationalId: string): void {
    if (this.running) this.listeners.emit({ nationalId, at: performance.now() });
  }
}

export class VirtualThermometer implements Thermometer {
  /** What the next measurements return; 'silent' never answers before the deadline. */
  next: TemperatureReading | 'silent' = { ok: true, celsius: 36.5 };
  /** Time a measurement takes, as a real sensor needs to settle. */
  latencyMs = 0;
  /** Measurements waiting for release(): a test keeps the lane measuring for as long as it needs, whatever the machine's load. */
  private held: Array<() => void> | null = null;

  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const waiting = this.held ?? [];
    this.held = null;
    for (const go of waiting) go();
  }

  measure(deadlineMs: number): Promise<TemperatureReading> {
    const next = this.next;
    if (this.held && next !== 'silent') {
      const held = this.held;
      return new Promise((resolve) => held.push(() => resolve(next)));
    }
    if (next === 'silent') {
      return new Promise((resolve) =>
        setTimeout(() => resolve({ ok: false, fault: 'silent', detail: `no reading within ${deadlineMs} ms` }), deadlineMs),
      );
    }
    if (this.latencyMs <= 0) return Promise.resolve(next);
    return new Promise((resolve) => setTimeout(() => resolve(next), Math.min(this.latencyMs, deadlineMs)));
  }
}

export interface GateCommand {
  command: 'pulse' | 'hold-open' | 'lock';
  ms?: number;
  /** performance.now() when the command was given. */
  at: number;
}

export class VirtualGate implements GateActuator {
  readonly commands: GateCommand[] = [];
  private pulseTimer: NodeJS.Timeout | null = null;
  private current: GateActuator['state'] = 'locked';
  /** Called on every command: benchmarks time the decision up to here. */
  onCommand: ((command: GateCommand) => void) | null = null;

  get state(): GateActuator['state'] {
    return this.current;
  }
  private record(command: GateCommand): void {
    this.commands.push(command);
    this.onCommand?.(command);
  }
  pulse(ms: number): void {
    this.clear();
    this.current = 'pulsing';
    this.record({ command: 'pulse', ms, at: performance.now() });
    this.pulseTimer = setTimeout(() => {
      this.pulseTimer = null;
      if (this.current === 'pulsing') this.current = 'locked';
    }, ms);
    this.pulseTimer.unref();
  }
  holdOpen(): void {
    this.clear();
    this.current = 'held-open';
    this.record({ command: 'hold-open', at: performance.now() });
  }
  lock(): void {
    this.clear();
    this.current = 'locked';
    this.record({ command: 'lock', at: performance.now() });
  }
  private clear(): void {
    if (this.pulseTimer) clearTimeout(this.pulseTimer);
    this.pulseTimer = null;
  }
}

export class VirtualPassageSensor implements PassageSensor {
  private readonly listeners = new Listeners<void>();
  onPassage(listener: () => void): () => void {
    return this.listeners.add(listener);
  }
  /** Someone walks through the beam. */
  walkThrough(): void {
    this.listeners.emit();
  }
}

export class VirtualFireAlarm implements FireAlarmInput {
  private value = false;
  private readonly listeners = new Listeners<boolean>();
  get active(): boolean {
    return this.value;
  }
  onChange(listener: (active: boolean) => void): () => void {
    return this.listeners.add(listener);
  }
  set(active: boolean): void {
    if (active === this.value) return;
    this.value = active;
    this.listeners.emit(active);
  }
}

export class VirtualAnnunciator implements Annunciator {
  readonly signals: Signal[] = [];
  alarmOn = false;
  show(signal: Signal): void {
    this.signals.push(signal);
  }
  alarm(on: boolean): void {
    this.alarmOn = on;
  }
}

export interface VirtualLaneHardware extends LaneHardware {
  reader: VirtualCodeReader;
  thermometer: VirtualThermometer;
  gate: VirtualGate;
  passage: VirtualPassageSensor;
  fireAlarm: VirtualFireAlarm;
  annunciator: VirtualAnnunciator;
}

export function createVirtualLaneHardware(): VirtualLaneHardware {
  return {
    reader: new VirtualCodeReader(),
    thermometer: new VirtualThermometer(),
    gate: new VirtualGate(),
    passage: new VirtualPassageSensor(),
    fireAlarm: new VirtualFireAlarm(),
    annunciator: new VirtualAnnunciator(),
  };
}
