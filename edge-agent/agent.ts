/**
 * The edge agent of one lane: builds the journal, the credential verifier,
 * the pushed-colour store and its sync, the lane and its MQTT link from a
 * checked config and the lane's hardware, and starts and stops them in order:
 * start() starts the parts one after another, and a part that fails stops
 * those already started, newest first, before the error goes on; stop() stops
 * them newest first too, then closes what the constructor built (the colour
 * sync's timer, the journal).
 */
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { LaneHardware } from '../device/contracts.js';
import { ColourSync } from './colour/colour-sync.js';
import { ColourStatusStore } from './colour/status-store.js';
import { ConfigError } from '../protocol/config/gate-config.js';
import { ConfigOverrides } from './config/overrides.js';
import type { GateConfig } from '../protocol/config/gate-schema.js';
import { describeTrust, IssuerTrust } from '../protocol/trust/trust-list.js';
import { TrustStore } from '../protocol/trust/trust-store.js';
import { TrustListVersions } from './credential/trust-list-versions.js';
import { CredentialVerifier } from './credential/verifier.js';
import { openGateDatabase } from './database/gate-database.js';
import { Journal } from './journal/journal.js';
import { Lane, type Registrar, type Timers } from './lane/lane.js';
import { LaneHolds } from './lane/lane-holds.js';
import { StartedParts } from './lifecycle.js';
import { RegistrationStore } from './privacy/retention.js';
import { idHasher, readIdHashKey } from '../protocol/privacy/id-hash.js';
import { loadAuthorityKey, sealRecord } from '../protocol/privacy/sealed-record.js';
import { applyConfigChange, CommandHandler, reloadTrustStore } from './link/command-handler.js';
import { GateLink, type LaneView } from './link/gate-link.js';
import { LookupClient } from './link/lookup-client.js';
import { HomeAssistantDiscovery } from './link/home-assistant.js';
import { ScreenServer } from './screen/screen-server.js';
import { ScreenModel } from './screen/screen-view.js';
import { VoicePrompts, voiceCacheDir } from './voice/voice-prompts.js';
import { Outbox, type OutboxDrop } from './link/outbox.js';
import { GateMetrics } from './metrics/metrics.js';

export interface AgentOptions {
  config: GateConfig;
  hardware: LaneHardware;
  logger: Logger;
  /** Trust store given directly (simulator, tests); else loaded from config.credentials.trust (reload-trust reads that path either way). */
  trust?: TrustStore;
  /** The centre's signing certificates given directly; else loaded from config.mqtt.centreKeys. */
  centreKeys?: TrustStore;
  timers?: Timers;
  /** The health authority's public key given directly (simulator); else loaded from config.privacy.authorityKey. */
  authorityKey?: KeyObject;
  /** The site's ID-card hash key given directly (simulator); else read from config.privacy.idHashKey. */
  idHashKey?: Buffer;
}

/** privacy.authorityKey read and checked; a bad file stops the start with the key named. */
function readAuthorityKey(path: string): KeyObject {
  try {
    return loadAuthorityKey(readFileSync(path));
  } catch (error) {
    throw new ConfigError(`privacy.authorityKey: ${path}: ${(error as Error).message}`);
  }
}

/** How often rows past outbox.maxAgeDays are dropped. */
const PRUNE_EVERY_MS = 3_600_000;

export class GateAgent {
  readonly lane: Lane;
  readonly journal: Journal;
  readonly colours: ColourStatusStore;
  readonly colourSync: ColourSync;
  readonly verifier: CredentialVerifier;
  readonly outbox: Outbox | null;
  /** Sealed registrations; null without an authority key. */
  readonly registrations: RegistrationStore | null;
  readonly link: GateLink | null;
  /** Home Assistant discovery (mqtt.homeAssistant.enabled), over the link's connection. */
  readonly homeAssistant: HomeAssistantDiscovery | null = null;
  /** credentials.trust, its signed list's version; null when the trust store was given directly without a path. */
  readonly issuerTrust: IssuerTrust | null;
  /** What the gate's screen shows; followed by the screen server when config.screen is set. */
  readonly screen: ScreenModel;
  /** Spoken prompts for each verdict; silent on a gate without a player. */
  readonly voice: VoicePrompts;
  private readonly screenServer: ScreenServer | null;
  /** Base URL of the screen and staff page once served. */
  screenUrl: string | null = null;
  /** The Prometheus endpoint (config.metrics); counts even when not served. */
  readonly metrics: GateMetrics;
  /** URL of the metrics endpoint once served; null when metrics.enabled is false. */
  metricsUrl: string | null = null;
  private config: GateConfig;
  private readonly overrides: ConfigOverrides;
  private readonly activeFaults = new Set<string>();
  private pruneTimer: NodeJS.Timeout | null = null;
  /** What start() has started, stopped newest first by stop() or by a start that fails. */
  private readonly started: StartedParts;
  private closed = false;

