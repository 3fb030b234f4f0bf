/**
 * The gate's components built from a checked config and the lane's
 * hardware, each handed what it needs, in dependency order: the journal's
 * stores, the colour sync, the outbox's reports, the lane, the outbox pump,
 * the broker link and Home Assistant, then the metrics, the readers, the voice, the screen
 * and retention. The list comes back in the order they start in (the
 * metrics before the lane); the controller stops them in reverse.
 *
 * A build that fails closes what it had built (the colour sync's timer, the
 * journal's file) before the error goes on.
 */
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { LaneHardware } from '../../device/contracts.js';
import type { ColourSync } from '../colour/colour-sync.js';
import { CredentialVerifier } from '../credential/verifier.js';
import type { Lane, Timers } from '../lane/lane.js';
import type { GateLink } from '../link/gate-link.js';
import { LookupClient } from '../link/lookup-client.js';
import type { Outbox } from '../link/outbox.js';

import type { GateConfig } from '../../protocol/config/gate-schema.js';
import { idHasher, readIdHashKey } from '../../protocol/privacy/id-hash.js';
import { loadAuthorityKey } from '../../protocol/privacy/sealed-record.js';
import { describeTrust, IssuerTrust } from '../../protocol/trust/trust-list.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CentreKeys } from '../../protocol/trust/centre-keys.js';
import { CentreKeyRollover } from '../credential/centre-key-rollover.js';
import { CentrePort } from './centre-port.js';
import { ColourSyncComponent } from './colour-sync.js';
import { deviceComponent, type Component } from './component.js';
import { applyConfigChange } from './config-keys.js';
import { closeAll } from './controller.js';
import { HomeAssistantComponent } from './home-assistant.js';
import { LaneComponent, sealingRegistrar } from './lane.js';
import { LinkComponent } from './link.js';
import { LogComponent } from './log.js';
import { MetricsComponent } from './metrics.js';
import { OutboxPumpComponent } from './outbox-pump.js';
import { OutboxReports } from './outbox-reports.js';
import { RetentionComponent } from './retention.js';
import { ScreenComponent } from './screen.js';
import { journalComponent, openStores, type GateStores } from './stores.js';
import { VoiceComponent } from './voice.js';
import { ConfigError } from '../../protocol/config/errors.js';

