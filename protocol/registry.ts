/**
 * Every topic leaf of the link, once: under a lane or the site, who sends it
 * (up: the gate, down: the centre), the schema of its payload, its QoS and
 * retain flag, and for what the centre signs, the JWS typ that binds it to
 * its kind (its payload then travels as a signedEnvelope). The topic tree
 * (topics.ts), the AsyncAPI document (asyncapi.ts), the gate's typed
 * publish, the console's subscriptions and the signed kinds' schemas
 * (signed-message.ts) are all read from it.
 *
 *   <base>/<site>/<lane>/<lane leaf>      e.g. hc/v1/s1/l1/decision
 *   <base>/<site>/<site leaf>             e.g. hc/v1/s1/colour/change
 *
 * Every site leaf has two parts, and its first (`colour`, `centre`) is a
 * reserved lane id (topics.ts reads the set from this table), so site topics
 * and lane topics never meet. The centre's key and trust list come first of
 * the site's: a gate subscribing afresh reads the next key before a retained
 * snapshot the next key signed.
 */
import type { ContractTypes, SchemaName } from './contract.js';
import type { SignedType } from './payloads/signed.js';

export interface LeafSpec {
  scope: 'lane' | 'site';
  direction: 'up' | 'down';
  /** The payload's schema; for a signed leaf, the schema of what is signed. */
  schema: SchemaName;
  qos: 0 | 1;
  retain: boolean;
  signed?: SignedType;
}

export const TOPICS = {
  /** The Last Will says offline. */
  status: { scope: 'lane', direction: 'up', schema: 'laneStatus', qos: 1, retain: true },
  decision: { scope: 'lane', direction: 'up', schema: 'decisionEvent', qos: 1, retain: false },
  /** A red code showed up here. */
  alert: { scope: 'lane', direction: 'up', schema: 'redAlert', qos: 1, retain: false },
  fault: { scope: 'lane', direction: 'up', schema: 'fault', qos: 1, retain: false },
  /** A refused message. */
  security: { scope: 'lane', direction: 'up', schema: 'securityEvent', qos: 1, retain: false },
  telemetry: { scope: 'lane', direction: 'up', schema: 'telemetry', qos: 0, retain: false },
  'command/result': { scope: 'lane', direction: 'up', schema: 'commandResult', qos: 1, retain: false },
  'lookup/request': { scope: 'lane', direction: 'up', schema: 'lookupRequest', qos: 1, retain: false },
  /** Sealed to the health authority. */
  registration: { scope: 'lane', direction: 'up', schema: 'sealedRegistration', qos: 1, retain: false },
  /** A colour change or snapshot this lane applied. */
  'colour/applied': { scope: 'lane', direction: 'up', schema: 'colourApplied', qos: 1, retain: false },
  /** Home Assistant's entities (mqtt.homeAssistant). */
  'ha/state': { scope: 'lane', direction: 'up', schema: 'haState', qos: 1, retain: true },
  /** The last verdict for Home Assistant, no subject. */
  'ha/last-decision': { scope: 'lane', direction: 'up', schema: 'haLastDecision', qos: 1, retain: true },
  command: { scope: 'lane', direction: 'down', schema: 'command', qos: 1, retain: false, signed: 'command' },
  'lookup/reply': { scope: 'lane', direction: 'down', schema: 'lookupReply', qos: 1, retain: false, signed: 'lookup-reply' },
  /** Retained: the next centre key, signed by the current one (docs/keys.md). */
  'centre/key': { scope: 'site', direction: 'down', schema: 'centreKey', qos: 1, retain: true, signed: 'centre-key' },
  /** Retained: the issuer trust list, as export-trust signs it. */
  'centre/trust-list': { scope: 'site', direction: 'down', schema: 'trustList', qos: 1, retain: true, signed: 'trust-list' },
  /** Sequenced. */
  'colour/change': { scope: 'site', direction: 'down', schema: 'colourChange', qos: 1, retain: false, signed: 'colour-change' },
  /** Versioned. */
  'colour/snapshot': { scope: 'site', direction: 'down', schema: 'colourSnapshot', qos: 1, retain: true, signed: 'colour-snapshot' },
} as const satisfies Record<string, LeafSpec>;

