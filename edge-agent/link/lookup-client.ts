/**
 * Online look-up: the gate asks the centre for the current colour of a
 * printed code or a hashed ID number and waits until the request's deadline.
 * The lane must decide quickly, so every failure (not connected, no answer,
 * too many waiting) is a plain null and the lane falls back on its offline
 * rules. Replies are signed by the centre and answer one request once.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Colour } from '../../protocol/domain.js';
import type { TrustStore } from '../../protocol/trust/trust-store.js';
import { conforms, type LookupRequestMessage } from '../../protocol/contract.js';
import { MessageError } from '../../protocol/message-error.js';
import { TOPICS } from '../../protocol/registry.js';
import { openLeafMessage } from '../../protocol/signed-message.js';
import type { LanePublish } from './lane-publish.js';

export type LookupKind = LookupRequestMessage['kind'];

/** The centre's answer; colour null: the centre does not know the subject. */
export interface LookupAnswer {
  colour: Colour | null;
  effectiveAt: number | null;
}

export interface LookupClientOptions {
  /** Centre signing certificates; null refuses every reply. */
  keys: TrustStore | null;
  site: string;
  lane: string;
  timeoutMs: number;
  /** Publish on the live connection (topic, QoS and retain from the topic table); false when not connected. */
  publish: LanePublish<'lookup/request'>;
  /** Epoch milliseconds. */
  now?: () => number;
  logger: Logger;
  /** Requests waiting at once, at most; more resolve null at once. */
  maxPending?: number;
  /** A reply issued this long before its request still counts: the centre's clock may run a little behind. */
  clockSkewMs?: number;
  /** Larger replies are refused unread; a reply is a few hundred bytes. */
  maxMessageBytes?: number;
}

interface Pending {
  requestedAt: number;
  deadline: number;
  resolve: (answer: LookupAnswer | null) => void;
  timer: NodeJS.Timeout;
}

const DEFAULT_MAX_PENDING = 64;
const DEFAULT_CLOCK_SKEW_MS = 1000;
const DEFAULT_MAX_REPLY_BYTES = 16 * 1024;
/** Finished ids remembered, to tell a late reply (dropped quietly) from a replayed one. */
const FINISHED_MEMORY = 1024;

export class LookupClient {
  readonly #options: LookupClientOptions;
  readonly #now: () => number;
  readonly #pending = new Map<string, Pending>();
  /** Insertion-ordered, trimmed from the oldest. */
  readonly #finished = new Map<string, 'answered' | 'expired'>();
  #stopped = false;

  constructor(options: LookupClientOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** The centre's answer, or null when none came by the deadline (or none could be asked). Never rejects. */
  lookup(kind: LookupKind, key: string): Promise<LookupAnswer | null> {
    const { site, lane, timeoutMs, logger } = this.#options;
    if (this.#stopped) return Promise.resolve(null);
    if (this.#pending.size >= (this.#options.maxPending ?? DEFAULT_MAX_PENDING)) {
      logger.warn({ pending: this.#pending.size }, 'too many look-ups waiting; this one is not asked');
      return Promise.resolve(null);
    }
    const correlationId = randomUUID();
    const requestedAt = this.#now();
    const request: LookupRequestMessage = {
      correlationId,
      time: new Date(requestedAt).toISOString(),
      deadline: requestedAt + timeoutMs,
      site,
      lane,
      kind,
      key,
    };
    if (!conforms(TOPICS['lookup/request'].schema, request)) {
      logger.warn({ kind }, 'look-up key is not a valid subject; not asked');
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      // Registered before publishing, so no reply can beat its own request.
      const timer = setTimeout(() => this.#finish(correlationId, 'expired', null), timeoutMs);
      this.#pending.set(correlationId, { requestedAt, deadline: request.deadline, resolve, timer });
      let sent: boolean;
      try {
        sent = this.#options.publish('lookup/request', request);
      } catch (error) {
        logger.warn({ err: error }, 'look-up request could not be published');
        sent = false;
      }
      if (!sent) {
        // Nobody will answer: do not make the lane wait, nor remember the id.
        clearTimeout(timer);
        this.#pending.delete(correlationId);
        resolve(null);
      }
    });
  }

  /**
   * A reply from the centre. Answers its request and returns true; returns
   * false for a late reply (dropped); throws MessageError when refused.
   */
  acceptReply(raw: Buffer | string): boolean {
    const { keys, site, lane, logger } = this.#options;
    const maxBytes = this.#options.maxMessageBytes ?? DEFAULT_MAX_REPLY_BYTES;
    const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
    if (size > maxBytes) throw new MessageError('oversized', `look-up reply of ${size} bytes exceeds ${maxBytes}`);
    const reply = openLeafMessage(raw, 'lookup/reply', keys);
    if (reply.site !== site || reply.lane !== lane) {
      throw new MessageError('wrong-target', `look-up reply for ${reply.site}/${reply.lane} reached ${site}/${lane}`);
    }
    const id = reply.correlationId;
    const pending = this.#pending.get(id);
    if (!pending) {
      if (this.#finished.get(id) === 'expired') {
        logger.debug({ correlationId: id }, 'look-up reply after the deadline; dropped');
        return false;
      }
      const why = this.#finished.has(id) ? 'already answered' : 'no look-up of this gate has that id';
      throw new MessageError('replayed', `look-up reply ${id}: ${why}`);
    }
    const skew = this.#options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
    if (reply.issuedAt < pending.requestedAt - skew) {
      // Left pending: the genuine reply may still come.
      throw new MessageError('stale', `look-up reply ${id} was issued before its request`);
    }
    if (this.#now() > pending.deadline) {
      // The timer has not fired yet, but the lane has been promised the deadline.
      this.#finish(id, 'expired', null);
      logger.debug({ correlationId: id }, 'look-up reply after the deadline; dropped');
      return false;
    }
    this.#finish(id, 'answered', { colour: reply.colour, effectiveAt: reply.effectiveAt ?? null });
    return true;
  }

  /** Resolve every waiting look-up with null and take no more. */
  stop(): void {
    this.#stopped = true;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.resolve(null);
      this.#pending.delete(id);
    }
    this.#finished.clear();
  }

  #finish(id: string, how: 'answered' | 'expired', answer: LookupAnswer | null): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    this.#finished.set(id, how);
    if (this.#finished.size > FINISHED_MEMORY) this.#finished.delete(this.#finished.keys().next().value as string);
    pending.resolve(answer);
  }
}
