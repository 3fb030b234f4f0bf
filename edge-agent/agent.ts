/**
 * The edge agent of one lane: its components (the journal's file, the colour
 * sync, the outbox, the lane, the readers, the screen, the voice, the
 * metrics, retention, the broker link, Home Assistant discovery) built from a
 * checked config and the lane's hardware (components/build.ts), started in
 * order and stopped newest first by the controller. A component that fails
 * to start stops those already started and closes the journal before the
 * error, naming it, goes on.
 *
 * The centre's set-config is checked against the schema, kept in the
 * journal's file and handed to the components that read the key.
 */
import type { Logger } from 'pino';
import type { ColourSync } from './colour/colour-sync.js';
import type { ColourStatusStore } from './colour/status-store.js';
import type { ConfigOverrides } from './config/overrides.js';
import type { GateConfig } from '../protocol/config/gate-schema.js';
import type { IssuerTrust } from '../protocol/trust/trust-list.js';
import type { CredentialVerifier } from './credential/verifier.js';
import type { Journal } from './journal/journal.js';
import type { Lane } from './lane/lane.js';
import type { RegistrationStore } from './privacy/retention.js';
import type { GateLink } from './link/gate-link.js';
import type { HomeAssistantDiscovery } from './link/home-assistant.js';
import type { ScreenModel } from './screen/screen-view.js';
import type { VoicePrompts } from './voice/voice-prompts.js';
import type { Outbox } from './link/outbox.js';
import type { GateMetrics } from './metrics/metrics.js';
import { buildGate, type GateInputs } from './components/build.js';
import { applyConfigChange } from './components/config-keys.js';
import { GateController } from './components/controller.js';
import type { MetricsComponent } from './components/metrics.js';
import type { ScreenComponent } from './components/screen.js';

export type AgentOptions = GateInputs;

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
  readonly homeAssistant: HomeAssistantDiscovery | null;
  /** credentials.trust, its signed list's version; null when the trust store was given directly without a path. */
  readonly issuerTrust: IssuerTrust | null;
  /** What the gate's screen shows; followed by the screen server when config.screen is set. */
  readonly screen: ScreenModel;
  /** Spoken prompts for each verdict; silent on a gate without a player. */
  readonly voice: VoicePrompts;
  /** The Prometheus endpoint (config.metrics); counts even when not served. */
  readonly metrics: GateMetrics;
  /** The components in start order, and their start, stop and config changes. */
  readonly controller: GateController;
  private config: GateConfig;
  private readonly overrides: ConfigOverrides;
  private readonly metricsComponent: MetricsComponent;
  private readonly screenComponent: ScreenComponent;
  private readonly logger: Logger;

  constructor(options: AgentOptions) {
    this.logger = options.logger;
    const gate = buildGate(options, (key, value) => this.changeConfig(key, value));
    this.config = gate.config;
    this.overrides = gate.stores.overrides;
    this.journal = gate.stores.journal;
    this.colours = gate.stores.colours;
    this.registrations = gate.stores.registrations;
    this.outbox = gate.outbox;
    this.verifier = gate.verifier;
    this.issuerTrust = gate.issuerTrust;
    this.colourSync = gate.colourSync;
    this.lane = gate.lane;
    this.link = gate.link;
    this.homeAssistant = gate.homeAssistant?.discovery ?? null;
    this.metricsComponent = gate.metrics;
    this.metrics = gate.metrics.metrics;
    this.screenComponent = gate.screen;
    this.screen = gate.screen.model;
    this.voice = gate.voice.voice;
    this.controller = new GateController(gate.components, this.logger);
  }

  /** The config in force (the centre's set-config commands change it). */
  get settings(): GateConfig {
    return this.config;
  }

  /** Base URL of the screen and staff page once served. */
  get screenUrl(): string | null {
    return this.screenComponent.url;
  }

  /** URL of the metrics endpoint once served; null when metrics.enabled is false. */
  get metricsUrl(): string | null {
    return this.metricsComponent.url;
  }

  get brokerConnected(): boolean {
    return this.link?.connected ?? false;
  }

  /**
   * The centre's set-config command: checked by the schema, applied to the
   * components that read it, and kept in the journal file so that a restart keeps it.
   */
  changeConfig(key: string, value: unknown): string {
    const next = applyConfigChange(this.config, key, value);
    this.overrides.set(key, value);
    this.config = next;
    this.controller.applyConfig(key, next);
    this.logger.info({ key, value }, 'config changed by the centre');
    return `${key} = ${JSON.stringify(value)}`;
  }

  /**
   * The lane starts deciding at once; the broker link connects when it can.
   * A component that fails to start (a port taken, a TLS file missing) stops
   * every component started before it, closes the journal, and the error
   * (ComponentStartError, naming it) goes on: the caller has nothing left to stop.
   */
  start(): Promise<void> {
    return this.controller.start();
  }

  /**
   * Stops what start() started, newest first, then closes the journal; every
   * timer of the agent is cleared. With `deadline` (epoch ms) a component
   * still stopping then is left behind and the rest still stop.
   */
  stop(options: { deadline?: number } = {}): Promise<void> {
    return this.controller.stop(options);
  }
}
