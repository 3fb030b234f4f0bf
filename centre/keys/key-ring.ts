/**
 * One site's signing keys at the centre, and their rollover (docs/keys.md):
 *
 *   prepareNext  makes the next key pair beside the current one
 *                (centre-next.key, 0600, and centre-next.pem), and signs with
 *                the current key an announcement naming the next certificate,
 *                activeFrom and previousUntil; kept in rollover.json.
 *   publish      sends that announcement, retained, on <base>/<site>/centre/key.
 *   switch       at activeFrom the next key signs: its files take the current
 *                names (so gate-provision bundles and export-trust use it) and
 *                the old ones are kept as centre-retired.key/.pem until
 *                previousUntil, then the old private key is deleted.
 *
 * As TUF's root rotation: the next key is announced by the current one, the
 * overlap is stated in the signed announcement, and a gate keeps both in its
 * database. Everything is on disk before it is published, and each step can
 * be run again after a crash (open() completes a switch a crash interrupted).
 */
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { SignedEnvelope } from '../../protocol/contract.js';
import { messageSigner, signLeafMessage, type MessageSigner } from '../../protocol/signed-message.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { kidOf } from '../../protocol/trust/trust-store.js';
import { CentreError } from '../errors.js';
import { moveSigningKey, readSigningKey, writeAtomically, writeSigningKey, type KeyFiles, type SigningKey } from './key-files.js';
import { publishSigned, type RetainedPublisher } from './publish.js';

export interface KeyRingOptions {
  site: string;
  /** The site's current key and certificate (a site folder's centre/centre.key and centre/centre.pem). */
  files: KeyFiles;
  /** Where the next and retired keys and rollover.json go; default the current key's folder. */
  dir?: string;
  /** The keys are encrypted with it (the site folder's passphrase). */
  passphrase?: string;
  logger: Logger;
  /** Epoch ms; injected by tests. */
  now?: () => number;
}

export interface RolloverPlan {
  /** Epoch ms from which the next key signs; not before now. */
  activeFrom: number;
  /** Epoch ms until which gates still trust the current key; not before activeFrom. */
  previousUntil: number;
  /** The next certificate's validity in days from a day ago; default 825, as gate-provision's centre key. */
  days?: number;
}

/** What `gate-centre status` shows of a site's keys. */
export interface KeyRingStatus {
  site: string;
  /** The key that signs now. */
  current: { kid: string; fingerprint: string; notAfter: string };
  /** An announced key not yet in force. */
  next: { kid: string; fingerprint: string; activeFrom: number; previousUntil: number } | null;
  /** The key the last switch retired, still trusted by gates until `until`. */
  retired: { kid: string; fingerprint: string; until: number } | null;
  /** Announcements made so far (the next one's version is this + 1). */
  version: number;
}

/** rollover.json. */
interface RolloverState {
  site: string;
  version: number;
  announcement: SignedEnvelope | null;
  next: { fingerprint: string; activeFrom: number; previousUntil: number } | null;
  retired: { fingerprint: string; until: number; keyDeleted: boolean } | null;
}

export interface KeyRingEvents {
  /** The next key signs from now on. */
  switched: [KeyRingStatus];
}

const DAY_MS = 86_400_000;
/** setTimeout's longest wait; a later time is waited for in steps. */
const MAX_TIMER_MS = 2_147_483_647;

export class KeyRing extends EventEmitter<KeyRingEvents> {
  readonly site: string;
  readonly #options: KeyRingOptions;
  readonly #now: () => number;
  readonly #next: KeyFiles;
  readonly #retired: KeyFiles;
  readonly #statePath: string;
  #state: RolloverState;
  #current: SigningKey;
  #currentSigner: MessageSigner;
  #nextKey: SigningKey | null = null;
  #timer: NodeJS.Timeout | null = null;

