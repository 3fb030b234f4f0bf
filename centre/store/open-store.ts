/** The centre's store as the config names it: PostgreSQL when `store.postgres` is set, else the SQLite file. */
import type { Logger } from 'pino';
import type { CentreStoreConfig } from '../../protocol/config/centre-schema.js';
import { openPostgresCentreStore } from './postgres-store.js';
import { openSqliteCentreStore } from './sqlite-store.js';
import type { SqlCentreStore } from './sql-store.js';

export async function openCentreStore(config: CentreStoreConfig, logger: Logger): Promise<SqlCentreStore> {
  if (config.postgres) {
    const store = await openPostgresCentreStore({ url: config.postgres.url, poolSize: config.postgres.poolSize, logger });
    logger.info({ store: 'postgres', database: store.database }, 'centre store opened');
    return store;
  }
  const store = await openSqliteCentreStore({ path: config.sqlite.path });
  logger.info({ store: 'sqlite', path: config.sqlite.path }, 'centre store opened');
  return store;
}
