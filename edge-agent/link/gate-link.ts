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
import type { DecisionEvent } from '../../protocol/domain.js';
import type { SealedRecord } from '../../protocol/privacy/sealed-record.js';
import type { CommandHandler } from './command-handler.js';
import type {
  ColourAppliedMessage,
  SealedRegistrationMessage,
  CommandResultMessage,
  FaultMessage,
  LaneState,
  LaneStatusMessage,
  RedAlertMessage,
  SecurityEventMessage,
  SecurityKind,
  TelemetryMessage,
} from '../../protocol/contract.js';
import type { LookupClient } from './lookup-client.js';
import { mqttClientOptions, type MqttClientOptions } from './mqtt-options.js';
import type { Outbox, OutboxPriority } from './outbox.js';
import { OutboxPump } from './outbox-pump.js';
import { SignedMessageError } from '../../protocol/signed-message.js';
import { laneSubscriptions, laneTopic, parseTopic, siteTopic, type LaneUpLeaf } from '../../protocol/topics.js';

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
  laneView: LaneView;
  logger: Logger;
  /** Extra MQTT.js options over those from the config (benchmarks: no reconnect jitter, shorter timeouts). */
  clientOptions?: Partial<MqttClientOptions>;
}

export interface GateLinkEvents {
  connected: [];
  disconnected: [];
  security: [SecurityEventMessage];
  /**
   * A colour change or snapshot was applied: its seq, when (epoch ms), and
   * processingMs from the message's arrival to the colours stored and in force (what the lane itself adds).
   */
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
    this.pump = new OutboxPump({ outbox: options.outbox, inflight: options.inflight, logger: options.logger });
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
    const will = { topic: this.topic('status'), payload: Buffer.from(JSON.stringify({ state: 'offline' } satisfies LaneStatusMessage)), qos: 1 as const, retain: true };
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
    const status: LaneStatusMessage = {
      state: 'online',
      time: new Date().toISOString(),
      laneState: laneView.laneState,
      degraded: colourSync.degraded,
      staffMode: laneView.laneState === 'staff',
    };
    client.publish(this.topic('status'), JSON.stringify(status), { qos: 1, retain: true }, (error) => {
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
      this.client.publish(this.topic('telemetry'), JSON.stringify(this.telemetry()), { qos: 0 });
    } catch (error) {
      // telemetry() reads the outbox: a disk error skips one reading, never the agent.
      this.options.logger.error({ err: error }, 'telemetry not sent');
    }
  }

  /**
   * The outbox rows for one decision: the event and, for a red code, the
   * alert. Called by the journal inside the transaction that stores the
   * event, so either all are on disk or none.
   */
  /** The sealed registration's outbox row; called inside the decision's transaction, so it throws rather than logs. */
  enqueueRegistration(sealed: SealedRecord): void {
    const message: SealedRegistrationMessage = { id: `${sealed.eventId}.registration`, ...sealed };
    const { outbox, lane } = this.options;
    outbox.enqueue({ id: message.id, lane, topic: this.topic('registration'), payload: JSON.stringify(message), qos: 1, priority: 'event' });
  }

  enqueueDecision(event: DecisionEvent): void {
    const { outbox, lane } = this.options;
    outbox.enqueue({ id: event.id, lane, topic: this.topic('decision'), payload: JSON.stringify(event), qos: 1, priority: 'event' });
    if (event.verdict === 'hold' && event.colour === 'red') {
      const alert: RedAlertMessage = {
        id: `${event.id}.alert`,
        eventId: event.id,
        time: event.time,
        site: event.site,
        lane: event.lane,
        subject: event.subject,
        colour: 'red',
        decidedBy: event.decidedBy,
      };
      outbox.enqueue({ id: alert.id, lane, topic: this.topic('alert'), payload: JSON.stringify(alert), qos: 1, priority: 'event' });
    }
  }

  /** After the journal's transaction committed: send now if connected. */
  kick(): void {
    this.pump.kick();
  }

