/**
 * The agent's Prometheus metrics: the real GateAgent on virtual
 * lane hardware makes real decisions, and the exposition text (read from the
 * agent's own registry, or scraped over HTTP) is parsed and checked: counts
 * by verdict and reason, histograms, faults, the outbox and broker gauges as
 * the broker goes away and comes back, and no subject or name in any label.
 * The last test runs the simulated lane, whose real camera reader decodes
 * ONVIF snapshots, to see frame decode times arrive from device/.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { FrameDecoded, HardwareFault, TemperatureReading } from '../../device/contracts.js';
import { GateAgent } from '../../edge-agent/agent.js';
import { checkConfig, loadConfig } from '../../protocol/config/gate-config.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import type { DecisionRecord } from '../../edge-agent/lane/lane.js';
import { GateMetrics } from '../../edge-agent/metrics/metrics.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { startEmbeddedBroker } from '../../simulator/broker.js';
import { SimulatedCentre } from '../support/centre-double.js';
import { createVirtualLaneHardware, type VirtualLaneHardware } from '../../simulator/hardware/virtual-lane.js';
import { ReferencePlatform } from '../../simulator/platform.js';
import { createSimulatedLane } from '../../simulator/simulated-lane.js';
import { until } from '../support/wait.js';

const SITE = 'metrics-site';
const LANE = 'lane-3';
const logger = pino({ level: 'silent' });
const TIMING = { relayPulseMs: 100, passageTimeoutMs: 1000, denyDisplayMs: 0, temperatureDeadlineMs: 300, repeatSuppressMs: 1000 };

// ---------------------------------------------------------------------------
// The exposition text, parsed as Prometheus reads it (text format 0.0.4).

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      assert.ok(!types.has(type[1]!), `two TYPE lines for ${type[1]}`);
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    assert.ok(!line.startsWith('#'), `a comment that is neither HELP nor TYPE: ${line}`);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const labelText = sample[2] ?? '';
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    let match: RegExpExecArray | null;
    let consumed = 0;
    while ((match = labelRe.exec(labelText))) {
      labels[match[1]!] = match[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      consumed = labelRe.lastIndex;
    }
    assert.equal(consumed, labelText.length, `labels do not parse: ${line}`);
    // Go's ParseFloat, which Prometheus uses, takes NaN and Inf in any case (prom-client writes 'Nan' for an empty lag histogram).
    const text = sample[3]!;
    const value = /^\+?inf$/i.test(text) ? Infinity : /^-inf$/i.test(text) ? -Infinity : /^nan$/i.test(text) ? NaN : Number(text);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(text), `not a value: ${line}`);
    const name = sample[1]!;
    const family = name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(name) || types.has(family), `sample ${name} before (or without) its TYPE line`);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

/** The samples of one name whose labels include `labels`. */
function find(exposition: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exposition.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample's value; fails when there is none or more than one. */
function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = find(exposition, name, labels);
  assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]!.value;
}

async function scrape(agent: GateAgent): Promise<Exposition> {
  return parseExposition(await agent.metrics.text());
}

// ---------------------------------------------------------------------------
// Fixture: a GateAgent on virtual hardware, with a health source and a camera's frame timings the test drives.

interface Gate {
  agent: GateAgent;
  hardware: VirtualLaneHardware;
  faults: EventEmitter<{ fault: [HardwareFault] }>;
  frames: EventEmitter<{ frame: [FrameDecoded] }>;
  decisions: DecisionRecord[];
}

