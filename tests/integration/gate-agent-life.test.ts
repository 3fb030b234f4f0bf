/**
 * `gate-agent run` as a service manager runs it: the real executable in a
 * child process, on the simulator's virtual board loaded as an IO plugin by
 * path (the config's hardware.board.io) and a scanner path that is not there
 * (the driver keeps trying to open it, as with a module unplugged). A start
 * that fails ends the process non-zero with its reason logged; SIGTERM ends
 * it with code 0 whatever the lane is doing. Each wait is bounded by a
 * timeout, never timed: a process that does not exit fails the test.
 */
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { Journal } from '../../edge-agent/journal/journal.js';
import { LaneHolds } from '../../edge-agent/lane/lane-holds.js';
import type { LaneStatusMessage } from '../../protocol/contract.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../simulator/broker.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { cleanupStack } from '../support/cleanups.js';
import { until } from '../support/wait.js';
import { exitOf as exitWithin, logged, startChild, untilLogged, type AgentProcess } from '../support/agent-process.js';

/** dist/tests/integration → dist. */
const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(DIST, 'edge-agent', 'cli', 'main.js');
const VIRTUAL_IO = path.join(DIST, 'simulator', 'hardware', 'virtual-io.js');
const SITE = 'life';
const LANE = 'lane-1';
/** Longer than the agent's stop bound and exit grace together (10 s): a process still there after it has hung. */
const EXIT_TIMEOUT_MS = 20_000;

let dir: string;
let issuerPem: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-agent-life-'));
  issuerPem = path.join(dir, 'issuer.pem');
  fs.writeFileSync(issuerPem, (await ReferencePlatform.create()).issuer.certificatePem);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A config file for one run; `journal` names the journal file (a restart passes the same one). */
function writeConfig(name: string, changes: { journal?: string; hardware?: Record<string, unknown>; [key: string]: unknown } = {}): string {
  const { journal, hardware, ...rest } = changes;
  const file = path.join(dir, `${name}.json`);
  const config = {
    site: SITE,
    lane: LANE,
    credentials: { trust: issuerPem },
    journal: { path: journal ?? path.join(dir, `${name}.db`) },
    log: { level: 'info' },
    voice: { enabled: false },
    timing: { passageTimeoutMs: 60_000 },
    hardware: {
      board: { io: VIRTUAL_IO, readyTimeoutMs: 5000 },
      relay: { pin: 7 },
      passageBeam: { pin: 2 },
      fireAlarm: { pin: 3 },
      lights: { green: 5, red: 6, buzzer: 8 },
      scanner: { path: path.join(dir, 'no-such-scanner') },
      ...hardware,
    },
    ...rest,
  };
  fs.writeFileSync(file, JSON.stringify(config));
  return file;
}

type Agent = AgentProcess;

function startAgent(t: TestContext, configFile: string): Agent {
  return startChild(t, BIN, ['run', '--config', configFile]);
}

/** The exit, or a failure naming what the process wrote if it is still there after EXIT_TIMEOUT_MS. */
function exitOf(agent: Agent): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return exitWithin(agent, EXIT_TIMEOUT_MS);
}

/** The one line a failed start logs: fatal, with its code. */
function startFailure(agent: Agent): Record<string, unknown> {
  const lines = agent.logs().filter((line) => line.level === 60);
  assert.equal(lines.length, 1, agent.stdout());
  return lines[0]!;
}

async function stopWithSigterm(agent: Agent): Promise<void> {
  agent.child.kill('SIGTERM');
  const exit = await exitOf(agent);
  assert.deepEqual(exit, { code: 0, signal: null }, `stdout:\n${agent.stdout()}\nstderr:\n${agent.stderr()}`);
  assert.ok(logged(agent, 'stopping'), agent.stdout());
  assert.ok(!logged(agent, /did not stop within/), agent.stdout());
}

/** A hold kept from an earlier run, as a red code leaves it in the journal's file. */
function keepHold(journalPath: string): void {
  const journal = Journal.open(journalPath);
  LaneHolds.attach(journal.database).hold(LANE, 'a1b2c3d4-0000-4000-8000-000000000000', Date.now() - 60_000);
  journal.close();
}

function heldInJournal(journalPath: string): boolean {
  const journal = Journal.open(journalPath);
  try {
    return LaneHolds.attach(journal.database).get(LANE) !== null;
  } finally {
    journal.close();
  }
}

// ---------------------------------------------------------------------------
// A start that fails ends the process

test('a TLS CA file that is not there: the start stops what it had started, logs code config and exits 2', { timeout: 60_000 }, async (t) => {
  const agent = startAgent(t, writeConfig('no-ca', { mqtt: { url: 'mqtts://127.0.0.1:1', centreKeys: issuerPem, tls: { ca: path.join(dir, 'no-such-ca.pem') } } }));
  const exit = await exitOf(agent);
  assert.equal(exit.code, 2, agent.stderr());
  assert.match(agent.stderr(), /mqtt\.tls\.ca: .*no-such-ca\.pem/);
  const failure = startFailure(agent);
  assert.equal(failure.code, 'config');
  assert.equal(failure.component, 'broker link');
  assert.match(String(failure.msg), /gate agent did not start: .*mqtt\.tls\.ca/);
  assert.ok(!logged(agent, 'gate agent running'));
});

test('the screen port already taken: exit 1 with code address-in-use', { timeout: 60_000 }, async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const { port } = taken.address() as AddressInfo;
  const agent = startAgent(t, writeConfig('port-taken', { screen: { host: '127.0.0.1', port } }));
  const exit = await exitOf(agent);
  assert.equal(exit.code, 1, agent.stderr());
  assert.match(agent.stderr(), /gate-agent: start failed: .*EADDRINUSE/);
  assert.equal(startFailure(agent).code, 'address-in-use');
  assert.equal(startFailure(agent).component, 'screen');
});

