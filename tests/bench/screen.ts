/**
 * `npm run bench -- screen`: how long after the lane decides the gate's
 * screen shows the verdict, in Debian's Chromium. A real lane on the
 * wire-level virtual hardware decides green codes one after another; the
 * page notes when each verdict is on the screen (a MutationObserver on the
 * view's event id, then the next animation frame, i.e. painted), on the
 * same wall clock as the lane.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { DecisionRecord } from '../../edge-agent/lane/lane.js';
import { createSimulatedLane } from '../../simulator/simulated-lane.js';
import { CHROMIUM, launchChromium } from '../support/browser.js';
import { until } from '../support/wait.js';
import { median, percentile, round } from './stats.js';

const wallNow = (): number => performance.timeOrigin + performance.now();

export async function benchScreen(options: { decisions: number; progress: (message: string) => void }): Promise<Record<string, unknown>> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-screen-'));
  const config = checkConfig({
    site: 'bench',
    lane: 'lane-1',
    timing: { relayPulseMs: 100, passageTimeoutMs: 5000, denyDisplayMs: 10, temperatureDeadlineMs: 500, repeatSuppressMs: 0 },
    journal: { path: path.join(dir, 'journal.db'), sync: 'normal' },
    screen: { port: 0 },
  });
  const sim = await createSimulatedLane(config, pino({ level: 'silent' }));
  const browser = await launchChromium();
  try {
    const { agent, wire, world } = sim;
    await agent.start();
    await wire.scannerOpened();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(agent.screenUrl!);
    await page.waitForFunction(() => document.body.dataset.phase === 'idle');
    await page.evaluate(() => {
      const seen: Record<string, number> = {};
      (window as unknown as { seen: Record<string, number> }).seen = seen;
      new MutationObserver(() => {
        const id = document.body.dataset.event;
        if (id && !(id in seen)) requestAnimationFrame(() => (seen[id] = performance.timeOrigin + performance.now()));
      }).observe(document.body, { attributes: true, attributeFilter: ['data-event'] });
    });

    wire.setForehead({ ok: true, celsius: 36.5 });
    const decided: Array<{ id: string; shownAt: number; decidedAt: number }> = [];
    agent.lane.on('decision', (record: DecisionRecord) => {
      decided.push({ id: record.event.id, shownAt: 0, decidedAt: wallNow() });
    });
    const codes = Array.from({ length: options.decisions }, (_, i) => world.platform.issue({ colour: 'green', maskedName: `测*${i}` }).code);
    const fromCode: number[] = [];
    for (const [i, code] of codes.entries()) {
      const presented = wallNow();
      wire.presentCode(code, 'scanner');
      await until(`decision ${i + 1}`, () => decided.length === i + 1, 10_000);
      const id = decided[i]!.id;
      await page.waitForFunction((eventId) => eventId in (window as unknown as { seen: Record<string, number> }).seen, id, { timeout: 10_000 });
      const shownAt = await page.evaluate((eventId) => (window as unknown as { seen: Record<string, number> }).seen[eventId]!, id);
      decided[i]!.shownAt = shownAt;
      fromCode.push(shownAt - presented);
      await wire.walkThrough();
      await until('the lane idle', () => agent.lane.state === 'idle', 10_000);
      if ((i + 1) % 20 === 0) options.progress(`screen: ${i + 1}/${codes.length} verdicts shown`);
    }
    const delays = decided.map((d) => d.shownAt - d.decidedAt);
    return {
      benchmark: 'screen',
      browser: (await browser.version()),
      decisions: decided.length,
      decisionToScreenMs: { median: round(median(delays), 2), p95: round(percentile(delays, 95), 2), max: round(Math.max(...delays), 2) },
      codeToScreenMs: { median: round(median(fromCode), 2), p95: round(percentile(fromCode, 95), 2) },
      note: 'decisionToScreen: lane decision event to the verdict painted in Chromium (server-sent events); codeToScreen adds the serial scanner, verification and the temperature measurement on virtual hardware',
    };
  } finally {
    await browser.close();
    await sim.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
