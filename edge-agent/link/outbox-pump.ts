/**
 * Sends the durable outbox through a connected MQTT.js client it does not
 * own: `online(client)` on every connect, `offline()` when the connection
 * closes, `kick()` after an enqueue.
 *
 * - Up to `inflight` rows are published at once (fewer if the broker's MQTT 5
 *   Receive Maximum is lower), in outbox order, so each lane's messages leave
 *   in the order they were made. A QoS 1 row is deleted when its PUBACK
 *   arrives, a QoS 0 row once it is written to the socket; deletes are
 *   batched per event-loop turn.
 * - Publishing happens only while the client is connected, and on offline()
 *   the rows still in flight are taken back out of MQTT.js's store, so MQTT.js
 *   never queues or resends them by itself: the outbox alone does.
 * - After a reconnect sending restarts from the oldest row not yet deleted.
 *   A row whose PUBACK was lost with the connection is then sent again: the
 *   broker may deliver it twice, and consumers drop the copy by the event id.
 * - A PUBACK with an error reason code (MQTT 5, e.g. 0x87 not authorised) is
 *   logged and counted; the row stays and is tried again after
 *   `retryDelayMs`, after the rows behind it (so a row that is refused and
 *   later accepted arrives late: consumers order by the event's per-lane seq).
 *   At `maxTries` refusals it moves to the outbox's dead-letter table with
 *   the reason: kept, not lost, and no longer retried.
 */
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Outbox, OutboxRow } from './outbox.js';

export interface OutboxPumpOptions {
  outbox: Outbox;
  logger: Logger;
  /** OutboxConfig.inflight: rows published and not yet acknowledged, at most. */
  inflight: number;
  /** Refusals before a row is dead-lettered; default 5. */
  maxTries?: number;
  /** Pause before refused rows are sent again; default 5 s. */
  retryDelayMs?: number;
}

export interface OutboxPumpCounters {
  /** Publish calls, first sends and resends. */
  published: number;
  /** Rows the broker acknowledged (QoS 1) or that were written (QoS 0). */
  acked: number;
  /** Publishes of a row this pump had published before (after a reconnect or a refusal). */
  redelivered: number;
  /** PUBACKs with an error reason code. */
  refused: number;
  deadLettered: number;
}

interface InFlight {
  id: string;
  done: (error?: Error) => void;
  /** MQTT.js's packet id, to take the publish back out of its store on offline(). */
  messageId?: number;
}

// PUBLISH framing besides topic and payload (MQTT 5 §3.3): fixed header, lengths, packet id, properties; roughly.
const PACKET_OVERHEAD = 16;

export class OutboxPump {
  readonly #outbox: Outbox;
  readonly #logger: Logger;
  readonly #inflightMax: number;
  readonly #maxTries: number;
  readonly #retryDelayMs: number;
  #client: MqttClient | null = null;
  /** Bumped on online() and offline(): callbacks from an older connection must not touch the window. */
  #session = 0;
  /** Rowid of the last row published in this pass. */
  #cursor = 0;
  readonly #inflight = new Map<number, InFlight>();
  /** Acknowledged ids waiting for the next batched delete. */
  #acked = new Set<string>();
  #highestSent = 0;
  #needsRepass = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #tickScheduled = false;
  #waiters: Array<() => void> = [];
  readonly #counters: OutboxPumpCounters = { published: 0, acked: 0, redelivered: 0, refused: 0, deadLettered: 0 };

  constructor(options: OutboxPumpOptions) {
    this.#outbox = options.outbox;
    this.#logger = options.logger;
    this.#inflightMax = Math.max(1, options.inflight);
    this.#maxTries = Math.max(1, options.maxTries ?? 5);
    this.#retryDelayMs = options.retryDelayMs ?? 5_000;
  }

