/**
 * The centre put together, in the order its parts need one another: the
 * sites and their keys, the store, the broker (the embedded one when the
 * config names none), the leader election, the duties only the leader does
 * (publishing, look-ups, the department, the central record), and the API,
 * which every process serves: a standby answers reads, and refuses writes
 * with 503 so that a load balancer (or the platform's retry) finds the
 * leader. Stopped in reverse; a failed start stops what had started.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { CentreClientConfig, CentreConfig } from '../protocol/config/centre-config.js';
import { isLoopbackHost } from '../protocol/config/console-config.js';
import { CentreApi } from './api/server.js';
import { makeToken } from './api/tokens.js';
import { CentreBroker } from './broker.js';
import { Components } from './components.js';
import { openLeaderElection } from './leader/open-election.js';
import { LeaderDuties } from './leader-duties.js';
import { loadSites, type CentreSite } from './sites.js';
import { openCentreStore } from './store/open-store.js';
import type { CentreStore } from './store/store.js';

export interface RunningCentre {
  /** The API's base URL. */
  url: string;
  sites: readonly CentreSite[];
  store: CentreStore;
  broker: CentreBroker;
  duties: LeaderDuties;
  /** The token of the local client, when the centre made one (no clients configured, API on loopback). */
  localTokenFile: string | null;
  stop(): Promise<void>;
}

/** Where the local client's token is written: the command line reads it from there. */
export function localTokenFile(config: Pick<CentreConfig, 'dataDir'>): string {
  return resolve(config.dataDir, 'local-token');
}

/**
 * With no client configured and the API on loopback, the centre makes a
 * client for this machine's command line: a fresh token each start, in a
 * file only the centre's user can read. Anywhere else the config lists its clients.
 */
function localClient(config: CentreConfig, logger: Logger): { clients: CentreClientConfig[]; tokenFile: string | null } {
  if (config.clients.length > 0 || !isLoopbackHost(config.http.host)) return { clients: config.clients, tokenFile: null };
  const file = localTokenFile(config);
  mkdirSync(resolve(config.dataDir), { recursive: true, mode: 0o700 });
  const { token, tokenSha256 } = makeToken();
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  logger.info({ tokenFile: file }, 'no clients configured: a local client (operator role, every site) signs in with the token in this file');
  return { clients: [{ id: 'local', tokenSha256, role: 'operator', sites: ['*'], requestsPerMinute: 600_000 }], tokenFile: file };
}

function readHttpFile(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`centre config: ${key}: ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

export async function startCentre(config: CentreConfig, logger: Logger): Promise<RunningCentre> {
  const sites = await loadSites(config, logger);
  const served = new Set(sites.map((s) => s.id));
  const components = new Components(logger);

  let store: CentreStore | null = null;
  await components.start({
    name: 'store',
    start: async () => {
      store = await openCentreStore(config.store, logger);
    },
    stop: async () => {
      await store?.close();
    },
  });
  const theStore = (): CentreStore => store!;

  const broker = new CentreBroker(config.broker, logger);
  await components.start(broker);

  const election = openLeaderElection(config.store, config.leader, logger);
  await components.start({ name: 'leader', start: () => election.start(), stop: () => election.stop() });

  const duties = new LeaderDuties({ config, election, broker: () => broker.endpoint, store: theStore, sites, logger });
  duties.on('alarm', (event) => logger.error({ alarm: event.kind, detail: event.alarm }, 'centre alarm'));
  await components.start(duties);

  const { clients, tokenFile } = localClient(config, logger);
  const tls = config.http.tls
    ? {
        cert: readHttpFile(config.http.tls.cert, 'http.tls.cert'),
        key: readHttpFile(config.http.tls.key, 'http.tls.key'),
        ...(config.http.tls.clientCa ? { clientCa: readHttpFile(config.http.tls.clientCa, 'http.tls.clientCa') } : {}),
      }
    : undefined;
  // Baselines are spooled here while they are checked: on the centre's own disk, not in a shared /tmp.
  const spoolDir = join(resolve(config.dataDir), 'spool');
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const api = new CentreApi({
    store: theStore(),
    sites: served,
    clients,
    limits: config.limits,
    http: { host: config.http.host, port: config.http.port, maxBodyBytes: config.http.maxBodyBytes, ...(tls ? { tls } : {}) },
    logger,
    onStored: (site) => duties.publisher?.wake(site),
    figures: (site, day) => duties.record?.figures(site, day) ?? null,
    keys: () => duties.keys,
    spoolDir,
    acceptsWrites: () => duties.leading,
  });
  let url = '';
  await components.start({
    name: 'api',
    start: async () => {
      url = await api.start();
    },
    stop: () => api.stop(),
  });

  return {
    url,
    sites,
    store: theStore(),
    broker,
    duties,
    localTokenFile: tokenFile,
    stop: () => components.stop(),
  };
}
