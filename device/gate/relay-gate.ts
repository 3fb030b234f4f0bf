/**
 * The gate leaf's lock-release relay on a johnny-five Relay.
 *
 * "Released" means the release circuit is closed (powered): johnny-five's
 * relay.close(). Which pin level that takes depends on the contact the
 * circuit is wired through, which is what `type` says:
 *   - NO (normally open): coil energised (pin HIGH) closes the contact → released;
 *     pin LOW → locked. A dead board or a reset (pins float, coil off) LOCKS.
 *   - NC (normally closed): coil energised (pin HIGH) opens the contact → locked;
 *     pin LOW → released. A dead board or a reset RELEASES: fail-safe egress by wiring.
 *
 * johnny-five's Relay never sets the pin to OUTPUT itself (only for Firmata
 * analog pins), so this driver does.
 */
import { EventEmitter } from 'node:events';
import type { GateActuator } from '../contracts.js';
import { five, type BoardLoss, type GateBoard, type J5Relay } from '../board/board.js';

export interface RelayGateOptions {
  /** The relay's pin on the board (johnny-five pin name or number). */
  pin: number | string;
  /** The contact of the relay the release circuit is wired through (see the top of this file). */
  type?: 'NO' | 'NC';
  /**
   * What the leaf does when the board is lost. Default 'open': the lane sits
   * in an egress path, and a controller that lost its board can neither
   * release the leaf for anyone nor hear the fire alarm (that input is on the
   * same board), so it must not trap people; the entry check falls to staff,
   * who are told by the fault. 'locked' for a lane whose egress is elsewhere.
   * The command is best effort (the link may be gone): wire NC for a leaf
   * that must release whatever happens to the controller.
   */
  failSafe?: 'open' | 'locked';
}

type GateState = GateActuator['state'];

export class RelayGate implements GateActuator {
  readonly type: 'NO' | 'NC';
  readonly failSafe: 'open' | 'locked';
  private readonly relay: J5Relay;
  private current: GateState = 'locked';
  private timer: NodeJS.Timeout | null = null;
  private readonly faults = new EventEmitter<{ fault: [message: string] }>();
  private readonly stopWatching: () => void;
  private loss: BoardLoss | null = null;

  constructor(board: GateBoard, options: RelayGateOptions) {
    this.type = options.type ?? 'NO';
    this.failSafe = options.failSafe ?? 'open';
    this.relay = new five.Relay({ board: board.j5, pin: options.pin, type: this.type });
    board.io.pinMode(this.relay.pin, board.io.MODES.OUTPUT ?? 1);
    this.relay.open(); // start locked
    this.stopWatching = board.onLost((loss) => this.onBoardLost(loss));
  }

  get state(): GateState {
    return this.current;
  }

  /** The pin the relay is on (as normalised by the board). */
  get pin(): number {
    return this.relay.pin;
  }

  /** Release for exactly `ms` (measured on the monotonic clock), then lock. */
  pulse(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`relay pulse of ${ms} ms: must be a finite number ≥ 0`);
    if (this.refused('pulse')) return;
    this.clearTimer();
    this.relay.close();
    this.current = 'pulsing';
    const started = performance.now();
    const lockWhenDue = (): void => {
      const left = started + ms - performance.now();
      // Timers may fire up to a millisecond early: never cut a pulse short.
      if (left > 0) {
        this.timer = setTimeout(lockWhenDue, Math.ceil(left));
        return;
      }
      this.timer = null;
      this.relay.open();
      this.current = 'locked';
    };
    this.timer = setTimeout(lockWhenDue, ms);
  }

  holdOpen(): void {
    if (this.refused('hold open')) return;
    this.clearTimer();
    this.relay.close();
    this.current = 'held-open';
  }

  lock(): void {
    if (this.refused('lock')) return;
    this.clearTimer();
    this.relay.open();
    this.current = 'locked';
  }

  /** Faults a person must hear about (board lost, commands refused). Returns an unsubscribe. */
  onFault(listener: (message: string) => void): () => void {
    this.faults.on('fault', listener);
    return () => this.faults.off('fault', listener);
  }

  /** Stop the pulse timer and stop watching the board (the relay keeps its level). */
  close(): void {
    this.clearTimer();
    this.stopWatching();
    this.faults.removeAllListeners();
  }

  private onBoardLost(loss: BoardLoss): void {
    this.loss = loss;
    this.clearTimer();
    const open = this.failSafe === 'open';
    try {
      if (open) this.relay.close();
      else this.relay.open();
    } catch {
      // the link is gone: the wiring decides (see the top of this file)
    }
    // The command may never have reached the relay: report what the wiring does once the board stops driving it.
    this.current = this.type === 'NC' ? 'held-open' : 'locked';
    const wiring = this.type === 'NC' ? 'NC wiring releases the leaf without power' : 'NO wiring locks the leaf without power';
    this.faults.emit(
      'fault',
      `gate board lost (${loss.reason}${loss.detail ? `: ${loss.detail}` : ''}): lane set to its safe state '${this.failSafe}' ` +
        `(${open ? 'released' : 'locked'}), best effort; ${wiring}. Staff: check the lane by hand.`,
    );
  }

  /** After the board is lost the safe state stays: every other command is refused and said so. */
  private refused(command: string): boolean {
    if (!this.loss) return false;
    this.faults.emit('fault', `gate command '${command}' ignored: board lost, lane stays in its safe state '${this.failSafe}'`);
    return true;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
