#!/usr/bin/env node
/**
 * `npm start`: a simulated entry gate on embedded defaults. Starts an aedes
 * broker on loopback, a reference health-code platform, one lane of the real
 * edge agent on virtual hardware, and walks the scripted crowd through it,
 * one line per person and a summary at the end. Ctrl-C stops cleanly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { checkConfig, loadConfig } from '../protocol/config/gate-config.js';
import type { GateConfig } from '../protocol/config/gate-schema.js';
import { startEmbeddedBroker } from './broker.js';
import { scriptedCrowd, walkThrough, type Outcome } from './crowd.js';
import { openSealedRecord } from '../protocol/privacy/sealed-record.js';
import { SimulatedCentre } from './centre.js';
import { createSimulatedLane, pushAndWait } from './simulated-lane.js';
import { formatOutcome, formatSummary, HEADER } from './report.js';
import { hashPin } from '../protocol/privacy/staff-pin.js';
import { ConfigError } from '../protocol/config/errors.js';

/** The built-in config's staff PIN, printed at start: a demonstration, never a gate's. */
const DEMO_STAFF_PIN = '2468';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}

const program = new Command()
  .name('gate-simulator')
  .description('Run a simulated health-code gate lane and walk a scripted crowd through it.')
  .option('-c, --config <file>', 'agent config (YAML or JSON); default: built-in simulator settings')
  .option('-r, --rounds <n>', 'walk the crowd through this many times', positiveInt, 1)
  .option('--pace <ms>', 'pause before staff act or a person walks through', positiveInt, 400)
  .option('--screen-port <port>', "serve the gate's screen and staff page on this loopback port (0: any free port)", (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number, 0 to 65535');
    return n;
  }, 0)
  .option('--stay', 'keep the gate running after the crowd, for the screen and staff page, until Ctrl-C')
  .option('--log-level <level>', 'agent log level on stderr (pino JSON); default: the config\'s log.level with --config, else error')
  .option('--fleet <lanes>', 'fleet mode instead: this many lanes\' MQTT links (no hardware) and the centre pushing colour changes to them', positiveInt)
  .option('--changes <n>', 'fleet mode: colour changes to push', positiveInt, 5)
  .option('--shared-verification', 'fleet mode: lanes share signature checks, as the lanes of one controller would')
  .parse();

const options = program.opts<{
  config?: string;
  rounds: number;
  pace: number;
  logLevel?: string;
  screenPort: number;
  stay?: boolean;
  fleet?: number;
  changes: number;
  sharedVerification?: boolean;
}>();

