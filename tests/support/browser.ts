/**
 * Debian's Chromium driven by playwright-core: never a downloaded browser.
 * Tests that need it skip with a message on a machine without it, and fail
 * instead under CI, where .ci/run installs it.
 */
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** False (and the test skipped) when Chromium is missing outside CI; throws under CI. */
export function requireChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`);
  t.skip(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return false;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
