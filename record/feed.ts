/**
 * The console's subscription to the broker: every lane's status,
 * decisions, alerts, faults, telemetry, command results, registrations and
 * applied colour changes, and each site's colour changes from the centre.
 * Each payload is checked against its leaf's schema (protocol/registry.ts,
 * protocol/contract.ts) before anything reads it, and parsed only once its nesting
 * is known to be shallow (json-bounds.ts); a malformed one is dropped and
 * counted, never trusted and never fatal. What is kept goes to the store,
 * each lane's messages in the order they came (KeyedQueue); what changed is
 * emitted for the page once it is stored.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { check, MAX_COLOUR_CHANGES, type ContractTypes } from '../protocol/contract.js';
import { signedTyp, TOPICS, type LaneUpLeaf } from '../protocol/registry.js';
import { laneTopic, parseTopic, siteTopic } from '../protocol/topics.js';
import { parseBoundedJson } from '../protocol/json-bounds.js';
import { isJsonBoundsError } from '../protocol/message-error.js';
import { openLeafMessage, parseJws } from '../protocol/signed-message.js';
import { TrustStore } from '../protocol/trust/trust-store.js';
import type { ConsoleConfig } from '../protocol/config/console-config.js';

/** What the feed reads of its service's config: the console's keys, which the centre gives in the same shape. */
export type FeedConfig = Pick<ConsoleConfig, 'broker' | 'baseTopic' | 'centreCertificate'>;
import { KeyedQueue } from './keyed-queue.js';
import type { ConsoleStore, LaneRow, DecisionRow, AlertRow, CommandRow } from './store.js';

/** Lane leaves the console reads; each payload must match its leaf's schema (registry.ts). */
const LANE_LEAVES = ['status', 'decision', 'alert', 'fault', 'telemetry', 'command/result', 'registration', 'colour/applied'] as const satisfies readonly LaneUpLeaf[];
type LaneLeaf = (typeof LANE_LEAVES)[number];
const READ_LEAVES: ReadonlySet<string> = new Set(LANE_LEAVES);

/** Larger than anything a gate sends (a decision is under 1 kB); a colour change may carry many statuses. */
const MAX_LANE_MESSAGE_BYTES = 64 * 1024;
const MAX_SITE_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface FeedEvents {
  lane: [LaneRow];
  decision: [DecisionRow];
  alert: [AlertRow];
  command: [CommandRow];
  malformed: [{ topic: string; why: string }];
  connection: [{ connected: boolean }];
}

export interface FeedStats {
  received: number;
  malformed: number;
  malformedByLeaf: Record<string, number>;
  duplicates: number;
  /** Messages checked and waiting for the store: grows when the database falls behind. */
  queued: number;
  /** Well-formed messages the store failed to keep (the database refused a row, or was away longer than retryForMs). */
  notStored: number;
  /** Store calls tried again after a failure that may pass (the database away or restarting). */
  retries: number;
  connected: boolean;
}

/** The most values a colour change holds (json-bounds.ts counts them): four per listed change, a few for the rest. */
const UNVERIFIED_CHANGE_VALUES = 4 * MAX_COLOUR_CHANGES + 16;

/** A backlog this deep means the database is not keeping up: said in the log, once per crossing. */
const BACKLOG_WARNING = 10_000;

export class Feed extends EventEmitter<FeedEvents> {
  private client: MqttClient | null = null;
  private readonly centreKeys: TrustStore | null;
  private readonly counts: Omit<FeedStats, 'queued'> = { received: 0, malformed: 0, malformedByLeaf: {}, duplicates: 0, notStored: 0, retries: 0, connected: false };
  private readonly queue = new KeyedQueue();
  private backlogWarned = false;
  private readonly log: Logger;

  /** How long a store call that fails for a passing reason is tried again: the lane's later messages wait behind it, in order. */
  private readonly retryForMs: number;
  private stopping = false;

  constructor(
    private readonly config: FeedConfig,
    private readonly store: ConsoleStore,
    logger: Logger,
    options: { retryForMs?: number; centreKeys?: TrustStore } = {},
  ) {
    super();
    this.retryForMs = options.retryForMs ?? 60_000;
    this.log = logger.child({ component: 'feed' });
    if (options.centreKeys) {
      // The centre serves many sites, each with its key: it hands the feed them all.
      this.centreKeys = options.centreKeys;
    } else if (config.centreCertificate) {
      this.centreKeys = new TrustStore();
      this.centreKeys.addEncoded(readFileSync(config.centreCertificate), config.centreCertificate);
    } else {
      this.centreKeys = null;
    }
  }