async function main(): Promise<number> {
  if (options.fleet) {
    const { runFleet } = await import('./fleet-run.js');
    return runFleet({ lanes: options.fleet, changes: options.changes, sharedVerification: Boolean(options.sharedVerification), out: (line) => console.log(line) });
  }
  const broker = await startEmbeddedBroker();
  const workDir = mkdtempSync(join(tmpdir(), 'gate-sim-'));

  let config: GateConfig;
  try {
    const base = options.config
      ? loadConfig(options.config)
      : checkConfig({
          site: 'demo-mall',
          lane: 'lane-1',
          timing: { relayPulseMs: 1000, denyDisplayMs: 600, passageTimeoutMs: 4000 },
          staff: { pinHash: await hashPin(DEMO_STAFF_PIN) },
          screen: { port: options.screenPort },
        });
    config = {
      ...base,
      journal: options.config ? base.journal : { ...base.journal, path: join(workDir, 'journal.db') },
      // The embedded aedes speaks MQTT 3.1.1 only.
      mqtt: base.mqtt.url ? base.mqtt : { ...base.mqtt, url: broker.url, protocolVersion: 4 },
    };
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      await broker.close();
      return 2;
    }
    throw error;
  }

  // The crowd's lines are the show; the agent's own logs stay quiet unless asked for.
  const level = options.logLevel ?? (options.config ? config.log.level : 'error');
  const logger = pino({ level, base: undefined }, pino.destination({ fd: 2, sync: true }));
  const simulated = await createSimulatedLane(config, logger);
  const { agent, wire, world } = simulated;

  // The centre: signs colour changes and snapshots, answers look-ups, hears what gates report.
  const centre = await SimulatedCentre.start({
    url: broker.url,
    baseTopic: config.mqtt.baseTopic,
    key: simulated.centreKey,
    protocolVersion: config.mqtt.protocolVersion,
    snapshotEveryMs: 2000,
    colourOf: (sub) => world.platform.colourOf(sub) ?? null,
    colourOfIdHash: (hash) => world.platform.colourOfIdHash(hash) ?? null,
  });
  centre.onReport((topic, message) => {
    if (topic.endsWith('/alert')) {
      console.log(`  [centre] red-code alert from ${topic.split('/').slice(-3, -1).join('/')}: epidemic-control department notified`);
    } else if (topic.endsWith('/security')) {
      console.log(`  [centre] security event from ${topic.split('/').slice(-3, -1).join('/')}: ${(message as { detail: string }).detail}`);
    }
  });
  // A new gate starts from the retained snapshot; heartbeats keep it from going degraded.
  await centre.publishSnapshot(config.site);
  const heartbeat = setInterval(() => void centre.heartbeat(config.site).catch(() => {}), Math.max(1000, (config.colour.maxSyncAgeSeconds * 1000) / 4));

  let stopping = false;
  process.once('SIGINT', () => {
    stopping = true;
    console.log('\nstopping after this person (Ctrl-C)…');
  });

  await agent.start();
  await wire.scannerOpened();
  await wire.idCardOpened();
  console.log(`Simulated gate ${config.site}/${config.lane}: broker ${broker.url}, journal ${config.journal.path}`);
  if (agent.screenUrl) {
    const pin = options.config ? '' : ` (staff PIN ${DEMO_STAFF_PIN})`;
    console.log(`Gate screen ${agent.screenUrl}/, staff page ${agent.screenUrl}/staff${pin}`);
  }
  console.log(`Fever threshold ${config.policy.feverThresholdC} °C. Issuer: ${world.platform.issuerName}.\n`);
  console.log(HEADER);

  const outcomes: Outcome[] = [];
  const timing = { staffDelayMs: options.pace, walkDelayMs: Math.min(options.pace, 300) };
  for (let round = 1; round <= options.rounds && !stopping; round++) {
    for (const person of scriptedCrowd(world)) {
      if (stopping) break;
      if (person.pushBefore) await pushAndWait(centre, agent, person.pushBefore);
      const outcome = await walkThrough(agent.lane, wire, person, timing);
      outcomes.push(outcome);
      console.log(formatOutcome(outcomes.length, outcome));
    }
  }

  // Wait (bounded) for the broker to deliver the last QoS 1 publishes before counting.
  const made = outcomes.flatMap((o) => o.decisions.map((d) => d.event.id));
  const alerted = (eventId: string): boolean => [...centre.alerts.values()].some((a) => a.eventId === eventId);
  const deadline = Date.now() + 10_000;
  const delivered = (): boolean =>
    made.every((id) => centre.decisions.has(id)) &&
    made.every((id) => agent.registrations?.get(id) === undefined || [...centre.registrations.values()].some((r) => r.eventId === id)) &&
    outcomes.every((o) => o.decisions.every((d) => !d.decision.alert || alerted(d.event.id)));
  while (!delivered() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

  const holds = outcomes.flatMap((o) => o.decisions.filter((d) => d.decision.alert).map((d) => d.event.id));
  console.log(
    formatSummary(outcomes, {
      // Only this run's: with --config the journal may hold earlier runs too.
      journaled: made.filter((id) => agent.journal.get(id) !== undefined).length,
      published: made.filter((id) => centre.decisions.has(id)).length,
      made: made.length,
      alerts: holds.filter((id) => alerted(id)).length,
      holds: holds.length,
    }),
  );
  // Only the authority's private key opens what the centre relayed.
  const sealed = made.filter((id) => agent.registrations?.get(id) !== undefined);
  const received = [...centre.registrations.values()].filter((r) => sealed.includes(r.eventId));
  const opened = received.filter((r) => {
    try {
      openSealedRecord(r, simulated.authority.privateKey);
      return true;
    } catch {
      return false;
    }
  });
  console.log(`Registrations: ${sealed.length} sealed to the health authority's key, ${received.length} received by the centre, ${opened.length} opened with the authority's private key.`);
  if (options.stay && !stopping) {
    console.log(`\nThe gate stays up${agent.screenUrl ? ` (screen ${agent.screenUrl}/, staff page ${agent.screenUrl}/staff)` : ''}: Ctrl-C to stop.`);
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (!stopping) return;
        clearInterval(check);
        resolve();
      }, 200);
    });
  }
  clearInterval(heartbeat);
  await simulated.close();
  await centre.stop();
  await broker.close();
  if (!options.config) rmSync(workDir, { recursive: true, force: true });
  return outcomes.every((o) => o.matches) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`simulator failed: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
