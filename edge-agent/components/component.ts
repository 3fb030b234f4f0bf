/**
 * One part of the gate the controller starts and stops: the journal's file,
 * the lane, a reader, the screen, the broker link. Each is built from the
 * config with what it needs handed to it; the controller starts them in the
 * order given and stops them newest first.
 */
import type { GateConfig } from '../../protocol/config/gate-schema.js';

export interface Component {
  /** Named in the log line of a part that fails to stop, and in the error of one that fails to start. */
  readonly name: string;
  start(): unknown;
  stop(): unknown;
  /**
   * What the component holds since it was built (a file, a timer), released
   * once: after stop(), or when the gate fails to build or to start. Called
   * whether or not the component was started.
   */
  close?(): void;
  /** The config keys the centre's set-config may change that this component reads while it runs. */
  readonly configKeys?: readonly string[];
  /** One of configKeys changed: `next` is the whole config now in force. */
  applyConfig?(next: GateConfig): void;
}

/**
 * A component that failed to start: its name, and the failure itself as the
 * cause. A wrapper, not an area's error, so it has no code of its own: what
 * failed is the cause's to say (startFailureCause looks through it).
 */
export class ComponentStartError extends Error {
  constructor(
    readonly component: string,
    override readonly cause: unknown,
  ) {
    super(`${component}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'ComponentStartError';
  }
}

/** The failure under a ComponentStartError (what says whether it was the config, a port or the board); else the error itself. */
export function startFailureCause(error: unknown): unknown {
  return error instanceof ComponentStartError ? error.cause : error;
}

/** A component that is only a device's start and stop (a reader): nothing of its own to build or change. */
export function deviceComponent(name: string, device: { start(): unknown; stop(): unknown }): Component {
  return { name, start: () => device.start(), stop: () => device.stop() };
}
