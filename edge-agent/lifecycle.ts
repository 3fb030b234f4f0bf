/**
 * Parts of the gate started in order and stopped newest first. A start that
 * fails part way stops what had started before it, so nothing is left
 * listening, polling or holding the leaf behind the error; stopping goes on
 * past a part that fails to stop (that failure is logged), so one stuck
 * driver does not keep the journal open.
 */
import type { Logger } from 'pino';

interface StartedPart {
  name: string;
  stop: () => unknown;
}

export class StartedParts {
  readonly #parts: StartedPart[] = [];

  constructor(private readonly logger: Logger) {}

  /** Runs `start`; once it has succeeded, `stop` (given what start returned) is what undoes it. */
  async start<T>(name: string, start: () => T | Promise<T>, stop: (started: T) => unknown): Promise<T> {
    const result = await start();
    this.#parts.push({ name, stop: () => stop(result) });
    return result;
  }

  /** A part already running (started without waiting for it): `stop` undoes it. */
  add(name: string, stop: () => unknown): void {
    this.#parts.push({ name, stop });
  }

  /** Stops every part, newest first; never rejects. A second call stops nothing more. */
  async stopAll(): Promise<void> {
    for (const part of this.#parts.splice(0).reverse()) {
      try {
        await part.stop();
      } catch (error) {
        this.logger.error({ err: error, part: part.name }, 'a part of the gate failed to stop; stopping the rest');
      }
    }
  }
}
