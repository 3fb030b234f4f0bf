/**
 * The gate decides whether or not the broker is there: started with no
 * broker listening, the lane still admits and refuses people, and what it
 * decided reaches the broker once it appears (the agent kept running).
 * Across an agent restart the durable outbox of the MQTT link takes over;
 * that is tested with it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import { startEmbeddedBroker } from '../../simulator/broker.js';
import { createSimulatedLane } from '../../simulator/simulated-lane.js';
import { freePort } from '../support/mosquitto.js';


const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('no broker at start: the lane decides at once, and the decisions arrive when the broker does', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-broker-away-'));
  const port = await freePort();
  const config = checkConfig({
    site: 'away',
    lane: 'lane-1',
    timing: { relayPulseMs: 100, denyDisplayMs: 0 },
    journal: { path: join(dir, 'journal.db') },
    mqtt: { url: `mqtt://127.0.0.1:${port}`, protocolVersion: 4 },
  });
  const simulated = await createSimulatedLane(config, pino({ level: 'silent' }));
  const { agent, wire, world } = simulated;
  await agent.start();
  await wire.scannerOpened();
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>> | null = null;
  try {
    assert.equal(agent.brokerConnected, false);
    assert.equal(agent.lane.state, 'idle', 'the lane is in service without a broker');

    const decided: DecisionEvent[] = [];
    agent.lane.on('decision', ({ event }) => decided.push(event));
    wire.setForehead({ ok: true, celsius: 36.5 });
    const opened = new Promise<void>((resolve) => agent.lane.once('decision', () => resolve()));
    wire.presentCode(world.platform.issue({ colour: 'green', maskedName: '张*三' }).code, 'scanner');
    await opened;
    assert.equal(wire.leafReleased, true, 'the gate opened with no broker');
    await wire.walkThrough();
    // The beam's debounce passes before the lane sees the passage and is free for the next person.
    while (agent.lane.state !== 'idle') await pause(10);
    const refused = new Promise<void>((resolve) => agent.lane.once('decision', () => resolve()));
    wire.presentCode(world.platform.issue({ colour: 'yellow', maskedName: '王*五' }).code, 'scanner');
    await refused;
    assert.deepEqual(decided.map((e) => e.verdict), ['pass', 'deny']);
    assert.equal(agent.journal.count(), 2);

    // The broker comes up on the port the agent was told about.
    // Watched at the broker itself, so no subscriber can be too late to see them.
    broker = await startEmbeddedBroker(port);
    const received = new Set<string>();
    broker.broker.on('publish', (packet, client) => {
      if (client && packet.topic === 'hc/v1/away/lane-1/decision') received.add((JSON.parse(packet.payload.toString()) as DecisionEvent).id);
    });
    const deadline = Date.now() + 15_000;
    while (decided.some((e) => !received.has(e.id)) && Date.now() < deadline) await pause(50);
    assert.deepEqual([...received].sort(), decided.map((e) => e.id).sort());
    assert.equal(agent.brokerConnected, true);
  } finally {
    await simulated.close();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
