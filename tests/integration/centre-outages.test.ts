/**
 * The real centre process through the outages of what it stands on, while a
 * platform client streams batches (sent again with the same batch id until
 * answered 2xx) and gates (the gate's real ColourSync) watch: its PostgreSQL
 * restarted (a PostgreSQL of the test's own), its broker restarted (a real
 * Mosquitto), a gate cut off for a long while (it goes degraded) then back
 * (it resyncs from the retained snapshot), and the leader of two centres on
 * one PostgreSQL killed (the standby takes over; before that, its API
 * refuses writes with 503 not-leader). Each time: every batch answered 2xx
 * reaches every gate, the change messages in seq order, none lost, no seq
 * given twice, none refused by a gate as replayed, and the store holds 1..N.
 * Times are shortened (heartbeat 1 s, leader checks every 500 ms).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openCentreStore } from '../../centre/store/open-store.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { BatchStream, storeSeqProblems } from '../support/batch-stream.js';
import { spawnCentre, writeCentreConfig, type CentreProcess } from '../support/centre-spawn.js';
import { cleanupStack } from '../support/cleanups.js';
import { startColourGate, type ColourGate } from '../support/colour-gate.js';
import { requireMosquitto, startMosquitto, type MosquittoBroker } from '../support/mosquitto.js';
import { requirePostgresServer, startPostgresServer, type PostgresServer } from '../support/postgres-server.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { pause, until } from '../support/wait.js';

const BASE = 'hc/v1';
const SITE = 'local';
const LEADER = { checkMs: 500 };
const quiet = pino({ level: 'silent' });

interface Scene {
  dir: string;
  broker: MosquittoBroker;
  cleanups: Array<() => unknown>;
}

async function scene(t: TestContext): Promise<Scene> {
  const cleanups = cleanupStack(t);
  const dir = mkdtempSync(join(tmpdir(), 'centre-outage-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const broker = await startMosquitto();
  cleanups.push(() => broker.stop());
  return { dir, broker, cleanups };
}

function keysOf(certificateFile: string): TrustStore {
  const keys = new TrustStore();
  keys.add(new X509Certificate(readFileSync(certificateFile)), 'centre');
  return keys;
}

async function gatesOn(s: Scene, url: string, keys: TrustStore, count = 2, options: { maxSyncAgeSeconds?: number } = {}): Promise<ColourGate[]> {
  const gates: ColourGate[] = [];
  for (let i = 0; i < count; i++) {
    const gate = await startColourGate({ url, base: BASE, site: SITE, keys, ...options });
    s.cleanups.push(() => gate.stop());
    gates.push(gate);
  }
  return gates;
}

function started(s: Scene, centre: CentreProcess): CentreProcess {
  s.cleanups.push(() => centre.kill('SIGKILL'));
  return centre;
}

/** Stops the stream and asserts what became of it, at the gates and in the store (opened after the centres stop). */
async function assertDelivered(t: TestContext, stream: BatchStream, gates: ColourGate[], openStore: () => ReturnType<typeof openCentreStore>, stopCentres: () => Promise<void>, pruned = false): Promise<void> {
  await stream.stop();
  const seqs = stream.seqs();
  assert.deepEqual(seqs.problems, [], 'no seq answered for two batches');
  await stream.gatesCaughtUp(gates);
  const report = stream.gateReport(gates);
  t.diagnostic(JSON.stringify({ batches: seqs.bySeq.size, changes: stream.changes, retries: stream.retries, refusals: Object.fromEntries(stream.refusals), replayedAnswers: stream.answers.filter((a) => a.replayed).length, bySnapshot: report.bySnapshot, refused: report.refused }));
  assert.deepEqual(report.problems, []);
  assert.equal(report.lost, 0);
  assert.equal(report.outOfOrder, 0);
  assert.equal(report.replayed, 0);
  await stopCentres();
  const store = await openStore();
  try {
    const checked = await storeSeqProblems(store, SITE, seqs.bySeq.size, pruned);
    assert.deepEqual(checked.problems, []);
    assert.equal(checked.storeSeq, seqs.maxSeq);
  } finally {
    await store.close();
  }
}

async function privatePostgres(s: Scene): Promise<PostgresServer> {
  const server = await startPostgresServer();
  s.cleanups.push(() => server.close());
  return server;
}

