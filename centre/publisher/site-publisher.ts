/**
 * One site's side of the push: everything the centre sends on the site's
 * colour topics goes through one loop. One loop per site keeps the wire in
 * the order the gates need: the change messages in seq order, a heartbeat
 * never ahead of (nor behind) the changes the broker acknowledged, a
 * baseline's snapshot before its change message.
 *
 * The change messages of a page are sent one after another without waiting
 * for each PUBACK (a round trip per message bounded the rate): MQTT.js writes
 * them in order on the one connection, keeps each until its PUBACK, and on a
 * reconnect sends the unacknowledged ones again in the order they were first
 * published, before anything published since. At most `window` are
 * unacknowledged at a time (the page, or the broker's receive maximum if it
 * announced a smaller one). The PUBACKs are then taken in seq order, and
 * markPublished records the highest seq acknowledged with all before it, once
 * per page. Everything else (a snapshot, a heartbeat, a baseline's snapshot)
 * is sent only when nothing is in flight.
 *
 * What is owed is read from the store, never kept only in memory: the change
 * messages after publishedSeq. A restart (or a failed publish) starts again
 * from there, and what is published again is the stored message with its
 * stored issuedAt, so a gate that had it drops it as a duplicate. While the
 * broker is away the loop waits for the PUBACKs owed, so nothing queues
 * behind a page but flags (a heartbeat due, a snapshot due), and memory stays
 * bounded by one page through any outage.
 */
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { CentrePublisherConfig } from '../../protocol/config/centre-schema.js';
import type { MessageSigner } from '../../protocol/signed-message.js';
import { CentreError } from '../errors.js';
import type { CentreStore, ChangeMessageRow } from '../store/store.js';
import { buildSnapshot, changeMessage, type SignedSiteMessage } from './snapshot.js';

/** Change messages read from the store at a time, and the most sent before their PUBACKs. */
const PAGE = 64;
/** After a failure the loop tries again after 0.5 s, then 1, 2, ... up to 30 s. */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

export interface PublisherCounters {
  changes: number;
  snapshots: number;
  heartbeats: number;
  /** Publishes or store calls that failed (each retried). */
  failures: number;
  /** Snapshots refused as too large: an operator alarm each. */
  snapshotsRefused: number;
}

export interface PublisherAlarm {
  site: string;
  code: 'snapshot-too-large';
  message: string;
}

export interface SitePublisherOptions {
  site: string;
  baseTopic: string;
  store: CentreStore;
  client: MqttClient;
  /** The site's current signer (a key rollover swaps it: asked for each message). */
  signer: (site: string) => MessageSigner;
  config: CentrePublisherConfig;
  logger: Logger;
  counters: PublisherCounters;
  onAlarm: (alarm: PublisherAlarm) => void;
  now: () => number;
  /** Bounds on the snapshot (tests); default the gates' limits. */
  maxSnapshotBytes?: number;
}

export class SitePublisher {
  readonly site: string;
  private readonly log: Logger;
  private wantChanges = false;
  /** 'refresh': only if changes came since the last one; 'force': a new version whatever (the broker may have lost the retained one). */
  private wantSnapshot: 'refresh' | 'force' | null = null;
  private heartbeatDue = false;
  private running: Promise<void> | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = FIRST_RETRY_MS;
  /** The newest issuedAt sent: a heartbeat must be newer than anything the gates accepted. */
  private lastIssuedAt = 0;
  private stopped = false;

  constructor(private readonly options: SitePublisherOptions) {
    this.site = options.site;
    this.log = options.logger.child({ part: 'publisher', site: options.site });
  }

  /** Changes were committed (or may be owed): publish everything after publishedSeq. */
  wake(): void {
    this.wantChanges = true;
    this.kick();
  }

  /** Publish a snapshot of a new version at once (start, reconnect: the retained one may be gone). */
  forceSnapshot(): void {
    this.wantSnapshot = 'force';
    this.kick();
  }

  heartbeat(): void {
    this.heartbeatDue = true;
    this.kick();
  }

