/**
 * A platform's stream of colour batches for the centre's reliability tests,
 * and the checks of what became of it: writers (each on subjects of its own,
 * one batch at a time) send until each batch is answered 2xx, sending again
 * with the same batch id (sendUntilStored); what they were answered is
 * checked against what the gates applied and what the store holds.
 *
 * The checks: no seq given to two batches; every seq answered reached every
 * gate, by its change message or within a snapshot the gate applied, the
 * change messages in seq order; every subject's colour at every gate is the
 * last one answered; no gate refused a message as replayed; the store holds
 * the change messages 1..N, once each, N the number of batches answered.
 */
import type { CentreStore } from '../../centre/store/store.js';
import type { ColourGate } from './colour-gate.js';
import { sendUntilStored, type StoredAnswer } from './centre-spawn.js';
import { pause, until } from './wait.js';

const COLOURS = ['green', 'yellow', 'red'] as const;

export interface BatchStreamOptions {
  urls: () => readonly string[];
  site: string;
  token: string;
  writers?: number;
  subjectsPerWriter?: number;
  /** Seeded by the benchmark; default Math.random. */
  random?: () => number;
  pauseMs?: number;
}

export class BatchStream {
  readonly answers: StoredAnswer[] = [];
  /** The colour last answered 2xx per subject, and its seq. */
  readonly expected = new Map<string, { colour: string; seq: number }>();
  /** Why requests were not answered 2xx (status and code, or the connection's error), counted. */
  readonly refusals = new Map<string, number>();
  changes = 0;
  retries = 0;
  #writing = false;
  #done: Promise<void> = Promise.resolve();
  #failure: Error | null = null;

  constructor(private readonly options: BatchStreamOptions) {}

  get writing(): boolean {
    return this.#writing;
  }

