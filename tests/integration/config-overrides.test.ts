/**
 * The centre's set-config changes survive a restart: kept in the journal
 * file, applied over the config file at start, checked again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { ConfigOverrides } from '../../edge-agent/config/overrides.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { createSimulatedLane } from '../../simulator/simulated-lane.js';

test('a fever threshold the centre set is still in force after a restart, and decides the next person', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-overrides-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = checkConfig({
    site: 'ov',
    lane: 'lane-1',
    timing: { relayPulseMs: 100, denyDisplayMs: 0 },
    journal: { path: join(dir, 'journal.db') },
  });
  assert.equal(config.policy.feverThresholdC, 37.3);

  const first = await createSimulatedLane(config, pino({ level: 'silent' }));
  assert.match(first.agent.changeConfig('policy.feverThresholdC', 38), /policy\.feverThresholdC = 38/);
  assert.throws(() => first.agent.changeConfig('policy.feverThresholdC', 45), /policy\.feverThresholdC/);
  await first.close();

  // Restarted with the same config file: the centre's 38 °C wins over the file's 37.3.
  const second = await createSimulatedLane(config, pino({ level: 'silent' }));
  t.after(() => second.close());
  const { agent, wire, world } = second;
  assert.equal(agent.settings.policy.feverThresholdC, 38);
  await agent.start();
  await wire.scannerOpened();
  wire.setForehead({ ok: true, celsius: 37.6 });
  const decided = new Promise<string>((resolve) => agent.lane.once('decision', ({ event }) => resolve(`${event.verdict} ${event.reason}`)));
  wire.presentCode(world.platform.issue({ colour: 'green', maskedName: '张*三' }).code, 'scanner');
  assert.equal(await decided, 'pass green-normal', '37.6 °C passes under the centre\'s 38 °C');
});

test('a stored change that no longer fits the config is dropped at start, not applied', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-overrides-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'journal.db');
  const journal = Journal.open(path);
  const overrides = ConfigOverrides.attach(journal.database);
  overrides.set('timing.relayPulseMs', 50); // below the schema's minimum: as if the schema had tightened since
  overrides.set('policy.feverThresholdC', 37.8);
  journal.close();

  const simulated = await createSimulatedLane(checkConfig({ site: 'ov', lane: 'lane-2', journal: { path } }), pino({ level: 'silent' }));
  t.after(() => simulated.close());
  assert.equal(simulated.agent.settings.timing.relayPulseMs, 3000, 'the file\'s value stays');
  assert.equal(simulated.agent.settings.policy.feverThresholdC, 37.8);
  assert.deepEqual(ConfigOverrides.attach(simulated.agent.journal.database).all().map((o) => o.key), ['policy.feverThresholdC']);
});
