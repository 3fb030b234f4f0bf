/**
 * A CentreStore in memory, for the publisher's and the look-ups' tests while
 * the SQL store is not there to use: the parts of the contract they read
 * (counters, batches as change messages with one seq each, baselines,
 * statuses, publishedSeq, snapshot version, pruning). The delivery and audit
 * methods are not needed and refuse.
 */
import type { BatchInput, BatchResult, CentreStore, ChangeMessageRow, ColourEntry, SiteState, StatusRow } from '../../centre/store/store.js';

interface Site {
  state: SiteState;
  statuses: Map<string, StatusRow>;
  changes: ChangeMessageRow[];
}

export class MemoryCentreStore implements CentreStore {
  readonly kind = 'sqlite' as const;
  private readonly data = new Map<string, Site>();

  private get(site: string): Site {
    let entry = this.data.get(site);
    if (!entry) {
      entry = { state: { site, seq: 0, epoch: 0, publishedSeq: 0, snapshotVersion: 0, snapshotSeq: 0, statuses: 0 }, statuses: new Map(), changes: [] };
      this.data.set(site, entry);
    }
    return entry;
  }

  async site(site: string): Promise<SiteState> {
    const entry = this.get(site);
    return { ...entry.state, statuses: entry.statuses.size };
  }

  async sites(): Promise<SiteState[]> {
    return Promise.all([...this.data.keys()].map((site) => this.site(site)));
  }

  async applyBatch(input: BatchInput, issuedAt: number): Promise<BatchResult> {
    const entry = this.get(input.site);
    const seq = ++entry.state.seq;
    const storedAt = Date.now();
    for (const change of input.changes) entry.statuses.set(change.subject, { ...change, site: input.site, seq, storedAt });
    entry.changes.push({ site: input.site, epoch: entry.state.epoch, seq, issuedAt, baseline: false, changes: input.changes.map((c) => ({ ...c })) });
    return { site: input.site, batchId: input.batchId, seq, rows: input.changes.length, storedAt, replayed: false };
  }

  async replaceBaseline(input: Omit<BatchInput, 'changes'>, rows: AsyncIterable<ColourEntry[]>, issuedAt: number): Promise<BatchResult> {
    const entry = this.get(input.site);
    const all: ColourEntry[] = [];
    for await (const chunk of rows) all.push(...chunk);
    const seq = ++entry.state.seq;
    const storedAt = Date.now();
    entry.statuses = new Map(all.map((c) => [c.subject, { ...c, site: input.site, seq, storedAt }]));
    entry.changes.push({ site: input.site, epoch: entry.state.epoch, seq, issuedAt, baseline: true, changes: [] });
    return { site: input.site, batchId: input.batchId, seq, rows: all.length, storedAt, replayed: false };
  }

  async status(site: string, subject: string): Promise<StatusRow | null> {
    return this.get(site).statuses.get(subject) ?? null;
  }

  async statusByIdHash(site: string, idHash: string): Promise<StatusRow | null> {
    for (const row of this.get(site).statuses.values()) if (row.idHash === idHash) return row;
    return null;
  }

  async *statuses(site: string, chunkRows = 1000): AsyncIterable<StatusRow[]> {
    const rows = [...this.get(site).statuses.values()];
    for (let i = 0; i < rows.length; i += chunkRows) yield rows.slice(i, i + chunkRows);
  }

  async changesAfter(site: string, seq: number, limit: number): Promise<ChangeMessageRow[]> {
    return this.get(site)
      .changes.filter((c) => c.seq > seq)
      .slice(0, limit);
  }

  async markPublished(site: string, seq: number): Promise<void> {
    const state = this.get(site).state;
    state.publishedSeq = Math.max(state.publishedSeq, seq);
  }

  async markSnapshot(site: string, version: number, seq: number): Promise<void> {
    const state = this.get(site).state;
    state.snapshotVersion = Math.max(state.snapshotVersion, version);
    state.snapshotSeq = Math.max(state.snapshotSeq, seq);
  }

  async raiseEpoch(site: string): Promise<SiteState> {
    this.get(site).state.epoch++;
    return this.site(site);
  }

  async pruneChanges(site: string, seq: number, keep: number): Promise<number> {
    const entry = this.get(site);
    const before = entry.changes.length;
    const keepFrom = Math.max(0, before - keep);
    entry.changes = entry.changes.filter((c, index) => c.seq > seq || index >= keepFrom);
    return before - entry.changes.length;
  }

  async close(): Promise<void> {}

  audit(): Promise<void> {
    return refuse();
  }
  auditTrail(): Promise<never> {
    return refuse();
  }
  enqueueDelivery(): Promise<boolean> {
    return refuse();
  }
  dueDeliveries(): Promise<never> {
    return refuse();
  }
  markDelivered(): Promise<void> {
    return refuse();
  }
  markAttemptFailed(): Promise<void> {
    return refuse();
  }
  markAlarmed(): Promise<void> {
    return refuse();
  }
  delivery(): Promise<never> {
    return refuse();
  }
  deliveries(): Promise<never> {
    return refuse();
  }
  overdueDeliveries(): Promise<never> {
    return refuse();
  }
}

function refuse(): Promise<never> {
  return Promise.reject(new Error('MemoryCentreStore keeps no deliveries or audit trail'));
}
