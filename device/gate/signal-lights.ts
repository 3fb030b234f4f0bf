/**
 * The gate's lamps and buzzer as plain digital outputs: green for "go"
 * (a pass, and fire-alarm egress), red for "stop" (refused, held, staff
 * needed), the buzzer for a red-code hold. Pins that are not fitted are
 * left out of the options.
 */
import type { Annunciator, Signal } from '../contracts.js';
import type { GateBoard } from '../board/board.js';

export interface SignalLightOptions {
  green?: number;
  red?: number;
  buzzer?: number;
}

const GO: ReadonlySet<Signal> = new Set(['pass', 'emergency']);
const STOP: ReadonlySet<Signal> = new Set(['deny', 'hold', 'staff']);

export class SignalLights implements Annunciator {
  constructor(
    private readonly board: GateBoard,
    private readonly pins: SignalLightOptions,
  ) {
    for (const pin of Object.values(pins)) {
      if (pin === undefined) continue;
      board.io.pinMode(pin, board.io.MODES.OUTPUT ?? 1);
      board.io.digitalWrite(pin, 0);
    }
  }

  show(signal: Signal): void {
    this.write(this.pins.green, GO.has(signal));
    this.write(this.pins.red, STOP.has(signal));
  }

  alarm(on: boolean): void {
    this.write(this.pins.buzzer, on);
  }

  private write(pin: number | undefined, on: boolean): void {
    // A lost board takes its lamps with it; the lane hears about that from the board itself.
    if (pin === undefined || this.board.lost) return;
    this.board.io.digitalWrite(pin, on ? 1 : 0);
  }
}
