/**
 * The MQTT topic tree: every topic the agent publishes or subscribes to is
 * built and recognised here, from the leaves of registry.ts (which says
 * what each carries; docs/asyncapi.yaml lists them).
 *
 *   <base>/<site>/<lane>/<lane leaf>      status, decision, command, ...
 *   <base>/<site>/<site leaf>             centre/key, colour/change, ...
 *
 * The first part of every site leaf (`centre`, `colour`) can never be a lane
 * id, so site-wide topics and lane topics never meet: RESERVED_LANE_IDS is
 * read from the table, and a site leaf of one part does not load.
 */
import { leavesOf, TOPICS, type LaneDownLeaf, type LaneLeaf, type LaneUpLeaf, type SiteDownLeaf, type SiteLeaf } from './registry.js';

export type { LaneDownLeaf, LaneUpLeaf, SiteDownLeaf } from './registry.js';

export const LANE_UP_LEAVES: readonly LaneUpLeaf[] = leavesOf('lane', 'up');
export const LANE_DOWN_LEAVES: readonly LaneDownLeaf[] = leavesOf('lane', 'down');
export const SITE_DOWN_LEAVES: readonly SiteDownLeaf[] = leavesOf('site', 'down');

/** Ids used in topics: no MQTT wildcards or separators. The config schema enforces the same. */
const TOPIC_ID = /^[A-Za-z0-9_-]{1,64}$/;
const LANE_LEAVES: ReadonlySet<string> = new Set([...LANE_UP_LEAVES, ...LANE_DOWN_LEAVES]);
const SITE_LEAVES: ReadonlySet<string> = new Set((Object.keys(TOPICS) as (keyof typeof TOPICS)[]).filter((leaf) => TOPICS[leaf].scope === 'site'));

/** The first parts of the site leaves: lane ids no lane may take (the config schema and provisioning refuse them). */
export const RESERVED_LANE_IDS: ReadonlySet<string> = new Set(
  [...SITE_LEAVES].map((leaf) => {
    const [head, ...rest] = leaf.split('/');
    if (rest.length === 0 || !TOPIC_ID.test(head!)) throw new Error(`site leaf ${leaf}: a site leaf is <reserved lane id>/<name>`);
    return head!;
  }),
);

export function laneTopic(base: string, site: string, lane: string, leaf: LaneLeaf): string {
  return `${base}/${site}/${lane}/${leaf}`;
}

export function siteTopic(base: string, site: string, leaf: SiteLeaf): string {
  return `${base}/${site}/${leaf}`;
}

/** The topics one lane subscribes to: everything the centre sends it, the site's first. */
export function laneSubscriptions(base: string, site: string, lane: string): string[] {
  return [...SITE_DOWN_LEAVES.map((leaf) => siteTopic(base, site, leaf)), ...LANE_DOWN_LEAVES.map((leaf) => laneTopic(base, site, lane, leaf))];
}

export type ParsedTopic = { scope: 'lane'; site: string; lane: string; leaf: LaneLeaf } | { scope: 'site'; site: string; leaf: SiteLeaf };

/** Recognise a topic of the tree under `base`; null for anything else. */
export function parseTopic(base: string, topic: string): ParsedTopic | null {
  if (!topic.startsWith(`${base}/`)) return null;
  const parts = topic.slice(base.length + 1).split('/');
  const [site, second, ...rest] = parts;
  if (!site || !second || !TOPIC_ID.test(site)) return null;
  const tail = rest.join('/');
  if (RESERVED_LANE_IDS.has(second)) {
    const leaf = `${second}/${tail}`;
    return SITE_LEAVES.has(leaf) ? { scope: 'site', site, leaf: leaf as SiteLeaf } : null;
  }
  if (!TOPIC_ID.test(second)) return null;
  return LANE_LEAVES.has(tail) ? { scope: 'lane', site, lane: second, leaf: tail as LaneLeaf } : null;
}
