/** Undo steps for a test, run after it newest first; one that fails is reported and the rest still run. */
import type { TestContext } from 'node:test';

export function cleanupStack(t: TestContext): Array<() => Promise<unknown> | unknown> {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        t.diagnostic(`cleanup: ${(error as Error).message}`);
      }
    }
  });
  return cleanups;
}
