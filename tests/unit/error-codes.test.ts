/**
 * Error codes are a contract: each area's exported code list is the one
 * docs/errors.md documents, in the same order, so a code cannot be added,
 * removed or renamed without the page saying so. Also: each area's error
 * has its name, its code, and passes a cause on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CENTRE_ERRORS, CentreError } from '../../centre/errors.js';
import { CONSOLE_ERRORS, ConsoleError } from '../../console/errors.js';
import { RECORD_ERRORS, RecordError } from '../../record/errors.js';
import { DEVICE_ERRORS, DeviceError, isBoardError, isCameraError, isFrameError, isImageError } from '../../device/errors.js';
import { GATE_DATABASE_ERRORS, GateDatabaseError } from '../../edge-agent/database/errors.js';
import { CONFIG_ERRORS, CONFIG_TEXT_ERRORS, ConfigError } from '../../protocol/config/errors.js';
import { SECURITY_KINDS } from '../../protocol/contract.js';
import { CREDENTIAL_FAILURES, CredentialError } from '../../protocol/credential/failure.js';
import {
  CONTRACT_ERRORS,
  isContractError,
  isJsonBoundsError,
  isSecurityRefusal,
  JSON_BOUNDS_ERRORS,
  MESSAGE_ERRORS,
  MessageError,
  SECURITY_REFUSALS,
} from '../../protocol/message-error.js';
import { isRegistrationRefusal, PRIVACY_ERRORS, PrivacyError, REGISTRATION_ERRORS } from '../../protocol/privacy/errors.js';
import { TRUST_ERRORS, TrustError } from '../../protocol/trust/errors.js';
import { PROVISION_ERRORS, ProvisionError } from '../../provisioning/site/errors.js';

const DOC = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

/** The code column of the table in each `## area` section that has one. */
function documentedCodes(markdown: string): Map<string, string[]> {
  const areas = new Map<string, string[]>();
  for (const section of markdown.split(/^## /m).slice(1)) {
    const heading = section.slice(0, section.indexOf('\n')).trim();
    const codes = [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
    if (codes.length > 0) areas.set(heading, codes);
  }
  return areas;
}

const AREAS: Record<string, readonly string[]> = {
  device: DEVICE_ERRORS,
  credential: CREDENTIAL_FAILURES,
  trust: TRUST_ERRORS,
  privacy: PRIVACY_ERRORS,
  provisioning: PROVISION_ERRORS,
  config: CONFIG_ERRORS,
  message: MESSAGE_ERRORS,
  'gate database': GATE_DATABASE_ERRORS,
  record: RECORD_ERRORS,
  console: CONSOLE_ERRORS,
  centre: CENTRE_ERRORS,
};

test('docs/errors.md documents every area, and only those, with a code table', () => {
  assert.deepEqual([...documentedCodes(DOC).keys()].sort(), Object.keys(AREAS).sort());
});

for (const [area, codes] of Object.entries(AREAS)) {
  test(`${area}: the exported codes are the ones docs/errors.md lists, in its order`, () => {
    assert.deepEqual([...codes], documentedCodes(DOC).get(area));
  });

  test(`${area}: no code twice`, () => {
    assert.equal(new Set(codes).size, codes.length);
  });
}

test('the doc parser reads a table and ignores sections without one', () => {
  const doc = '# T\n\n## a\n\n| Code | Means |\n| --- | --- |\n| `x` | one |\n| `y-z` | two |\n\n## b\n\nno table, `w`\n';
  assert.deepEqual([...documentedCodes(doc)], [['a', ['x', 'y-z']]]);
});

test('each area error: its name, its code, the message, and a cause passed on', () => {
  const cause = new Error('underneath');
  const errors = [
    new DeviceError('ready-timeout', 'm', { cause }),
    new CredentialError('expired', 'm', { cause }),
    new TrustError('not-newer', 'm', { cause }),
    new PrivacyError('wrong-key', 'm', { cause }),
    new ProvisionError('locked', 'm', { cause }),
    new ConfigError('file', 'm', { cause }),
    new MessageError('schema', 'm', { cause }),
    new GateDatabaseError('newer-schema', 'm', { cause }),
    new RecordError('store-unavailable', 'm', { cause }),
    new ConsoleError('commands-disabled', 'm', { cause }),
    new CentreError('key-file', 'm', { cause }),
  ];
  assert.deepEqual(
    errors.map((e) => [e.name, e.code]),
    [
      ['DeviceError', 'ready-timeout'],
      ['CredentialError', 'expired'],
      ['TrustError', 'not-newer'],
      ['PrivacyError', 'wrong-key'],
      ['ProvisionError', 'locked'],
      ['ConfigError', 'file'],
      ['MessageError', 'schema'],
      ['GateDatabaseError', 'newer-schema'],
      ['RecordError', 'store-unavailable'],
      ['ConsoleError', 'commands-disabled'],
      ['CentreError', 'key-file'],
    ],
  );
  for (const error of errors) {
    assert.ok(error instanceof Error);
    assert.equal(error.message, 'm');
    assert.equal(error.cause, cause);
    assert.match(String(error), new RegExp(`^${error.name}: m$`));
  }
});

test('device: each guard takes its own part of the codes and nothing else', () => {
  const board = new DeviceError('no-port', 'm');
  const camera = new DeviceError('timeout', 'm');
  const frame = new DeviceError('bad-frame', 'm');
  const image = new DeviceError('too-large', 'm');
  const guards = [isBoardError, isCameraError, isFrameError, isImageError];
  assert.deepEqual(
    [board, camera, frame, image].map((error) => guards.map((guard) => guard(error))),
    [
      [true, false, false, false],
      [false, true, false, false],
      [false, false, true, false],
      [false, false, false, true],
    ],
  );
  // A code string alone, on another error, is not a device error.
  assert.equal(isBoardError(Object.assign(new Error('m'), { code: 'no-port' })), false);
});

test('privacy: a registration refusal carries its field and bilingual message; other privacy errors do not', () => {
  const bilingual = { zh: '请填写姓名', en: 'Enter the name' };
  const refused = PrivacyError.registration('name', bilingual);
  assert.ok(isRegistrationRefusal(refused));
  assert.equal(refused.code, 'registration-name');
  assert.equal(refused.field, 'name');
  assert.deepEqual(refused.bilingual, bilingual);
  assert.equal(refused.message, '请填写姓名 / Enter the name');
  assert.ok((REGISTRATION_ERRORS as readonly string[]).includes(refused.code));
  const sealed = new PrivacyError('malformed', 'm');
  assert.equal(isRegistrationRefusal(sealed), false);
  assert.equal(sealed.field, undefined);
  assert.equal(sealed.bilingual, undefined);
});

test('config: the file text problems are codes of ConfigError, in the list', () => {
  for (const code of CONFIG_TEXT_ERRORS) assert.ok((CONFIG_ERRORS as readonly string[]).includes(code), code);
});

test('message: the refusals are the security kinds, exactly, and no other code is one', () => {
  assert.deepEqual([...SECURITY_REFUSALS], [...SECURITY_KINDS]);
  assert.deepEqual(MESSAGE_ERRORS.slice(0, SECURITY_KINDS.length), [...SECURITY_KINDS]);
  for (const code of [...CONTRACT_ERRORS, ...JSON_BOUNDS_ERRORS]) assert.ok(!(SECURITY_KINDS as readonly string[]).includes(code), code);
});

test('message: each guard takes its own part of the codes and nothing else', () => {
  const refused = new MessageError('replayed', 'm');
  const contract = new MessageError('contract', 'm', { schema: 'command' });
  const bounds = new MessageError('too-deep', 'm');
  const guards = [isSecurityRefusal, isContractError, isJsonBoundsError];
  assert.deepEqual(
    [refused, contract, bounds].map((error) => guards.map((guard) => guard(error))),
    [
      [true, false, false],
      [false, true, false],
      [false, false, true],
    ],
  );
  assert.equal(contract.schema, 'command');
  assert.equal(refused.schema, undefined);
  assert.ok(!('cause' in refused), 'no cause unless one is given');
  // A security kind on another error is not a refusal: the link reports only its own.
  assert.equal(isSecurityRefusal(Object.assign(new Error('m'), { code: 'replayed' })), false);
});
