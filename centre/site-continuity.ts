/**
 * What keeps a site's gates following the centre across key changes,
 * restores and new issuers, run by the leader (docs/keys.md):
 *
 * - each site's key ring: the key that signs now, a next key announced
 *   (retained on <base>/<site>/centre/key, again at every connect: a broker
 *   that restarted without persistence lost it) and switched at its time;
 * - the signed trust list: the newest `trust-list-v<version>.jws` in the
 *   site folder (what `gate-provision export-trust` writes), pushed retained
 *   at every connect and whenever a newer file appears, so that a new issuer
 *   or operator reaches the gates without copying files;
 * - the epoch: raised by an operator after a restore, and started with a
 *   baseline of the site's list as the store has it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { TrustStore } from '../protocol/trust/trust-store.js';
import type { CentreKeysControl } from './api/options.js';
import { CentreError } from './errors.js';
import type { KeyRing, KeyRingStatus, RolloverPlan } from './keys/key-ring.js';
import { checkTrustList, publishTrustList } from './keys/trust-list-push.js';
import type { CentreSite } from './sites.js';
import type { ColourEntry, CentreStore, SiteState } from './store/store.js';

export interface SiteContinuityOptions {
  rings: readonly KeyRing[];
  sites: readonly CentreSite[];
  store: CentreStore;
  link: MqttClient;
  baseTopic: string;
  logger: Logger;
  /** A baseline was stored for the site: publish it. */
  wake: (site: string) => void;
  /** Told every certificate a site signs with (the record verifies the centre's own messages with it). */
  trusted: TrustStore;
  /** How often the site folders are looked at for a newer trust list; default 30 s. */
  trustListCheckMs?: number;
  /**
   * A site's next key signs from now on. The retained snapshot is still the
   * old key's, which the gates refuse after the overlap: the publisher signs
   * a new one at once, so that a gate that resyncs later can read it.
   */
  onSwitched?: (site: string) => void;
}

const TRUST_LIST_FILE = /^trust-list-v(\d{1,9})\.jws$/;

/** The newest trust list file of a site folder, by the version in its name. */
function newestTrustList(folder: string): { file: string; version: number } | null {
  let newest: { file: string; version: number } | null = null;
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return null;
  }
  for (const name of names) {
    const match = TRUST_LIST_FILE.exec(name);
    if (match && (!newest || Number(match[1]) > newest.version)) newest = { file: join(folder, name), version: Number(match[1]) };
  }
  return newest;
}

export class SiteContinuity implements CentreKeysControl {
  readonly #rings = new Map<string, KeyRing>();
  readonly #log: Logger;
  /** The trust list version pushed per site since this process leads (a connect pushes it again). */
  readonly #pushed = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  readonly #onConnect = (): void => void this.#announce(true);
  readonly #onSwitched = (status: KeyRingStatus): void => this.#switched(status);

  constructor(private readonly options: SiteContinuityOptions) {
    for (const ring of options.rings) this.#rings.set(ring.site, ring);
    this.#log = options.logger.child({ part: 'continuity' });
  }

  ring(site: string): KeyRing | undefined {
    return this.#rings.get(site);
  }

