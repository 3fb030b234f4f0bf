/**
 * A wire-level double of the centre's side of the MQTT link, for tests and
 * benchmarks that must forge exact messages (the real centre, centre/, is
 * what `npm start` runs): it signs and publishes colour changes (sequenced) and the
 * retained snapshot (versioned), answers look-ups from the reference
 * platform's colours, sends signed commands and waits for their results,
 * and collects what gates report (decisions, alerts, faults, security
 * events), dropping duplicates by id as any consumer must. What it sends
 * takes its topic, QoS, retain flag and JWS typ from the topic table
 * (protocol/registry.ts), as the gate's publish does.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type {
  SealedRegistrationMessage,
  ColourStatusEntry,
  CommandAction,
  CommandMessage,
  CommandResultMessage,
  DecisionEventMessage,
  FaultMessage,
  LookupRequestMessage,
  RedAlertMessage,
  SecurityEventMessage,
} from '../../protocol/contract.js';
import { publishOptions, TOPICS, type LaneLeaf, type PayloadOf, type SignedLeaf, type SiteLeaf } from '../../protocol/registry.js';
import { messageSigner, signLeafMessage, type MessageSigner } from '../../protocol/signed-message.js';
import { laneTopic, parseTopic, siteTopic } from '../../protocol/topics.js';
import type { Colour } from '../../protocol/domain.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';

export interface CentreOptions {
  url: string;
  baseTopic?: string;
  /** The centre's signing key and certificate; made afresh when absent. */
  key?: SignerKeyPair;
  /** Answers look-ups for printed codes; null: unknown to the centre. */
  colourOf?: (subject: string) => Colour | null | undefined;
  /**
   * Answers ID-card look-ups by the keyed hash of the number (privacy/id-hash.ts,
   * under the site key the centre shares with its gates); consulted after
   * registerIdHash's map. null: unknown to the centre.
   */
  colourOfIdHash?: (hash: string) => Colour | null | undefined;
  /**
   * Republish the retained snapshot this often when colours changed since the
   * last one, so that a gate that missed a change finds it there when it
   * resyncs; 0 (default): only when publishSnapshot() is called.
   */
  snapshotEveryMs?: number;
  /** 5 unless the broker lacks it (the embedded aedes speaks 3.1.1: 4). */
  protocolVersion?: 4 | 5;
  clientOptions?: IClientOptions;
}

/** Where a leaf's message goes: a lane leaf to one lane of a site, a site leaf to the whole site. */
type Target<L extends SignedLeaf> = (typeof TOPICS)[L]['scope'] extends 'lane' ? { site: string; lane: string } : { site: string };

/** One message the centre sends: signed as its leaf's typ, on its leaf's topic, with its leaf's QoS and retain flag. */
interface CentreMessage {
  topic: string;
  text: string;
  options: { qos: 0 | 1; retain: boolean };
}

interface SiteState {
  seq: number;
  version: number;
  snapshotPublished: boolean;
  statuses: Map<string, ColourStatusEntry>;
}

export class SimulatedCentre {
  readonly decisions = new Map<string, DecisionEventMessage>();
  readonly alerts = new Map<string, RedAlertMessage>();
  readonly faults = new Map<string, FaultMessage>();
  readonly security = new Map<string, SecurityEventMessage>();
  readonly results = new Map<string, CommandResultMessage>();
  /** Sealed registrations: the centre passes them on to the health authority unopened. */
  readonly registrations = new Map<string, SealedRegistrationMessage>();
  /** Deliveries before dedupe, to show that duplicates happen and are dropped. */
  deliveries = 0;
  private readonly sites = new Map<string, SiteState>();
  /** Sites whose colours changed since their last snapshot. */
  private readonly dirty = new Set<string>();
  private snapshotTimer: NodeJS.Timeout | null = null;
  private readonly resultWaiters = new Map<string, (result: CommandResultMessage) => void>();
  private readonly listeners = new Set<(topic: string, message: unknown) => void>();
  /** ID-card colours by keyed hash: a real centre keeps them with each person's record. */
  private readonly idHashColours = new Map<string, Colour>();
  /** Every look-up request received, as sent (tests check what crossed the broker). */
  readonly lookupRequests: LookupRequestMessage[] = [];