  get mqtt(): MqttClient | null {
    return this.client;
  }

  get baseTopic(): string {
    return this.config.baseTopic;
  }

  /**
   * Connects and subscribes, again after every reconnect. The session is
   * persistent (a fixed client id, clean false, kept a day by the broker),
   * so QoS 1 events sent while the console was down or restarting are
   * delivered when it is back. Resolves once subscribed, or after `waitMs`
   * with the broker still away (the page then says so; the feed keeps trying).
   */
  async start(clientOptions: IClientOptions = {}, waitMs = 5_000): Promise<void> {
    this.stopping = false;
    const { broker, baseTopic: base } = this.config;
    const options: IClientOptions & { passphrase?: string } = {
      clientId: broker.clientId ?? 'hc-console',
      protocolVersion: broker.protocolVersion,
      clean: false,
      ...(broker.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 86_400 } } : {}),
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      reconnectOnConnackError: true,
      ...clientOptions,
    };
    if (broker.username !== undefined) options.username = broker.username;
    if (broker.password !== undefined) options.password = broker.password;
    if (broker.tls) {
      options.ca = readFileSync(broker.tls.ca, 'utf8');
      options.rejectUnauthorized = true;
      if (broker.tls.cert) options.cert = readFileSync(broker.tls.cert, 'utf8');
      if (broker.tls.key) options.key = readFileSync(broker.tls.key, 'utf8');
      if (broker.tls.servername) options.servername = broker.tls.servername;
    }
    const topics = [...LANE_LEAVES.map((leaf) => laneTopic(base, '+', '+', leaf)), siteTopic(base, '+', 'colour/change')];
    const client = mqtt.connect(broker.url, options);
    this.client = client;
    let subscribed!: () => void;
    const ready = new Promise<void>((resolve) => (subscribed = resolve));
    client.on('message', (topic, payload) => this.receive(topic, payload));
    client.on('connect', () => {
      client
        .subscribeAsync(topics, { qos: 1 })
        .then(() => {
          this.connection(true);
          this.log.info({ url: broker.url, base }, 'subscribed to the gates');
          subscribed();
        })
        .catch((error: Error) => this.log.error({ err: error.message }, 'subscription refused by the broker'));
    });
    client.on('close', () => this.connection(false));
    // Once per kind of failure while the broker is away, not once a second.
    let lastError = '';
    client.on('error', (error) => {
      if (error.message === lastError) return;
      lastError = error.message;
      this.log.warn({ err: error.message }, 'broker connection error');
    });
    client.on('connect', () => (lastError = ''));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ready, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    if (!this.counts.connected) this.log.warn({ url: broker.url }, 'broker not reachable yet: the console starts and keeps trying');
  }

  get stats(): FeedStats {
    return { ...this.counts, queued: this.queue.size };
  }

  /** Stops receiving; resolves once what was received is stored. */
  async stop(): Promise<void> {
    this.stopping = true;
    const client = this.client;
    this.client = null;
    if (client) await client.endAsync();
    await this.queue.idle();
  }

  /** Resolves once every message received so far is stored (tests, and stop). */
  settled(): Promise<void> {
    return this.queue.idle();
  }

  /**
   * One store call, tried again while it fails for a reason that may pass
   * (store.transient), with waits from 250 ms doubling to 5 s, for up to
   * retryForMs (not once the feed is stopping); then its error stands.
   */
  private async retrying<T>(call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.retryForMs;
    for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
      try {
        return await call();
      } catch (error) {
        if (this.stopping || !this.store.transient(error) || Date.now() + wait > deadline) throw error;
        this.counts.retries++;
        if (this.counts.retries <= 20 || this.counts.retries % 100 === 0) {
          this.log.warn({ err: (error as Error).message, retryInMs: wait, retries: this.counts.retries, store: this.store.kind }, 'store call failed; trying again');
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Stores one checked message after the ones before it from the same lane (or, for colour changes, site). */
  private keep(key: string, topic: string, leaf: string, work: () => Promise<void>): void {
    this.queue.run(key, work).catch((error: Error) => {
      this.counts.notStored++;
      // A database that is away fails every message: the first few, then every hundredth.
      if (this.counts.notStored <= 20 || this.counts.notStored % 100 === 0) {
        this.log.error({ topic, leaf, err: error.message, count: this.counts.notStored, store: this.store.kind }, 'message not stored');
      }
    });
    if (this.queue.size >= BACKLOG_WARNING && !this.backlogWarned) {
      this.backlogWarned = true;
      this.log.warn({ queued: this.queue.size, store: this.store.kind }, 'the store is falling behind the broker');
    } else if (this.queue.size < BACKLOG_WARNING / 2) {
      this.backlogWarned = false;
    }
  }

  private connection(connected: boolean): void {
    if (this.counts.connected === connected) return;
    this.counts.connected = connected;
    this.emit('connection', { connected });
  }

  private drop(topic: string, leaf: string, why: string): void {
    this.counts.malformed++;
    this.counts.malformedByLeaf[leaf] = (this.counts.malformedByLeaf[leaf] ?? 0) + 1;
    // A flood of bad messages must not flood the log: the first few, then every hundredth.
    if (this.counts.malformed <= 20 || this.counts.malformed % 100 === 0) this.log.warn({ topic, why, count: this.counts.malformed }, 'malformed message dropped');
    this.emit('malformed', { topic, why });
  }

  /** One message from the broker; public so that tests can drive it without a broker. */
  receive(topic: string, payload: Buffer): void {
    this.counts.received++;
    const parsed = parseTopic(this.config.baseTopic, topic);
    if (!parsed) return this.drop(topic, 'unknown', 'not a topic of the link');
    try {
      if (parsed.scope === 'site') {
        if (parsed.leaf !== 'colour/change') return;
        if (payload.length > MAX_SITE_MESSAGE_BYTES) return this.drop(topic, parsed.leaf, 'too large');
        this.colourChange(parsed.site, payload);
        return;
      }
      const leaf = parsed.leaf as string;
      if (!READ_LEAVES.has(leaf)) return;
      if (payload.length > MAX_LANE_MESSAGE_BYTES) return this.drop(topic, leaf, 'too large');
      // A retained status cleared by an empty payload is not malformed, just gone.
      if (leaf === 'status' && payload.length === 0) return;
      let value: unknown;
      try {
        value = parseBoundedJson(payload);
      } catch (error) {
        if (!isJsonBoundsError(error)) throw error;
        return this.drop(topic, leaf, error.code === 'too-deep' ? `JSON ${error.message}` : 'not JSON');
      }
      this.laneMessage(parsed.site, parsed.lane, leaf as LaneLeaf, value, topic);
    } catch (error) {
      // Whatever went wrong with one message (a store error, a bug), the feed goes on.
      this.drop(topic, parsed.leaf, (error as Error).message);
    }
  }

  private laneMessage(site: string, lane: string, leaf: LaneLeaf, value: unknown, topic: string): void {
    const now = Date.now();
    let message: { site?: string; lane?: string };
    try {
      message = check(TOPICS[leaf].schema, value) as { site?: string; lane?: string };
    } catch (error) {
      return this.drop(topic, leaf, (error as Error).message);
    }
    // A gate writes only under its own lane: a payload naming another is not believed.
    if ((message.site !== undefined && message.site !== site) || (message.lane !== undefined && message.lane !== lane)) {
      return this.drop(topic, leaf, 'site or lane differ from the topic');
    }
    const time = (iso: string | undefined): number => {
      const ms = iso === undefined ? NaN : Date.parse(iso);
      return Number.isNaN(ms) ? now : ms;
    };
    this.keep(`${site}/${lane}`, topic, leaf, () => this.storeLaneMessage(site, lane, leaf, value, time, now));
  }

  /** What one checked lane message changes in the store, and what it tells the page. */
  private async storeLaneMessage(site: string, lane: string, leaf: LaneLeaf, value: unknown, time: (iso: string | undefined) => number, now: number): Promise<void> {
    const store = this.store;
    // Checked against the leaf's schema before it was queued: each case reads it as that type.
    switch (leaf) {
      case 'status': {
        const m = value as ContractTypes['laneStatus'];
        // The Last Will carries no time: the broker sends it when it notices the gate gone.
        const update = m.state === 'offline'
          ? { site, lane, time: time(m.time), online: false, latest: m.time === undefined }
          : { site, lane, time: time(m.time), online: true, degraded: m.degraded, laneState: m.laneState, staffMode: m.staffMode };
        this.emit('lane', await this.retrying(() => store.updateLane(update)));
        return;
      }
      case 'telemetry': {
        const m = value as ContractTypes['telemetry'];
        this.emit('lane', await this.retrying(() => store.updateLane({ site, lane, time: time(m.time), online: true, degraded: m.degraded, laneState: m.laneState, faults: m.faults })));
        return;
      }
      case 'decision': {
        const m = value as ContractTypes['decisionEvent'];
        const row: DecisionRow = {
          id: m.id,
          site,
          lane,
          seq: m.seq,
          time: time(m.time),
          verdict: m.verdict,
          reason: m.reason,
          decidedBy: m.decidedBy,
          colour: m.colour,
          temperatureC: m.temperatureC,
          sensorFault: m.sensorFault,
          degraded: m.degraded ?? false,
        };
        if (await this.retrying(() => store.addDecision(row, now))) this.emit('decision', row);
        else this.counts.duplicates++;
        return;
      }
      case 'alert': {
        const m = value as ContractTypes['redAlert'];
        const row: AlertRow = { id: m.id, eventId: m.eventId, site, lane, time: time(m.time), decidedBy: m.decidedBy, acknowledgedBy: null, acknowledgedAt: null };
        if (await this.retrying(() => store.addAlert(row, now))) this.emit('alert', row);
        else this.counts.duplicates++;
        return;
      }
      case 'fault': {
        const m = value as ContractTypes['fault'];
        const active = m.active ?? true;
        const t = time(m.time);
        if (!(await this.retrying(() => store.addFault({ id: m.id, site, lane, time: t, kind: m.kind, detail: m.detail, active }, now)))) {
          this.counts.duplicates++;
          return;
        }
        // Without `active` it is a one-off (a journal write failed): counted, but no lasting state of the lane.
        if (m.active !== undefined) this.emit('lane', await this.retrying(() => store.updateLane({ site, lane, time: t, fault: { kind: m.kind, active } })));
        return;
      }
      case 'registration': {
        const m = value as ContractTypes['sealedRegistration'];
        // Only the ids and the time: the sealed fields are for the health authority alone.
        if (!(await this.retrying(() => store.addRegistration({ id: m.id, eventId: m.eventId, site, lane, time: time(m.time) }, now)))) this.counts.duplicates++;
        return;
      }
      case 'colour/applied': {
        const m = value as ContractTypes['colourApplied'];
        if (!(await this.retrying(() => store.addColourApplied({ site, lane, seq: m.seq, appliedAt: m.appliedAt, via: m.via }, now)))) this.counts.duplicates++;
        return;
      }
      case 'command/result': {
        const m = value as ContractTypes['commandResult'];
        const row = await this.retrying(() => store.settleCommand(m.commandId, m.ok ? 'ok' : 'failed', time(m.time), m.detail));
        // Results of commands someone else sent (the centre) are not this console's to log.
        if (row) this.emit('command', row);
        return;
      }
    }
  }

  /** A colour change from the centre: its seq and issuedAt, verified when the centre's certificate is configured. */
  private colourChange(site: string, payload: Buffer): void {
    const topic = `${this.config.baseTopic}/${site}/colour/change`;
    let change: { site: string; seq: number; issuedAt: number; changes: unknown[] };
    try {
      change = this.centreKeys
        ? openLeafMessage(payload, 'colour/change', this.centreKeys)
        : check(TOPICS['colour/change'].schema, openUnverified(payload));
    } catch (error) {
      return this.drop(topic, 'colour/change', (error as Error).message);
    }
    if (change.site !== site) return this.drop(topic, 'colour/change', 'site differs from the topic');
    // A heartbeat repeats the last seq with no changes: nothing new to time.
    if (change.changes.length === 0) return;
    const row = { site, seq: change.seq, issuedAt: change.issuedAt, verified: this.centreKeys !== null };
    this.keep(`colour ${site}`, topic, 'colour/change', async () => {
      if (!(await this.retrying(() => this.store.addColourChange(row)))) this.counts.duplicates++;
    });
  }
}

/**
 * The payload of a JWS without checking its signature (no centre certificate configured): figures only, never trust.
 * Read as the gate reads it (parseJws), so a malformed one is dropped for the same reason the gate refuses it.
 */
function openUnverified(payload: Buffer): unknown {
  const { envelope, header } = parseJws(payload);
  const typ = signedTyp('colour/change');
  if (header.typ !== typ) throw new Error(`signed as ${JSON.stringify(header.typ)}, not ${typ}`);
  try {
    // Nobody vouches for it, so it costs no more to parse than the largest colour change could.
    return parseBoundedJson(Buffer.from(envelope.payload, 'base64url'), { maxValues: UNVERIFIED_CHANGE_VALUES });
  } catch (error) {
    throw isJsonBoundsError(error) ? new Error(`payload ${error.message}`) : error;
  }
}

