/**
 * The centre's signing certificates as the gate trusts them over time: a
 * TrustStore whose signers each have a window. A key the gate was given
 * (mqtt.centreKeys) is trusted from the start until an announcement retires
 * it; a key an announcement brings is trusted from its activeFrom until the
 * next announcement retires it (docs/keys.md). lookup() gives only the
 * signers in their window now, so everything that checks centre messages
 * with the store (colour sync, commands, look-up replies, the trust list)
 * refuses a retired key or one not yet active as unknown-key, with no change
 * of its own.
 */
import type { X509Certificate } from 'node:crypto';
import { TrustStore, type TrustedSigner } from './trust-store.js';

/** Epoch ms; null: no bound on that side. */
export interface KeyWindow {
  from: number | null;
  until: number | null;
}

/**
 * Clocks differ: a next key is trusted this long before its activeFrom by the
 * gate's clock (trusting the centre's own next key early is harmless). The
 * end of the old key's overlap is kept to the millisecond: it is what the
 * announcement states.
 */
export const KEY_ACTIVATION_SKEW_MS = 300_000;

export class CentreKeys extends TrustStore {
  readonly #windows = new Map<string, KeyWindow>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    super();
    this.#now = now;
  }

  /** The certificates of `store` (mqtt.centreKeys), each trusted until an announcement says otherwise. */
  static of(store: TrustStore, now?: () => number): CentreKeys {
    if (store instanceof CentreKeys) return store;
    const keys = new CentreKeys(now);
    for (const signer of store.signers()) keys.add(signer.certificate, signer.source);
    return keys;
  }

  /** Sets the window of a certificate (adding it if it is new). */
  trust(certificate: X509Certificate, window: KeyWindow, source = 'announced'): TrustedSigner {
    const signer = this.add(certificate, source);
    this.#windows.set(certificate.fingerprint256, { ...window });
    return signer;
  }

  /** The window of a certificate the store holds; unbounded when none was set. */
  windowOf(certificate: X509Certificate): KeyWindow {
    return this.#windows.get(certificate.fingerprint256) ?? { from: null, until: null };
  }

  /** Only the signers in their window now. */
  override lookup(kid: Buffer): readonly TrustedSigner[] {
    const now = this.#now();
    return super.lookup(kid).filter((signer) => inWindow(this.windowOf(signer.certificate), now));
  }

  /** Every signer the store holds with its window, in or out of it (for status and tests). */
  entries(): { signer: TrustedSigner; window: KeyWindow; trustedNow: boolean }[] {
    const now = this.#now();
    return this.signers().map((signer) => {
      const window = this.windowOf(signer.certificate);
      return { signer, window, trustedNow: inWindow(window, now) };
    });
  }

  /**
   * Every certificate the gate ever trusted, windows ignored: what the gate
   * itself accepted earlier (the trust list kept on its disk) still opens
   * after its key retired. Never used for a message from the network.
   */
  everTrusted(): TrustStore {
    const store = new TrustStore();
    for (const signer of this.signers()) store.add(signer.certificate, signer.source);
    return store;
  }
}

function inWindow(window: KeyWindow, now: number): boolean {
  if (window.from !== null && now < window.from - KEY_ACTIVATION_SKEW_MS) return false;
  return window.until === null || now <= window.until;
}
