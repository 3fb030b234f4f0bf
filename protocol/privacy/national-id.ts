/**
 * Checks a mainland resident identity number by GB 11643-1999 ("Citizen
 * identification number"): 6-digit region code, 8-digit birth date, 3-digit
 * sequence, 1 check character. Staff type it by hand, so every refusal says
 * which part is wrong, in Chinese and English, without echoing the number.
 */

export type NationalIdFailure = 'length' | 'characters' | 'birth-date' | 'region' | 'check-digit';

export interface NationalIdMessage {
  zh: string;
  en: string;
}

export type NationalIdCheck =
  | { ok: true; /** Upper-cased, trimmed: the form to seal. */ id: string; /** YYYY-MM-DD */ birthDate: string; masked: string }
  | { ok: false; reason: NationalIdFailure; message: NationalIdMessage; masked: string };

const MESSAGES: Record<NationalIdFailure, NationalIdMessage> = {
  length: { zh: '身份证号码应为18位', en: 'The ID number must have 18 characters' },
  characters: { zh: '身份证号码前17位应为数字，最后一位为数字或X', en: 'The ID number must be 17 digits followed by a digit or X' },
  'birth-date': { zh: '身份证号码中的出生日期无效', en: 'The birth date in the ID number is not valid' },
  region: { zh: '身份证号码中的地区代码无效', en: 'The region code in the ID number is not valid' },
  'check-digit': { zh: '身份证号码校验位不符，请核对后重新输入', en: 'The ID number check character does not match; please check and type it again' },
};

// GB 11643-1999 §8.2: ISO 7064 MOD 11-2, weight of position i is 2^(17-i) mod 11.
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
// Remainder 0..10 → check character (the X stands for 10).
const CHECK_CHARACTERS = '10X98765432';

// Province-level codes of GB/T 2260 (administrative divisions): 11–15 north,
// 21–23 north-east, 31–37 east, 41–46 centre-south, 50–54 south-west,
// 61–65 north-west, 71 Taiwan, 81 Hong Kong, 82 Macao.
const PROVINCES = new Set([
  11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
]);

const EARLIEST_BIRTH = Date.UTC(1900, 0, 1);

/** First 3 and last character kept, the rest starred: enough for staff to spot a typo, not enough to identify. */
export function maskNationalId(input: string): string {
  const s = input.trim();
  if (s.length < 8) return '*'.repeat(s.length);
  return `${s.slice(0, 3)}${'*'.repeat(s.length - 4)}${s.slice(-1)}`;
}

/** The check character of the first 17 digits (GB 11643-1999 §8.2). */
export function nationalIdCheckCharacter(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new TypeError('nationalIdCheckCharacter needs 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]!;
  return CHECK_CHARACTERS[sum % 11]!;
}

function fail(reason: NationalIdFailure, input: string): NationalIdCheck {
  return { ok: false, reason, message: MESSAGES[reason], masked: maskNationalId(input) };
}

/** `now` decides what "in the future" means; injected for tests. */
export function checkNationalId(input: string, now: Date = new Date()): NationalIdCheck {
  const id = input.trim().toUpperCase();
  if (id.length !== 18) return fail('length', input);
  if (!/^\d{17}[\dX]$/.test(id)) return fail('characters', input);

  const year = Number(id.slice(6, 10));
  const month = Number(id.slice(10, 12));
  const day = Number(id.slice(12, 14));
  const birth = Date.UTC(year, month - 1, day);
  const date = new Date(birth);
  // Date.UTC rolls 31 February over to March: a real date survives the round trip.
  const real = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  if (!real || birth < EARLIEST_BIRTH || birth > now.getTime()) return fail('birth-date', input);

  // A county-level code never ends in 0000 (that is a province's own code).
  if (!PROVINCES.has(Number(id.slice(0, 2))) || id.slice(2, 6) === '0000') return fail('region', input);

  if (nationalIdCheckCharacter(id.slice(0, 17)) !== id[17]) return fail('check-digit', input);
  return { ok: true, id, birthDate: `${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`, masked: maskNationalId(id) };
}
