/**
 * The details staff enter for a person without a code,
 * checked before anything is sealed. Refusals name the field in Chinese and
 * English and never echo what was typed.
 */
import { PrivacyError } from './errors.js';
import { checkNationalId } from './national-id.js';

export interface RegistrationDetails {
  name: string;
  nationalId: string;
  phone: string;
}

// Mainland mobile, or a landline: optional area code, 7-8 digit number, optional extension (010-12345678-123).
const MOBILE = /^1[3-9]\d{9}$/;
const LANDLINE = /^(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?$/;

/** The details trimmed and upper-cased where it matters; throws a PrivacyError with a registration code (isRegistrationRefusal). */
export function checkRegistrationDetails(details: RegistrationDetails | undefined, now: Date = new Date()): RegistrationDetails {
  if (!details) throw PrivacyError.registration('details', { zh: '请填写姓名、身份证号码和电话', en: 'Enter the name, ID number and phone' });
  const name = typeof details.name === 'string' ? details.name.trim() : '';
  if (name.length === 0 || name.length > 64) {
    throw PrivacyError.registration('name', { zh: '请填写姓名（最多64个字）', en: 'Enter the name (at most 64 characters)' });
  }
  const id = checkNationalId(typeof details.nationalId === 'string' ? details.nationalId : '', now);
  if (!id.ok) throw PrivacyError.registration('nationalId', id.message);
  const phone = typeof details.phone === 'string' ? details.phone.trim() : '';
  if (!MOBILE.test(phone) && !LANDLINE.test(phone)) {
    throw PrivacyError.registration('phone', {
      zh: '电话号码无效：请填写11位手机号码或带区号的固定电话',
      en: 'The phone number is not valid: enter an 11-digit mobile number or a landline with its area code',
    });
  }
  return { name, nationalId: id.id, phone };
}