test('PostgreSQL restarted twice mid-stream (fast, then as a crash): the centre stores, publishes and answers again, nothing lost, no seq reused', { timeout: 240_000 }, async (t) => {
  if (!requireMosquitto(t) || !requirePostgresServer(t)) return;
  const s = await scene(t);
  const server = await privatePostgres(s);
  const url = await server.createDatabase('centre_outage');
  const setup = await writeCentreConfig({ dataDir: s.dir, brokerUrl: s.broker.url, postgresUrl: url, leader: LEADER });
  const centre = started(s, await spawnCentre(setup.file));
  const gates = await gatesOn(s, s.broker.url, keysOf(join(s.dir, SITE, 'centre.pem')));
  const stream = new BatchStream({ urls: () => [setup.url], site: SITE, token: setup.token });
  stream.start();
  await stream.more(15);
  for (const mode of ['fast', 'immediate'] as const) {
    await server.stop(mode);
    const before = stream.answers.length;
    await pause(1_500);
    assert.equal(stream.answers.length - before <= 2, true, 'batches are not answered 2xx while the store is down (one in flight may be)');
    await server.start();
    await stream.more(15, 90_000);
    assert.equal(centre.child.exitCode, null, `the centre kept running through the ${mode} restart:\n${centre.output()}`);
  }
  t.diagnostic(`refusals while PostgreSQL was away: ${JSON.stringify(Object.fromEntries(stream.refusals))}`);
  // The store away is the centre's trouble, not a fault: 503 (store-unavailable or not-leader), never 500.
  assert.deepEqual([...stream.refusals.keys()].filter((why) => why.startsWith('500')), []);
  await assertDelivered(t, stream, gates, () => openCentreStore({ sqlite: { path: '' }, postgres: { url, poolSize: 2 } }, quiet), () => centre.kill('SIGTERM'));
});

test('the broker restarted mid-stream (its retained snapshot lost): the centre publishes again, a gate that comes after starts from the snapshot, nothing lost', { timeout: 180_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const s = await scene(t);
  const setup = await writeCentreConfig({ dataDir: s.dir, brokerUrl: s.broker.url });
  const centre = started(s, await spawnCentre(setup.file));
  const gates = await gatesOn(s, s.broker.url, keysOf(join(s.dir, SITE, 'centre.pem')));
  const stream = new BatchStream({ urls: () => [setup.url], site: SITE, token: setup.token });
  stream.start();
  await stream.more(15);
  await s.broker.stop();
  // The API takes batches while the broker is away: they wait in the store.
  await stream.more(10);
  await s.broker.start();
  await stream.more(15);
  // Mosquitto kept nothing (no persistence): a gate starting now has only the snapshot the centre published again.
  const [late] = await gatesOn(s, s.broker.url, keysOf(join(s.dir, SITE, 'centre.pem')), 1);
  await stream.more(5);
  await assertDelivered(t, stream, [...gates, late!], () => openCentreStore({ sqlite: { path: join(s.dir, 'centre.db') } }, quiet), () => centre.kill('SIGTERM'));
});

test('a gate cut off long enough to go degraded, then back: it resyncs from the retained snapshot and follows the changes again', { timeout: 180_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const s = await scene(t);
  // keepChanges at its least: what the gate missed is pruned from the store, only the snapshot has it.
  const setup = await writeCentreConfig({ dataDir: s.dir, brokerUrl: s.broker.url, publisher: { keepChanges: 10 } });
  const centre = started(s, await spawnCentre(setup.file));
  const keys = keysOf(join(s.dir, SITE, 'centre.pem'));
  const proxy = await startTcpProxy(s.broker.port);
  s.cleanups.push(() => proxy.close());
  const [away] = await gatesOn(s, `mqtt://127.0.0.1:${proxy.port}`, keys, 1, { maxSyncAgeSeconds: 2 });
  const [staying] = await gatesOn(s, s.broker.url, keys, 1, { maxSyncAgeSeconds: 2 });
  const states: string[] = [];
  away!.sync.on('degraded', () => states.push('degraded'));
  away!.sync.on('synced', () => states.push('synced'));
  const stream = new BatchStream({ urls: () => [setup.url], site: SITE, token: setup.token });
  stream.start();
  await stream.more(10);
  await proxy.cut();
  await until('the cut-off gate degraded', () => states.includes('degraded'), 20_000);
  // Read once it is degraded: a change message already on its way through the proxy when the cut came may land after the cut.
  const cutAtSeq = away!.sync.lastSeq ?? 0;
  await stream.more(40);
  assert.equal(away!.sync.lastSeq, cutAtSeq, 'nothing reached the cut-off gate');
  const snapshotsBefore = away!.applied.filter((a) => a.via === 'snapshot').length;
  await proxy.restore();
  await until('the gate back in sync', () => states.at(-1) === 'synced', 30_000);
  await stream.more(15);
  const resynced = away!.applied.filter((a) => a.via === 'snapshot').slice(snapshotsBefore);
  assert.ok(resynced.some((a) => a.seq > cutAtSeq), 'the gate took a snapshot past the seq it was cut off at');
  await assertDelivered(t, stream, [away!, staying!], () => openCentreStore({ sqlite: { path: join(s.dir, 'centre.db') } }, quiet), () => centre.kill('SIGTERM'), true);
  // The other gate had every change message; the one cut off got what it missed within a snapshot.
  assert.equal(stream.gateReport([staying!]).bySnapshot, 0);
  assert.ok(stream.gateReport([away!]).bySnapshot > 0);
});

