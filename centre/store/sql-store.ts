/**
 * The centre's store, one set of queries for SQLite and PostgreSQL (Kysely;
 * what differs is record/dialects.ts, the tables migrations.ts).
 *
 * Every write of a site's list starts by taking the site's row
 * (`UPDATE centre_sites SET seq = seq + 1 … RETURNING seq`): in PostgreSQL
 * that row lock orders the site's batches across processes, so a seq is
 * given once and in commit order; in SQLite the one connection and the
 * file's write lock do the same. A batch id is looked up again under that
 * lock, so a retry racing its first attempt is answered as a replay.
 *
 * A baseline streams into a staging table first (centre_baseline_rows, under
 * a token of its own), outside any transaction, so that the site's writes and
 * look-ups go on while the rows arrive; one transaction then swaps the staged
 * list in and takes the seq. A failure before that leaves the old list and
 * the old seq, and the staged rows are dropped.
 *
 * What the publisher writes (published_seq, the snapshot's marks) is kept in
 * centre_publish, off that locked row: the publisher marks what the broker
 * took without waiting for the batches in flight. A batch's rows go in two
 * statements whatever their number (the count of new subjects, the upsert),
 * the rows passed as one JSON parameter (SQLite) or as column arrays
 * (PostgreSQL), so that neither builds nor parses a statement per few rows.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { flag } from '../../record/database.js';
import type { DialectRules } from '../../record/dialects.js';
import { CentreError } from '../errors.js';
import type { CentreDatabase, PublishTable, SitesTable, StatusesTable } from './database.js';
import { SqlOutbox } from './sql-outbox.js';
import type {
  AuditEntry,
  BatchInput,
  BatchResult,
  CentreStore,
  ChangeMessageRow,
  ColourEntry,
  Delivery,
  DeliveryKind,
  DeliveryState,
  SiteState,
  StatusRow,
} from './store.js';
import type { Colour } from '../../protocol/domain.js';
import { MAX_COLOUR_CHANGES } from '../../protocol/payloads/signed.js';

type Db = Kysely<CentreDatabase> | Transaction<CentreDatabase>;

/** Staged rows of a baseline that never finished (a crash mid-stream) are dropped at the next open after this long. */
const STALE_BASELINE_MS = 24 * 60 * 60 * 1000;
/** How long the baseline's swap may take in PostgreSQL (a million rows take seconds; the pool's default is 30 s). */
const BASELINE_SWAP_TIMEOUT = '15min';
/** Rows of a staged baseline per INSERT in PostgreSQL (stageColumns: five array parameters, whatever the count). */
const POSTGRES_STAGED_ROWS = 10_000;

type SiteRow = Selectable<SitesTable> & Omit<Selectable<PublishTable>, 'site'>;

function siteOf(row: SiteRow): SiteState {
  return {
    site: row.site, seq: row.seq, epoch: row.epoch, publishedSeq: row.published_seq, snapshotVersion: row.snapshot_version,
    snapshotSeq: row.snapshot_seq, statuses: row.statuses,
  };
}

function statusOf(row: Selectable<StatusesTable>): StatusRow {
  return {
    site: row.site, subject: row.subject, colour: row.colour as Colour, effectiveAt: row.effective_at, reason: row.reason, idHash: row.id_hash,
    seq: row.seq, storedAt: row.stored_at,
  };
}

/** An entry as a change message keeps it: reason and idHash only when given. */
function entryOf(entry: ColourEntry): ColourEntry {
  const kept: ColourEntry = { subject: entry.subject, colour: entry.colour, effectiveAt: entry.effectiveAt };
  if (entry.reason != null) kept.reason = entry.reason;
  if (entry.idHash != null) kept.idHash = entry.idHash;
  return kept;
}