  constructor(private readonly options: AgentOptions) {
    const { hardware, logger } = options;
    this.started = new StartedParts(logger);
    let config = options.config;
    if (!options.trust && !config.credentials.trust) {
      throw new ConfigError('credentials.trust: required (a file or folder of issuer certificates, or the signed trust list gate-provision export-trust writes)');
    }
    const authorityKey = options.authorityKey ?? (config.privacy.authorityKey ? readAuthorityKey(config.privacy.authorityKey) : null);
    // ID cards are looked up by a keyed hash of the number; a bad key file stops the start with the key named.
    const idHashKey = options.idHashKey ?? (config.privacy.idHashKey ? readIdHashKey(config.privacy.idHashKey) : null);
    const idHash = idHashKey ? idHasher(idHashKey) : null;
    const centreKeys = options.centreKeys ?? (config.mqtt.centreKeys ? TrustStore.load(config.mqtt.centreKeys) : null);
    // Linked but unable to trust anything from the centre, the gate would go degraded and refuse every code: say so at start.
    if (config.mqtt.url && !centreKeys) {
      throw new ConfigError('mqtt.centreKeys: required with mqtt.url (the certificates of the keys that sign colour changes, snapshots, commands and look-up replies)');
    }
    // Opened first: the version of the signed trust list the lane has loaded is kept in it.
    const db = openGateDatabase(config.journal.path, { sync: config.journal.sync });
    this.journal = Journal.over(db);
    // Whatever fails from here on closes what was built before the error goes on.
    try {
      let trust: TrustStore;
      this.issuerTrust = config.credentials.trust
        ? new IssuerTrust({ path: config.credentials.trust, centreKeys, site: config.site, lane: config.lane, versions: new TrustListVersions(db) })
        : null;
      if (options.trust) {
        trust = options.trust;
      } else {
        const loaded = this.issuerTrust!.load();
        trust = loaded.store;
        logger.info({ trust: describeTrust(loaded) }, 'issuer trust loaded');
      }
      this.verifier = new CredentialVerifier({
        trust,
        clockSkewSeconds: config.credentials.clockSkewSeconds,
        maxDynamicLifetimeSeconds: config.credentials.maxDynamicLifetimeSeconds,
      });
      this.overrides = ConfigOverrides.attach(db);
      config = this.config = this.withStoredOverrides(config);
      this.colours = ColourStatusStore.attach(db);
      this.registrations = authorityKey ? new RegistrationStore(db, { retentionDays: config.privacy.retentionDays }) : null;
      if (!authorityKey) logger.warn('privacy.authorityKey not set: staff registrations are not sealed, only recorded as having happened');
      this.colourSync = new ColourSync({ store: this.colours, keys: centreKeys, site: config.site, config: config.colour, logger });

      let lookup: LookupClient | null = null;
      let link: GateLink | null = null;
      const mqttUrl = config.mqtt.url;
      if (mqttUrl) {
        // One drop comes per overflowing enqueue: summed over a turn of the event loop and reported live. Queued in a
        // full outbox, each report would drop another message, be reported in turn, and so on without end.
        let drops: OutboxDrop[] = [];
        const reportDrops = (): void => {
          const batch = drops;
          drops = [];
          const counts = new Map<string, number>();
          for (const d of batch) {
            const key = `${d.priority === 'telemetry' ? 'telemetry and security reports' : 'events'} (${d.reason})`;
            counts.set(key, (counts.get(key) ?? 0) + d.count);
          }
          const what = [...counts].map(([key, count]) => `${count} ${key}`).join(', ');
          const ids = `ids ${batch[0]!.firstId}…${batch[batch.length - 1]!.lastId}`;
          logger.error({ dropped: what, ids }, 'outbox full or aged: messages dropped (decisions stay in the journal)');
          link?.reportFault({ kind: 'outbox-dropped', detail: `messages dropped: ${what}; ${ids}` }, { queue: false });
        };
        this.outbox = Outbox.attach(db, {
          ...config.outbox,
          onDrop: (drop) => {
            if (drops.push(drop) === 1) setImmediate(reportDrops);
          },
          onLevel: (level, depth) => {
            const filling = level === 'filling';
            logger[filling ? 'warn' : 'info']({ depth, max: config.outbox.maxMessages }, filling ? 'outbox filling' : 'outbox back to normal');
            link?.reportFault({ kind: 'outbox-filling', detail: `${depth} of ${config.outbox.maxMessages} messages waiting for the broker`, active: filling });
          },
        });
        lookup = new LookupClient({
          keys: centreKeys,
          site: config.site,
          lane: config.lane,
          timeoutMs: config.mqtt.lookupTimeoutMs,
          baseTopic: config.mqtt.baseTopic,
          // A request the centre reads after the deadline is answered for nobody, and an ID-card request carries a hash of a number.
          publish: (topic, payload) => link?.publishNow(topic, payload, { expirySeconds: Math.ceil(config.mqtt.lookupTimeoutMs / 1000) }) ?? false,
          logger,
        });
      } else {
        this.outbox = null;
      }

      this.lane = new Lane({
        site: config.site,
        lane: config.lane,
        hardware,
        verifier: this.verifier,
        colours: this.colours,
        journal: this.journal,
        policy: config.policy,
        timing: config.timing,
        logger,
        // Without a link there is no centre to fall out of sync with: never degraded.
        ...(mqttUrl ? { link: this.colourSync } : {}),
        whenDegraded: config.colour.whenDegraded,
        ...(idHash ? { idHash } : {}),
        ...(lookup ? { lookup: async (kind: 'printed-code' | 'id-hash', subject: string) => {
          const answer = await lookup.lookup(kind, subject);
          return answer === null ? null : { colour: answer.colour, effectiveAt: answer.effectiveAt ?? Date.now() };
        } } : {}),
        ...(options.timers ? { timers: options.timers } : {}),
        ...(authorityKey && this.registrations ? { registrar: this.registrar(authorityKey, this.registrations) } : {}),
        // A red-code hold outlasts a restart: the person is still at the gate until staff release them.
        holds: LaneHolds.attach(db),
      });

      this.lane.on('fault', (fault) => {
        if (fault.active === false) this.activeFaults.delete(fault.kind);
        else if (fault.active === true) this.activeFaults.add(fault.kind);
      });

      if (mqttUrl && this.outbox) {
        const lane = this.lane;
        const faults = this.activeFaults;
        const laneView: LaneView = {
          get laneState() {
            return lane.state;
          },
          get activeFaults() {
            return [...faults];
          },
        };
        const commands = new CommandHandler({
          db,
          keys: centreKeys,
          // Operator keys the signed trust list delegates open, lock and release-hold to; reload-trust replaces them.
          operators: () => this.issuerTrust?.operators,
          site: config.site,
          lane: config.lane,
          maxAgeSeconds: config.mqtt.commandMaxAgeSeconds,
          logger,
          target: {
            open: () => lane.remoteOpen(),
            lock: () => lane.remoteLock(),
            releaseHold: () => lane.staffRelease(),
            reloadTrust: () => {
              if (!this.issuerTrust) throw new Error('credentials.trust is not set: nothing to reload from');
              const summary = reloadTrustStore(this.verifier, this.issuerTrust);
              logger.info({ trust: summary }, 'issuer trust reloaded');
              return summary;
            },
            setConfig: (key, value) => this.changeConfig(key, value),
          },
        });
        link = new GateLink({
          mqtt: { ...config.mqtt, url: mqttUrl },
          site: config.site,
          lane: config.lane,
          outbox: this.outbox,
          inflight: config.outbox.inflight,
          colourSync: this.colourSync,
          commands,
          ...(lookup ? { lookup } : {}),
          laneView,
          logger,
        });
        const theLink = link;
        // Each decision and its alert reach the outbox in the transaction that journals the decision.
        this.journal.setAppendHook((event) => theLink.enqueueDecision(event));
        this.lane.on('decision', () => theLink.kick());
        this.lane.on('fault', (fault) => theLink.reportFault(fault));
        this.lane.on('state', () => theLink.publishStatus());
        if (config.mqtt.homeAssistant.enabled) {
          this.homeAssistant = new HomeAssistantDiscovery({
            link: theLink,
            lane: this.lane,
            colourSync: this.colourSync,
            db,
            site: config.site,
            laneId: config.lane,
            baseTopic: config.mqtt.baseTopic,
            discoveryPrefix: config.mqtt.homeAssistant.discoveryPrefix,
            refreshSeconds: config.mqtt.telemetryIntervalSeconds,
            logger,
          });
        }
      }
      this.link = link;
      this.metrics = new GateMetrics({
        site: config.site,
        laneId: config.lane,
        lane: this.lane,
        frames: hardware.frames,
        outbox: this.outbox,
        colourSyncAgeMs: () => (mqttUrl ? this.colourSync.syncAgeMs() : null),
        brokerConnected: () => this.brokerConnected,
        degraded: () => (mqttUrl ? this.colourSync.degraded : false),
        server: config.metrics,
        logger,
      });

      this.voice = new VoicePrompts({ config: config.voice, cacheDir: voiceCacheDir(config), logger });
      this.voice.attach(this.lane);
      this.screen = new ScreenModel(this.lane, () => (mqttUrl ? this.colourSync.degraded : false));
      this.screenServer = config.screen ? this.buildScreenServer(config, config.screen) : null;
    } catch (error) {
      this.closeBuilt();
      throw error;
    }
  }

