/**
 * The lane's MQTT link, one extension with start/stop (as zigbee2mqtt's):
 * it owns the broker connection, sends events from the durable outbox, keeps
 * the retained lane status with its Last Will, publishes telemetry, and
 * hands every incoming message to the part that knows its kind (colour sync,
 * command handler, look-up client) after checking its size and topic. Each
 * of them reads the message through signed-message.ts, which refuses every
 * malformed form alike ('malformed', naming what) and parses JSON only
 * within the depth bound of json-bounds.ts.
 *
 * Nothing from the network can stop it: whatever a handler refuses is
 * logged, dropped and reported as a security event (a burst per kind, then
 * counted: see SECURITY_EVENT_BURST), and anything else that goes wrong with
 * one message is logged and that message dropped.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AppliedInfo, ColourSync } from '../colour/colour-sync.js';
import type { MqttConfig } from '../../protocol/config/gate-schema.js';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import type { SealedRecord } from '../../protocol/privacy/sealed-record.js';
import type { CentreTrustHandlers } from './centre-trust.js';
import type { CommandHandler } from './command-handler.js';
import type { CommandResultMessage, LaneState, SecurityEventMessage, SecurityKind, TelemetryMessage } from '../../protocol/contract.js';
import { isDownLeaf, type DownLeaf, type LaneUpLeaf, type PayloadOf } from '../../protocol/registry.js';
import { laneMessage, type LaneAddress, type LaneMessage } from './lane-publish.js';
import type { LookupClient } from './lookup-client.js';
import { mqttClientOptions, type MqttClientOptions } from './mqtt-options.js';
import type { Outbox, OutboxPriority } from './outbox.js';
import { OutboxPump } from './outbox-pump.js';
import { isSecurityRefusal, MessageError } from '../../protocol/message-error.js';
import { laneSubscriptions, laneTopic, parseTopic, siteTopic } from '../../protocol/topics.js';

/** What the link reports about the lane; the fleet simulator gives a fixed one. */
export interface LaneView {
  readonly laneState: LaneState;
  /** Devices with an active fault. */
  readonly activeFaults: readonly string[];
}

export interface GateLinkOptions {
  mqtt: MqttConfig & { url: string };
  site: string;
  lane: string;
  outbox: Outbox;
  /** Messages published but not yet acknowledged, at most. */
  inflight: number;
  colourSync: ColourSync;
  commands?: CommandHandler;
  lookup?: LookupClient;
  /** The centre's next key and pushed trust list (centre-trust.ts); absent: refused as unexpected-topic. */
  centreTrust?: CentreTrustHandlers;
  laneView: LaneView;
  logger: Logger;
  /** The pump that sends the outbox while connected: the agent's own component; a link made alone (the fleet simulator) makes one. */
  pump?: OutboxPump;
  /** Extra MQTT.js options over those from the config (benchmarks: no reconnect jitter, shorter timeouts). */
  clientOptions?: Partial<MqttClientOptions>;
}

export interface GateLinkEvents {
  connected: [];
  disconnected: [];
  security: [SecurityEventMessage];
  /** A colour change or snapshot was applied: seq, when (epoch ms), processingMs from arrival to in force (the lane's own delay). */
  'colour-applied': [{ seq: number; appliedAt: number; changes: number; processingMs: number }];
}

/**
 * Security events per kind: a burst of this many, then one per refill period.
 * A flood, or a stale subscription echoing the gate's own reports back to it,
 * must not fill the log and the outbox; what is held back is counted in the
 * next report of that kind.
 */
export const SECURITY_EVENT_BURST = 20;
export const SECURITY_EVENT_REFILL_MS = 3_000;

/** How long stop() waits for the broker to take the offline status. */
const STOP_GOODBYE_MS = 2_000;

interface SecurityBucket {
  tokens: number;
  /** Epoch ms the tokens were last topped up. */
  refilledAt: number;
  /** Refused and not reported since the last report of this kind. */
  heldBack: number;
  lastTopic: string;
  timer: NodeJS.Timeout | null;
}

export class GateLink extends EventEmitter<GateLinkEvents> {
  private client: MqttClient | null = null;
  private readonly securityBuckets = new Map<SecurityKind, SecurityBucket>();
  private readonly pump: OutboxPump;
  private readonly base: string;
  private readonly at: LaneAddress;
  private telemetryTimer: NodeJS.Timeout | null = null;
  private readonly onResync = (): void => this.resyncFromSnapshot();
  private readonly onDegradedChange = (): void => this.publishStatus();
  private readonly onColourApplied = (info: AppliedInfo): void => this.reportColourApplied(info);
  /** Exact topics outside the lane's tree that an extension (Home Assistant's birth message) reads through this connection. */
  private readonly extraTopics = new Map<string, (payload: Buffer) => void>();
  private stopped = false;

