/**
 * The centre's HTTP API, by raw requests over a loopback socket, as
 * http.ts breaks the gate's and the console's: the API started in-process
 * on a free port over the real SQLite store, its routes with bodies built
 * from their fields (valid ones first), sent with a live bearer token
 * (platform or viewer) or without. The shape is http.ts's: a status in the
 * documented set (2xx, 4xx, 503 for a store away), never a 500 or an
 * internal error logged; an incomplete request answered (408 once its body
 * stops) or closed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CentreApi } from '../../centre/api/server.js';
import { makeToken } from '../../centre/api/tokens.js';
import { openSqliteCentreStore } from '../../centre/store/sqlite-store.js';
import { httpRig, usually, type Route, type ServerRig } from './http.js';
import { errorLogger } from './lane-rig.js';
import type { Regression, Rig, Surface } from './surface.js';

async function centreServerRig(): Promise<ServerRig> {
  const dir = mkdtempSync(join(tmpdir(), 'gate-fuzz-centre-'));
  const store = await openSqliteCentreStore({ path: join(dir, 'centre.db') });
  const platform = makeToken();
  const viewer = makeToken();
  const { logger, errors, errorCount } = errorLogger();
  const api = new CentreApi({
    store,
    sites: new Set(['fuzz-site', 'other-site']),
    clients: [
      { id: 'fuzz-platform', tokenSha256: platform.tokenSha256, role: 'platform', sites: ['fuzz-site'], requestsPerMinute: 1_000_000 },
      { id: 'fuzz-viewer', tokenSha256: viewer.tokenSha256, role: 'viewer', sites: ['*'], requestsPerMinute: 1_000_000 },
    ],
    limits: { maxBatchChanges: 100, maxBaselineRows: 1000 },
    http: { host: '127.0.0.1', port: 0, maxBodyBytes: 64 * 1024 },
    logger,
    spoolDir: dir,
    // Within the client's answer bound: a body that stops is refused before the fuzz gives up on it.
    timeouts: { bodyIdleMs: 1000, headersMs: 1500 },
  });
  const url = await api.start();
  const port = Number(new URL(url).port);
  const asPlatform: Array<[string, string]> = [['Authorization', `Bearer ${platform.token}`]];
  const asViewer: Array<[string, string]> = [['Authorization', `Bearer ${viewer.token}`]];
  const now = Date.now();
  const entry = fc.record({
    subject: usually(fc.constantFrom('sub-1', 'sub-2', '11010519491231002X', '', 'a'.repeat(200), 'with space')),
    colour: usually(fc.constantFrom('green', 'yellow', 'red', 'blue', 'GREEN')),
    effectiveAt: usually(fc.oneof(fc.integer({ min: Date.UTC(2019, 0, 1), max: now }), fc.constantFrom(new Date(now).toISOString(), '2018-01-01T00:00:00Z', '2024-13-01T00:00:00Z', now + 86_400_000, 1e21, -1))),
    reason: usually(fc.constantFrom('contact', null, '', 'x'.repeat(100))),
  });
  const changes = usually(fc.array(entry, { maxLength: 4 }));
  const site = (s: string) => `/v1/sites/${s}`;
  const q = (values: string[]): fc.Arbitrary<string> => fc.oneof(fc.constantFrom(...values), fc.string({ maxLength: 12 }));
  const routes: Route[] = [
    { method: 'GET', path: '/healthz' },
    { method: 'GET', path: '/readyz' },
    { method: 'POST', path: `${site('fuzz-site')}/changes`, headers: asPlatform, body: { batchId: usually(fc.constantFrom('b-1', 'b-2', 'has space', '')), changes } },
    { method: 'POST', path: `${site('other-site')}/changes`, headers: asPlatform, body: { batchId: usually(fc.constantFrom('b-1')), changes } },
    { method: 'POST', path: `${site('fuzz-site')}/changes`, headers: asViewer, body: { batchId: usually(fc.constantFrom('b-1')), changes } },
    { method: 'PUT', path: `${site('fuzz-site')}/baseline`, headers: asPlatform, query: { batchId: q(['base-1', 'base 2', '']) } },
    { method: 'GET', path: `${site('fuzz-site')}/subjects/sub-1`, headers: asViewer },
    { method: 'GET', path: `${site('fuzz-site')}/subjects/%00`, headers: asViewer },
    { method: 'GET', path: `${site('fuzz-site')}/deliveries`, headers: asViewer, query: { state: q(['pending', 'delivered']), kind: q(['alert']), limit: q(['1', '1000', '1001', '-1', '1e3']) } },
    { method: 'GET', path: '/v1/deliveries/alert-0001', headers: asViewer },
    { method: 'GET', path: '/v1/sites', headers: asViewer },
    { method: 'GET', path: '/v1/audit', headers: asViewer, query: { since: q(['0', '1700000000000', '1e21']), client: q(['fuzz-platform']), limit: q(['5', '0', '99999']) } },
  ];
  return {
    port,
    host: '127.0.0.1',
    cookies: {},
    routes,
    errors,
    errorCount,
    // 503: the store not answering; 505: the parser's answer to an HTTP version it does not speak.
    allowed5xx: new Set([503, 505]),
    keepSession: async () => {},
    close: async () => {
      await api.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const request = (port: number, method: string, path: string, extra: string[] = [], body = '', type = 'application/json'): Buffer =>
  Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra.map((h) => `${h}\r\n`).join('')}${body ? `Content-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`);

async function setupCentre(): Promise<Rig<Buffer>> {
  const server = await centreServerRig();
  const { port } = server;
  const platform = server.routes[2]!.headers!.map(([n, v]) => `${n}: ${v}`);
  const viewer = server.routes[6]!.headers!.map(([n, v]) => `${n}: ${v}`);
  const seeds = [
    request(port, 'GET', '/v1/sites', viewer),
    request(port, 'POST', '/v1/sites/fuzz-site/changes', platform, JSON.stringify({ batchId: 'seed-1', changes: [{ subject: 'sub-1', colour: 'red', effectiveAt: Date.now() - 1000 }] })),
    request(port, 'PUT', '/v1/sites/fuzz-site/baseline?batchId=seed-b', platform, `${JSON.stringify({ subject: 'sub-2', colour: 'green', effectiveAt: Date.now() - 1000 })}\n`, 'application/x-ndjson'),
  ];
  const regressions: Regression<Buffer>[] = [
    { name: 'centre-baseline-csv-bad-quote', why: 'a CSV baseline with an unclosed quote: 400 with its line, not a 500 from the parser', input: request(port, 'PUT', '/v1/sites/fuzz-site/baseline?batchId=q', platform, 'subject,colour,effectiveAt\n"sub-1,green,1700000000000\n', 'text/csv') },
    { name: 'centre-baseline-no-body', why: 'PUT of a baseline with no body (so no parser ran): 415, not a 500 from reading a body that is not there', input: request(port, 'PUT', '/v1/sites/fuzz-site/baseline?batchId=n', platform) },
    { name: 'centre-head-sites', why: 'HEAD /v1/sites: a head without a body', input: request(port, 'HEAD', '/v1/sites', viewer) },
  ];
  return httpRig(server, regressions, seeds);
}

export const centreSurface: Surface<Buffer> = {
  name: 'http-centre',
  covers: "raw requests to the centre's API (changes, baselines, statuses, deliveries, sites, audit, probes) with a platform's token, a viewer's, and none",
  shape: 'a status line within the bound, status 2xx, 4xx or a documented 503; no internal error logged; a connection left incomplete is answered 408 or closed',
  setup: setupCentre,
};