  get counters(): Readonly<OutboxPumpCounters> {
    return { ...this.#counters };
  }

  get isOnline(): boolean {
    return this.#client !== null;
  }

  get inflightCount(): number {
    return this.#inflight.size;
  }

  /** The client has connected (call on every 'connect'): send from the oldest row. */
  online(client: MqttClient): void {
    if (this.#client) this.offline();
    this.#client = client;
    this.#session++;
    this.#cursor = 0;
    this.#needsRepass = false;
    this.#scheduleTick();
  }

  /** The connection closed: stop sending and forget what was in flight (it is sent again on the next online()). */
  offline(): void {
    const client = this.#client;
    this.#client = null;
    this.#session++;
    this.#clearRetry();
    if (client) {
      for (const entry of this.#inflight.values()) {
        // Only if MQTT.js still holds our publish under that id (ids are reused after a reconnect).
        if (entry.messageId !== undefined && client.outgoing[entry.messageId]?.cb === entry.done) {
          client.removeOutgoingMessage(entry.messageId);
        }
      }
    }
    this.#inflight.clear();
    this.#cursor = 0;
    this.#flushAcks();
    this.#resolveIdle();
  }

  /** New rows are in the outbox. */
  kick(): void {
    if (this.#client) this.#scheduleTick();
  }

  /** Resolves when the outbox is empty or the pump is offline (for tests and shutdown). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #fill(): void {
    const client = this.#client;
    if (!client) return;
    const receiveMaximum = client.serverProperties?.receiveMaximum ?? 65_535;
    const window = Math.max(1, Math.min(this.#inflightMax, receiveMaximum));
    while (this.#inflight.size < window && client.connected && !client.disconnecting) {
      const rows = this.#outbox.peek(window - this.#inflight.size, this.#cursor);
      if (rows.length === 0) {
        if (this.#needsRepass && !this.#retryTimer) this.#scheduleRepass();
        break;
      }
      for (const row of rows) {
        this.#cursor = row.rowid;
        // A repass meets rows still in flight or acknowledged but not yet deleted.
        if (this.#inflight.has(row.rowid) || this.#acked.has(row.id)) continue;
        this.#publish(client, row);
      }
    }
    this.#resolveIdle();
  }

  #publish(client: MqttClient, row: OutboxRow): void {
    const maxPacket = client.serverProperties?.maximumPacketSize;
    if (maxPacket !== undefined && row.payload.length + Buffer.byteLength(row.topic) + PACKET_OVERHEAD > maxPacket) {
      // The broker would drop the connection on every try: dead-letter at once.
      this.#refused(row.id, row.lane, row.topic, `larger than the broker's maximum packet size (${maxPacket} bytes)`, undefined, 1);
      return;
    }
    const session = this.#session;
    const done = (error?: Error): void => this.#settled(session, row, error);
    const entry: InFlight = { id: row.id, done };
    this.#inflight.set(row.rowid, entry);
    this.#counters.published++;
    if (row.rowid <= this.#highestSent) this.#counters.redelivered++;
    else this.#highestSent = row.rowid;
    client.publish(row.topic, row.payload, { qos: row.qos, retain: row.retain }, done);
    if (row.qos === 1) {
      // publish() allocated the packet id synchronously (it is connected); check it is ours.
      const messageId = client.getLastMessageId();
      if (client.outgoing[messageId]?.cb === done) entry.messageId = messageId;
    }
  }

  #settled(session: number, row: OutboxRow, error: Error | undefined): void {
    const current = session === this.#session;
    if (current) this.#inflight.delete(row.rowid);
    if (!error) {
      // An ack from an older connection still means the broker has it.
      this.#counters.acked++;
      this.#acked.add(row.id);
      this.#scheduleTick();
      return;
    }
    // Taken back by offline(), or the connection closed: sent again on the next online().
    if (!current) return;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'number') {
      this.#refused(row.id, row.lane, row.topic, `${error.message} (reason code 0x${code.toString(16)})`, code, this.#maxTries);
    } else {
      this.#logger.debug({ err: error, id: row.id }, 'outbox publish not completed; sent again later');
      this.#needsRepass = true;
    }
    this.#scheduleTick();
  }

  #refused(id: string, lane: string, topic: string, reason: string, reasonCode: number | undefined, maxTries: number): void {
    this.#counters.refused++;
    let outcome: ReturnType<Outbox['refuse']>;
    try {
      outcome = this.#outbox.refuse(id, reason, maxTries);
    } catch (error) {
      this.#logger.error({ err: error, id }, 'cannot record a refused outbox message; it stays queued');
      outcome = 'retry';
    }
    if (outcome === 'dead-letter') {
      this.#counters.deadLettered++;
      this.#logger.error({ id, lane, topic, reasonCode, reason }, 'broker refused an outbox message too often: moved to the dead letters');
    } else if (outcome === 'retry') {
      this.#needsRepass = true;
      this.#logger.warn({ id, lane, topic, reasonCode, reason }, 'broker refused an outbox message; it will be tried again');
    }
  }

  #scheduleTick(): void {
    if (this.#tickScheduled) return;
    this.#tickScheduled = true;
    setImmediate(() => {
      this.#tickScheduled = false;
      this.#flushAcks();
      try {
        this.#fill();
      } catch (error) {
        // A disk error must not crash the gate: the rows stay queued, tried again shortly.
        this.#logger.error({ err: error }, 'cannot read the outbox; retrying');
        setTimeout(() => this.#scheduleTick(), 1_000).unref();
      }
    });
  }

  #flushAcks(): void {
    if (this.#acked.size === 0) return;
    try {
      this.#outbox.ack(this.#acked);
      this.#acked = new Set();
    } catch (error) {
      // Kept for the next tick: a busy or full disk must not lose the acks.
      this.#logger.error({ err: error, count: this.#acked.size }, 'cannot delete acknowledged outbox rows; retrying');
      setTimeout(() => this.#scheduleTick(), 1_000).unref();
    }
    this.#resolveIdle();
  }

  #scheduleRepass(): void {
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#needsRepass = false;
      this.#cursor = 0;
      this.#scheduleTick();
    }, this.#retryDelayMs);
    this.#retryTimer.unref();
  }

  #clearRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#needsRepass = false;
  }

  #isIdle(): boolean {
    return this.#client === null || (this.#acked.size === 0 && this.#outbox.depth === 0);
  }

  #resolveIdle(): void {
    if (this.#waiters.length === 0 || !this.#isIdle()) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
