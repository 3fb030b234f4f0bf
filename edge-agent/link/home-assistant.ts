/**
 * Home Assistant MQTT discovery, one extension with start/stop (as
 * zigbee2mqtt's homeassistant extension): each lane announces itself as one
 * Home Assistant device whose entities read topics the lane already keeps.
 *
 *   <prefix>/<component>/gate-<site>-<lane>/<entity>/config   retained, QoS 1, one per entity
 *   <base>/<site>/<lane>/ha/state                             retained, what the entities show
 *   <base>/<site>/<lane>/ha/last-decision                     retained, the last verdict, no subject
 *   <base>/<site>/<lane>/status                               (the link's) availability, with the Last Will
 *
 * Read-only: no entity has a command topic; the gate is still commanded only
 * by messages the centre signs. Why two topics of our own instead of the
 * decision and telemetry topics: decision events carry the code's subject
 * and credential, which must not reach a home-automation database, and
 * telemetry is neither retained nor sent when something changes; and every
 * field an entity template reads is always present in ha/state (the Last
 * Will on status carries only `state`, so entities reading status fields
 * would fail to render whenever a gate drops off).
 *
 * Options follow https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery,
 * https://www.home-assistant.io/integrations/sensor.mqtt/ and
 * https://www.home-assistant.io/integrations/binary_sensor.mqtt/ (full keys,
 * never the abbreviations, so the payloads read as the docs do).
 * Stopping cleanly removes nothing: Home Assistant keeps the device, shown
 * unavailable. To remove a lane, publish an empty retained message to each
 * of its config topics (README, "Home Assistant").
 */
import { readFileSync } from 'node:fs';
import type SqliteDatabase from 'better-sqlite3';
import type { Logger } from 'pino';
import type { ColourSync } from '../colour/colour-sync.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import type { Lane } from '../lane/lane.js';
import { LANE_STATES, type HaLastDecisionMessage, type HaStateMessage, type TelemetryMessage } from '../../protocol/contract.js';
import { laneTopic } from '../../protocol/topics.js';
import type { LanePublish } from './lane-publish.js';

export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';

/** The lane's own leaves Home Assistant's entities read. */
export type HaLeaf = 'ha/state' | 'ha/last-decision';

/** What the extension needs of the lane's MQTT link (GateLink gives it; tests give a recording fake). */
export interface HomeAssistantLink {
  readonly connected: boolean;
  /** On the lane's ha/ leaves: topic, QoS and retain flag from the topic table, the payload typed by it. */
  publish: LanePublish<HaLeaf>;
  /**
   * On a topic outside the lane's tree, which the topic table does not hold:
   * the discovery configs under Home Assistant's own prefix (<prefix>/<component>/.../config), QoS 1.
   */
  publishNow(topic: string, payload: string, options?: { retain?: boolean }): boolean;
  /** Handler for one exact topic outside the lane's tree, subscribed on every connect; returns the undo. */
  subscribeExtra(topic: string, handler: (payload: Buffer) => void): () => void;
  telemetry(): TelemetryMessage;
  on(event: 'connected', listener: () => void): unknown;
  off(event: 'connected', listener: () => void): unknown;
}

export interface HomeAssistantOptions {
  link: HomeAssistantLink;
  lane: Pick<Lane, 'on' | 'off'>;
  /** Degraded and synced again show at once, not at the next refresh. */
  colourSync?: Pick<ColourSync, 'on' | 'off'>;
  /** The journal's database: today's counts and the last decision are read from it, so a restart loses neither. */
  db: SqliteDatabase.Database;
  site: string;
  laneId: string;
  baseTopic: string;
  discoveryPrefix: string;
  /** How often the readings that change by themselves (sync age, outbox depth) are refreshed: mqtt.telemetryIntervalSeconds. */
  refreshSeconds: number;
  /** Default REANNOUNCE_MIN_MS; tests shorten it. */
  reannounceMinMs?: number;
  logger: Logger;
}

/**
 * A Home Assistant birth message re-announces at most this often: the
 * status topic is unsigned, and anyone allowed to write it must not make
 * every gate of the site re-publish its configs in a loop.
 */
