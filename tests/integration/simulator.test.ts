/**
 * End to end: the real edge agent on the real drivers over wire-level virtual hardware, reporting to the
 * embedded aedes broker, with the real centre (its API fed by the reference platform, its outbox
 * delivering to the department's webhook) and the scripted crowd walked through it; then the
 * simulator's own entry point (what `npm start` runs) as a child process.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import { startEmbeddedBroker } from '../../simulator/broker.js';
import { createCrowdWorld, scriptedCrowd, walkThrough, type Outcome } from '../../simulator/crowd.js';
import { startDemoCentre } from '../../simulator/demo-centre.js';
import { createSimulatedLane, pushAndWait } from '../../simulator/simulated-lane.js';
import { until } from '../support/wait.js';

const tempDirs: string[] = [];
after(() => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

const simulatorMain = fileURLToPath(new URL('../../simulator/main.js', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** How many people the scripted crowd has: derived, not hard-coded. */
let crowdSize = 0;
before(async () => {
  crowdSize = scriptedCrowd(await createCrowdWorld()).length;
  assert.ok(crowdSize > 0);
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('the scripted crowd through the real agent and the real centre: every outcome as expected, journaled and published once each, alerts delivered to the department', { timeout: 30_000 }, async () => {
  const broker = await startEmbeddedBroker();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-e2e-'));
  tempDirs.push(dir);
  const logger = pino({ level: 'silent' });

  // The thermometer keeps its default deadline: on a loaded machine a shorter one reads as a sensor fault.
  const config = checkConfig({
    site: 'e2e-site',
    lane: 'lane-7',
    timing: { relayPulseMs: 100, passageTimeoutMs: 2000, denyDisplayMs: 30, repeatSuppressMs: 1000 },
    journal: { path: path.join(dir, 'journal.db') },
    mqtt: { url: broker.url, protocolVersion: 4 },
    log: { level: 'silent' },
  });

  // The centre's side listens before the gate says anything.
  const received: Array<{ topic: string; event: DecisionEvent; raw: string }> = [];
  const alerts: Array<{ topic: string; alert: Record<string, unknown>; raw: string }> = [];
  const centre = await mqtt.connectAsync(broker.url, { clientId: 'e2e-centre' });
  await centre.subscribeAsync([`${config.mqtt.baseTopic}/+/+/decision`, `${config.mqtt.baseTopic}/+/+/alert`], { qos: 1 });
  centre.on('message', (topic, payload) => {
    const raw = payload.toString();
    if (topic.endsWith('/alert')) alerts.push({ topic, alert: JSON.parse(raw) as Record<string, unknown>, raw });
    else received.push({ topic, event: JSON.parse(raw) as DecisionEvent, raw });
  });

  const simulated = await createSimulatedLane(config, logger);
  const { agent, hardware, wire, world } = simulated;
  // The centre: the platform's changes through its API, look-ups from its store, alerts through its outbox.
  const demo = await startDemoCentre({
    site: config.site,
    key: simulated.centreKey,
    dir: path.join(dir, 'centre'),
    broker: { url: broker.url, protocolVersion: 4 },
    baseTopic: config.mqtt.baseTopic,
    heartbeatSeconds: 5,
    logger,
  });
  await agent.start();
  await wire.scannerOpened();
  await wire.idCardOpened();

  try {
    const crowd = scriptedCrowd(world);
    assert.equal(crowd.length, crowdSize);
    const outcomes: Outcome[] = [];
    for (const person of crowd) {
      if (person.pushBefore) await pushAndWait(demo.platform, agent, person.pushBefore);
      outcomes.push(await walkThrough(agent.lane, wire, person, { staffDelayMs: 20, walkDelayMs: 20 }));
    }

    for (const outcome of outcomes) {
      const { person } = outcome;
      assert.equal(outcome.verdict, person.expect.verdict, `${person.label} (${person.shows}): verdict (reason ${outcome.reason})`);
      assert.equal(outcome.reason, person.expect.reason, `${person.label} (${person.shows}): reason`);
      assert.ok(outcome.matches, `${person.label} (${person.shows}) did not match`);
    }
    assert.equal(agent.lane.state, 'idle');
    assert.equal(hardware.gate.state, 'locked');
    assert.equal(wire.leafReleased, false, 'the relay pin is back at locked');

    const made = outcomes.flatMap((o) => o.decisions.map((d) => d.event));
    // Every person but the fire alarm is decided; the one without a code twice (refused, then
    // registered), and so is the one whose temperature staff took by hand after a fault.
    const noCode = crowd.filter((p) => p.approach.kind === 'no-code').length;
    const alarms = crowd.filter((p) => p.approach.kind === 'fire-alarm').length;
    const thermometerFaults = crowd.filter((p) => p.staffTakesCelsius !== undefined).length;
    assert.equal(made.length, crowd.length - alarms + noCode + thermometerFaults);
    assert.equal(agent.journal.count(), made.length);
    assert.deepEqual(
      new Set(agent.journal.list().map((e) => e.id)),
      new Set(made.map((e) => e.id)),
    );

    // Wait for every QoS 1 publish, then a little longer so a duplicate would show.
    const deadline = Date.now() + 5000;
    while (made.some((e) => !received.some((r) => r.event.id === e.id)) && Date.now() < deadline) await pause(20);
    await pause(200);

    const counts = new Map<string, number>();
    for (const { event } of received) counts.set(event.id, (counts.get(event.id) ?? 0) + 1);
    for (const event of made) assert.equal(counts.get(event.id), 1, `event ${event.id} (${event.reason}) received ${counts.get(event.id) ?? 0} times`);
    assert.equal(received.length, made.length, 'the centre received events nobody decided');

    // Every hold (a red code) raised one alert to the centre, naming only the pseudonym.
    const holds = made.filter((e) => e.verdict === 'hold');
    assert.ok(holds.length >= 2, 'the crowd has red codes');
    assert.deepEqual(alerts.map((a) => a.alert.eventId).sort(), holds.map((e) => e.id).sort());
    for (const { topic, alert, raw } of alerts) {
      assert.equal(topic, `${config.mqtt.baseTopic}/${config.site}/${config.lane}/alert`);
      const hold = holds.find((e) => e.id === alert.eventId)!;
      assert.equal(alert.subject, hold.subject);
      assert.equal(alert.colour, 'red');
      for (const person of crowd) assert.ok(!raw.includes(person.label), `an alert holds ${person.label}`);
    }

    for (const { topic, event, raw } of received) {
      assert.equal(topic, `${config.mqtt.baseTopic}/${config.site}/${config.lane}/decision`);
      assert.ok(!raw.includes('*'), `a published event holds a masked name: ${raw}`);
      for (const person of crowd) assert.ok(!raw.includes(person.label), `a published event holds ${person.label}`);
      const journaled = agent.journal.get(event.id);
      assert.ok(journaled, `published event ${event.id} is not in the journal`);
      assert.deepEqual(event, journaled);
      assert.ok(['pass', 'deny', 'hold'].includes(event.verdict));
      assert.equal(typeof event.reason, 'string');
      assert.ok(event.reason.length > 0);
      assert.ok(['offline-code', 'pushed-status', 'online-lookup', 'staff'].includes(event.decidedBy));
    }

    // The centre kept every decision in its record, and delivered each alert to the department once,
    // signed (the desk takes only a valid signature), its outbox showing it delivered.
    const record = demo.centre.duties.record!.store;
    await until("every decision in the centre's record", async () => (await record.decisions({ site: config.site, limit: 1000 })).length === made.length, 10_000);
    assert.deepEqual(new Set((await record.decisions({ site: config.site, limit: 1000 })).map((d) => d.id)), new Set(made.map((e) => e.id)));
    const delivered = () => [...demo.department.delivered.values()].filter((d) => d.kind === 'alert');
    await until('every alert delivered to the department', () => delivered().length === holds.length, 10_000);
    assert.deepEqual(delivered().map((d) => d.body.eventId).sort(), holds.map((e) => e.id).sort());
    await until('the outbox showing the alerts delivered', async () => (await demo.platform.deliveries(config.site, 'alert')).every((d) => d.state === 'delivered'), 10_000);
    const outbox = await demo.platform.deliveries(config.site, 'alert');
    assert.deepEqual(outbox.map((d) => d.id).sort(), delivered().map((d) => d.id).sort());
    // The pushed red reached the gate through the API: the centre's publisher sent it as a change message.
    const counters = await demo.platform.site(config.site);
    assert.ok(counters && counters.publishedSeq >= crowd.filter((p) => p.pushBefore).length, `published seq ${counters?.publishedSeq}`);
  } finally {
    await simulated.close();
    await demo.stop();
    await centre.endAsync();
    await broker.close();
  }
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the simulator's entry point; `onStdout` may act on the output so far (e.g. send a signal). */
function runSimulator(args: string[], onStdout?: (soFar: string, child: ReturnType<typeof spawn>) => void): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [simulatorMain, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`simulator did not exit within 60 s\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The per-person lines: they start with the running number. */
function outcomeLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => /^\d+\s/.test(line));
}

test('`npm start` (node dist/simulator/main.js --pace 20): one ok line per person, all decided as the rules say, exit 0', { timeout: 65_000 }, async () => {
  const run = await runSimulator(['--pace', '20']);
  assert.equal(run.code, 0, `exit ${run.code} ${run.signal ?? ''}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  const lines = outcomeLines(run.stdout);
  assert.equal(lines.length, crowdSize, run.stdout);
  lines.forEach((line, i) => {
    assert.ok(line.startsWith(String(i + 1)), `line ${i + 1} out of order: ${line}`);
    assert.match(line, /\bok$/, `not ok: ${line}`);
  });
  assert.ok(!run.stdout.includes('MISMATCH'));
  assert.ok(run.stdout.includes(`Decided as the rules say: ${crowdSize} of ${crowdSize}.`), run.stdout);
  // Every decision made was journaled and reached the centre's record over MQTT.
  const delivery = /Decisions: (\d+) made, (\d+) in the journal, (\d+) in the centre's record over MQTT\./.exec(run.stdout);
  assert.ok(delivery, run.stdout);
  assert.equal(delivery[2], delivery[1]);
  assert.equal(delivery[3], delivery[1]);
  // Every hold's alert went through the centre's outbox to the department, and its API says so.
  const alerts = /Red-code alerts: (\d+) holds, (\d+) delivered to the department by the centre \((\d+) shown delivered by its API\)\./.exec(run.stdout);
  assert.ok(alerts, run.stdout);
  assert.ok(Number(alerts[1]) >= 2);
  assert.equal(alerts[2], alerts[1]);
  assert.equal(alerts[3], alerts[1]);
  assert.equal(run.stdout.split('[department] red-code alert from').length - 1, Number(alerts[1]), run.stdout);
  // The no-code person's registration: sealed, passed on by the centre, opened only by the authority's key.
  const sealed = /Registrations: (\d+) sealed to the health authority's key, (\d+) delivered to the department by the centre, (\d+) opened with the authority's private key\./.exec(run.stdout);
  assert.ok(sealed, run.stdout);
  assert.ok(Number(sealed[1]) >= 1);
  assert.equal(sealed[2], sealed[1]);
  assert.equal(sealed[3], sealed[1]);
  assert.ok(!run.stdout.includes('13800000000'), 'the phone is not printed');
});

test('SIGINT during a --rounds 50 run stops cleanly after the current person, with the summary', { timeout: 65_000 }, async () => {
  let sent = false;
  const run = await runSimulator(['--rounds', '50', '--pace', '20'], (soFar, child) => {
    // Once a few people have been through: the SIGINT handler is installed by then.
    if (!sent && outcomeLines(soFar).length >= 3) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  assert.ok(sent, `the run ended before SIGINT was sent:\n${run.stdout}`);
  assert.equal(run.signal, null, `killed by ${run.signal}\nstderr:\n${run.stderr}`);
  assert.equal(run.code, 0, `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  assert.ok(run.stdout.includes('stopping after this person'), run.stdout);

  const lines = outcomeLines(run.stdout);
  assert.ok(lines.length >= 3 && lines.length < 50 * crowdSize, `${lines.length} people went through`);
  for (const line of lines) assert.match(line, /\bok$/, `not ok: ${line}`);
  assert.ok(run.stdout.includes(`Decided as the rules say: ${lines.length} of ${lines.length}.`), run.stdout);
  assert.match(run.stdout, /Summary: \d+ at the gate/);
});

test('`npm start -- --fleet 20 --changes 2`: every lane verifies, stores and applies each colour change; exit 0', { timeout: 65_000 }, async () => {
  const run = await runSimulator(['--fleet', '20', '--changes', '2']);
  assert.equal(run.code, 0, `exit ${run.code} ${run.signal ?? ''}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  assert.match(run.stdout, /All 20 lanes synced from the snapshot\./);
  assert.match(run.stdout, /change 1 \(red\): 20 of 20 lanes applied it/);
  assert.match(run.stdout, /change 2 \(green\): 20 of 20 lanes applied it/);
  assert.match(run.stdout, /2 of 2 changes reached every lane; 0 security events from the lanes\./);
});
