/**
 * The parts of the centre (store, broker, publisher, look-ups, deliveries,
 * API...) as components, started in the order given and stopped newest
 * first; a failed start stops what had started and names the part. The
 * gate's controller does the same for its own parts; the centre cannot
 * import it (applications never import one another), and needs none of its
 * run-time config changes, so this is the small part of it the centre uses.
 */
import type { Logger } from 'pino';

export interface Component {
  /** Named in the log line of a part that fails to stop, and in the error of one that fails to start. */
  readonly name: string;
  start(): unknown;
  stop(): unknown;
}

/** A part that failed to start: its name, and the failure as the cause. */
export class CentreStartError extends Error {
  override readonly name = 'CentreStartError';
  constructor(
    readonly component: string,
    override readonly cause: unknown,
  ) {
    super(`${component}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export class Components {
  readonly #started: Component[] = [];

  constructor(
    private readonly logger: Logger,
  ) {}

  /** Starts one more part after those already started; on failure stops them all and throws CentreStartError. */
  async start(component: Component): Promise<void> {
    try {
      await component.start();
    } catch (error) {
      await this.stop();
      throw new CentreStartError(component.name, error);
    }
    this.#started.push(component);
  }

  /** Stops what started, newest first; never rejects (a part that fails to stop is logged, the rest still stop). */
  async stop(): Promise<void> {
    for (const component of this.#started.splice(0).reverse()) {
      try {
        await component.stop();
      } catch (error) {
        this.logger.error({ err: (error as Error).message, part: component.name }, 'a part of the centre failed to stop');
      }
    }
  }

  get names(): string[] {
    return this.#started.map((c) => c.name);
  }
}
