/**
 * The centre as `npm run centre` starts it, on its embedded defaults: the
 * embedded broker, an SQLite store, a local site whose keys it makes and a
 * local client token. A change posted to the API reaches a gate's colour
 * sync; the figures come from the central record; a second process on the
 * same store refuses to start.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { checkCentreConfig } from '../../protocol/config/centre-config.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { startCentre } from '../../centre/service.js';
import { CentreStartError } from '../../centre/components.js';
import { CentreError } from '../../centre/errors.js';
import { startColourGate } from '../support/colour-gate.js';
import { until } from '../support/wait.js';

const quiet = pino({ level: 'silent' });

function config(dir: string) {
  return checkCentreConfig({
    broker: { embedded: { port: 0 } },
    http: { port: 0 },
    store: { sqlite: { path: join(dir, 'centre.db') } },
    record: { sqlite: { path: join(dir, 'record.db') } },
    dataDir: join(dir, 'data'),
    publisher: { heartbeatSeconds: 0.5, snapshotDelayMs: 50 },
  });
}

async function api(url: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(new URL(path, url), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

test('the centre on its embedded defaults: a posted change reaches a gate, the figures answer, a second process refuses', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'centre-service-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const centre = await startCentre(config(dir), quiet);
  t.after(() => centre.stop());
  assert.equal(centre.sites.length, 1);
  const site = centre.sites[0]!.id;
  const token = readFileSync(centre.localTokenFile!, 'utf8').trim();
  await until('the only centre leads', () => centre.duties.leading, 10_000);

  const keys = new TrustStore();
  keys.addEncoded(readFileSync(centre.sites[0]!.certificateFile), 'centre.pem');
  const gate = await startColourGate({ url: centre.broker.endpoint.url, base: 'hc/v1', site, keys, maxSyncAgeSeconds: 3, protocolVersion: centre.broker.endpoint.protocolVersion });
  t.after(() => gate.stop());

  const posted = await api(centre.url, token, 'POST', `/v1/sites/${site}/changes`, { batchId: 'b-1', changes: [{ subject: 'subj-1', colour: 'red', effectiveAt: Date.now() }] });
  assert.equal(posted.status, 200, JSON.stringify(posted.body));
  assert.equal(posted.body.seq, 1);
  await until('the gate holds the pushed red', () => gate.colourOf('subj-1') === 'red', 10_000);
  assert.deepEqual(gate.refused, [], 'nothing the centre sent was refused');

  // Heartbeats keep the gate synced well past its 3 s limit.
  await new Promise((resolve) => setTimeout(resolve, 3_500));
  assert.equal(gate.sync.degraded, false, 'still synced: the heartbeats came');

  const today = new Date().toLocaleDateString('en-CA');
  const figures = await api(centre.url, token, 'GET', `/v1/sites/${site}/figures/${today}`);
  assert.equal(figures.status, 200, JSON.stringify(figures.body));
  assert.equal(figures.body.site, site);
  assert.equal(figures.body.day, today);
  assert.equal(figures.body.colourChanges.changes, 1, 'the record saw the centre’s change message');

  // A second centre on the same SQLite file refuses to start, naming why.
  await assert.rejects(startCentre({ ...config(dir), http: { ...config(dir).http, port: 0 } }, quiet), (error: unknown) => {
    const cause = error instanceof CentreStartError ? error.cause : error;
    return cause instanceof CentreError && cause.code === 'already-running';
  });
});