  start(): void {
    // Listened to before start(): a switch a restart finds due happens there.
    for (const ring of this.#rings.values()) ring.on('switched', this.#onSwitched);
    for (const ring of this.#rings.values()) ring.start();
    this.options.link.on('connect', this.#onConnect);
    if (this.options.link.connected) this.#onConnect();
    this.#timer = setInterval(() => void this.#announce(false), this.options.trustListCheckMs ?? 30_000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.options.link.off('connect', this.#onConnect);
    for (const ring of this.#rings.values()) {
      ring.off('switched', this.#onSwitched);
      ring.stop();
    }
  }

  /**
   * The new key signs: the snapshot is signed again with it, and the
   * operator told when the trust list in force is the retired key's (the
   * gates refuse it from a broker after the overlap; docs/keys.md says to
   * export it again after a switch).
   */
  #switched(status: KeyRingStatus): void {
    this.options.onSwitched?.(status.site);
    const site = this.options.sites.find((s) => s.id === status.site);
    const newest = site?.folder ? newestTrustList(site.folder) : null;
    const ring = this.#rings.get(status.site);
    if (!newest || !ring) return;
    try {
      checkTrustList(readFileSync(newest.file), { site: status.site, certificatePem: ring.certificatePem }, newest.file);
    } catch (error) {
      this.#log.warn(
        { site: status.site, file: newest.file, until: status.retired ? new Date(status.retired.until).toISOString() : null, err: (error as Error).message },
        'the trust list in force is not signed by the new centre key: export it again (gate-provision export-trust) before the old key retires',
      );
    }
  }

  #ringOf(site: string): KeyRing {
    const ring = this.#rings.get(site);
    if (!ring) throw new CentreError('unknown-site', `the centre does not serve site ${site}`);
    return ring;
  }

  status(site: string): KeyRingStatus {
    return this.#ringOf(site).status();
  }

  async rollover(site: string, plan: RolloverPlan): Promise<KeyRingStatus> {
    const ring = this.#ringOf(site);
    await ring.prepareNext(plan);
    const next = ring.status().next;
    if (next) {
      // The announcement is on disk before it is published: a crash here announces it at the next connect.
      const pem = readFileSync(join(this.#folderOf(ring), 'centre-next.pem'), 'utf8');
      this.options.trusted.addEncoded(Buffer.from(pem), `site ${site} next key`);
    }
    await ring.publish(this.options.link, this.options.baseTopic);
    return ring.status();
  }

  async raiseEpoch(site: string): Promise<SiteState> {
    this.#ringOf(site);
    const { store } = this.options;
    const raised = await store.raiseEpoch(site);
    const rows = async function* (): AsyncGenerator<ColourEntry[]> {
      for await (const chunk of store.statuses(site)) {
        yield chunk.map((s) => ({ subject: s.subject, colour: s.colour, effectiveAt: s.effectiveAt, reason: s.reason ?? null, idHash: s.idHash ?? null }));
      }
    };
    const batchId = `epoch-${raised.epoch}`;
    await store.replaceBaseline({ site, batchId, client: 'centre', digest: batchId }, rows(), Date.now());
    this.#log.warn({ site, epoch: raised.epoch }, 'epoch raised: the gates take the new epoch and resync from its snapshot');
    this.options.wake(site);
    return store.site(site);
  }

  #folderOf(ring: KeyRing): string {
    const site = this.options.sites.find((s) => s.id === ring.site)!;
    return join(site.keyFile, '..');
  }

  /** The announcements (on connect) and any trust list newer than the one pushed. */
  async #announce(connected: boolean): Promise<void> {
    const { link, baseTopic } = this.options;
    if (!link.connected) return;
    for (const site of this.options.sites) {
      const ring = this.#rings.get(site.id);
      if (!ring) continue;
      try {
        if (connected) await ring.publish(link, baseTopic);
        const newest = site.folder ? newestTrustList(site.folder) : null;
        if (!newest || (!connected && (this.#pushed.get(site.id) ?? -1) >= newest.version)) continue;
        const list = await publishTrustList(link, baseTopic, { site: site.id, certificatePem: ring.certificatePem }, readFileSync(newest.file), newest.file);
        if (this.#pushed.get(site.id) !== list.version) this.#log.info({ site: site.id, version: list.version, file: newest.file }, 'trust list pushed to the gates');
        this.#pushed.set(site.id, list.version);
      } catch (error) {
        this.#log.error({ err: (error as Error).message, site: site.id }, 'announcing to the gates failed; tried again at the next connect or check');
        // A list the gates would refuse is not tried again until a newer file appears.
        const newest = site.folder ? newestTrustList(site.folder) : null;
        if (newest && error instanceof CentreError && error.code === 'trust-list-refused') this.#pushed.set(site.id, newest.version);
      }
    }
  }
}
