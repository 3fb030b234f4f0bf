/**
 * The centre's way to the gates: the site broker its config names, or, when
 * it names none, the embedded broker (aedes) the centre runs itself on
 * loopback, so that `npm run centre` needs nothing else. Each part that talks
 * MQTT (publisher, look-ups, deliveries' intake, the record's feed) has its
 * own connection and client id, made from these options.
 */
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { IClientOptions } from 'mqtt';
import type { Logger } from 'pino';
import type { CentreBrokerConfig } from '../protocol/config/centre-config.js';
import { ConfigError } from '../protocol/config/errors.js';
import type { Component } from './components.js';

export interface BrokerEndpoint {
  url: string;
  /** 4 for the embedded broker (aedes speaks MQTT 3.1.1), else the config's. */
  protocolVersion: 4 | 5;
  /** Options for one connection: TLS and login from the config (its own certificate when broker.tls.connections names it), the client id given. */
  clientOptions(clientId: string, persistent: boolean): IClientOptions;
}

function endpoint(config: CentreBrokerConfig, url: string, protocolVersion: 4 | 5): BrokerEndpoint {
  let tls: Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'servername' | 'rejectUnauthorized'> = {};
  const own = new Map<string, { cert: string; key: string }>();
  if (config.tls) {
    try {
      tls = {
        ca: readFileSync(config.tls.ca, 'utf8'),
        rejectUnauthorized: true,
        ...(config.tls.cert ? { cert: readFileSync(config.tls.cert, 'utf8') } : {}),
        ...(config.tls.key ? { key: readFileSync(config.tls.key, 'utf8') } : {}),
        ...(config.tls.servername ? { servername: config.tls.servername } : {}),
      };
      for (const [name, files] of Object.entries(config.tls.connections ?? {})) {
        if (files) own.set(name, { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') });
      }
    } catch (error) {
      throw new ConfigError('invalid', `centre config: broker.tls: ${(error as NodeJS.ErrnoException).path ?? ''} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  }
  return {
    url,
    protocolVersion,
    clientOptions(clientId, persistent) {
      return {
        clientId: `${config.clientId ?? 'hc-centre'}-${clientId}`,
        protocolVersion,
        clean: !persistent,
        // A persistent session keeps what gates sent while the centre was away: a day, as the console's.
        ...(persistent && protocolVersion === 5 ? { properties: { sessionExpiryInterval: 86_400 } } : {}),
        reconnectPeriod: 1000,
        connectTimeout: 10_000,
        reconnectOnConnackError: true,
        ...(config.username !== undefined ? { username: config.username } : {}),
        ...(config.password !== undefined ? { password: config.password } : {}),
        ...tls,
        ...own.get(clientId),
      };
    },
  };
}

/** The broker the config names, or the embedded one (started as a component). */
export class CentreBroker implements Component {
  readonly name = 'broker';
  #server: Server | null = null;
  #aedes: Aedes | null = null;
  #endpoint: BrokerEndpoint | null = null;

  constructor(
    private readonly config: CentreBrokerConfig,
    private readonly logger: Logger,
  ) {
    if (config.url !== undefined) this.#endpoint = endpoint(config, config.url, config.protocolVersion);
  }

  get endpoint(): BrokerEndpoint {
    if (!this.#endpoint) throw new Error('the embedded broker has not started');
    return this.#endpoint;
  }

  /** True when the centre runs the broker itself. */
  get embedded(): boolean {
    return this.config.url === undefined;
  }

  async start(): Promise<void> {
    if (!this.embedded) return;
    const { host, port } = this.config.embedded;
    const aedes = await Aedes.createBroker();
    const server = createServer((socket) => aedes.handle(socket));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
    } catch (error) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new ConfigError('invalid', `centre config: broker.embedded: ${host}:${port} is in use (another broker?): set broker.url to use that broker, or broker.embedded.port`);
      }
      throw error;
    }
    this.#server = server;
    this.#aedes = aedes;
    const actual = (server.address() as AddressInfo).port;
    this.#endpoint = endpoint(this.config, `mqtt://${host.includes(':') ? `[${host}]` : host}:${actual}`, 4);
    this.logger.info({ url: this.#endpoint.url }, 'embedded broker listening (set broker.url for a site broker)');
  }

  async stop(): Promise<void> {
    const aedes = this.#aedes;
    const server = this.#server;
    this.#aedes = null;
    this.#server = null;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
