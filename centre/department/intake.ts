/**
 * The gates' red-code alerts and sealed registrations, taken from the broker
 * into the store's outbox. Each is stored (store.enqueueDelivery) before the
 * broker gets its PUBACK: the client's handleMessage hook, which MQTT.js
 * awaits before it acknowledges a QoS 1 message, resolves only after the
 * store does. A message the store could not take is left unacknowledged and
 * the connection is dropped, so the broker (a persistent session: clean
 * false) delivers it again when the client reconnects: nothing the gate sent
 * is lost between the broker and the department. A redelivery is stored once
 * (by the message id).
 *
 * The body kept is the message exactly as the gate sent it: a registration
 * is sealed to the health authority and passes on unopened, byte for byte.
 * What is not a well-formed alert or registration is dropped (acknowledged,
 * counted, logged): a message no store will take must not hold up the rest.
 *
 * MQTT.js handles one incoming packet at a time, so while a store call is
 * held every later message (and any ack for the same client's publishes)
 * waits behind it: holdMs stays well under the keepalive, and a client of
 * its own is the better wiring.
 */
import { EventEmitter } from 'node:events';
import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { check } from '../../protocol/contract.js';
import { parseBoundedJson } from '../../protocol/json-bounds.js';
import { TOPICS } from '../../protocol/registry.js';
import { laneTopic, parseTopic } from '../../protocol/topics.js';
import type { DeliveryKind } from '../store/store.js';
import type { DepartmentStore } from './department-store.js';

/** Far above an alert (under 1 kB) or a sealed registration (a few kB). */
export const MAX_INTAKE_MESSAGE_BYTES = 64 * 1024;

const LEAVES = { alert: 'alert', registration: 'registration' } as const satisfies Record<string, DeliveryKind>;

export interface IntakeEvents {
  stored: [{ id: string; kind: DeliveryKind; site: string; lane: string }];
  duplicate: [{ id: string; kind: DeliveryKind }];
  malformed: [{ topic: string; why: string }];
  /** The store did not take a message: left unacknowledged for the broker to deliver again. */
  held: [{ topic: string; error: string }];
}

export interface IntakeStats {
  stored: number;
  duplicates: number;
  malformed: number;
  /** Messages the store failed to take (each comes again from the broker). */
  notStored: number;
}

export interface IntakeOptions {
  /** A client with a persistent session (clean: false, a fixed clientId), so what gates send while the centre is away waits at the broker. */
  client: MqttClient;
  store: DepartmentStore;
  baseTopic: string;
  logger: Logger;
  /** How long one store call is tried again before the message is left to the broker's redelivery; default 5 s. */
  holdMs?: number;
  /** Told after each new delivery is stored (the deliverer's wake). */
  onStored?: () => void;
  now?: () => number;
}

type Handler = (packet: IPublishPacket, callback: (error?: Error) => void) => void;

export class DepartmentIntake extends EventEmitter<IntakeEvents> {
  private readonly log: Logger;
  private readonly holdMs: number;
  private readonly now: () => number;
  private readonly topics: string[];
  private previous: Handler | null = null;
  private running = false;
  private readonly counts: IntakeStats = { stored: 0, duplicates: 0, malformed: 0, notStored: 0 };
  private readonly subscribe = (): void => {
    this.options.client.subscribeAsync(this.topics, { qos: 1 }).then(
      () => this.log.info({ topics: this.topics }, 'taking alerts and registrations for the department'),
      (error: Error) => this.log.error({ err: error.message }, 'subscription to alerts and registrations refused'),
    );
  };

  constructor(private readonly options: IntakeOptions) {
    super();
    this.log = options.logger.child({ component: 'department-intake' });
    this.holdMs = options.holdMs ?? 5_000;
    this.now = options.now ?? Date.now;
    this.topics = Object.keys(LEAVES).map((leaf) => laneTopic(options.baseTopic, '+', '+', leaf as keyof typeof LEAVES));
  }

  get stats(): IntakeStats {
    return { ...this.counts };
  }

