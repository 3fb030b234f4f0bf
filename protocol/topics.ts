/**
 * The MQTT topic tree, one place: every topic the agent publishes or
 * subscribes to is built and recognised here (docs/asyncapi.yaml lists them).
 *
 *   <base>/<site>/<lane>/status           up, retained; the Last Will says offline
 *   <base>/<site>/<lane>/decision         up, QoS 1, one per decision
 *   <base>/<site>/<lane>/alert            up, QoS 1, a red code showed up here
 *   <base>/<site>/<lane>/fault            up, QoS 1
 *   <base>/<site>/<lane>/security         up, QoS 1, a refused message
 *   <base>/<site>/<lane>/telemetry        up, QoS 0
 *   <base>/<site>/<lane>/command          down, signed by the centre
 *   <base>/<site>/<lane>/command/result   up, QoS 1
 *   <base>/<site>/<lane>/lookup/request   up, QoS 1
 *   <base>/<site>/<lane>/lookup/reply     down, signed by the centre
 *   <base>/<site>/<lane>/registration     up, QoS 1, sealed to the health authority
 *   <base>/<site>/<lane>/colour/applied   up, QoS 1, a colour change or snapshot this lane applied
 *   <base>/<site>/<lane>/ha/state         up, retained, Home Assistant's entities (mqtt.homeAssistant)
 *   <base>/<site>/<lane>/ha/last-decision up, retained, the last verdict for Home Assistant, no subject
 *   <base>/<site>/colour/change           down, signed, sequenced
 *   <base>/<site>/colour/snapshot         down, retained, signed, versioned
 *
 * `colour` can never be a lane id, so site-wide topics and lane topics never
 * meet.
 */

export const LANE_UP_LEAVES = ['status', 'decision', 'alert', 'fault', 'security', 'telemetry', 'command/result', 'lookup/request', 'registration', 'colour/applied', 'ha/state', 'ha/last-decision'] as const;
export type LaneUpLeaf = (typeof LANE_UP_LEAVES)[number];

export const LANE_DOWN_LEAVES = ['command', 'lookup/reply'] as const;
export type LaneDownLeaf = (typeof LANE_DOWN_LEAVES)[number];

export const SITE_DOWN_LEAVES = ['colour/change', 'colour/snapshot'] as const;
export type SiteDownLeaf = (typeof SITE_DOWN_LEAVES)[number];

/** Ids used in topics: no MQTT wildcards or separators. The config schema enforces the same. */
const TOPIC_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const RESERVED_LANE_IDS = new Set(['colour']);

const LANE_LEAVES: ReadonlySet<string> = new Set([...LANE_UP_LEAVES, ...LANE_DOWN_LEAVES]);

export function laneTopic(base: string, site: string, lane: string, leaf: LaneUpLeaf | LaneDownLeaf): string {
  return `${base}/${site}/${lane}/${leaf}`;
}

export function siteTopic(base: string, site: string, leaf: SiteDownLeaf): string {
  return `${base}/${site}/${leaf}`;
}

/** The topics one lane subscribes to. */
export function laneSubscriptions(base: string, site: string, lane: string): string[] {
  return [
    siteTopic(base, site, 'colour/change'),
    siteTopic(base, site, 'colour/snapshot'),
    laneTopic(base, site, lane, 'command'),
    laneTopic(base, site, lane, 'lookup/reply'),
  ];
}

export type ParsedTopic =
  | { scope: 'lane'; site: string; lane: string; leaf: LaneUpLeaf | LaneDownLeaf }
  | { scope: 'site'; site: string; leaf: SiteDownLeaf };

/** Recognise a topic of the tree under `base`; null for anything else. */
export function parseTopic(base: string, topic: string): ParsedTopic | null {
  if (!topic.startsWith(`${base}/`)) return null;
  const parts = topic.slice(base.length + 1).split('/');
  const [site, second, ...rest] = parts;
  if (!site || !second || !TOPIC_ID.test(site)) return null;
  const tail = rest.join('/');
  if (second === 'colour') {
    const leaf = `colour/${tail}`;
    return (SITE_DOWN_LEAVES as readonly string[]).includes(leaf) ? { scope: 'site', site, leaf: leaf as SiteDownLeaf } : null;
  }
  if (!TOPIC_ID.test(second) || RESERVED_LANE_IDS.has(second)) return null;
  return LANE_LEAVES.has(tail) ? { scope: 'lane', site, lane: second, leaf: tail as LaneUpLeaf | LaneDownLeaf } : null;
}