  /** Settles when the loop is idle (tests, stop). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  async stop(waitMs: number): Promise<void> {
    this.stopped = true;
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    // A publish the broker never acknowledges would hold stop for ever: wait a bounded time.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }

  private kick(): void {
    if (this.stopped || this.running || this.retryTimer) return;
    this.running = this.loop().finally(() => {
      this.running = null;
      if (this.wantChanges || this.wantSnapshot || this.heartbeatDue) this.kick();
    });
  }

  private async loop(): Promise<void> {
    let snapshotKind: 'refresh' | 'force' | null = null;
    try {
      while (!this.stopped) {
        snapshotKind = null;
        if (this.wantChanges) {
          this.wantChanges = false;
          await this.publishChanges();
        } else if (this.wantSnapshot) {
          snapshotKind = this.wantSnapshot;
          this.wantSnapshot = null;
          await this.refreshSnapshot(snapshotKind);
        } else if (this.heartbeatDue) {
          this.heartbeatDue = false;
          await this.sendHeartbeat();
        } else break;
      }
      this.retryMs = FIRST_RETRY_MS;
    } catch (error) {
      this.options.counters.failures++;
      if (error instanceof CentreError && error.code === 'snapshot-too-large') {
        this.options.counters.snapshotsRefused++;
        this.log.error({ code: error.code, err: error }, 'colour snapshot refused: operator alarm');
        this.options.onAlarm({ site: this.site, code: error.code, message: error.message });
      } else {
        this.log.warn({ err: error, retryMs: this.retryMs }, 'publishing failed: trying again from the store');
      }
      // Whatever was owed is still owed: the store says what, and the next round reads it again. A snapshot
      // that failed on the way is owed too, unless it was too large (the next change tries again).
      this.wantChanges = true;
      const tooLarge = error instanceof CentreError && error.code === 'snapshot-too-large';
      // Its version was taken already, so a refresh would find it covered: the retry is forced.
      if (snapshotKind && !tooLarge) this.wantSnapshot = 'force';
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.kick();
      }, this.retryMs);
      this.retryTimer.unref();
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    }
  }

  private async publish(message: SignedSiteMessage): Promise<void> {
    await this.options.client.publishAsync(message.topic, message.text, message.options);
  }

  /** The most change messages unacknowledged at once: the page, or fewer if the broker (MQTT 5) said it takes fewer. */
  private window(): number {
    const receiveMaximum = this.options.client.serverProperties?.receiveMaximum;
    return receiveMaximum !== undefined && receiveMaximum >= 1 ? Math.min(PAGE, receiveMaximum) : PAGE;
  }

  private async publishChanges(): Promise<void> {
    const { store } = this.options;
    let published = (await store.site(this.site)).publishedSeq;
    const from = published;
    while (!this.stopped) {
      const rows = await store.changesAfter(this.site, published, PAGE);
      if (rows.length === 0) break;
      published = await this.publishPage(rows, published);
    }
    if (published > from) {
      this.log.debug({ sent: published - from, publishedSeq: published }, 'change messages published');
      this.scheduleSnapshot();
    }
  }

  /**
   * Sends a page's change messages in seq order, at most window() awaiting their PUBACK, and marks the highest
   * seq acknowledged with every one before it: on success the page's last; on a failure (rethrown) the last
   * before it, so the retry sends again from the first not known to be taken.
   */
  private async publishPage(rows: ChangeMessageRow[], published: number): Promise<number> {
    const inFlight: Array<{ seq: number; acked: Promise<unknown> }> = [];
    let acked = published;
    let expected = published + 1;
    // A PUBACK awaited in order; its failure is rethrown here, and the later ones' are heard (none goes unhandled).
    const settleOldest = async (): Promise<void> => {
      const oldest = inFlight.shift()!;
      const outcome = await oldest.acked;
      if (outcome !== true) throw outcome;
      acked = oldest.seq;
      this.options.counters.changes++;
    };
    try {
      for (const row of rows) {
        if (this.stopped) break;
        if (row.seq !== expected) {
          // The store lacks change messages it should have: the gates see the gap and resync from the snapshot.
          this.log.error({ publishedSeq: expected - 1, next: row.seq }, 'change messages missing from the store: the gates will resync from the snapshot');
        }
        expected = row.seq + 1;
        const signer = this.options.signer(this.site);
        if (row.baseline) {
          // The whole list was replaced: the new snapshot first (after every earlier change message is acknowledged),
          // then its seq with no changes, which a gate behind it reads as a gap and resyncs from that snapshot.
          while (inFlight.length > 0) await settleOldest();
          await this.publishSnapshot(row.seq, acked);
          this.log.info({ seq: row.seq }, 'baseline published: the gates resync from its snapshot');
        }
        if (inFlight.length >= this.window()) await settleOldest();
        const message = changeMessage(this.options.baseTopic, this.site, row.seq, row.issuedAt, row.baseline ? [] : row.changes, signer, row.epoch);
        inFlight.push({ seq: row.seq, acked: this.publish(message).then(() => true, (error: unknown) => error ?? new Error('publish failed')) });
        this.lastIssuedAt = Math.max(this.lastIssuedAt, row.issuedAt);
      }
      while (inFlight.length > 0) await settleOldest();
    } finally {
      if (acked > published) await this.options.store.markPublished(this.site, acked);
    }
    return acked;
  }