  /**
   * Hooks the client and subscribes (now if connected, and at every connect).
   * Start it before the client first connects (MQTT.js `manualConnect`): the
   * broker resends a persistent session's unacknowledged messages as soon as
   * it connects, and MQTT.js would acknowledge those unseen.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    const client = this.options.client;
    const previous: Handler = client.handleMessage.bind(client);
    this.previous = previous;
    client.handleMessage = (packet, callback) => {
      if (!this.mine(packet.topic)) return previous(packet, callback);
      this.take(packet).then(
        () => callback(),
        (error: Error) => {
          callback(error);
          this.redeliver();
        },
      );
    };
    client.on('connect', this.subscribe);
    if (client.connected) this.subscribe();
  }

  /**
   * Unhooks the client. Subscriptions stay with the session (unsubscribing
   * would make the broker drop what arrives while the centre is away); a
   * message arriving after this is not acknowledged, so the broker keeps it.
   */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    const client = this.options.client;
    client.removeListener('connect', this.subscribe);
    const previous = this.previous!;
    client.handleMessage = (packet, callback) => (this.mine(packet.topic) ? callback(new Error('department intake stopped')) : previous(packet, callback));
  }

  private mine(topic: string): boolean {
    const parsed = parseTopic(this.options.baseTopic, topic);
    return parsed !== null && parsed.scope === 'lane' && Object.hasOwn(LEAVES, parsed.leaf);
  }

  /** Resolves once the message is stored (or is dropped as malformed); rejects when the store failed for holdMs. */
  private async take(packet: IPublishPacket): Promise<void> {
    if (!this.running) throw new Error('department intake stopped');
    const parsed = parseTopic(this.options.baseTopic, packet.topic);
    if (!parsed || parsed.scope !== 'lane') return;
    const kind = LEAVES[parsed.leaf as keyof typeof LEAVES];
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : Buffer.from(packet.payload);
    const message = this.read(packet.topic, kind, parsed.site, parsed.lane, payload);
    if (!message) return;
    const entry = { id: message.id, kind, site: parsed.site, lane: parsed.lane, body: message.body, receivedAt: this.now() };
    const isNew = await this.holding(packet.topic, () => this.options.store.enqueueDelivery(entry));
    if (isNew) {
      this.counts.stored++;
      this.log.info({ id: entry.id, kind, site: entry.site, lane: entry.lane }, `${kind} kept for the department`);
      this.emit('stored', { id: entry.id, kind, site: entry.site, lane: entry.lane });
      this.options.onStored?.();
    } else {
      this.counts.duplicates++;
      this.emit('duplicate', { id: entry.id, kind });
    }
  }

  /** The checked message's id and its text as sent; null (counted, logged) when it is not a well-formed one of its leaf. */
  private read(topic: string, kind: DeliveryKind, site: string, lane: string, payload: Buffer): { id: string; body: string } | null {
    if (payload.length > MAX_INTAKE_MESSAGE_BYTES) return this.drop(topic, `larger than ${MAX_INTAKE_MESSAGE_BYTES} bytes`);
    let body: string;
    try {
      // Fatal decoding: a body that is not UTF-8 could not be passed on byte for byte as JSON text. A BOM is kept
      // (the decoder would drop it), so the body stays the bytes sent, and a BOM before the JSON is refused as no JSON.
      body = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(payload);
    } catch {
      return this.drop(topic, 'not UTF-8');
    }
    let message: { id: string; site: string; lane: string };
    try {
      message = check(TOPICS[kind].schema, parseBoundedJson(body));
    } catch (error) {
      return this.drop(topic, (error as Error).message);
    }
    // A gate writes only under its own lane: a payload naming another is not believed.
    if (message.site !== site || message.lane !== lane) return this.drop(topic, 'site or lane differ from the topic');
    return { id: message.id, body };
  }

  private drop(topic: string, why: string): null {
    this.counts.malformed++;
    if (this.counts.malformed <= 20 || this.counts.malformed % 100 === 0) this.log.warn({ topic, why, count: this.counts.malformed }, 'malformed message for the department dropped');
    this.emit('malformed', { topic, why });
    return null;
  }

  /** One store call tried again (waits from 50 ms doubling to 1 s) for up to holdMs, the message unacknowledged all along. */
  private async holding<T>(topic: string, call: () => Promise<T>): Promise<T> {
    const deadline = this.now() + this.holdMs;
    for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
      try {
        return await call();
      } catch (error) {
        if (!this.running || this.now() + wait > deadline) {
          this.counts.notStored++;
          const message = (error as Error).message;
          this.log.error({ topic, err: message, notStored: this.counts.notStored }, 'the store did not take a message for the department: left to the broker to deliver again');
          this.emit('held', { topic, error: message });
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /**
   * The broker sends an unacknowledged message again only on a new
   * connection: drop this one (MQTT.js reconnects after its reconnectPeriod).
   */
  private redeliver(): void {
    if (!this.running) return;
    setImmediate(() => this.options.client.stream?.destroy());
  }
}
