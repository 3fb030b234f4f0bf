/**
 * Keeps the gate's pushed colours in step with the centre: signed, sequenced changes are applied in order, a gap in the
 * sequence asks for a resync from the signed, versioned snapshot, and a gate
 * that has not heard from the centre for colour.maxSyncAgeSeconds is
 * degraded.
 *
 * Every message refused throws MessageError (the link turns it into a
 * security event) and leaves the store as it was.
 *
 * Choices:
 * - A change-topic message identical to one of the last few accepted is a
 *   QoS 1 redelivery: dropped quietly, with no effect and no security event.
 *   Any other message at or below the applied seq is 'replayed'.
 * - A change at or below a snapshot's seq that no change message brought yet
 *   crossed the snapshot on the way (two topics, no order between them):
 *   it is covered, so dropped quietly too.
 * - The sync time is the newest accepted message's issuedAt (centre clock),
 *   never later than its arrival: a queued heartbeat or an old retained
 *   snapshot delivered late does not make a cut-off gate look synced.
 * - A snapshot is the centre's whole list as of its seq: statuses it no
 *   longer lists (at or before that seq) are removed from the store.
 * - Epochs (docs/keys.md): a message of a higher epoch than the gate's (absent
 *   is 0) starts the sequence again: the gate forgets where it stood, takes
 *   the new epoch's seq as it comes and resyncs from the snapshot; a message
 *   of a lower epoch is 'replayed'. The epoch is kept in the store.
 * - The sync time is kept in the store, so a restart measures the age from
 *   the last word heard, not from the restart. A gate that never heard from
 *   the centre is allowed maxSyncAgeSeconds from its first start (kept in the
 *   store too), once: restarting does not grant that time again.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ColourConfig } from '../../protocol/config/gate-schema.js';
import type { TrustStore } from '../../protocol/trust/trust-store.js';
import { MessageError } from '../../protocol/message-error.js';
import { openLeafMessage, type VerifiedSignatures } from '../../protocol/signed-message.js';
import type { ColourStatusStore, SyncState } from './status-store.js';

export interface ColourSyncOptions {
  store: ColourStatusStore;
  /** The centre's signing certificates; null: every message is refused. */
  keys: TrustStore | null;
  site: string;
  config: ColourConfig;
  /** Epoch ms; injected by tests. */
  now?: () => number;
  logger: Logger;
  /** How far in the future an issuedAt may lie (clocks differ); default 60 s. */
  clockSkewMs?: number;
  /** Shared by the lanes of one process, so a centre message is verified once (see VerifiedSignatures). */
  verifiedSignatures?: VerifiedSignatures;
  /** How often the degraded state is checked; default 1 s. */
  checkIntervalMs?: number;
}

export interface ChangeOutcome {
  /** applied: a new seq; heartbeat: the sync time refreshed; duplicate / covered: dropped, nothing changed. */
  kind: 'applied' | 'heartbeat' | 'duplicate' | 'covered';
  /** Statuses written (a subject already known at a later seq keeps its own). */
  applied: number;
  /** The message's seq. */
  seq: number;
  /** The message showed changes are missing: a resync was requested. */
  gap: boolean;
}

export interface SnapshotOutcome {
  version: number;
  seq: number;
  applied: number;
  /** Statuses the snapshot no longer lists, removed. */
  removed: number;
  /** It covered a gap, which is now closed. */
  gapClosed: boolean;
}

export interface ColourSyncEvents {
  /** Changes are missing up to `missingUpTo`: read the retained snapshot again. */
  resync: [info: { seq: number | null; missingUpTo: number }];
  degraded: [info: { syncAgeMs: number | null }];
  synced: [info: { syncAgeMs: number | null }];
  /**
   * A change (new seq) or a new snapshot is stored and in force: its seq, the
   * centre's issuedAt, when it was applied (epoch ms) and statuses written.
   * Heartbeats, redeliveries and covered changes apply nothing and say nothing.
   */
  applied: [info: AppliedInfo];
}

