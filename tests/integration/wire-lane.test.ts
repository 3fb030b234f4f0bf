/**
 * The agent on the real drivers over wire-level virtual hardware: what
 * happens to the lane when devices fail under it. Each fault is reported
 * (the agent publishes it), and a fault that leaves the lane unable to
 * work puts it in staff mode with the leaf in its safe state.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { LaneFault } from '../../edge-agent/lane/lane.js';
import { SIM_PINS } from '../../simulator/hardware/wire-lane.js';
import { createSimulatedLane, type SimulatedLane } from '../../simulator/simulated-lane.js';

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await pause(10);
  }
}

async function withLane(body: (lane: SimulatedLane, faults: LaneFault[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gate-wire-'));
  const config = checkConfig({
    site: 'wire',
    lane: 'lane-1',
    timing: { relayPulseMs: 300, passageTimeoutMs: 1000, denyDisplayMs: 0 },
    journal: { path: join(dir, 'journal.db') },
  });
  const simulated = await createSimulatedLane(config, pino({ level: 'silent' }));
  const faults: LaneFault[] = [];
  simulated.agent.lane.on('fault', (fault) => faults.push(fault));
  await simulated.agent.start();
  await simulated.wire.scannerOpened();
  try {
    await body(simulated, faults);
  } finally {
    await simulated.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('board lost: the lane goes to staff mode, the relay reports what its wiring does, and the faults are reported', { timeout: 20_000 }, async () => {
  await withLane(async ({ agent, wire, hardware }, faults) => {
    assert.equal(agent.lane.state, 'idle');
    assert.equal(wire.leafReleased, false);
    wire.io.disconnect('close');
    await until('staff mode', () => agent.lane.state === 'staff');
    assert.ok(faults.some((f) => f.kind === 'board' && f.active !== false), JSON.stringify(faults));
    // failSafe 'open' was commanded, but a lost board delivers nothing: with NO wiring the
    // relay drops out and the leaf locks, and the driver says so (docs/wiring.md: wire NC for egress).
    const last = wire.io.writesTo(SIM_PINS.relay).at(-1);
    assert.deepEqual([last?.value, last?.delivered], [1, false]);
    assert.equal(hardware.gate.state, 'locked');
    assert.ok(faults.some((f) => f.kind === 'relay' && /NO wiring locks the leaf/.test(f.detail)), JSON.stringify(faults));
    assert.equal(agent.lane.staffResume(), false, 'no resuming while the board is gone');
    // No code read can open it on its own any more.
    wire.presentCode('GZHC1:anything', 'scanner');
    await pause(100);
    assert.equal(agent.lane.state, 'staff');
  });
});

test('scanner unplugged and plugged back: reported, and codes are read again', { timeout: 20_000 }, async () => {
  await withLane(async ({ agent, wire, world }, faults) => {
    wire.scanner.unplug();
    await until('scanner fault', () => faults.some((f) => f.kind === 'scanner' && f.active === true));
    assert.equal(agent.lane.state, 'idle', 'a lost scanner does not stop the lane: the camera still reads');
    wire.scanner.plugIn();
    await until('scanner back', () => faults.some((f) => f.kind === 'scanner' && f.active === false) && wire.scanner.connected, 10_000);
    wire.setForehead({ ok: true, celsius: 36.4 });
    const decided = new Promise<string>((resolve) => agent.lane.once('decision', ({ decision }) => resolve(decision.reason)));
    wire.presentCode(world.platform.issue({ colour: 'green', maskedName: '张*三' }).code, 'scanner');
    assert.equal(await decided, 'green-normal');
  });
});

test('thermometer reads through the real MLX90614 driver: a fever is refused, a checksum fault goes to staff', { timeout: 20_000 }, async () => {
  await withLane(async ({ agent, wire, world }) => {
    wire.setForehead({ ok: true, celsius: 38.4 });
    let decided = new Promise<{ reason: string; t: number | null }>((resolve) =>
      agent.lane.once('decision', ({ decision, event }) => resolve({ reason: decision.reason, t: event.temperatureC })),
    );
    wire.presentCode(world.platform.issue({ colour: 'green', maskedName: '李*四' }).code, 'scanner');
    const fever = await decided;
    assert.equal(fever.reason, 'fever');
    assert.ok(fever.t !== null && Math.abs(fever.t - 38.4) < 0.3, `measured ${fever.t}`);
    await until('idle', () => agent.lane.state === 'idle');

    wire.setForehead({ ok: false, fault: 'checksum', detail: '' });
    decided = new Promise((resolve) => agent.lane.once('decision', ({ decision, event }) => resolve({ reason: decision.reason, t: event.temperatureC })));
    wire.presentCode(world.platform.issue({ colour: 'green', maskedName: '陈*三' }).code, 'scanner');
    assert.equal((await decided).reason, 'sensor-fault');
    assert.equal(agent.lane.state, 'staff');
    assert.equal(wire.leafReleased, false, 'never an automatic pass');
  });
});

test('exit button releases the leaf for egress when nobody is being checked', { timeout: 20_000 }, async () => {
  await withLane(async ({ agent, wire }) => {
    wire.io.setInput(SIM_PINS.exitButton, 1);
    await until('leaf released', () => wire.leafReleased);
    wire.io.setInput(SIM_PINS.exitButton, 0);
    await until('leaf locked again', () => !wire.leafReleased, 3000);
    assert.equal(agent.lane.state, 'idle');
    assert.equal(agent.journal.count(), 0, 'egress is not a health-code decision');
  });
});

test('an empty view is no forehead: the measurement waits for one, then gives up as a fault, never a pass', { timeout: 20_000 }, async () => {
  await withLane(async ({ agent, wire, world }) => {
    wire.setForehead({ ok: true, celsius: 24 }); // the wall behind the gate
    const decided = new Promise<string>((resolve) => agent.lane.once('decision', ({ decision }) => resolve(decision.reason)));
    wire.presentCode(world.platform.issue({ colour: 'green', maskedName: '张*三' }).code, 'scanner');
    assert.equal(await decided, 'sensor-fault');
    assert.equal(wire.leafReleased, false);
  });
});

test('stopping the agent mid-pulse locks the leaf', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-wire-stop-'));
  const config = checkConfig({ site: 'wire', lane: 'stop', timing: { relayPulseMs: 5000 }, journal: { path: join(dir, 'journal.db') } });
  const simulated = await createSimulatedLane(config, pino({ level: 'silent' }));
  try {
    await simulated.agent.start();
    await simulated.wire.scannerOpened();
    simulated.wire.setForehead({ ok: true, celsius: 36.5 });
    simulated.wire.presentCode(simulated.world.platform.issue({ colour: 'green', maskedName: '张*三' }).code, 'scanner');
    await until('leaf released', () => simulated.wire.leafReleased);
    await simulated.agent.stop();
    assert.equal(simulated.wire.leafReleased, false);
  } finally {
    await simulated.hardware.close();
    await simulated.wire.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gate-agent run: a lost board stops the agent with exit code 3 so the service restarts it', { timeout: 20_000 }, async () => {
  const { runGate } = await import('../../edge-agent/cli/run-gate.js');
  const { WireLane } = await import('../../simulator/hardware/wire-lane.js');
  const { writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'gate-run-'));
  const wire = await WireLane.start({ camera: false });
  try {
    const hardware = wire.hardwareConfig();
    const { ReferencePlatform } = await import('../../simulator/platform.js');
    const trust = join(dir, 'issuer.pem');
    writeFileSync(trust, (await ReferencePlatform.create()).issuer.certificatePem);
    const file = join(dir, 'agent.json');
    writeFileSync(
      file,
      JSON.stringify({ site: 'run', lane: 'lane-1', credentials: { trust }, journal: { path: join(dir, 'journal.db') }, log: { level: 'silent' }, hardware: { ...hardware, board: { io: 'firmata', readyTimeoutMs: 5000 }, thermometer: { address: hardware.thermometer.address } } }),
    );
    const exit = runGate(file, wire.injection());
    await wire.scannerOpened();
    wire.io.disconnect('close');
    assert.equal(await exit, 3);
  } finally {
    await wire.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a red-code hold survives an agent restart on the same journal: back held, buzzer and red lamp on; released, the next start is idle', { timeout: 30_000 }, async () => {
  const { decideAtScanner } = await import('../support/lane.js');
  const dir = mkdtempSync(join(tmpdir(), 'gate-wire-hold-'));
  const config = checkConfig({ site: 'wire', lane: 'hold', voice: { enabled: false }, journal: { path: join(dir, 'journal.db') } });
  const run = async (body: (simulated: SimulatedLane) => Promise<void>): Promise<void> => {
    const simulated = await createSimulatedLane(config, pino({ level: 'silent' }));
    try {
      await simulated.agent.start();
      await simulated.wire.scannerOpened();
      await body(simulated);
    } finally {
      await simulated.close();
    }
  };
  try {
    await run(async (simulated) => {
      const record = await decideAtScanner(simulated, simulated.world.platform.issue({ colour: 'red', maskedName: '张*三' }).code);
      assert.equal(record.decision.verdict, 'hold');
      assert.equal(simulated.agent.lane.state, 'held');
    });
    await run(async ({ agent, wire }) => {
      assert.equal(agent.lane.state, 'held', 'the person is still there after the restart');
      assert.equal(wire.io.level(SIM_PINS.buzzer), 1);
      assert.equal(wire.io.level(SIM_PINS.red), 1);
      assert.equal(wire.leafReleased, false);
      assert.equal(agent.screen.current.phase, 'hold');
      assert.equal(agent.lane.staffRelease(), true);
      assert.equal(wire.io.level(SIM_PINS.buzzer), 0);
    });
    await run(async ({ agent, wire }) => {
      assert.equal(agent.lane.state, 'idle');
      assert.equal(wire.io.level(SIM_PINS.buzzer), 0);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
