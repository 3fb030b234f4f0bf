/**
 * The real centre for the centre benchmarks, started as production starts
 * it (startCentre: sites, store, leader election, the leader's duties, the
 * API) on a real Mosquitto, with one platform client signing in by bearer
 * token. The bench hears when each change message was acknowledged by the
 * broker: the publisher calls store.markPublished with the highest seq whose
 * PUBACK came with every one before it (once per page of change messages),
 * so the store is wrapped to note the time of that call for every seq it
 * covers: a seq counts as published when the store says so, never earlier.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { checkCentreConfig } from '../../protocol/config/centre-config.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { makeToken } from '../../centre/api/tokens.js';
import { startCentre, type RunningCentre } from '../../centre/service.js';
import { scratchDatabase, type ScratchDatabase } from '../support/postgres.js';

export type CentreBenchStore = 'sqlite' | 'postgres';

export interface BenchCentre {
  centre: RunningCentre;
  url: string;
  token: string;
  site: string;
  certificatePem: string;
  /** seq → when the broker acknowledged its change message (performance clock, ms). */
  published: Map<number, number>;
  /** Resolves when the broker has acknowledged the change message of `seq` (or rejects after timeoutMs). */
  publishedBy(seq: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

export const clock = (): number => performance.timeOrigin + performance.now();

export async function startBenchCentre(options: { store: CentreBenchStore; brokerUrl: string; site: string; publisher?: Record<string, unknown> }): Promise<BenchCentre> {
  const dir = mkdtempSync(join(tmpdir(), `bench-centre-${options.store}-`));
  let database: ScratchDatabase | null = null;
  try {
    const key = await createSignerCertificate({ subject: 'CN=Bench centre' });
    writeFileSync(join(dir, 'centre.key'), key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
    writeFileSync(join(dir, 'centre.pem'), key.certificatePem);
    const { token, tokenSha256 } = makeToken();
    if (options.store === 'postgres') database = await scratchDatabase();
    const config = checkCentreConfig({
      broker: { url: options.brokerUrl },
      http: { host: '127.0.0.1', port: 0 },
      store: database ? { postgres: { url: database.url } } : { sqlite: { path: join(dir, 'centre.db') } },
      record: { sqlite: { path: join(dir, 'centre-record.db') } },
      sites: [{ id: options.site, signingKey: join(dir, 'centre.key'), certificate: join(dir, 'centre.pem') }],
      dataDir: join(dir, 'data'),
      clients: [{ id: 'platform', tokenSha256, role: 'platform', sites: ['*'], requestsPerMinute: 1_000_000 }],
      publisher: options.publisher ?? {},
      // The default lock key is shared by every centre of a database: a scratch database has its own.
      leader: { lockKey: 1 + Math.floor(Math.random() * (2 ** 31 - 2)) },
      logLevel: 'error',
    });
    const logger = pino({ level: 'error' }, pino.destination(2));
    const centre = await startCentre(config, logger);
    const published = new Map<number, number>();
    const waiting = new Map<number, Array<(at: number) => void>>();
    const store = centre.store;
    const markPublished = store.markPublished.bind(store);
    store.markPublished = async (site, seq) => {
      const at = clock();
      if (site === options.site) {
        for (let s = seq; s > 0 && !published.has(s); s--) published.set(s, at);
        for (const [s, list] of waiting) {
          if (s > seq) continue;
          for (const resolve of list) resolve(published.get(s)!);
          waiting.delete(s);
        }
      }
      return markPublished(site, seq);
    };
    // The PostgreSQL election may lead a moment after the start: the duties (the publisher) begin then.
    const deadline = Date.now() + 15_000;
    while (!centre.duties.publisher) {
      if (Date.now() > deadline) throw new Error('bench centre: not leading within 15 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    return {
      centre,
      url: centre.url,
      token,
      site: options.site,
      certificatePem: key.certificatePem,
      published,
      publishedBy: (seq, timeoutMs) =>
        new Promise((resolve, reject) => {
          const at = published.get(seq);
          if (at !== undefined) return resolve(at);
          const timer = setTimeout(() => reject(new Error(`seq ${seq} not published within ${timeoutMs} ms`)), timeoutMs);
          const list = waiting.get(seq) ?? [];
          list.push((t) => {
            clearTimeout(timer);
            resolve(t);
          });
          waiting.set(seq, list);
        }),
      stop: async () => {
        await centre.stop();
        await database?.drop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await database?.drop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
