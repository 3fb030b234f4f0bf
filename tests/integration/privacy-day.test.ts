/**
 * A day at the gate with every path used (rules §6): codes of
 * each colour, fever, a thermometer fault, printed codes looked up, people
 * without a code registered by staff (through the lane and through the staff
 * page), resident ID cards swiped (known, unknown, a bad number, frames
 * broken on the wire), red holds and a fire alarm, with the agent logging at
 * trace level, a real Mosquitto keeping its persistence file, the centre
 * collecting every event, and a spy writing every MQTT message to disk.
 *
 * Then every file written under the day's folder is read back: no name, ID
 * number or phone may appear in clear, in UTF-8 or UTF-16 (the SAM reader's
 * text encoding). The sealed registrations still open, with the authority's
 * key, to exactly the details given: the data was there, and only sealed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { nationalIdCheckCharacter } from '../../protocol/privacy/national-id.js';
import type { RegistrationDetails } from '../../protocol/privacy/registration.js';
import { openSealedRecord } from '../../protocol/privacy/sealed-record.js';
import { hashPin } from '../../protocol/privacy/staff-pin.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { scriptedCrowd, walkThrough, type Person } from '../../simulator/crowd.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { createSimulatedLane, pushAndWait } from '../../simulator/simulated-lane.js';
import { requireMosquitto, startMosquitto } from '../support/mosquitto.js';
import { until } from '../support/wait.js';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** The byte forms a detail could take on disk. */
function forms(secret: string): Buffer[] {
  const variants = new Set([secret, secret.toLowerCase()]);
  return [...variants].flatMap((text) => [Buffer.from(text, 'utf8'), Buffer.from(text, 'utf16le'), Buffer.from(text, 'utf16le').swap16()]);
}

const NAMES = ['欧阳晓明', '司马云', '诸葛芳', '上官文', '皇甫立'];

function someone(i: number): RegistrationDetails {
  const id = ReferencePlatform.madeUpNationalId();
  return { name: NAMES[i % NAMES.length]!, nationalId: id, phone: `139${String(10_000_000 + i * 7_919_231).slice(0, 8)}` };
}

