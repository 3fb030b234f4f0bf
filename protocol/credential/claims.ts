/**
 * The claims of the two profiles the verifier reads, checked and reduced to
 * what the gate may show or keep.
 *
 * GZHC1 (docs/credential-profile.md): CWT claims iss, sub, iat, exp and, if
 * present, nbf (RFC 8392 §3.1) plus one private-use claim (key below -65536,
 * RFC 8392 §9.1) holding { 1: version, 2: colour, 3: code kind, 4: masked name }.
 * EU DCC: the hcert claim -260 holding { 1: the DCC payload } (eHealth
 * Network, "Technical Specifications for EU DCC", vol. 1 §2.6.3).
 */
import { COLOURS, CODE_KINDS, type Colour, type CodeKind } from '../domain.js';
import { CredentialError } from './failure.js';

export const CWT_ISS = 1;
export const CWT_SUB = 2;
export const CWT_EXP = 4;
export const CWT_NBF = 5;
export const CWT_IAT = 6;
export const CLAIM_HCERT = -260;
export const CLAIM_GZHC = -65537;
export const GZHC_VERSION = 1;
export const GZHC_FIELD = { version: 1, colour: 2, kind: 3, maskedName: 4 } as const;

export interface CwtCore {
  iss: string | null;
  iat: number | null;
  exp: number | null;
}

export interface GzhcClaims {
  sub: string;
  /** Absent on printed codes: paper cannot show a live colour. */
  colour: Colour | null;
  kind: CodeKind;
  maskedName: string;
}

/** DCC certificate types and the extended key usage OIDs that allow them (DCC tech spec vol. 1 §5.1.1). */
export type DccType = 'v' | 't' | 'r';

export interface DccClaims {
  type: DccType | null;
  /**
   * What may be shown of the DCC payload: a whitelist (see readDccClaims). Names
   * are reduced to their initial, the date of birth to "****-**-**", and no
   * certificate identifier (ci) or other field outside the whitelist is kept.
   */
  masked: Record<string, unknown>;
}

function asNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * nbf (5), RFC 8392 §3.1.5: null when absent; a claims failure when present but
 * not a number, since a code must not be taken as valid earlier than it says.
 */
export function readNotBefore(claims: Map<unknown, unknown>): number | null {
  if (!claims.has(CWT_NBF)) return null;
  const nbf = asNumber(claims.get(CWT_NBF));
  if (nbf === null) throw new CredentialError('claims', 'claim nbf (5) is present but not a number');
  return nbf;
}

export function readCwtCore(claims: Map<unknown, unknown>): CwtCore {
  const iss = claims.get(CWT_ISS);
  return {
    iss: typeof iss === 'string' ? iss : null,
    iat: asNumber(claims.get(CWT_IAT)),
    exp: asNumber(claims.get(CWT_EXP)),
  };
}

/**
 * A run of 15 or more digits anywhere: an 18-digit resident ID (GB 11643; its
 * first 17 characters are digits), the old 15-digit one, or either wrapped in
 * other text ("ID520101199001011234"). A national ID must never be a code's subject.
 */
const NATIONAL_ID = /\d{15}/;

