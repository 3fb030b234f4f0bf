/**
 * The console put together: store, feed, commands, sessions and web server,
 * started and stopped in order.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { Logger } from 'pino';
import { loadCommandSigner, type CommandSigner } from './command-signer.js';
import { Commands } from './commands.js';
import { ConsoleConfigError, type ConsoleConfig } from './config.js';
import { Feed } from './feed.js';
import { ConsoleServer } from './server.js';
import { OperatorSessions } from './sessions.js';
import { ConsoleStore } from './store.js';

export interface RunningConsole {
  url: string;
  store: ConsoleStore;
  feed: Feed;
  commands: Commands;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Replaces the signer the config names (tests; the gate side's operator signing). */
  signer?: CommandSigner | null;
  clientOptions?: IClientOptions;
}

export async function startConsole(config: ConsoleConfig, logger: Logger, options: StartOptions = {}): Promise<RunningConsole> {
  if (config.store.postgres) throw new ConsoleConfigError('console config: store.postgres is not implemented yet; use store.sqlite');
  const signer = options.signer !== undefined ? options.signer : loadCommandSigner(config);
  if (!signer) logger.warn('no operatorKey in the console config: commands are disabled');
  const store = new ConsoleStore({ path: config.store.sqlite.path, timeZone: config.timeZone });
  const feed = new Feed(config, store, logger);
  const commands = new Commands(store, feed, signer, config.commandTimeoutSeconds * 1000, logger);
  const sessions = new OperatorSessions({ users: config.users, idleMs: config.sessionMinutes * 60_000, maxMs: config.sessionMaxHours * 3_600_000 });
  const server = new ConsoleServer({
    host: config.http.host,
    port: config.http.port,
    ...(config.http.tls ? { tls: { cert: readFileSync(config.http.tls.cert), key: readFileSync(config.http.tls.key) } } : {}),
    store,
    feed,
    commands,
    sessions,
    logger,
  });
  try {
    await feed.start(options.clientOptions);
    commands.start();
    const url = await server.start();
    return {
      url,
      store,
      feed,
      commands,
      async stop() {
        await server.stop();
        commands.stop();
        await feed.stop();
        store.close();
      },
    };
  } catch (error) {
    commands.stop();
    await feed.stop().catch(() => {});
    store.close();
    throw error;
  }
}
