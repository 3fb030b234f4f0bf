/**
 * What the API server takes (centre/service.ts wires it from the config and the
 * service's parts), and what each request carries to the audit.
 */
import type { Logger } from 'pino';
import type { CentreClientConfig, CentreLimitsConfig } from '../../protocol/config/centre-schema.js';
import type { Figures } from '../../protocol/payloads/centre-api.js';
import type { CentreStore, SiteState } from '../store/store.js';
import type { KeyRingStatus, RolloverPlan } from '../keys/key-ring.js';

/** What an operator may do to a site's keys and epoch through the API (the leader's key rings and publisher). */
export interface CentreKeysControl {
  status(site: string): KeyRingStatus;
  rollover(site: string, plan: RolloverPlan): Promise<KeyRingStatus>;
  /** Raises the epoch and starts it with a baseline of the site's list as it is. */
  raiseEpoch(site: string): Promise<SiteState>;
}
import type { ApiClient } from './client-auth.js';

export interface CentreApiOptions {
  store: CentreStore;
  /** The sites the centre serves. */
  sites: ReadonlySet<string> | ((site: string) => boolean);
  clients: readonly CentreClientConfig[];
  limits: CentreLimitsConfig;
  http: { host: string; port: number; maxBodyBytes: number; tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer } };
  logger: Logger;
  /** A batch or baseline was committed at `seq`: wakes the publisher. */
  onStored?: (site: string, seq: number) => void;
  /** The §7 figures of a site on a day from the central record; null while this process keeps no record (a standby). */
  figures?: (site: string, day: string) => Promise<Figures> | null;
  /** The sites' keys and epochs, on the leader; null on a standby (its answer: 503 not-leader). */
  keys?: () => CentreKeysControl | null;
  /** How far ahead of the centre's clock a change's effectiveAt may be (clocks differ); default 5 minutes. */
  maxSkewMs?: number;
  timeouts?: Partial<ApiTimeouts>;
  /** Where a baseline is spooled while it is checked (default the system's temporary directory). */
  spoolDir?: string;
  now?: () => number;
  /**
   * Whether this process may take writes now (it leads); false: a write is refused with 503
   * not-leader before its body is read. Absent: always (a single process).
   */
  acceptsWrites?: () => boolean;
}

export interface ApiTimeouts {
  /** The request line and headers must arrive within this. */
  headersMs: number;
  /** A body that sends nothing for this long is refused (408). */
  bodyIdleMs: number;
  /** The whole request, a baseline's body included, must arrive within this. */
  requestMs: number;
}

/** What each request carries through its hooks to the audit. */
export interface RequestTrail {
  client: ApiClient | null;
  site: string | null;
  batchId: string | null;
  rows: number;
  error: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    trail: RequestTrail;
  }
  interface FastifyContextConfig {
    /** The route stores something: a viewer is refused. */
    write?: boolean;
    /** The route changes the site's keys or epoch: only an operator. */
    operator?: boolean;
    /** The route reads its body as it arrives (a baseline): the body's time runs on in the handler. */
    streamsBody?: boolean;
  }
}