export function readGzhcClaims(claims: Map<unknown, unknown>, core: CwtCore): GzhcClaims {
  const fail = (message: string): never => {
    throw new CredentialError('claims', message);
  };
  if (!core.iss) fail('claim iss (1) is missing or not text');
  if (core.iat === null) fail('claim iat (6) is missing or not a number');
  if (core.exp === null) fail('claim exp (4) is missing or not a number');
  if (core.exp! <= core.iat!) fail('claim exp is not after iat');

  const sub = claims.get(CWT_SUB);
  if (typeof sub !== 'string' || sub.length < 8 || sub.length > 64) fail('claim sub (2) must be a pseudonymous code id of 8 to 64 characters');
  if (NATIONAL_ID.test(sub as string)) fail('claim sub looks like a national ID number; codes must carry a pseudonymous id');

  const body = claims.get(CLAIM_GZHC);
  if (!(body instanceof Map)) return fail(`health-code claim ${CLAIM_GZHC} is missing or not a map`);
  if (body.get(GZHC_FIELD.version) !== GZHC_VERSION) fail(`health-code claim version must be ${GZHC_VERSION}`);

  const kind = body.get(GZHC_FIELD.kind);
  if (!CODE_KINDS.includes(kind as CodeKind)) fail(`code kind must be one of ${CODE_KINDS.join(', ')}`);

  const colour = body.get(GZHC_FIELD.colour);
  if (colour !== undefined && !COLOURS.includes(colour as Colour)) fail(`colour must be one of ${COLOURS.join(', ')}`);
  if (kind === 'dynamic' && colour === undefined) fail('a dynamic code must carry its colour');

  const maskedName = body.get(GZHC_FIELD.maskedName);
  if (typeof maskedName !== 'string' || maskedName.length === 0 || [...maskedName].length > 32) {
    fail('masked name must be text of 1 to 32 characters');
  }
  if (!(maskedName as string).includes('*')) fail('name must be masked (at least one "*")');

  return {
    sub: sub as string,
    colour: (colour as Colour | undefined) ?? null,
    kind: kind as CodeKind,
    maskedName: maskedName as string,
  };
}

/** The integers a JavaScript number holds exactly: ±(2^53 − 1). */
const MIN_EXACT = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

function pathStep(key: unknown): string {
  return typeof key === 'string' ? key : typeof key === 'number' || typeof key === 'bigint' ? String(key) : `(${typeof key} key)`;
}

/**
 * cbor-x decodes an integer written in 8 bytes as a bigint, whatever its size,
 * and a bigint must never reach a result (JSON cannot print one). Here those
 * within ±(2^53 − 1) become numbers, so a claim means the same however it was
 * encoded, and those beyond become their decimal text, for display only: the
 * first one is returned as a `claims` refusal naming where it stands, which
 * the verifier reports in its turn. A float that is NaN or infinite (CBOR
 * can write them, JSON cannot, and no claim of either profile is one) is
 * turned into its text and refused the same way. `claims` is returned as is
 * when it holds neither (the usual case), else as a copy.
 */
export function exactNumbers(claims: Map<unknown, unknown>): { claims: Map<unknown, unknown>; refusal: CredentialError | null } {
  let refusal: CredentialError | null = null;
  // The keys down to the value being looked at, turned into a path only for a refusal.
  const path: unknown[] = [];
  const exact = (value: unknown): unknown => {
    if (typeof value === 'bigint') {
      if (value >= MIN_EXACT && value <= MAX_EXACT) return Number(value);
      refusal ??= new CredentialError(
        'claims',
        `claim ${path.map(pathStep).join(' → ')} is the integer ${value}, beyond the ±(2^53 − 1) a number holds exactly`,
      );
      return value.toString();
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      refusal ??= new CredentialError('claims', `claim ${path.map(pathStep).join(' → ')} is ${value}, which no claim can be`);
      return String(value);
    }
    if (value instanceof Map) {
      let copy: Map<unknown, unknown> | null = null;
      let index = 0;
      for (const [key, item] of value) {
        path.push(key);
        const newKey = exact(key);
        const newItem = exact(item);
        path.pop();
        if (copy === null && (newKey !== key || newItem !== item)) copy = new Map([...value].slice(0, index));
        copy?.set(newKey, newItem);
        index++;
      }
      return copy ?? value;
    }
    if (Array.isArray(value)) {
      let copy: unknown[] | null = null;
      for (let index = 0; index < value.length; index++) {
        const item: unknown = value[index];
        path.push(index);
        const newItem = exact(item);
        path.pop();
        if (copy === null && newItem !== item) copy = value.slice(0, index);
        copy?.push(newItem);
      }
      return copy ?? value;
    }
    return value;
  };
  return { claims: exact(claims) as Map<unknown, unknown>, refusal };
}

