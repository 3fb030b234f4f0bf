/**
 * The outbox and its pump against a real Mosquitto: events made while the
 * broker is away all arrive once it is back, in order per lane and once each
 * after dropping duplicates by id; a broker stopped in the middle of the
 * replay, and the sending process killed with SIGKILL in the middle of it,
 * lose nothing; a message the broker refuses ends in the dead letters
 * without holding up the rest.
 *
 * The broker keeps the consumer's session on disk (persistence, no queue
 * limit), as the centre's must: a message the broker has acknowledged is
 * then the broker's to deliver, also across its own restart.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { Outbox, type OutboxMessage } from '../../edge-agent/link/outbox.js';
import { OutboxPump } from '../../edge-agent/link/outbox-pump.js';
import { requireMosquitto, startMosquitto, type MosquittoBroker, type MosquittoOptions } from '../support/mosquitto.js';

const dir = mkdtempSync(join(tmpdir(), 'gate-outbox-broker-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const OPTIONS = { maxMessages: 1_000_000, maxAgeDays: 30, warnAtFraction: 0.8 };
const logger = pino({ level: 'silent' });
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Mosquitto keeping sessions across restarts and queueing without limit. */
function startBroker(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const store = mkdtempSync(join(dir, 'mosquitto-'));
  const extra = ['persistence true', `persistence_location ${store}/`, 'max_queued_messages 0', options.extra ?? ''].join('\n');
  return startMosquitto({ ...options, extra });
}

async function waitUntil(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await pause(20);
  }
}

/** n events over `lanes` lanes; each payload carries its lane and per-lane number. */
function makeEvents(count: number, lanes: number, prefix = 'outbox-test/site'): OutboxMessage[] {
  const next = new Map<string, number>();
  return Array.from({ length: count }, (_, i) => {
    const lane = `lane-${i % lanes}`;
    const n = next.get(lane) ?? 0;
    next.set(lane, n + 1);
    const id = randomUUID();
    return { id, lane, topic: `${prefix}/${lane}/decision`, payload: JSON.stringify({ id, lane, n }), qos: 1, priority: 'event' };
  });
}

/** The centre's consumer: a persistent QoS 1 session that dedupes by id and checks each lane's order. */
class Consumer {
  received = 0;
  readonly ids = new Set<string>();
  readonly lanes = new Map<string, number[]>();
  onMessage: (() => void) | null = null;

  private constructor(readonly client: MqttClient) {
    client.on('message', (_topic, payload) => {
      const { id, lane, n } = JSON.parse(payload.toString('utf8')) as { id: string; lane: string; n: number };
      this.received++;
      if (!this.ids.has(id)) {
        this.ids.add(id);
        const seen = this.lanes.get(lane) ?? [];
        seen.push(n);
        this.lanes.set(lane, seen);
      }
      this.onMessage?.();
    });
  }

  static async connect(url: string, filter = 'outbox-test/+/+/decision'): Promise<Consumer> {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      clientId: `centre-${randomUUID()}`,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 100,
    });
    client.on('error', () => {});
    await client.subscribeAsync(filter, { qos: 1 });
    return new Consumer(client);
  }

  get duplicates(): number {
    return this.received - this.ids.size;
  }

  /** Every event arrived, and each lane's first copies came in the order they were made. */
  assertComplete(events: OutboxMessage[]): void {
    const missing = events.filter((e) => !this.ids.has(e.id));
    assert.equal(missing.length, 0, `${missing.length} of ${events.length} events never arrived`);
    assert.equal(this.ids.size, events.length, 'no event the outbox did not hold');
    for (const [lane, seen] of this.lanes) assert.deepEqual(seen, seen.map((_, i) => i), `${lane} out of order`);
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** The agent's side: its own MQTT client, with the pump told about connects and closes. */
function connectPump(url: string, outbox: Outbox, options: { inflight?: number; maxTries?: number; retryDelayMs?: number } = {}) {
  const pump = new OutboxPump({ outbox, logger, inflight: options.inflight ?? 256, maxTries: options.maxTries, retryDelayMs: options.retryDelayMs });
  const client = mqtt.connect(url, { protocolVersion: 5, clientId: `gate-${randomUUID()}`, reconnectPeriod: 100, connectTimeout: 2_000, queueQoSZero: false });
  client.on('connect', () => pump.online(client));
  client.on('close', () => pump.offline());
  client.on('error', () => {});
  return {
    pump,
    client,
    /** Until every row has left the outbox (idle() also resolves while offline). */
    drained: async (timeoutMs = 20_000): Promise<void> => {
      await waitUntil(() => outbox.depth === 0, timeoutMs, () => `outbox still holds ${outbox.depth} rows`);
      await pump.idle();
    },
    close: async (): Promise<void> => {
      pump.offline();
      await client.endAsync(true);
    },
  };
}

test('1,000 events made while the broker is down all arrive once it is up: once each after dedupe, in order per lane', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const broker = await startBroker();
  const consumer = await Consumer.connect(broker.url);
  await broker.stop();
  const outbox = Outbox.open(join(dir, 'down.db'), OPTIONS);
  const agent = connectPump(broker.url, outbox);
  try {
    const events = makeEvents(1000, 10);
    for (const event of events) {
      outbox.enqueue(event);
      agent.pump.kick();
    }
    await pause(300); // the agent keeps trying to connect meanwhile
    assert.equal(outbox.depth, 1000);
    assert.equal(agent.pump.counters.published, 0, 'nothing is handed to MQTT.js while offline');

    await broker.start();
    await agent.drained();
    await waitUntil(() => consumer.ids.size >= events.length, 20_000, () => `${consumer.ids.size} of ${events.length} arrived`);
    consumer.assertComplete(events);
    assert.equal(agent.pump.counters.acked, 1000);
    assert.equal(agent.pump.counters.published, 1000, 'one clean replay: each published once');
  } finally {
    await agent.close();
    await consumer.close();
    outbox.close();
    await broker.stop();
  }
});

