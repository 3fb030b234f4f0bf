/**
 * `npm run bench -- camera-memory`: the agent's resident memory with the
 * camera loop at 10 frames/s. The real agent runs here (lane, journal, real
 * drivers on the virtual board, the ONVIF camera driver and frame pipeline);
 * the camera emulator, and the platform issuing the codes it shows, run in a
 * child process so their JPEG rendering and keys are not counted. A new code is shown every 4 s, then nobody, so frames are decoded
 * with and without codes and decisions keep being made. RSS is sampled every
 * few seconds; the curve is printed.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { openLaneHardware } from '../../device/lane-hardware.js';
import { GateAgent } from '../../edge-agent/agent.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { WireLane } from '../../simulator/hardware/wire-lane.js';
import { round } from './stats.js';

export interface CameraMemoryOptions {
  durationMs: number;
  sampleMs: number;
  framesPerSecond: number;
  progress: (message: string) => void;
}

const MB = 1024 * 1024;

export async function benchCameraMemory(options: CameraMemoryOptions): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./camera-emulator-child.js', import.meta.url)), '2000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const firstLine = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`camera emulator exited with ${code}`)));
  });
  const { xaddr, issuerCertificate } = JSON.parse(firstLine) as { xaddr: string; issuerCertificate: string };

  const dir = mkdtempSync(join(tmpdir(), 'bench-camera-'));
  const wire = await WireLane.start({ camera: false });
  const logger = pino({ level: 'silent' });
  const hardwareConfig = { ...wire.hardwareConfig(), camera: { xaddr, user: 'bench', password: 'bench-camera', framesPerSecond: options.framesPerSecond, decoder: 'zxing-wasm' as const } };
  const hardware = await openLaneHardware(hardwareConfig, logger, wire.injection());
  const trust = new TrustStore();
  trust.add(new X509Certificate(issuerCertificate));
  const config = checkConfig({
    site: 'bench',
    lane: 'camera',
    timing: { relayPulseMs: 500, passageTimeoutMs: 1000, denyDisplayMs: 500, repeatSuppressMs: 1000 },
    credentials: { maxDynamicLifetimeSeconds: 900 },
    journal: { path: join(dir, 'journal.db') },
  });
  const agent = new GateAgent({ config, hardware, logger, trust });
  let decisions = 0;
  agent.lane.on('decision', () => decisions++);
  await agent.start();

  const curve: Array<{ seconds: number; rssMB: number; heapUsedMB: number }> = [];
  const start = performance.now();
  const sample = (): void => {
    const { rss, heapUsed } = process.memoryUsage();
    curve.push({ seconds: round((performance.now() - start) / 1000, 1), rssMB: round(rss / MB, 1), heapUsedMB: round(heapUsed / MB, 1) });
  };
  sample();
  while (performance.now() - start < options.durationMs) {
    await new Promise((resolve) => setTimeout(resolve, options.sampleMs));
    sample();
    const last = curve[curve.length - 1]!;
    options.progress(`${last.seconds} s: rss ${last.rssMB} MB, heap ${last.heapUsedMB} MB, ${decisions} decisions`);
  }

  await agent.stop();
  await hardware.close();
  await wire.close();
  child.kill();
  rmSync(dir, { recursive: true, force: true });

  const rss = curve.map((p) => p.rssMB);
  const firstMinute = curve.filter((p) => p.seconds <= 60).map((p) => p.rssMB);
  return {
    benchmark: 'camera-memory',
    // glibc's per-thread malloc arenas let libvips' worker threads hold on to freed frames; see docs/operations.md.
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? null,
    nodeFlags: process.execArgv,
    framesPerSecond: options.framesPerSecond,
    durationSeconds: round(options.durationMs / 1000, 0),
    decisions,
    rssMB: {
      start: rss[0],
      max: Math.max(...rss),
      end: rss[rss.length - 1],
      maxAfterFirstMinute: rss.length > firstMinute.length ? Math.max(...rss.slice(firstMinute.length)) : null,
      // The kernel's high-water mark (getrusage ru_maxrss): the true peak, between samples too.
      peak: round(process.resourceUsage().maxRSS / 1024, 1),
    },
    goalMaxRssMB: 150,
    curve,
  };
}
