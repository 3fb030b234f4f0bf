/**
 * Epochs (docs/keys.md): a centre restored from a backup, or whose store was
 * rebuilt, counts its seqs again. It raises the site's epoch
 * (CentreStore.raiseEpoch) and starts the new epoch as a baseline: the
 * retained snapshot of every status at the epoch's first seq, then a change
 * message at that seq with no changes. A gate that sees the higher epoch on
 * either forgets where it stood in the old sequence, takes the new one's and
 * reads the snapshot; the old epoch's messages are refused from then on as
 * replayed.
 *
 * The epoch goes on the wire only above 0: a gate of an earlier release
 * refuses a field its closed schema does not name, so an epoch is raised only
 * once every gate of the site runs a release that knows it.
 */
import type { ColourChangeMessage, ColourSnapshotMessage, ColourStatusEntry } from '../../protocol/contract.js';

/** A colour change or snapshot payload in `epoch`: the field set above 0, left out at 0. */
export function inEpoch<P extends ColourChangeMessage | ColourSnapshotMessage>(payload: P, epoch: number): P {
  const { epoch: _dropped, ...rest } = payload;
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`epoch ${epoch} is not a whole number from 0`);
  return (epoch === 0 ? rest : { ...rest, epoch }) as P;
}

export interface EpochStart {
  site: string;
  /** The raised epoch (CentreStore.raiseEpoch's). */
  epoch: number;
  /** The epoch's first seq, the baseline's: 1 or more (a change message's seq starts at 1). */
  seq: number;
  /** The new epoch's first snapshot version; default 1 (versions count again in an epoch). */
  version?: number;
  /** Fixed at the raise and kept, so a republish is the same message (epoch ms). */
  issuedAt: number;
  statuses: ColourStatusEntry[];
}

/** The two messages that start an epoch, in the order they are published: the snapshot, then the change. */
export function epochStartMessages(start: EpochStart): { snapshot: ColourSnapshotMessage; change: ColourChangeMessage } {
  const { site, epoch, seq, issuedAt, statuses } = start;
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`an epoch starts at seq 1 or later, not ${seq}`);
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new RangeError(`a raised epoch is 1 or more, not ${epoch}`);
  return {
    snapshot: inEpoch({ type: 'colour-snapshot', site, version: start.version ?? 1, seq, issuedAt, statuses }, epoch),
    change: inEpoch({ type: 'colour-change', site, seq, issuedAt, changes: [] }, epoch),
  };
}
