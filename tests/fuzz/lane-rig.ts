/**
 * A real edge agent on the simulator's wire-level virtual hardware, for the
 * surfaces that reach the gate through its link or its web server: as
 * simulator/simulated-lane.ts builds one, without the camera (its frame
 * decoding would take the CPU the fuzzing needs) and without voice prompts,
 * optionally linked to an embedded MQTT broker, logging to a sink that keeps
 * every error-level line so a case that made the agent log an internal
 * error is known by it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { openLaneHardware, type OpenLaneHardware } from '../../device/lane-hardware.js';
import { GateAgent } from '../../edge-agent/agent.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { generateAuthorityKeyPair, loadAuthorityKey } from '../../protocol/privacy/sealed-record.js';
import type { SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../simulator/broker.js';
import { WireLane } from '../../simulator/hardware/wire-lane.js';
import { fuzzKey } from './keys.js';

export interface LoggedError {
  msg: string;
  err: string | null;
}

export interface LaneRig {
  agent: GateAgent;
  wire: WireLane;
  broker: EmbeddedBroker | null;
  /** The key the centre signs with; the agent trusts its certificate. */
  centreKey: SignerKeyPair;
  /** The issuer the agent trusts for codes. */
  issuer: SignerKeyPair;
  logger: Logger;
  /** Error-level lines logged so far (the newest 1,000). */
  errors: LoggedError[];
  /** How many error-level lines were logged in all. */
  errorCount(): number;
  dir: string;
  close(): Promise<void>;
}

export const RIG_SITE = 'fuzz-site';
export const RIG_LANE = 'lane-1';
const KEPT_ERRORS = 1000;

/** A logger that keeps the error lines (the newest KEPT_ERRORS) and counts them all, for a surface to check what it logged. */
export function errorLogger(): { logger: Logger; errors: LoggedError[]; errorCount: () => number } {
  const errors: LoggedError[] = [];
  let count = 0;
  const sink = {
    write(line: string): void {
      const parsed = JSON.parse(line) as { level: number; msg: string; err?: { message?: string } | string };
      if (parsed.level < 50) return;
      count++;
      errors.push({ msg: parsed.msg, err: typeof parsed.err === 'string' ? parsed.err : (parsed.err?.message ?? null) });
      if (errors.length > KEPT_ERRORS) errors.shift();
    },
  };
  return { logger: pino({ level: 'warn' }, sink), errors, errorCount: () => count };
}

export async function startLaneRig(options: { broker: boolean; config?: Record<string, unknown> }): Promise<LaneRig> {
  const dir = mkdtempSync(join(tmpdir(), 'gate-fuzz-'));
  const { logger, errors, errorCount } = errorLogger();
  const broker = options.broker ? await startEmbeddedBroker() : null;
  const config = checkConfig({
    site: RIG_SITE,
    lane: RIG_LANE,
    timing: { relayPulseMs: 100, denyDisplayMs: 0 },
    journal: { path: join(dir, 'journal.db') },
    voice: { enabled: false },
    ...(broker ? { mqtt: { url: broker.url, protocolVersion: 4, lookupTimeoutMs: 10_000 } } : {}),
    ...options.config,
  });
  const [issuer, centreKey] = await Promise.all([
    fuzzKey('issuer', 'CN=Fuzz issuer, O=Fuzz, C=CN'),
    fuzzKey('centre', 'CN=Fuzz centre, O=Fuzz, C=CN'),
  ]);
  const trust = new TrustStore();
  trust.add(issuer.certificate, 'fuzz issuer');
  const centreKeys = new TrustStore();
  centreKeys.add(centreKey.certificate, 'fuzz centre');
  const wire = await WireLane.start({ camera: false });
  const hardware: OpenLaneHardware = await openLaneHardware(wire.hardwareConfig(), logger, wire.injection());
  const agent = new GateAgent({
    config,
    hardware,
    logger,
    trust,
    centreKeys,
    authorityKey: loadAuthorityKey(generateAuthorityKeyPair().publicKeyPem),
    idHashKey: Buffer.alloc(32, 7),
  });
  await agent.start();
  return {
    agent,
    wire,
    broker,
    centreKey,
    issuer,
    logger,
    errors,
    errorCount,
    dir,
    close: async () => {
      await agent.stop();
      await hardware.close();
      await wire.close();
      await broker?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
