/**
 * The gate's screen as a component: the model of what it shows, and the
 * screen and staff page server when config.screen is set (a TLS file that
 * cannot be read stops the build, naming its key).
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Lane } from '../lane/lane.js';
import { ScreenServer } from '../screen/screen-server.js';
import { ScreenModel } from '../screen/screen-view.js';

import type { GateConfig } from '../../protocol/config/gate-schema.js';
import type { Component } from './component.js';
import { ConfigError } from '../../protocol/config/errors.js';

export class ScreenComponent implements Component {
  readonly name = 'screen';
  readonly model: ScreenModel;
  readonly #server: ScreenServer | null;
  /** Base URL of the screen and staff page once served. */
  url: string | null = null;

  constructor(options: { config: GateConfig; lane: Lane; degraded: () => boolean; logger: Logger }) {
    const { config, lane, logger } = options;
    this.model = new ScreenModel(lane, options.degraded);
    this.#server = config.screen ? screenServer(config, config.screen, this.model, lane, logger) : null;
  }

  /** A server that cannot listen (its port taken) stops the model again before the error goes on. */
  async start(): Promise<void> {
    this.model.start();
    try {
      if (this.#server) this.url = await this.#server.start();
    } catch (error) {
      this.model.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    try {
      await this.#server?.stop();
    } finally {
      this.model.stop();
    }
  }
}

function screenServer(config: GateConfig, screen: NonNullable<GateConfig['screen']>, model: ScreenModel, lane: Lane, logger: Logger): ScreenServer {
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError('invalid', `${key}: ${path}: ${(error as Error).message}`);
    }
  };
  return new ScreenServer({
    host: screen.host,
    port: screen.port,
    ...(screen.tls ? { tls: { cert: read('screen.tls.cert', screen.tls.cert), key: read('screen.tls.key', screen.tls.key) } } : {}),
    model,
    desk: lane,
    pinHash: config.staff.pinHash ?? null,
    staffSessionMinutes: config.staff.sessionMinutes,
    site: config.site,
    lane: config.lane,
    logger,
  });
}
