/**
 * The keyed hash ID-card look-ups are asked by (protocol/privacy/id-hash.ts).
 * The known answer was computed outside Node, with OpenSSL:
 *
 *   printf '%s' 11010519491231002X | openssl dgst -sha256 -mac HMAC \
 *     -macopt hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f -binary \
 *     | base64 | tr '+/' '-_' | tr -d '='
 *
 * (11010519491231002X is the example number of GB 11643-1999.)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { generateIdHashKeyFile, idHash, idHasher, parseIdHashKey, readIdHashKey } from '../../protocol/privacy/id-hash.js';
import { ConfigError } from '../../protocol/config/errors.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const KEY_BASE64 = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';
const NUMBER = '11010519491231002X';
const EXPECTED = 'pmdVRTsQbc6gz6JkIUrln_HosGfz5fOqgIXh2HV4gOs';

const dir = mkdtempSync(join(tmpdir(), 'id-hash-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function keyFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

test('id-hash: HMAC-SHA256 under the site key, base64url, matches OpenSSL', () => {
  assert.equal(KEY.toString('base64'), KEY_BASE64);
  assert.equal(idHash(KEY, NUMBER), EXPECTED);
  assert.equal(idHasher(KEY)(NUMBER), EXPECTED);
  assert.match(EXPECTED, /^[A-Za-z0-9_-]{43}$/);
});

test('id-hash: a lower-case x and surrounding blanks hash as the number they are', () => {
  assert.equal(idHash(KEY, '11010519491231002x'), EXPECTED);
  assert.equal(idHash(KEY, `  ${NUMBER}\n`), EXPECTED);
});

test('id-hash: another key gives another hash; the hash holds no part of the number', () => {
  const other = Buffer.alloc(32, 7);
  assert.notEqual(idHash(other, NUMBER), EXPECTED);
  assert.ok(!EXPECTED.includes('19491231'));
});

test('id-hash: a key shorter than 32 bytes is refused', () => {
  assert.throws(() => idHash(Buffer.alloc(16), NUMBER), RangeError);
  assert.throws(() => idHasher(Buffer.alloc(31)), RangeError);
});

test('id-hash: the key file is base64 of 32+ bytes; a new one is 32 random bytes', () => {
  assert.deepEqual(readIdHashKey(keyFile('good.key', `${KEY_BASE64}\n`)), KEY);
  const made = generateIdHashKeyFile();
  assert.match(made, /^[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(parseIdHashKey(made).length, 32);
  assert.notEqual(generateIdHashKeyFile(), made);
  assert.equal(parseIdHashKey(Buffer.alloc(48, 1).toString('base64')).length, 48);
});

test('id-hash: a bad key file is a ConfigError naming privacy.idHashKey, never echoing the contents', () => {
  const secretish = 'not-base64-SECRETVALUE!!';
  const cases: Array<[string, string, RegExp]> = [
    ['empty.key', '\n', /empty/],
    ['text.key', secretish, /not one line of base64/],
    ['short.key', Buffer.alloc(16, 9).toString('base64'), /16 bytes; at least 32/],
    ['two-lines.key', `${KEY_BASE64}\n${KEY_BASE64}\n`, /not one line of base64/],
  ];
  for (const [name, text, why] of cases) {
    const path = keyFile(name, text);
    assert.throws(
      () => readIdHashKey(path),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, name);
        assert.match(error.message, /^privacy\.idHashKey: /, name);
        assert.ok(error.message.includes(path), name);
        assert.match(error.message, why, name);
        assert.ok(!error.message.includes('SECRETVALUE') && !error.message.includes(KEY_BASE64.slice(0, 12)), `${name}: contents echoed`);
        return true;
      },
    );
  }
  assert.throws(() => readIdHashKey(join(dir, 'missing.key')), /privacy\.idHashKey: .*missing\.key cannot be read \(ENOENT\)/);
  if (process.getuid?.() !== 0) {
    const locked = keyFile('locked.key', KEY_BASE64);
    chmodSync(locked, 0o000);
    assert.throws(() => readIdHashKey(locked), /cannot be read \(EACCES\)/);
  }
});

test('id-hash: privacy.idHashKey is a config key (a path)', () => {
  const config = checkConfig({ site: 's', lane: 'l', privacy: { idHashKey: '/etc/gate/id-hash.key' } });
  assert.equal(config.privacy.idHashKey, '/etc/gate/id-hash.key');
  assert.throws(() => checkConfig({ site: 's', lane: 'l', privacy: { idHashKey: '' } }), /privacy\.idHashKey/);
});
