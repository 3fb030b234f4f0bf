/**
 * A message the gate sends under its lane, made from the topic table
 * (protocol/registry.ts): the topic, QoS and retain flag come from the
 * leaf, and the payload's type is its schema's, so a payload of the wrong
 * shape, or a leaf only the centre sends on, does not compile.
 */
import { TOPICS, type LaneUpLeaf, type PayloadOf } from '../../protocol/registry.js';
import { laneTopic } from '../../protocol/topics.js';

export interface LaneMessage {
  topic: string;
  /** The payload as JSON text. */
  payload: string;
  qos: 0 | 1;
  retain: boolean;
}

export interface LaneAddress {
  base: string;
  site: string;
  lane: string;
}

export function laneMessage<L extends LaneUpLeaf>(at: LaneAddress, leaf: L, payload: PayloadOf<L>): LaneMessage {
  const spec = TOPICS[leaf];
  return { topic: laneTopic(at.base, at.site, at.lane, leaf), payload: JSON.stringify(payload), qos: spec.qos, retain: spec.retain };
}

/**
 * Publishes on one of the lane's leaves through the live connection (GateLink.publish):
 * false when not connected, nothing queued. A part that sends on only some leaves is
 * given it narrowed to those, so it cannot send on any other.
 */
export type LanePublish<L extends LaneUpLeaf = LaneUpLeaf> = <K extends L>(leaf: K, payload: PayloadOf<K>, options?: { expirySeconds?: number }) => boolean;