type Topics = typeof TOPICS;
export type Leaf = keyof Topics;

/** The leaves of one scope and direction. */
export type LeafOf<S extends LeafSpec['scope'], D extends LeafSpec['direction']> = {
  [L in Leaf]: Topics[L] extends { scope: S; direction: D } ? L : never;
}[Leaf];
export type LaneUpLeaf = LeafOf<'lane', 'up'>;
export type LaneDownLeaf = LeafOf<'lane', 'down'>;
export type SiteDownLeaf = LeafOf<'site', 'down'>;
export type LaneLeaf = LeafOf<'lane', LeafSpec['direction']>;
export type SiteLeaf = LeafOf<'site', LeafSpec['direction']>;
export type UpLeaf = LeafOf<LeafSpec['scope'], 'up'>;
export type DownLeaf = LeafOf<LeafSpec['scope'], 'down'>;

/** The payload of a leaf: what the gate sends on it, or what the centre signs for it. */
export type PayloadOf<L extends Leaf> = ContractTypes[Topics[L]['schema']];

/** The leaves whose messages the centre signs. */
export type SignedLeaf = { [L in Leaf]: Topics[L] extends { signed: SignedType } ? L : never }[Leaf];
/** The JWS typ of what travels on a signed leaf: { 'colour/change': 'colour-change', ... }. */
export type SignedTypOf<L extends SignedLeaf> = Topics[L]['signed'];

/** The schema of what is signed as each typ: { 'colour-change': 'colourChange', ... }. */
type SignedSchemas = { [L in Leaf as Topics[L] extends { signed: infer T extends SignedType } ? T : never]: Topics[L]['schema'] };
/** The schema of what is signed as `typ`. */
export type SignedSchema<T extends SignedType> = SignedSchemas[T];

export function leafSpec(leaf: Leaf): LeafSpec {
  return TOPICS[leaf];
}

/** The MQTT publish options of a leaf, for whoever sends on it (gate or centre). */
export function publishOptions(leaf: Leaf): { qos: 0 | 1; retain: boolean } {
  const { qos, retain } = TOPICS[leaf];
  return { qos, retain };
}

/** The JWS typ a message on `leaf` is signed as: what binds it to that leaf and no other. */
export function signedTyp<L extends SignedLeaf>(leaf: L): SignedTypOf<L> {
  return TOPICS[leaf].signed;
}

const leafBySignedTyp = new Map<SignedType, SignedLeaf>();
for (const leaf of Object.keys(TOPICS) as Leaf[]) {
  const spec: LeafSpec = TOPICS[leaf];
  if (spec.signed) leafBySignedTyp.set(spec.signed, leaf as SignedLeaf);
}

/** The leaf that carries messages signed as `typ` (a typ no leaf carries has none: the type says which do). */
export function leafSignedAs(typ: SignedType): SignedLeaf {
  const leaf = leafBySignedTyp.get(typ);
  if (leaf === undefined) throw new Error(`no topic carries messages signed as ${typ}`);
  return leaf;
}

/** The leaves of one scope and direction, in the table's order. */
export function leavesOf<S extends LeafSpec['scope'], D extends LeafSpec['direction']>(scope: S, direction: D): readonly LeafOf<S, D>[] {
  return (Object.keys(TOPICS) as Leaf[]).filter((leaf) => TOPICS[leaf].scope === scope && TOPICS[leaf].direction === direction) as LeafOf<S, D>[];
}

export function isLeaf(text: string): text is Leaf {
  return Object.hasOwn(TOPICS, text);
}

/** The schema of what is signed as `typ`: its leaf's. */
export function signedSchema<T extends SignedType>(typ: T): SignedSchema<T> {
  return TOPICS[leafSignedAs(typ)].schema as SignedSchema<T>;
}

/** True for a leaf only the centre sends on. */
export function isDownLeaf(leaf: Leaf): leaf is DownLeaf {
  return TOPICS[leaf].direction === 'down';
}