  constructor(private readonly options: GateLinkOptions) {
    super();
    this.base = options.mqtt.baseTopic;
    this.at = { base: this.base, site: options.site, lane: options.lane };
    this.pump = options.pump ?? new OutboxPump({ outbox: options.outbox, inflight: options.inflight, logger: options.logger });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  topic(leaf: LaneUpLeaf): string {
    return laneTopic(this.base, this.options.site, this.options.lane, leaf);
  }

  /** Connects in the background: the lane decides whether or not the broker is there. */
  start(): void {
    const { mqtt: config, site, lane, logger } = this.options;
    const lastWill = laneMessage(this.at, 'status', { state: 'offline' });
    const will = { ...lastWill, payload: Buffer.from(lastWill.payload) };
    const client = mqtt.connect(config.url, { ...mqttClientOptions(config, { site, lane }, will), ...this.options.clientOptions });
    this.client = client;
    client.on('connect', (connack) => {
      logger.info({ url: config.url, sessionPresent: connack.sessionPresent }, 'connected to broker');
      this.publishStatus();
      // Subscribed on every connect: a broker that lost the session (restart without persistence) has forgotten them.
      client.subscribe([...laneSubscriptions(this.base, site, lane), ...this.extraTopics.keys()], { qos: 1 }, (error, granted) => {
        if (error) logger.error({ err: error }, 'subscribing to the centre topics failed');
        for (const g of granted ?? []) if (g.qos > 2) logger.error({ topic: g.topic, reason: g.qos }, 'the broker refused a subscription');
      });
      this.pump.online(client);
      this.emit('connected');
    });
    client.on('close', () => {
      this.pump.offline();
      this.emit('disconnected');
    });
    client.on('offline', () => logger.warn({ url: config.url }, 'broker offline; events wait in the outbox'));
    client.on('error', (error) => logger.warn({ err: error }, 'broker connection error'));
    client.on('message', (topic, payload) => this.receive(topic, payload));
    this.options.colourSync.on('resync', this.onResync);
    this.options.colourSync.on('degraded', this.onDegradedChange);
    this.options.colourSync.on('synced', this.onDegradedChange);
    this.options.colourSync.on('applied', this.onColourApplied);
    this.setTelemetryInterval(config.telemetryIntervalSeconds);
  }

  /** Also called when the centre's set-config changes mqtt.telemetryIntervalSeconds. */
  setTelemetryInterval(seconds: number): void {
    if (this.stopped) return;
    if (this.telemetryTimer) clearInterval(this.telemetryTimer);
    this.telemetryTimer = setInterval(() => this.publishTelemetry(), seconds * 1000);
    this.telemetryTimer.unref();
  }

  /** The lane's retained status; called on connect and whenever something in it changes. */
  publishStatus(): void {
    const client = this.client;
    if (!client?.connected) return;
    const { laneView, colourSync } = this.options;
    const status = laneMessage(this.at, 'status', {
      state: 'online',
      time: new Date().toISOString(),
      laneState: laneView.laneState,
      degraded: colourSync.degraded,
      staffMode: laneView.laneState === 'staff',
    });
    client.publish(status.topic, status.payload, { qos: status.qos, retain: status.retain }, (error) => {
      if (error) this.options.logger.debug({ err: error }, 'status not acknowledged');
    });
  }

  telemetry(): TelemetryMessage {
    const { laneView, colourSync, outbox, site, lane } = this.options;
    const syncAge = colourSync.syncAgeMs();
    const oldest = outbox.oldestAgeMs;
    return {
      time: new Date().toISOString(),
      site,
      lane,
      laneState: laneView.laneState,
      degraded: colourSync.degraded,
      colourSyncAgeSeconds: syncAge === null ? null : Math.round(syncAge / 100) / 10,
      colourSeq: colourSync.lastSeq,
      outbox: { depth: outbox.depth, oldestAgeSeconds: oldest === null ? null : Math.round(oldest / 100) / 10, dropped: outbox.dropped },
      faults: [...laneView.activeFaults],
    };
  }

  /** Telemetry is a reading, stale once the link is back: QoS 0, never queued. */
  publishTelemetry(): void {
    if (!this.client?.connected) return;
    try {
      this.publish('telemetry', this.telemetry());
    } catch (error) {
      // telemetry() reads the outbox: a disk error skips one reading, never the agent.
      this.options.logger.error({ err: error }, 'telemetry not sent');
    }
  }

  /**
   * Publishes on one of the lane's leaves through the live connection, with
   * the leaf's QoS and retain flag; false when not connected (nothing is
   * queued). The payload's type is the leaf's schema's.
   */
  publish<L extends LaneUpLeaf>(leaf: L, payload: PayloadOf<L>, options: { expirySeconds?: number } = {}): boolean {
    const client = this.client;
    if (!client?.connected) return false;
    const message = laneMessage(this.at, leaf, payload);
    client.publish(message.topic, message.payload, { qos: message.qos, retain: message.retain, ...this.expiry(options.expirySeconds) });
    return true;
  }

  /** The sealed registration's outbox row; called inside the decision's transaction, so it throws rather than logs. */
  enqueueRegistration(sealed: SealedRecord): void {
    const id = `${sealed.eventId}.registration`;
    this.queue('registration', id, { id, ...sealed });
  }

  /**
   * The outbox rows for one decision: the event and, for a red code, the
   * alert. Called by the journal inside the transaction that stores the
   * event, so either all are on disk or none.
   */
  enqueueDecision(event: DecisionEvent): void {
    this.queue('decision', event.id, event);
    if (event.verdict === 'hold' && event.colour === 'red') {
      const id = `${event.id}.alert`;
      this.queue('alert', id, {
        id,
        eventId: event.id,
        time: event.time,
        site: event.site,
        lane: event.lane,
        subject: event.subject,
        colour: 'red',
        decidedBy: event.decidedBy,
      });
    }
  }

  /** One outbox row for `leaf`, as the topic table says it travels; throws what the outbox throws. */
  private queue<L extends LaneUpLeaf>(leaf: L, id: string, payload: PayloadOf<L>, priority: OutboxPriority = 'event'): void {
    const message: LaneMessage = laneMessage(this.at, leaf, payload);
    this.options.outbox.enqueue({ id, lane: this.options.lane, ...message, priority });
  }

  /** After the journal's transaction committed: send now if connected. */
  kick(): void {
    this.pump.kick();
  }

  /** `queue: false`: live only, for reports about the outbox itself (queued, one would push another message out). */
  reportFault(fault: { kind: string; detail: string; active?: boolean }, options: { queue?: boolean } = {}): void {
    const message: PayloadOf<'fault'> = { id: randomUUID(), time: new Date().toISOString(), site: this.options.site, lane: this.options.lane, ...fault };
    if (options.queue === false) this.publish('fault', message);
    else this.report('fault', message.id, message);
    this.publishStatus();
  }

  private reportSecurity(topic: string, kind: SecurityKind, detail: string): void {
    const bucket = this.securityBucket(kind);
    // Once some are held back, the rest wait for the summary too, so the counts stay in order.
    if (bucket.heldBack > 0 || bucket.tokens < 1) {
      bucket.heldBack++;
      bucket.lastTopic = topic;
      this.scheduleSecuritySummary(kind, bucket);
      return;
    }
    bucket.tokens--;
    this.publishSecurity(topic, kind, detail);
  }

  /** The bucket of one kind, topped up for the time gone by. */
  private securityBucket(kind: SecurityKind): SecurityBucket {
    const now = Date.now();
    let bucket = this.securityBuckets.get(kind);
    if (!bucket) {
      bucket = { tokens: SECURITY_EVENT_BURST, refilledAt: now, heldBack: 0, lastTopic: '', timer: null };
      this.securityBuckets.set(kind, bucket);
    }
    const gained = Math.floor((now - bucket.refilledAt) / SECURITY_EVENT_REFILL_MS);
    bucket.tokens = Math.min(SECURITY_EVENT_BURST, bucket.tokens + gained);
    // A full bucket gains nothing while it waits: its period starts when a token is taken.
    bucket.refilledAt = bucket.tokens === SECURITY_EVENT_BURST ? now : bucket.refilledAt + gained * SECURITY_EVENT_REFILL_MS;
    return bucket;
  }

  private scheduleSecuritySummary(kind: SecurityKind, bucket: SecurityBucket): void {
    if (bucket.timer || this.stopped) return;
    const wait = Math.max(0, bucket.refilledAt + SECURITY_EVENT_REFILL_MS - Date.now());
    bucket.timer = setTimeout(() => {
      bucket.timer = null;
      if (this.stopped) return;
      const current = this.securityBucket(kind);
      if (current.tokens < 1) return this.scheduleSecuritySummary(kind, current);
      current.tokens--;
      const count = current.heldBack;
      current.heldBack = 0;
      this.publishSecurity(current.lastTopic, kind, `${count} messages refused as ${kind} and not reported one by one (over ${SECURITY_EVENT_BURST} in a burst); topic of the last one`, count);
    }, wait);
    bucket.timer.unref();
  }

  private publishSecurity(topic: string, kind: SecurityKind, detail: string, suppressed?: number): void {
    const message: SecurityEventMessage = {
      id: randomUUID(),
      time: new Date().toISOString(),
      site: this.options.site,
      lane: this.options.lane,
      topic: topic.slice(0, 1024),
      kind,
      detail: detail.slice(0, 2000),
      ...(suppressed !== undefined ? { suppressed } : {}),
    };
    this.options.logger.warn({ topic: message.topic, kind, detail: message.detail }, 'message refused');
    // Dropped before any decision or fault when the outbox is full.
    this.report('security', message.id, message, 'telemetry');
    this.emit('security', message);
  }

  /**
   * One colour/applied report per change or snapshot this lane applied (the console measures each
   * lane's delay from the centre's issuedAt). Queued at telemetry priority: dropped before any event when full.
   */
  private reportColourApplied(info: AppliedInfo): void {
    const { site, lane } = this.options;
    const id = randomUUID();
    this.report('colour/applied', id, { id, site, lane, seq: info.seq, issuedAt: info.issuedAt, appliedAt: info.appliedAt, via: info.via, changes: info.changes }, 'telemetry');
  }

  /** A report's outbox row, sent now if connected; a full disk loses the report, never the agent. */
  private report<L extends 'fault' | 'security' | 'command/result' | 'colour/applied'>(leaf: L, id: string, payload: PayloadOf<L>, priority: OutboxPriority = 'event'): void {
    try {
      this.queue(leaf, id, payload, priority);
      this.pump.kick();
    } catch (error) {
      this.options.logger.error({ err: error, leaf }, 'cannot store a report in the outbox');
    }
  }

  /** Every incoming message comes through here. */
  private receive(topic: string, payload: Buffer): void {
    const arrived = performance.now();
    const { mqtt: config, site, lane, logger } = this.options;
    if (payload.length > config.maxMessageBytes) {
      this.reportSecurity(topic, 'oversized', `${payload.length} bytes, more than mqtt.maxMessageBytes ${config.maxMessageBytes}`);
      return;
    }
    const extra = this.extraTopics.get(topic);
    if (extra) {
      try {
        extra(payload);
      } catch (error) {
        logger.error({ err: error, topic }, 'a message could not be handled; dropped');
      }
      return;
    }
    const parsed = parseTopic(this.base, topic);
    // Only what the centre sends, to this lane or its site.
    if (!parsed || parsed.site !== site || !isDownLeaf(parsed.leaf) || (parsed.scope === 'lane' && parsed.lane !== lane)) {
      this.reportSecurity(topic, 'unexpected-topic', 'a message on a topic this lane does not subscribe to');
      return;
    }
    // A retained empty payload clears a topic: nothing to apply, nothing wrong.
    if (payload.length === 0) return;
    try {
      switch (parsed.leaf) {
        case 'colour/change': {
          const result = this.options.colourSync.acceptChange(payload);
          if (result.kind === 'applied') {
            this.emit('colour-applied', { seq: result.seq, appliedAt: Date.now(), changes: result.applied, processingMs: performance.now() - arrived });
          }
          break;
        }
        case 'colour/snapshot': {
          const result = this.options.colourSync.acceptSnapshot(payload);
          if (result) this.emit('colour-applied', { seq: result.seq, appliedAt: Date.now(), changes: result.applied, processingMs: performance.now() - arrived });
          break;
        }
        case 'command':
          this.runCommand(topic, payload);
          break;
        case 'lookup/reply':
          if (!this.options.lookup) throw new MessageError('unexpected-topic', 'this lane makes no look-ups');
          this.options.lookup.acceptReply(payload);
          break;
        case 'centre/key':
        case 'centre/trust-list':
          if (!this.options.centreTrust) throw new MessageError('unexpected-topic', `this lane takes no ${parsed.leaf}`);
          this.options.centreTrust[parsed.leaf](payload);
          break;
        default:
          unhandled(parsed.leaf);
      }
    } catch (error) {
      if (isSecurityRefusal(error)) this.reportSecurity(topic, error.code, error.message);
      else logger.error({ err: error, topic }, 'a message could not be handled; dropped');
    }
  }

  private runCommand(topic: string, payload: Buffer): void {
    const commands = this.options.commands;
    if (!commands) throw new MessageError('unexpected-topic', 'this lane takes no commands');
    commands.handle(payload).then(
      (result: CommandResultMessage) => {
        this.options.logger.info({ commandId: result.commandId, action: result.action, signedBy: result.signedBy, ok: result.ok, detail: result.detail }, 'command');
        this.report('command/result', result.id, result);
        this.publishStatus();
      },
      (error: unknown) => {
        if (isSecurityRefusal(error)) this.reportSecurity(topic, error.code, error.message);
        else this.options.logger.error({ err: error }, 'command failed');
      },
    );
  }

  /** A gap in the colour sequence: read the retained snapshot again (unsubscribe, subscribe). */
  private resyncFromSnapshot(): void {
    const client = this.client;
    if (!client?.connected) return; // the next connect subscribes afresh, which delivers it
    const topic = siteTopic(this.base, this.options.site, 'colour/snapshot');
    this.options.logger.warn({ topic }, 'gap in the colour sequence: resync from the snapshot');
    client.unsubscribe(topic, () => client.subscribe(topic, { qos: 1 }));
  }

  /**
   * Publish on a topic outside the lane's tree, which the topic table does not hold (Home Assistant's
   * discovery configs): QoS 1; false when not connected (the caller does not wait). Lane leaves: publish().
   */
  publishNow(topic: string, payload: string, options: { expirySeconds?: number; retain?: boolean } = {}): boolean {
    const client = this.client;
    if (!client?.connected) return false;
    client.publish(topic, payload, { qos: 1, retain: options.retain ?? false, ...this.expiry(options.expirySeconds) });
    return true;
  }

  /** MQTT 5: a message of no use after its deadline (a look-up request) is not kept by the broker past it. */
  private expiry(seconds: number | undefined): { properties?: { messageExpiryInterval: number } } {
    return seconds !== undefined && this.options.mqtt.protocolVersion === 5 ? { properties: { messageExpiryInterval: seconds } } : {};
  }

  /**
   * For an extension: one exact topic outside the lane's tree, subscribed on
   * every connect (and now if connected), its messages handed over after the
   * size check. Returns the undo. Unsigned: only for what may trigger nothing
   * but a re-publish.
   */
  subscribeExtra(topic: string, handler: (payload: Buffer) => void): () => void {
    this.extraTopics.set(topic, handler);
    if (this.client?.connected) this.client.subscribe(topic, { qos: 1 });
    return () => {
      if (this.extraTopics.get(topic) !== handler) return;
      this.extraTopics.delete(topic);
      if (this.client?.connected) this.client.unsubscribe(topic);
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.telemetryTimer) clearInterval(this.telemetryTimer);
    for (const bucket of this.securityBuckets.values()) if (bucket.timer) clearTimeout(bucket.timer);
    this.options.colourSync.off('resync', this.onResync);
    this.options.colourSync.off('degraded', this.onDegradedChange);
    this.options.colourSync.off('synced', this.onDegradedChange);
    this.options.colourSync.off('applied', this.onColourApplied);
    const client = this.client;
    this.client = null;
    this.pump.offline();
    if (!client) return;
    let acknowledged = false;
    if (client.connected) {
      const offline = laneMessage(this.at, 'status', { state: 'offline', time: new Date().toISOString() });
      // Bounded: if the connection drops now, MQTT.js keeps the publish for a reconnect that never comes, and stop() would hang.
      let timer: NodeJS.Timeout | undefined;
      acknowledged = await Promise.race([
        client.publishAsync(offline.topic, offline.payload, { qos: offline.qos, retain: offline.retain }).then(() => true, () => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(resolve, STOP_GOODBYE_MS, false))),
      ]);
      clearTimeout(timer);
    }
    // Otherwise end at once rather than wait for acks that cannot come (the outbox keeps every event).
    await client.endAsync(!acknowledged || !client.connected);
  }
}

/** A leaf the centre sends on that receive() has no case for does not compile. */
function unhandled(leaf: never): never {
  throw new Error(`no handler for ${String(leaf as DownLeaf)}`);
}
