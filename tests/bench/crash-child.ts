/**
 * Child process of the crash benchmark (crash.ts): one gate as production
 * runs it, the real agent (GateAgent: lane, journal, outbox and its pump on
 * the MQTT link) on the simulator's wire-level virtual hardware (virtual
 * board, emulated MLX90614, the QR scanner module on serialport's
 * MockBinding), and people walking through it one after another, each
 * holding a fresh code to the scanner (simulator/crowd.ts's walkThrough).
 *
 * argv: journal path, broker URL, journal sync mode ('normal' or 'full').
 * stdout: one JSON line per decision, {id, verdict, colour}, written from the
 * lane's 'decision' event: the lane emits it after Journal.append returned,
 * i.e. after the commit that stored the event and its outbox rows. Writes to
 * a pipe are synchronous on Linux, so a line the parent reads is a decision
 * that was committed before the process died; one killed between the commit
 * and the write is committed but never reported.
 * stdin: a line "drain" (or stdin closing) stops taking people; the child
 * waits until its outbox is empty, prints {"drained":true,…}, stops the
 * agent and exits 0.
 * Not a *.test.ts file, so `node --test` does not run it by itself.
 */
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { openLaneHardware } from '../../device/lane-hardware.js';
import { GateAgent } from '../../edge-agent/agent.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import type { Colour } from '../../protocol/domain.js';
import type { DecisionRecord } from '../../edge-agent/lane/lane.js';
import type { Reason } from '../../protocol/reasons.js';
import { walkThrough, type Person } from '../../simulator/crowd.js';
import { WireLane } from '../../simulator/hardware/wire-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';

const [, , journalPath, url, sync] = process.argv;
if (journalPath === undefined || url === undefined || (sync !== 'normal' && sync !== 'full')) {
  throw new Error('usage: crash-child <journal path> <broker url> <normal|full>');
}

// Bounded, so an orphan whose parent never kills it still ends.
setTimeout(() => process.exit(3), 300_000).unref();

// Only errors, on stderr: the parent passes them on as progress.
const logger = pino({ level: 'error', base: undefined }, pino.destination({ fd: 2, sync: true }));
const platform = await ReferencePlatform.create();
const trust = new TrustStore();
trust.add(platform.issuer.certificate, 'crash benchmark issuer');
const wire = await WireLane.start({ camera: false });
const hardware = await openLaneHardware(wire.hardwareConfig(), logger, wire.injection());
const config = checkConfig({
  site: 'bench',
  lane: 'crash',
  timing: { relayPulseMs: 100, passageTimeoutMs: 2000, denyDisplayMs: 10, temperatureDeadlineMs: 500, repeatSuppressMs: 0 },
  journal: { path: journalPath, sync },
  mqtt: { url },
  // No centre signs anything here, so the gate is degraded throughout: it decides by the code's colour, flagged so.
  colour: { whenDegraded: 'offline-code' },
  voice: { enabled: false },
});
// The centre's keys: none, as nothing from a centre is sent in this benchmark (every such message would be refused).
const agent = new GateAgent({ config, hardware, logger, trust, centreKeys: new TrustStore() });
agent.lane.on('decision', (record: DecisionRecord) => {
  const { id, verdict, colour } = record.event;
  process.stdout.write(`${JSON.stringify({ id, verdict, colour })}\n`);
});
await agent.start();
await wire.scannerOpened();
// A red code the killed child held is held still (a hold outlasts a restart): staff release the person before the crowd goes on.
if (agent.lane.state === 'held') agent.lane.staffRelease();

let draining = false;
const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim() === 'drain') draining = true;
});
input.on('close', () => {
  draining = true;
});

// A mix like a day's crowd: passes, a refusal by colour and one by fever, and a red code (held, with its alert).
const MIX: Array<{ colour: Colour; celsius: number; verdict: Person['expect']['verdict']; reason: Reason }> = [
  { colour: 'green', celsius: 36.5, verdict: 'pass', reason: 'green-normal' },
  { colour: 'yellow', celsius: 36.6, verdict: 'deny', reason: 'yellow' },
  { colour: 'green', celsius: 36.4, verdict: 'pass', reason: 'green-normal' },
  { colour: 'red', celsius: 36.7, verdict: 'hold', reason: 'red' },
  { colour: 'green', celsius: 38.3, verdict: 'deny', reason: 'fever' },
];

function person(n: number): Person {
  const kind = MIX[n % MIX.length]!;
  const { code } = platform.issue({ colour: kind.colour, maskedName: `测*${n}` });
  return {
    label: `person ${n}`,
    shows: kind.colour,
    approach: { kind: 'code', code, way: 'scanner' },
    temperature: { ok: true, celsius: kind.celsius },
    expect: { verdict: kind.verdict, reason: kind.reason },
  };
}

// The crowd goes on where the killed child's stopped, so short lives still see the whole mix.
const first = agent.journal.count();
for (let n = first; !draining && n < first + 100_000; n++) {
  const outcome = await walkThrough(agent.lane, wire, person(n), { staffDelayMs: 0, walkDelayMs: 0 });
  if (!outcome.matches) logger.error({ expected: outcome.person.expect, verdict: outcome.verdict, reason: outcome.reason }, 'crash benchmark: unexpected decision');
}

const outbox = agent.outbox!;
const deadline = Date.now() + 60_000;
while ((outbox.depth > 0 || !agent.brokerConnected) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
process.stdout.write(`${JSON.stringify({ drained: outbox.depth === 0, depth: outbox.depth, deadLetters: outbox.deadCount })}\n`);
await agent.stop();
await hardware.close();
await wire.close();
process.exit(0);