  /** `queue: false`: live only, for reports about the outbox itself (queued, one would push another message out). */
  reportFault(fault: { kind: string; detail: string; active?: boolean }, options: { queue?: boolean } = {}): void {
    const message: FaultMessage = { id: randomUUID(), time: new Date().toISOString(), site: this.options.site, lane: this.options.lane, ...fault };
    if (options.queue === false) this.publishNow(this.topic('fault'), JSON.stringify(message));
    else this.enqueue('fault', message.id, message);
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
    this.enqueue('security', message.id, message, 'telemetry');
    this.emit('security', message);
  }

  /**
   * One colour/applied report per change or snapshot this lane applied (the console measures each
   * lane's delay from the centre's issuedAt). Queued at telemetry priority: dropped before any event when full.
   */
  private reportColourApplied(info: AppliedInfo): void {
    const { site, lane } = this.options;
    const message: ColourAppliedMessage = { id: randomUUID(), site, lane, seq: info.seq, issuedAt: info.issuedAt, appliedAt: info.appliedAt, via: info.via, changes: info.changes };
    this.enqueue('colour/applied', message.id, message, 'telemetry');
  }

  private enqueue(leaf: 'fault' | 'security' | 'command/result' | 'colour/applied', id: string, message: object, priority: OutboxPriority = 'event'): void {
    try {
      this.options.outbox.enqueue({ id, lane: this.options.lane, topic: this.topic(leaf), payload: JSON.stringify(message), qos: 1, priority });
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
    const ours =
      parsed !== null &&
      parsed.site === site &&
      (parsed.scope === 'site' || (parsed.lane === lane && (parsed.leaf === 'command' || parsed.leaf === 'lookup/reply')));
    if (!parsed || !ours) {
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
          if (!this.options.lookup) throw new SignedMessageError('unexpected-topic', 'this lane makes no look-ups');
          this.options.lookup.acceptReply(payload);
          break;
      }
    } catch (error) {
      if (error instanceof SignedMessageError) this.reportSecurity(topic, error.kind, error.message);
      else logger.error({ err: error, topic }, 'a message could not be handled; dropped');
    }
  }

  private runCommand(topic: string, payload: Buffer): void {
    const commands = this.options.commands;
    if (!commands) throw new SignedMessageError('unexpected-topic', 'this lane takes no commands');
    commands.handle(payload).then(
      (result: CommandResultMessage) => {
        this.options.logger.info({ commandId: result.commandId, action: result.action, signedBy: result.signedBy, ok: result.ok, detail: result.detail }, 'command');
        this.enqueue('command/result', result.id, result);
        this.publishStatus();
      },
      (error: unknown) => {
        if (error instanceof SignedMessageError) this.reportSecurity(topic, error.kind, error.message);
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

  /** Publish through the live connection, for look-up requests: false when not connected (the caller does not wait). */
  publishNow(topic: string, payload: string, options: { expirySeconds?: number; retain?: boolean } = {}): boolean {
    const client = this.client;
    if (!client?.connected) return false;
    // MQTT 5: a message of no use after its deadline (a look-up request) is not kept by the broker past it.
    const expiry = options.expirySeconds !== undefined && this.options.mqtt.protocolVersion === 5 ? { properties: { messageExpiryInterval: options.expirySeconds } } : {};
    client.publish(topic, payload, { qos: 1, retain: options.retain ?? false, ...expiry });
    return true;
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
      const offline: LaneStatusMessage = { state: 'offline', time: new Date().toISOString() };
      // Bounded: if the connection drops now, MQTT.js keeps the publish for a reconnect that never comes, and stop() would hang.
      let timer: NodeJS.Timeout | undefined;
      acknowledged = await Promise.race([
        client.publishAsync(this.topic('status'), JSON.stringify(offline), { qos: 1, retain: true }).then(() => true, () => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(resolve, STOP_GOODBYE_MS, false))),
      ]);
      clearTimeout(timer);
    }
    // Otherwise end at once rather than wait for acks that cannot come (the outbox keeps every event).
    await client.endAsync(!acknowledged || !client.connected);
  }
}
