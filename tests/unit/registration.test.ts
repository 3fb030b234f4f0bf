import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nationalIdCheckCharacter } from '../../protocol/privacy/national-id.js';
import { isRegistrationRefusal } from '../../protocol/privacy/errors.js';
import { checkRegistrationDetails } from '../../protocol/privacy/registration.js';

const ID = `44030419850101123${nationalIdCheckCharacter('44030419850101123')}`;

/** Each refused field has its own code. */
const CODE_OF_FIELD = { details: 'registration-details', name: 'registration-name', nationalId: 'registration-national-id', phone: 'registration-phone' };

function refusedOn(details: Parameters<typeof checkRegistrationDetails>[0]): string {
  try {
    checkRegistrationDetails(details);
  } catch (error) {
    assert.ok(isRegistrationRefusal(error), String(error));
    assert.ok(error.bilingual.zh && error.bilingual.en);
    assert.equal(error.code, CODE_OF_FIELD[error.field]);
    assert.equal(error.message, `${error.bilingual.zh} / ${error.bilingual.en}`);
    return error.field;
  }
  return 'accepted';
}

test('registration details: mobile or landline phones, a valid ID number, a name', () => {
  assert.deepEqual(checkRegistrationDetails({ name: ' 吴十 ', nationalId: ID.toLowerCase(), phone: '13800000000' }), { name: '吴十', nationalId: ID, phone: '13800000000' });
  assert.equal(refusedOn({ name: '吴十', nationalId: ID, phone: '010-12345678' }), 'accepted');
  assert.equal(refusedOn({ name: '吴十', nationalId: ID, phone: '0755-88886666-12' }), 'accepted');
  assert.equal(refusedOn({ name: '吴十', nationalId: ID, phone: '88886666' }), 'accepted');
  assert.equal(refusedOn({ name: '吴十', nationalId: ID, phone: '12800000000' }), 'phone');
  assert.equal(refusedOn({ name: '吴十', nationalId: ID, phone: '138 0000 0000' }), 'phone');
  assert.equal(refusedOn({ name: '吴十', nationalId: ID, phone: '010--1234567' }), 'phone');
  assert.equal(refusedOn({ name: '吴十', nationalId: ID, phone: '' }), 'phone');
  assert.equal(refusedOn({ name: '  ', nationalId: ID, phone: '13800000000' }), 'name');
  assert.equal(refusedOn({ name: '吴十', nationalId: `${ID.slice(0, 17)}${ID[17] === '1' ? '2' : '1'}`, phone: '13800000000' }), 'nationalId');
  assert.equal(refusedOn(undefined), 'details');
});
