/**
 * Child process for the stop tests (gate-agent-life.test.ts,
 * run-gate-sigterm.test.ts): runGate on the simulator's wire-level lane, as
 * the CLI runs it, then exits with the code runGate returns.
 *
 *   run-gate-child <dir> <issuer.pem> <stop bound ms>
 *     the scanner port never finishes closing (a driver that does not let go);
 *   run-gate-child <dir> - <stop bound ms|default> <lane state> [stuck]
 *     the child issues its own codes and drives the lane into that state
 *     (idle, measuring, open, locked, held, staff, emergency), printing a
 *     {"probe":"lane-state"} line at each state change; with `stuck` the
 *     scanner port never finishes closing either.
 *
 * After runGate returns it prints {"probe":"relay","released":…}: whether the
 * lock-release relay is left energised. Not a *.test.ts file, so `node
 * --test` does not run it by itself.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BindingInterface, BindingPortInterface, OpenOptions } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { GateAgent } from '../../edge-agent/agent.js';
import { runGate } from '../../edge-agent/cli/run-gate.js';
import type { TemperatureReading } from '../../device/contracts.js';
import { serialPorts } from '../../simulator/hardware/serial-ports.js';
import { WireLane } from '../../simulator/hardware/wire-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';

const [, , dir, issuerArg, boundArg, state, stuckArg] = process.argv;
if (dir === undefined || issuerArg === undefined || boundArg === undefined) {
  throw new Error('usage: run-gate-child <dir> <issuer.pem|-> <stop bound ms|default> [<lane state> [stuck]]');
}
const stuck = state === undefined || stuckArg === 'stuck';

// Bounded, so an orphan whose parent never signals it still ends.
setTimeout(() => process.exit(4), 60_000).unref();

const probe = (line: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ probe: line.probe, ...line })}\n`);

const platform = state === undefined ? null : await ReferencePlatform.create();
const issuerPem = platform ? join(dir, `issuer-${state}.pem`) : issuerArg;
if (platform) writeFileSync(issuerPem, platform.issuer.certificatePem);

const wire = await WireLane.start({ camera: false });
const wiring = wire.hardwareConfig();
const name = state ?? 'stuck';
const file = join(dir, `${name}.json`);
writeFileSync(
  file,
  JSON.stringify({
    site: 'life',
    lane: 'lane-1',
    credentials: { trust: issuerPem },
    journal: { path: join(dir, `${name}-${process.pid}.db`) },
    voice: { enabled: false },
    // Each state lasts until the signal: the passage, the refusal's display and the measurement at their longest.
    timing: { passageTimeoutMs: 60_000, denyDisplayMs: 60_000, temperatureDeadlineMs: 10_000 },
    hardware: { ...wiring, board: { io: 'firmata', readyTimeoutMs: 5000 }, thermometer: { address: wiring.thermometer.address } },
  }),
);
const ports = serialPorts(wire.scanner, wire.idCard);
const stuckPorts: BindingInterface = {
  list: () => ports.list(),
  open: async (options: OpenOptions): Promise<BindingPortInterface> => {
    const port = await ports.open(options);
    port.close = () => new Promise<void>(() => {});
    return port;
  },
};

/** What the person at the lane does to bring it to `state`: their forehead, and the code they show. */
const DRIVE: Record<string, { forehead: TemperatureReading; colour: 'green' | 'red' } | 'fire-alarm' | null> = {
  idle: null,
  measuring: { forehead: { ok: false, fault: 'silent', detail: 'no answer' }, colour: 'green' },
  open: { forehead: { ok: true, celsius: 36.5 }, colour: 'green' },
  locked: { forehead: { ok: true, celsius: 39.2 }, colour: 'green' },
  held: { forehead: { ok: true, celsius: 36.5 }, colour: 'red' },
  staff: { forehead: { ok: false, fault: 'out-of-range', detail: 'implausible' }, colour: 'green' },
  emergency: 'fire-alarm',
};

async function drive(agent: GateAgent): Promise<void> {
  agent.lane.on('state', (next) => probe({ probe: 'lane-state', state: next }));
  probe({ probe: 'lane-state', state: agent.lane.state });
  if (state === undefined) return;
  const action = DRIVE[state];
  if (action === undefined) throw new Error(`no way to drive the lane to ${state}`);
  if (action === null) return;
  if (action === 'fire-alarm') {
    wire.setFireAlarm(true);
    return;
  }
  await wire.scannerOpened();
  wire.setForehead(action.forehead);
  wire.presentCode(platform!.issue({ colour: action.colour, maskedName: '张*三' }).code, 'scanner');
}

const code = await runGate(
  file,
  { io: wire.io, serialBinding: stuck ? stuckPorts : ports },
  {
    ...(boundArg === 'default' ? {} : { stopBoundMs: Number(boundArg) }),
    running: (agent) => void drive(agent).catch((error: unknown) => probe({ probe: 'drive-failed', error: String(error) })),
  },
);
probe({ probe: 'relay', released: wire.leafReleased });
process.exit(code);
