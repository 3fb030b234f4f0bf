/**
 * Who is asking: a bearer token (compared by its SHA-256 against each
 * client's, in constant time) or a client certificate the TLS layer
 * verified against http.tls.clientCa (its CN names the client); and what
 * that client may do: a viewer reads, a platform client also writes, each
 * only on its own sites.
 */
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { CentreClientConfig } from '../../protocol/config/centre-schema.js';

export interface ApiClient {
  id: string;
  role: 'platform' | 'viewer' | 'operator';
  /** null: every site. */
  sites: ReadonlySet<string> | null;
  requestsPerMinute: number;
}

export type Identified = { ok: true; client: ApiClient; by: 'token' | 'certificate' } | { ok: false; reason: string };

interface Known {
  client: ApiClient;
  tokenSha256: Buffer | null;
  certificateCn: string | null;
}

/** A token as `makeToken` gives them (base64url), with room for other generators' (up to 512 characters). */
const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/;

export class ClientDirectory {
  private readonly known: Known[];

  constructor(clients: readonly CentreClientConfig[]) {
    this.known = clients.map((c) => ({
      client: { id: c.id, role: c.role, sites: c.sites.includes('*') ? null : new Set(c.sites), requestsPerMinute: c.requestsPerMinute },
      tokenSha256: c.tokenSha256 ? Buffer.from(c.tokenSha256, 'hex') : null,
      certificateCn: c.certificateCn ?? null,
    }));
  }

  get size(): number {
    return this.known.length;
  }

  identify(authorization: string | undefined, socket: Socket): Identified {
    if (authorization !== undefined) {
      const match = BEARER.exec(authorization);
      if (!match) return { ok: false, reason: 'the Authorization header is not "Bearer <token>"' };
      const given = createHash('sha256').update(match[1]!, 'utf8').digest();
      let found: ApiClient | null = null;
      // Every client's hash is compared, found or not: the time does not say which one matched.
      for (const k of this.known) if (k.tokenSha256 && timingSafeEqual(k.tokenSha256, given) && !found) found = k.client;
      return found ? { ok: true, client: found, by: 'token' } : { ok: false, reason: 'the bearer token is not one of a client' };
    }
    const tls = socket as TLSSocket;
    if (tls.encrypted && typeof tls.getPeerCertificate === 'function') {
      const peer = tls.getPeerCertificate();
      if (peer && Object.keys(peer).length > 0) {
        if (!tls.authorized) return { ok: false, reason: `the client certificate is not accepted (${String(tls.authorizationError)})` };
        const cn = typeof peer.subject?.CN === 'string' ? peer.subject.CN : null;
        const k = cn === null ? undefined : this.known.find((c) => c.certificateCn === cn);
        return k ? { ok: true, client: k.client, by: 'certificate' } : { ok: false, reason: 'the client certificate names no client (its CN is not a certificateCn)' };
      }
    }
    return { ok: false, reason: 'no bearer token and no client certificate' };
  }
}

export function maySee(client: ApiClient, site: string): boolean {
  return client.sites === null || client.sites.has(site);
}
