/**
 * The console's sign-in pieces without a broker: password hashes, sessions
 * that expire (unused, and at most so long after sign-in), the lock after
 * wrong passwords, the config's defaults and refusals, and the CLI's
 * hash-password.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkConsoleConfig } from '../../protocol/config/console-config.js';
import { PrivacyError } from '../../protocol/privacy/errors.js';
import { hashPassword, verifyPassword } from '../../protocol/privacy/passwords.js';
import { OperatorSessions } from '../../console/sessions.js';
import { ConfigError } from '../../protocol/config/errors.js';

test('passwords: scrypt hash, verified, refused when short', async () => {
  const hash = await hashPassword('a long enough password');
  assert.match(hash, /^scrypt\$32768\$8\$1\$/);
  assert.equal(await verifyPassword('a long enough password', hash), true);
  assert.equal(await verifyPassword('a long enough passworD', hash), false);
  await assert.rejects(hashPassword('short'), (error: unknown) => error instanceof PrivacyError && error.code === 'password-rules');
  await assert.rejects(verifyPassword('x', 'scrypt$3$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), (error: unknown) => error instanceof PrivacyError && error.code === 'malformed-password-hash');
});

test('sessions end when unused for sessionMinutes, and sessionMaxHours after sign-in', async () => {
  let now = 1_000_000;
  const users = [
    { name: 'alice', role: 'operator' as const, passwordHash: await hashPassword('alice password') },
    { name: 'victor', role: 'viewer' as const, passwordHash: await hashPassword('victor password') },
  ];
  const sessions = new OperatorSessions({ users, idleMs: 30 * 60_000, maxMs: 2 * 3_600_000, now: () => now });
  const a = await sessions.signIn('alice', 'alice password', 'c1');
  assert.ok(a.ok);
  assert.equal(a.session.role, 'operator');
  const v = await sessions.signIn('victor', 'victor password', 'c1');
  assert.ok(v.ok && v.session.role === 'viewer');
  now += 29 * 60_000;
  assert.equal(sessions.touch(a.token)?.user, 'alice');
  // Victor was idle 31 minutes; Alice used hers 2 minutes ago.
  now += 2 * 60_000;
  assert.equal(sessions.alive(v.token), false);
  assert.equal(sessions.touch(v.token), null);
  assert.equal(sessions.alive(a.token), true);
  // Alive does not count as a use: an open event stream does not keep a session.
  now += 31 * 60_000;
  assert.equal(sessions.touch(a.token), null);
  // Used all the time, a session still ends after sessionMaxHours.
  const b = await sessions.signIn('alice', 'alice password', 'c1');
  assert.ok(b.ok);
  for (let i = 0; i < 8; i++) {
    now += 15 * 60_000;
    assert.ok(sessions.touch(b.token), `use ${i}`);
  }
  now += 15 * 60_000;
  assert.equal(sessions.touch(b.token), null);
  assert.equal(sessions.touch('forged'), null);
});

test('wrong passwords lock one client out for a while; an unknown name is refused alike', async () => {
  let now = 0;
  const users = [{ name: 'alice', role: 'operator' as const, passwordHash: await hashPassword('alice password') }];
  const sessions = new OperatorSessions({ users, idleMs: 60_000, maxMs: 3_600_000, maxFailures: 3, lockMs: 10_000, now: () => now });
  assert.deepEqual(await sessions.signIn('nobody', 'alice password', 'x'), { ok: false, why: 'wrong' });
  assert.deepEqual(await sessions.signIn('alice', 'wrong', 'x'), { ok: false, why: 'wrong' });
  assert.equal((await sessions.signIn('alice', 'wrong', 'x')).ok, false);
  const locked = await sessions.signIn('alice', 'alice password', 'x');
  assert.equal(locked.ok, false);
  assert.equal(!locked.ok && locked.why, 'locked');
  // Another client is not locked out by this one.
  assert.equal((await sessions.signIn('alice', 'alice password', 'y')).ok, true);
  now += 10_001;
  assert.equal((await sessions.signIn('alice', 'alice password', 'x')).ok, true);
});

test('config: defaults, and what it refuses', () => {
  const config = checkConsoleConfig({});
  assert.equal(config.broker.url, 'mqtt://127.0.0.1:1883');
  assert.equal(config.baseTopic, 'hc/v1');
  assert.deepEqual(config.http, { host: '127.0.0.1', port: 8090 });
  assert.equal(config.store.sqlite.path, 'data/console.db');
  assert.equal(config.sessionMinutes, 30);
  assert.deepEqual(config.users, []);
  assert.equal(config.operatorKey, undefined);
  assert.throws(() => checkConsoleConfig({ http: { host: '0.0.0.0' } }), (error: unknown) => error instanceof ConfigError && error.code === 'schema');
  assert.throws(() => checkConsoleConfig({ users: [{ name: 'a', role: 'admin', passwordHash: 'x' }] }), /users\.0\.role/);
  assert.throws(() => checkConsoleConfig({ surprise: 1 }), /surprise/);
  assert.throws(() => checkConsoleConfig({ timeZone: 'Mars/Olympus' }), /timeZone/);
  assert.throws(() => checkConsoleConfig({ broker: { url: 'mqtt://broker.example:1883', password: 'secret pass' } }), /not encrypted/);
  assert.equal(checkConsoleConfig({ broker: { url: 'mqtt://127.0.0.1:1883', username: 'c', password: 'secret pass' } }).broker.password, 'secret pass');
  assert.throws(() => checkConsoleConfig({ broker: { password: 'hunter2', url: 'ftp://x' } }), (error: Error) => !error.message.includes('hunter2'));
  // PostgreSQL: a URL that is not one is named by its key, and never shown (it may hold a password).
  assert.equal(checkConsoleConfig({ store: { postgres: { url: 'postgres://console@127.0.0.1/console' } } }).store.postgres?.poolSize, 10);
  assert.throws(
    () => checkConsoleConfig({ store: { postgres: { url: 'mysql://console:hunter2@db/console' } } }),
    (error: Error) => /store\.postgres\.url/.test(error.message) && !error.message.includes('hunter2'),
  );
  assert.throws(() => checkConsoleConfig({ store: { postgres: { url: 'postgres://db/console', poolSize: 0 } } }), /store\.postgres\.poolSize/);
});

test('a console whose PostgreSQL is not there exits 1 naming the database, never its password', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const dir = mkdtempSync(join(tmpdir(), 'console-pg-'));
  try {
    const configPath = join(dir, 'console.json');
    writeFileSync(configPath, JSON.stringify({ store: { postgres: { url: `postgres://console:hunter2@127.0.0.1:${port}/console` } }}));
    const main = fileURLToPath(new URL('../../console/main.js', import.meta.url));
    const run = spawnSync(process.execPath, [main, 'run', '--config', configPath], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`cannot open PostgreSQL at postgres://console:\\*\\*\\*@127\\.0\\.0\\.1:${port}/console`));
    assert.ok(!`${run.stdout}${run.stderr}`.includes('hunter2'), 'the password was printed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hash-password reads standard input, never an argument', () => {
  const main = fileURLToPath(new URL('../../console/main.js', import.meta.url));
  const ok = spawnSync(process.execPath, [main, 'hash-password'], { input: 'a long password\n', encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout.trim(), /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  const short = spawnSync(process.execPath, [main, 'hash-password'], { input: 'short', encoding: 'utf8' });
  assert.equal(short.status, 2);
});
