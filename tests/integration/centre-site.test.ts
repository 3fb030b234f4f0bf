/**
 * A site run the way the README runs one: `gate-provision init`, an issuer,
 * two gates enrolled into bundles, the signed trust list; Mosquitto on the
 * site's own mosquitto.conf and ACL; two real gate agents from their
 * bundles; and the real centre (`gate-centre run -c centre.yaml`, a child
 * process) serving that site folder over that broker with the folder's
 * MQTT certificates, delivering to an HTTPS department receiver. Its API
 * is called with a token `gate-centre token` made.
 *
 * Each step is a subtest: a change posted to the API turns both gates red
 * for that subject within a second of the 2xx; look-ups (a printed code, ID
 * cards) are answered by the centre, an unknown one takes the gate's
 * unknown path; a red hold's alert reaches the department signed and the
 * API shows it delivered; the gates, told to degrade after 10 s without the
 * centre, never do while it runs (heartbeats every second); the centre's
 * central record holds the day's decisions.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { stringify } from 'yaml';
import type { DecisionRecord } from '../../edge-agent/lane/lane.js';
import { idHash, readIdHashKey } from '../../protocol/privacy/id-hash.js';
import { openConsoleStore } from '../../record/open-store.js';
import { madeUpNationalId } from '../../simulator/crowd.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { centreToken, startCentreProcess } from '../support/centre-process.js';
import { startDepartmentReceiver } from '../support/department-receiver.js';
import { freePort, requireMosquitto } from '../support/mosquitto.js';
import { ok } from '../support/provision-cli.js';
import { decideCode, decideIdCard, startProvisionedGate, walkThrough, type ProvisionedGate } from '../support/provisioned-gate.js';
import { runSiteBroker } from '../support/site-broker.js';
import { until } from '../support/wait.js';

const SITE = 'mall-1';
const MAX_SYNC_AGE_SECONDS = 10;
const HEARTBEAT_SECONDS = 1;

const outcome = (record: DecisionRecord): [string, string, string] => [record.decision.verdict, record.decision.reason, record.event.decidedBy];

test('a provisioned site with two gates on the real centre: changes, look-ups, alerts, sync, the central record', { timeout: 180_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'centre-site-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const site = path.join(tmp, 'site');
  const platform = await ReferencePlatform.create({ issuerName: 'GZ-HC-A' });
  fs.writeFileSync(path.join(tmp, 'issuer.pem'), platform.issuer.certificatePem);
  fs.writeFileSync(path.join(tmp, 'devices.csv'), 'device,lane\ngate-a,lane-a\ngate-b,lane-b\n');

  // --- The site, as the README makes it.
  const brokerPort = await freePort();
  const brokerUrl = `mqtts://127.0.0.1:${brokerPort}`;
  await ok('init', site, '--site', SITE, '--broker-url', brokerUrl, '--broker-dir', path.join(site, 'broker'));
  await ok('issuer', 'add', site, path.join(tmp, 'issuer.pem'));
  await ok('enroll', site, '--csv', path.join(tmp, 'devices.csv'), '--in-place');
  await ok('export-trust', site);
  const trustList = path.join(site, 'trust-list-v2.jws');
  await runSiteBroker(t, path.join(site, 'broker', 'mosquitto.conf'), brokerPort);

  // --- The department's webhook, and the centre's config: the site folder, the site broker, the department.
  const secret = Buffer.from(randomUUID().replaceAll('-', ''), 'utf8');
  fs.writeFileSync(path.join(tmp, 'department.secret'), `${secret.toString('utf8')}\n`, { mode: 0o600 });
  const department = await startDepartmentReceiver(secret);
  t.after(() => department.close());
  fs.writeFileSync(path.join(tmp, 'department-ca.pem'), department.caPem);
  const { token, tokenSha256 } = await centreToken();
  const centreFile = (name: string): string => path.join(site, 'centre', name);
  const configFile = path.join(tmp, 'centre.yaml');
  fs.writeFileSync(
    configFile,
    stringify({
      broker: {
        url: brokerUrl,
        tls: {
          ca: path.join(site, 'ca', 'ca.pem'),
          cert: centreFile('mqtt-client.pem'),
          key: centreFile('mqtt-client.key'),
          connections: {
            department: { cert: centreFile('mqtt-department.pem'), key: centreFile('mqtt-department.key') },
            record: { cert: centreFile('mqtt-record.pem'), key: centreFile('mqtt-record.key') },
          },
        },
      },
      http: { host: '127.0.0.1', port: await freePort() },
      store: { sqlite: { path: path.join(tmp, 'centre.db') } },
      record: { sqlite: { path: path.join(tmp, 'centre-record.db') } },
      dataDir: path.join(tmp, 'centre-data'),
      sites: [{ folder: site }],
      clients: [{ id: 'platform', tokenSha256, sites: [SITE] }],
      publisher: { heartbeatSeconds: HEARTBEAT_SECONDS, snapshotDelayMs: 200 },
      department: { url: department.url, secretFile: path.join(tmp, 'department.secret'), ca: path.join(tmp, 'department-ca.pem'), firstRetryMs: 100, maxRetryMs: 1000 },
      logLevel: 'info',
    }),
  );
  const centre = await startCentreProcess(t, configFile, token);

  // --- Two gates from their bundles: degraded after 10 s without the centre, telemetry every second.
  const gateSettings = { colour: { maxSyncAgeSeconds: MAX_SYNC_AGE_SECONDS, whenDegraded: 'staff' }, mqtt: { telemetryIntervalSeconds: 1 } };
  const gates: ProvisionedGate[] = [];
  for (const device of ['gate-a', 'gate-b']) gates.push(await startProvisionedGate(t, site, device, trustList, gateSettings));
  const [a, b] = gates as [ProvisionedGate, ProvisionedGate];
  await until(
    'both gates synced from the centre (its snapshot)',
    () => gates.every((g) => g.agent.brokerConnected && g.agent.colourSync.lastSeq !== null && !g.agent.colourSync.degraded),
    15_000,
  );

  // Watched from here to the end: a 'degraded' event, or a degraded state sampled every 200 ms.
  const watchFrom = Date.now();
  const degradedSeen: string[] = [];
  let worstSyncAgeMs = 0;
  for (const gate of gates) gate.agent.colourSync.on('degraded', (info) => degradedSeen.push(`${gate.lane}: degraded (sync age ${info.syncAgeMs} ms)`));
  const sampler = setInterval(() => {
    for (const gate of gates) {
      worstSyncAgeMs = Math.max(worstSyncAgeMs, gate.agent.colourSync.syncAgeMs() ?? Infinity);
      if (gate.agent.colourSync.degraded) degradedSeen.push(`${gate.lane}: sampled degraded`);
    }
  }, 200);
  t.after(() => clearInterval(sampler));

  const timings: Record<string, number> = {};
  const decisions: DecisionRecord[] = [];
  const decided = (record: DecisionRecord): DecisionRecord => (decisions.push(record), record);

  await t.test('a change posted to the API turns both gates red for that subject within a second of the 2xx', async () => {
    const person = platform.issue({ colour: 'green', maskedName: '冯*二' });
    // A second code of the same person, issued before the change too (lane A's reader drops the same text read again within 2 s).
    const again = platform.issue({ colour: 'green', maskedName: '冯*二', sub: person.sub });
    const before = decided(await decideCode(a, person.code));
    assert.deepEqual(outcome(before), ['pass', 'green-normal', 'offline-code'], 'green in the code, nothing pushed yet');
    await walkThrough(a);

    const answer = await centre.api('POST', `/v1/sites/${SITE}/changes`, { batchId: randomUUID(), changes: [{ subject: person.sub, colour: 'red', effectiveAt: Date.now(), reason: 'close-contact' }] });
    const answeredAt = Date.now();
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const { seq, rows, replayed } = answer.body as { seq: number; rows: number; replayed: boolean };
    assert.deepEqual([rows, replayed], [1, false]);
    await until('both gates to hold the subject red', () => gates.every((g) => g.agent.colours.get(person.sub)?.colour === 'red'), 1_000);
    timings.changeAppliedMs = Date.now() - answeredAt;
    for (const gate of gates) assert.ok((gate.agent.colourSync.lastSeq ?? -1) >= seq, `${gate.lane} is at seq ${seq}`);

    for (const [gate, code] of [[a, again.code], [b, person.code]] as const) {
      const record = decided(await decideCode(gate, code));
      assert.deepEqual(outcome(record), ['hold', 'red', 'pushed-status'], gate.lane);
      // The hold's alert is the department step's: left for it, then released by staff.
      assert.equal(gate.agent.lane.staffRelease(), true);
    }
  });

  await t.test("a red hold's alert reaches the department with a valid signature, and the API shows it delivered", async () => {
    const holds = decisions.filter((d) => d.decision.verdict === 'hold');
    assert.equal(holds.length, 2, 'one hold at each gate');
    const ids = holds.map((d) => `${d.event.id}.alert`);
    const start = Date.now();
    await until('both alerts accepted by the department', () => ids.every((id) => department.accepted.has(id)), 15_000);
    timings.alertsDeliveredMs = Date.now() - start;
    for (const id of ids) {
      const requests = department.requests.filter((r) => r.id === id);
      assert.ok(requests.length >= 1);
      for (const request of requests) {
        assert.equal(request.check.ok, true, `signature of ${id}: ${JSON.stringify(request.check)}`);
        assert.equal(request.kind, 'alert');
      }
      const body = JSON.parse(department.accepted.get(id)!.toString('utf8')) as { site: string; lane: string };
      assert.equal(body.site, SITE);
    }
    assert.deepEqual(new Set(holds.map((d) => d.event.lane)), new Set(['lane-a', 'lane-b']));
    await until('the API to show both delivered', async () => {
      const answer = await centre.api('GET', `/v1/sites/${SITE}/deliveries`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const deliveries = (answer.body as { deliveries: Array<{ id: string; state: string; kind: string; deliveredAt: unknown }> }).deliveries;
      return ids.every((id) => deliveries.some((d) => d.id === id && d.kind === 'alert' && d.state === 'delivered' && d.deliveredAt !== null));
    });
    const one = await centre.api('GET', `/v1/deliveries/${encodeURIComponent(ids[0]!)}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.equal((one.body as { state: string }).state, 'delivered');
  });

  await t.test('look-ups are answered by the centre; one it does not know takes the gate’s unknown path', async () => {
    // A printed code carries no colour: the gate asks the centre, which has nothing for it and says so (null).
    const printed = platform.issue({ colour: 'green', kind: 'printed', maskedName: '郑*一' });
    const unknown = decided(await decideCode(b, printed.code));
    assert.deepEqual(outcome(unknown), ['deny', 'status-unknown', 'online-lookup'], 'answered, unknown: not a timeout (offline-code)');

    // ID cards are always asked by the keyed hash of the number: a resident the platform told the centre about, and a stranger.
    const key = readIdHashKey(path.join(site, 'centre', 'id-hash.key'));
    const resident = madeUpNationalId('11010519800101001');
    const stranger = madeUpNationalId('11010519800101002');
    const answer = await centre.api('POST', `/v1/sites/${SITE}/changes`, {
      batchId: randomUUID(),
      changes: [{ subject: ReferencePlatform.newSubject(), colour: 'green', effectiveAt: Date.now(), idHash: idHash(key, resident) }],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const known = decided(await decideIdCard(b, resident));
    assert.deepEqual(outcome(known), ['pass', 'green-normal', 'online-lookup'], 'the centre answered green');
    await walkThrough(b);
    const notKnown = decided(await decideIdCard(a, stranger));
    assert.deepEqual(outcome(notKnown), ['deny', 'id-lookup-failed', 'online-lookup'], 'the centre answered: unknown');
  });

  await t.test('the gates never go degraded while the centre is up', async () => {
    // Longer than maxSyncAgeSeconds, so that only the heartbeats can have kept them synced.
    const span = (MAX_SYNC_AGE_SECONDS + 2) * 1000;
    await until(`${span} ms of watching`, () => Date.now() - watchFrom >= span || degradedSeen.length > 0, span + 5_000);
    assert.deepEqual(degradedSeen, []);
    timings.worstSyncAgeMs = worstSyncAgeMs;
    assert.ok(worstSyncAgeMs < MAX_SYNC_AGE_SECONDS * 1000, `worst sync age ${worstSyncAgeMs} ms`);
    for (const gate of gates) assert.equal(gate.agent.colourSync.degraded, false, gate.lane);
  });

  await t.test("the centre's central record holds the decisions (the day's figures)", async () => {
    const ids = decisions.map((d) => d.event.id);
    const file = path.join(tmp, 'centre-record.db');
    // While the centre runs: the day's figures from its API, until every decision is counted.
    const day = new Intl.DateTimeFormat('en-CA', { year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
    const start = Date.now();
    let figures: { checks: number; passes: number; holds: number; redAlerts: number } | null = null;
    await until('the figures to count every decision', async () => {
      const answer = await centre.api('GET', `/v1/sites/${SITE}/figures/${day}`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      figures = answer.body as typeof figures;
      return figures!.checks === ids.length && figures!.redAlerts === 2;
    }, 15_000);
    timings.recordedMs = Date.now() - start;
    assert.equal(figures!.holds, 2);
    assert.equal(figures!.passes, decisions.filter((d) => d.decision.verdict === 'pass').length);
    // Then with the console's own store, once the centre has stopped (cleanly) and let go of the file.
    const stopped = await centre.stop();
    assert.deepEqual(stopped, { code: 0, signal: null }, `the centre stopped cleanly\n${centre.process.stderr()}`);
    const record = await openConsoleStore({ store: { sqlite: { path: file } }, timeZone: undefined }, pino({ level: 'silent' }));
    try {
      const stored = await record.decisions({ site: SITE, limit: 1000 });
      const storedIds = new Set(stored.map((d) => d.id));
      assert.deepEqual(ids.filter((id) => !storedIds.has(id)), [], 'every decision the gates made is in the central record');
      assert.equal(record.day(Date.now()), day, 'the record counts days in this machine\'s time zone');
      assert.deepEqual(await record.figures(SITE, day), figures, 'the API answers from the record');
      const lanes = await record.lanes();
      assert.deepEqual(lanes.map((l) => [l.lane, l.degraded]).sort(), [['lane-a', false], ['lane-b', false]], 'the telemetry the record kept: never degraded at the end');
    } finally {
      await record.close();
    }
  });

  t.diagnostic(`timings: ${JSON.stringify(timings)}`);
});
