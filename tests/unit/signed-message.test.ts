/**
 * Signed messages (JWS, flattened JSON serialization) broken in their shape:
 * every form in tests/support/malformed-jws.ts, for every kind the gate takes
 * (colour change and snapshot, the centre's and an operator's command,
 * look-up reply, trust list), through the part that receives that kind, is
 * a MessageError 'malformed' (a TrustError 'malformed' for the
 * list) naming what is wrong, and nothing else is thrown. The well-formed
 * refusals keep their kinds: alg none is bad-signature, another typ is
 * wrong-type, an unknown kid is unknown-key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { ColourSync } from '../../edge-agent/colour/colour-sync.js';
import { ColourStatusStore } from '../../edge-agent/colour/status-store.js';
import { OperatorKeys } from '../../protocol/trust/operators.js';
import { TrustError } from '../../protocol/trust/errors.js';
import { openTrustList } from '../../protocol/trust/trust-list.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { Journal } from '../../edge-agent/journal/journal.js';
import { CommandHandler, type CommandTarget } from '../../edge-agent/link/command-handler.js';
import type { SignedType } from '../../protocol/contract.js';
import { LookupClient } from '../../edge-agent/link/lookup-client.js';
import {
  jwsKid,
  type MessageSigner,
  messageSigner,
  openJws,
  openLeafMessage,
  openLeafMessageWithSigner,
  openSignedMessage,
  parseJws,
  signJws,
  signLeafMessage,
} from '../../protocol/signed-message.js';
import { MessageError } from '../../protocol/message-error.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { malformedJws } from '../support/malformed-jws.js';

const SITE = 'mall';
const LANE = 'lane-1';
const logger = pino({ level: 'silent' });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'signed-message-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let centreKey: SignerKeyPair;
let operatorKey: SignerKeyPair;
let centre: MessageSigner;
let operator: MessageSigner;
let centreKeys: TrustStore;

before(async () => {
  centreKey = await createSignerCertificate({ subject: 'CN=Centre' });
  operatorKey = await createSignerCertificate({ subject: 'CN=Operator duty-desk' });
  centre = messageSigner(centreKey);
  operator = messageSigner(operatorKey);
  centreKeys = new TrustStore();
  centreKeys.add(centreKey.certificate);
});

const b64json = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const kidOf = (signer: MessageSigner): string => signer.kid.toString('base64url');

const nothing: CommandTarget = {
  open: () => assert.fail('a malformed command ran'),
  lock: () => assert.fail('a malformed command ran'),
  releaseHold: () => assert.fail('a malformed command ran'),
  reloadTrust: () => assert.fail('a malformed command ran'),
  setConfig: () => assert.fail('a malformed command ran'),
};

function commandHandler(): CommandHandler {
  const journal = Journal.open(path.join(fs.mkdtempSync(path.join(tmp, 'journal-')), 'journal.db'));
  after(() => journal.close());
  const now = Date.now();
  const operators = new OperatorKeys([{ name: 'duty-desk', certificate: operatorKey.certificatePem, actions: ['open', 'lock', 'release-hold'], notBefore: now - 86_400_000, notAfter: now + 86_400_000 }]);
  return new CommandHandler({ db: journal.database, keys: centreKeys, operators: () => operators, site: SITE, lane: LANE, maxAgeSeconds: 120, target: nothing, logger });
}

/** What receives each kind, as the gate wires it: a function that throws what the receiver throws. */
function receivers(): Array<{ kind: string; typ: string; kid: string; payload: string; receive: (text: string) => unknown }> {
  const store = new ColourStatusStore();
  const sync = new ColourSync({ store, keys: centreKeys, site: SITE, config: { maxSyncAgeSeconds: 300, whenDegraded: 'staff' }, logger, checkIntervalMs: 3_600_000 });
  after(() => sync.stop());
  const handler = commandHandler();
  const lookup = new LookupClient({ keys: centreKeys, site: SITE, lane: LANE, timeoutMs: 1000, logger, publish: () => true });
  const now = Date.now();
  const command = b64json({ type: 'command', id: randomUUID(), site: SITE, lane: LANE, issuedAt: now, action: 'open' });
  return [
    { kind: 'colour change', typ: 'colour-change', kid: kidOf(centre), payload: b64json({ type: 'colour-change', site: SITE, seq: 1, issuedAt: now, changes: [] }), receive: (text) => sync.acceptChange(Buffer.from(text)) },
    { kind: 'colour snapshot', typ: 'colour-snapshot', kid: kidOf(centre), payload: b64json({ type: 'colour-snapshot', site: SITE, version: 1, seq: 0, issuedAt: now, statuses: [] }), receive: (text) => sync.acceptSnapshot(Buffer.from(text)) },
    { kind: 'command (centre)', typ: 'command', kid: kidOf(centre), payload: command, receive: (text) => handler.handle(Buffer.from(text)) },
    { kind: 'command (operator)', typ: 'command', kid: kidOf(operator), payload: command, receive: (text) => handler.handle(Buffer.from(text)) },
    { kind: 'look-up reply', typ: 'lookup-reply', kid: kidOf(centre), payload: b64json({ type: 'lookup-reply', correlationId: randomUUID(), site: SITE, lane: LANE, issuedAt: now, colour: 'green' }), receive: (text) => lookup.acceptReply(Buffer.from(text)) },
  ];
}

