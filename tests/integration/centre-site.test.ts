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
 * centre, never do while it runs (heartbeats every second); an operator
 * rolls the site's centre key over with the gates running (announced, kept by
 * the gates, switched; the new key's changes applied within a second; the old
 * key refused after the overlap, also by a gate restarted after the switch);
 * a new issuer added with gate-provision and exported reaches the gates as
 * the pushed trust list, with no file copied and no restart; the centre's
 * central record holds the day's decisions.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import util from 'node:util';
import { randomUUID, X509Certificate } from 'node:crypto';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { stringify } from 'yaml';
import type { KeyRingStatus } from '../../centre/keys/key-ring.js';
import type { DecisionRecord } from '../../edge-agent/lane/lane.js';
import type { ColourChangeMessage, SecurityEventMessage } from '../../protocol/contract.js';
import { publishOptions } from '../../protocol/registry.js';
import { messageSigner, parseJws, signLeafMessage } from '../../protocol/signed-message.js';
import { siteTopic } from '../../protocol/topics.js';
import { kidOf } from '../../protocol/trust/trust-store.js';
import { idHash, readIdHashKey } from '../../protocol/privacy/id-hash.js';
import { openConsoleStore } from '../../record/open-store.js';
import { madeUpNationalId } from '../../simulator/crowd.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { centreToken, startCentreProcess } from '../support/centre-process.js';
import { startDepartmentReceiver } from '../support/department-receiver.js';
import { freePort, requireMosquitto } from '../support/mosquitto.js';
import { ok } from '../support/provision-cli.js';
import { decideCode, decideIdCard, startProvisionedGate, walkThrough, type ProvisionedGate } from '../support/provisioned-gate.js';
import { runSiteBroker, siteCentreKey } from '../support/site-broker.js';
import { until } from '../support/wait.js';

const SITE = 'mall-1';
const MAX_SYNC_AGE_SECONDS = 10;
const HEARTBEAT_SECONDS = 1;
/** How often the centre looks at the site folder for a newer trust list. */
const TRUST_LIST_CHECK_SECONDS = 1;
/** The rollover: the next key signs this long after it is announced, and the old one is trusted this long after that. */
const ACTIVE_IN_SECONDS = 3;
const OVERLAP_SECONDS = 8;

const kidOfPem = (pem: string): string => kidOf(new X509Certificate(pem).raw).toString('base64url');
/** The kid in a signed message's protected header (which key signed it). */
const signedBy = (raw: Buffer | string): string => parseJws(raw).header.kid;

const outcome = (record: DecisionRecord): [string, string, string] => [record.decision.verdict, record.decision.reason, record.event.decidedBy];