/** One entry per subject, the last listed winning, in byte order of the subject (rows locked in one order, never a deadlock). */
function lastWins(entries: readonly ColourEntry[]): ColourEntry[] {
  const bySubject = new Map<string, ColourEntry>();
  for (const entry of entries) bySubject.set(entry.subject, entry);
  return [...bySubject.values()].sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Thrown inside a transaction to roll it back when the batch turns out to be stored already. */
class Replayed {
  constructor(readonly result: BatchResult) {}
}

const STATUS_COLUMNS = ['site', 'subject', 'colour', 'effective_at', 'reason', 'id_hash', 'seq', 'stored_at'] as const;

export class SqlCentreStore implements CentreStore {
  readonly kind: 'sqlite' | 'postgres';
  private readonly outbox: SqlOutbox;

  constructor(
    private readonly db: Kysely<CentreDatabase>,
    private readonly rules: DialectRules,
    /** Which database: the file, or the server's URL without its password. */
    readonly database: string,
  ) {
    this.kind = rules.kind;
    this.outbox = new SqlOutbox(db);
  }

  /** Drops what baselines that never finished left staged. */
  async dropStaleBaselines(now = Date.now()): Promise<number> {
    const result = await this.db.deleteFrom('centre_baseline_rows').where('started_at', '<', now - STALE_BASELINE_MS).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // --- sites -------------------------------------------------------------

  async site(site: string): Promise<SiteState> {
    // Read first: the insert that makes a site would wait, in PostgreSQL, for the lock a storing transaction holds on its row.
    const row = await this.siteRows(this.db).where('s.site', '=', site).executeTakeFirst();
    if (row) return siteOf(row);
    await this.ensureSite(this.db, site);
    return siteOf(await this.siteRows(this.db).where('s.site', '=', site).executeTakeFirstOrThrow());
  }

  async sites(): Promise<SiteState[]> {
    const rows = await this.siteRows(this.db).orderBy(this.rules.byteOrder('s.site')).execute();
    return rows.map(siteOf);
  }

  /** A site's counters with what the publisher marked (zero before its first mark). */
  private siteRows(db: Db) {
    return db
      .selectFrom('centre_sites as s')
      .leftJoin('centre_publish as p', 'p.site', 's.site')
      .select((eb) => [
        's.site', 's.seq', 's.epoch', 's.statuses',
        eb.fn.coalesce('p.published_seq', eb.lit(0)).as('published_seq'),
        eb.fn.coalesce('p.snapshot_version', eb.lit(0)).as('snapshot_version'),
        eb.fn.coalesce('p.snapshot_seq', eb.lit(0)).as('snapshot_seq'),
      ]);
  }

  private async ensureSite(db: Db, site: string): Promise<void> {
    await db
      .insertInto('centre_sites')
      .values({ site, seq: 0, epoch: 0, statuses: 0 })
      .onConflict((oc) => oc.column('site').doNothing())
      .execute();
  }

  /** Takes the site's row (and its lock, until the commit) and the next seq. */
  private async nextSeq(trx: Transaction<CentreDatabase>, site: string): Promise<{ seq: number; epoch: number }> {
    const take = () =>
      trx
        .updateTable('centre_sites')
        .set((eb) => ({ seq: eb('seq', '+', 1) }))
        .where('site', '=', site)
        .returning(['seq', 'epoch'])
        .executeTakeFirst();
    const taken = await take();
    if (taken) return taken;
    // The site's first write: its row is made, then taken.
    await this.ensureSite(trx, site);
    const made = await take();
    if (!made) throw new CentreError('store-unavailable', `store: the counters of site ${site} could not be made`);
    return made;
  }

  // --- batches -----------------------------------------------------------

  /** The batch's first result if its id is stored with the same digest; batch-conflict if with another; null if new. */
  private async storedBatch(db: Db, input: Omit<BatchInput, 'changes'>): Promise<BatchResult | null> {
    const row = await db.selectFrom('centre_batches').selectAll().where('site', '=', input.site).where('batch_id', '=', input.batchId).executeTakeFirst();
    if (!row) return null;
    if (row.digest !== input.digest) {
      throw new CentreError('batch-conflict', `batch ${input.batchId} of site ${input.site} was stored (seq ${row.seq}) with other content`);
    }
    return { site: row.site, batchId: row.batch_id, seq: row.seq, rows: row.rows, storedAt: row.stored_at, replayed: true };
  }

  private async recordBatch(trx: Transaction<CentreDatabase>, input: Omit<BatchInput, 'changes'>, kind: 'changes' | 'baseline', epoch: number, seq: number, rows: number, storedAt: number): Promise<BatchResult> {
    await trx
      .insertInto('centre_batches')
      .values({ site: input.site, batch_id: input.batchId, digest: input.digest, client: input.client, kind, epoch, seq, rows, stored_at: storedAt })
      .execute();
    return { site: input.site, batchId: input.batchId, seq, rows, storedAt, replayed: false };
  }

  /** Runs a storing transaction under the site's lock; a batch found stored by then answers as a replay. */
  private async storing(input: Omit<BatchInput, 'changes'>, store: (trx: Transaction<CentreDatabase>, seq: number, epoch: number) => Promise<BatchResult>): Promise<BatchResult> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const { seq, epoch } = await this.nextSeq(trx, input.site);
        const again = await this.storedBatch(trx, input);
        if (again) throw new Replayed(again);
        return store(trx, seq, epoch);
      });
    } catch (error) {
      if (error instanceof Replayed) return error.result;
      throw error;
    }
  }

  async applyBatch(input: BatchInput, issuedAt: number): Promise<BatchResult> {
    // One batch is one change message, which a gate refuses beyond this many changes.
    if (input.changes.length > MAX_COLOUR_CHANGES) {
      throw new CentreError('batch-too-large', `batch ${input.batchId} of site ${input.site}: ${input.changes.length} changes, at most ${MAX_COLOUR_CHANGES} in one change message`);
    }
    // A retry is answered without taking the site's lock; the lock's own check settles a race with the first attempt.
    const earlier = await this.storedBatch(this.db, input);
    if (earlier) return earlier;
    const entries = lastWins(input.changes);
    return this.storing(input, async (trx, seq, epoch) => {
      const storedAt = Date.now();
      const added = entries.length - (await this.knownSubjects(trx, input.site, entries));
      await this.upsertStatuses(trx, input.site, entries, seq, storedAt);
      await trx
        .insertInto('centre_changes')
        .values({ site: input.site, epoch, seq, issued_at: issuedAt, baseline: false, changes: JSON.stringify(entries.map(entryOf)) })
        .execute();
      if (added > 0) await trx.updateTable('centre_sites').set((eb) => ({ statuses: eb('statuses', '+', added) })).where('site', '=', input.site).execute();
      return this.recordBatch(trx, input, 'changes', epoch, seq, input.changes.length, storedAt);
    });
  }

  /** How many of the (distinct) subjects the site has a status for already. */
  private async knownSubjects(trx: Transaction<CentreDatabase>, site: string, entries: ColourEntry[]): Promise<number> {
    const subjects = entries.map((e) => e.subject);
    const counted =
      this.rules.kind === 'postgres'
        ? sql<{ n: number }>`SELECT count(*) AS n FROM centre_statuses WHERE site = ${site} AND subject = ANY(CAST(${subjects} AS TEXT[]))`
        : sql<{ n: number }>`SELECT count(*) AS n FROM centre_statuses WHERE site = ${site} AND subject IN (SELECT value FROM json_each(${JSON.stringify(subjects)}))`;
    const { rows } = await counted.execute(trx);
    return Number(rows[0]?.n ?? 0);
  }

  /** Writes the entries (distinct subjects, in byte order: rows locked in one order) at `seq`, in one statement. */
  private async upsertStatuses(trx: Transaction<CentreDatabase>, site: string, entries: ColourEntry[], seq: number, storedAt: number): Promise<void> {
    if (this.rules.kind === 'postgres') {
      const column = <T>(of: (entry: ColourEntry) => T): T[] => entries.map(of);
      await sql`
        INSERT INTO centre_statuses (site, subject, colour, effective_at, reason, id_hash, seq, stored_at)
        SELECT CAST(${site} AS TEXT), r.subject, r.colour, r.effective_at, r.reason, r.id_hash, CAST(${seq} AS BIGINT), CAST(${storedAt} AS BIGINT)
        FROM unnest(
          CAST(${column((e) => e.subject)} AS TEXT[]), CAST(${column((e) => e.colour)} AS TEXT[]), CAST(${column((e) => e.effectiveAt)} AS BIGINT[]),
          CAST(${column((e) => e.reason ?? null)} AS TEXT[]), CAST(${column((e) => e.idHash ?? null)} AS TEXT[])
        ) AS r(subject, colour, effective_at, reason, id_hash)
        ON CONFLICT (site, subject) DO UPDATE SET
          colour = excluded.colour, effective_at = excluded.effective_at, reason = excluded.reason, id_hash = excluded.id_hash,
          seq = excluded.seq, stored_at = excluded.stored_at`.execute(trx);
      return;
    }
    // One JSON array of [subject, colour, effectiveAt, reason, idHash] rows, read by json_each in its order (the
    // statement's text never changes, so it is prepared once). `WHERE true`: SQLite's rule for an upsert from a SELECT.
    const rows = JSON.stringify(entries.map((e) => [e.subject, e.colour, e.effectiveAt, e.reason ?? null, e.idHash ?? null]));
    await sql`
      INSERT INTO centre_statuses (site, subject, colour, effective_at, reason, id_hash, seq, stored_at)
      SELECT ${site}, r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, ${seq}, ${storedAt}
      FROM json_each(${rows}) AS r WHERE true
      ON CONFLICT (site, subject) DO UPDATE SET
        colour = excluded.colour, effective_at = excluded.effective_at, reason = excluded.reason, id_hash = excluded.id_hash,
        seq = excluded.seq, stored_at = excluded.stored_at`.execute(trx);
  }

  async replaceBaseline(input: Omit<BatchInput, 'changes'>, rows: AsyncIterable<ColourEntry[]>, issuedAt: number, onProgress?: (rows: number) => void): Promise<BatchResult> {
    const earlier = await this.storedBatch(this.db, input);
    if (earlier) return earlier;
    const token = randomUUID();
    const startedAt = Date.now();
    let taken = 0;
    try {
      for await (const chunk of rows) {
        // A chunk in one transaction: one commit for its statements, not one each.
        const entries = lastWins(chunk);
        await this.db.transaction().execute(async (trx) => {
          if (this.rules.kind === 'postgres') for (const part of chunks(entries, POSTGRES_STAGED_ROWS)) await this.stageColumns(trx, token, startedAt, part);
          else for (const part of chunks(entries, this.rules.rowsPerBatch)) await this.stage(trx, token, startedAt, part);
        });
        taken += chunk.length;
        onProgress?.(taken);
      }
      return await this.storing(input, async (trx, seq, epoch) => {
        if (this.rules.kind === 'postgres') await sql`SET LOCAL statement_timeout = ${sql.lit(BASELINE_SWAP_TIMEOUT)}`.execute(trx);
        const storedAt = Date.now();
        await trx.deleteFrom('centre_statuses').where('site', '=', input.site).execute();
        const inserted = await trx
          .insertInto('centre_statuses')
          .columns([...STATUS_COLUMNS])
          .expression((eb) =>
            eb
              .selectFrom('centre_baseline_rows')
              .select([
                sql<string>`CAST(${input.site} AS TEXT)`.as('site'), 'subject', 'colour', 'effective_at', 'reason', 'id_hash',
                sql<number>`CAST(${seq} AS BIGINT)`.as('seq'), sql<number>`CAST(${storedAt} AS BIGINT)`.as('stored_at'),
              ])
              .where('token', '=', token),
          )
          .executeTakeFirst();
        await trx.deleteFrom('centre_baseline_rows').where('token', '=', token).execute();
        await trx.insertInto('centre_changes').values({ site: input.site, epoch, seq, issued_at: issuedAt, baseline: true, changes: '[]' }).execute();
        await trx.updateTable('centre_sites').set({ statuses: Number(inserted.numInsertedOrUpdatedRows ?? 0n) }).where('site', '=', input.site).execute();
        return this.recordBatch(trx, input, 'baseline', epoch, seq, taken, storedAt);
      });
    } finally {
      // Committed or not, the staged rows are done with (the swap deleted them already when it committed).
      await this.db.deleteFrom('centre_baseline_rows').where('token', '=', token).execute().catch(() => {});
    }
  }

  /** Stages deduplicated rows; a subject staged by an earlier chunk is overwritten (the last wins). */
  private async stage(trx: Transaction<CentreDatabase>, token: string, startedAt: number, entries: ColourEntry[]): Promise<void> {
    await trx
      .insertInto('centre_baseline_rows')
      .values(entries.map((e) => ({ token, started_at: startedAt, subject: e.subject, colour: e.colour, effective_at: e.effectiveAt, reason: e.reason ?? null, id_hash: e.idHash ?? null })))
      .onConflict((oc) =>
        oc.columns(['token', 'subject']).doUpdateSet((eb) => ({
          colour: eb.ref('excluded.colour'), effective_at: eb.ref('excluded.effective_at'), reason: eb.ref('excluded.reason'), id_hash: eb.ref('excluded.id_hash'),
        })),
      )
      .execute();
  }

  /**
   * PostgreSQL's way to stage many rows in one statement: each column as one array parameter, unnested into rows
   * (a statement of thousands of rows' values would be as many parameters, each parsed and planned).
   */
  private async stageColumns(trx: Transaction<CentreDatabase>, token: string, startedAt: number, entries: ColourEntry[]): Promise<void> {
    const column = <T>(of: (entry: ColourEntry) => T): T[] => entries.map(of);
    await sql`
      INSERT INTO centre_baseline_rows (token, started_at, subject, colour, effective_at, reason, id_hash)
      SELECT CAST(${token} AS TEXT), CAST(${startedAt} AS BIGINT), r.subject, r.colour, r.effective_at, r.reason, r.id_hash
      FROM unnest(
        CAST(${column((e) => e.subject)} AS TEXT[]), CAST(${column((e) => e.colour)} AS TEXT[]), CAST(${column((e) => e.effectiveAt)} AS BIGINT[]),
        CAST(${column((e) => e.reason ?? null)} AS TEXT[]), CAST(${column((e) => e.idHash ?? null)} AS TEXT[])
      ) AS r(subject, colour, effective_at, reason, id_hash)
      ON CONFLICT (token, subject) DO UPDATE SET
        colour = excluded.colour, effective_at = excluded.effective_at, reason = excluded.reason, id_hash = excluded.id_hash`.execute(trx);
  }

  // --- statuses ----------------------------------------------------------

  async status(site: string, subject: string): Promise<StatusRow | null> {
    const row = await this.db.selectFrom('centre_statuses').selectAll().where('site', '=', site).where('subject', '=', subject).executeTakeFirst();
    return row ? statusOf(row) : null;
  }

  async statusByIdHash(site: string, idHash: string): Promise<StatusRow | null> {
    // `id_hash IS NOT NULL` repeated so the planner may use the partial index; the newest write wins if two subjects share a hash.
    const row = await this.db
      .selectFrom('centre_statuses')
      .selectAll()
      .where('site', '=', site)
      .where('id_hash', '=', idHash)
      .where('id_hash', 'is not', null)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? statusOf(row) : null;
  }

  async *statuses(site: string, chunkRows = 10_000): AsyncIterable<StatusRow[]> {
    let after: string | null = null;
    for (;;) {
      const rows: Selectable<StatusesTable>[] = await this.db
        .selectFrom('centre_statuses')
        .selectAll()
        .where('site', '=', site)
        .$if(after !== null, (q) => q.where('subject', '>', after!))
        .orderBy('subject')
        .limit(chunkRows)
        .execute();
      if (rows.length === 0) return;
      yield rows.map(statusOf);
      if (rows.length < chunkRows) return;
      after = rows[rows.length - 1]!.subject;
    }
  }

  // --- change messages ---------------------------------------------------

  async changesAfter(site: string, seq: number, limit: number): Promise<ChangeMessageRow[]> {
    const { epoch } = await this.site(site);
    const rows = await this.db
      .selectFrom('centre_changes')
      .selectAll()
      .where('site', '=', site)
      .where('epoch', '=', epoch)
      .where('seq', '>', seq)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      site: row.site, epoch: row.epoch, seq: row.seq, issuedAt: row.issued_at, baseline: flag(row.baseline), changes: JSON.parse(row.changes) as ColourEntry[],
    }));
  }

  async markPublished(site: string, seq: number): Promise<void> {
    await this.db
      .insertInto('centre_publish')
      .values({ site, published_seq: seq, snapshot_version: 0, snapshot_seq: 0 })
      .onConflict((oc) => oc.column('site').doUpdateSet({ published_seq: seq }).where('centre_publish.published_seq', '<', seq))
      .execute();
  }

  async markSnapshot(site: string, version: number, seq: number): Promise<void> {
    await this.db
      .insertInto('centre_publish')
      .values({ site, published_seq: 0, snapshot_version: version, snapshot_seq: seq })
      .onConflict((oc) =>
        oc
          .column('site')
          .doUpdateSet({ snapshot_version: version, snapshot_seq: seq })
          .where('centre_publish.snapshot_version', '<', version)
          .where('centre_publish.snapshot_seq', '<=', seq),
      )
      .execute();
  }

  async raiseEpoch(site: string): Promise<SiteState> {
    return this.db.transaction().execute(async (trx) => {
      await this.ensureSite(trx, site);
      // The new epoch's seqs count from its own start; the snapshot version goes on, so a gate takes the next snapshot as newer.
      const row = await trx
        .updateTable('centre_sites')
        .set((eb) => ({ epoch: eb('epoch', '+', 1), seq: 0 }))
        .where('site', '=', site)
        .returning(['epoch'])
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('centre_publish')
        .values({ site, published_seq: 0, snapshot_version: 0, snapshot_seq: 0 })
        .onConflict((oc) => oc.column('site').doUpdateSet({ published_seq: 0, snapshot_seq: 0 }))
        .execute();
      await trx.deleteFrom('centre_changes').where('site', '=', site).where('epoch', '<', row.epoch).execute();
      return siteOf(await this.siteRows(trx).where('s.site', '=', site).executeTakeFirstOrThrow());
    });
  }

  async pruneChanges(site: string, seq: number, keep: number): Promise<number> {
    const state = await this.site(site);
    const upTo = Math.min(seq, state.seq - keep);
    if (upTo < 1) return 0;
    const result = await this.db.deleteFrom('centre_changes').where('site', '=', site).where('epoch', '=', state.epoch).where('seq', '<=', upTo).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // --- audit and deliveries (sql-outbox.ts) --------------------------------

  audit(entry: AuditEntry): Promise<void> {
    return this.outbox.audit(entry);
  }
  auditTrail(options: { since?: number; client?: string; limit: number }): Promise<AuditEntry[]> {
    return this.outbox.auditTrail(options);
  }
  enqueueDelivery(delivery: Pick<Delivery, 'id' | 'kind' | 'site' | 'lane' | 'body' | 'receivedAt'>): Promise<boolean> {
    return this.outbox.enqueueDelivery(delivery);
  }
  dueDeliveries(now: number, limit: number): Promise<Delivery[]> {
    return this.outbox.dueDeliveries(now, limit);
  }
  markDelivered(id: string, at: number): Promise<void> {
    return this.outbox.markDelivered(id, at);
  }
  markAttemptFailed(id: string, error: string, nextAttemptAt: number): Promise<void> {
    return this.outbox.markAttemptFailed(id, error, nextAttemptAt);
  }
  markAlarmed(id: string, at: number): Promise<void> {
    return this.outbox.markAlarmed(id, at);
  }
  delivery(id: string): Promise<Delivery | null> {
    return this.outbox.delivery(id);
  }
  deliveries(options: { site?: string; state?: DeliveryState; kind?: DeliveryKind; limit: number }): Promise<Delivery[]> {
    return this.outbox.deliveries(options);
  }
  overdueDeliveries(receivedBefore: number, limit: number): Promise<Delivery[]> {
    return this.outbox.overdueDeliveries(receivedBefore, limit);
  }
}
