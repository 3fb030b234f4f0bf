/**
 * Contact inputs of the lane on johnny-five Buttons, with our own debounce:
 * a level counts only once it has held for `debounceMs`. Adapters give the
 * device contracts: the passage beam, the fire-alarm release, the exit button.
 *
 * johnny-five's Button already calls back only on level changes (and smooths
 * them over 7 ms); it runs a 'hold' interval while the input is down, which
 * is why holdtime is set to the longest a timer allows (it never fires) and
 * why active means "down" only when the wiring says so (`invert`). That
 * interval cannot be stopped from outside: an input closed while active keeps
 * one idle timer until it goes inactive. The debounced level starts inactive;
 * an input already active at start becomes active after debounceMs.
 */
import { EventEmitter } from 'node:events';
import type { FireAlarmInput, PassageSensor } from '../contracts.js';
import { five, type GateBoard, type J5Button } from '../board/board.js';

const LONGEST_TIMER_MS = 2 ** 31 - 1;

export interface DebouncedInputOptions {
  pin: number | string;
  /** How long a new level must hold before it counts. Default 20 ms. */
  debounceMs?: number;
  /** Active-low wiring (a contact to ground with a pull-up): LOW means active. Default false. */
  invert?: boolean;
  /** Enable the board's pull-up on the pin (Firmata: a HIGH write on an input pin). Default false. */
  pullUp?: boolean;
  /**
   * Report the active level at its first edge and debounce only the return
   * to inactive: for the fire alarm, where a chattering contact must still
   * open the lane at once. Default false.
   */
  immediateActive?: boolean;
}

/** One digital input whose `active` level is debounced. */
export class DebouncedInput {
  private readonly button: J5Button;
  private readonly debounceMs: number;
  private readonly immediateActive: boolean;
  private stable = false;
  private pending: NodeJS.Timeout | null = null;
  private readonly events = new EventEmitter<{ change: [active: boolean] }>();
  private readonly onLevel = (): void => this.sample();

  constructor(board: GateBoard, options: DebouncedInputOptions) {
    this.debounceMs = options.debounceMs ?? 20;
    this.immediateActive = options.immediateActive ?? false;
    const pullUp = options.pullUp ?? false;
    this.button = new five.Button({
      board: board.j5,
      pin: options.pin,
      invert: options.invert ?? false,
      pullup: pullUp,
      holdtime: LONGEST_TIMER_MS,
    });
    this.button.on('down', this.onLevel);
    this.button.on('up', this.onLevel);
  }

  /** The debounced level: true when active. */
  get active(): boolean {
    return this.stable;
  }

  onChange(listener: (active: boolean) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  close(): void {
    this.button.off('down', this.onLevel);
    this.button.off('up', this.onLevel);
    this.cancel();
    this.events.removeAllListeners();
  }

  private sample(): void {
    const level = this.button.isDown;
    if (level === this.stable) {
      this.cancel(); // a bounce back to the stable level: forget it
      return;
    }
    if (level && this.immediateActive) {
      this.cancel();
      this.stable = true;
      this.events.emit('change', true);
      return;
    }
    if (this.pending) return; // already timing this new level
    this.pending = setTimeout(() => {
      this.pending = null;
      if (this.button.isDown !== level) return;
      this.stable = level;
      this.events.emit('change', level);
    }, this.debounceMs);
  }

  private cancel(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
  }
}

/** A through-beam: active while broken. A passage is the beam broken, then restored. */
export class BeamPassageSensor implements PassageSensor {
  private readonly events = new EventEmitter<{ passage: [] }>();
  private readonly off: () => void;

  constructor(readonly input: DebouncedInput) {
    this.off = input.onChange((broken) => {
      if (!broken) this.events.emit('passage');
    });
  }

  onPassage(listener: () => void): () => void {
    this.events.on('passage', listener);
    return () => this.events.off('passage', listener);
  }

  close(): void {
    this.off();
    this.events.removeAllListeners();
  }
}

/**
 * The fire-alarm release contact: active = alarm. Wire it so that a cut wire
 * reads as alarm (an NC contact to ground with the pull-up, not inverted: the
 * contact opening lets the pin rise HIGH), so a broken loop opens the lane.
 */
export class FireAlarmRelease implements FireAlarmInput {
  constructor(readonly input: DebouncedInput) {}

  get active(): boolean {
    return this.input.active;
  }

  onChange(listener: (active: boolean) => void): () => void {
    return this.input.onChange(listener);
  }
}

/** The exit (request-to-exit) push button: one callback per press. */
export class ExitButton {
  constructor(readonly input: DebouncedInput) {}

  onPress(listener: () => void): () => void {
    return this.input.onChange((pressed) => {
      if (pressed) listener();
    });
  }
}