test('two centres on one PostgreSQL: the standby refuses writes with 503 not-leader; the leader killed, the standby takes over, no seq reused', { timeout: 240_000 }, async (t) => {
  if (!requireMosquitto(t) || !requirePostgresServer(t)) return;
  const s = await scene(t);
  const server = await privatePostgres(s);
  const url = await server.createDatabase('centre_pair');
  // One site key for both: whichever leads signs what the gates pin.
  const key = await createSignerCertificate({ subject: 'CN=Test centre, O=Test, C=CN' });
  const keyFile = join(s.dir, 'site.key');
  const certificateFile = join(s.dir, 'site.pem');
  writeFileSync(keyFile, key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  writeFileSync(certificateFile, key.certificatePem);
  const sites = [{ id: SITE, signingKey: keyFile, certificate: certificateFile }];
  const setups = [];
  for (const name of ['a', 'b']) {
    const dataDir = join(s.dir, name);
    mkdirSync(dataDir);
    setups.push(await writeCentreConfig({ dataDir, brokerUrl: s.broker.url, postgresUrl: url, leader: LEADER, sites }));
  }
  const [a, b] = setups as [(typeof setups)[0], (typeof setups)[0]];
  // b signs in with a's token too: one platform client for the pair.
  const config = JSON.parse(readFileSync(b.file, 'utf8')) as { clients: Array<{ tokenSha256: string }> };
  config.clients[0]!.tokenSha256 = (JSON.parse(readFileSync(a.file, 'utf8')) as typeof config).clients[0]!.tokenSha256;
  writeFileSync(b.file, JSON.stringify(config));

  const leader = started(s, await spawnCentre(a.file));
  const standby = started(s, await spawnCentre(b.file));
  const gates = await gatesOn(s, s.broker.url, keysOf(certificateFile));
  const first = { batchId: 'first', changes: [{ subject: 'x1', colour: 'red', effectiveAt: Date.now() }] };
  const write = (base: string, batch: object) =>
    fetch(`${base}/v1/sites/${SITE}/changes`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify(batch) });
  // The first to start leads (after one lease); the other stays a standby.
  let firstSeq = 0;
  await until('the first centre leading', async () => {
    const answer = await write(a.url, first);
    if (answer.ok) firstSeq = ((await answer.json()) as { seq: number }).seq;
    return answer.ok;
  }, 30_000);
  const refused = await write(b.url, { batchId: 'to-the-standby', changes: [{ subject: 'x2', colour: 'red', effectiveAt: Date.now() }] });
  assert.equal(refused.status, 503);
  assert.equal(((await refused.json()) as { error: string }).error, 'not-leader');
  const read = await fetch(`${b.url}/v1/sites/${SITE}/subjects/x1`, { headers: { authorization: `Bearer ${a.token}` } });
  assert.equal(read.status, 200, 'the standby answers reads');

  const stream = new BatchStream({ urls: () => [a.url, b.url], site: SITE, token: a.token });
  stream.start();
  await stream.more(20);
  await leader.kill('SIGKILL');
  const killedAt = performance.now();
  await stream.more(1, 30_000);
  const tookOver = stream.answers.find((x) => x.at > killedAt)!;
  t.diagnostic(`first batch answered by the standby ${Math.round(tookOver.at - killedAt)} ms after the kill`);
  assert.equal(tookOver.url, b.url);
  await stream.more(20);
  // The batch refused by the standby was never stored: the seqs are the first write's and the stream's.
  stream.answers.push({ batchId: 'first', seq: firstSeq, rows: 1, replayed: false, at: 0, tries: 1, url: a.url });
  stream.expected.set('x1', { colour: 'red', seq: firstSeq });
  await assertDelivered(t, stream, gates, () => openCentreStore({ sqlite: { path: '' }, postgres: { url, poolSize: 2 } }, quiet), () => standby.kill('SIGTERM'));
});
