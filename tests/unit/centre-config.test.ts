/** The centre's config and its sites' keys: defaults, each rule between keys, and no secret in any error. */
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { checkCentreConfig, loadCentreConfig, parseCentreConfig } from '../../protocol/config/centre-config.js';
import { ConfigError, type ConfigErrorCode } from '../../protocol/config/errors.js';
import { LOCAL_SITE, loadSites } from '../../centre/sites.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';

const quiet = pino({ level: 'silent' });
const HASH = 'a'.repeat(64);

function refuses(raw: unknown, code: ConfigErrorCode, message: RegExp, ...unshown: string[]): void {
  assert.throws(
    () => checkCentreConfig(raw),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, message);
      for (const value of unshown) assert.ok(!error.message.includes(value), `"${value}" shown in ${error.message}`);
      return true;
    },
  );
}

test('centre config: no file gives the embedded defaults', () => {
  const config = loadCentreConfig();
  assert.equal(config.broker.url, undefined);
  assert.deepEqual(config.broker.embedded, { host: '127.0.0.1', port: 1883 });
  assert.equal(config.store.sqlite.path, 'data/centre.db');
  assert.equal(config.record.sqlite.path, 'data/centre-record.db');
  assert.equal(config.http.host, '127.0.0.1');
  assert.deepEqual(config.sites, []);
  assert.ok(config.publisher.heartbeatSeconds < 300, 'a heartbeat well inside the gates’ default maxSyncAgeSeconds');
});

test('centre config: a wrong key is named, with the path to it', () => {
  refuses({ publisher: { heartbeatSecs: 5 } }, 'schema', /"publisher" must NOT have additional properties \(heartbeatSecs\)/);
  refuses({ clients: [{ id: 'p', tokenSha256: 'xyz' }] }, 'schema', /"clients\.0\.tokenSha256" must match pattern/);
  assert.throws(() => parseCentreConfig('sites: [\n', 'centre.yaml'), /centre\.yaml is not YAML or JSON: line/);
});

test('centre config: a client that can never sign in, twice the same id, or a CN without a client CA is refused', () => {
  refuses({ clients: [{ id: 'p' }] }, 'schema', /clients\.0 \(p\): give tokenSha256 or certificateCn/);
  refuses({ clients: [{ id: 'p', tokenSha256: HASH }, { id: 'p', tokenSha256: HASH }] }, 'schema', /"p" appears twice/);
  refuses({ clients: [{ id: 'p', certificateCn: 'platform' }] }, 'schema', /certificateCn needs http\.tls\.clientCa/);
});

test('centre config: secrets in clear over the network are refused, and never shown', () => {
  refuses({ broker: { url: 'mqtt://user:s3cret-pw@broker.example:1883', password: 's3cret-pw' } }, 'schema', /not encrypted/, 's3cret-pw');
  refuses({ http: { host: '0.0.0.0' } }, 'schema', /http\.host 0\.0\.0\.0 is not loopback/);
  refuses({ department: { url: 'http://department.example/alerts', secretFile: '/x' } }, 'schema', /department\.url .* is not HTTPS/);
  refuses({ department: { url: 'https://department.example/alerts' } }, 'schema', /department\.url needs department\.secretFile/);
  refuses({ store: { postgres: { url: 'mysql://u:hunter2@db/x' } } }, 'schema', /the value is not shown/, 'hunter2');
  // Loopback may go in clear: a test receiver, a broker on the same machine.
  assert.equal(checkCentreConfig({ department: { url: 'http://127.0.0.1:9/alerts', secretFile: '/x' } }).department.url, 'http://127.0.0.1:9/alerts');
});

test('centre config: a site needs a folder or both key files, and an id when it has no folder', () => {
  refuses({ sites: [{ id: 's1', signingKey: '/k' }] }, 'schema', /sites\.0: give folder/);
  refuses({ sites: [{ signingKey: '/k', certificate: '/c' }] }, 'schema', /sites\.0: give id/);
  refuses({ sites: [{ id: 's1', folder: '/a' }, { id: 's1', folder: '/b' }] }, 'schema', /"s1" appears twice/);
});

test('sites: with none configured the centre makes its local site once, the key 0600, and reads it again after', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'centre-sites-'));
  try {
    const [first] = await loadSites({ sites: [], dataDir: dir }, quiet);
    assert.equal(first!.id, LOCAL_SITE);
    assert.equal(statSync(first!.keyFile).mode & 0o777, 0o600);
    assert.equal(first!.idHashKey!.length, 32);
    const [again] = await loadSites({ sites: [], dataDir: dir }, quiet);
    assert.equal(again!.key.certificatePem, first!.key.certificatePem, 'the same key after a restart: the gates pin it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sites: key files that do not match, an unreadable file, or a folder without site.json are named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'centre-sites-'));
  try {
    const a = await createSignerCertificate({ subject: 'CN=a' });
    const b = await createSignerCertificate({ subject: 'CN=b' });
    writeFileSync(join(dir, 'a.key'), a.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    writeFileSync(join(dir, 'b.pem'), b.certificatePem);
    writeFileSync(join(dir, 'a.pem'), a.certificatePem);
    const site = (over: object) => loadSites({ sites: [{ id: 's1', ...over }], dataDir: dir }, quiet);
    await assert.rejects(site({ signingKey: join(dir, 'a.key'), certificate: join(dir, 'b.pem') }), (e: Error) => e instanceof ConfigError && /sites\.0: .*a\.key.*is not the key of/.test(e.message));
    await assert.rejects(site({ signingKey: join(dir, 'none.key'), certificate: join(dir, 'a.pem') }), (e: Error) => e instanceof ConfigError && /ENOENT/.test(e.message));
    await assert.rejects(loadSites({ sites: [{ folder: dir }], dataDir: dir }, quiet), (e: Error) => e instanceof ConfigError && /site\.json cannot be read/.test(e.message));
    const [ok] = await site({ signingKey: join(dir, 'a.key'), certificate: join(dir, 'a.pem') });
    assert.equal(ok!.key.certificatePem.trim(), readFileSync(join(dir, 'a.pem'), 'utf8').trim());
    assert.equal(ok!.idHashKey, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
