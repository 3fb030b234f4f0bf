/**
 * `npm run bench -- verify`: how fast the gate checks a code, on one core.
 *  - full GZHC1 verifications per second (prefix, base45, zlib, COSE, ES256,
 *    claims) beside bare ES256 checks of Node's crypto on the same
 *    Sig_structure, in alternating rounds of the same run;
 *  - decision overhead: code text and temperature in → relay command out,
 *    through the real lane and journal on virtual hardware (p50, p99), for
 *    both journal sync modes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { verify as cryptoVerify } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { pino } from 'pino';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { base45Decode } from '../../protocol/credential/base45.js';
import { parseCoseSign1, sigStructure } from '../../protocol/credential/cose.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier } from '../../edge-agent/credential/verifier.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { Lane } from '../../edge-agent/lane/lane.js';
import { createVirtualLaneHardware } from '../../simulator/hardware/virtual-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { median, percentile, ratePerSecond, round } from './stats.js';

export interface VerifyBenchOptions {
  rounds: number;
  roundMs: number;
  decisions: number;
  progress: (message: string) => void;
}

async function decisionOverhead(
  platform: ReferencePlatform,
  verifier: CredentialVerifier,
  sync: 'full' | 'normal',
  count: number,
): Promise<{ p50: number; p99: number; max: number; samples: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-lane-'));
  const journal = Journal.open(join(dir, 'journal.db'), { sync });
  const hardware = createVirtualLaneHardware();
  const lane = new Lane({
    site: 'bench',
    lane: 'lane-1',
    hardware,
    verifier,
    colours: new ColourStatusStore(),
    journal,
    policy: { feverThresholdC: 37.3 },
    timing: { relayPulseMs: 1000, passageTimeoutMs: 8000, denyDisplayMs: 0, temperatureDeadlineMs: 1000, repeatSuppressMs: 0 },
    logger: pino({ level: 'silent' }),
  });
  await hardware.reader.start();
  lane.start();
  const samples: number[] = [];
  const codes = Array.from({ length: 50 }, (_, i) => platform.issue({ colour: 'green', maskedName: `测*${i}` }).code);
  for (let i = 0; i < count; i++) {
    const opened = new Promise<number>((resolve) => {
      hardware.gate.onCommand = (command) => {
        if (command.command === 'pulse') resolve(command.at);
      };
    });
    const start = performance.now();
    hardware.reader.present(codes[i % codes.length]!);
    samples.push((await opened) - start);
    hardware.passage.walkThrough();
    // People are seconds apart at a gate: let the post-decision journal flush finish, unmeasured.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  lane.stop();
  journal.close();
  rmSync(dir, { recursive: true, force: true });
  return { p50: round(median(samples)), p99: round(percentile(samples, 99)), max: round(Math.max(...samples)), samples: samples.length };
}

export async function benchVerify(options: VerifyBenchOptions): Promise<Record<string, unknown>> {
  const platform = await ReferencePlatform.create();
  const trust = new TrustStore();
  trust.add(platform.issuer.certificate);
  const verifier = new CredentialVerifier({ trust });
  const { code } = platform.issue({ colour: 'green', maskedName: '张*三' });
  const check = verifier.verify(code);
  if (!check.valid) throw new Error(`benchmark code does not verify: ${check.message}`);

  // The bare floor: the same signature check the full path makes, nothing else.
  const cose = parseCoseSign1(inflateSync(base45Decode(code.slice('GZHC1:'.length))), true);
  const data = sigStructure(cose.protectedBytes, cose.payload);
  const key = platform.issuer.certificate.publicKey;
  const bare = (): boolean => cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, cose.signature);
  const full = (): boolean => verifier.verify(code).valid;

  ratePerSecond(bare, 200); // warm-up
  ratePerSecond(full, 200);
  const bareRates: number[] = [];
  const fullRates: number[] = [];
  for (let r = 0; r < options.rounds; r++) {
    bareRates.push(ratePerSecond(bare, options.roundMs));
    fullRates.push(ratePerSecond(full, options.roundMs));
    options.progress(`verify round ${r + 1}/${options.rounds}`);
  }
  const bareMedian = median(bareRates);
  const fullMedian = median(fullRates);

  options.progress(`decision overhead: ${options.decisions} decisions, journal sync full`);
  const overheadFull = await decisionOverhead(platform, verifier, 'full', options.decisions);
  options.progress(`decision overhead: ${options.decisions} decisions, journal sync normal`);
  const overheadNormal = await decisionOverhead(platform, verifier, 'normal', options.decisions);

  return {
    benchmark: 'verify',
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
    codeLength: code.length,
    rounds: options.rounds,
    roundMs: options.roundMs,
    bareEs256PerSecond: { median: Math.round(bareMedian), rounds: bareRates.map(Math.round) },
    fullGzhc1PerSecond: { median: Math.round(fullMedian), rounds: fullRates.map(Math.round) },
    fullOverBare: round(fullMedian / bareMedian, 3),
    goalFullOverBare: 0.5,
    decisionOverheadMs: {
      note: 'code text + temperature in → relay pulse command out, real lane + journal, virtual hardware',
      journalSyncFull: overheadFull,
      journalSyncNormal: overheadNormal,
      goalP99: 5,
    },
  };
}