async function startGate(t: TestContext, platform: ReferencePlatform, extra: Record<string, unknown> = {}, centreKeys?: TrustStore): Promise<Gate> {
  const dir = mkdtempSync(join(tmpdir(), 'gate-metrics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = checkConfig({
    site: SITE,
    lane: LANE,
    timing: TIMING,
    journal: { path: join(dir, 'journal.db') },
    voice: { enabled: false },
    log: { level: 'silent' },
    ...extra,
  });
  const trust = new TrustStore();
  trust.add(platform.issuer.certificate, 'reference platform');
  const hardware = createVirtualLaneHardware();
  const faults = new EventEmitter<{ fault: [HardwareFault] }>();
  const frames = new EventEmitter<{ frame: [FrameDecoded] }>();
  hardware.health = { onFault: (listener) => (faults.on('fault', listener), () => faults.off('fault', listener)) };
  hardware.frames = { onFrameDecoded: (listener) => (frames.on('frame', listener), () => frames.off('frame', listener)) };
  const agent = new GateAgent({ config, hardware, logger, trust, ...(centreKeys ? { centreKeys } : {}) });
  t.after(() => agent.stop());
  const decisions: DecisionRecord[] = [];
  agent.lane.on('decision', (record) => decisions.push(record));
  await agent.start();
  return { agent, hardware, faults, frames, decisions };
}

