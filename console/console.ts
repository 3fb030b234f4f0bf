/**
 * The console put together: store, feed, commands, sessions and web server,
 * started and stopped in order.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import type { Logger } from 'pino';
import { AlertDeliveryView } from './alert-deliveries.js';
import { loadCommandSigner, type CommandSigner } from './command-signer.js';
import { Commands } from './commands.js';
import type { ConsoleConfig } from '../protocol/config/console-config.js';
import { Feed } from '../record/feed.js';
import { ConsoleServer } from './server.js';
import { OperatorSessions } from './sessions.js';
import { openConsoleStore } from '../record/open-store.js';
import type { ConsoleStore } from '../record/store.js';

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
  // Before the store opens: a token file that cannot be read stops the start with nothing to undo.
  const deliveries = new AlertDeliveryView(config.centre, logger);
  if (!deliveries.configured) logger.info('no centre in the console config: red-code alerts are shown without their delivery to the department');
  const signer = options.signer !== undefined ? options.signer : loadCommandSigner(config);
  if (!signer) logger.warn('no operatorKey in the console config: commands are disabled');
  const store = await openConsoleStore(config, logger);
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
    deliveries,
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
        await commands.stop();
        await feed.stop();
        await store.close();
      },
    };
  } catch (error) {
    await commands.stop();
    await feed.stop().catch(() => {});
    await store.close();
    throw error;
  }
}
