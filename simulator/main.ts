#!/usr/bin/env node
/**
 * `npm start`: a simulated entry gate on embedded defaults. Starts an aedes
 * broker on loopback, the real centre (SQLite files in a temporary folder)
 * with a reference health-code platform calling its API and a department
 * webhook taking its deliveries, one lane of the real edge agent on virtual
 * hardware, and walks the scripted crowd through it, one line per person and
 * a summary at the end. Ctrl-C stops cleanly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { checkConfig, loadConfig } from '../protocol/config/gate-config.js';
import type { GateConfig } from '../protocol/config/gate-schema.js';
import { startEmbeddedBroker } from './broker.js';
import { scriptedCrowd, walkThrough, type Outcome } from './crowd.js';
import { openSealedRecord } from '../protocol/privacy/sealed-record.js';
import { startDemoCentre } from './demo-centre.js';
import { createSimulatedLane, pushAndWait } from './simulated-lane.js';
import { formatOutcome, formatSummary, HEADER } from './report.js';
import { hashPin } from '../protocol/privacy/staff-pin.js';
import type { SealedRegistrationMessage } from '../protocol/contract.js';
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
  .option('--fleet <lanes>', 'fleet mode instead: this many lanes\' MQTT links (no hardware) and the centre publishing the platform\'s colour changes to them', positiveInt)
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

  // The real centre: its API takes the platform's changes, its publisher signs them for the gate, its
  // look-ups answer from its store, and its outbox delivers alerts and registrations to the department.
  // With --config its files stay beside the journal: the gate keeps the seq it reached, so must the centre.
  const centreDir = options.config ? join(dirname(config.journal.path), 'demo-centre') : join(workDir, 'centre');
  const demo = await startDemoCentre({
    site: config.site,
    key: simulated.centreKey,
    dir: centreDir,
    broker: { url: config.mqtt.url!, protocolVersion: config.mqtt.protocolVersion },
    baseTopic: config.mqtt.baseTopic,
    heartbeatSeconds: Math.max(1, config.colour.maxSyncAgeSeconds / 4),
    logger: logger.child({ app: 'centre' }),
  });
  const { centre, platform, department } = demo;
  department.on('delivered', ({ kind, body }) => {
    const from = `${String(body.site)}/${String(body.lane)}`;
    if (kind === 'alert') console.log(`  [department] red-code alert from ${from}, delivered by the centre's outbox (signature checked)`);
  });

  let stopping = false;
  process.once('SIGINT', () => {
    stopping = true;
    console.log('\nstopping after this person (Ctrl-C)…');
  });

  await agent.start();
  await wire.scannerOpened();
  await wire.idCardOpened();
  console.log(`Simulated gate ${config.site}/${config.lane}: broker ${config.mqtt.url}, journal ${config.journal.path}`);
  console.log(`Centre API ${centre.url} (store ${join(centreDir, 'centre.db')}), department webhook ${department.url}`);
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
      if (person.pushBefore) await pushAndWait(platform, agent, person.pushBefore);
      const outcome = await walkThrough(agent.lane, wire, person, timing);
      outcomes.push(outcome);
      console.log(formatOutcome(outcomes.length, outcome));
    }
  }

  // Wait (bounded) for the gate's reports to reach the centre's record, and for the centre's outbox
  // to deliver the alerts and registrations to the department, before counting.
  const made = outcomes.flatMap((o) => o.decisions.map((d) => d.event.id));
  const holds = outcomes.flatMap((o) => o.decisions.filter((d) => d.decision.alert).map((d) => d.event.id));
  const sealed = made.filter((id) => agent.registrations?.get(id) !== undefined);
  const deliveredFor = (kind: 'alert' | 'registration', eventId: string) => [...department.delivered.values()].find((d) => d.kind === kind && d.body.eventId === eventId);
  const count = async () => {
    const recorded = new Set((await centre.duties.record?.store.decisions({ site: config.site, lane: config.lane, limit: made.length + 1000 }))?.map((d) => d.id));
    const alerts = holds.map((id) => deliveredFor('alert', id)).filter((d) => d !== undefined);
    const outbox = new Map((await platform.deliveries(config.site)).map((d) => [d.id, d.state]));
    return {
      recorded: made.filter((id) => recorded.has(id)).length,
      alerts: alerts.length,
      outboxDelivered: alerts.filter((d) => outbox.get(d.id) === 'delivered').length,
      registrations: sealed.map((id) => deliveredFor('registration', id)).filter((d) => d !== undefined),
    };
  };
  const deadline = Date.now() + 15_000;
  let counted = await count();
  while (
    (counted.recorded < made.length || counted.outboxDelivered < holds.length || counted.registrations.length < sealed.length) &&
    Date.now() < deadline
  ) {
    await new Promise((r) => setTimeout(r, 100));
    counted = await count();
  }

  console.log(
    formatSummary(outcomes, {
      // Only this run's: with --config the journal may hold earlier runs too.
      journaled: made.filter((id) => agent.journal.get(id) !== undefined).length,
      recorded: counted.recorded,
      made: made.length,
      alerts: counted.alerts,
      outboxDelivered: counted.outboxDelivered,
      holds: holds.length,
    }),
  );
  // Only the authority's private key opens what the centre passed on, unopened, to the department.
  const opened = counted.registrations.filter((r) => {
    try {
      openSealedRecord(r.body as unknown as SealedRegistrationMessage, simulated.authority.privateKey);
      return true;
    } catch {
      return false;
    }
  });
  console.log(
    `Registrations: ${sealed.length} sealed to the health authority's key, ${counted.registrations.length} delivered to the department by the centre, ${opened.length} opened with the authority's private key.`,
  );
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
  await simulated.close();
  await demo.stop();
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
