/**
 * Byte-level tests of the MLX90614 controller: the SMBus PEC (CRC-8, 0x07) and
 * the RAM word decoding (§8.7: T = word × 0.02 K, bit 15 = error flag).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compensateEmissivity,
  decodeWord,
  emissivityFromWord,
  readWordPec,
  smbusPec,
} from '../../device/thermometer/mlx90614.js';

test('PEC: the CRC-8/SMBUS check value of the CRC catalogue', () => {
  // Greg Cook's CRC RevEng catalogue, CRC-8/SMBUS: width=8 poly=0x07 init=0x00
  // refin=false refout=false xorout=0x00 check=0xf4 (the CRC of ASCII "123456789").
  assert.equal(smbusPec(Buffer.from('123456789', 'ascii')), 0xf4);
  assert.equal(smbusPec([]), 0x00);
  // One byte: CRC-8 with init 0 of a single byte b is the table entry for b; 0x01 → 0x07 (the polynomial itself).
  assert.equal(smbusPec([0x01]), 0x07);
});

test('PEC: worked values from Melexis documents', () => {
  // MLX90614 datasheet, SMBus read word example: SA 0x5A reads RAM 0x07,
  // bytes on the wire B4 07 B5, data D2 3A, PEC 0x30.
  assert.equal(smbusPec([0xb4, 0x07, 0xb5, 0xd2, 0x3a]), 0x30);
  assert.equal(readWordPec(0x5a, 0x07, 0xd2, 0x3a), 0x30);
  // Application note "SMBus communication with MLX90614": erasing EEPROM 0x0E at
  // slave address 0x00: bytes 00 2E 00 00, PEC 0x6F.
  assert.equal(smbusPec([0x00, 0x2e, 0x00, 0x00]), 0x6f);
  // The sleep command at 0x5A: B4 FF, PEC 0xE8 (datasheet, sleep mode; as quoted on
  // forum.pycom.io/topic/4925).
  assert.equal(smbusPec([0xb4, 0xff]), 0xe8);
});

test('PEC: any single flipped bit is caught', () => {
  const bytes = [0xb4, 0x07, 0xb5, 0xd2, 0x3a];
  for (let index = 0; index < bytes.length; index++) {
    for (let bit = 0; bit < 8; bit++) {
      const flipped = [...bytes];
      flipped[index] = (flipped[index] ?? 0) ^ (1 << bit);
      assert.notEqual(smbusPec(flipped), 0x30, `byte ${index} bit ${bit}`);
    }
  }
});

test('decodeWord: the datasheet example word 0x3AD2 = 15058 × 0.02 K = 301.16 K = 28.01 °C', () => {
  const decoded = decodeWord(0xd2, 0x3a, 0x30, 0x5a, 0x07);
  assert.equal(decoded.ok, true);
  if (!decoded.ok) return;
  assert.equal(decoded.word, 0x3ad2);
  assert.ok(Math.abs(decoded.kelvin - 301.16) < 1e-9);
  assert.ok(Math.abs(decoded.celsius - 28.01) < 1e-9);
});

test('decodeWord: 0x3AF7 = 15095 × 0.02 K = 301.90 K = 28.75 °C (not 28.37)', () => {
  const pec = readWordPec(0x5a, 0x07, 0xf7, 0x3a);
  const decoded = decodeWord(0xf7, 0x3a, pec, 0x5a, 0x07);
  assert.ok(decoded.ok);
  assert.ok(Math.abs(decoded.celsius - 28.75) < 1e-9);
  // 0 °C = 273.15 K = 13657.5 LSB: 0x3559 = 13657 → −0.01 °C; 36.55 °C = 15485 = 0x3C7D exactly.
  const zero = decodeWord(0x59, 0x35, readWordPec(0x5a, 0x06, 0x59, 0x35), 0x5a, 0x06);
  assert.ok(zero.ok && Math.abs(zero.celsius - -0.01) < 1e-9);
  const body = decodeWord(0x7d, 0x3c, readWordPec(0x5a, 0x07, 0x7d, 0x3c), 0x5a, 0x07);
  assert.ok(body.ok && Math.abs(body.celsius - 36.55) < 1e-9);
});

test('decodeWord: a wrong PEC is reported with both values; the address and command are part of it', () => {
  const bad = decodeWord(0xd2, 0x3a, 0x31, 0x5a, 0x07);
  assert.deepEqual(bad, { ok: false, error: 'pec', word: 0x3ad2, expected: 0x30, received: 0x31 });
  // The same bytes read from RAM 0x06 or from another address carry another PEC.
  assert.equal(decodeWord(0xd2, 0x3a, 0x30, 0x5a, 0x06).ok, false);
  assert.equal(decodeWord(0xd2, 0x3a, 0x30, 0x5b, 0x07).ok, false);
});

test('decodeWord: bit 15 is the error flag, checked after the PEC', () => {
  const pec = readWordPec(0x5a, 0x07, 0xd2, 0xba);
  assert.deepEqual(decodeWord(0xd2, 0xba, pec, 0x5a, 0x07), { ok: false, error: 'error-flag', word: 0xbad2 });
  // A corrupted flagged word is a PEC error first: the flag of a word that failed its PEC means nothing.
  const corrupted = decodeWord(0xd2, 0xba, pec ^ 1, 0x5a, 0x07);
  assert.equal(corrupted.ok === false && corrupted.error, 'pec');
});

test('emissivity: EEPROM word round(65535 × ε), and the compensation undoes a wrong ε', () => {
  assert.equal(emissivityFromWord(0xffff), 1);
  assert.ok(Math.abs(emissivityFromWord(Math.round(65535 * 0.98)) - 0.98) < 1e-5);
  const ambientK = 298.15;
  const trueK = 309.7;
  // What a device set to ε = 1 reports for a target of ε = 0.95 (radiated-power balance)...
  const reportedK = (ambientK ** 4 + 0.95 * (trueK ** 4 - ambientK ** 4)) ** 0.25;
  assert.ok(reportedK < trueK - 0.4, 'a lower emissivity reads colder');
  // ...and what the driver recovers from it.
  assert.ok(Math.abs(compensateEmissivity(reportedK, ambientK, 1, 0.95) - trueK) < 1e-9);
  assert.equal(compensateEmissivity(trueK, ambientK, 0.95, 0.95), trueK);
});
