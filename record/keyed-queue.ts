/**
 * Tasks run one after another per key and side by side across keys: the
 * feed's store writes, keyed by lane. A lane's messages must be applied in
 * the order they came (its state is read, changed and written back), while
 * two thousand lanes must not wait on one another's round trips to
 * PostgreSQL.
 */
const ignore = (): void => {};

export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();
  private waiting = 0;
  private idleWaiters: Array<() => void> = [];

  /** Tasks queued or running. */
  get size(): number {
    return this.waiting;
  }

  /** Runs `task` once the tasks queued before it under `key` have settled; resolves or rejects as the task does. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail: Promise<void> = result.then(ignore, ignore).finally(() => {
      this.waiting--;
      if (this.tails.get(key) === tail) this.tails.delete(key);
      if (this.waiting === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    });
    this.tails.set(key, tail);
    return result;
  }

  /** Resolves once every task queued so far (and any queued meanwhile) has settled. */
  idle(): Promise<void> {
    if (this.waiting === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