test('a provisioned site with two gates on the real centre: changes, look-ups, alerts, sync, key rollover, the pushed trust list, the central record', { timeout: 240_000 }, async (t) => {
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
  // A test login (a console's, from the site CA) that may also write the site's colour changes: the ACL gate-provision
  // makes lets only the centre's own login write them, and that login is the centre's session (the broker names a
  // client by its certificate), so a message signed by a retired key is sent as this one instead.
  await ok('console', 'add', site, '--name', 'tester');
  const baseTopic = (JSON.parse(fs.readFileSync(path.join(site, 'site.json'), 'utf8')) as { baseTopic: string }).baseTopic;
  const testerUser = `console-${SITE}-tester`;
  fs.appendFileSync(path.join(site, 'broker', 'acl'), `\n# test only: sends colour changes signed by a retired centre key\nuser ${testerUser}\ntopic write ${siteTopic(baseTopic, SITE, 'colour/change')}\n`);
  await runSiteBroker(t, path.join(site, 'broker', 'mosquitto.conf'), brokerPort);

  // --- The department's webhook, and the centre's config: the site folder, the site broker, the department.
  const secret = Buffer.from(randomUUID().replaceAll('-', ''), 'utf8');
  fs.writeFileSync(path.join(tmp, 'department.secret'), `${secret.toString('utf8')}\n`, { mode: 0o600 });
  const department = await startDepartmentReceiver(secret);
  t.after(() => department.close());
  fs.writeFileSync(path.join(tmp, 'department-ca.pem'), department.caPem);
  const { token, tokenSha256 } = await centreToken();
  const operator = await centreToken();
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
      clients: [
        { id: 'platform', tokenSha256, sites: [SITE] },
        { id: 'duty-operator', tokenSha256: operator.tokenSha256, sites: [SITE], role: 'operator' },
      ],
      publisher: { heartbeatSeconds: HEARTBEAT_SECONDS, snapshotDelayMs: 200, trustListCheckSeconds: TRUST_LIST_CHECK_SECONDS },
      department: { url: department.url, secretFile: path.join(tmp, 'department.secret'), ca: path.join(tmp, 'department-ca.pem'), firstRetryMs: 100, maxRetryMs: 1000 },
      logLevel: 'info',
    }),
  );
  const centre = await startCentreProcess(t, configFile, token);

  // --- Two gates from their bundles: degraded after 10 s without the centre, telemetry every second.
  const gateSettings = { colour: { maxSyncAgeSeconds: MAX_SYNC_AGE_SECONDS, whenDegraded: 'staff' }, mqtt: { telemetryIntervalSeconds: 1 } };
  const gates: ProvisionedGate[] = [];
  for (const device of ['gate-a', 'gate-b']) gates.push(await startProvisionedGate(t, site, device, trustList, gateSettings));
  let [a, b] = gates as [ProvisionedGate, ProvisionedGate];
  // What the gates refuse, each event with the lane that reported it.
  const security: Array<{ lane: string; event: SecurityEventMessage }> = [];
  const watchSecurity = (gate: ProvisionedGate): void => void gate.agent.link!.on('security', (event) => security.push({ lane: gate.lane, event }));
  for (const gate of gates) watchSecurity(gate);
  // A lane fault puts the lane in staff mode: told in the diagnostics, so that a step that finds a lane there says why.
  const faults: string[] = [];
  const watchFaults = (gate: ProvisionedGate): void =>
    void gate.agent.lane.on('fault', (fault) => {
      if (fault.active !== false) faults.push(`${gate.lane} ${new Date().toISOString()}: ${JSON.stringify(fault)}`);
    });
  for (const gate of gates) watchFaults(gate);
  await until(
    'both gates synced from the centre (its snapshot)',
    () => gates.every((g) => g.agent.brokerConnected && g.agent.colourSync.lastSeq !== null && !g.agent.colourSync.degraded),
    15_000,
  );

  // Watched from here to the end: a 'degraded' event, or a degraded state sampled every 200 ms.
  const watchFrom = Date.now();
  const degradedSeen: string[] = [];
  let worstSyncAgeMs = 0;
  const watchDegraded = (gate: ProvisionedGate): void => void gate.agent.colourSync.on('degraded', (info) => degradedSeen.push(`${gate.lane}: degraded (sync age ${info.syncAgeMs} ms)`));
  for (const gate of gates) watchDegraded(gate);
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
    // Staff mode, for staff to confirm the stranger's colour another way; they resume the lane.
    assert.equal(a.agent.lane.state, 'staff');
    assert.equal(a.agent.lane.staffResume(), true);
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

  // The key the rollover step switched to; the trust list step checks export-trust signs with it.
  let rolledTo: string | null = null;

  await t.test('key rollover with the gates running: announced, kept, switched, the new key applied within a second, the old one refused after the overlap and after a restart', async (st) => {
    // The tester login: it reads what the centre sends (to see which key signed it) and sends what the old key signs.
    const tester = await mqtt.connectAsync(brokerUrl, {
      ca: fs.readFileSync(path.join(site, 'ca', 'ca.pem')),
      cert: fs.readFileSync(path.join(site, 'consoles', 'tester', 'console.pem')),
      key: fs.readFileSync(path.join(site, 'consoles', 'tester', 'console.key')),
      reconnectPeriod: 0,
    });
    st.after(() => tester.endAsync(true));
    const seen: Array<{ leaf: string; kid: string; seq: number | null; at: number }> = [];
    tester.on('message', (topic, payload) => {
      const { envelope, header } = parseJws(payload);
      const body = JSON.parse(Buffer.from(envelope.payload, 'base64url').toString('utf8')) as { seq?: number };
      seen.push({ leaf: topic.slice(`${baseTopic}/${SITE}/`.length), kid: header.kid, seq: body.seq ?? null, at: Date.now() });
    });
    await tester.subscribeAsync(`${baseTopic}/${SITE}/colour/#`, { qos: 1 });
    const sendSignedByOld = async (sub: string): Promise<void> => {
      const seq = Math.max(...gates.map((g) => g.agent.colourSync.lastSeq ?? 0)) + 1;
      const change: ColourChangeMessage = { type: 'colour-change', site: SITE, seq, issuedAt: Date.now(), changes: [{ sub, colour: 'red', effectiveAt: Date.now() }] };
      await tester.publishAsync(siteTopic(baseTopic, SITE, 'colour/change'), JSON.stringify(signLeafMessage('colour/change', change, messageSigner(old))), publishOptions('colour/change'));
    };

    type KeyStatus = KeyRingStatus;
    const keys = async (): Promise<KeyStatus> => {
      const answer = await centre.api('GET', `/v1/sites/${SITE}/keys`, undefined, operator.token);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      return answer.body as KeyStatus;
    };
    // A copy of the key in force, taken before the rollover: the centre deletes the retired private key after the overlap.
    const old = siteCentreKey(site);
    const oldKid = kidOf(old.certificate.raw).toString('base64url');
    const before = await keys();
    assert.deepEqual([before.current.kid, before.next, before.retired], [oldKid, null, null], 'the key init made signs; nothing announced');

    const rolloverPath = `/v1/sites/${SITE}/keys/rollover`;
    const plan = { activeInSeconds: ACTIVE_IN_SECONDS, overlapSeconds: OVERLAP_SECONDS };
    const notAnOperator = await centre.api('POST', rolloverPath, plan);
    assert.equal(notAnOperator.status, 403, `the platform's client may not roll keys over: ${JSON.stringify(notAnOperator.body)}`);

    const degradedBefore = degradedSeen.length;
    const announced = await centre.api('POST', rolloverPath, plan, operator.token);
    const announcedAt = Date.now();
    assert.equal(announced.status, 200, JSON.stringify(announced.body));
    const { current, next } = announced.body as KeyStatus;
    assert.equal(current.kid, oldKid);
    assert.ok(next, 'a next key announced');
    const { kid: nextKid, activeFrom, previousUntil } = next;
    assert.equal(previousUntil - activeFrom, OVERLAP_SECONDS * 1000);

    // Each gate keeps the next key in its database before it signs: trusted from activeFrom, the old one until previousUntil.
    const keyRows = (gate: ProvisionedGate) =>
      (gate.agent.journal.database.prepare('SELECT certificate, active_from AS activeFrom, retired_at AS retiredAt FROM centre_keys WHERE site = ?').all(SITE) as Array<{ certificate: string; activeFrom: number | null; retiredAt: number | null }>).map(
        (row) => ({ kid: kidOfPem(row.certificate), activeFrom: row.activeFrom, retiredAt: row.retiredAt }),
      );
    const expectedRows = [
      { kid: oldKid, activeFrom: null, retiredAt: previousUntil },
      { kid: nextKid, activeFrom, retiredAt: null },
    ].sort((x, y) => x.kid.localeCompare(y.kid));
    const kept = (gate: ProvisionedGate): boolean => util.isDeepStrictEqual(keyRows(gate).sort((x, y) => x.kid.localeCompare(y.kid)), expectedRows);
    await until('both gates to keep the next key', () => gates.every(kept), 5_000);
    timings.nextKeyKeptMs = Date.now() - announcedAt;
    assert.ok(Date.now() < activeFrom, `the gates kept the next key ${timings.nextKeyKeptMs} ms after it was announced, before it signs (${ACTIVE_IN_SECONDS} s)`);

    // The switch, on the centre's own timer at activeFrom: the key files move, the new key signs.
    await until('the centre to switch to the next key', async () => (await keys()).current.kid === nextKid, ACTIVE_IN_SECONDS * 1000 + 5_000);
    const switchedAt = Date.now();
    timings.switchedAfterActiveFromMs = switchedAt - activeFrom;
    const after = await keys();
    assert.deepEqual([after.next, after.retired?.kid, after.retired?.until], [null, oldKid, previousUntil]);
    assert.equal(kidOfPem(fs.readFileSync(centreFile('centre.pem'), 'utf8')), nextKid, 'centre/centre.pem is the new key: bundles and trust lists made from now on use it');
    assert.equal(kidOfPem(fs.readFileSync(centreFile('centre-retired.pem'), 'utf8')), oldKid);
    rolledTo = nextKid;
    // The trust list in force (v2) is the old key's: the centre tells the operator to export it again.
    const warned = (): boolean => /the trust list in force is not signed by the new centre key/.test(centre.process.stdout() + centre.process.stderr());
    await until('the centre to warn that the trust list is the old key’s', warned, 5_000);
    // The retained snapshot is signed again by the new key at the switch, so a gate that resyncs after the overlap can read it.
    await until('a snapshot signed by the new key', () => seen.some((m) => m.leaf === 'colour/snapshot' && m.kid === nextKid), 5_000);
    await until('a heartbeat signed by the new key', () => seen.some((m) => m.leaf === 'colour/change' && m.kid === nextKid), HEARTBEAT_SECONDS * 1000 + 5_000);

    // A change posted after the switch: both gates red within a second of the 2xx, from a message the new key signed.
    const subject = ReferencePlatform.newSubject();
    const answer = await centre.api('POST', `/v1/sites/${SITE}/changes`, { batchId: randomUUID(), changes: [{ subject, colour: 'red', effectiveAt: Date.now(), reason: 'close-contact' }] });
    const answeredAt = Date.now();
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const { seq } = answer.body as { seq: number };
    await until('both gates to hold the subject red', () => gates.every((g) => g.agent.colours.get(subject)?.colour === 'red'), 1_000);
    timings.changeAfterSwitchAppliedMs = Date.now() - answeredAt;
    await until('the tester to have read that change', () => seen.some((m) => m.leaf === 'colour/change' && m.seq === seq));
    assert.deepEqual([...new Set(seen.filter((m) => m.leaf === 'colour/change' && m.seq === seq).map((m) => m.kid))], [nextKid], 'signed by the new key');

    // After the overlap: a change the old key signed is refused by both gates (unknown-key), nothing of it applied.
    await until('the overlap to end', () => Date.now() > previousUntil + 100, Math.max(0, previousUntil - Date.now()) + 5_000);
    const refusedFrom = security.length;
    const late = ReferencePlatform.newSubject();
    await sendSignedByOld(late);
    const refusedOld = (gate: ProvisionedGate, from: number): boolean =>
      security.slice(from).some((s) => s.lane === gate.lane && s.event.kind === 'unknown-key' && s.event.topic === siteTopic(baseTopic, SITE, 'colour/change'));
    await until('both gates to refuse the old key', () => gates.every((g) => refusedOld(g, refusedFrom)), 5_000);
    for (const gate of gates) assert.equal(gate.agent.colours.get(late), null, `${gate.lane}: nothing the old key signed is applied`);
    await until('the centre to delete the retired private key after the overlap', () => !fs.existsSync(centreFile('centre-retired.key')), 5_000);
    assert.deepEqual(degradedSeen.slice(degradedBefore), [], 'never degraded through the rollover');
    for (const gate of gates) assert.equal(gate.agent.colourSync.degraded, false, gate.lane);

    // Gate B restarted after the switch and the overlap: its bundle still pins the old key (mqtt.centreKeys), its database says it retired.
    const restartFrom = security.length;
    await b.stop();
    b = await startProvisionedGate(t, site, 'gate-b', trustList, gateSettings);
    watchSecurity(b);
    watchDegraded(b);
    watchFaults(b);
    assert.ok(kept(b), 'the restarted gate keeps both windows');
    await until('the restarted gate to connect and be synced', () => b.agent.brokerConnected && !b.agent.colourSync.degraded, 15_000);
    gates[1] = b;
    const afterRestart = ReferencePlatform.newSubject();
    const again = await centre.api('POST', `/v1/sites/${SITE}/changes`, { batchId: randomUUID(), changes: [{ subject: afterRestart, colour: 'red', effectiveAt: Date.now() }] });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    await until('the restarted gate to apply a change the new key signed', () => b.agent.colours.get(afterRestart)?.colour === 'red', 5_000);
    const refusedAfterRestart = security.length;
    await sendSignedByOld(ReferencePlatform.newSubject());
    await until('the restarted gate to refuse the old key', () => refusedOld(b, refusedAfterRestart), 5_000);
    // What else it refused: only the retained trust list, still the one the retired key signed (docs/keys.md: export it again
    // after a switch; the next step does). The retained snapshot it read is the new key's, the announcement a quiet duplicate.
    const refusedByRestarted = security.slice(restartFrom).filter((s) => s.lane === b.lane).map((s) => `${s.event.kind} ${s.event.topic.slice(baseTopic.length + SITE.length + 2)}`);
    assert.deepEqual([...new Set(refusedByRestarted)].sort(), ['unknown-key centre/trust-list', 'unknown-key colour/change']);
  });

  await t.test('a new issuer added with gate-provision reaches the gates as the pushed trust list: no file copied, no restart', async () => {
    const second = await ReferencePlatform.create({ issuerName: 'GZ-HC-B' });
    fs.writeFileSync(path.join(tmp, 'issuer-b.pem'), second.issuer.certificatePem);
    const [first, secondCode, third] = [0, 1, 2].map(() => second.issue({ colour: 'green', maskedName: '褚*三' }).code) as [string, string, string];
    const unknown = decided(await decideCode(a, first));
    assert.deepEqual(outcome(unknown).slice(0, 2), ['deny', 'code-unknown-issuer'], 'an issuer the gates do not know yet');
    await until(`lane ${a.lane} idle again`, () => a.agent.lane.state === 'idle', 5_000);
    const inForce = gates.map((g) => g.agent.issuerTrust?.version);
    assert.deepEqual(inForce, [2, 2]);

    await ok('issuer', 'add', site, path.join(tmp, 'issuer-b.pem'));
    const exported = await ok('export-trust', site);
    const exportedAt = Date.now();
    const file = path.join(site, 'trust-list-v3.jws');
    assert.ok(fs.existsSync(file), exported.stdout);
    // export-trust signs with the site folder's centre/centre.key: after the rollover's switch, the new key.
    const signer = signedBy(fs.readFileSync(file));
    assert.equal(signer, kidOfPem(fs.readFileSync(centreFile('centre.pem'), 'utf8')));
    if (rolledTo) assert.equal(signer, rolledTo, 'signed by the key the rollover switched to');

    await until('both gates to take trust list v3 from the centre', () => gates.every((g) => g.agent.issuerTrust?.version === 3), TRUST_LIST_CHECK_SECONDS * 1000 + 2_000);
    timings.trustListAppliedMs = Date.now() - exportedAt;
    for (const gate of gates) {
      assert.deepEqual(fs.readFileSync(path.join(site, 'devices', gate.device, 'trust-list.jws')), fs.readFileSync(trustList), `${gate.lane}: its file is still v2`);
    }
    for (const [gate, code] of [[a, secondCode], [b, third]] as const) {
      const record = decided(await decideCode(gate, code));
      assert.deepEqual(outcome(record), ['pass', 'green-normal', 'offline-code'], gate.lane);
      await walkThrough(gate);
    }
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
  if (faults.length > 0) t.diagnostic(`lane faults: ${faults.join('; ')}`);
});
