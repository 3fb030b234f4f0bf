/**
 * `npm run bench -- console`: the fleet console under a fleet's load. A real
 * Mosquitto; the console as its own process (`node dist/console/main.js`,
 * so its memory is its own); 2,000 simulated lanes each publishing a
 * decision every 2 s (1,000 events/s) for 5 minutes, with their retained
 * status and telemetry every 30 s (as a gate sends it by default). Reports:
 * the lag from each event's publication to its arrival on the console's page
 * stream (/api/events, the stream the page reads), the console's resident
 * memory over the run, and whether the console's supervision figures equal
 * a count made here from the events published. Run once per store: SQLite,
 * then PostgreSQL (a scratch database on the machine's server), side by side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { hashPassword } from '../../protocol/privacy/passwords.js';
import { MAX_QUEUED_BYTES, MAX_QUEUED_MESSAGES } from '../../provisioning/site/broker.js';
import type { Verdict } from '../../protocol/domain.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import { startMosquitto } from '../support/mosquitto.js';
import { scratchDatabase, type ScratchDatabase } from '../support/postgres.js';
import { median, percentile, round } from './stats.js';

const CONSOLE_MAIN = fileURLToPath(new URL('../../console/main.js', import.meta.url));
const SITES = ['bench-a', 'bench-b', 'bench-c', 'bench-d'];
const VERDICTS: Array<{ verdict: Verdict; reason: string; colour: 'green' | 'yellow' | 'red' | null }> = [
  { verdict: 'pass', reason: 'green-normal', colour: 'green' },
  { verdict: 'pass', reason: 'green-normal', colour: 'green' },
  { verdict: 'pass', reason: 'green-normal', colour: 'green' },
  { verdict: 'deny', reason: 'yellow', colour: 'yellow' },
  { verdict: 'deny', reason: 'fever', colour: 'green' },
  { verdict: 'hold', reason: 'red', colour: 'red' },
];

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

export type BenchStore = 'sqlite' | 'postgres';

async function startConsoleProcess(dir: string, brokerUrl: string, password: string, store: { sqlite: { path: string } } | { postgres: { url: string } }): Promise<{ child: ChildProcess; url: string }> {
  const config = {
    broker: { url: brokerUrl },
    http: { host: '127.0.0.1', port: 0 },
    store,
    users: [{ name: 'bench', role: 'viewer', passwordHash: await hashPassword(password) }],
  };
  fs.writeFileSync(path.join(dir, 'console.json'), JSON.stringify(config));
  const child = spawn(process.execPath, [CONSOLE_MAIN, 'run', '--config', path.join(dir, 'console.json')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
  });
  child.stderr!.resume();
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the console did not start: ${out}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /fleet console: (\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`the console exited (${code}): ${out}`)));
  });
  return { child, url };
}

export interface ConsoleBenchOptions {
  lanes: number;
  seconds: number;
  everyMs: number;
  stores: BenchStore[];
  progress: (message: string) => void;
}

/** One run per store, one after the other on the same machine: `runs` side by side. */
export async function benchConsole(options: ConsoleBenchOptions): Promise<Record<string, unknown>> {
  const runs: Record<string, unknown> = {};
  for (const store of options.stores) runs[store] = await benchConsoleWith(store, options);
  return { benchmark: 'console', lanes: options.lanes, decisionEveryMs: options.everyMs, seconds: options.seconds, runs };
}

const TELEMETRY_EVERY_MS = 30_000;

