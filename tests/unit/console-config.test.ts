/** The console's config loader: the gate's bounds and YAML errors, and no value of the file in any error. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConsoleConfig, loadConsoleConfig, MAX_CONSOLE_CONFIG_BYTES, parseConsoleConfig } from '../../protocol/config/console-config.js';
import { ConfigError, type ConfigErrorCode } from '../../protocol/config/errors.js';

const PASSWORD = 'kiwi-Password-7731';

function withFile(text: string | Buffer, run: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'console-config-'));
  try {
    const path = join(dir, 'console.yaml');
    writeFileSync(path, text);
    run(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** loadConsoleConfig refuses the file with a ConfigError of this code, matching message, in which none of `unshown` appears. */
function refuses(text: string | Buffer, code: ConfigErrorCode, message: RegExp, ...unshown: string[]): void {
  withFile(text, (path) =>
    assert.throws(() => loadConsoleConfig(path), (error: unknown) => {
      assert.ok(error instanceof ConfigError, `a ConfigError, not ${String(error)}`);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, message);
      for (const value of unshown) assert.ok(!error.message.includes(value), `"${value}" shown in ${error.message}`);
      return true;
    }),
  );
}

test('console config: a YAML error gives line, column and the problem, never the text of the line', () => {
  refuses(`broker:\n  username: console\n  password: "${PASSWORD}\\q"\n`, 'syntax', /console\.yaml is not YAML or JSON: line 3, column \d+: an escape sequence/, PASSWORD);
  refuses(`broker:\n  password: ${PASSWORD}: x\n`, 'syntax', /is not YAML or JSON: line 2, column \d+: /, PASSWORD);
});

test('console config: a self-referencing alias is a ConfigError naming the key', () => {
  refuses('broker: &b\n  tls: *b\n', 'alias', /console\.yaml is refused: line 2, column 8: "broker\.tls": an alias/);
});

test('console config: too many bytes, bytes that are not UTF-8, brackets too deep: refused', () => {
  refuses(`#${'x'.repeat(MAX_CONSOLE_CONFIG_BYTES)}\n`, 'size', /is refused: more than 524288 bytes/);
  refuses(Buffer.from([0x62, 0x3a, 0x20, 0xff, 0x0a]), 'encoding', /is refused: line 1, column 4: bytes that are not UTF-8/);
  refuses(`users: ${'['.repeat(200_000)}`, 'nesting', /brackets nested more than 1000 deep/);
});

test('console config: a "key:value" line missing its space is an unknown key shown only up to the colon, never the value', () => {
  assert.throws(() => parseConsoleConfig(`broker:\n  password:${PASSWORD} : x\n`, 'console.yaml'), (error: unknown) => {
    assert.ok(error instanceof ConfigError && error.code === 'schema', String(error));
    assert.match(error.message, /"broker" must NOT have additional properties \(password…\)/);
    assert.ok(!error.message.includes(PASSWORD), error.message);
    return true;
  });
});

test('console config: an unknown key is named, printable and cut short; a URL is shown without its user and password', () => {
  assert.throws(() => checkConsoleConfig({ broker: { [`pass\n${'w'.repeat(100)}`]: PASSWORD } }), (error: unknown) => {
    assert.ok(error instanceof ConfigError && error.code === 'schema', String(error));
    assert.match(error.message, /"broker" must NOT have additional properties \(pass\?w+…\)/);
    assert.ok(!error.message.includes('\n') && !error.message.includes(PASSWORD));
    return true;
  });
  assert.throws(
    () => checkConsoleConfig({ broker: { url: `mqtt://console:${PASSWORD}@broker.example:1883`, password: PASSWORD } }),
    (error: unknown) => error instanceof ConfigError && error.code === 'schema' && /broker\.url mqtt:\/\/…@broker\.example:1883 is not encrypted/.test(error.message) && !error.message.includes(PASSWORD),
  );
});