  /** The parts the constructor built and start() does not: the colour sync's check timer, the journal. Once only. */
  private closeBuilt(): void {
    if (this.closed) return;
    this.closed = true;
    // Fields not reached yet when the constructor failed are still undefined.
    (this.colourSync as ColourSync | undefined)?.stop();
    this.journal.setAppendHook(null);
    this.journal.close();
  }

  private buildScreenServer(config: GateConfig, screen: NonNullable<GateConfig['screen']>): ScreenServer {
    const read = (key: string, path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (error) {
        throw new ConfigError(`${key}: ${path}: ${(error as Error).message}`);
      }
    };
    return new ScreenServer({
      host: screen.host,
      port: screen.port,
      ...(screen.tls ? { tls: { cert: read('screen.tls.cert', screen.tls.cert), key: read('screen.tls.key', screen.tls.key) } } : {}),
      model: this.screen,
      desk: this.lane,
      pinHash: config.staff.pinHash ?? null,
      staffSessionMinutes: config.staff.sessionMinutes,
      site: config.site,
      lane: config.lane,
      logger: this.options.logger,
    });
  }

  /** Seals with the authority's key; keeps the record and its outbox row in the decision's transaction. */
  private registrar(key: KeyObject, store: RegistrationStore): Registrar {
    return {
      seal: (record) => sealRecord(record, key),
      keep: (sealed) => {
        store.add(sealed);
        this.link?.enqueueRegistration(sealed);
      },
    };
  }

