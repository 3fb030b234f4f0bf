/**
 * One site's retained colour snapshot, built from the store's statuses as
 * they stream: every status the site has, as wire entries (sub, colour,
 * effectiveAt; the reason and the ID hash never leave the centre), signed.
 *
 * A gate drops a message larger than its mqtt.maxMessageBytes unread (4 MiB
 * by default) and the schema lists at most MAX_SNAPSHOT_STATUSES: a snapshot
 * past either would be published, retained, and useless to every gate that
 * resyncs from it. So the size is counted while the statuses stream and the
 * build stops as soon as it is over (memory stays bounded by the limit), with
 * CentreError('snapshot-too-large') naming the site and the numbers.
 */
import { MAX_SNAPSHOT_STATUSES } from '../../protocol/payloads/common.js';
import type { ColourSnapshot } from '../../protocol/payloads/signed.js';
import { publishOptions } from '../../protocol/registry.js';
import { signLeafMessage, type MessageSigner } from '../../protocol/signed-message.js';
import { siteTopic } from '../../protocol/topics.js';
import { CentreError } from '../errors.js';
import { inEpoch } from '../keys/epoch.js';
import type { CentreStore } from '../store/store.js';

/** The gates' default mqtt.maxMessageBytes: the largest message they read. */
export const MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024;

/** The JWS around the payload: the protected header, the signature and the JSON punctuation (ES256 or EdDSA). */
const ENVELOPE_OVERHEAD_BYTES = 512;

export interface SignedSiteMessage {
  topic: string;
  text: string;
  options: { qos: 0 | 1; retain: boolean };
}

export interface SnapshotSpec {
  base: string;
  site: string;
  version: number;
  /** The seq the snapshot covers. */
  seq: number;
  issuedAt: number;
  /** The site's epoch (left off the wire at 0). */
  epoch?: number;
  signer: MessageSigner;
  /** Default MAX_SNAPSHOT_BYTES. */
  maxBytes?: number;
  /** Default MAX_SNAPSHOT_STATUSES. */
  maxStatuses?: number;
}

export interface BuiltSnapshot extends SignedSiteMessage {
  statuses: number;
  bytes: number;
}

/** base64url of n bytes. */
function base64Length(bytes: number): number {
  return Math.ceil((bytes * 4) / 3);
}

/** Streams the site's statuses into one signed snapshot, or CentreError('snapshot-too-large'). */
export async function buildSnapshot(store: CentreStore, spec: SnapshotSpec): Promise<BuiltSnapshot> {
  const maxBytes = spec.maxBytes ?? MAX_SNAPSHOT_BYTES;
  const maxStatuses = Math.min(spec.maxStatuses ?? MAX_SNAPSHOT_STATUSES, MAX_SNAPSHOT_STATUSES);
  const statuses: ColourSnapshot['statuses'] = [];
  const head: Omit<ColourSnapshot, 'statuses'> = { type: 'colour-snapshot', site: spec.site, version: spec.version, seq: spec.seq, issuedAt: spec.issuedAt, ...(spec.epoch ? { epoch: spec.epoch } : {}) };
  // The JSON of the payload, counted as it grows: the head, `,"statuses":[` and `]}`, then each entry and its comma.
  let jsonBytes = Buffer.byteLength(JSON.stringify(head)) + 14;
  for await (const chunk of store.statuses(spec.site)) {
    for (const row of chunk) {
      const entry = { sub: row.subject, colour: row.colour, effectiveAt: row.effectiveAt };
      jsonBytes += Buffer.byteLength(JSON.stringify(entry)) + 1;
      statuses.push(entry);
      if (statuses.length > maxStatuses) {
        throw new CentreError('snapshot-too-large', `site ${spec.site}: more than ${maxStatuses} statuses, more than one snapshot may list; nothing published`);
      }
      if (base64Length(jsonBytes) + ENVELOPE_OVERHEAD_BYTES > maxBytes) {
        throw new CentreError(
          'snapshot-too-large',
          `site ${spec.site}: the snapshot passed ${maxBytes} bytes signed at ${statuses.length} statuses (the gates read messages up to mqtt.maxMessageBytes); nothing published`,
        );
      }
    }
  }
  const payload: ColourSnapshot = { ...head, statuses };
  const text = JSON.stringify(signLeafMessage('colour/snapshot', payload, spec.signer));
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) {
    throw new CentreError('snapshot-too-large', `site ${spec.site}: the signed snapshot is ${bytes} bytes, more than ${maxBytes}; nothing published`);
  }
  return { topic: siteTopic(spec.base, spec.site, 'colour/snapshot'), text, options: publishOptions('colour/snapshot'), statuses: statuses.length, bytes };
}

/** A signed colour change (a stored change message, or a heartbeat: the current seq with no changes). */
export function changeMessage(
  base: string,
  site: string,
  seq: number,
  issuedAt: number,
  changes: ReadonlyArray<{ subject: string; colour: ColourSnapshot['statuses'][number]['colour']; effectiveAt: number }>,
  signer: MessageSigner,
  epoch = 0,
): SignedSiteMessage {
  const payload = inEpoch({ type: 'colour-change' as const, site, seq, issuedAt, changes: changes.map((c) => ({ sub: c.subject, colour: c.colour, effectiveAt: c.effectiveAt })) }, epoch);
  return { topic: siteTopic(base, site, 'colour/change'), text: JSON.stringify(signLeafMessage('colour/change', payload, signer)), options: publishOptions('colour/change') };
}