async function benchConsoleWith(storeKind: BenchStore, options: ConsoleBenchOptions): Promise<Record<string, unknown>> {
  const progress = (message: string): void => options.progress(`${storeKind}: ${message}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-console-'));
  let database: ScratchDatabase | null = null;
  if (storeKind === 'postgres') database = await scratchDatabase();
  // The queue limits gate-provision writes into mosquitto.conf, as a site's broker has them.
  const broker = await startMosquitto({ maxInflight: 1000, extra: `max_queued_messages ${MAX_QUEUED_MESSAGES}\nmax_queued_bytes ${MAX_QUEUED_BYTES}` });
  const password = 'bench-password-1';
  const store = database ? { postgres: { url: database.url } } : { sqlite: { path: path.join(dir, 'console.db') } };
  const { child, url } = await startConsoleProcess(dir, broker.url, password, store);
  const publishers: MqttClient[] = [];
  const controller = new AbortController();
  try {
    const signIn = await fetch(`${url}/api/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', password }) });
    if (signIn.status !== 200) throw new Error(`sign-in: ${signIn.status} ${await signIn.text()}`);
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;

    // The page's stream: the lag of each decision from its publication.
    const lags: number[] = [];
    const stream = await fetch(`${url}/api/events`, { headers: { cookie }, signal: controller.signal });
    const reader = stream.body!.getReader();
    let buffered = '';
    let received = 0;
    const reading = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffered += Buffer.from(value).toString('utf8');
          let end: number;
          while ((end = buffered.indexOf('\n\n')) !== -1) {
            const message = buffered.slice(0, end);
            buffered = buffered.slice(end + 2);
            if (!message.startsWith('event: decision\n')) continue;
            const data = JSON.parse(message.slice(message.indexOf('data: ') + 6)) as { time: number | string };
            const sentAt = typeof data.time === 'number' ? data.time : Date.parse(data.time);
            lags.push(Date.now() - sentAt);
            received++;
          }
        }
      } catch {
        // aborted at the end
      }
    })();

    // The fleet: lanes spread over 20 connections, each lane with its retained status, then a decision every everyMs.
    const lanes = Array.from({ length: options.lanes }, (_, i) => ({ site: SITES[i % SITES.length]!, lane: `lane-${String(i).padStart(4, '0')}`, seq: 0, telemetryAt: 0 }));
    const connections = 20;
    for (let c = 0; c < connections; c++) {
      publishers.push(await mqtt.connectAsync(broker.url, { clientId: `bench-fleet-${c}`, protocolVersion: 5 }));
    }
    const connectionOf = (i: number): MqttClient => publishers[i % connections]!;
    await Promise.all(
      lanes.map((l, i) =>
        connectionOf(i).publishAsync(`hc/v1/${l.site}/${l.lane}/status`, JSON.stringify({ state: 'online', time: new Date().toISOString(), laneState: 'idle', degraded: false, staffMode: false }), { qos: 1, retain: true }),
      ),
    );

    const expected = new Map<string, { checks: number; passes: number; refusals: number; holds: number }>();
    const rss: Array<{ seconds: number; rssMb: number }> = [];
    const started = Date.now();
    let published = 0;
    let telemetrySent = 0;
    const sampler = setInterval(() => rss.push({ seconds: Math.round((Date.now() - started) / 1000), rssMb: round(rssMb(child.pid!), 1) }), 10_000);
    rss.push({ seconds: 0, rssMb: round(rssMb(child.pid!), 1) });
    // Each lane decides every everyMs, lanes spread evenly over the interval; ticks of 50 ms.
    const tickMs = 50;
    const perTick = (options.lanes * tickMs) / options.everyMs;
    let cursor = 0;
    let credit = 0;
    let lastReport = started;
    while (Date.now() - started < options.seconds * 1000) {
      const tickStart = Date.now();
      credit += perTick;
      const now = Date.now();
      for (; credit >= 1; credit--) {
        const i = cursor++ % lanes.length;
        const l = lanes[i]!;
        const pick = VERDICTS[(i + l.seq) % VERDICTS.length]!;
        const event: DecisionEvent = {
          id: randomUUID(),
          seq: ++l.seq,
          time: new Date(now).toISOString(),
          site: l.site,
          lane: l.lane,
          verdict: pick.verdict,
          reason: pick.reason,
          decidedBy: 'offline-code',
          subject: null,
          colour: pick.colour,
          temperatureC: 36.5,
          sensorFault: null,
          credential: null,
          decisionMs: 60,
          degraded: false,
        };
        connectionOf(i).publish(`hc/v1/${l.site}/${l.lane}/decision`, JSON.stringify(event), { qos: 1 });
        if (now - l.telemetryAt >= TELEMETRY_EVERY_MS) {
          l.telemetryAt = now;
          const telemetry = {
            time: event.time, site: l.site, lane: l.lane, laneState: 'idle', degraded: false, colourSyncAgeSeconds: 3, colourSeq: 1,
            outbox: { depth: 0, oldestAgeSeconds: null, dropped: 0 }, faults: [],
          };
          connectionOf(i).publish(`hc/v1/${l.site}/${l.lane}/telemetry`, JSON.stringify(telemetry), { qos: 0 });
          telemetrySent++;
        }
        const count = expected.get(l.site) ?? { checks: 0, passes: 0, refusals: 0, holds: 0 };
        count.checks++;
        if (pick.verdict === 'pass') count.passes++;
        else if (pick.verdict === 'deny') count.refusals++;
        else count.holds++;
        expected.set(l.site, count);
        published++;
      }
      if (Date.now() - lastReport >= 30_000) {
        lastReport = Date.now();
        progress(`${Math.round((Date.now() - started) / 1000)} s, ${published} published, ${received} on the page, RSS ${rss.at(-1)?.rssMb} MB`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, tickMs - (Date.now() - tickStart))));
    }
    // Bounded wait for the console to catch up with the last events.
    const drainDeadline = Date.now() + 60_000;
    while (received < published && Date.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 100));
    clearInterval(sampler);
    rss.push({ seconds: Math.round((Date.now() - started) / 1000), rssMb: round(rssMb(child.pid!), 1) });

    // The console's figures against the count made here.
    const day = (await (await fetch(`${url}/api/figures?site=${SITES[0]}`, { headers: { cookie } })).json()) as { day?: string };
    const figures: Record<string, unknown> = {};
    let match = true;
    for (const site of SITES) {
      const body = (await (await fetch(`${url}/api/figures?site=${site}${day.day ? `&day=${day.day}` : ''}`, { headers: { cookie } })).json()) as Record<string, unknown>;
      const got = (body.figures as Array<{ checks: number; passes: number; refusals: number; holds: number }>)[0] ?? { checks: 0, passes: 0, refusals: 0, holds: 0 };
      const want = expected.get(site)!;
      const same = got.checks === want.checks && got.passes === want.passes && got.refusals === want.refusals && got.holds === want.holds;
      match &&= same;
      figures[site] = { console: { checks: got.checks, passes: got.passes, refusals: got.refusals, holds: got.holds }, counted: want, same };
    }
    const rssValues = rss.map((r) => r.rssMb);
    const afterWarmUp = rss.filter((r) => r.seconds >= 60).map((r) => r.rssMb);
    // The lanes as the console keeps them: every one seen, none lost to a write out of order.
    const lanesBody = (await (await fetch(`${url}/api/lanes`, { headers: { cookie } })).json()) as { lanes: Array<{ state: string }> };
    const stats = ((await (await fetch(`${url}/api/stats`, { headers: { cookie } })).json()) as { feed: Record<string, unknown> }).feed;
    return {
      store: storeKind,
      published,
      telemetrySent,
      lanesKept: lanesBody.lanes.length,
      lanesOnline: lanesBody.lanes.filter((l) => l.state === 'online').length,
      feed: { received: stats.received, malformed: stats.malformed, duplicates: stats.duplicates, notStored: stats.notStored, retries: stats.retries, queuedAtEnd: stats.queued },
      onThePage: received,
      lagMs: { median: round(median(lags), 1), p99: round(percentile(lags, 99), 1), max: round(percentile(lags, 100), 1) },
      rssMb: { start: rssValues[0], max: round(Math.max(...rssValues), 1), end: rssValues.at(-1), growthAfterFirstMinute: afterWarmUp.length > 1 ? round(afterWarmUp.at(-1)! - afterWarmUp[0]!, 1) : null },
      rssCurve: rss,
      figuresMatch: match,
      figures,
    };
  } finally {
    controller.abort();
    await Promise.all(publishers.map((p) => p.endAsync(true)));
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await broker.stop();
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
