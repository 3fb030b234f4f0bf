/** Commands from the centre: signed, for this lane, fresh, run once (also across a restart), each with a result. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { checkConfig } from '../../protocol/config/gate-config.js';
import { kidOf, TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier } from '../../edge-agent/credential/verifier.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { CommandHandler, reloadTrustStore, type CommandTarget } from '../../edge-agent/link/command-handler.js';
import { applyConfigChange, RUNTIME_CONFIG_KEYS } from '../../edge-agent/components/config-keys.js';
import { conforms, type CommandMessage, type SecurityKind } from '../../protocol/contract.js';
import { type MessageSigner, messageSigner, signMessage } from '../../protocol/signed-message.js';
import { MessageError } from '../../protocol/message-error.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { ConfigError } from '../../protocol/config/errors.js';

const SITE = 'mall';
const LANE = 'lane-1';
const NOW = Date.parse('2024-03-01T08:00:00Z');
const logger = pino({ level: 'silent' });

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'commands-'));
  dirs.push(dir);
  return dir;
}

let centre: SignerKeyPair;
let stranger: SignerKeyPair;
let signer: MessageSigner;
let strangerSigner: MessageSigner;
let keys: TrustStore;

before(async () => {
  centre = await createSignerCertificate({ subject: 'CN=Centre, O=Test, C=CN' });
  stranger = await createSignerCertificate({ subject: 'CN=Not the centre, O=Test, C=CN', algorithm: 'EdDSA' });
  keys = new TrustStore();
  keys.add(centre.certificate);
  signer = messageSigner(centre);
  strangerSigner = messageSigner(stranger);
});

/** Records what reached the lane. */
class FakeTarget implements CommandTarget {
  calls: string[] = [];
  answer = true;
  open(): boolean {
    this.calls.push('open');
    return this.answer;
  }
  lock(): boolean {
    this.calls.push('lock');
    return this.answer;
  }
  releaseHold(): boolean {
    this.calls.push('release-hold');
    return this.answer;
  }
  async reloadTrust(): Promise<string> {
    this.calls.push('reload-trust');
    return '3 issuer certificates from /etc/gate/trust';
  }
  setConfig(key: string, value: unknown): string {
    this.calls.push(`set-config ${key}=${JSON.stringify(value)}`);
    return `${key} set`;
  }
}

function command(overrides: Partial<CommandMessage> = {}): CommandMessage {
  return { type: 'command', id: randomUUID(), site: SITE, lane: LANE, issuedAt: NOW - 2000, action: 'open', ...overrides };
}

function signed(message: CommandMessage, by: MessageSigner = signer): Buffer {
  return Buffer.from(JSON.stringify(signMessage('command', message, by)));
}

function setup(options: { file?: string; target?: CommandTarget; now?: () => number } = {}) {
  const journal = Journal.open(options.file ?? join(tempDir(), 'journal.db'));
  const target = (options.target as FakeTarget | undefined) ?? new FakeTarget();
  const handler = new CommandHandler({
    db: journal.database,
    keys,
    site: SITE,
    lane: LANE,
    maxAgeSeconds: 120,
    now: options.now ?? (() => NOW),
    target,
    logger,
  });
  return { journal, target, handler };
}