test('neither a scanner nor a camera: exit 2 with code config, before the board is opened', { timeout: 60_000 }, async (t) => {
  const agent = startAgent(t, writeConfig('no-reader', { hardware: { scanner: undefined } }));
  const exit = await exitOf(agent);
  assert.equal(exit.code, 2, agent.stderr());
  assert.match(agent.stderr(), /neither a scanner nor a camera/);
  assert.equal(startFailure(agent).code, 'config');
});

// ---------------------------------------------------------------------------
// SIGTERM ends the process, whatever the lane is doing

test('SIGTERM during a fire alarm: exit 0', { timeout: 60_000 }, async (t) => {
  // Wired active-low with nothing driving the pin: the alarm is on from the start.
  const agent = startAgent(t, writeConfig('fire-alarm', { hardware: { fireAlarm: { pin: 3, invert: true } } }));
  await untilLogged(agent, 'fire alarm: lane held open');
  await untilLogged(agent, 'gate agent running');
  await stopWithSigterm(agent);
});

test('SIGTERM during a red-code hold: exit 0, and the hold is still kept for the next start', { timeout: 60_000 }, async (t) => {
  const journal = path.join(dir, 'held.db');
  keepHold(journal);
  const agent = startAgent(t, writeConfig('held', { journal }));
  await untilLogged(agent, /red-code hold kept from before the restart/);
  await untilLogged(agent, 'gate agent running');
  await stopWithSigterm(agent);
  assert.equal(heldInJournal(journal), true);
});

// ---------------------------------------------------------------------------
// With the centre: a grant, and a hold across restarts on the lane's retained status

interface Centre {
  broker: EmbeddedBroker;
  centre: SimulatedCentre;
  keysFile: string;
  /** The lane's retained statuses as they arrive. */
  statuses: LaneStatusMessage[];
}

async function startCentre(t: TestContext): Promise<Centre> {
  const cleanups = cleanupStack(t);
  const broker = await startEmbeddedBroker();
  cleanups.push(() => broker.close());
  // aedes speaks MQTT 3.1.1.
  const centre = await SimulatedCentre.start({ url: broker.url, protocolVersion: 4 });
  cleanups.push(() => centre.client.endAsync(true));
  const keysFile = path.join(dir, `centre-${Date.now()}.pem`);
  fs.writeFileSync(keysFile, centre.certificatePem);
  const statuses: LaneStatusMessage[] = [];
  const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  cleanups.push(() => watcher.endAsync(true));
  watcher.on('message', (_topic, payload) => statuses.push(JSON.parse(payload.toString('utf8')) as LaneStatusMessage));
  await watcher.subscribeAsync(`hc/v1/${SITE}/${LANE}/status`, { qos: 1 });
  return { broker, centre, keysFile, statuses };
}

function linked(centre: Centre): Record<string, unknown> {
  return { mqtt: { url: centre.broker.url, protocolVersion: 4, centreKeys: centre.keysFile } };
}

async function untilStatus(centre: Centre, laneState: string, after = 0): Promise<void> {
  await until(`the lane's status to say ${laneState}`, () => centre.statuses.slice(after).some((s) => s.state === 'online' && s.laneState === laneState), 15_000);
}

test('SIGTERM during a grant (the leaf released by the centre, the passage timeout pending): exit 0', { timeout: 60_000 }, async (t) => {
  const centre = await startCentre(t);
  const agent = startAgent(t, writeConfig('grant', linked(centre)));
  await untilStatus(centre, 'idle');
  const result = await centre.centre.command(SITE, LANE, 'open');
  assert.equal(result.ok, true, JSON.stringify(result));
  await untilStatus(centre, 'open');
  await stopWithSigterm(agent);
});

test('a red-code hold across restarts: the lane comes back held and says so; the centre releases it; the next start is idle', { timeout: 90_000 }, async (t) => {
  const centre = await startCentre(t);
  const journal = path.join(dir, 'held-linked.db');
  keepHold(journal);
  const config = writeConfig('held-linked', { journal, ...linked(centre) });

  const first = startAgent(t, config);
  await untilStatus(centre, 'held');
  const released = await centre.centre.command(SITE, LANE, 'release-hold');
  assert.equal(released.ok, true, JSON.stringify(released));
  await untilStatus(centre, 'idle');
  await stopWithSigterm(first);
  assert.equal(heldInJournal(journal), false, 'the release is kept too');

  const seen = centre.statuses.length;
  const second = startAgent(t, config);
  await untilStatus(centre, 'idle', seen);
  assert.ok(!centre.statuses.slice(seen).some((s) => s.laneState === 'held'), JSON.stringify(centre.statuses.slice(seen)));
  assert.ok(!logged(second, /red-code hold kept/), second.stdout());
  await stopWithSigterm(second);
});

// ---------------------------------------------------------------------------
// The stop bound

test('a part that never finishes stopping: after the bound the reason is logged (stop-timeout) and the run ends with 1', { timeout: 60_000 }, async (t) => {
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'run-gate-child.js');
  const agent = startChild(t, child, [dir, issuerPem, '300']);
  await untilLogged(agent, /^scanner connected/);
  await untilLogged(agent, 'gate agent running');
  agent.child.kill('SIGTERM');
  const exit = await exitOf(agent);
  assert.deepEqual(exit, { code: 1, signal: null }, `stdout:\n${agent.stdout()}\nstderr:\n${agent.stderr()}`);
  const overdue = agent.logs().find((line) => line.code === 'stop-timeout');
  assert.ok(overdue, agent.stdout());
  assert.equal(overdue.boundMs, 300);
  assert.match(String(overdue.msg), /did not stop within 300 ms/);
});
