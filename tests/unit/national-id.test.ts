/** GB 11643-1999 ID number check: valid numbers built here, each failure named, the number never echoed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNationalId, maskNationalId } from '../../protocol/privacy/national-id.js';

const NOW = new Date('2026-11-25T12:00:00Z');

// The standard's own formula (GB 11643-1999 §8.2), written independently of
// the module: W_i = 2^(i-1) mod 11 counted from the right, a1 = (12 - S mod 11) mod 11.
function checkChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * (2 ** (17 - i) % 11);
  const a = (12 - (sum % 11)) % 11;
  return a === 10 ? 'X' : String(a);
}

function build(region: string, birth: string, seq: string): string {
  const first17 = `${region}${birth}${seq}`;
  return first17 + checkChar(first17);
}

function wrongCheck(id: string): string {
  const right = id[17]!;
  const other = right === '0' ? '1' : '0';
  return id.slice(0, 17) + other;
}

test('national id: numbers built by the standard pass, with the birth date', () => {
  for (const [region, birth] of [['440106', '19900307'], ['110105', '20000229'], ['820001', '19000101'], ['650102', '20261125']] as const) {
    const id = build(region, birth, '123');
    const result = checkNationalId(id, NOW);
    assert.ok(result.ok, `${region} ${birth}`);
    assert.equal(result.id, id);
    assert.equal(result.birthDate, `${birth.slice(0, 4)}-${birth.slice(4, 6)}-${birth.slice(6)}`);
  }
});

test('national id: a check character X passes in either case, spaces trimmed', () => {
  let id = '';
  for (let seq = 0; seq < 1000 && !id.endsWith('X'); seq++) id = build('440106', '19850612', String(seq).padStart(3, '0'));
  assert.ok(id.endsWith('X'), 'some sequence number gives X');
  const lower = checkNationalId(` ${id.slice(0, 17)}x `, NOW);
  assert.ok(lower.ok);
  assert.equal(lower.id, id);
});

test('national id: each failure has its reason and a message in Chinese and English', () => {
  const good = build('440106', '19900307', '123');
  const cases: [string, string][] = [
    [good.slice(0, 17), 'length'],
    [good + '1', 'length'],
    ['', 'length'],
    [`${good.slice(0, 16)}A${good[17]}`, 'characters'],
    [`${good.slice(0, 17)}Y`, 'characters'],
    [build('440106', '19900230', '123'), 'birth-date'],
    [build('440106', '19901301', '123'), 'birth-date'],
    [build('440106', '19890229', '123'), 'birth-date'],
    [build('440106', '18991231', '123'), 'birth-date'],
    [build('440106', '20261126', '123'), 'birth-date'],
    [build('000000', '19900307', '123'), 'region'],
    [build('990101', '19900307', '123'), 'region'],
    [build('440000', '19900307', '123'), 'region'],
    [build('830101', '19900307', '123'), 'region'],
    [wrongCheck(good), 'check-digit'],
    [`${good.slice(0, 9)}${(Number(good[9]) + 1) % 10}${good.slice(10)}`, 'check-digit'],
  ];
  for (const [input, reason] of cases) {
    const result = checkNationalId(input, NOW);
    assert.equal(result.ok, false, input);
    if (result.ok) continue;
    assert.equal(result.reason, reason, input);
    assert.match(result.message.zh, /身份证/);
    assert.match(result.message.en, /ID number/);
    // Nothing returned repeats the number.
    if (input.length >= 8) assert.ok(!JSON.stringify(result).includes(input.slice(3, -1)), `no echo of ${reason}`);
  }
});

test('national id: the mask keeps the first 3 and the last character only', () => {
  const id = build('440106', '19900307', '123');
  assert.equal(maskNationalId(id), `440${'*'.repeat(14)}${id[17]}`);
  const result = checkNationalId(id, NOW);
  assert.equal(result.masked, maskNationalId(id));
  assert.equal(maskNationalId('1234'), '****');
});