  private constructor(
    readonly client: MqttClient,
    readonly base: string,
    readonly key: SignerKeyPair,
    private readonly signer: MessageSigner,
    private readonly colourOf: CentreOptions['colourOf'],
    private readonly colourOfIdHash: CentreOptions['colourOfIdHash'] = undefined,
  ) {}

  /** The centre learns (or changes) the colour of the person whose ID number hashes to this key. */
  registerIdHash(hash: string, colour: Colour): void {
    this.idHashColours.set(hash, colour);
  }

  static async start(options: CentreOptions): Promise<SimulatedCentre> {
    const key = options.key ?? (await createSignerCertificate({ subject: 'CN=Health-code centre (simulated), O=Reference platform, C=CN' }));
    const base = options.baseTopic ?? 'hc/v1';
    const client = await mqtt.connectAsync(options.url, { clientId: `centre-${randomUUID().slice(0, 8)}`, protocolVersion: options.protocolVersion ?? 5, ...options.clientOptions });
    const signer = messageSigner(key);
    const centre = new SimulatedCentre(client, base, key, signer, options.colourOf, options.colourOfIdHash);
    client.on('message', (topic, payload) => centre.receive(topic, payload));
    if (options.snapshotEveryMs) {
      centre.snapshotTimer = setInterval(() => void centre.refreshSnapshots(), options.snapshotEveryMs);
      centre.snapshotTimer.unref();
    }
    await client.subscribeAsync(
      (['decision', 'alert', 'fault', 'security', 'command/result', 'lookup/request', 'registration'] as const).map((leaf) => laneTopic(base, '+', '+', leaf)),
      { qos: 1 },
    );
    return centre;
  }

  /** The centre's certificate, for the gates' mqtt.centreKeys. */
  get certificatePem(): string {
    return this.key.certificatePem;
  }

  private site(site: string): SiteState {
    let state = this.sites.get(site);
    if (!state) {
      // Counters start from the clock (seconds), so a restarted simulated centre never
      // reuses a seq or version that gates kept from its last run: they would refuse it
      // as replayed. A real centre keeps its counters on disk.
      const base = Math.floor(Date.now() / 1000);
      state = { seq: base, version: base, snapshotPublished: false, statuses: new Map() };
      this.sites.set(site, state);
    }
    return state;
  }

  /** Sign and publish one colour change message (next seq); resolves when the broker has it. Returns the seq and publish time. */
  async pushColours(site: string, changes: Array<{ sub: string; colour: Colour; effectiveAt?: number }>): Promise<{ seq: number; publishedAt: number }> {
    const state = this.site(site);
    const now = Date.now();
    const entries = changes.map((c) => ({ sub: c.sub, colour: c.colour, effectiveAt: c.effectiveAt ?? now }));
    const seq = ++state.seq;
    for (const entry of entries) state.statuses.set(entry.sub, entry);
    this.dirty.add(site);
    const message = this.message({ site }, 'colour/change', { type: 'colour-change', site, seq, issuedAt: now, changes: entries });
    const publishedAt = Date.now();
    await this.client.publishAsync(message.topic, message.text, message.options);
    return { seq, publishedAt };
  }

  /** A heartbeat: the current seq again, no changes, a newer issuedAt; keeps gates from going degraded. */
  async heartbeat(site: string): Promise<void> {
    const state = this.site(site);
    // Nothing to repeat a seq of before the gates have a snapshot to start from.
    if (!state.snapshotPublished) return this.publishSnapshot(site);
    const message = this.message({ site }, 'colour/change', { type: 'colour-change', site, seq: state.seq, issuedAt: Date.now(), changes: [] });
    await this.client.publishAsync(message.topic, message.text, message.options);
  }

  private async refreshSnapshots(): Promise<void> {
    for (const site of [...this.dirty]) await this.publishSnapshot(site).catch(() => {});
  }