  start(): void {
    this.#writing = true;
    const random = this.options.random ?? Math.random;
    const subjects = this.options.subjectsPerWriter ?? 40;
    const writer = async (w: number): Promise<void> => {
      for (let n = 0; this.#writing; n++) {
        const count = 1 + Math.floor(random() * 20);
        const batch = {
          batchId: `w${w}-b${n}`,
          changes: Array.from({ length: count }, () => ({ subject: `w${w}-s${Math.floor(random() * subjects)}`, colour: COLOURS[Math.floor(random() * 3)]!, effectiveAt: Date.now() })),
        };
        const answer = await sendUntilStored(this.options.urls, this.options.site, this.options.token, batch, {
          onRefused: (why) => {
            this.retries++;
            this.refusals.set(why, (this.refusals.get(why) ?? 0) + 1);
          },
        });
        this.answers.push(answer);
        this.changes += count;
        for (const c of batch.changes) this.expected.set(c.subject, { colour: c.colour, seq: answer.seq });
        await pause(this.options.pauseMs ?? 20);
      }
    };
    this.#done = Promise.all(Array.from({ length: this.options.writers ?? 2 }, (_, w) => writer(w))).then(
      () => undefined,
      (error: Error) => {
        this.#writing = false;
        this.#failure = error;
      },
    );
  }

  /** Waits until `more` batches beyond those answered now are answered. */
  async more(more: number, timeoutMs = 60_000): Promise<void> {
    const target = this.answers.length + more;
    await until(`${more} more batches answered`, () => this.answers.length >= target || this.#failure !== null, timeoutMs);
    if (this.#failure) throw this.#failure;
  }

  /** Stops the writers after the batch each is sending; rejects if one gave up. */
  async stop(): Promise<void> {
    this.#writing = false;
    await this.#done;
    if (this.#failure) throw this.#failure;
  }

  /** Each seq answered, with its batch; a seq answered for two batches is a problem. */
  seqs(): { bySeq: Map<number, string>; maxSeq: number; problems: string[] } {
    const bySeq = new Map<number, string>();
    const problems: string[] = [];
    for (const a of this.answers) {
      const other = bySeq.get(a.seq);
      if (other !== undefined && other !== a.batchId) problems.push(`seq ${a.seq} answered for ${other} and ${a.batchId}`);
      bySeq.set(a.seq, a.batchId);
    }
    return { bySeq, maxSeq: Math.max(0, ...bySeq.keys()), problems };
  }

  /** Waits until every gate is at the last seq answered with every colour answered. */
  async gatesCaughtUp(gates: readonly ColourGate[], timeoutMs = 60_000): Promise<void> {
    const { maxSeq } = this.seqs();
    await until(
      `every gate at seq ${maxSeq} with every colour answered 2xx`,
      () => gates.every((g) => (g.sync.lastSeq ?? 0) >= maxSeq && !g.sync.resyncPending && [...this.expected].every(([s, e]) => g.colourOf(s) === e.colour)),
      timeoutMs,
    ).catch((error: Error) => {
      throw new Error(`${error.message}: gates at ${gates.map((g) => `${g.sync.lastSeq}${g.sync.resyncPending ? ' (gap)' : ''}`).join(', ')}`);
    });
  }

  /** What the gates applied against what was answered. */
  gateReport(gates: readonly ColourGate[]): { lost: number; outOfOrder: number; bySnapshot: number; replayed: number; refused: Record<string, number>; problems: string[] } {
    const { bySeq } = this.seqs();
    const report = { lost: 0, outOfOrder: 0, bySnapshot: 0, replayed: 0, refused: {} as Record<string, number>, problems: [] as string[] };
    gates.forEach((gate, i) => {
      const viaChange = new Set<number>();
      let last = 0;
      for (const applied of gate.applied) {
        if (applied.via !== 'change') continue;
        if (applied.seq <= last) {
          report.outOfOrder++;
          report.problems.push(`gate ${i} applied seq ${applied.seq} after ${last}`);
        }
        last = Math.max(last, applied.seq);
        viaChange.add(applied.seq);
      }
      const snapshotSeqs = gate.applied.filter((a) => a.via === 'snapshot').map((a) => a.seq);
      for (const seq of bySeq.keys()) {
        if (viaChange.has(seq)) continue;
        if (snapshotSeqs.some((s) => s >= seq)) report.bySnapshot++;
        else {
          report.lost++;
          report.problems.push(`gate ${i} never got seq ${seq}`);
        }
      }
      for (const [subject, e] of this.expected) {
        if (gate.colourOf(subject) !== e.colour) {
          report.lost++;
          report.problems.push(`gate ${i}: ${subject} is ${gate.colourOf(subject)}, answered ${e.colour} at seq ${e.seq}`);
        }
      }
      for (const r of gate.refused) {
        report.refused[r.kind] = (report.refused[r.kind] ?? 0) + 1;
        if (r.kind === 'replayed') {
          report.replayed++;
          report.problems.push(`gate ${i} refused as replayed: ${r.message}`);
        }
      }
    });
    return report;
  }
}

/**
 * The store's change messages must be 1..answered, once each; with
 * `prunedBelowSnapshot` (a small keepChanges) the oldest may be pruned, the
 * rest still consecutive up to the last.
 */
export async function storeSeqProblems(store: CentreStore, site: string, answered: number, prunedBelowSnapshot = false): Promise<{ storeSeq: number; problems: string[] }> {
  const problems: string[] = [];
  const storeSeq = (await store.site(site)).seq;
  const rows = await store.changesAfter(site, 0, 10_000_000);
  const first = prunedBelowSnapshot ? (rows[0]?.seq ?? storeSeq + 1) : 1;
  rows.forEach((row, i) => {
    if (row.seq !== first + i) problems.push(`the store's change message ${i} has seq ${row.seq}, not ${first + i}`);
  });
  if (first + rows.length - 1 !== storeSeq || storeSeq !== answered) problems.push(`the store holds ${rows.length} change messages from seq ${first} up to seq ${storeSeq}; ${answered} batches were answered`);
  return { storeSeq, problems: problems.slice(0, 10) };
}
