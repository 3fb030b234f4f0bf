/**
 * Starts the gate's components in order and stops them newest first. A start
 * that fails part way stops what had started, closes every component (the
 * journal's file last) and rethrows with the failing component's name, so
 * nothing is left listening, polling or holding the file behind the error.
 * Stopping goes on past a component that fails to stop (that failure is
 * logged), and, given a deadline, past one still stopping at the deadline:
 * one stuck driver does not keep the lane from locking the leaf, or the
 * journal open.
 *
 * The centre's set-config reaches the components that declared the key.
 */
import type { Logger } from 'pino';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import { ComponentStartError, type Component } from './component.js';

export class GateController {
  readonly #components: readonly Component[];
  readonly #started: Component[] = [];
  readonly #logger: Logger;
  #closed = false;

  constructor(components: readonly Component[], logger: Logger) {
    const names = new Set<string>();
    for (const { name } of components) {
      if (names.has(name)) throw new Error(`two components named "${name}"`);
      names.add(name);
    }
    this.#components = components;
    this.#logger = logger;
  }

  get names(): string[] {
    return this.#components.map((c) => c.name);
  }

  /** The run-time config keys of these components, each once, in the components' order. */
  get configKeys(): string[] {
    return [...new Set(this.#components.flatMap((c) => c.configKeys ?? []))];
  }

  /** Starts each in order; a failure stops and closes them all, then throws ComponentStartError naming the one that failed. */
  async start(): Promise<void> {
    if (this.#closed) throw new Error('the gate was stopped: build it again to start it');
    for (const component of this.#components) {
      try {
        await component.start();
      } catch (error) {
        await this.stop();
        throw new ComponentStartError(component.name, error);
      }
      this.#started.push(component);
    }
  }

  /**
   * Stops what started, newest first, then closes every component; never
   * rejects. A second call does nothing more. With `deadline` (epoch ms), a
   * component still stopping then is left behind (logged) and the rest are
   * still told to stop, without waiting for them: what a stop does at once
   * (the lane locking the leaf) is done, and the journal closed, whatever is
   * stuck before it. The promise still waits for the late ones, so the
   * caller's own bound says whether the stop finished.
   */
  async stop(options: { deadline?: number } = {}): Promise<void> {
    const { deadline } = options;
    const late: Array<Promise<unknown>> = [];
    for (const component of this.#started.splice(0).reverse()) {
      const outcome = stopOutcome(component);
      const settled = deadline === undefined ? await outcome : await settledBy(outcome, deadline);
      if (settled === 'late') {
        this.#logger.error({ part: component.name, code: 'stop-late' }, 'a part of the gate has not stopped by the deadline; stopping the rest without it');
        late.push(
          outcome.then((result) => {
            if (!result.ok) this.#logger.error({ err: result.error, part: component.name }, 'a part of the gate failed to stop');
          }),
        );
      } else if (!settled.ok) {
        this.#logger.error({ err: settled.error, part: component.name }, 'a part of the gate failed to stop; stopping the rest');
      }
    }
    this.close();
    await Promise.all(late);
  }

  /** What the components hold since they were built, released newest first; once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeAll(this.#components, this.#logger);
  }

  /** `key` changed to give `next`: each component that declared the key reads it. */
  applyConfig(key: string, next: GateConfig): void {
    for (const component of this.#components) {
      if (component.configKeys?.includes(key)) component.applyConfig?.(next);
    }
  }
}

type StopOutcome = { ok: true } | { ok: false; error: unknown };

/** The component's stop, called now; never rejects. */
function stopOutcome(component: Component): Promise<StopOutcome> {
  try {
    return Promise.resolve(component.stop()).then(
      () => ({ ok: true }),
      (error: unknown) => ({ ok: false, error }),
    );
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

/** The outcome if it comes by `deadline` (epoch ms), else 'late'. */
async function settledBy(outcome: Promise<StopOutcome>, deadline: number): Promise<StopOutcome | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), 'late')));
  try {
    return await Promise.race([outcome, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes components newest first, going on past one that throws (logged). */
export function closeAll(components: readonly Component[], logger: Logger): void {
  for (const component of [...components].reverse()) {
    try {
      component.close?.();
    } catch (error) {
      logger.error({ err: error, part: component.name }, 'a part of the gate failed to close; closing the rest');
    }
  }
}