/** Turn CBOR maps with text keys into plain objects, for JSON output. */
function toPlain(value: unknown): unknown {
  if (value instanceof Map) {
    // Defined, not assigned: a "__proto__" key in the payload must stay a field, not become the object's prototype.
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) Object.defineProperty(out, String(k), { value: toPlain(v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

const NAME_FIELDS = ['fn', 'fnt', 'gn', 'gnt'] as const;
/**
 * Fields of a v/t/r entry that identify no one: disease (tg), country (co),
 * issuer (is), the dates (dt vaccination, sc sample, fr first positive, df/du
 * valid from/until) and the vaccine (vp, mp, ma, dn, sd). Everything else, the
 * certificate identifier (ci) above all, is left out.
 */
const ENTRY_FIELDS = ['tg', 'co', 'is', 'dt', 'sc', 'fr', 'df', 'du', 'vp', 'mp', 'ma', 'dn', 'sd'] as const;
const DCC_TYPES = ['v', 't', 'r'] as const;

/** The initial and a star, whatever the length: "Musterfrau" → "M*". */
export function initialOnly(text: string): string {
  const [first] = text;
  return first === undefined ? '*' : `${first}*`;
}

function pick(source: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) if (source[field] !== undefined) out[field] = source[field];
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function readDccClaims(claims: Map<unknown, unknown>): DccClaims {
  const hcert = claims.get(CLAIM_HCERT);
  const payload = hcert instanceof Map ? hcert.get(1) : undefined;
  // A DCC whose payload is not a map fails at decoding (suite vector CBO1), not at claims.
  if (!(payload instanceof Map)) throw new CredentialError('cose', 'hcert claim -260 with key 1 is missing or not a CBOR map');
  const plain = toPlain(payload) as Record<string, unknown>;
  const types = DCC_TYPES.filter((t) => Array.isArray(plain[t]) && (plain[t] as unknown[]).length > 0);

  // A whitelist, not a blacklist: a field the DCC schema adds later stays hidden until it is judged harmless.
  const masked: Record<string, unknown> = {};
  if (plain.ver !== undefined) masked.ver = plain.ver;
  if (isRecord(plain.nam)) {
    const nam: Record<string, unknown> = {};
    for (const field of NAME_FIELDS) {
      const value = plain.nam[field];
      if (typeof value === 'string') nam[field] = initialOnly(value);
    }
    masked.nam = nam;
  }
  if (plain.dob !== undefined) masked.dob = '****-**-**';
  for (const type of types) {
    masked[type] = (plain[type] as unknown[]).map((entry) => (isRecord(entry) ? pick(entry, ENTRY_FIELDS) : {}));
  }
  return { type: types.length === 1 ? types[0]! : null, masked };
}

/** DCC signer certificate extended key usage OIDs (DCC tech spec vol. 1 §5.1.1), both arcs in use. */
const DCC_USAGE_OIDS: Record<DccType, readonly string[]> = {
  t: ['1.3.6.1.4.1.1847.2021.1.1', '1.3.6.1.4.1.0.1847.2021.1.1'],
  v: ['1.3.6.1.4.1.1847.2021.1.2', '1.3.6.1.4.1.0.1847.2021.1.2'],
  r: ['1.3.6.1.4.1.1847.2021.1.3', '1.3.6.1.4.1.0.1847.2021.1.3'],
};
const ALL_DCC_USAGE = new Set(Object.values(DCC_USAGE_OIDS).flat());

/** A signer with no DCC usage OID may sign every type; one with some may sign only those. */
export function dccKeyUsageAllows(extendedKeyUsage: readonly string[], type: DccType | null): boolean {
  const dccUsages = extendedKeyUsage.filter((oid) => ALL_DCC_USAGE.has(oid));
  if (dccUsages.length === 0) return true;
  if (type === null) return false;
  return DCC_USAGE_OIDS[type].some((oid) => dccUsages.includes(oid));
}
