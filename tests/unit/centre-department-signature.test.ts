/**
 * The department's side of the webhook signature (verifyDepartmentSignature),
 * the back-off's bounds, and the settings the deliverer refuses to start with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { retryDelayMs } from '../../centre/department/backoff.js';
import { departmentSettings } from '../../centre/department/settings.js';
import { departmentHeaders, verifyDepartmentSignature } from '../../centre/department/signature.js';
import { CentreError } from '../../centre/errors.js';

const SECRET = Buffer.from('a shared secret of enough length', 'utf8');
const BODY = '{"id":"0b7e0a7e-1","colour":"red"}';
const NOW = Date.UTC(2024, 4, 1, 12);

test('a signed request verifies, names its id and kind, from headers as node:http or fetch gives them', () => {
  const headers = departmentHeaders(SECRET, { id: 'd-1', kind: 'alert' }, BODY, NOW);
  assert.match(headers['x-signature']!, /^sha256=[0-9a-f]{64}$/);
  assert.equal(headers['x-timestamp'], String(NOW / 1000));
  assert.deepEqual(verifyDepartmentSignature(SECRET, headers, Buffer.from(BODY), { now: NOW }), { ok: true, deliveryId: 'd-1', kind: 'alert', timestamp: NOW / 1000 });
  assert.equal(verifyDepartmentSignature(SECRET.toString('utf8'), new Headers(headers), BODY, { now: NOW }).ok, true);
  const capitalised = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.replace(/(^|-)x/g, (m) => m.toUpperCase()), v]));
  assert.equal(verifyDepartmentSignature(SECRET, capitalised, BODY, { now: NOW }).ok, true);
});

test('a changed body, another secret, a bad or repeated header, or an old timestamp is refused with its reason', () => {
  const headers = departmentHeaders(SECRET, { id: 'd-1', kind: 'registration' }, BODY, NOW);
  const reason = (h: Record<string, string | string[]>, body = BODY, secret: Buffer | string = SECRET, now = NOW): string | undefined => {
    const check = verifyDepartmentSignature(secret, h, body, { now });
    return check.ok ? undefined : check.reason;
  };
  assert.equal(reason(headers, BODY.replace('red', 'RED')), 'bad-signature');
  assert.equal(reason(headers, BODY, 'another secret of enough length'), 'bad-signature');
  assert.equal(reason({ ...headers, 'x-signature': headers['x-signature']!.slice(7) }), 'bad-signature');
  assert.equal(reason({ ...headers, 'x-signature': 'sha256=zz' }), 'bad-signature');
  assert.equal(reason({ ...headers, 'x-signature': [headers['x-signature']!, headers['x-signature']!] }), 'missing-header');
  const { 'x-timestamp': _, ...noTime } = headers;
  assert.equal(reason(noTime), 'missing-header');
  assert.equal(reason({ ...headers, 'x-timestamp': '12.5' }), 'bad-timestamp');
  // The timestamp is signed: moving it breaks the MAC; an old request replayed as it was is stale.
  assert.equal(reason({ ...headers, 'x-timestamp': String(NOW / 1000 + 1) }), 'bad-signature');
  assert.equal(reason(headers, BODY, SECRET, NOW + 301_000), 'stale');
  assert.equal(reason(headers, BODY, SECRET, NOW - 301_000), 'stale');
  assert.equal(reason(headers, BODY, SECRET, NOW + 299_000), undefined);
  assert.equal(verifyDepartmentSignature(SECRET, headers, BODY, { now: NOW + 20_000, toleranceSeconds: 10 }).ok, false);
});

test('the back-off grows from firstRetryMs, is jittered, and stays within firstRetryMs..maxRetryMs', () => {
  assert.equal(retryDelayMs(1, 1000, 300_000, () => 0), 1000);
  assert.equal(retryDelayMs(1, 1000, 300_000, () => 1), 1000);
  assert.equal(retryDelayMs(4, 1000, 300_000, () => 1), 8000);
  assert.equal(retryDelayMs(4, 1000, 300_000, () => 0), 4000);
  assert.equal(retryDelayMs(60, 1000, 300_000, () => 1), 300_000);
  assert.equal(retryDelayMs(10_000, 1000, 300_000, () => 0), 150_000);
  for (let failures = 0; failures < 100; failures++) {
    const delay = retryDelayMs(failures, 50, 2000);
    assert.ok(delay >= 50 && delay <= 2000, `${failures}: ${delay}`);
  }
  // A maxRetryMs below firstRetryMs (both configurable) cannot make it shorter than the first.
  assert.equal(retryDelayMs(5, 1000, 10, () => 0.5), 1000);
});

test('settings: no URL is no department; a URL without a usable secret, http off loopback, or credentials in it is refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'department-settings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, 'k'.repeat(32) + '\n');
  writeFileSync(join(dir, 'short'), 'short\n');
  const base = { timeoutMs: 1000, firstRetryMs: 10, maxRetryMs: 100, alarmAfterSeconds: 60 };
  assert.equal(departmentSettings(base), null);
  const settings = departmentSettings({ ...base, url: 'http://127.0.0.1:9/hook', secretFile })!;
  assert.equal(settings.secret.toString(), 'k'.repeat(32), 'the newline is not part of the key');
  const refused = (config: Record<string, unknown>, pattern: RegExp): void =>
    assert.throws(() => departmentSettings({ ...base, ...config }), (e: unknown) => e instanceof CentreError && e.code === 'department-config' && pattern.test(e.message));
  refused({ url: 'https://department.example/hook' }, /secretFile is required/);
  refused({ url: 'https://department.example/hook', secretFile: join(dir, 'short') }, /at least 16/);
  refused({ url: 'https://department.example/hook', secretFile: join(dir, 'absent') }, /cannot be read/);
  refused({ url: 'http://department.example/hook', secretFile }, /only https:\/\//);
  refused({ url: 'https://user:pw@department.example/hook', secretFile }, /credentials/);
  refused({ url: 'http://127.0.0.1/hook', secretFile, ca: secretFile }, /not https/);
  refused({ url: 'ftp://x' , secretFile }, /must be https/);
});
