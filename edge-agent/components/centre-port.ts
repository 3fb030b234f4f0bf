/**
 * What the parts built before the broker link send to the centre through it:
 * the lane's look-up requests and sealed registrations, the outbox's reports
 * about itself. The lane is built before the link (the link reads the lane's
 * state and runs commands on it), so those parts are handed this port, and
 * the link component connects it once the link is built. Unconnected (a gate
 * without a broker), nothing is sent: a look-up is not published, a
 * registration stays only in the journal's store.
 */
import type { SealedRecord } from '../../protocol/privacy/sealed-record.js';
import type { LaneUpLeaf, PayloadOf } from '../../protocol/registry.js';
import type { GateLink } from '../link/gate-link.js';

type CentreLink = Pick<GateLink, 'publish' | 'enqueueRegistration' | 'reportFault'>;

export class CentrePort {
  #link: CentreLink | null = null;

  /** Once, by the link component. */
  connect(link: CentreLink): void {
    if (this.#link) throw new Error('the centre port is already connected');
    this.#link = link;
  }

  /** Published now on the lane's leaf if the link is connected to the broker; false otherwise (the caller does not wait). */
  publish<L extends LaneUpLeaf>(leaf: L, payload: PayloadOf<L>, options: { expirySeconds?: number } = {}): boolean {
    return this.#link?.publish(leaf, payload, options) ?? false;
  }

  /** Inside the decision's transaction: throws rather than logs. */
  enqueueRegistration(sealed: SealedRecord): void {
    this.#link?.enqueueRegistration(sealed);
  }

  reportFault(fault: { kind: string; detail: string; active?: boolean }, options: { queue?: boolean } = {}): void {
    this.#link?.reportFault(fault, options);
  }
}