  /** Publish the retained snapshot of every pushed colour (next version). */
  async publishSnapshot(site: string): Promise<void> {
    const state = this.site(site);
    this.dirty.delete(site);
    state.snapshotPublished = true;
    const version = ++state.version;
    const message = this.message({ site }, 'colour/snapshot', { type: 'colour-snapshot', site, version, seq: state.seq, issuedAt: Date.now(), statuses: [...state.statuses.values()] });
    await this.client.publishAsync(message.topic, message.text, message.options);
  }

  /** Sign and send a command; resolves with its result, or rejects after the timeout. */
  async command(site: string, lane: string, action: CommandAction, extra: { key?: string; value?: unknown } = {}, timeoutMs = 5000): Promise<CommandResultMessage> {
    const command: CommandMessage = { type: 'command', id: randomUUID(), site, lane, issuedAt: Date.now(), action, ...extra };
    const result = new Promise<CommandResultMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.resultWaiters.delete(command.id);
        reject(new Error(`no result for command ${action} ${command.id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.resultWaiters.set(command.id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    const message = this.message({ site, lane }, 'command', command);
    await this.client.publishAsync(message.topic, message.text, message.options);
    return result;
  }

  /** Calls back with every report (after dedupe) until the returned function is called. */
  onReport(listener: (topic: string, message: unknown) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private receive(topic: string, payload: Buffer): void {
    const parsed = parseTopic(this.base, topic);
    if (!parsed || parsed.scope !== 'lane') return;
    let message: { id?: string; correlationId?: string; commandId?: string };
    try {
      message = JSON.parse(payload.toString('utf8')) as typeof message;
    } catch {
      return; // a centre would log it; the simulated one has nothing to do with it
    }
    this.deliveries++;
    const store = { decision: this.decisions, alert: this.alerts, fault: this.faults, security: this.security, 'command/result': this.results, registration: this.registrations }[
      parsed.leaf as 'decision'
    ] as Map<string, unknown> | undefined;
    if (store) {
      if (typeof message.id !== 'string' || store.has(message.id)) return;
      store.set(message.id, message);
      if (parsed.leaf === 'command/result' && message.commandId) this.resultWaiters.get(message.commandId)?.(message as CommandResultMessage);
      for (const listener of this.listeners) listener(topic, message);
      return;
    }
    if (parsed.leaf === 'lookup/request') this.answerLookup(parsed.site, parsed.lane, message as LookupRequestMessage);
  }

  private answerLookup(site: string, lane: string, request: LookupRequestMessage): void {
    this.lookupRequests.push(request);
    // An ID card is asked by the keyed hash of its number; one the centre does not know is answered null, not left to time out.
    const pushed = request.kind === 'printed-code' ? this.site(site).statuses.get(request.key) : undefined;
    const colour =
      request.kind === 'printed-code'
        ? (pushed?.colour ?? this.colourOf?.(request.key) ?? null)
        : (this.idHashColours.get(request.key) ?? this.colourOfIdHash?.(request.key) ?? null);
    const reply = this.message({ site, lane }, 'lookup/reply', {
      type: 'lookup-reply',
      correlationId: request.correlationId,
      site,
      lane,
      issuedAt: Date.now(),
      colour,
      ...(pushed ? { effectiveAt: pushed.effectiveAt } : {}),
    });
    this.client.publish(reply.topic, reply.text, reply.options);
  }

  /** A message for one of the leaves the centre sends on, signed, with where and how it travels. */
  private message<L extends SignedLeaf>(to: Target<L>, leaf: L, payload: PayloadOf<L>): CentreMessage {
    const topic = TOPICS[leaf].scope === 'site' ? siteTopic(this.base, to.site, leaf as SiteLeaf) : laneTopic(this.base, to.site, (to as { lane: string }).lane, leaf as LaneLeaf);
    return { topic, text: JSON.stringify(signLeafMessage(leaf, payload, this.signer)), options: publishOptions(leaf) };
  }

  async stop(): Promise<void> {
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    await this.client.endAsync();
  }
}