  /** Reads the site's keys and rollover.json, completing a switch a crash interrupted; CentreError key-file. */
  constructor(options: KeyRingOptions) {
    super();
    this.site = options.site;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const dir = options.dir ?? dirname(options.files.key);
    this.#next = { key: join(dir, 'centre-next.key'), certificate: join(dir, 'centre-next.pem') };
    this.#retired = { key: join(dir, 'centre-retired.key'), certificate: join(dir, 'centre-retired.pem') };
    this.#statePath = join(dir, 'rollover.json');
    this.#state = this.#readState();
    this.#recover();
    this.#current = readSigningKey(options.files, options.passphrase);
    this.#currentSigner = messageSigner(this.#current);
    if (this.#state.next) this.#nextKey = readSigningKey(this.#next, options.passphrase);
    this.switchIfDue();
  }

  /** The key that signs the site's messages now: the next one from its activeFrom, even before its files are moved. */
  get signer(): MessageSigner {
    const next = this.#nextKey;
    if (next && this.#state.next && this.#now() >= this.#state.next.activeFrom) {
      try {
        this.switchIfDue();
      } catch (error) {
        // The files stay as they were (the timer tries again); the messages are signed by the key in force all the same.
        this.#options.logger.error({ err: error, site: this.site }, 'centre key switch failed: signing with the next key, its files not yet moved');
        return messageSigner(next);
      }
    }
    return this.#currentSigner;
  }

  /** The certificate of the key that signs now, in PEM (what new gates pin). */
  get certificatePem(): string {
    void this.signer;
    return this.#current.certificatePem;
  }

  /** The signed announcement of the last rollover, which stays retained; null before any. */
  get announcement(): SignedEnvelope | null {
    return this.#state.announcement;
  }

  /**
   * Makes the next key, writes it beside the current one and signs its
   * announcement with the current key. CentreError rollover-refused while
   * one is under way or when the times are in the wrong order.
   */
  async prepareNext(plan: RolloverPlan): Promise<SignedEnvelope> {
    const now = this.#now();
    if (this.#state.next) {
      throw new CentreError('rollover-refused', `site ${this.site}: a next key is already announced, in force from ${new Date(this.#state.next.activeFrom).toISOString()}`);
    }
    if (!Number.isSafeInteger(plan.activeFrom) || plan.activeFrom < now) throw new CentreError('rollover-refused', `site ${this.site}: activeFrom must be now or later`);
    if (!Number.isSafeInteger(plan.previousUntil) || plan.previousUntil < plan.activeFrom) {
      throw new CentreError('rollover-refused', `site ${this.site}: previousUntil must be at or after activeFrom`);
    }
    const version = this.#state.version + 1;
    const days = plan.days ?? 825;
    const made = await createSignerCertificate({ subject: `CN=${this.site} centre signing key ${version}`, algorithm: this.#current.algorithm, notBefore: new Date(now - DAY_MS), days });
    // A gate refuses an announcement whose next certificate ends before the overlap does.
    if (Date.parse(made.certificate.validTo) < plan.previousUntil) {
      throw new CentreError('rollover-refused', `site ${this.site}: a next certificate of ${days} days ends before previousUntil`);
    }
    writeSigningKey(this.#next, made, this.#options.passphrase);
    const announcement = signLeafMessage(
      'centre/key',
      { type: 'centre-key', site: this.site, version, issuedAt: now, certificate: made.certificatePem, activeFrom: plan.activeFrom, previousUntil: plan.previousUntil },
      this.#currentSigner,
    );
    this.#writeState({ ...this.#state, version, announcement, next: { fingerprint: made.certificate.fingerprint256, activeFrom: plan.activeFrom, previousUntil: plan.previousUntil } });
    this.#nextKey = made;
    this.#options.logger.warn(
      { site: this.site, version, nextKid: kidOf(made.certificate.raw).toString('base64url'), activeFrom: new Date(plan.activeFrom).toISOString(), previousUntil: new Date(plan.previousUntil).toISOString() },
      'next centre key made and announced',
    );
    this.#arm();
    return announcement;
  }

  /** Publishes the announcement (retained, QoS 1, awaiting the broker); nothing before the first rollover. */
  async publish(client: RetainedPublisher, baseTopic: string): Promise<boolean> {
    if (!this.#state.announcement) return false;
    await publishSigned(client, baseTopic, this.site, 'centre/key', this.#state.announcement);
    return true;
  }

  /** At activeFrom: the next key becomes the current one. Also deletes the retired private key once its overlap is over. True when it switched. */
  switchIfDue(): boolean {
    const now = this.#now();
    const retired = this.#state.retired;
    if (retired && !retired.keyDeleted && now > retired.until) {
      rmSync(this.#retired.key, { force: true });
      this.#writeState({ ...this.#state, retired: { ...retired, keyDeleted: true } });
      this.#options.logger.info({ site: this.site }, 'retired centre key deleted: its overlap is over');
    }
    const next = this.#state.next;
    if (!next || !this.#nextKey || now < next.activeFrom) return false;
    rmSync(this.#retired.key, { force: true });
    rmSync(this.#retired.certificate, { force: true });
    moveSigningKey(this.#options.files, this.#retired);
    moveSigningKey(this.#next, this.#options.files);
    const old = this.#current;
    this.#writeState({ ...this.#state, next: null, retired: { fingerprint: old.certificate.fingerprint256, until: next.previousUntil, keyDeleted: false } });
    this.#current = this.#nextKey;
    this.#currentSigner = messageSigner(this.#current);
    this.#nextKey = null;
    const status = this.status();
    this.#options.logger.warn({ site: this.site, kid: status.current.kid, retiredUntil: new Date(next.previousUntil).toISOString() }, 'centre key switched: the next key signs now');
    this.emit('switched', status);
    this.#arm();
    return true;
  }

  status(): KeyRingStatus {
    const describe = (key: SigningKey) => ({ kid: kidOf(key.certificate.raw).toString('base64url'), fingerprint: key.certificate.fingerprint256 });
    const { next, retired, version } = this.#state;
    const retiredCertificate = retired ? certificateAt(this.#retired.certificate) : null;
    return {
      site: this.site,
      current: { ...describe(this.#current), notAfter: this.#current.certificate.validTo },
      next: next && this.#nextKey ? { ...describe(this.#nextKey), activeFrom: next.activeFrom, previousUntil: next.previousUntil } : null,
      retired: retired ? { kid: retiredCertificate ? kidOf(retiredCertificate.raw).toString('base64url') : '', fingerprint: retired.fingerprint, until: retired.until } : null,
      version,
    };
  }

  /** Switches at activeFrom (and deletes the retired key after its overlap) on a timer; stop() clears it. */
  start(): void {
    this.switchIfDue();
    this.#arm();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const { next, retired } = this.#state;
    const due = next ? next.activeFrom : retired && !retired.keyDeleted ? retired.until + 1 : null;
    if (due === null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      try {
        if (!this.switchIfDue()) this.#arm();
      } catch (error) {
        this.#options.logger.error({ err: error, site: this.site }, 'centre key switch failed; tried again in a minute');
        this.#timer = setTimeout(() => this.#arm(), 60_000);
        this.#timer.unref();
      }
    }, Math.min(MAX_TIMER_MS, Math.max(0, due - this.#now())));
    this.#timer.unref();
  }

  /** A switch a crash cut short: the current files already moved aside, or the next ones already in place. */
  #recover(): void {
    const next = this.#state.next;
    if (!next) return;
    const files = this.#options.files;
    if (!existsSync(files.key) && existsSync(this.#next.key)) moveSigningKey(this.#next, files);
    if (existsSync(this.#next.key)) return; // not switched yet
    const current = readSigningKey(files, this.#options.passphrase);
    if (current.certificate.fingerprint256 !== next.fingerprint) return;
    const retired = certificateAt(this.#retired.certificate)?.fingerprint256 ?? '';
    this.#writeState({ ...this.#state, next: null, retired: { fingerprint: retired, until: next.previousUntil, keyDeleted: false } });
  }

  #readState(): RolloverState {
    if (!existsSync(this.#statePath)) return { site: this.site, version: 0, announcement: null, next: null, retired: null };
    let state: RolloverState;
    try {
      state = JSON.parse(readFileSync(this.#statePath, 'utf8')) as RolloverState;
    } catch (error) {
      throw new CentreError('key-file', `${this.#statePath}: ${(error as Error).message}`, { cause: error });
    }
    if (state.site !== this.site || !Number.isSafeInteger(state.version)) throw new CentreError('key-file', `${this.#statePath} is not the rollover state of site ${this.site}`);
    return state;
  }

  #writeState(state: RolloverState): void {
    writeAtomically(this.#statePath, `${JSON.stringify(state, null, 2)}\n`, 0o600);
    this.#state = state;
  }
}

/** The certificate in a PEM file; null when it is not there or unreadable (status only). */
function certificateAt(path: string): X509Certificate | null {
  try {
    return existsSync(path) ? new X509Certificate(readFileSync(path)) : null;
  } catch {
    return null;
  }
}
