/** Staff PINs: scrypt hashes in config, checked in constant time, malformed hashes refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { PrivacyError } from '../../protocol/privacy/errors.js';
import { scryptHashProblem, scryptMatches } from '../../protocol/privacy/scrypt-hash.js';
import { hashPin, pinFollowsRules, verifyPin } from '../../protocol/privacy/staff-pin.js';
import { ConfigError } from '../../protocol/config/errors.js';

async function refusesHash(stored: string): Promise<void> {
  await assert.rejects(verifyPin('1234', stored), (err: unknown) => {
    assert.ok(err instanceof PrivacyError, String(err));
    assert.equal(err.code, 'malformed-pin-hash');
    assert.match(err.message, /staff\.pinHash/);
    return true;
  });
}

test('staff pin: a hash verifies its PIN and no other', async () => {
  const stored = await hashPin('482913');
  assert.match(stored, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.equal(await verifyPin('482913', stored), true);
  assert.equal(await verifyPin('482914', stored), false);
  assert.equal(await verifyPin('4829130', stored), false);
  assert.equal(await verifyPin('', stored), false);
  assert.ok(!stored.includes('482913'));
});

test('staff pin: the same PIN hashes differently each time (random salt)', async () => {
  const [a, b] = await Promise.all([hashPin('1234'), hashPin('1234')]);
  assert.notEqual(a, b);
  assert.equal(await verifyPin('1234', b), true);
});

test('staff pin: PINs are 4 to 12 digits', async () => {
  for (const pin of ['1234', '123456789012']) assert.ok(pinFollowsRules(pin), pin);
  for (const pin of ['123', '1234567890123', '12a4', ' 1234', '１２３４', '']) {
    assert.equal(pinFollowsRules(pin), false, pin);
    await assert.rejects(hashPin(pin), (err: unknown) => err instanceof PrivacyError && err.code === 'pin-rules');
  }
});

test('staff pin: malformed stored hashes are refused with a clear error', async () => {
  const good = await hashPin('1234');
  const [, , , , salt, hash] = good.split('$') as string[];
  await refusesHash('');
  await refusesHash('1234');
  await refusesHash(good.replace('scrypt$', 'argon2$'));
  await refusesHash(`scrypt$32769$8$1$${salt}$${hash}`); // N not a power of two
  await refusesHash(`scrypt$${2 ** 21}$8$1$${salt}$${hash}`); // N too large to allocate
  await refusesHash(`scrypt$32768$64$1$${salt}$${hash}`); // r too large
  await refusesHash(`scrypt$32768$8$1$${salt!.slice(1)}$${hash}`);
  await refusesHash(`scrypt$32768$8$1$${salt}$${hash!.slice(1)}`);
  await refusesHash(`${good}$`);
});

test('scrypt hash: the problem of a stored string, never what it holds; scryptMatches throws on one', async () => {
  const good = await hashPin('1234');
  assert.equal(scryptHashProblem(good), null);
  assert.equal(scryptHashProblem('482913'), 'wrong shape');
  assert.match(scryptHashProblem(good.replace('scrypt$32768$', 'scrypt$32769$'))!, /^N=32769 is not a power of two/);
  await assert.rejects(scryptMatches('1234', '482913'), (err: unknown) => {
    assert.ok(err instanceof PrivacyError, String(err));
    assert.equal(err.code, 'malformed-scrypt-hash');
    assert.equal(err.message, 'not an scrypt hash (scrypt$N$r$p$salt$hash): wrong shape');
    return true;
  });
});

test('staff pin: smaller stored parameters still verify (read from the string)', async () => {
  // A hash made elsewhere with N=2^14 stays usable: the parameters travel with it.
  const { scryptSync } = await import('node:crypto');
  const salt = Buffer.alloc(16, 7);
  const hash = scryptSync('5678', salt, 32, { N: 2 ** 14, r: 8, p: 1 });
  const stored = `scrypt$16384$8$1$${salt.toString('base64url')}$${hash.toString('base64url')}`;
  assert.equal(await verifyPin('5678', stored), true);
  assert.equal(await verifyPin('5679', stored), false);
});

test('config: staff.pinHash takes a hashPin string and refuses anything else', async () => {
  const stored = await hashPin('1234');
  assert.equal(checkConfig({ site: 's', lane: 'l', staff: { pinHash: stored } }).staff.pinHash, stored);
  assert.equal(checkConfig({ site: 's', lane: 'l' }).staff.pinHash, undefined);
  // A PIN typed where its hash belongs is not repeated in the error (it would reach the logs).
  assert.throws(() => checkConfig({ site: 's', lane: 'l', staff: { pinHash: '482913' } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /"staff\.pinHash" must match pattern .*; the value is not shown/);
    assert.ok(!err.message.includes('482913'));
    return true;
  });
});
