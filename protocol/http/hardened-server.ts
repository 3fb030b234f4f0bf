/**
 * What the gate's screen server and the fleet console's server share: a
 * fastify instance that takes small JSON bodies only (a cross-site form can
 * post text/plain or form data, never JSON, without asking first), checks
 * bodies strictly, refuses a foreign Host over plain HTTP (DNS rebinding) and
 * a write from another origin, and sends a strict Content-Security-Policy;
 * plus the small request helpers both use.
 */
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';

export interface HardenedServerOptions {
  tls?: { cert: Buffer; key: Buffer };
  /** Responses to these URLs are never cached (pages and data behind a sign-in). */
  noStore: (url: string) => boolean;
  /** The bodies of the two refusals, in the server's own error shape. */
  refusals: { foreignHost: unknown; crossSite: unknown };
}

export function hardenedServer(options: HardenedServerOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: 4096,
    // Refuse what the schema does not name, and take types as sent: a PIN of 1234 is not the string "1234".
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
    // Receiving a request (not sending an event stream) must not take longer: a slow sender holds a socket.
    requestTimeout: 10_000,
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
  });
  app.removeContentTypeParser('text/plain');
  app.addHook('onRequest', async (request, reply) => {
    // Over plain HTTP only loopback serves: a page whose name resolves here must not read anything.
    if (!options.tls && !isLocalHost(request.headers.host)) return reply.code(421).send(options.refusals.foreignHost);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const origin = request.headers.origin;
      if (origin !== undefined && hostOf(origin) !== request.headers.host) return reply.code(403).send(options.refusals.crossSite);
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (options.noStore(request.url)) reply.header('cache-control', 'no-store');
    return payload;
  });
  return app;
}

/** Static pages and scripts, read once: small, and unchanged while the server runs. */
export function loadAssets(dir: string, files: Array<[route: string, file: string, type: string]>): Map<string, { type: string; body: Buffer }> {
  return new Map(files.map(([route, file, type]) => [route, { type, body: readFileSync(dir + file) }]));
}

/** One cookie by name; a hand-written parse rather than a plugin: each page sets exactly one cookie. */
export function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/** A loopback peer address (IPv4, IPv6, or IPv4 mapped into IPv6). */
export function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || /^(::ffff:)?127\./.test(address));
}

/** A Host header naming this machine by address or as localhost, never by some other name. */
function isLocalHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return name === 'localhost' || /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(':');
}

/** The host of an Origin header; null for 'null' or anything unparsable. */
function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}