  /** Sealed registrations past privacy.retentionDays go; a disk error is logged, never thrown. */
  private purgeRegistrations(): void {
    if (!this.registrations) return;
    try {
      const purged = this.registrations.purge(Date.now());
      // A long outage must not keep a sealed registration on the gate past its retention either.
      const unsent = this.link && this.outbox ? this.outbox.pruneTopic(this.link.topic('registration'), this.config.privacy.retentionDays * 86_400_000) : 0;
      if (purged + unsent > 0) {
        this.options.logger.info({ purged, unsent, retentionDays: this.config.privacy.retentionDays }, 'sealed registrations past retention purged');
      }
    } catch (error) {
      this.options.logger.error({ err: error }, 'registration purge failed');
    }
  }

  /** The config in force (the centre's set-config commands change it). */
  get settings(): GateConfig {
    return this.config;
  }

  /** The centre's earlier set-config changes over the config file, each checked again; one that no longer fits is dropped. */
  private withStoredOverrides(config: GateConfig): GateConfig {
    let result = config;
    for (const { key, value, changedAt } of this.overrides.all()) {
      try {
        result = applyConfigChange(result, key, value);
        this.options.logger.warn({ key, value, changedAt: new Date(changedAt).toISOString() }, 'config key set by the centre, over the config file');
      } catch (error) {
        this.options.logger.error({ err: error, key, value }, 'a config change the centre made no longer fits the config: dropped');
        this.overrides.remove(key);
      }
    }
    return result;
  }

