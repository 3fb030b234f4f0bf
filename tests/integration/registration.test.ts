/**
 * Staff-assisted registration through the real agent: bad
 * details refused with a message and no decision; a good one sealed to the
 * health authority, kept in the journal, published, opened only with the
 * authority's private key; and the person's details nowhere in clear: not in
 * the journal's files (WAL included), the MQTT payloads or the logs.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import { pino } from 'pino';
import type { LaneHardware } from '../../device/contracts.js';
import { GateAgent } from '../../edge-agent/agent.js';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { check } from '../../protocol/contract.js';
import { isRegistrationRefusal, PrivacyError } from '../../protocol/privacy/errors.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { RegistrationStore } from '../../edge-agent/privacy/retention.js';
import { generateAuthorityKeyPair, loadAuthorityKey, loadAuthorityPrivateKey, openSealedRecord, sealRecord } from '../../protocol/privacy/sealed-record.js';
import { startEmbeddedBroker } from '../../simulator/broker.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { madeUpNationalId } from '../../simulator/crowd.js';
import { createSimulatedLane } from '../../simulator/simulated-lane.js';
import { until } from '../support/wait.js';
import { ConfigError } from '../../protocol/config/errors.js';

const tempDirs: string[] = [];
after(() => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));


/** Every file under `dir`, recursively, with its bytes. */
function filesUnder(dir: string): Array<{ file: string; bytes: Buffer }> {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const file = path.join(e.parentPath, e.name);
      return { file, bytes: fs.readFileSync(file) };
    });
}

test('a staff registration is checked, sealed before the disk, published, and opens only with the authority key', { timeout: 20_000 }, async () => {
  const broker = await startEmbeddedBroker();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-reg-'));
  tempDirs.push(dir);
  const journalDir = path.join(dir, 'journal');
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  const config = checkConfig({
    site: 'reg-site',
    lane: 'lane-3',
    timing: { relayPulseMs: 100, passageTimeoutMs: 2000, denyDisplayMs: 30, temperatureDeadlineMs: 200, repeatSuppressMs: 1000 },
    journal: { path: path.join(journalDir, 'journal.db'), sync: 'normal' },
    mqtt: { url: broker.url, protocolVersion: 4 },
  });

  // Everything on the broker, as bytes.
  const payloads: Array<{ topic: string; bytes: Buffer }> = [];
  const spy = await mqtt.connectAsync(broker.url, { clientId: 'reg-spy' });
  await spy.subscribeAsync('#', { qos: 1 });
  spy.on('message', (topic, bytes) => payloads.push({ topic, bytes: Buffer.from(bytes) }));

  const simulated = await createSimulatedLane(config, logger);
  const { agent, wire } = simulated;
  const centre = await SimulatedCentre.start({ url: broker.url, key: simulated.centreKey, protocolVersion: 4, colourOf: () => null });
  await centre.publishSnapshot(config.site);
  await agent.start();
  await wire.scannerOpened();

  const details = { name: '吴十', nationalId: madeUpNationalId('11010519491231002'), phone: '13800000000' };
  try {
    wire.setForehead({ ok: true, celsius: 36.6 });
    const refused = await agent.lane.noCode();
    assert.equal(refused?.decision.reason, 'no-code');
    const before = agent.journal.count();

    // A wrong check character: refused with its message, no decision, nothing stored.
    const last = details.nationalId.at(-1)!;
    const wrongCheck = details.nationalId.slice(0, 17) + (last === '0' ? '1' : '0');
    await assert.rejects(agent.lane.staffRegistered({ ...details, nationalId: wrongCheck }), (error: unknown) => {
      assert.ok(isRegistrationRefusal(error), String(error));
      assert.equal(error.field, 'nationalId');
      assert.equal(error.code, 'registration-national-id');
      assert.match(error.message, /校验位/);
      assert.match(error.message, /check character does not match/);
      assert.ok(!error.message.includes(wrongCheck), 'the number is not echoed');
      return true;
    });
    await assert.rejects(agent.lane.staffRegistered({ ...details, phone: '12345' }), (error: unknown) => isRegistrationRefusal(error) && error.field === 'phone' && error.code === 'registration-phone');
    await assert.rejects(agent.lane.staffRegistered(), (error: unknown) => isRegistrationRefusal(error) && error.field === 'details' && error.code === 'registration-details');
    assert.equal(agent.journal.count(), before, 'no decision for a refused registration');
    assert.equal(agent.registrations!.count(), 0);

    // Corrected: the lane was still waiting, and the person passes.
    const registered = await agent.lane.staffRegistered(details);
    assert.ok(registered);
    assert.equal(registered.decision.verdict, 'pass');
    assert.equal(registered.decision.reason, 'staff-registered');
    await wire.walkThrough();
    await until('the lane to be idle', () => agent.lane.state === 'idle');
    const eventId = registered.event.id;
    assert.ok(agent.registrations!.get(eventId), 'sealed record kept in the journal');

    // The sealed event reaches the centre over the broker.
    await until('the registration at the centre', () => [...centre.registrations.values()].some((r) => r.eventId === eventId));
    await until('the decision on the broker', () => payloads.some((p) => p.topic.endsWith('/decision') && p.bytes.includes(eventId)));
    const onWire = payloads.find((p) => p.topic === `hc/v1/${config.site}/${config.lane}/registration`);
    assert.ok(onWire, 'published on the lane registration topic');
    const message = check('sealedRegistration', JSON.parse(onWire.bytes.toString('utf8')));
    assert.equal(message.eventId, eventId);

    const opened = openSealedRecord(message, simulated.authority.privateKey);
    assert.deepEqual(
      { name: opened.name, nationalId: opened.nationalId, phone: opened.phone },
      details,
    );
    assert.equal(opened.temperatureC, 36.6);
    assert.equal(opened.eventId, eventId);
    assert.equal(opened.site, config.site);
    assert.equal(opened.lane, config.lane);
    const stranger = loadAuthorityPrivateKey(generateAuthorityKeyPair().privateKeyPem);
    assert.throws(() => openSealedRecord(message, stranger), (error: unknown) => error instanceof PrivacyError && error.code === 'wrong-key');

    // The decision event keeps no personal data.
    const decision = agent.journal.get(eventId)!;
    assert.match(decision.subject ?? '', /^staff:/);
  } finally {
    // Grep while the WAL is still there, then again after the close.
    const secrets = [details.name, details.nationalId, details.phone].map((s) => Buffer.from(s, 'utf8'));
    const grep = (where: string, bytes: Buffer): void => {
      for (const secret of secrets) assert.equal(bytes.indexOf(secret), -1, `${where} holds a personal detail in clear`);
    };
    const open = filesUnder(journalDir);
    assert.ok(open.some((f) => f.file.endsWith('-wal')), 'the WAL is checked too');
    for (const { file, bytes } of open) grep(file, bytes);
    await simulated.close();
    await centre.stop();
    await spy.endAsync();
    await broker.close();
    for (const { file, bytes } of filesUnder(journalDir)) grep(file, bytes);
    assert.ok(payloads.length > 0);
    for (const { topic, bytes } of payloads) grep(`MQTT ${topic}`, bytes);
    assert.ok(logs.length > 0);
    grep('the logs', Buffer.from(logs.join(''), 'utf8'));
  }
});

