/**
 * The leader election for the centre's store: PostgreSQL's advisory lock when
 * the store is in PostgreSQL (a standby waits), the lock file beside the
 * SQLite database otherwise (a second process refuses to start).
 */
import type { Logger } from 'pino';
import type { CentreLeaderConfig, CentreStoreConfig } from '../../protocol/config/centre-schema.js';
import type { LeaderElection } from './election.js';
import { PostgresLeaderElection } from './postgres-election.js';
import { SqliteLeaderElection } from './sqlite-election.js';

export function openLeaderElection(store: CentreStoreConfig, leader: CentreLeaderConfig, logger?: Logger): LeaderElection {
  const log = logger ? { logger } : {};
  if (store.postgres) return new PostgresLeaderElection({ url: store.postgres.url, lockKey: leader.lockKey, checkMs: leader.checkMs, ...log });
  return new SqliteLeaderElection({ path: store.sqlite.path, ...log });
}