export const REANNOUNCE_MIN_MS = 5_000;

const PACKAGE = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name: string; version: string; homepage?: string };

export type HaComponent = 'sensor' | 'binary_sensor';

export interface DiscoveryMessage {
  component: HaComponent;
  /** The entity's object id in the config topic. */
  objectId: string;
  topic: string;
  config: Record<string, unknown>;
}

/** Verdicts that kept a person out: a deny, and a hold (red code). */
const REFUSED = new Set(['deny', 'hold']);

/** The node id of a lane in discovery topics: the lane's MQTT username (gate-<site>-<lane>), which the broker ACL names. */
export function haNodeId(site: string, lane: string): string {
  return `gate-${site}-${lane}`;
}

/**
 * Every discovery message of one lane. Templates are all `{{ value_json.<field> }}`
 * over fields that are always present in the payload they read (a test checks
 * each against sample payloads that pass the contract).
 */
export function discoveryMessages(options: { site: string; lane: string; baseTopic: string; discoveryPrefix: string }): DiscoveryMessage[] {
  const { site, lane, baseTopic, discoveryPrefix } = options;
  const node = haNodeId(site, lane);
  const status = laneTopic(baseTopic, site, lane, 'status');
  const state = laneTopic(baseTopic, site, lane, 'ha/state');
  const lastDecision = laneTopic(baseTopic, site, lane, 'ha/last-decision');
  const device = {
    identifiers: [node],
    name: `Gate ${site}/${lane}`,
    manufacturer: PACKAGE.name,
    model: 'Health-code entry gate',
    sw_version: PACKAGE.version,
  };
  // The Last Will replaces status with {"state":"offline"}: every entity but connectivity goes unavailable.
  const availability = [{ topic: status, value_template: '{{ value_json.state }}', payload_available: 'online', payload_not_available: 'offline' }];
  const common = (objectId: string, name: string): Record<string, unknown> => ({
    name,
    unique_id: `${node}-${objectId}`,
    device,
    origin: { name: PACKAGE.name, sw_version: PACKAGE.version },
    qos: 1,
  });
  // JSON booleans render as Python's True and False through value_json.
  const flag = { payload_on: 'True', payload_off: 'False' };
  const entries: Array<{ component: HaComponent; objectId: string; config: Record<string, unknown> }> = [
    {
      component: 'binary_sensor',
      objectId: 'online',
      // No availability: it reports exactly that, and "disconnected" says more than "unavailable".
      config: { ...common('online', 'Online'), state_topic: status, value_template: '{{ value_json.state }}', payload_on: 'online', payload_off: 'offline', device_class: 'connectivity' },
    },
    {
      component: 'sensor',
      objectId: 'lane_state',
      config: { ...common('lane_state', 'Lane state'), availability, state_topic: state, value_template: '{{ value_json.laneState }}', device_class: 'enum', options: [...LANE_STATES] },
    },
    {
      component: 'sensor',
      objectId: 'last_verdict',
      config: {
        ...common('last_verdict', 'Last verdict'),
        availability,
        state_topic: lastDecision,
        value_template: '{{ value_json.verdict }}',
        device_class: 'enum',
        options: ['pass', 'deny', 'hold'],
        // The whole message: verdict, reason, colour, decidedBy, time; it never holds a subject.
        json_attributes_topic: lastDecision,
      },
    },
    {
      component: 'sensor',
      objectId: 'passes_today',
      // total_increasing: HA's documented class for "a daily amount", a drop to 0 at midnight being a new cycle.
      config: { ...common('passes_today', 'Passes today'), availability, state_topic: state, value_template: '{{ value_json.passesToday }}', state_class: 'total_increasing', icon: 'mdi:account-check' },
    },
    {
      component: 'sensor',
      objectId: 'refusals_today',
      config: { ...common('refusals_today', 'Refusals today'), availability, state_topic: state, value_template: '{{ value_json.refusalsToday }}', state_class: 'total_increasing', icon: 'mdi:account-cancel' },
    },
    {
      component: 'binary_sensor',
      objectId: 'held',
      config: { ...common('held', 'Held (red code)'), availability, state_topic: state, value_template: '{{ value_json.held }}', ...flag, icon: 'mdi:hand-back-left' },
    },
    {
      component: 'binary_sensor',
      objectId: 'sensor_fault',
      config: { ...common('sensor_fault', 'Sensor fault'), availability, state_topic: state, value_template: '{{ value_json.sensorFault }}', ...flag, device_class: 'problem', entity_category: 'diagnostic' },
    },
    {
      component: 'binary_sensor',
      objectId: 'degraded',
      config: { ...common('degraded', 'Degraded'), availability, state_topic: state, value_template: '{{ value_json.degraded }}', ...flag, device_class: 'problem', entity_category: 'diagnostic' },
    },
    {
      component: 'sensor',
      objectId: 'outbox_depth',
      config: { ...common('outbox_depth', 'Outbox depth'), availability, state_topic: state, value_template: '{{ value_json.outboxDepth }}', state_class: 'measurement', entity_category: 'diagnostic', icon: 'mdi:tray-full' },
    },
    {
      component: 'sensor',
      objectId: 'colour_sync_age',
      // null (never synced) renders None, which HA documents as "unknown" for a numeric sensor.
      config: {
        ...common('colour_sync_age', 'Colour sync age'),
        availability,
        state_topic: state,
        value_template: '{{ value_json.colourSyncAgeSeconds }}',
        device_class: 'duration',
        unit_of_measurement: 's',
        state_class: 'measurement',
        entity_category: 'diagnostic',
      },
    },
  ];
  return entries.map((e) => ({ ...e, topic: `${discoveryPrefix}/${e.component}/${node}/${e.objectId}/config` }));
}