test('the broker stopped in the middle of the replay: everything still arrives', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const broker = await startBroker();
  const consumer = await Consumer.connect(broker.url);
  await broker.stop();
  const outbox = Outbox.open(join(dir, 'restart.db'), OPTIONS);
  const events = makeEvents(3000, 10);
  for (const event of events) outbox.enqueue(event);
  const agent = connectPump(broker.url, outbox);
  try {
    let stopping: Promise<void> | null = null;
    consumer.onMessage = () => {
      if (!stopping && consumer.ids.size >= 600) stopping = broker.stop();
    };
    await broker.start();
    await waitUntil(() => stopping !== null, 20_000, () => `replay never reached 600 (${consumer.ids.size})`);
    await stopping;
    consumer.onMessage = null;
    const depthWhileDown = outbox.depth;
    assert.ok(depthWhileDown > 0 && depthWhileDown < events.length, `stopped in the middle (${depthWhileDown} left)`);
    await pause(300);
    await broker.start();
    await agent.drained();
    await waitUntil(() => consumer.ids.size >= events.length, 20_000, () => `${consumer.ids.size} of ${events.length} arrived`);
    consumer.assertComplete(events);
    const { counters } = agent.pump;
    t.diagnostic(`left when stopped ${depthWhileDown}; published ${counters.published}, redelivered ${counters.redelivered}, duplicates at the consumer ${consumer.duplicates}`);
    assert.equal(counters.acked >= events.length, true);
  } finally {
    await agent.close();
    await consumer.close();
    outbox.close();
    await broker.stop();
  }
});

const childScript = fileURLToPath(new URL('./outbox-pump-child.js', import.meta.url));

function runChild(path: string, url: string): { exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>; kill: () => void } {
  const child = spawn(process.execPath, [childScript, path, url, '64'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { exited, kill: () => child.kill('SIGKILL') };
}

test('the sending process killed with SIGKILL in the middle of the replay: after a restart nothing is missing', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const broker = await startBroker();
  const consumer = await Consumer.connect(broker.url);
  const path = join(dir, 'killed.db');
  const events = makeEvents(3000, 10);
  const filling = Outbox.open(path, OPTIONS);
  for (const event of events) filling.enqueue(event);
  filling.close();
  try {
    const first = runChild(path, broker.url);
    consumer.onMessage = () => {
      if (consumer.ids.size >= 800) first.kill();
    };
    const killed = await first.exited;
    consumer.onMessage = null;
    assert.equal(killed.signal, 'SIGKILL', `child ended by itself: ${killed.stderr}`);
    const check = Outbox.open(path, OPTIONS);
    const left = check.depth;
    check.close();
    assert.ok(left > 0 && left < events.length, `killed in the middle (${left} left)`);

    const second = runChild(path, broker.url);
    const done = await second.exited;
    assert.equal(done.code, 0, done.stderr);
    await waitUntil(() => consumer.ids.size >= events.length, 20_000, () => `${consumer.ids.size} of ${events.length} arrived`);
    consumer.assertComplete(events);
    const counters = JSON.parse(done.stdout.trim()) as { published: number };
    t.diagnostic(`left at the kill ${left}; the restarted process published ${counters.published}; duplicates at the consumer ${consumer.duplicates}`);
    assert.ok(counters.published >= left);
  } finally {
    await consumer.close();
    await broker.stop();
  }
});

test('a message the broker refuses (0x87) is retried, then dead-lettered; the rest and QoS 0 telemetry go through', { timeout: 60_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  // Anonymous clients may use outbox-test/# only.
  const broker = await startMosquitto({ acl: 'topic readwrite outbox-test/#' });
  const consumer = await Consumer.connect(broker.url);
  const outbox = Outbox.open(join(dir, 'refused.db'), OPTIONS);
  const agent = connectPump(broker.url, outbox, { maxTries: 3, retryDelayMs: 50 });
  try {
    const events = makeEvents(100, 2);
    const forbidden = makeEvents(1, 1, 'not-allowed/site')[0]!;
    const telemetry: OutboxMessage[] = Array.from({ length: 20 }, () => ({ id: randomUUID(), lane: 'lane-0', topic: 'outbox-test/site/lane-0/telemetry', payload: JSON.stringify({ telemetry: true }), qos: 0, priority: 'telemetry' }));
    for (const m of [...events.slice(0, 50), forbidden, ...telemetry, ...events.slice(50)]) outbox.enqueue(m);
    await waitUntil(() => agent.pump.isOnline, 10_000, () => 'never connected');
    agent.pump.kick();
    await agent.drained();
    await waitUntil(() => consumer.ids.size >= 100, 10_000, () => `${consumer.ids.size} of 100 arrived`);
    consumer.assertComplete(events);
    const { counters } = agent.pump;
    assert.equal(counters.refused, 3);
    assert.equal(counters.deadLettered, 1);
    const dead = outbox.deadLetters();
    assert.deepEqual(dead.map((d) => d.id), [forbidden.id]);
    assert.match(dead[0]!.reason, /0x87/);
    assert.equal(outbox.depth, 0, 'the QoS 0 telemetry left once written');
  } finally {
    await agent.close();
    await consumer.close();
    outbox.close();
    await broker.stop();
  }
});
