/**
 * Base45 (RFC 9285). Written here rather than taken from npm because the
 * gate must refuse, not repair, a bad text: every character is checked
 * against the alphabet (§4), a lone trailing character is refused (§4.2)
 * and so is a group whose value exceeds its byte width (§6). The packages
 * on npm decode such input to garbage without a word, and the decoder sits
 * on the gate's hot path where one pass over the text is all we want.
 */
import { CredentialError } from './failure.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

/** Character code → value 0..44, or -1 outside the alphabet. */
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

function valueAt(text: string, index: number): number {
  const code = text.charCodeAt(index);
  const value = code < 128 ? VALUE[code]! : -1;
  if (value < 0) {
    throw new CredentialError(
      'base45',
      `character ${JSON.stringify(text[index])} at position ${index} is not in the base45 alphabet`,
    );
  }
  return value;
}

export function base45Decode(text: string): Buffer {
  if (text.length % 3 === 1) {
    throw new CredentialError('base45', `base45 text of length ${text.length} leaves a lone character`);
  }
  const out = Buffer.allocUnsafe(Math.floor(text.length / 3) * 2 + (text.length % 3 === 2 ? 1 : 0));
  let o = 0;
  let i = 0;
  for (; i + 3 <= text.length; i += 3) {
    const n = valueAt(text, i) + valueAt(text, i + 1) * 45 + valueAt(text, i + 2) * 2025;
    if (n > 0xffff) throw new CredentialError('base45', `base45 group at position ${i} exceeds 65535`);
    out[o++] = n >> 8;
    out[o++] = n & 0xff;
  }
  if (i < text.length) {
    const n = valueAt(text, i) + valueAt(text, i + 1) * 45;
    if (n > 0xff) throw new CredentialError('base45', `base45 group at position ${i} exceeds 255`);
    out[o++] = n;
  }
  return out;
}

export function base45Encode(bytes: Uint8Array): string {
  let text = '';
  let i = 0;
  for (; i + 2 <= bytes.length; i += 2) {
    let n = bytes[i]! * 256 + bytes[i + 1]!;
    const c = n % 45;
    n = (n - c) / 45;
    const d = n % 45;
    const e = (n - d) / 45;
    text += ALPHABET[c]! + ALPHABET[d]! + ALPHABET[e]!;
  }
  if (i < bytes.length) {
    const n = bytes[i]!;
    text += ALPHABET[n % 45]! + ALPHABET[Math.floor(n / 45)]!;
  }
  return text;
}