/** The error `receive` throws or rejects with; fails when it accepts. */
async function refusal(receive: () => unknown): Promise<unknown> {
  try {
    await receive();
  } catch (error) {
    return error;
  }
  return assert.fail('accepted');
}

test('every malformed JWS, of every kind the link receives, is refused as malformed naming what, by the part that receives it', async () => {
  let count = 0;
  for (const { kind, typ, kid, payload, receive } of receivers()) {
    for (const form of malformedJws(kid, typ, payload)) {
      const error = await refusal(() => receive(form.text));
      assert.ok(error instanceof MessageError, `${kind}, ${form.name}: ${String(error)}`);
      assert.equal(error.code, 'malformed', `${kind}, ${form.name}: ${error.message}`);
      assert.match(error.message, form.detail, `${kind}, ${form.name}`);
      count++;
    }
  }
  assert.ok(count >= 5 * 30, `${count} cases`);
});

test('every malformed JWS as the signed trust list: TrustError malformed, naming what and the file', () => {
  const payload = b64json({ type: 'trust-list', site: SITE, version: 2, issuedAt: Date.now(), certificates: [centreKey.certificatePem] });
  for (const form of malformedJws(kidOf(centre), 'trust-list', payload)) {
    assert.throws(
      () => openTrustList(Buffer.from(form.text), 'list.jws', { centreKeys, site: SITE }),
      (error: unknown) => {
        assert.ok(error instanceof TrustError, `${form.name}: ${String(error)}`);
        assert.equal(error.code, 'malformed', `${form.name}: ${error.message}`);
        assert.match(error.message, /^trust list list\.jws: refused: /);
        assert.match(error.message, form.detail, form.name);
        return true;
      },
    );
  }
});

test('the protected header JSON null, empty payload: malformed on every kind, not a TypeError', () => {
  const text = '{"protected":"bnVsbA","payload":"","signature":"AA"}';
  for (const typ of ['colour-change', 'colour-snapshot', 'command', 'lookup-reply'] as const satisfies readonly SignedType[]) {
    assert.throws(() => openSignedMessage(text, typ, centreKeys), (error: unknown) => error instanceof MessageError && error.code === 'malformed' && /protected header is not a JSON object \(null\)/.test(error.message), typ);
  }
  assert.throws(() => openJws(text, 'trust-list', centreKeys), (error: unknown) => error instanceof MessageError && error.code === 'malformed');
  assert.equal(jwsKid(text), null);
});

