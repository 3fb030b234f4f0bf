/**
 * Child process for the stop-bound test in gate-agent-life.test.ts: runGate
 * on the simulator's wire-level lane whose scanner port never finishes
 * closing (a driver that does not let go), with the stop bound in argv[4].
 * Writes its config from argv[2] (a temp dir) and argv[3] (the issuer's
 * certificate), then exits with the code runGate returns, as the CLI does.
 * Not a *.test.ts file, so `node --test` does not run it by itself.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BindingInterface, BindingPortInterface, OpenOptions } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { runGate } from '../../edge-agent/cli/run-gate.js';
import { serialPorts } from '../../simulator/hardware/serial-ports.js';
import { WireLane } from '../../simulator/hardware/wire-lane.js';

const [, , dir, issuerPem, boundMs] = process.argv;
if (dir === undefined || issuerPem === undefined || boundMs === undefined) throw new Error('usage: run-gate-child <dir> <issuer.pem> <stop bound ms>');

// Bounded, so an orphan whose parent never signals it still ends.
setTimeout(() => process.exit(4), 60_000).unref();

const wire = await WireLane.start({ camera: false });
const wiring = wire.hardwareConfig();
const file = join(dir, 'stuck.json');
writeFileSync(
  file,
  JSON.stringify({
    site: 'life',
    lane: 'lane-1',
    credentials: { trust: issuerPem },
    journal: { path: join(dir, 'stuck.db') },
    voice: { enabled: false },
    hardware: { ...wiring, board: { io: 'firmata', readyTimeoutMs: 5000 }, thermometer: { address: wiring.thermometer.address } },
  }),
);
const ports = serialPorts(wire.scanner, wire.idCard);
const stuck: BindingInterface = {
  list: () => ports.list(),
  open: async (options: OpenOptions): Promise<BindingPortInterface> => {
    const port = await ports.open(options);
    port.close = () => new Promise<void>(() => {});
    return port;
  },
};
process.exit(await runGate(file, { io: wire.io, serialBinding: stuck }, { stopBoundMs: Number(boundMs) }));
