/**
 * The real centre (centre/service.ts) as `npm start` runs it, in this
 * process: one site signed with the key the simulated gates pin, SQLite
 * files in a folder of the demo's, the API on a free loopback port with one
 * platform client, and the department's webhook (DepartmentDesk) on loopback.
 * The reference platform calls the API (PlatformApi); every colour change
 * then goes API → store → publisher → gates, look-ups are answered from the
 * store, and alerts and registrations go through the centre's outbox to the
 * department.
 *
 * In this process rather than as a child: the demo is one command that ends
 * by itself and stops on one Ctrl-C, and the summary reads the central record
 * (what the gates reported) from the running centre, which has no API for it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { makeToken } from '../centre/api/tokens.js';
import { startCentre, type RunningCentre } from '../centre/service.js';
import { checkCentreConfig } from '../protocol/config/centre-config.js';
import type { SignerKeyPair } from '../protocol/trust/signer-certificate.js';
import { DepartmentDesk } from './department.js';
import { PlatformApi } from './platform-api.js';

/** Long enough for a broker on this machine, short enough that a wrong one is reported. */
const SNAPSHOT_WAIT_MS = 15_000;

export interface DemoCentreOptions {
  site: string;
  /** The key the site's messages are signed with; the gates pin its certificate. */
  key: SignerKeyPair;
  /** Where the centre's files go (its store, record, keys): the demo's temporary folder, or a lasting one. */
  dir: string;
  broker: { url: string; protocolVersion: 4 | 5 };
  baseTopic: string;
  /** How often the site hears the centre with no change: well under the gates' colour.maxSyncAgeSeconds. */
  heartbeatSeconds: number;
  logger: Logger;
}

export interface DemoCentre {
  centre: RunningCentre;
  platform: PlatformApi;
  department: DepartmentDesk;
  stop(): Promise<void>;
}

export async function startDemoCentre(options: DemoCentreOptions): Promise<DemoCentre> {
  const { site, key, dir } = options;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, `${site}-centre.key`);
  const certificateFile = join(dir, `${site}-centre.pem`);
  writeFileSync(keyFile, key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { mode: 0o600 });
  writeFileSync(certificateFile, key.certificatePem);
  const secret = randomBytes(32).toString('hex');
  const secretFile = join(dir, 'department-secret');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });

  const department = await DepartmentDesk.start(Buffer.from(secret, 'utf8'));
  const { token, tokenSha256 } = makeToken();
  const config = checkCentreConfig({
    // Its own client ids: the centre's persistent sessions must not meet another centre's on a shared broker.
    broker: { url: options.broker.url, protocolVersion: options.broker.protocolVersion, clientId: `demo-${randomBytes(4).toString('hex')}` },
    baseTopic: options.baseTopic,
    http: { host: '127.0.0.1', port: 0 },
    store: { sqlite: { path: join(dir, 'centre.db') } },
    record: { sqlite: { path: join(dir, 'centre-record.db') } },
    sites: [{ id: site, signingKey: keyFile, certificate: certificateFile }],
    dataDir: dir,
    clients: [{ id: 'demo-platform', tokenSha256, role: 'platform', sites: [site], requestsPerMinute: 600_000 }],
    publisher: { heartbeatSeconds: options.heartbeatSeconds, snapshotDelayMs: 200 },
    // The desk is always up: retries come quickly should one attempt fail.
    department: { url: department.url, secretFile, firstRetryMs: 200, maxRetryMs: 2000 },
  });
  let centre: RunningCentre;
  try {
    centre = await startCentre(config, options.logger);
  } catch (error) {
    await department.stop();
    throw error;
  }
  const platform = new PlatformApi(centre.url, token);
  const stop = async (): Promise<void> => {
    await centre.stop();
    await department.stop();
  };
  // A new gate starts from the retained snapshot: the publisher makes one as soon as it is connected.
  const deadline = Date.now() + SNAPSHOT_WAIT_MS;
  while (((await platform.site(site).catch(() => null))?.snapshotVersion ?? 0) === 0) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the centre published no snapshot for site ${site} within ${SNAPSHOT_WAIT_MS} ms (is the broker ${options.broker.url} reachable?)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { centre, platform, department, stop };
}
