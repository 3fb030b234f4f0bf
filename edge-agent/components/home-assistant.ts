/** Home Assistant discovery (mqtt.homeAssistant.enabled) as a component, over the broker link's connection. */
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { ColourSync } from '../colour/colour-sync.js';
import type { Lane } from '../lane/lane.js';
import type { GateLink } from '../link/gate-link.js';
import { HomeAssistantDiscovery } from '../link/home-assistant.js';
import type { GateConfig } from '../../protocol/config/gate-schema.js';
import type { Component } from './component.js';

export class HomeAssistantComponent implements Component {
  readonly name = 'Home Assistant discovery';
  readonly discovery: HomeAssistantDiscovery;

  constructor(options: { config: GateConfig; link: GateLink; lane: Lane; colourSync: ColourSync; db: Database; logger: Logger }) {
    const { config } = options;
    this.discovery = new HomeAssistantDiscovery({
      link: options.link,
      lane: options.lane,
      colourSync: options.colourSync,
      db: options.db,
      site: config.site,
      laneId: config.lane,
      baseTopic: config.mqtt.baseTopic,
      discoveryPrefix: config.mqtt.homeAssistant.discoveryPrefix,
      refreshSeconds: config.mqtt.telemetryIntervalSeconds,
      logger: options.logger,
    });
  }

  start(): void {
    this.discovery.start();
  }

  stop(): void {
    this.discovery.stop();
  }
}