export interface GateInputs {
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

/** What the agent shows of the built gate (tests and the simulator read these). */
export interface BuiltGate {
  /** In start order. */
  components: Component[];
  /** The config in force: the file's, with the centre's earlier set-config changes over it. */
  config: GateConfig;
  stores: GateStores;
  verifier: CredentialVerifier;
  issuerTrust: IssuerTrust | null;
  colourSync: ColourSync;
  lane: Lane;
  link: GateLink | null;
  outbox: Outbox | null;
  homeAssistant: HomeAssistantComponent | null;
  metrics: MetricsComponent;
  screen: ScreenComponent;
  voice: VoiceComponent;
}

/** privacy.authorityKey read and checked; a bad file stops the start with the key named. */
function readAuthorityKey(path: string): KeyObject {
  try {
    return loadAuthorityKey(readFileSync(path));
  } catch (error) {
    throw new ConfigError('invalid', `privacy.authorityKey: ${path}: ${(error as Error).message}`);
  }
}

/**
 * @param changeConfig the centre's set-config, for the link's commands: the agent checks, keeps and applies it.
 */
export function buildGate(inputs: GateInputs, changeConfig: (key: string, value: unknown) => string): BuiltGate {
  const { hardware, logger } = inputs;
  const fileConfig = inputs.config;
  if (!inputs.trust && !fileConfig.credentials.trust) {
    throw new ConfigError('invalid', 'credentials.trust: required (a file or folder of issuer certificates, or the signed trust list gate-provision export-trust writes)');
  }
  const authorityKey = inputs.authorityKey ?? (fileConfig.privacy.authorityKey ? readAuthorityKey(fileConfig.privacy.authorityKey) : null);
  // ID cards are looked up by a keyed hash of the number; a bad key file stops the start with the key named.
  const idHashKey = inputs.idHashKey ?? (fileConfig.privacy.idHashKey ? readIdHashKey(fileConfig.privacy.idHashKey) : null);
  const given = inputs.centreKeys ?? (fileConfig.mqtt.centreKeys ? TrustStore.load(fileConfig.mqtt.centreKeys) : null);
  // Windowed by the centre's key announcements (docs/keys.md): every check of a centre message reads the same store.
  const centreKeys = given ? CentreKeys.of(given) : null;
  // Linked but unable to trust anything from the centre, the gate would go degraded and refuse every code: say so at start.
  if (fileConfig.mqtt.url && !centreKeys) {
    throw new ConfigError('invalid', 'mqtt.centreKeys: required with mqtt.url (the certificates of the keys that sign colour changes, snapshots, commands and look-up replies)');
  }
  // Opened first: the version of the signed trust list the lane has loaded is kept in it.
  const stores = openStores(fileConfig, { sealsRegistrations: authorityKey !== null });
  const built: Component[] = [journalComponent(stores)];
  // Whatever fails from here on closes what was built before the error goes on.
  try {
    // Before anything reads the keys: what earlier announcements said, from the gate database.
    const rollover = centreKeys ? new CentreKeyRollover({ db: stores.db, site: fileConfig.site, keys: centreKeys, logger }) : null;
    const issuerTrust = stores.versions
      ? new IssuerTrust({ path: fileConfig.credentials.trust!, centreKeys, site: fileConfig.site, lane: fileConfig.lane, versions: stores.versions })
      : null;
    let trust = inputs.trust;
    if (!trust) {
      const loaded = issuerTrust!.load();
      trust = loaded.store;
      logger.info({ trust: describeTrust(loaded) }, 'issuer trust loaded');
    }
    const verifier = new CredentialVerifier({
      trust,
      clockSkewSeconds: fileConfig.credentials.clockSkewSeconds,
      maxDynamicLifetimeSeconds: fileConfig.credentials.maxDynamicLifetimeSeconds,
    });
    const config = withStoredOverrides(fileConfig, stores, logger);
    if (!authorityKey) logger.warn('privacy.authorityKey not set: staff registrations are not sealed, only recorded as having happened');

    const colourSyncComponent = new ColourSyncComponent({ config, colours: stores.colours, centreKeys, logger });
    built.push(colourSyncComponent);
    const { colourSync } = colourSyncComponent;
    const centre = new CentrePort();
    const mqttUrl = config.mqtt.url;
    const outbox = stores.outbox;
    if (outbox) built.push(new OutboxReports({ signals: stores.outboxSignals, centre, maxMessages: config.outbox.maxMessages, logger }));
    const lookup = mqttUrl
      ? new LookupClient({
          keys: centreKeys,
          site: config.site,
          lane: config.lane,
          timeoutMs: config.mqtt.lookupTimeoutMs,
          // A request the centre reads after the deadline is answered for nobody, and an ID-card request carries a hash of a number.
          publish: (leaf, request) => centre.publish(leaf, request, { expirySeconds: Math.ceil(config.mqtt.lookupTimeoutMs / 1000) }),
          logger,
        })
      : null;

    const laneComponent = new LaneComponent({
      config,
      hardware,
      stores,
      verifier,
      colourSync: mqttUrl ? colourSync : null,
      lookup,
      idHash: idHashKey ? idHasher(idHashKey) : null,
      registrar: authorityKey && stores.registrations ? sealingRegistrar(authorityKey, stores.registrations, centre) : null,
      ...(inputs.timers ? { timers: inputs.timers } : {}),
      logger,
    });
    const { lane } = laneComponent;

    const pumpComponent = mqttUrl && outbox ? new OutboxPumpComponent({ config, outbox, lane, logger }) : null;
    const linkComponent =
      mqttUrl && outbox && pumpComponent
        ? new LinkComponent({ config, mqttUrl, stores, outbox, pump: pumpComponent.pump, centreKeys, rollover, colourSync, lookup, lane: laneComponent, verifier, issuerTrust, centre, changeConfig, logger })
        : null;
    const link = linkComponent?.link ?? null;
    const homeAssistant =
      link && config.mqtt.homeAssistant.enabled ? new HomeAssistantComponent({ config, link, lane, colourSync, db: stores.db, logger }) : null;

    const metrics = new MetricsComponent({ config, lane, frames: hardware.frames, outbox, colourSync: mqttUrl ? colourSync : null, link, logger });
    const voice = new VoiceComponent({ config, lane, logger });
    const screen = new ScreenComponent({ config, lane, degraded: () => (mqttUrl ? colourSync.degraded : false), logger });
    const retention = new RetentionComponent({
      outbox,
      registrations: stores.registrations,
      registrationTopic: link ? link.topic('registration') : null,
      retentionDays: config.privacy.retentionDays,
      logger,
    });
    const { idCardReader } = hardware;
    built.push(
      new LogComponent(logger),
      metrics,
      laneComponent,
      deviceComponent('code reader', hardware.reader),
      ...(idCardReader ? [deviceComponent('ID-card reader', idCardReader)] : []),
      voice,
      screen,
      retention,
      ...(pumpComponent ? [pumpComponent] : []),
      ...(linkComponent ? [linkComponent] : []),
      ...(homeAssistant ? [homeAssistant] : []),
    );
    return { components: built, config, stores, verifier, issuerTrust, colourSync, lane, link, outbox, homeAssistant, metrics, screen, voice };
  } catch (error) {
    closeAll(built, logger);
    throw error;
  }
}

/** The centre's earlier set-config changes over the config file, each checked again; one that no longer fits is dropped. */
function withStoredOverrides(config: GateConfig, stores: GateStores, logger: Logger): GateConfig {
  let result = config;
  for (const { key, value, changedAt } of stores.overrides.all()) {
    try {
      result = applyConfigChange(result, key, value);
      logger.warn({ key, value, changedAt: new Date(changedAt).toISOString() }, 'config key set by the centre, over the config file');
    } catch (error) {
      logger.error({ err: error, key, value }, 'a config change the centre made no longer fits the config: dropped');
      stores.overrides.remove(key);
    }
  }
  return result;
}