test('a day with every path used: no name, ID number or phone in clear in any file written, and the sealed records still open', { timeout: 300_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const day = mkdtempSync(path.join(os.tmpdir(), 'gate-day-'));
  t.after(() => rmSync(day, { recursive: true, force: true }));
  for (const sub of ['broker', 'logs', 'journal', 'mqtt', 'bin']) mkdirSync(path.join(day, sub));

  const broker = await startMosquitto({ extra: `persistence true\npersistence_location ${path.join(day, 'broker')}/\nautosave_interval 1` });
  t.after(() => broker.stop());
  // A loudspeaker that notes what it played.
  const player = path.join(day, 'bin', 'player.sh');
  writeFileSync(player, `#!/bin/sh\necho "$1" >> ${path.join(day, 'logs', 'played.log')}\n`);
  chmodSync(player, 0o755);
  const PIN = '7391';
  const config = checkConfig({
    site: 'day-site',
    lane: 'lane-1',
    timing: { relayPulseMs: 100, passageTimeoutMs: 2000, denyDisplayMs: 20, temperatureDeadlineMs: 500, repeatSuppressMs: 0 },
    journal: { path: path.join(day, 'journal', 'journal.db'), sync: 'normal' },
    mqtt: { url: broker.url, protocolVersion: 5, lookupTimeoutMs: 1500 },
    staff: { pinHash: await hashPin(PIN) },
    screen: { port: 0 },
    voice: { cacheDir: path.join(day, 'voice'), player: [player, '{file}'], languages: ['en'] },
    log: { level: 'trace' },
  });
  const logStream = createWriteStream(path.join(day, 'logs', 'agent.log'));
  const logger = pino({ level: 'trace' }, logStream);

  // Every message on the broker, as raw bytes, to a file.
  const capture = createWriteStream(path.join(day, 'mqtt', 'capture.bin'));
  const spy = await mqtt.connectAsync(broker.url, { clientId: 'day-spy', protocolVersion: 5 });
  t.after(() => spy.endAsync(true));
  spy.on('message', (topic, payload) => capture.write(Buffer.concat([Buffer.from(`${topic}\t`), payload, Buffer.from('\n')])));
  await spy.subscribeAsync('#', { qos: 1 });

  const sim = await createSimulatedLane(config, logger);
  const { agent, wire, world } = sim;
  const centre = await SimulatedCentre.start({
    url: broker.url,
    key: sim.centreKey,
    protocolVersion: 5,
    colourOf: (sub) => world.platform.colourOf(sub) ?? null,
    colourOfIdHash: (hash) => world.platform.colourOfIdHash(hash) ?? null,
  });
  t.after(() => centre.stop());
  await centre.publishSnapshot(config.site);
  const heartbeat = setInterval(() => void centre.heartbeat(config.site).catch(() => {}), 2_000);
  t.after(() => clearInterval(heartbeat));
  await agent.start();
  await wire.scannerOpened();
  await wire.idCardOpened();

  const secrets: string[] = [];
  const registered: RegistrationDetails[] = [];
  const timing = { staffDelayMs: 0, walkDelayMs: 0 };
  let mismatches: string[] = [];
  const walk = async (person: Person): Promise<void> => {
    if (person.pushBefore) await pushAndWait(centre, agent, person.pushBefore);
    const outcome = await walkThrough(agent.lane, wire, person, timing);
    if (!outcome.matches) mismatches.push(`${person.shows}: ${outcome.verdict} ${outcome.reason}`);
    if (person.approach.kind === 'no-code') {
      secrets.push(person.approach.details.name, person.approach.details.nationalId, person.approach.details.phone);
      registered.push(person.approach.details);
    }
    if (person.approach.kind === 'id-card') secrets.push(person.approach.nationalId);
  };

  // The scripted crowd three times over: every row of the decision table, each ID-card path included.
  for (let round = 0; round < 3; round++) {
    for (const person of scriptedCrowd(world)) await walk(person);
  }
  assert.deepEqual(mismatches, [], 'the crowd was decided as the rules say');

  // People without a code registered from the staff page, over HTTP as a tablet would; one typo first.
  const url = agent.screenUrl!;
  const signIn = await fetch(`${url}/staff/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pin: PIN }) });
  assert.equal(signIn.status, 200);
  const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const post = (route: string, body?: unknown): Promise<Response> =>
    fetch(url + route, { method: 'POST', headers: { cookie, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  for (let i = 0; i < 4; i++) {
    const details = someone(i);
    secrets.push(details.name, details.nationalId, details.phone);
    await until('the lane idle', () => agent.lane.state === 'idle', 10_000);
    wire.setForehead({ ok: true, celsius: 36.4 });
    assert.equal((await post('/staff/no-code')).status, 200);
    const typo = details.nationalId.slice(0, 17) + (nationalIdCheckCharacter(details.nationalId.slice(0, 17)) === '0' ? '1' : '0');
    const refused = await post('/staff/register', { ...details, nationalId: typo });
    assert.equal(refused.status, 422);
    const registeredNow = await post('/staff/register', details);
    assert.equal(registeredNow.status, 200, await registeredNow.text());
    registered.push(details);
    await until('the leaf open', () => agent.lane.state === 'open', 10_000);
    await wire.walkThrough();
  }

  // ID cards that go wrong: a bad check character, frames broken on the wire, and a module that stops answering.
  const brokenIds = [0, 1, 2].map(() => ReferencePlatform.madeUpNationalId());
  secrets.push(...brokenIds);
  await until('the lane idle', () => agent.lane.state === 'idle', 10_000);
  const badNumber = brokenIds[0]!.slice(0, 17) + (brokenIds[0]!.endsWith('0') ? '1' : '0');
  secrets.push(badNumber);
  const refusedCard = new Promise((resolve) => agent.lane.once('decision', resolve));
  await wire.swipeIdCard(badNumber);
  await refusedCard;
  await until('the lane idle', () => agent.lane.state === 'idle', 10_000);
  const notRead = (): number => readFileSync(path.join(day, 'logs', 'agent.log'), 'utf8').split('"id card not read"').length - 1;
  // One at a time: each broken read is logged once it is known (a cut-short frame when the line goes quiet).
  const broken: Array<[string, () => Promise<boolean>]> = [
    ['a flipped byte', () => wire.idCard.swipeCorrupted(brokenIds[1]!)],
    ['a frame cut short', () => wire.idCard.swipeTruncated(brokenIds[2]!, 300)],
    ['garbage', () => wire.idCard.sendGarbage()],
    // A card that reads as 16 characters of the number: the driver's message must carry none of them.
    ['16 characters of a number', () => wire.idCard.swipe({ nationalId: brokenIds[0]!.slice(0, 16) })],
  ];
  for (const [what, send] of broken) {
    const before = notRead();
    await send();
    await until(`the reader to log ${what}`, () => notRead() > before, 10_000);
  }
  secrets.push(...brokenIds.map((id) => id.slice(0, 16)));

  // Every decision, alert and sealed registration reached the centre.
  const made = agent.journal.count();
  await until('every decision at the centre', () => centre.decisions.size >= made, 20_000);
  await until('every registration at the centre', () => centre.registrations.size >= registered.length, 20_000);
  assert.ok(made >= 3 * 14 + 8, `${made} decisions in the day`);

  // The sealed records open, with the authority's key only, to what staff entered.
  const opened = [...centre.registrations.values()].map((sealed) => openSealedRecord(sealed, sim.authority.privateKey));
  assert.deepEqual(
    opened.map((r) => `${r.name}/${r.nationalId}/${r.phone}`).sort(),
    registered.map((r) => `${r.name}/${r.nationalId}/${r.phone}`).sort(),
  );

  // The keyed hashes of the ID numbers: on the broker in look-up requests (that is their purpose), nowhere on the gate.
  const hashes = centre.lookupRequests.filter((r) => r.kind === 'id-hash').map((r) => r.key);
  assert.ok(hashes.length >= 6, `${hashes.length} ID-card look-ups`);
  const onTheWire = new Set(['mqtt/capture.bin', 'broker/mosquitto.db']);
  const grep = (when: string): string[] => {
    const found: string[] = [];
    for (const file of filesUnder(day)) {
      const bytes = readFileSync(file);
      const name = path.relative(day, file);
      const wanted = onTheWire.has(name) ? secrets : [...secrets, ...hashes];
      for (const secret of new Set(wanted)) {
        if (forms(secret).some((form) => bytes.includes(form))) found.push(`${name} holds "${secret}" in clear (${when})`);
      }
    }
    return found;
  };

  // Once while the agent runs (the journal's WAL is live), once after everything is shut down and flushed.
  const live = grep('while running');
  await sim.close();
  await centre.stop();
  await spy.endAsync();
  await new Promise<void>((resolve) => capture.end(resolve));
  logger.flush();
  await new Promise<void>((resolve) => logStream.end(resolve));
  await broker.stop();
  const after = grep('after shutdown');
  assert.deepEqual([...live, ...after], []);

  // The grep saw real files with real content: not an empty folder passing by default.
  const files = filesUnder(day).map((file) => path.relative(day, file));
  for (const expected of ['journal/journal.db', 'logs/agent.log', 'mqtt/capture.bin', 'broker/mosquitto.db']) {
    assert.ok(files.includes(expected), `${expected} was not written: ${files.join(', ')}`);
  }
  const logLines = readFileSync(path.join(day, 'logs', 'agent.log'), 'utf8').trim().split('\n').length;
  assert.ok(logLines > made, `${logLines} log lines for ${made} decisions: the log is suspiciously short`);
  const captured = readFileSync(path.join(day, 'mqtt', 'capture.bin'));
  assert.ok(captured.includes(Buffer.from('/registration\t')), 'no sealed registration on the broker');
  assert.ok(captured.includes(Buffer.from('/lookup/request\t')), 'no ID-card look-up on the broker');
  t.diagnostic(`${made} decisions, ${registered.length} registrations, ${new Set(secrets).size} personal details grepped for in ${files.length} files`);
});