/** One person: a code at the reader, the lane's decision, and the lane back to idle (walked through, released, resumed). */
async function person(gate: Gate, code: string, temperature: TemperatureReading = { ok: true, celsius: 36.5 }): Promise<DecisionRecord> {
  const { agent, hardware } = gate;
  await until(`the lane to be idle (it is ${agent.lane.state})`, () => agent.lane.state === 'idle');
  hardware.thermometer.next = temperature;
  const decided = once(agent.lane, 'decision') as Promise<[DecisionRecord]>;
  hardware.reader.present(code);
  const [record] = await decided;
  if (record.decision.verdict === 'pass') hardware.passage.walkThrough();
  if (agent.lane.state === 'held') agent.lane.staffRelease();
  if (agent.lane.state === 'staff') agent.lane.staffResume();
  await until(`the lane to be idle after ${record.event.reason} (it is ${agent.lane.state})`, () => agent.lane.state === 'idle');
  return record;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------

test('metrics: decisions by verdict and reason, decision and frame histograms, faults, lane state; no subject or name in the text', async (t) => {
  const platform = await ReferencePlatform.create();
  const gate = await startGate(t, platform);
  const { agent } = gate;

  const before = await scrape(gate.agent);
  for (const [name, type] of Object.entries({
    gate_decisions_total: 'counter',
    gate_decision_seconds: 'histogram',
    gate_frame_decode_seconds: 'histogram',
    gate_sensor_faults_total: 'counter',
    gate_outbox_messages: 'gauge',
    gate_outbox_oldest_age_seconds: 'gauge',
    gate_colour_sync_age_seconds: 'gauge',
    gate_broker_connected: 'gauge',
    gate_degraded: 'gauge',
    gate_lane_state: 'gauge',
    process_cpu_seconds_total: 'counter',
    nodejs_heap_size_used_bytes: 'gauge',
  })) {
    assert.equal(before.types.get(name), type, `# TYPE ${name} ${type}`);
  }
  assert.equal(find(before, 'gate_decisions_total').length, 0, 'no decision yet');
  assert.equal(value(before, 'gate_decision_seconds_count'), 0);
  // Every device's fault series exists from the start, at 0.
  for (const device of ['board', 'relay', 'scanner', 'camera', 'id-card-reader', 'thermometer']) {
    assert.equal(value(before, 'gate_sensor_faults_total', { device }), 0, device);
  }
  assert.equal(value(before, 'gate_lane_state', { state: 'idle' }), 1);
  assert.equal(find(before, 'gate_lane_state').reduce((sum, s) => sum + s.value, 0), 1, 'exactly one state is current');
  // No broker configured: nothing waits, nothing is connected, never degraded, and no sync age is made up.
  assert.equal(value(before, 'gate_outbox_messages'), 0);
  assert.equal(value(before, 'gate_outbox_oldest_age_seconds'), 0);
  assert.equal(value(before, 'gate_broker_connected'), 0);
  assert.equal(value(before, 'gate_degraded'), 0);
  assert.equal(find(before, 'gate_colour_sync_age_seconds').length, 0);
  // Site and lane on every sample, the process metrics' too.
  for (const sample of before.samples) assert.deepEqual([sample.labels.site, sample.labels.lane], [SITE, LANE], sample.name);

  const names = ['张*三', '李*四', '王*五', '赵*六', '钱*七'];
  const codes = [
    platform.issue({ colour: 'green', maskedName: names[0]! }),
    platform.issue({ colour: 'green', maskedName: names[1]! }),
    platform.issue({ colour: 'yellow', maskedName: names[2]! }),
    platform.issue({ colour: 'red', maskedName: names[3]! }),
    platform.issue({ colour: 'green', maskedName: names[4]! }),
    platform.issue({ colour: 'green', maskedName: '孙*八' }),
  ];
  const made = [
    await person(gate, codes[0]!.code),
    await person(gate, codes[1]!.code, { ok: true, celsius: 38.4 }),
    await person(gate, codes[2]!.code),
    await person(gate, codes[3]!.code),
    await person(gate, codes[4]!.code, { ok: false, fault: 'checksum', detail: 'PEC mismatch' }),
    await person(gate, codes[5]!.code),
  ];
  assert.deepEqual(
    made.map((r) => `${r.event.verdict}/${r.event.reason}`),
    ['pass/green-normal', 'deny/fever', 'deny/yellow', 'hold/red', 'deny/sensor-fault', 'pass/green-normal'],
  );

  // A device fails and recovers: one fault counted, the recovery not.
  gate.faults.emit('fault', { device: 'camera', detail: 'camera unreachable: timeout', blocking: false, active: true });
  gate.faults.emit('fault', { device: 'camera', detail: 'camera ok', blocking: false, active: false });
  // Two camera frames: 12 ms (in the 15 ms bucket, not the 10 ms one) and 300 ms.
  gate.frames.emit('frame', { decodeMs: 12, codes: 0 });
  gate.frames.emit('frame', { decodeMs: 300, codes: 1 });

  const text = await agent.metrics.text();
  const after = parseExposition(text);
  assert.equal(value(after, 'gate_decisions_total', { verdict: 'pass', reason: 'green-normal' }), 2);
  assert.equal(value(after, 'gate_decisions_total', { verdict: 'deny', reason: 'fever' }), 1);
  assert.equal(value(after, 'gate_decisions_total', { verdict: 'deny', reason: 'yellow' }), 1);
  assert.equal(value(after, 'gate_decisions_total', { verdict: 'hold', reason: 'red' }), 1);
  assert.equal(value(after, 'gate_decisions_total', { verdict: 'deny', reason: 'sensor-fault' }), 1);
  assert.equal(find(after, 'gate_decisions_total').length, 5, 'one series per verdict and reason seen');

  assert.equal(value(after, 'gate_decision_seconds_count'), made.length);
  const sumSeconds = made.reduce((sum, r) => sum + r.event.decisionMs / 1000, 0);
  assert.ok(Math.abs(value(after, 'gate_decision_seconds_sum') - sumSeconds) < 1e-6, 'the sum is of decisionMs, in seconds');
  const decisionBuckets = find(after, 'gate_decision_seconds_bucket');
  assert.deepEqual(decisionBuckets.map((b) => b.labels.le), ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2', '+Inf']);
  for (const bucket of decisionBuckets) {
    const le = bucket.labels.le === '+Inf' ? Infinity : Number(bucket.labels.le);
    assert.equal(bucket.value, made.filter((r) => r.event.decisionMs / 1000 <= le).length, `le=${bucket.labels.le}`);
  }

  assert.equal(value(after, 'gate_frame_decode_seconds_count'), 2);
  assert.equal(value(after, 'gate_frame_decode_seconds_bucket', { le: '0.01' }), 0);
  assert.equal(value(after, 'gate_frame_decode_seconds_bucket', { le: '0.015' }), 1);
  assert.equal(value(after, 'gate_frame_decode_seconds_bucket', { le: '0.5' }), 2);
  assert.ok(Math.abs(value(after, 'gate_frame_decode_seconds_sum') - 0.312) < 1e-9);

  // The thermometer's fault came with the sensor-fault decision; the camera's from the hardware.
  assert.equal(value(after, 'gate_sensor_faults_total', { device: 'thermometer' }), 1);
  assert.equal(value(after, 'gate_sensor_faults_total', { device: 'camera' }), 1);
  assert.equal(value(after, 'gate_sensor_faults_total', { device: 'board' }), 0);

  // Live at scrape time: the lane held open by a fire alarm shows at once.
  gate.hardware.fireAlarm.set(true);
  await until('the lane in emergency', () => agent.lane.state === 'emergency');
  const alarm = await scrape(agent);
  assert.equal(value(alarm, 'gate_lane_state', { state: 'emergency' }), 1);
  assert.equal(value(alarm, 'gate_lane_state', { state: 'idle' }), 0);
  gate.hardware.fireAlarm.set(false);

  // No subject, code, name or masked name anywhere in the text; label values only from small fixed sets.
  for (const record of made) {
    assert.ok(record.event.subject, 'each decision had a subject');
    assert.ok(!text.includes(record.event.subject!), `the text holds subject ${record.event.subject}`);
  }
  for (const { code, sub } of codes) {
    assert.ok(!text.includes(sub));
    assert.ok(!text.includes(code.slice(0, 24)));
  }
  for (const name of [...names, '孙*八']) assert.ok(!text.includes(name), `the text holds ${name}`);
  assert.ok(!text.includes('*'), 'a masked name in the text');
  const allowed: Record<string, RegExp> = {
    site: new RegExp(`^${SITE}$`),
    lane: new RegExp(`^${LANE}$`),
    verdict: /^(pass|deny|hold|other)$/,
    reason: /^[a-z-]+$/,
    device: /^(board|relay|scanner|camera|id-card-reader|thermometer|journal|driver|other)$/,
    state: /^(idle|reading|measuring|deciding|open|locked|held|staff|emergency)$/,
    le: /^([0-9.]+|\+Inf)$/,
  };
  for (const sample of after.samples.filter((s) => s.name.startsWith('gate_'))) {
    for (const [label, v] of Object.entries(sample.labels)) {
      assert.ok(allowed[label], `unexpected label ${label} on ${sample.name}`);
      assert.match(v, allowed[label]!, `${sample.name} ${label}="${v}"`);
    }
  }
});

test('metrics: outbox depth and age, broker connection and colour sync age follow the broker going and coming', { timeout: 60_000 }, async (t) => {
  const platform = await ReferencePlatform.create();
  const centreKey = await createSignerCertificate({ subject: 'CN=Health-code centre (metrics test), O=Reference platform, C=CN' });
  const centreKeys = new TrustStore();
  centreKeys.add(centreKey.certificate, 'test centre');
  // The broker's port is chosen now and nothing listens on it yet: the gate starts cut off.
  const port = await freePort();
  const gate = await startGate(t, platform, { mqtt: { url: `mqtt://127.0.0.1:${port}`, protocolVersion: 4 } }, centreKeys);
  const { agent } = gate;
  const outbox = agent.outbox!;

  await person(gate, platform.issue({ colour: 'green', maskedName: '甲*乙' }).code);
  await person(gate, platform.issue({ colour: 'yellow', maskedName: '丙*丁' }).code);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const away = await scrape(agent);
  assert.equal(value(away, 'gate_broker_connected'), 0);
  assert.ok(outbox.depth >= 2, `the two decisions wait (depth ${outbox.depth})`);
  assert.equal(value(away, 'gate_outbox_messages'), outbox.depth);
  const oldest = value(away, 'gate_outbox_oldest_age_seconds');
  assert.ok(oldest >= 0.05 && oldest < 30, `oldest message ${oldest} s`);
  assert.equal(find(away, 'gate_colour_sync_age_seconds').length, 0, 'never heard from the centre: no sample');
  assert.equal(value(away, 'gate_degraded'), 0, 'within maxSyncAgeSeconds of start');

  // The broker comes up on that port, the centre publishes its snapshot: the gate connects, drains and is in sync.
  const broker = await startEmbeddedBroker(port);
  t.after(() => broker.close());
  const centre = await SimulatedCentre.start({ url: broker.url, key: centreKey, protocolVersion: 4 });
  t.after(() => centre.stop());
  await centre.publishSnapshot(SITE);
  await until('the agent to connect', () => agent.brokerConnected, 15_000);
  await until('the outbox to drain', () => outbox.depth === 0, 15_000);
  await until('the colour snapshot', () => agent.colourSync.syncAgeMs() !== null, 15_000);
  const back = await scrape(agent);
  assert.equal(value(back, 'gate_broker_connected'), 1);
  assert.equal(value(back, 'gate_outbox_messages'), 0);
  assert.equal(value(back, 'gate_outbox_oldest_age_seconds'), 0);
  const syncAge = value(back, 'gate_colour_sync_age_seconds');
  assert.ok(syncAge >= 0 && syncAge < 30, `sync age ${syncAge} s`);
  assert.equal(value(back, 'gate_degraded'), 0);
  assert.equal(value(back, 'gate_decisions_total', { verdict: 'deny', reason: 'yellow' }), 1);
});

test('metrics: off by default; when enabled, GET of the path serves the text format, other paths 404, other methods 405', async (t) => {
  const platform = await ReferencePlatform.create();
  const off = await startGate(t, platform);
  assert.equal(off.agent.settings.metrics.enabled, false);
  assert.equal(off.agent.metricsUrl, null);

  const gate = await startGate(t, platform, { metrics: { enabled: true, port: 0, path: '/gate/metrics' } });
  const url = gate.agent.metricsUrl;
  assert.ok(url, 'served');
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/gate\/metrics$/);
  const record = await person(gate, platform.issue({ colour: 'green', maskedName: '甲*乙' }).code);

  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const scraped = parseExposition(await response.text());
  assert.equal(value(scraped, 'gate_decisions_total', { verdict: 'pass', reason: 'green-normal', site: SITE, lane: LANE }), 1);
  assert.equal(value(scraped, 'gate_decision_seconds_count'), 1);
  assert.ok(Math.abs(value(scraped, 'gate_decision_seconds_sum') - record.event.decisionMs / 1000) < 1e-9);
  assert.equal(value(scraped, 'gate_lane_state', { state: 'idle' }), 1);

  const withQuery = await fetch(`${url}?x=1`);
  assert.equal(withQuery.status, 200);
  await withQuery.arrayBuffer();
  const head = await fetch(url, { method: 'HEAD' });
  assert.equal(head.status, 200);
  const elsewhere = await fetch(new URL('/metrics', url));
  assert.equal(elsewhere.status, 404);
  await elsewhere.arrayBuffer();
  const post = await fetch(url, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  await post.arrayBuffer();

  // Stopped: the port is let go even with the scraper's keep-alive connection open.
  await gate.agent.stop();
  await assert.rejects(fetch(url));
});

test('metrics: a port already taken stops the start before the lane opens', async (t) => {
  const platform = await ReferencePlatform.create();
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const { port } = taken.address() as AddressInfo;
  await assert.rejects(startGate(t, platform, { metrics: { enabled: true, port } }), /EADDRINUSE/);
});

test('metrics: the documented example config enables the endpoint on loopback; the schema refuses a path without a slash', () => {
  const config = loadConfig('docs/gate-config.example.yaml', {});
  assert.deepEqual(config.metrics, { enabled: true, host: '127.0.0.1', port: 9464, path: '/metrics' });
  assert.deepEqual(checkConfig({ site: 's', lane: 'l' }).metrics, { enabled: false, host: '127.0.0.1', port: 9464, path: '/metrics' });
  assert.throws(() => checkConfig({ site: 's', lane: 'l', metrics: { path: 'metrics' } }), /metrics\.path/);
  assert.throws(() => checkConfig({ site: 's', lane: 'l', metrics: { port: 70000 } }), /metrics\.port/);
});

test('metrics: a verdict or reason outside the known codes is counted as other, never by its text', async () => {
  // A stand-in lane: only its events and state are read.
  const lane = Object.assign(new EventEmitter(), { state: 'idle' }) as unknown as GateAgent['lane'];
  const metrics = new GateMetrics({
    site: SITE,
    laneId: LANE,
    lane,
    outbox: null,
    colourSyncAgeMs: () => null,
    brokerConnected: () => false,
    degraded: () => false,
    server: checkConfig({ site: 's', lane: 'l' }).metrics,
    logger,
  });
  assert.equal(await metrics.start(), null, 'not served unless enabled');
  const subject = 'c3ViamVjdC1pZA';
  lane.emit('decision', { event: { verdict: 'pass', reason: `green-normal ${subject}`, decisionMs: 4, subject } } as unknown as DecisionRecord);
  lane.emit('decision', { event: { verdict: subject, reason: 'yellow', decisionMs: 4, subject } } as unknown as DecisionRecord);
  lane.emit('fault', { kind: subject as 'board', detail: subject });
  const text = await metrics.text();
  const parsed = parseExposition(text);
  assert.equal(value(parsed, 'gate_decisions_total', { verdict: 'pass', reason: 'other' }), 1);
  assert.equal(value(parsed, 'gate_decisions_total', { verdict: 'other', reason: 'yellow' }), 1);
  assert.equal(value(parsed, 'gate_sensor_faults_total', { device: 'other' }), 1);
  assert.ok(!text.includes(subject));
  await metrics.stop();
  // Stopped: no longer follows the lane.
  lane.emit('decision', { event: { verdict: 'pass', reason: 'green-normal', decisionMs: 4, subject } } as unknown as DecisionRecord);
  assert.equal(find(parseExposition(await metrics.text()), 'gate_decisions_total', { reason: 'green-normal' }).length, 0);
});

test('metrics: the simulated lane, its real camera reader decoding ONVIF snapshots, scraped over HTTP', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-metrics-sim-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = checkConfig({
    site: SITE,
    lane: LANE,
    timing: TIMING,
    journal: { path: join(dir, 'journal.db') },
    voice: { enabled: false },
    metrics: { enabled: true, port: 0 },
    log: { level: 'silent' },
  });
  const simulated = await createSimulatedLane(config, logger);
  t.after(() => simulated.close());
  const { agent, wire, world } = simulated;
  await agent.start();
  assert.ok(agent.metricsUrl);

  const issued = world.platform.issue({ colour: 'green', maskedName: '张*三' });
  wire.setForehead({ ok: true, celsius: 36.5 });
  const decided = once(agent.lane, 'decision') as Promise<[DecisionRecord]>;
  wire.presentCode(issued.code, 'camera');
  const [record] = await decided;
  wire.withdrawCode();
  assert.equal(record.event.reason, 'green-normal');

  const response = await fetch(agent.metricsUrl);
  assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const text = await response.text();
  const scraped = parseExposition(text);
  assert.equal(value(scraped, 'gate_decisions_total', { verdict: 'pass', reason: 'green-normal' }), 1);
  const frames = value(scraped, 'gate_frame_decode_seconds_count');
  assert.ok(frames >= 1, 'the frame with the code was decoded and timed');
  const sum = value(scraped, 'gate_frame_decode_seconds_sum');
  assert.ok(sum > 0 && sum / frames < 2, `mean decode ${sum / frames} s`);
  assert.ok(!text.includes(issued.sub) && !text.includes('张'), 'no subject or name in the text');
});
