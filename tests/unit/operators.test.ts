/**
 * Operator keys the centre delegates: the trust list carries them,
 * checked; the command handler takes an operator's command for its actions
 * only, within its validity, names the operator in the result, and refuses
 * an unlisted key (unknown-key), a replay, an expired operator and an action
 * it was not given. gate-provision makes, lists, removes and exports them,
 * and the console's signing function makes what a gate accepts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { OperatorKeys, parseOperators, type OperatorEntry } from '../../protocol/trust/operators.js';
import { TrustError } from '../../protocol/trust/errors.js';
import { IssuerTrust, openTrustList } from '../../protocol/trust/trust-list.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { CommandHandler, type CommandTarget } from '../../edge-agent/link/command-handler.js';
import { conforms, type CommandMessage, type SecurityKind } from '../../protocol/contract.js';
import { loadOperatorKey, signOperatorCommand } from '../../protocol/operator-command.js';
import { messageSigner, signJws, signMessage } from '../../protocol/signed-message.js';
import { MessageError } from '../../protocol/message-error.js';
import { main } from '../../provisioning/cli/gate-provision.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { openSite } from '../../provisioning/site/site.js';

const SITE = 'mall';
const LANE = 'lane-1';
const NOW = Date.now();
const DAY = 86_400_000;
const logger = pino({ level: 'silent' });

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'operators-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let centre: SignerKeyPair;
let desk: SignerKeyPair;
let night: SignerKeyPair;
let stranger: SignerKeyPair;
let issuer: SignerKeyPair;
let centreKeys: TrustStore;

before(async () => {
  centre = await createSignerCertificate({ subject: 'CN=Centre' });
  desk = await createSignerCertificate({ subject: 'CN=Operator duty-desk' });
  night = await createSignerCertificate({ subject: 'CN=Operator night-shift', algorithm: 'EdDSA' });
  stranger = await createSignerCertificate({ subject: 'CN=Not delegated' });
  issuer = await createSignerCertificate({ subject: 'CN=Issuer' });
  centreKeys = new TrustStore();
  centreKeys.add(centre.certificate);
});

function entry(key: SignerKeyPair, overrides: Partial<OperatorEntry> = {}): OperatorEntry {
  return { name: 'duty-desk', certificate: key.certificatePem, actions: ['open', 'lock', 'release-hold'], notBefore: NOW - DAY, notAfter: NOW + 30 * DAY, ...overrides };
}

function listBytes(operators: unknown, version = 2): Buffer {
  const payload = { type: 'trust-list', site: SITE, version, issuedAt: NOW, certificates: [issuer.certificatePem], operators };
  return Buffer.from(JSON.stringify(signJws('trust-list', payload, messageSigner(centre))));
}

class FakeTarget implements CommandTarget {
  calls: string[] = [];
  open(): boolean {
    this.calls.push('open');
    return true;
  }
  lock(): boolean {
    this.calls.push('lock');
    return true;
  }
  releaseHold(): boolean {
    this.calls.push('release-hold');
    return true;
  }
  reloadTrust(): string {
    this.calls.push('reload-trust');
    return 'reloaded';
  }
  setConfig(key: string): string {
    this.calls.push(`set-config ${key}`);
    return 'set';
  }
}

function setup(operators: OperatorEntry[], now = () => NOW) {
  const journal = Journal.open(path.join(fs.mkdtempSync(path.join(tmp, 'journal-')), 'journal.db'));
  after(() => journal.close());
  const keys = new OperatorKeys(operators);
  const target = new FakeTarget();
  const logged: Array<Record<string, unknown>> = [];
  const recording = pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line) as Record<string, unknown>) });
  const handler = new CommandHandler({ db: journal.database, keys: centreKeys, operators: () => keys, site: SITE, lane: LANE, maxAgeSeconds: 120, now, target, logger: recording });
  return { handler, target, logged };
}

function command(overrides: Partial<CommandMessage> = {}): CommandMessage {
  return { type: 'command', id: randomUUID(), site: SITE, lane: LANE, issuedAt: NOW - 1000, action: 'open', ...overrides };
}

function signed(message: CommandMessage, by: SignerKeyPair): Buffer {
  return Buffer.from(JSON.stringify(signMessage('command', message, messageSigner(by))));
}

async function refused(handler: CommandHandler, raw: Buffer, kind: SecurityKind, pattern: RegExp): Promise<void> {
  await assert.rejects(handler.handle(raw), (error: unknown) => {
    assert.ok(error instanceof MessageError, `a MessageError, got ${String(error)}`);
    assert.equal(error.code, kind, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

test('a trust list with operators: verified with the centre key, each operator checked', () => {
  const { operators, store } = openTrustList(listBytes([entry(desk), entry(night, { name: 'night-shift', actions: ['lock'] })]), 'list.jws', { centreKeys, site: SITE });
  assert.equal(store.size, 1, 'the issuers are as before');
  assert.deepEqual(operators.names, ['duty-desk', 'night-shift']);
  assert.equal(operators.store.size, 2);

  // Without operators the list is what it was.
  assert.equal(openTrustList(listBytes(undefined), 'plain.jws', { centreKeys, site: SITE }).operators.size, 0);

  const refusals: Array<[unknown, RegExp]> = [
    [[entry(desk, { actions: ['open', 'set-config' as 'open'] })], /action "set-config" cannot be delegated/],
    [[entry(desk, { actions: ['reload-trust' as 'open'] })], /action "reload-trust" cannot be delegated/],
    [[entry(desk, { actions: [] })], /actions is not a non-empty list/],
    [[entry(desk, { name: 'centre' })], /names the centre's own key/],
    [[entry(desk, { name: 'has space' })], /name "has space"/],
    [[entry(desk), entry(night)], /listed twice/],
    [[entry(desk, { certificate: 'not a certificate' })], /certificate is not a PEM certificate/],
    [[entry(desk, { notAfter: NOW - 2 * DAY })], /notAfter is not after notBefore/],
    ['everyone', /operators is not a list/],
  ];
  for (const [operatorsValue, pattern] of refusals) {
    assert.throws(
      () => openTrustList(listBytes(operatorsValue), 'bad.jws', { centreKeys, site: SITE }),
      (error: unknown) => error instanceof TrustError && error.code === 'malformed' && pattern.test(error.message) && error.message.includes('bad.jws'),
      String(pattern),
    );
  }
  // The operators come with the centre's signature or not at all: a list signed by anyone else is refused whole.
  const forged = Buffer.from(JSON.stringify(signJws('trust-list', { type: 'trust-list', site: SITE, version: 2, issuedAt: NOW, certificates: [issuer.certificatePem], operators: [entry(stranger)] }, messageSigner(stranger))));
  assert.throws(() => openTrustList(forged, 'forged.jws', { centreKeys, site: SITE }), (error: unknown) => error instanceof TrustError && error.code === 'unknown-key');
  assert.deepEqual(parseOperators(undefined), []);
});

test('IssuerTrust carries the operators of the list in force; a reload replaces them', () => {
  const file = path.join(tmp, 'trust-list.jws');
  fs.writeFileSync(file, listBytes([entry(desk)], 2));
  const trust = new IssuerTrust({ path: file, centreKeys, site: SITE, lane: LANE });
  trust.load();
  assert.deepEqual(trust.operators.names, ['duty-desk']);
  fs.writeFileSync(file, listBytes(undefined, 3));
  trust.reload();
  assert.equal(trust.operators.size, 0, 'an operator removed from the list is gone after reload-trust');
});

test("an operator's command for an allowed action runs; the result and the log name the operator", async () => {
  const { handler, target, logged } = setup([entry(desk), entry(night, { name: 'night-shift', actions: ['lock'] })]);
  const open = command({ action: 'open' });
  const result = await handler.handle(signed(open, desk));
  assert.equal(result.ok, true);
  assert.equal(result.signedBy, 'duty-desk');
  assert.equal(result.commandId, open.id);
  assert.ok(conforms('commandResult', result));
  const lock = await handler.handle(signed(command({ action: 'lock' }), night));
  assert.equal(lock.signedBy, 'night-shift', 'an EdDSA operator key');
  const byCentre = await handler.handle(signed(command({ action: 'set-config', key: 'policy.feverThresholdC', value: 37.5 }), centre));
  assert.equal(byCentre.signedBy, 'centre');
  assert.deepEqual(target.calls, ['open', 'lock', 'set-config policy.feverThresholdC']);
  const runs = logged.filter((line) => line.msg === 'command run').map((line) => [line.action, line.signedBy, line.ok]);
  assert.deepEqual(runs, [['open', 'duty-desk', true], ['lock', 'night-shift', true], ['set-config', 'centre', true]]);
  assert.deepEqual(logged.filter((line) => line.msg === 'command accepted').map((line) => line.signedBy), ['duty-desk', 'night-shift', 'centre']);
});

test('refused: an action the operator was not given, a centre-only action, an expired or future operator, an unlisted key, a replay', async () => {
  const { handler, target } = setup([
    entry(desk, { actions: ['lock'] }),
    entry(night, { name: 'night-shift', notBefore: NOW - 30 * DAY, notAfter: NOW - DAY }),
  ]);
  await refused(handler, signed(command({ action: 'open' }), desk), 'not-permitted', /operator duty-desk may not send open \(it may: lock\)/);
  await refused(handler, signed(command({ action: 'set-config', key: 'log.level', value: 'debug' }), desk), 'not-permitted', /may not send set-config: only the centre's own key may/);
  await refused(handler, signed(command({ action: 'reload-trust' }), desk), 'not-permitted', /reload-trust: only the centre's own key/);
  await refused(handler, signed(command({ action: 'open' }), night), 'unknown-key', /operator night-shift: its delegation ended at/);
  await refused(handler, signed(command({ action: 'open' }), stranger), 'unknown-key', /is not a centre key this gate trusts/);
  const lock = signed(command({ action: 'lock' }), desk);
  assert.equal((await handler.handle(lock)).ok, true);
  await refused(handler, lock, 'replayed', /was already received/);
  assert.deepEqual(target.calls, ['lock'], 'only the one allowed command reached the lane');

  const future = setup([entry(desk, { notBefore: NOW + DAY, notAfter: NOW + 30 * DAY })]);
  await refused(future.handler, signed(command({ action: 'open' }), desk), 'unknown-key', /its delegation starts at/);
  // A command the operator signed is still checked for site, lane and freshness as the centre's are.
  const fresh = setup([entry(desk)]);
  await refused(fresh.handler, signed(command({ lane: 'lane-2' }), desk), 'wrong-target', /reached mall\/lane-1/);
  await refused(fresh.handler, signed(command({ issuedAt: NOW - 600_000 }), desk), 'stale', /issued 600 s ago/);
});

test('without operators in the list, an operator key is just an unknown key', async () => {
  const { handler } = setup([]);
  await refused(handler, signed(command(), desk), 'unknown-key', /is not a centre key this gate trusts/);
});

test('gate-provision operator add, list, remove; export-trust lists it; the console signs with its key and the gate takes it', async () => {
  const quietly = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await main(argv, { stdout: (text) => (out += text), stderr: (text) => (err += text), stderrIsTty: false });
    return { code, out, err };
  };
  const site = path.join(tmp, 'site');
  const issuerFile = path.join(tmp, 'issuer.pem');
  fs.writeFileSync(issuerFile, issuer.certificatePem);
  assert.equal((await quietly('init', site, '--site', SITE)).code, 0);
  assert.equal((await quietly('issuer', 'add', site, issuerFile)).code, 0);

  let run = await quietly('operator', 'add', site, '--name', 'duty-desk', '--actions', 'open,release-hold', '--days', '30');
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /added operator duty-desk: open, release-hold until .*kid /);
  assert.match(run.out, /trust list version 3/);
  const keyFile = path.join(site, 'operators', 'duty-desk', 'operator.key');
  assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600, 'the operator key is owner-only');
  assert.match(fs.readFileSync(keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  const record = openSite(site).record;
  assert.equal(record.trustList.version, 3, 'an operator changes the list: its version grows');
  assert.deepEqual(record.operators?.['duty-desk']?.actions, ['open', 'release-hold']);
  const days = (Date.parse(record.operators!['duty-desk']!.notAfter) - Date.parse(record.operators!['duty-desk']!.notBefore)) / DAY;
  assert.equal(days, 30);

  // Refusals change nothing.
  for (const [argv, pattern, code] of [
    [['--name', 'duty-desk'], /operator duty-desk exists/, 1],
    [['--name', 'x', '--actions', 'open,set-config'], /"set-config" cannot be delegated \(it stays with the centre's own key\)/, 2],
    [['--name', 'centre'], /names the centre's own key/, 2],
    [['--name', 'x', '--days', '0'], /--days 0/, 2],
  ] as Array<[string[], RegExp, number]>) {
    run = await quietly('operator', 'add', site, ...argv);
    assert.equal(run.code, code, `${argv.join(' ')}: ${run.err}`);
    assert.match(run.err, pattern);
  }
  assert.equal(openSite(site).record.trustList.version, 3);

  assert.equal((await quietly('operator', 'add', site, '--name', 'night-shift', '--actions', 'lock')).code, 0);
  run = await quietly('operator', 'list', site);
  assert.match(run.out, /^site mall: 2 operator\(s\)\nduty-desk  \S+  open,release-hold  kid \S+\nnight-shift  \S+  lock  kid \S+\n$/);

  run = await quietly('export-trust', site);
  assert.equal(run.code, 0, run.err);
  assert.match(run.out, /trust list version 4 \(1 issuer\(s\), 2 operator\(s\)\)/);
  const listFile = path.join(site, 'trust-list-v4.jws');
  const centrePem = fs.readFileSync(path.join(site, 'centre', 'centre.pem'));
  const siteCentre = new TrustStore();
  siteCentre.addEncoded(centrePem);
  const opened = openTrustList(fs.readFileSync(listFile), listFile, { centreKeys: siteCentre, site: SITE });
  assert.deepEqual(opened.operators.names, ['duty-desk', 'night-shift']);
  assert.deepEqual(opened.list.operators?.map((o) => o.actions), [['open', 'release-hold'], ['lock']]);

  // The console: the key from its folder, a command signed with it; a gate on that list runs it and names the operator.
  const key = loadOperatorKey(path.join(site, 'operators', 'duty-desk'));
  const journal = Journal.open(path.join(tmp, 'console-journal.db'));
  after(() => journal.close());
  const target = new FakeTarget();
  const handler = new CommandHandler({
    db: journal.database,
    keys: siteCentre,
    operators: () => opened.operators,
    site: SITE,
    lane: LANE,
    maxAgeSeconds: 120,
    target,
    logger,
  });
  const { command: sent, text } = signOperatorCommand({ site: SITE, lane: LANE, action: 'release-hold' }, key);
  const result = await handler.handle(text);
  assert.deepEqual([result.ok, result.signedBy, result.commandId, result.action], [true, 'duty-desk', sent.id, 'release-hold']);
  await refused(handler, Buffer.from(signOperatorCommand({ site: SITE, lane: LANE, action: 'lock' }, key).text), 'not-permitted', /duty-desk may not send lock/);
  assert.throws(() => signOperatorCommand({ site: SITE, lane: LANE, action: 'set-config' as 'open' }, key), /operators may send open, lock, release-hold only/);

  // remove: the folder goes and the list version grows; the next export lists only night-shift.
  run = await quietly('operator', 'remove', site, '--name', 'duty-desk');
  assert.equal(run.code, 0, run.err);
  assert.equal(fs.existsSync(path.join(site, 'operators', 'duty-desk')), false);
  assert.equal((await quietly('operator', 'remove', site, '--name', 'duty-desk')).code, 1);
  assert.equal((await quietly('export-trust', site)).code, 0);
  const v5 = openTrustList(fs.readFileSync(path.join(site, 'trust-list-v5.jws')), 'v5', { centreKeys: siteCentre, site: SITE });
  assert.deepEqual(v5.operators.names, ['night-shift']);
});

test('an encrypted site encrypts the operator key with its passphrase; the console loads it with the passphrase', async () => {
  const site = path.join(tmp, 'site-encrypted');
  const passphrase = path.join(tmp, 'passphrase');
  fs.writeFileSync(passphrase, 'correct horse battery\n');
  const io = { stdout: () => {}, stderr: () => {}, stderrIsTty: false };
  assert.equal(await main(['init', site, '--site', SITE, '--passphrase-file', passphrase], io), 0);
  assert.equal(await main(['operator', 'add', site, '--name', 'desk'], io), 2, 'the passphrase is required');
  assert.equal(await main(['operator', 'add', site, '--name', 'desk', '--passphrase-file', passphrase], io), 0);
  const folder = path.join(site, 'operators', 'desk');
  assert.match(fs.readFileSync(path.join(folder, 'operator.key'), 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  assert.throws(() => loadOperatorKey(folder));
  assert.equal(loadOperatorKey(folder, 'correct horse battery').algorithm, 'ES256');
});