  /** Changes in between share one snapshot: the first schedules it, the rest find it scheduled. */
  private scheduleSnapshot(): void {
    if (this.snapshotTimer || this.stopped) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = null;
      this.wantSnapshot ??= 'refresh';
      this.kick();
    }, this.options.config.snapshotDelayMs);
    this.snapshotTimer.unref();
  }

  private async refreshSnapshot(kind: 'refresh' | 'force'): Promise<void> {
    const state = await this.options.store.site(this.site);
    if (kind === 'refresh' && state.snapshotVersion > 0 && state.snapshotSeq >= state.publishedSeq) return;
    await this.publishSnapshot(state.publishedSeq);
  }

  /**
   * A new version of the retained snapshot covering `seq`. The statuses are
   * read as they are now, which may be past `seq` (a batch committed since),
   * never short of it: a gate given a status early applies the same change
   * again when its message comes.
   */
  private async publishSnapshot(seq: number, acknowledged?: number): Promise<void> {
    const { store, config } = this.options;
    const state = await store.site(this.site);
    // Within a page the broker may have taken change messages not marked yet: what it took is what is covered.
    const publishedSeq = Math.max(state.publishedSeq, acknowledged ?? 0);
    const version = state.snapshotVersion + 1;
    const snapshot = await buildSnapshot(store, {
      base: this.options.baseTopic,
      site: this.site,
      version,
      seq,
      issuedAt: this.options.now(),
      epoch: state.epoch,
      signer: this.options.signer(this.site),
      ...(this.options.maxSnapshotBytes ? { maxBytes: this.options.maxSnapshotBytes } : {}),
    });
    // The version is taken before the snapshot goes out: a centre killed between the two would otherwise send
    // this version again with other statuses, which a gate that holds it drops as already applied.
    await store.markSnapshot(this.site, version, seq);
    await this.publish(snapshot);
    this.options.counters.snapshots++;
    this.log.info({ version, seq, statuses: snapshot.statuses, bytes: snapshot.bytes }, 'colour snapshot published');
    // What a retained snapshot covers need not be kept as change messages, but the newest keepChanges are.
    const covered = Math.min(seq, publishedSeq);
    if (covered > 0) {
      const pruned = await store.pruneChanges(this.site, covered, config.keepChanges);
      if (pruned > 0) this.log.debug({ pruned, upTo: covered }, 'change messages pruned');
    }
  }

  private async sendHeartbeat(): Promise<void> {
    // Queued while the broker is away they would all arrive at once, old: the next one after reconnect says enough.
    if (!this.options.client.connected) return;
    const state = await this.options.store.site(this.site);
    // Nothing to repeat before the gates have a snapshot to start from; a site with no change yet (seq 0,
    // which no change message may carry) is heard from through a fresh snapshot.
    if (state.snapshotVersion === 0 || state.publishedSeq === 0) {
      await this.publishSnapshot(state.publishedSeq);
      return;
    }
    // A batch committed and not yet sent goes first, and is word enough. It matters for a baseline: its
    // change message carries no changes and its commit time, so a heartbeat sent after that time would
    // make the gates refuse it as a replayed heartbeat.
    if (state.seq > state.publishedSeq) {
      this.wantChanges = true;
      return;
    }
    const issuedAt = Math.max(this.options.now(), this.lastIssuedAt + 1);
    await this.publish(changeMessage(this.options.baseTopic, this.site, state.publishedSeq, issuedAt, [], this.options.signer(this.site), state.epoch));
    this.lastIssuedAt = issuedAt;
    this.options.counters.heartbeats++;
  }
}
