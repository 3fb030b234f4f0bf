/**
 * The centre's HTTP API over real HTTP (and HTTPS with client certificates)
 * on the real SQLite store: batches stored only after the commit and
 * answered with their seq, retries and conflicts by batch id, every
 * refusal with its exact reason and nothing stored, bearer tokens and
 * certificates, roles and sites, the per-client rate limit, the audit of
 * every request, streamed baselines (NDJSON and CSV, a million rows), and
 * the malformed requests a client can send.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { CentreApi, type CentreApiOptions } from '../../centre/api/server.js';
import { makeToken } from '../../centre/api/tokens.js';
import { openSqliteCentreStore } from '../../centre/store/sqlite-store.js';
import type { CentreStore } from '../../centre/store/store.js';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../../provisioning/pki.js';
import { until } from '../support/wait.js';

const tokens = { platform: makeToken(), all: makeToken(), viewer: makeToken(), limited: makeToken() };
const CLIENTS: CentreApiOptions['clients'] = [
  { id: 'platform', tokenSha256: tokens.platform.tokenSha256, role: 'platform', sites: ['s1'], requestsPerMinute: 10_000 },
  { id: 'all-sites', tokenSha256: tokens.all.tokenSha256, role: 'platform', sites: ['*'], requestsPerMinute: 10_000 },
  { id: 'viewer', tokenSha256: tokens.viewer.tokenSha256, role: 'viewer', sites: ['*'], requestsPerMinute: 10_000 },
  { id: 'limited', tokenSha256: tokens.limited.tokenSha256, role: 'platform', sites: ['*'], requestsPerMinute: 3 },
  { id: 'by-certificate', certificateCn: 'platform-cert', role: 'platform', sites: ['*'], requestsPerMinute: 10_000 },
];

interface Rig {
  url: string;
  store: CentreStore;
  stored: Array<[string, number]>;
  close(): Promise<void>;
}

async function rig(extra: Partial<CentreApiOptions> = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'centre-api-'));
  const store = await openSqliteCentreStore({ path: join(dir, 'centre.db') });
  const stored: Array<[string, number]> = [];
  const api = new CentreApi({
    store,
    sites: new Set(['s1', 's2']),
    clients: CLIENTS,
    limits: { maxBatchChanges: 50, maxBaselineRows: 2_000_000 },
    http: { host: '127.0.0.1', port: 0, maxBodyBytes: 64 * 1024 },
    logger: pino({ level: 'warn' }),
    onStored: (site, seq) => stored.push([site, seq]),
    spoolDir: dir,
    ...extra,
  });
  const url = await api.start();
  return {
    url,
    store,
    stored,
    close: async () => {
      await api.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function call(url: string, method: string, path: string, options: { token?: string; json?: unknown; body?: string | Readable; type?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | ReadableStream | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.body !== undefined) {
    headers['content-type'] = options.type ?? 'application/json';
    body = typeof options.body === 'string' ? options.body : (Readable.toWeb(options.body) as ReadableStream);
  }
  const response = await fetch(url + path, { method, headers, ...(body !== undefined ? { body, duplex: 'half' } : {}) } as RequestInit);
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const now = Date.now();
const change = (subject: string, colour = 'green', effectiveAt: number | string = now - 1000) => ({ subject, colour, effectiveAt });

test('a batch is stored as one seq, answered after the commit; a retry is replayed, other content under its id is a conflict', async (t) => {
  const r = await rig();
  t.after(() => r.close());
  const first = await call(r.url, 'POST', '/v1/sites/s1/changes', { token: tokens.platform.token, json: { batchId: 'b-1', changes: [change('sub-a', 'red'), change('sub-b', 'yellow', new Date(now - 5000).toISOString())] } });
  assert.equal(first.status, 200);
  assert.deepEqual([first.body.seq, first.body.rows, first.body.replayed], [1, 2, false]);
  assert.deepEqual(r.stored, [['s1', 1]]);
  const status = await call(r.url, 'GET', '/v1/sites/s1/subjects/sub-b', { token: tokens.viewer.token });
  assert.equal(status.status, 200);
  assert.deepEqual([status.body.colour, status.body.effectiveAt, status.body.seq], ['yellow', now - 5000, 1]);

  const again = await call(r.url, 'POST', '/v1/sites/s1/changes', { token: tokens.platform.token, json: { batchId: 'b-1', changes: [change('sub-a', 'red'), change('sub-b', 'yellow', now - 5000)] } });
  assert.deepEqual([again.status, again.body.seq, again.body.replayed], [200, 1, true], 'the same content, its time as epoch ms instead of ISO: the same batch');
  const conflict = await call(r.url, 'POST', '/v1/sites/s1/changes', { token: tokens.platform.token, json: { batchId: 'b-1', changes: [change('sub-a', 'green')] } });
  assert.deepEqual([conflict.status, conflict.body.error], [409, 'batch-conflict']);
  assert.equal((await r.store.site('s1')).seq, 1);
  assert.deepEqual(r.stored, [['s1', 1]], 'neither the replay nor the conflict woke the publisher');
  assert.equal((await call(r.url, 'GET', '/v1/sites/s1/subjects/sub-z', { token: tokens.viewer.token })).status, 404);
});

test('each refused change names its row and field, and nothing of its batch is stored', async (t) => {
  const r = await rig();
  t.after(() => r.close());
  const refusals: Array<[string, unknown, number, string, number, string]> = [
    ['unknown colour', change('s', 'blue'), 400, 'invalid-change', 1, 'colour'],
    ['in the future beyond the skew', change('s', 'red', now + 60 * 60_000), 400, 'invalid-change', 1, 'effectiveAt'],
    ['before 2019', change('s', 'red', Date.UTC(2018, 11, 31)), 400, 'invalid-change', 1, 'effectiveAt'],
    ['epoch seconds', change('s', 'red', Math.floor(now / 1000)), 400, 'invalid-change', 1, 'effectiveAt'],
    ['not a time', change('s', 'red', '2024-13-45T99:00:00Z'), 400, 'invalid-change', 1, 'effectiveAt'],
    ['a national ID number as subject', change('11010519491231002X'), 400, 'national-id-subject', 1, 'subject'],
    ['an unknown field', { ...change('s'), name: 'Zhang San' }, 400, 'invalid-change', 1, 'name'],
    ['a missing colour', { subject: 's', effectiveAt: now }, 400, 'invalid-change', 1, 'colour'],
    ['a colour as a number', { subject: 's', colour: 1, effectiveAt: now }, 400, 'invalid-change', 1, 'colour'],
  ];
  for (const [what, bad, status, code, row, field] of refusals) {
    const reply = await call(r.url, 'POST', '/v1/sites/s1/changes', { token: tokens.platform.token, json: { batchId: `bad-${field}`, changes: [change('fine'), bad] } });
    assert.deepEqual({ status: reply.status, error: reply.body.error, row: reply.body.row, field: reply.body.field }, { status, error: code, row, field }, what);
    assert.match(String(reply.body.message), /changes\[1\]/, what);
    assert.doesNotMatch(String(reply.body.message), /11010519491231002X/, 'the number is not echoed');
  }
  assert.equal((await r.store.site('s1')).seq, 0);
  assert.equal((await call(r.url, 'GET', '/v1/sites/s1/subjects/fine', { token: tokens.viewer.token })).status, 404, 'the good row of a refused batch is not stored');

  const tooMany = await call(r.url, 'POST', '/v1/sites/s1/changes', { token: tokens.platform.token, json: { batchId: 'many', changes: Array.from({ length: 51 }, (_, i) => change(`m${i}`)) } });
  assert.deepEqual([tooMany.status, tooMany.body.error], [413, 'batch-too-large']);
  const tooBig = await call(r.url, 'POST', '/v1/sites/s1/changes', { token: tokens.platform.token, json: { batchId: 'big', changes: [{ ...change('x'), reason: 'r'.repeat(70_000) }] } });
  assert.deepEqual([tooBig.status, tooBig.body.error], [413, 'batch-too-large']);
  assert.equal((await r.store.site('s1')).seq, 0);
});

test('who may do what: tokens, viewers, sites, the rate limit; and every request is audited, refusals with their code', async (t) => {
  const r = await rig();
  t.after(() => r.close());
  const batch = { batchId: 'auth-1', changes: [change('sub-a')] };
  const replies = {
    none: await call(r.url, 'POST', '/v1/sites/s1/changes', { json: batch }),
    wrong: await call(r.url, 'POST', '/v1/sites/s1/changes', { token: makeToken().token, json: batch }),
    otherSite: await call(r.url, 'POST', '/v1/sites/s2/changes', { token: tokens.platform.token, json: batch }),
    viewerWrites: await call(r.url, 'POST', '/v1/sites/s1/changes', { token: tokens.viewer.token, json: batch }),
    unknownSite: await call(r.url, 'POST', '/v1/sites/s9/changes', { token: tokens.all.token, json: batch }),
    viewerReads: await call(r.url, 'GET', '/v1/sites', { token: tokens.viewer.token }),
  };
  assert.deepEqual(
    Object.fromEntries(Object.entries(replies).map(([k, v]) => [k, [v.status, v.body.error ?? null]])),
    { none: [401, 'unauthenticated'], wrong: [401, 'unauthenticated'], otherSite: [403, 'forbidden'], viewerWrites: [403, 'forbidden'], unknownSite: [404, 'unknown-site'], viewerReads: [200, null] },
  );
  assert.equal((await r.store.site('s1')).seq, 0);

  const limited = [];
  for (let i = 0; i < 4; i++) limited.push(await call(r.url, 'GET', '/v1/sites', { token: tokens.limited.token }));
  assert.deepEqual(limited.map((l) => l.status), [200, 200, 200, 429]);
  assert.equal(limited[3]!.body.error, 'rate-limited');
  assert.equal((await call(r.url, 'GET', '/v1/sites', { token: tokens.all.token })).status, 200, 'the limit is per client');
  assert.equal((await call(r.url, 'GET', '/healthz')).status, 200);
  assert.deepEqual((await call(r.url, 'GET', '/readyz')).body, { ready: true, store: 'sqlite' });

  await until('the audit of the last request', async () => (await r.store.auditTrail({ limit: 100 })).length >= 11);
  const audit = await call(r.url, 'GET', '/v1/audit?limit=100', { token: tokens.viewer.token });
  assert.equal(audit.status, 200);
  const entries = (audit.body.entries as Array<{ client: string; action: string; status: number; error: string | null; site: string | null; batchId: string | null; rows: number }>).reverse();
  const seen = entries.map((e) => [e.client, e.status, e.error]);
  for (const expected of [
    ['anonymous', 401, 'unauthenticated'],
    ['platform', 403, 'forbidden'],
    ['viewer', 403, 'forbidden'],
    ['all-sites', 404, 'unknown-site'],
    ['limited', 429, 'rate-limited'],
    ['viewer', 200, null],
  ]) assert.ok(seen.some((s) => JSON.stringify(s) === JSON.stringify(expected)), `audited: ${JSON.stringify(expected)} in ${JSON.stringify(seen)}`);
  const refused = entries.find((e) => e.client === 'platform' && e.status === 403)!;
  // Refused before its body was read (an unauthorised body is not taken in): the batch and its rows are not known.
  assert.deepEqual([refused.action, refused.site, refused.batchId, refused.rows], ['POST /v1/sites/:site/changes', 's2', null, 0]);
  assert.ok(!entries.some((e) => e.action.includes('healthz')), 'probes are not audited');
});

test('a baseline streams in (NDJSON and CSV) as one seq; one bad row refuses it whole with its line, and nothing is stored', async (t) => {
  const r = await rig({ limits: { maxBatchChanges: 50, maxBaselineRows: 5 } });
  t.after(() => r.close());
  await call(r.url, 'POST', '/v1/sites/s1/changes', { token: tokens.platform.token, json: { batchId: 'before', changes: [change('old', 'red')] } });
  const ndjson = [change('n1', 'green'), change('n2', 'red'), { ...change('n3', 'yellow'), reason: 'contact', idHash: 'a'.repeat(64) }].map((row) => JSON.stringify(row)).join('\n') + '\n\n';
  const stored = await call(r.url, 'PUT', '/v1/sites/s1/baseline?batchId=base-1', { token: tokens.platform.token, body: ndjson, type: 'application/x-ndjson' });
  assert.deepEqual([stored.status, stored.body.seq, stored.body.rows, stored.body.replayed], [200, 2, 3, false]);
  assert.equal((await call(r.url, 'GET', '/v1/sites/s1/subjects/old', { token: tokens.viewer.token })).status, 404, 'the baseline replaced the list');
  assert.equal((await r.store.statusByIdHash('s1', 'a'.repeat(64)))?.subject, 'n3');
  const replay = await call(r.url, 'PUT', '/v1/sites/s1/baseline?batchId=base-1', { token: tokens.platform.token, body: ndjson, type: 'application/x-ndjson' });
  assert.deepEqual([replay.status, replay.body.seq, replay.body.replayed], [200, 2, true]);

  const csv = `subject,colour,effectiveAt,reason\nc1,green,${now - 10},\nc2,red,${new Date(now - 20).toISOString()},travel\n`;
  const fromCsv = await call(r.url, 'PUT', '/v1/sites/s1/baseline?batchId=base-2', { token: tokens.platform.token, body: csv, type: 'text/csv; charset=utf-8' });
  assert.deepEqual([fromCsv.status, fromCsv.body.seq, fromCsv.body.rows], [200, 3, 2]);
  assert.equal((await call(r.url, 'GET', '/v1/sites/s1/subjects/c2', { token: tokens.viewer.token })).body.reason, 'travel');

  const bad: Array<[string, string, string, number, string, number, string]> = [
    ['a bad colour on line 3', 'application/x-ndjson', [change('x1'), change('x2'), change('x3', 'blue')].map((x) => JSON.stringify(x)).join('\n'), 400, 'invalid-change', 3, 'colour'],
    ['not JSON on line 2', 'application/x-ndjson', `${JSON.stringify(change('x1'))}\n{"subject":`, 400, 'invalid-change', 2, 'row'],
    ['an ID number on CSV line 3', 'text/csv', `subject,colour,effectiveAt\nx1,green,${now}\n11010519491231002X,green,${now}\n`, 400, 'national-id-subject', 3, 'subject'],
    ['a CSV header without colour', 'text/csv', `subject,effectiveAt\nx1,${now}\n`, 400, 'malformed-request', 1, 'header'],
    ['a CSV row with a column too many', 'text/csv', `subject,colour,effectiveAt\nx1,green,${now},extra\n`, 400, 'invalid-change', 2, 'row'],
    ['more rows than maxBaselineRows', 'application/x-ndjson', Array.from({ length: 6 }, (_, i) => JSON.stringify(change(`r${i}`))).join('\n'), 413, 'batch-too-large', 6, ''],
  ];
  for (const [what, type, body, status, code, line, field] of bad) {
    const reply = await call(r.url, 'PUT', `/v1/sites/s1/baseline?batchId=bad-${line}-${code}`, { token: tokens.platform.token, body, type });
    assert.deepEqual({ status: reply.status, error: reply.body.error, line: reply.body.line, ...(field ? { field: reply.body.field } : {}) }, { status, error: code, line, ...(field ? { field } : {}) }, what);
  }
  assert.equal((await r.store.site('s1')).seq, 3, 'no refused baseline took a seq');
  assert.equal((await r.store.site('s1')).statuses, 2, 'the list is the last good baseline');

  const json = await call(r.url, 'PUT', '/v1/sites/s1/baseline?batchId=b-json', { token: tokens.platform.token, json: [change('j')] });
  assert.deepEqual([json.status, json.body.error], [415, 'unsupported-content-type']);
  const noBody = await call(r.url, 'PUT', '/v1/sites/s1/baseline?batchId=b-none', { token: tokens.platform.token });
  assert.deepEqual([noBody.status, noBody.body.error], [415, 'unsupported-content-type']);
  const noBatch = await call(r.url, 'PUT', '/v1/sites/s1/baseline', { token: tokens.platform.token, body: ndjson, type: 'application/x-ndjson' });
  assert.deepEqual([noBatch.status, noBatch.body.error], [400, 'malformed-request']);
});

test('malformed HTTP: bad JSON, wrong type, a header too long, a body that stops arriving: each a clear refusal, nothing stored', async (t) => {
  const r = await rig({ timeouts: { bodyIdleMs: 300 } });
  t.after(() => r.close());
  const auth = { token: tokens.platform.token };
  const badJson = await call(r.url, 'POST', '/v1/sites/s1/changes', { ...auth, body: '{"batchId": "x", "changes": [' });
  assert.deepEqual([badJson.status, badJson.body.error], [400, 'malformed-request']);
  assert.match(String(badJson.body.message), /not JSON/);
  const text = await call(r.url, 'POST', '/v1/sites/s1/changes', { ...auth, body: 'batchId=x', type: 'text/plain' });
  assert.deepEqual([text.status, text.body.error], [415, 'unsupported-content-type']);
  const empty = await call(r.url, 'POST', '/v1/sites/s1/changes', { ...auth, body: '' });
  assert.deepEqual([empty.status, empty.body.error], [400, 'malformed-request']);
  const notFound = await call(r.url, 'GET', '/v1/nowhere', auth);
  assert.deepEqual([notFound.status, notFound.body.error], [404, 'not-found']);
  const badLimit = await call(r.url, 'GET', '/v1/audit?limit=99999', { token: tokens.viewer.token });
  assert.deepEqual([badLimit.status, badLimit.body.error], [400, 'malformed-request']);

  const port = Number(new URL(r.url).port);
  const raw = (bytes: string, hold = false) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
      let got = '';
      socket.on('data', (d) => (got += d.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
      if (!hold) socket.on('data', () => undefined);
      setTimeout(() => socket.destroy(), 10_000).unref();
    });
  const longHeader = await raw(`GET /v1/sites HTTP/1.1\r\nHost: x\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.match(longHeader, /^HTTP\/1\.1 431 /);
  assert.match(longHeader, /"error":"malformed-request"/);
  const garbage = await raw('HELLO\r\n\r\n');
  assert.match(garbage, /^HTTP\/1\.1 400 .*"error":"malformed-request"/s);
  const body = JSON.stringify({ batchId: 'slow', changes: [change('slow-1')] });
  // Half the body, then silence: refused once it has sent nothing for bodyIdleMs.
  const slow = await raw(`POST /v1/sites/s1/changes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.platform.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 20)}`, true);
  assert.match(slow, /^HTTP\/1\.1 408 .*"error":"request-timeout"/s);
  const slowBaseline = await raw(`PUT /v1/sites/s1/baseline?batchId=slow-b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.platform.token}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n${JSON.stringify(change('q')).slice(0, 16)}\r\n`, true);
  assert.match(slowBaseline, /^HTTP\/1\.1 408 .*"error":"request-timeout"/s);
  assert.equal((await r.store.site('s1')).seq, 0);
  await until('the refusals audited', async () => (await r.store.auditTrail({ limit: 50 })).some((e) => e.status === 408 && e.action.includes('baseline')));
});

test('over HTTPS a client certificate from the client CA names its client; one from another CA is refused', async (t) => {
  const ca = await createCertificateAuthority({ subject: 'CN=Centre Test CA, O=Demo, C=CN' });
  const other = await createCertificateAuthority({ subject: 'CN=Other CA, O=Demo, C=CN' });
  const server = await issueServerCertificate(ca, { commonName: 'localhost', ipAddresses: ['127.0.0.1'] });
  const good = await issueClientCertificate(ca, { commonName: 'platform-cert' });
  const stranger = await issueClientCertificate(ca, { commonName: 'nobody' });
  const foreign = await issueClientCertificate(other, { commonName: 'platform-cert' });
  const r = await rig({ http: { host: '127.0.0.1', port: 0, maxBodyBytes: 65536, tls: { cert: Buffer.from(server.certificatePem), key: Buffer.from(server.privateKeyPem), clientCa: Buffer.from(ca.certificatePem) } } });
  t.after(() => r.close());
  const post = (cert: { certificatePem: string; privateKeyPem: string } | null, token?: string) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const payload = JSON.stringify({ batchId: `tls-${Math.random()}`, changes: [change('tls-1')] });
      const request = httpsRequest(
        `${r.url}/v1/sites/s2/changes`,
        { method: 'POST', ca: ca.certificatePem, ...(cert ? { cert: cert.certificatePem, key: cert.privateKeyPem } : {}), headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } },
        (response) => {
          let text = '';
          response.on('data', (d) => (text += d));
          response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  const byCert = await post(good);
  assert.deepEqual([byCert.status, byCert.body.seq], [200, 1]);
  assert.deepEqual([(await post(stranger)).status, (await post(foreign)).status, (await post(null)).status], [401, 401, 401]);
  assert.equal((await post(null, tokens.all.token)).status, 200, 'a token still works over HTTPS without a certificate');
  await until('audited', async () => (await r.store.auditTrail({ limit: 10 })).some((e) => e.client === 'by-certificate' && e.status === 200));
});

test('deliveries: by site and by id, another site\'s as unknown', async (t) => {
  const r = await rig();
  t.after(() => r.close());
  await r.store.enqueueDelivery({ id: 'alert-0001', kind: 'alert', site: 's2', lane: 'l1', body: '{"x":1}', receivedAt: now });
  const list = await call(r.url, 'GET', '/v1/sites/s2/deliveries?state=pending', { token: tokens.all.token });
  assert.equal(list.status, 200);
  assert.deepEqual((list.body.deliveries as Array<Record<string, unknown>>).map((d) => [d.id, d.state, d.body]), [['alert-0001', 'pending', undefined]]);
  assert.equal((await call(r.url, 'GET', '/v1/deliveries/alert-0001', { token: tokens.all.token })).body.kind, 'alert');
  assert.equal((await call(r.url, 'GET', '/v1/deliveries/alert-0001', { token: tokens.platform.token })).status, 404, 'platform serves s1 only');
  assert.equal((await call(r.url, 'GET', '/v1/sites/s2/deliveries', { token: tokens.platform.token })).status, 403);
});

test('a baseline of a million NDJSON rows streams through with bounded memory', { timeout: 600_000 }, async (t) => {
  const r = await rig({ limits: { maxBatchChanges: 50, maxBaselineRows: 2_000_000 } });
  t.after(() => r.close());
  const ROWS = 1_000_000;
  let i = 0;
  const body = new Readable({
    read() {
      const lines: string[] = [];
      for (let n = 0; n < 2000 && i < ROWS; n++, i++) lines.push(`{"subject":"sub-${i.toString(36).padStart(8, '0')}","colour":"${i % 7 === 0 ? 'red' : 'green'}","effectiveAt":${now - i}}`);
      this.push(lines.length ? `${lines.join('\n')}\n` : null);
    },
  });
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const started = Date.now();
  const reply = await call(r.url, 'PUT', '/v1/sites/s1/baseline?batchId=million', { token: tokens.platform.token, body, type: 'application/x-ndjson' });
  const ms = Date.now() - started;
  clearInterval(sampler);
  assert.deepEqual([reply.status, reply.body.rows], [200, ROWS], JSON.stringify(reply.body));
  assert.equal((await r.store.site('s1')).statuses, ROWS);
  const growthMb = Math.round((peak - before) / 2 ** 20);
  t.diagnostic(`1e6-row NDJSON baseline (~${Math.round(i * 72 / 2 ** 20)} MiB body): ${ms} ms, RSS ${Math.round(before / 2 ** 20)} -> peak ${Math.round(peak / 2 ** 20)} MiB (+${growthMb} MiB), client and server in one process`);
  // The body alone is ~70 MiB and its rows as objects several times that: growth below it means nothing held it whole.
  assert.ok(growthMb < 300, `RSS grew ${growthMb} MiB`);
});
