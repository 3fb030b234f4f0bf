/**
 * The metrics endpoint: GET (or HEAD) of one path returns the registry in
 * Prometheus' text format; any other path is 404, any other method 405.
 *
 * node:http rather than fastify (which serves the screen): one read-only
 * route needs no routing, body parsing or schemas, and a server of its own
 * keeps Prometheus apart from the screen's host checks, stream limits and TLS.
 *
 * Loopback by default: the metrics hold no personal data, but an address
 * other than loopback lets anyone on that network read the gate's state.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface MetricsServerOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  /** The one path served, e.g. /metrics. */
  path: string;
  registry: Registry;
  logger: Logger;
}

export class MetricsServer {
  private server: Server | null = null;

  constructor(private readonly options: MetricsServerOptions) {}

  /** Resolves with the endpoint's URL once listening; rejects when the address cannot be bound. */
  async start(): Promise<string> {
    const { host, port, path, logger } = this.options;
    const server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => logger.error({ err }, 'metrics server error'));
    this.server = server;
    const address = server.address() as AddressInfo;
    const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}${path}`;
    logger.info({ url }, 'metrics served');
    return url;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A scraper keeps its connection alive between scrapes: close() alone would wait for it.
    server.closeAllConnections();
    await closed;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { path, registry, logger } = this.options;
    let pathname: string;
    try {
      pathname = new URL(request.url ?? '/', 'http://gate.invalid').pathname;
    } catch {
      pathname = '';
    }
    if (pathname !== path) return reply(response, 404, 'not found\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      return reply(response, 405, 'method not allowed\n');
    }
    let body: string;
    try {
      body = await registry.metrics();
    } catch (err) {
      logger.error({ err }, 'metrics could not be collected');
      return reply(response, 500, 'metrics could not be collected\n');
    }
    response.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : body);
  }
}

function reply(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(text);
}