test('a privacy.authorityKey that is not an X25519 public key stops the start with the key named', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-reg-key-'));
  tempDirs.push(dir);
  const keyFile = path.join(dir, 'authority.pem');
  fs.writeFileSync(keyFile, 'not a key\n');
  const config = checkConfig({
    site: 's',
    lane: 'l',
    journal: { path: path.join(dir, 'journal.db') },
    credentials: { trust: dir },
    privacy: { authorityKey: keyFile },
  });
  assert.throws(
    () => new GateAgent({ config, hardware: {} as LaneHardware, logger: pino({ level: 'silent' }) }),
    (error: unknown) => error instanceof ConfigError && /privacy\.authorityKey/.test(error.message),
  );
  assert.equal(fs.existsSync(path.join(dir, 'journal.db')), false, 'nothing opened');
});

test('without an authority key a registration is only recorded, and the agent says once that nothing is sealed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-reg-none-'));
  tempDirs.push(dir);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const config = checkConfig({ site: 's', lane: 'l', journal: { path: path.join(dir, 'journal.db') }, credentials: { trust: dir } });
  const { TrustStore } = await import('../../protocol/trust/trust-store.js');
  const agent = new GateAgent({ config, hardware: {} as LaneHardware, logger: pino({ level: 'info' }, sink), trust: new TrustStore() });
  try {
    assert.equal(agent.registrations, null);
    assert.equal(logs.filter((l) => l.includes('not sealed')).length, 1);
  } finally {
    agent.journal.close();
  }
});

test('the agent purges sealed registrations past privacy.retentionDays at start', { timeout: 20_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-reg-purge-'));
  tempDirs.push(dir);
  const journalPath = path.join(dir, 'journal.db');
  const key = loadAuthorityKey(generateAuthorityKeyPair().publicKeyPem);
  const record = (daysAgo: number, eventId: string) =>
    sealRecord({ name: 'x', nationalId: 'y', phone: 'z', temperatureC: 36.5, time: new Date(Date.now() - daysAgo * 86_400_000).toISOString(), site: 's', lane: 'l', eventId }, key);
  const journal = Journal.open(journalPath);
  const store = new RegistrationStore(journal.database, { retentionDays: 7 });
  store.add(record(8, 'old-registration'));
  store.add(record(1, 'new-registration'));
  journal.close();

  const config = checkConfig({ site: 's', lane: 'l', journal: { path: journalPath }, privacy: { retentionDays: 7 } });
  const simulated = await createSimulatedLane(config, pino({ level: 'silent' }));
  try {
    await simulated.agent.start();
    assert.equal(simulated.agent.registrations!.get('old-registration'), undefined);
    assert.ok(simulated.agent.registrations!.get('new-registration'));
  } finally {
    await simulated.close();
  }
});
