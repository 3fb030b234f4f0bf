/**
 * `npm run bench -- centre-crash` (and tests/integration/centre-crash.test.ts,
 * with fewer kills): the real centre process, on its SQLite store and a real
 * Mosquitto, killed with SIGKILL at random moments (seeded) while platform
 * clients stream batches at it, each sent again with the same batch id until
 * it is answered 2xx; started again on the same files each time. Gates (the
 * gate's real ColourSync) watch the site throughout.
 *
 * Counted: lost = a batch answered 2xx whose seq some gate never applied
 * (neither by its change message nor within a snapshot it applied), or a
 * subject whose final colour at a gate is not the last one answered 2xx;
 * reused = a seq given to two batches, a seq the store lacks or holds twice
 * (it must hold 1..N once each), or a message a gate refused as replayed.
 * Recovery after each restart: from the kill to the next batch answered 2xx
 * (the new process's start included), and from the kill to the new process
 * being ready (its start alone).
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openCentreStore } from '../../centre/store/open-store.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { seededRandom } from './crash.js';
import { percentile, round } from './stats.js';
import { startColourGate, type ColourGate } from '../support/colour-gate.js';
import { BatchStream, storeSeqProblems } from '../support/batch-stream.js';
import { spawnCentre, writeCentreConfig, type CentreProcess } from '../support/centre-spawn.js';
import { startMosquitto } from '../support/mosquitto.js';
import { pause, until } from '../support/wait.js';

export interface CentreCrashOptions {
  kills: number;
  /** Each kill comes a uniformly random time in [0, windowMs) after the centre is ready. */
  windowMs: number;
  seed: number;
  /** Platform clients sending at once, each on subjects of its own. */
  writers?: number;
  gates?: number;
  progress: (message: string) => void;
}

export interface CentreCrashResult {
  seed: number;
  kills: number;
  batches: number;
  changes: number;
  /** Batches answered replayed: true (committed before a kill, the answer lost, sent again). */
  replayedAnswers: number;
  /** Requests that were not answered 2xx and were sent again. */
  retries: number;
  lost: number;
  reused: number;
  outOfOrder: number;
  /** Seqs a gate got only within a snapshot, not by their change message (a gap it resynced over). */
  bySnapshot: number;
  refused: Record<string, number>;
  storeSeq: number;
  recoverMs: { p50: number; p99: number; max: number };
  restartMs: { p50: number; p99: number; max: number };
  seconds: number;
  /** What went wrong, for a failing test's message. */
  problems: string[];
}

const SITE = 'local';
const BASE = 'hc/v1';

export async function runCentreCrash(options: CentreCrashOptions): Promise<CentreCrashResult> {
  const started = performance.now();
  const random = seededRandom(options.seed);
  const dir = mkdtempSync(join(tmpdir(), 'centre-crash-'));
  const broker = await startMosquitto();
  const gates: ColourGate[] = [];
  let centre: CentreProcess | null = null;
  const problems: string[] = [];
  try {
    const setup = await writeCentreConfig({ dataDir: dir, brokerUrl: broker.url, publisher: { heartbeatSeconds: 1, snapshotDelayMs: 200, keepChanges: 1_000_000 } });
    centre = await spawnCentre(setup.file);
    const keys = new TrustStore();
    keys.add(new X509Certificate(readFileSync(join(dir, SITE, 'centre.pem'))), 'centre');
    for (let i = 0; i < (options.gates ?? 2); i++) gates.push(await startColourGate({ url: broker.url, base: BASE, site: SITE, keys }));

    const stream = new BatchStream({ urls: () => [setup.url], site: SITE, token: setup.token, writers: options.writers ?? 2, random });
    const { answers } = stream;
    stream.start();
    const recoverMs: number[] = [];
    const restartMs: number[] = [];
    for (let k = 1; k <= options.kills && stream.writing; k++) {
      await pause(random() * options.windowMs);
      await centre.kill('SIGKILL');
      const killedAt = performance.now();
      const answeredBefore = answers.length;
      centre = await spawnCentre(setup.file);
      restartMs.push(centre.readyAt - killedAt);
      await until(`a batch answered after restart ${k}`, () => answers.length > answeredBefore || !stream.writing, 60_000);
      const next = answers.slice(answeredBefore).find((a) => a.at > killedAt);
      if (next) recoverMs.push(next.at - killedAt);
      if (k % 5 === 0 || k === options.kills) options.progress(`kill ${k}/${options.kills}: ${answers.length} batches answered, recovered in ${round(recoverMs.at(-1) ?? Number.NaN, 0)} ms`);
    }
    // A little more after the last start, then the stream stops and the gates must catch up.
    await stream.more(10);
    await stream.stop().catch((error: Error) => problems.push(`a writer failed: ${error.message}`));
    const seqs = stream.seqs();
    problems.push(...seqs.problems);
    await stream.gatesCaughtUp(gates).catch((error: Error) => problems.push(error.message));
    const report = stream.gateReport(gates);
    problems.push(...report.problems);
    let reused = seqs.problems.length + report.replayed;

    await centre.kill('SIGTERM');
    centre = null;
    const store = await openCentreStore({ sqlite: { path: join(dir, 'centre.db') } }, pino({ level: 'silent' }));
    let storeSeq = 0;
    try {
      const checked = await storeSeqProblems(store, SITE, seqs.bySeq.size);
      storeSeq = checked.storeSeq;
      reused += checked.problems.length;
      problems.push(...checked.problems);
    } finally {
      await store.close();
    }
    const stats = (xs: number[]) => ({ p50: round(percentile(xs, 50), 0), p99: round(percentile(xs, 99), 0), max: round(Math.max(...xs), 0) });
    return {
      seed: options.seed,
      kills: restartMs.length,
      batches: seqs.bySeq.size,
      changes: stream.changes,
      replayedAnswers: answers.filter((a) => a.replayed).length,
      retries: stream.retries,
      lost: report.lost,
      reused,
      outOfOrder: report.outOfOrder,
      bySnapshot: report.bySnapshot,
      refused: report.refused,
      storeSeq,
      recoverMs: stats(recoverMs),
      restartMs: stats(restartMs),
      seconds: round((performance.now() - started) / 1000, 1),
      problems: problems.slice(0, 20),
    };
  } finally {
    await centre?.kill('SIGKILL');
    for (const gate of gates) await gate.stop().catch(() => undefined);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
