/**
 * Answers the gates' look-ups: a request on `<base>/<site>/<lane>/lookup/request`
 * (a printed code's subject, or the keyed hash of an ID number) is answered on
 * that lane's `lookup/reply` from the store, signed, with the status's
 * effectiveAt when known and colour null when the centre does not know it,
 * so that the gate decides at once instead of waiting out its deadline.
 *
 * Bounded: at most `concurrency` look-ups ask the store at a time, at most
 * `maxQueued` wait; a request past both is dropped (logged, counted) as soon
 * as it arrives, so a flood costs a count, not memory. A request whose
 * deadline has passed (on arrival or once its turn comes) is not answered:
 * the gate has decided without it and a late reply would only be refused.
 */
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { check, type LookupReplyMessage, type LookupRequestMessage } from '../../protocol/contract.js';
import { parseBoundedJson } from '../../protocol/json-bounds.js';
import { publishOptions } from '../../protocol/registry.js';
import { signLeafMessage, type MessageSigner } from '../../protocol/signed-message.js';
import { laneTopic, parseTopic } from '../../protocol/topics.js';
import type { CentreStore } from '../store/store.js';

/** A look-up request is a few hundred bytes: anything much larger is not one. */
const MAX_REQUEST_BYTES = 4096;

export interface LookupResponderOptions {
  store: CentreStore;
  client: MqttClient;
  /** Whether the centre serves this site (a request for another is dropped). */
  serves: (site: string) => boolean;
  signer: (site: string) => MessageSigner;
  baseTopic: string;
  logger: Logger;
  /** Look-ups asking the store at once; default 16. */
  concurrency?: number;
  /** Look-ups waiting their turn; default 1000. */
  maxQueued?: number;
  now?: () => number;
}

export interface LookupCounters {
  answered: number;
  /** Of those answered, unknown to the centre (colour null). */
  unknown: number;
  /** Past their deadline: not answered. */
  expired: number;
  /** Dropped because the queue was full. */
  dropped: number;
  /** Not a look-up request, or not for a site the centre serves. */
  invalid: number;
  failed: number;
}

export class LookupResponder {
  readonly counters: LookupCounters = { answered: 0, unknown: 0, expired: 0, dropped: 0, invalid: 0, failed: 0 };
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly now: () => number;
  private readonly queue: LookupRequestMessage[] = [];
  private active = 0;
  /** The most waiting at once since start (tests check the bound). */
  highWater = 0;
  private started = false;
  private stopped = false;
  private readonly topic: string;
  private readonly onMessage = (topic: string, payload: Buffer): void => this.receive(topic, payload);

  constructor(private readonly options: LookupResponderOptions) {
    this.log = options.logger.child({ part: 'lookups' });
    this.concurrency = Math.max(1, options.concurrency ?? 16);
    this.maxQueued = Math.max(0, options.maxQueued ?? 1000);
    this.now = options.now ?? Date.now;
    this.topic = laneTopic(options.baseTopic, '+', '+', 'lookup/request');
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.options.client.on('message', this.onMessage);
    await this.options.client.subscribeAsync(this.topic, { qos: publishOptions('lookup/request').qos });
    this.log.info({ topic: this.topic, concurrency: this.concurrency, maxQueued: this.maxQueued }, 'answering look-ups');
  }

  /** What is waiting or running now. */
  get load(): { active: number; queued: number } {
    return { active: this.active, queued: this.queue.length };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.options.client.off('message', this.onMessage);
    this.queue.length = 0;
    if (this.options.client.connected) await this.options.client.unsubscribeAsync(this.topic).catch(() => undefined);
  }

  private receive(topic: string, payload: Buffer): void {
    if (this.stopped) return;
    const at = parseTopic(this.options.baseTopic, topic);
    if (!at || at.scope !== 'lane' || at.leaf !== 'lookup/request') return; // another part's topic on the shared connection
    const request = this.parse(at.site, at.lane, payload);
    if (!request) return;
    if (request.deadline <= this.now()) {
      this.expire(request, 'on arrival');
      return;
    }
    if (this.active < this.concurrency) {
      void this.answer(request);
      return;
    }
    if (this.queue.length >= this.maxQueued) {
      this.counters.dropped++;
      if (this.counters.dropped % 100 === 1) this.log.warn({ site: request.site, lane: request.lane, dropped: this.counters.dropped, maxQueued: this.maxQueued }, 'look-up dropped: too many waiting (one line per hundred)');
      return;
    }
    this.queue.push(request);
    this.highWater = Math.max(this.highWater, this.queue.length);
  }

  /** The request, checked against its schema and its topic; null (logged) when it is not one to answer. */
  private parse(site: string, lane: string, payload: Buffer): LookupRequestMessage | null {
    // One line per hundred, here and for drops: a flood must not become a flood of log lines.
    const refuse = (reason: string): null => {
      this.counters.invalid++;
      if (this.counters.invalid % 100 === 1) this.log.warn({ site, lane, reason, refused: this.counters.invalid }, 'look-up request refused (one line per hundred)');
      return null;
    };
    if (!this.options.serves(site)) return refuse('a site the centre does not serve');
    if (payload.length > MAX_REQUEST_BYTES) return refuse(`${payload.length} bytes, more than ${MAX_REQUEST_BYTES}`);
    let request: LookupRequestMessage;
    try {
      request = check('lookupRequest', parseBoundedJson(payload));
    } catch (error) {
      return refuse(error instanceof Error ? error.message : String(error));
    }
    if (request.site !== site || request.lane !== lane) return refuse(`for ${request.site}/${request.lane}, sent on ${site}/${lane}`);
    return request;
  }

  private expire(request: LookupRequestMessage, when: string): void {
    this.counters.expired++;
    this.log.info({ site: request.site, lane: request.lane, correlationId: request.correlationId, deadline: request.deadline, when }, 'look-up past its deadline: not answered');
  }

  private async answer(request: LookupRequestMessage): Promise<void> {
    this.active++;
    try {
      const { store } = this.options;
      const status = request.kind === 'printed-code' ? await store.status(request.site, request.key) : await store.statusByIdHash(request.site, request.key);
      if (request.deadline <= this.now()) {
        this.expire(request, 'once answered');
        return;
      }
      const reply: LookupReplyMessage = {
        type: 'lookup-reply',
        correlationId: request.correlationId,
        site: request.site,
        lane: request.lane,
        issuedAt: this.now(),
        colour: status?.colour ?? null,
        ...(status ? { effectiveAt: status.effectiveAt } : {}),
      };
      const text = JSON.stringify(signLeafMessage('lookup/reply', reply, this.options.signer(request.site)));
      await this.options.client.publishAsync(laneTopic(this.options.baseTopic, request.site, request.lane, 'lookup/reply'), text, publishOptions('lookup/reply'));
      this.counters.answered++;
      if (!status) this.counters.unknown++;
    } catch (error) {
      this.counters.failed++;
      this.log.warn({ err: error, site: request.site, lane: request.lane, correlationId: request.correlationId }, 'look-up not answered');
    } finally {
      this.active--;
      this.next();
    }
  }

  private next(): void {
    while (!this.stopped && this.active < this.concurrency) {
      const request = this.queue.shift();
      if (!request) return;
      if (request.deadline <= this.now()) {
        this.expire(request, 'while waiting');
        continue;
      }
      void this.answer(request);
    }
  }
}
