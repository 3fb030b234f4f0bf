/**
 * A gate agent run from the bundle `gate-provision enroll --in-place` made,
 * in the test process on the simulator's wire-level lane: the bundle's
 * agent.yaml kept but for what a test lane needs (the signed trust list put
 * in the bundle, the journal there, quick timings, no voice) and the
 * settings a test passes on top. Stopped after the test.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { parse as parseYaml, stringify } from 'yaml';
import { openLaneHardware } from '../../device/lane-hardware.js';
import { GateAgent } from '../../edge-agent/agent.js';
import type { DecisionRecord } from '../../edge-agent/lane/lane.js';
import { loadConfig } from '../../protocol/config/gate-config.js';
import { WireLane } from '../../simulator/hardware/wire-lane.js';
import { until } from './wait.js';

export interface ProvisionedGate {
  device: string;
  lane: string;
  wire: WireLane;
  agent: GateAgent;
  /** Stops the agent and its lane's hardware (a restart starts the bundle again); once, also after the test. */
  stop(): Promise<void>;
}

/** Top-level sections of agent.yaml replaced (or added) before the agent reads it. */
export type BundleOverrides = Record<string, Record<string, unknown>>;

export async function startProvisionedGate(t: TestContext, site: string, device: string, trustList: string, overrides: BundleOverrides = {}): Promise<ProvisionedGate> {
  const bundle = path.join(site, 'devices', device);
  const file = path.join(bundle, 'agent.yaml');
  const yaml = parseYaml(fs.readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  const trustFile = path.join(bundle, 'trust-list.jws');
  fs.copyFileSync(trustList, trustFile);
  yaml.credentials!.trust = trustFile;
  yaml.journal = { path: path.join(bundle, 'journal.db') };
  yaml.timing = { relayPulseMs: 100, passageTimeoutMs: 1000, denyDisplayMs: 30, temperatureDeadlineMs: 300, repeatSuppressMs: 1000 };
  yaml.voice = { enabled: false };
  yaml.log = { level: 'silent' };
  for (const [section, values] of Object.entries(overrides)) yaml[section] = { ...yaml[section], ...values };
  fs.writeFileSync(file, stringify(yaml));
  const config = loadConfig(file, {});
  const wire = await WireLane.start();
  const hardware = await openLaneHardware(wire.hardwareConfig(), pino({ level: 'silent' }), wire.injection());
  const agent = new GateAgent({ config, hardware, logger: pino({ level: 'silent' }) });
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await agent.stop();
      await hardware.close();
      await wire.close();
    })());
  t.after(stop);
  await agent.start();
  await wire.scannerOpened();
  return { device, lane: config.lane, wire, agent, stop };
}

/** The lane's next decision, within 5 s of what `act` does at the lane (a code shown, a card swiped). */
async function nextDecision(gate: ProvisionedGate, act: () => unknown): Promise<DecisionRecord> {
  const { lane } = gate.agent;
  await until(`lane ${gate.lane} to be idle (it is ${lane.state})`, () => lane.state === 'idle');
  gate.wire.setForehead({ ok: true, celsius: 36.5 });
  const decided = new Promise<DecisionRecord>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no decision on ${gate.lane} within 5 s (lane is ${lane.state})`)), 5_000);
    lane.once('decision', (record) => {
      clearTimeout(timer);
      resolve(record);
    });
  });
  await act();
  return decided;
}

/** A code held to the scanner: the decision, the code taken away again. */
export async function decideCode(gate: ProvisionedGate, code: string): Promise<DecisionRecord> {
  const record = await nextDecision(gate, () => gate.wire.presentCode(code, 'scanner'));
  gate.wire.withdrawCode();
  return record;
}

export async function decideIdCard(gate: ProvisionedGate, nationalId: string): Promise<DecisionRecord> {
  await gate.wire.idCardOpened();
  return nextDecision(gate, async () => assert.equal(await gate.wire.swipeIdCard(nationalId), true, 'the card reader took the swipe'));
}

/** After a pass: the person walks through and the lane is idle again. */
export async function walkThrough(gate: ProvisionedGate): Promise<void> {
  await gate.wire.walkThrough();
  await until(`lane ${gate.lane} to be idle`, () => gate.agent.lane.state === 'idle');
}