export interface AppliedInfo {
  via: 'change' | 'snapshot';
  seq: number;
  issuedAt: number;
  appliedAt: number;
  changes: number;
}

/** While a gap stays open the retained snapshot is read again after 10 s, then 20, 40, 60, 60... */
const RESYNC_FIRST_RETRY_MS = 10_000;
const RESYNC_MAX_RETRY_MS = 60_000;

/** Enough to recognise a redelivery among the last few messages. */
const RECENT_DIGESTS = 16;

export class ColourSync extends EventEmitter<ColourSyncEvents> {
  private readonly store: ColourStatusStore;
  private readonly now: () => number;
  private readonly log: Logger;
  private config: ColourConfig;
  private readonly skewMs: number;
  /** The gate's first start ever (the store keeps it): "never heard from" counts from here. */
  private readonly firstStartAt: number;
  private readonly timer: NodeJS.Timeout;
  private isDegraded: boolean;
  /** When the open gap (if any) was found; a restart counts from its start. */
  private gapSince: number | null;
  private nextResyncAt = 0;
  private resyncDelayMs = RESYNC_FIRST_RETRY_MS;

  constructor(private readonly options: ColourSyncOptions) {
    super();
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ part: 'colour-sync' });
    this.config = options.config;
    this.skewMs = options.clockSkewMs ?? 60_000;
    const startedAt = this.now();
    this.firstStartAt = this.store.firstStart(startedAt);
    this.gapSince = this.store.sync.gapUpTo === null ? null : startedAt;
    // The state a restart finds is the state it starts in, without an event: nobody listens yet.
    this.isDegraded = this.evaluate();
    this.timer = setInterval(() => this.check(), options.checkIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** A message from `<base>/<site>/colour/change`. */
  acceptChange(raw: Buffer | string): ChangeOutcome {
    const message = openLeafMessage(raw, 'colour/change', this.options.keys, this.options.verifiedSignatures);
    this.checkSite(message.site);
    const digest = digestOf(message);
    if (this.store.sync.recentDigests.includes(digest)) {
      return { kind: 'duplicate', applied: 0, seq: message.seq, gap: false };
    }
    this.checkNotFuture(message.issuedAt);
    const newEpoch = this.enterEpoch(message.epoch ?? 0, `colour change seq ${message.seq}`);
    const sync = this.store.sync;
    const now = this.now();
    const recentDigests = [...sync.recentDigests, digest].slice(-RECENT_DIGESTS);
    const syncedAt = this.syncTime(sync, message.issuedAt, now);
    const issuedAt = Math.max(sync.issuedAt ?? 0, message.issuedAt);

    if (sync.seq === null || message.seq > sync.seq) {
      // Before any snapshot the first seq is taken as it comes; what came before it is a gap.
      const missingFrom = sync.seq === null ? 1 : sync.seq + 1;
      // A heartbeat ahead of us names a change we never got: that seq itself is missing.
      const heartbeatAhead = message.changes.length === 0;
      // A new epoch is read from its snapshot whatever its first seq: the statuses kept are the old epoch's.
      const gap = newEpoch || heartbeatAhead || message.seq > missingFrom;
      const gapUpTo = gap ? Math.max(sync.gapUpTo ?? 0, heartbeatAhead ? message.seq : message.seq - 1) : sync.gapUpTo;
      // Last one wins when a message lists a subject twice.
      const bySubject = new Map(message.changes.map((c) => [c.sub, c] as const));
      const changes = [...bySubject.values()].map((c) => ({ ...c, seq: message.seq }));
      const applied = this.store.applyChanges(changes, {
        seq: message.seq,
        changeSeq: message.seq,
        issuedAt,
        syncedAt,
        gapUpTo,
        recentDigests,
      });
      this.log.debug({ seq: message.seq, applied, listed: message.changes.length }, 'colour change applied');
      if (gap) {
        this.gapSince ??= now;
        this.log.warn({ seq: sync.seq, received: message.seq, missingUpTo: gapUpTo }, 'gap in the colour sequence: resync requested');
        this.requestResync(gapUpTo!, now, sync.seq);
      }
      this.check();
      this.emit('applied', { via: 'change', seq: message.seq, issuedAt: message.issuedAt, appliedAt: this.now(), changes: applied });
      return { kind: 'applied', applied, seq: message.seq, gap };
    }

    if (message.seq === sync.seq && message.changes.length === 0) {
      // A heartbeat proves the centre is there only if it is newer than the last word from it.
      if (sync.issuedAt !== null && message.issuedAt <= sync.issuedAt) {
        throw new MessageError('replayed', `heartbeat at seq ${message.seq} issued ${message.issuedAt}, not after the last accepted (${sync.issuedAt})`);
      }
      this.store.setSync({ issuedAt, syncedAt, recentDigests });
      this.check();
      return { kind: 'heartbeat', applied: 0, seq: message.seq, gap: false };
    }

    const covered = sync.snapshotSeq !== null && message.seq <= sync.snapshotSeq && message.seq > (sync.changeSeq ?? 0);
    if (covered) {
      this.log.debug({ seq: message.seq, snapshotSeq: sync.snapshotSeq }, 'colour change already covered by the snapshot');
      return { kind: 'covered', applied: 0, seq: message.seq, gap: false };
    }
    throw new MessageError('replayed', `colour change seq ${message.seq}: seq ${sync.seq} is already applied`);
  }

  /**
   * A message from `<base>/<site>/colour/snapshot`; null when it is the
   * snapshot already applied (the retained copy delivered again).
   */
  acceptSnapshot(raw: Buffer | string): SnapshotOutcome | null {
    const message = openLeafMessage(raw, 'colour/snapshot', this.options.keys, this.options.verifiedSignatures);
    this.checkSite(message.site);
    this.checkEpoch(message.epoch ?? 0, `colour snapshot version ${message.version}`);
    const current = this.store.sync;
    if (current.snapshotVersion !== null && (message.epoch ?? 0) === current.epoch) {
      if (message.version === current.snapshotVersion) return null;
      if (message.version < current.snapshotVersion) {
        throw new MessageError('replayed', `colour snapshot version ${message.version}: version ${current.snapshotVersion} is already applied`);
      }
    }
    this.checkNotFuture(message.issuedAt);
    this.enterEpoch(message.epoch ?? 0, `colour snapshot version ${message.version}`);
    const sync = this.store.sync;
    const gapClosed = sync.gapUpTo !== null && message.seq >= sync.gapUpTo;
    // Last one wins when a subject is listed twice, as in a change.
    const statuses = [...new Map(message.statuses.map((s) => [s.sub, s] as const)).values()];
    const { applied, removed } = this.store.applySnapshot(statuses, message.seq, {
      seq: Math.max(sync.seq ?? 0, message.seq),
      snapshotVersion: message.version,
      snapshotSeq: message.seq,
      syncedAt: this.syncTime(sync, message.issuedAt, this.now()),
      gapUpTo: gapClosed ? null : sync.gapUpTo,
    });
    if (gapClosed) {
      this.gapSince = null;
      this.nextResyncAt = 0;
    }
    this.log.info({ version: message.version, seq: message.seq, applied, removed, gapClosed }, 'colour snapshot applied');
    this.check();
    this.emit('applied', { via: 'snapshot', seq: message.seq, issuedAt: message.issuedAt, appliedAt: this.now(), changes: applied });
    return { version: message.version, seq: message.seq, applied, removed, gapClosed };
  }

  /** The centre's epoch the gate's seq counts in (0 until one is raised). */
  get epoch(): number {
    return this.store.sync.epoch;
  }

  /** The seq the store is complete up to (unless a gap is open); null before anything from the centre. */
  get lastSeq(): number | null {
    return this.store.sync.seq;
  }

  /** Changes are missing and no snapshot has covered them yet. */
  get resyncPending(): boolean {
    return this.store.sync.gapUpTo !== null;
  }

  /** Milliseconds since the newest valid centre message; null: never heard from it. */
  syncAgeMs(): number | null {
    const { syncedAt } = this.store.sync;
    return syncedAt === null ? null : Math.max(0, this.now() - syncedAt);
  }

  /** Read at every decision; checks afresh, so it never lags the events. */
  get degraded(): boolean {
    return this.check();
  }

  /** Re-evaluate, emitting 'degraded' or 'synced' on a change; returns the state. */
  check(): boolean {
    const { gapUpTo } = this.store.sync;
    // A snapshot that did not cover the gap (or never came): ask again, less and less often.
    if (gapUpTo !== null && this.now() >= this.nextResyncAt) this.requestResync(gapUpTo, this.now(), this.store.sync.seq);
    const degraded = this.evaluate();
    if (degraded !== this.isDegraded) {
      this.isDegraded = degraded;
      const syncAgeMs = this.syncAgeMs();
      if (degraded) this.log.warn({ syncAgeMs, maxSyncAgeSeconds: this.config.maxSyncAgeSeconds }, 'colour status degraded: no word from the centre');
      else this.log.info({ syncAgeMs }, 'colour status synced again');
      this.emit(degraded ? 'degraded' : 'synced', { syncAgeMs });
    }
    return degraded;
  }

  /** colour.maxSyncAgeSeconds changed (the centre's set-config): judged by the new limit at once. */
  updateConfig(config: ColourConfig): void {
    this.config = config;
    this.check();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private requestResync(missingUpTo: number, now: number, seq: number | null): void {
    this.resyncDelayMs = this.nextResyncAt === 0 ? RESYNC_FIRST_RETRY_MS : Math.min(this.resyncDelayMs * 2, RESYNC_MAX_RETRY_MS);
    this.nextResyncAt = now + this.resyncDelayMs;
    this.emit('resync', { seq, missingUpTo });
  }

  private evaluate(): boolean {
    const age = this.syncAgeMs();
    const maxAgeMs = this.config.maxSyncAgeSeconds * 1000;
    // Heartbeats keep coming, but changes are missing and no snapshot has filled them in for as long: not in sync either.
    if (this.gapSince !== null && this.now() - this.gapSince > maxAgeMs) return true;
    // Never heard from: allowed the same time from the gate's first start before saying so.
    if (age === null) return this.now() - this.firstStartAt > maxAgeMs;
    return age > maxAgeMs;
  }

  private syncTime(sync: Readonly<SyncState>, issuedAt: number, now: number): number {
    return Math.max(sync.syncedAt ?? 0, Math.min(issuedAt, now));
  }

  private checkSite(site: string): void {
    if (site !== this.options.site) {
      throw new MessageError('wrong-target', `message for site ${JSON.stringify(site)}, this gate is in ${JSON.stringify(this.options.site)}`);
    }
  }

  /** A message of an epoch before the gate's is an old one replayed. */
  private checkEpoch(epoch: number, what: string): void {
    const current = this.store.sync.epoch;
    if (epoch < current) throw new MessageError('replayed', `${what} of epoch ${epoch}: this gate is in epoch ${current}`);
  }

  /** Starts a higher epoch, once the message is otherwise accepted; true when it did. */
  private enterEpoch(epoch: number, what: string): boolean {
    this.checkEpoch(epoch, what);
    const current = this.store.sync.epoch;
    if (epoch === current) return false;
    this.store.beginEpoch(epoch);
    // The old epoch's gap, if any, is the new one's to close.
    this.gapSince = null;
    this.nextResyncAt = 0;
    this.log.warn({ from: current, epoch }, 'the centre raised its epoch: the colour sequence starts again, resync from the snapshot');
    return true;
  }

  private checkNotFuture(issuedAt: number): void {
    const now = this.now();
    if (issuedAt > now + this.skewMs) {
      throw new MessageError('stale', `issued ${issuedAt - now} ms in the future, more than the ${this.skewMs} ms clock skew allowed`);
    }
  }
}

/** The message as the centre signed it; JSON.parse keeps key order, so a redelivery gives the same text. */
function digestOf(message: unknown): string {
  return createHash('sha256').update(JSON.stringify(message)).digest('base64url').slice(0, 22);
}