  /**
   * The centre's set-config command: checked by the schema, applied to the
   * parts that read it, and kept in the journal file so that a restart keeps it.
   */
  changeConfig(key: string, value: unknown): string {
    const next = applyConfigChange(this.config, key, value);
    this.overrides.set(key, value);
    this.config = next;
    this.lane.updateSettings({ policy: next.policy, timing: next.timing, whenDegraded: next.colour.whenDegraded });
    this.colourSync.updateConfig(next.colour);
    if (key === 'log.level') this.options.logger.level = next.log.level;
    if (key === 'mqtt.telemetryIntervalSeconds') this.link?.setTelemetryInterval(next.mqtt.telemetryIntervalSeconds);
    this.options.logger.info({ key, value }, 'config changed by the centre');
    return `${key} = ${JSON.stringify(value)}`;
  }

  /**
   * The lane starts deciding at once; the broker link connects when it can.
   * A part that fails to start (a port taken, a TLS file missing) stops every
   * part started before it, closes the journal, and the error goes on: the
   * caller has nothing left to stop.
   */
  async start(): Promise<void> {
    const { hardware } = this.options;
    const parts = this.started;
    try {
      // Before the lane: every decision is counted, and a metrics port already taken stops the start before anyone is let in.
      this.metricsUrl = await parts.start('metrics', () => this.metrics.start(), () => this.metrics.stop());
      await parts.start('lane', () => this.lane.start(), () => this.lane.stop());
      await parts.start('code reader', () => hardware.reader.start(), () => hardware.reader.stop());
      const idCardReader = hardware.idCardReader;
      if (idCardReader) await parts.start('ID-card reader', () => idCardReader.start(), () => idCardReader.stop());
      await parts.start('screen model', () => this.screen.start(), () => this.screen.stop());
      // Not awaited: rendering takes seconds on a Pi and the lane decides at once (a prompt not yet rendered is silent).
      void this.voice.start();
      parts.add('voice prompts', () => this.voice.stop());
      const screenServer = this.screenServer;
      if (screenServer) this.screenUrl = await parts.start('screen server', () => screenServer.start(), () => screenServer.stop());
      await parts.start('retention', () => this.startPruning(), () => this.stopPruning());
      const link = this.link;
      if (link) await parts.start('broker link', () => link.start(), () => link.stop());
      const homeAssistant = this.homeAssistant;
      if (homeAssistant) await parts.start('Home Assistant discovery', () => homeAssistant.start(), () => homeAssistant.stop());
    } catch (error) {
      await parts.stopAll();
      this.closeBuilt();
      throw error;
    }
  }

  /** Outbox rows and sealed registrations past their age go now and every hour. */
  private startPruning(): void {
    this.purgeRegistrations();
    if (!this.outbox && !this.registrations) return;
    this.outbox?.prune();
    this.pruneTimer = setInterval(() => {
      try {
        this.outbox?.prune();
      } catch (error) {
        // A busy or failing disk: try again next time; the lane goes on.
        this.options.logger.error({ err: error }, 'outbox prune failed');
      }
      this.purgeRegistrations();
    }, PRUNE_EVERY_MS);
    this.pruneTimer.unref();
  }

  private stopPruning(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
  }

  get brokerConnected(): boolean {
    return this.link?.connected ?? false;
  }

  /** Stops what start() started, newest first, then closes the journal; every timer of the agent is cleared. */
  async stop(): Promise<void> {
    await this.started.stopAll();
    this.closeBuilt();
  }
}