async function refused(handler: CommandHandler, raw: Buffer, kind: SecurityKind, message?: RegExp): Promise<void> {
  await assert.rejects(handler.handle(raw), (error: unknown) => {
    assert.ok(error instanceof MessageError, `a MessageError, got ${String(error)}`);
    assert.equal(error.code, kind, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

test('commands: each action reaches the target and gives a result that fits the contract', async () => {
  const { journal, target, handler } = setup();
  const cases: Array<[CommandMessage, string, string]> = [
    [command({ action: 'open' }), 'open', 'opened'],
    [command({ action: 'lock' }), 'lock', 'locked'],
    [command({ action: 'release-hold' }), 'release-hold', 'hold released'],
    [command({ action: 'reload-trust' }), 'reload-trust', '3 issuer certificates from /etc/gate/trust'],
    [command({ action: 'set-config', key: 'policy.feverThresholdC', value: 37.5 }), 'set-config policy.feverThresholdC=37.5', 'policy.feverThresholdC set'],
  ];
  for (const [message, call, detail] of cases) {
    const result = await handler.handle(signed(message));
    assert.ok(conforms('commandResult', result), JSON.stringify(result));
    assert.equal(result.commandId, message.id);
    assert.notEqual(result.id, message.id);
    assert.equal(result.action, message.action);
    assert.equal(result.ok, true);
    assert.equal(result.detail, detail);
    assert.equal(result.time, new Date(NOW).toISOString());
    assert.deepEqual([result.site, result.lane], [SITE, LANE]);
    assert.equal(target.calls.at(-1), call);
  }
  assert.equal(target.calls.length, cases.length);
  journal.close();
});

test('commands: the lane saying no, or throwing, is a result with ok false and the reason', async () => {
  const target = new FakeTarget();
  target.answer = false;
  target.setConfig = () => {
    throw new ConfigError('schema', '"policy.feverThresholdC" must be <= 40; found 45');
  };
  target.reloadTrust = () => Promise.reject(new Error('trust store /etc/gate/trust holds no certificate'));
  const { journal, handler } = setup({ target });

  const open = await handler.handle(signed(command({ action: 'open' })));
  assert.deepEqual([open.ok, open.detail], [false, 'the lane did not open in its current state']);
  const release = await handler.handle(signed(command({ action: 'release-hold' })));
  assert.deepEqual([release.ok, release.detail], [false, 'no hold to release']);
  const set = await handler.handle(signed(command({ action: 'set-config', key: 'policy.feverThresholdC', value: 45 })));
  assert.equal(set.ok, false);
  assert.match(set.detail, /feverThresholdC" must be <= 40; found 45/);
  const reload = await handler.handle(signed(command({ action: 'reload-trust' })));
  assert.deepEqual([reload.ok, reload.detail], [false, 'trust store /etc/gate/trust holds no certificate']);
  const noValue = await handler.handle(signed(command({ action: 'set-config', key: 'log.level' })));
  assert.deepEqual([noValue.ok, noValue.detail], [false, 'set-config needs a key and a value']);
  assert.ok(conforms('commandResult', set));
  journal.close();
});

test('commands: refused messages throw MessageError of their kind and never reach the lane', async () => {
  const { journal, target, handler } = setup();
  const good = command();
  const envelope = signMessage('command', good, signer);
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));

  await refused(handler, json(good), 'unsigned');
  await refused(handler, signed(command(), strangerSigner), 'unknown-key');
  // Payload changed after signing: the signature no longer covers it.
  const tampered = { ...envelope, payload: Buffer.from(JSON.stringify({ ...good, action: 'lock' })).toString('base64url') };
  await refused(handler, json(tampered), 'bad-signature');
  const flipped = Buffer.from(envelope.signature, 'base64url');
  flipped[5] = flipped[5]! ^ 0xff;
  await refused(handler, json({ ...envelope, signature: flipped.toString('base64url') }), 'bad-signature');
  // A genuine snapshot signed by the centre is still not a command.
  const snapshot = signMessage('colour-snapshot', { type: 'colour-snapshot', site: SITE, version: 1, seq: 0, issuedAt: NOW, statuses: [] }, signer);
  await refused(handler, json(snapshot), 'wrong-type');
  await refused(handler, signed(command({ lane: 'lane-2' })), 'wrong-target', /lane-2/);
  await refused(handler, signed(command({ site: 'station' })), 'wrong-target', /station/);
  await refused(handler, signed(command({ issuedAt: NOW - 121_000 })), 'stale', /121 s ago/);
  await refused(handler, signed(command({ issuedAt: NOW + 121_000 })), 'stale', /121 s ahead/);
  await refused(handler, signed({ ...command(), action: 'explode' } as unknown as CommandMessage), 'schema', /action/);
  await refused(handler, signed({ ...command(), id: 'x' } as CommandMessage), 'schema', /id/);
  await refused(handler, Buffer.from([0xff, 0xfe, 0x00, 0x13, 0x37, 0x7b]), 'malformed');
  await refused(handler, json([1, 2, 3]), 'malformed');
  await refused(handler, json({ protected: '!!', payload: '', signature: 'x' }), 'malformed');
  await refused(handler, json({ ...envelope, padding: 'x'.repeat(20_000) }), 'oversized');

  assert.deepEqual(target.calls, [], 'nothing reached the lane');
  // None of them used up the id: the genuine command still runs.
  assert.equal((await handler.handle(json(envelope))).ok, true);
  journal.close();
});

test('commands: the window edges are accepted', async () => {
  const { journal, target, handler } = setup();
  await handler.handle(signed(command({ issuedAt: NOW - 120_000 })));
  await handler.handle(signed(command({ issuedAt: NOW + 120_000 })));
  assert.deepEqual(target.calls, ['open', 'open']);
  journal.close();
});

test('commands: a replay is refused, also after the database is reopened', async () => {
  const file = join(tempDir(), 'journal.db');
  const first = setup({ file });
  const message = signed(command({ action: 'lock' }));
  assert.equal((await first.handler.handle(message)).ok, true);
  await refused(first.handler, message, 'replayed');
  first.journal.close();

  const second = setup({ file });
  await refused(second.handler, message, 'replayed');
  assert.deepEqual(first.target.calls, ['lock']);
  assert.deepEqual(second.target.calls, []);
  second.journal.close();
});

test('commands: the id is recorded before the action runs, so a replay during it is refused', async () => {
  let release!: () => void;
  const target = new FakeTarget();
  target.reloadTrust = () => new Promise((resolve) => (release = () => resolve('reloaded')));
  const { journal, handler } = setup({ target });
  const message = signed(command({ action: 'reload-trust' }));
  const running = handler.handle(message);
  await refused(handler, message, 'replayed');
  release();
  assert.equal((await running).detail, 'reloaded');
  journal.close();
});

test('commands: seen ids older than twice the window are pruned; the stale check still refuses them', async () => {
  let now = NOW;
  const { journal, handler } = setup({ now: () => now });
  const old = signed(command({ issuedAt: NOW }));
  await handler.handle(old);
  const count = () => journal.database.prepare('SELECT count(*) FROM seen_commands').pluck().get() as number;
  assert.equal(count(), 1);
  now = NOW + 241_000;
  await handler.handle(signed(command({ issuedAt: now })));
  assert.equal(count(), 1, 'the old row went');
  await refused(handler, old, 'stale');
  journal.close();
});

test('commands: with no centre keys every command is refused', async () => {
  const journal = Journal.open(join(tempDir(), 'journal.db'));
  const target = new FakeTarget();
  const handler = new CommandHandler({ db: journal.database, keys: null, site: SITE, lane: LANE, maxAgeSeconds: 120, now: () => NOW, target, logger });
  await refused(handler, signed(command()), 'unknown-key');
  assert.deepEqual(target.calls, []);
  journal.close();
});

test('set-config: only run-time keys change, checked by the config schema, the original untouched', () => {
  const config = checkConfig({ site: SITE, lane: LANE });
  const changed = applyConfigChange(config, 'policy.feverThresholdC', 37.6);
  assert.equal(changed.policy.feverThresholdC, 37.6);
  assert.equal(config.policy.feverThresholdC, 37.3);
  assert.equal(applyConfigChange(config, 'timing.relayPulseMs', 2500).timing.relayPulseMs, 2500);
  assert.equal(applyConfigChange(config, 'colour.whenDegraded', 'offline-code').colour.whenDegraded, 'offline-code');
  assert.equal(applyConfigChange(config, 'colour.maxSyncAgeSeconds', 600).colour.maxSyncAgeSeconds, 600);
  assert.equal(applyConfigChange(config, 'log.level', 'debug').log.level, 'debug');
  assert.equal(applyConfigChange(config, 'mqtt.telemetryIntervalSeconds', 10).mqtt.telemetryIntervalSeconds, 10);
  assert.ok(RUNTIME_CONFIG_KEYS.includes('timing.repeatSuppressMs'));

  const refuses = (key: string, value: unknown, message: RegExp) =>
    assert.throws(() => applyConfigChange(config, key, value), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, message);
      return true;
    });
  for (const key of ['site', 'lane', 'journal.path', 'mqtt.url', 'credentials.trust', 'mqtt.centreKeys']) {
    refuses(key, 'x', new RegExp(`"${key.replace('.', '\\.')}" cannot change at run time; keys that can: policy\\.feverThresholdC`));
  }
  refuses('policy.nothing', 1, /unknown config key "policy\.nothing"; keys that can:/);
  refuses('policy', { feverThresholdC: 38 }, /"policy" cannot change at run time/);
  refuses('constructor', 1, /unknown config key/);
  refuses('policy.feverThresholdC', 45, /cannot set "policy\.feverThresholdC": "policy\.feverThresholdC" must be <= 40$/);
  refuses('policy.feverThresholdC', '37', /must be number; found a string$/);
  refuses('timing.relayPulseMs', 1.5, /"timing\.relayPulseMs" must be integer; found a number;/);
  refuses('log.level', 'loud', /"log\.level" must be one of "fatal", .*"silent"$/);
  refuses('colour.whenDegraded', null, /"colour\.whenDegraded" must be one of "offline-code", "staff"$/);
});

test('reload-trust: a new store replaces the old one; a bad one changes nothing', async () => {
  const dir = tempDir();
  const issuers = join(dir, 'issuers');
  mkdirSync(issuers);
  const a = await createSignerCertificate({ subject: 'CN=Issuer A' });
  const b = await createSignerCertificate({ subject: 'CN=Issuer B' });
  writeFileSync(join(issuers, 'a.pem'), a.certificatePem);
  writeFileSync(join(issuers, 'b.pem'), b.certificatePem);
  const original = new TrustStore();
  original.add(a.certificate);
  const verifier = new CredentialVerifier({ trust: original });

  assert.equal(reloadTrustStore(verifier, issuers), `2 issuer certificates from ${issuers}`);
  assert.equal(verifier.trust.size, 2);
  assert.equal(verifier.trust.lookup(kidOf(b.certificate.raw)).length, 1);
  const loaded = verifier.trust;

  const empty = join(dir, 'empty');
  mkdirSync(empty);
  assert.throws(() => reloadTrustStore(verifier, empty), /holds no certificate/);
  assert.throws(() => reloadTrustStore(verifier, join(dir, 'missing')), /cannot be read/);
  const junk = join(dir, 'junk.pem');
  writeFileSync(junk, 'not a certificate');
  assert.throws(() => reloadTrustStore(verifier, junk), /not an X\.509 certificate/);
  assert.equal(verifier.trust, loaded, 'the store in use is unchanged');
  assert.equal(reloadTrustStore(verifier, join(issuers, 'a.pem')), `1 issuer certificate from ${join(issuers, 'a.pem')}`);
});