/** Local midnight of the gate's clock (its TZ): where "today" starts. */
export function startOfDay(now: Date): Date {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate());
}

export class HomeAssistantDiscovery {
  private readonly messages: DiscoveryMessage[];
  private readonly countToday: SqliteDatabase.Statement;
  private readonly readLast: SqliteDatabase.Statement;
  private lastDecision: HaLastDecisionMessage | null = null;
  private unsubscribe: (() => void) | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private pendingState = false;
  private lastAnnounceAt = 0;
  private reannounceTimer: NodeJS.Timeout | null = null;
  private started = false;

  private readonly onConnected = (): void => this.announce();
  private readonly onChange = (): void => this.scheduleState();
  private readonly onDecision = (record: { event: DecisionEvent }): void => {
    this.lastDecision = lastDecisionOf(record.event);
    this.publishLastDecision();
    this.scheduleState();
  };

  constructor(private readonly options: HomeAssistantOptions) {
    const { site, laneId, baseTopic, discoveryPrefix, db } = options;
    this.messages = discoveryMessages({ site, lane: laneId, baseTopic, discoveryPrefix });
    // Journal times are UTC ISO strings, so they compare as text; the events_time index keeps this to today's rows.
    this.countToday = db.prepare('SELECT verdict, count(*) AS n FROM events WHERE time >= ? AND lane = ? GROUP BY verdict');
    this.readLast = db.prepare('SELECT event FROM events WHERE lane = ? ORDER BY seq DESC LIMIT 1').pluck();
  }

  /** Announces on every connect (and now, if connected) and on Home Assistant's birth message. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const { link, lane, discoveryPrefix, refreshSeconds } = this.options;
    const json = this.readLast.get(this.options.laneId) as string | undefined;
    if (json) this.lastDecision = lastDecisionOf(JSON.parse(json) as DecisionEvent);
    link.on('connected', this.onConnected);
    this.unsubscribe = link.subscribeExtra(`${discoveryPrefix}/status`, (payload) => this.birth(payload));
    lane.on('state', this.onChange);
    lane.on('fault', this.onChange);
    lane.on('decision', this.onDecision);
    this.options.colourSync?.on('degraded', this.onChange);
    this.options.colourSync?.on('synced', this.onChange);
    // Sync age and outbox depth change without an event; this also rolls the counts over at midnight.
    this.refreshTimer = setInterval(this.onChange, refreshSeconds * 1000);
    this.refreshTimer.unref();
    if (link.connected) this.announce();
  }

  /** Removes every listener and timer; the retained configs stay (Home Assistant keeps the device). */
  stop(): void {
    if (!this.started) return;
    this.started = false;
    const { link, lane } = this.options;
    link.off('connected', this.onConnected);
    this.unsubscribe?.();
    this.unsubscribe = null;
    lane.off('state', this.onChange);
    lane.off('fault', this.onChange);
    lane.off('decision', this.onDecision);
    this.options.colourSync?.off('degraded', this.onChange);
    this.options.colourSync?.off('synced', this.onChange);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    if (this.reannounceTimer) clearTimeout(this.reannounceTimer);
    this.refreshTimer = this.reannounceTimer = null;
  }