test('a well-formed JWS still opens, and its well-formed refusals keep their kinds', () => {
  const payload = { type: 'colour-change', site: SITE, seq: 1, issuedAt: Date.now(), changes: [] };
  const good = JSON.stringify(signJws('colour-change', payload, centre));
  assert.deepEqual(openSignedMessage(good, 'colour-change', centreKeys), payload);
  assert.deepEqual(parseJws(good).header, { alg: centre.algorithm, kid: kidOf(centre), typ: 'colour-change' });
  assert.deepEqual(jwsKid(good), centre.kid);
  const envelope = (header: unknown): string => JSON.stringify({ protected: b64json(header), payload: b64json(payload), signature: 'AAAA' });
  const refusedAs = (text: string, kind: string): void => {
    assert.throws(() => openSignedMessage(text, 'colour-change', centreKeys), (error: unknown) => error instanceof MessageError && error.code === kind, kind);
  };
  refusedAs(envelope({ alg: 'none', kid: kidOf(centre), typ: 'colour-change' }), 'bad-signature');
  refusedAs(envelope({ alg: 'HS256', kid: kidOf(centre), typ: 'colour-change' }), 'bad-signature');
  refusedAs(envelope({ alg: 'ES256', kid: kidOf(centre), typ: 'command' }), 'wrong-type');
  refusedAs(envelope({ alg: 'ES256', kid: kidOf(operator), typ: 'colour-change' }), 'unknown-key');
  refusedAs(envelope({ alg: 'ES256', kid: kidOf(centre), typ: 'colour-change' }), 'bad-signature');
  refusedAs(JSON.stringify({ payload: b64json(payload) }), 'unsigned');
});

test('by leaf: signed as the leaf\'s typ, opened only as that leaf, checked against the leaf\'s schema', () => {
  const now = Date.now();
  const change = { type: 'colour-change' as const, site: SITE, seq: 3, issuedAt: now, changes: [] };
  const signed = JSON.stringify(signLeafMessage('colour/change', change, centre));
  // The same header and payload as signing by typ (ES256 signatures differ each time): the leaf only names which typ.
  const byTyp = signJws('colour-change', change, centre);
  const byLeaf = JSON.parse(signed) as typeof byTyp;
  assert.deepEqual([byLeaf.protected, byLeaf.payload], [byTyp.protected, byTyp.payload]);
  assert.equal(parseJws(signed).header.typ, 'colour-change');
  assert.deepEqual(openLeafMessage(signed, 'colour/change', centreKeys), change);
  assert.deepEqual(openSignedMessage(signed, 'colour-change', centreKeys), change);
  const refusedAs = (open: () => unknown, kind: string, detail: RegExp): void => {
    assert.throws(open, (error: unknown) => error instanceof MessageError && error.code === kind && detail.test(error.message), kind);
  };
  // A colour change arriving on the snapshot or command leaf is the wrong type.
  refusedAs(() => openLeafMessage(signed, 'colour/snapshot', centreKeys), 'wrong-type', /signed as "colour-change", expected "colour-snapshot"/);
  refusedAs(() => openLeafMessage(signed, 'command', centreKeys), 'wrong-type', /expected "command"/);
  // Signed as the leaf's typ, but not of its schema.
  const notAChange = JSON.stringify(signJws('colour-change', { ...change, seq: 0 }, centre));
  refusedAs(() => openLeafMessage(notAChange, 'colour/change', centreKeys), 'schema', /seq/);

  const command = { type: 'command' as const, id: randomUUID(), site: SITE, lane: LANE, issuedAt: now, action: 'open' as const };
  const byOperator = JSON.stringify(signLeafMessage('command', command, operator));
  const operatorKeys = new TrustStore();
  operatorKeys.add(operatorKey.certificate);
  const opened = openLeafMessageWithSigner(byOperator, 'command', operatorKeys, 'operator');
  assert.deepEqual(opened.payload, command);
  assert.equal(opened.signer.certificate.fingerprint256, operatorKey.certificate.fingerprint256);
  refusedAs(() => openLeafMessageWithSigner(byOperator, 'command', centreKeys), 'unknown-key', /is not a centre key/);
  refusedAs(() => openLeafMessageWithSigner(byOperator, 'lookup/reply', operatorKeys, 'operator'), 'wrong-type', /expected "lookup-reply"/);
});
