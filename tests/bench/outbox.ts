/**
 * `npm run bench -- outbox`: the broker (a real Mosquitto) is down while
 * 10,000 events over 10 lanes are made, one outbox transaction each as the
 * agent makes them (enqueue rate measured); then it comes up and the pump
 * replays until every row is acknowledged. The centre's consumer, a
 * persistent QoS 1 session, counts: all delivered, in order per lane, none
 * twice after dropping duplicates by id, and how many duplicates came before
 * that. Replay rate in events/s, from the pump going online to the last row
 * deleted (goal ≥ 2,000/s). Several runs; medians are reported.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Outbox, type OutboxMessage } from '../../edge-agent/link/outbox.js';
import { OutboxPump } from '../../edge-agent/link/outbox-pump.js';
import { mosquittoAvailable, startMosquitto } from '../support/mosquitto.js';
import { median, round } from './stats.js';

export interface OutboxBenchOptions {
  events: number;
  lanes: number;
  runs: number;
  /** The pump's window (OutboxConfig.inflight); the broker's Receive Maximum may lower it. */
  inflight: number;
  /** Mosquitto's max_inflight_messages, sent to clients as their Receive Maximum; its default is 20. */
  brokerMaxInflight: number;
  /** The journal's sync mode, which the outbox shares in the agent. */
  sync: 'full' | 'normal';
  progress: (message: string) => void;
}

interface RunResult {
  enqueuePerSecond: number;
  replayMs: number;
  replayPerSecond: number;
  brokerUpToAllAckedMs: number;
  delivered: number;
  missing: number;
  lanesOutOfOrder: number;
  duplicatesBeforeDedupe: number;
  published: number;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await pause(5);
  }
}

/** A decision-sized payload (about 400 bytes, like a DecisionEvent). */
function decision(id: string, lane: string, n: number): string {
  return JSON.stringify({
    id, lane, n, seq: n + 1, time: new Date().toISOString(), site: 'bench-site', verdict: 'pass', reason: 'green-normal',
    decidedBy: 'offline-code', subject: id.replaceAll('-', '').slice(0, 16), colour: 'green', temperatureC: 36.5, sensorFault: null,
    credential: { profile: 'gzhc', kind: 'dynamic', kid: 'gzhc-2024-a', iss: 'GZHC', failure: null }, decisionMs: 38,
  });
}

async function oneRun(options: OutboxBenchOptions, run: number): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-outbox-'));
  // The consumer's session survives the broker's restart, as the centre's must.
  const broker = await startMosquitto({
    maxInflight: options.brokerMaxInflight,
    extra: ['persistence true', `persistence_location ${dir}/`, 'max_queued_messages 0'].join('\n'),
  });
  let consumer: MqttClient | null = null;
  let agent: MqttClient | null = null;
  let outbox: Outbox | null = null;
  try {
    consumer = await mqtt.connectAsync(broker.url, {
      protocolVersion: 5, clientId: `bench-centre-${run}`, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 100,
    });
    consumer.on('error', () => {});
    await consumer.subscribeAsync('bench/+/+/decision', { qos: 1 });
    const ids = new Set<string>();
    const lastN = new Map<string, number>();
    const outOfOrder = new Set<string>();
    let received = 0;
    consumer.on('message', (_topic, payload) => {
      received++;
      const { id, lane, n } = JSON.parse(payload.toString('utf8')) as { id: string; lane: string; n: number };
      if (ids.has(id)) return;
      ids.add(id);
      if (n !== (lastN.get(lane) ?? -1) + 1) outOfOrder.add(lane);
      lastN.set(lane, n);
    });
    await broker.stop();

    outbox = Outbox.open(join(dir, 'outbox.db'), { maxMessages: 200_000, maxAgeDays: 30, warnAtFraction: 0.8, sync: options.sync });
    const pump = new OutboxPump({ outbox, inflight: options.inflight, logger: pino({ level: 'warn' }, pino.destination(2)) });
    let onlineAt = 0;
    const client = mqtt.connect(broker.url, { protocolVersion: 5, clientId: `bench-gate-${run}`, reconnectPeriod: 100, queueQoSZero: false });
    agent = client;
    client.on('connect', () => {
      onlineAt = performance.now();
      pump.online(client);
    });
    client.on('close', () => pump.offline());
    client.on('error', () => {});

    const events: OutboxMessage[] = [];
    for (let i = 0; i < options.events; i++) {
      const lane = `lane-${i % options.lanes}`;
      const id = randomUUID();
      events.push({ id, lane, topic: `bench/site/${lane}/decision`, payload: decision(id, lane, Math.floor(i / options.lanes)), qos: 1, priority: 'event' });
    }
    const enqueueStart = performance.now();
    for (const event of events) {
      outbox.enqueue(event);
      pump.kick();
    }
    const enqueueMs = performance.now() - enqueueStart;
    options.progress(`run ${run}: ${options.events} events enqueued in ${round(enqueueMs, 0)} ms with the broker down`);

    await broker.start();
    const upAt = performance.now();
    await waitUntil(() => outbox!.depth === 0, 120_000, () => `${outbox!.depth} rows still queued`);
    const ackedAt = performance.now();
    await waitUntil(() => ids.size >= options.events, 30_000, () => `${ids.size} of ${options.events} delivered`);
    const replayMs = ackedAt - onlineAt;
    const result: RunResult = {
      enqueuePerSecond: round((options.events * 1000) / enqueueMs, 0),
      replayMs: round(replayMs, 1),
      replayPerSecond: round((options.events * 1000) / replayMs, 0),
      brokerUpToAllAckedMs: round(ackedAt - upAt, 1),
      delivered: ids.size,
      missing: events.filter((e) => !ids.has(e.id)).length,
      lanesOutOfOrder: outOfOrder.size,
      duplicatesBeforeDedupe: received - ids.size,
      published: pump.counters.published,
    };
    options.progress(`run ${run}: replayed in ${result.replayMs} ms (${result.replayPerSecond}/s), ${result.missing} missing, ${result.duplicatesBeforeDedupe} duplicates`);
    pump.offline();
    return result;
  } finally {
    await agent?.endAsync(true);
    await consumer?.endAsync(true);
    outbox?.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchOutbox(options: OutboxBenchOptions): Promise<Record<string, unknown>> {
  if (!mosquittoAvailable()) throw new Error('the outbox bench needs Mosquitto: apt-get install -y mosquitto');
  const runs: RunResult[] = [];
  for (let run = 1; run <= options.runs; run++) runs.push(await oneRun(options, run));
  const med = (pick: (r: RunResult) => number): number => median(runs.map(pick));
  return {
    benchmark: 'outbox',
    broker: 'mosquitto',
    events: options.events,
    lanes: options.lanes,
    runs: options.runs,
    sync: options.sync,
    inflight: options.inflight,
    brokerMaxInflight: options.brokerMaxInflight,
    median: {
      enqueuePerSecond: med((r) => r.enqueuePerSecond),
      replayPerSecond: med((r) => r.replayPerSecond),
      replayMs: med((r) => r.replayMs),
      brokerUpToAllAckedMs: med((r) => r.brokerUpToAllAckedMs),
      duplicatesBeforeDedupe: med((r) => r.duplicatesBeforeDedupe),
    },
    allDelivered: runs.every((r) => r.missing === 0 && r.delivered === options.events),
    inOrderPerLane: runs.every((r) => r.lanesOutOfOrder === 0),
    goalReplayPerSecond: 2000,
    perRun: runs,
  };
}
