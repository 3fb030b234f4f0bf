/**
 * The centre's ingest: colour changes per second from the platform's API
 * request to stored and published, published meaning the broker's PUBACK of
 * the change message that carries them. The real centre (startCentre) on a
 * real Mosquitto, one store after the other (SQLite, then PostgreSQL on a
 * scratch database of the test server); the platform is a child process
 * POSTing batches of 1,000 over HTTP with a bearer token.
 *
 * A round sends `batches` batches; its rate is the changes sent over the
 * time from the first request's send to the last change message's PUBACK.
 * Each batch's own latency (send → answered after the commit, send →
 * PUBACK) is kept too. Rounds are repeated and the medians reported.
 *
 * The centre runs in this process (the platform's client does not), so the
 * process's CPU time over a round is the centre's: changes per CPU second
 * is what one core could take, a figure a busy shared machine disturbs less
 * than the wall-clock rate (the broker's and PostgreSQL's CPU not counted).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientCommand, ClientReply } from './centre-client-child.js';
import { startBenchCentre, type CentreBenchStore } from './centre-setup.js';
import { median, percentile, round } from './stats.js';

export interface IngestOptions {
  brokerUrl: string;
  stores: CentreBenchStore[];
  rounds: number;
  batches: number;
  batchSize: number;
  concurrency: number;
  subjects: number;
  progress: (message: string) => void;
}

function client(): ChildProcess {
  return fork(fileURLToPath(new URL('./centre-client-child.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function ask(child: ChildProcess, command: ClientCommand): Promise<Extract<ClientReply, { ok: true }>> {
  return new Promise((resolve, reject) => {
    child.once('message', (reply: ClientReply) => (reply.ok ? resolve(reply) : reject(new Error(`centre client: ${reply.error}`))));
    child.send(command);
  });
}

async function ingestOn(store: CentreBenchStore, options: IngestOptions): Promise<Record<string, unknown>> {
  const site = `ingest-${store}`;
  const centre = await startBenchCentre({ store, brokerUrl: options.brokerUrl, site });
  const platform = client();
  const rates: number[] = [];
  const answered: number[] = [];
  const published: number[] = [];
  const perCpuSecond: number[] = [];
  try {
    // One unmeasured round first: the JIT, the connections and the tables warm up as in a running centre.
    for (let r = -1; r < options.rounds; r++) {
      const cpuBefore = process.cpuUsage();
      const reply = await ask(platform, {
        url: centre.url,
        token: centre.token,
        site,
        tag: `${store}-round-${r + 1}`,
        batches: r < 0 ? Math.min(5, options.batches) : options.batches,
        batchSize: options.batchSize,
        concurrency: options.concurrency,
        subjects: options.subjects,
      });
      const acked = await Promise.all(reply.batches.map((b) => centre.publishedBy(b.seq, 60_000)));
      const cpu = process.cpuUsage(cpuBefore);
      if (r < 0) continue;
      perCpuSecond.push((reply.batches.length * options.batchSize * 1e6) / (cpu.user + cpu.system));
      const end = Math.max(...acked);
      const rate = (reply.batches.length * options.batchSize * 1000) / (end - reply.startedAt);
      rates.push(rate);
      reply.batches.forEach((b, i) => {
        answered.push(b.answeredAt - b.sentAt);
        published.push(acked[i]! - b.sentAt);
      });
      options.progress(
        `${store} round ${r + 1}: ${Math.round(rate)} changes/s, ${Math.round(perCpuSecond.at(-1)!)} per CPU second of the centre (${reply.batches.length} batches of ${options.batchSize}, ${options.concurrency} in flight)`,
      );
      // The snapshot refresh a burst schedules (publisher.snapshotDelayMs) runs before the next round.
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  } finally {
    platform.kill();
    await centre.stop();
  }
  return {
    store,
    changesPerSecond: { median: Math.round(median(rates)), min: Math.round(Math.min(...rates)), max: Math.round(Math.max(...rates)), rounds: rates.map(Math.round) },
    changesPerCentreCpuSecond: Math.round(median(perCpuSecond)),
    batchAnsweredMs: { p50: round(percentile(answered, 50), 1), p99: round(percentile(answered, 99), 1) },
    batchPublishedMs: { p50: round(percentile(published, 50), 1), p99: round(percentile(published, 99), 1) },
    goalMet: median(rates) >= 20_000,
  };
}

export async function benchCentreIngest(options: IngestOptions): Promise<Record<string, unknown>> {
  const results: Array<Record<string, unknown>> = [];
  for (const store of options.stores) results.push(await ingestOn(store, options));
  return {
    goal: 'at least 20,000 changes/s from the API request to stored and published (PUBACK)',
    batchSize: options.batchSize,
    batchesPerRound: options.batches,
    inFlight: options.concurrency,
    subjects: options.subjects,
    rounds: options.rounds,
    results,
  };
}