  /** The lane's discovery messages, as announced. */
  get discovery(): readonly DiscoveryMessage[] {
    return this.messages;
  }

  /** What ha/state holds now. */
  state(now = new Date()): HaStateMessage {
    const telemetry = this.options.link.telemetry();
    const since = startOfDay(now);
    let passes = 0;
    let refusals = 0;
    for (const row of this.countToday.all(since.toISOString(), this.options.laneId) as Array<{ verdict: string; n: number }>) {
      if (row.verdict === 'pass') passes += row.n;
      else if (REFUSED.has(row.verdict)) refusals += row.n;
    }
    return {
      time: now.toISOString(),
      laneState: telemetry.laneState,
      held: telemetry.laneState === 'held',
      degraded: telemetry.degraded,
      sensorFault: telemetry.faults.length > 0,
      faults: telemetry.faults,
      outboxDepth: telemetry.outbox.depth,
      colourSyncAgeSeconds: telemetry.colourSyncAgeSeconds,
      passesToday: passes,
      refusalsToday: refusals,
      countsSince: since.toISOString(),
    };
  }

  /** Every config, then the state and last decision. Each call publishes all: they are retained, so a repeat costs HA nothing. */
  announce(): void {
    if (!this.started || !this.options.link.connected) return;
    this.lastAnnounceAt = Date.now();
    // Discovery configs live under Home Assistant's prefix, outside the lane's tree and the topic table: published by topic.
    for (const m of this.messages) this.options.link.publishNow(m.topic, JSON.stringify(m.config), { retain: true });
    this.options.logger.info({ entities: this.messages.length, prefix: this.options.discoveryPrefix }, 'Home Assistant discovery announced');
    this.publishState();
    this.publishLastDecision();
  }

  private birth(payload: Buffer): void {
    // Home Assistant's Last Will says offline on the same topic: nothing to do then.
    if (payload.toString('utf8').trim() !== 'online' || !this.started) return;
    if (this.reannounceTimer) return;
    const wait = Math.max(0, this.lastAnnounceAt + (this.options.reannounceMinMs ?? REANNOUNCE_MIN_MS) - Date.now());
    this.reannounceTimer = setTimeout(() => {
      this.reannounceTimer = null;
      this.announce();
    }, wait);
    this.reannounceTimer.unref();
  }

  /** Several changes in one turn of the event loop (a decision moves the lane through states) make one message. */
  private scheduleState(): void {
    if (this.pendingState || !this.started) return;
    this.pendingState = true;
    setImmediate(() => {
      this.pendingState = false;
      this.publishState();
    });
  }

  private publishState(): void {
    if (!this.started || !this.options.link.connected) return;
    try {
      this.options.link.publish('ha/state', this.state());
    } catch (error) {
      // state() reads the journal and the outbox: a disk error skips one reading, never the lane.
      this.options.logger.error({ err: error }, 'Home Assistant state not sent');
    }
  }

  private publishLastDecision(): void {
    if (!this.lastDecision || !this.started) return;
    this.options.link.publish('ha/last-decision', this.lastDecision);
  }
}

/** What Home Assistant may know of a decision: never the subject, the credential or the temperature. */
export function lastDecisionOf(event: DecisionEvent): HaLastDecisionMessage {
  return { verdict: event.verdict, reason: event.reason, colour: event.colour, decidedBy: event.decidedBy, time: event.time };
}
