/** The console's store as the config names it: PostgreSQL when `store.postgres` is set, else the SQLite file. */
import type { Logger } from 'pino';
import type { ConsoleConfig } from '../protocol/config/console-config.js';
import { openPostgresStore } from './postgres-store.js';
import { openSqliteStore } from './sqlite-store.js';
import type { ConsoleStore } from './store.js';

export async function openConsoleStore(config: Pick<ConsoleConfig, 'store' | 'timeZone'>, logger: Logger, applicationName?: string): Promise<ConsoleStore> {
  if (config.store.postgres) {
    const store = await openPostgresStore({ ...config.store.postgres, timeZone: config.timeZone, logger, ...(applicationName ? { applicationName } : {}) });
    logger.info({ store: 'postgres', database: store.database }, 'record store opened');
    return store;
  }
  const store = await openSqliteStore({ path: config.store.sqlite.path, timeZone: config.timeZone });
  logger.info({ store: 'sqlite', path: config.store.sqlite.path }, 'record store opened');
  return store;
}
