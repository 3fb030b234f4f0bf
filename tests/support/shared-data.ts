/**
 * The read-only test data beside the clone (../shared/data): EU DCC test
 * vectors and QR sample images. It is not the project's and is never copied
 * in. A user's clone has no ../shared: tests that need it skip with a clear
 * message there, and fail in CI (CI is set) where it must be present.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';

export const SHARED_DATA = resolve(process.cwd(), '../shared/data');

/** The folder under ../shared/data, or null after skipping (or failing in CI) the test. */
export function sharedData(t: TestContext, folder: string): string | null {
  const path = resolve(SHARED_DATA, folder);
  if (existsSync(path)) return path;
  const message = `${path} is absent (a user's clone has no ../shared): test data not available`;
  if (process.env.CI) throw new Error(`${message}; CI must have it`);
  t.skip(message);
  return null;
}
