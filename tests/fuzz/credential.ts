/**
 * QR payloads through CredentialVerifier.verify, the gate's one entry point
 * for a code's text: GZHC1 codes and EU DCC "HC1:" certificates. Seeds are
 * codes issued with the project's encoder (and, for HC1, the EU DCC test
 * vectors in ../shared/data when present); they are mutated at every layer
 * of the stack: the text, the base45 bytes, the zlib stream, the COSE bytes,
 * the decoded CBOR tree, the protected header and the claims (both signed
 * again with a trusted key, so the mutation reaches the checks behind the
 * signature), and hostile CBOR items placed at each of those places (the
 * mutations are in credential-mutations.ts).
 *
 * The shape checked is VerificationResult's (edge-agent/credential/verifier.ts):
 * valid or refused with a failure code of CREDENTIAL_FAILURES and a message,
 * every field of its type, and the whole of it plain JSON (no BigInt, Map,
 * Buffer, NaN). An accepted code must also be one a trusted key signed as it
 * stands, with nothing after its zlib stream.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import { base45Decode, base45Encode } from '../../protocol/credential/base45.js';
import { CLAIM_HCERT } from '../../protocol/credential/claims.js';
import { ALGORITHMS, cborEncode, parseCoseSign1, sigStructure } from '../../protocol/credential/cose.js';
import { encodeClaims, gzhcClaims, type CodeSigner, type GzhcCodeContent } from '../../protocol/credential/encoder.js';
import { CREDENTIAL_FAILURES } from '../../protocol/credential/failure.js';
import { PREFIXES, type Profile } from '../../protocol/credential/profile.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier, type VerificationResult } from '../../edge-agent/credential/verifier.js';
import { CODE_KINDS, COLOURS } from '../../protocol/domain.js';
import { SHARED_DATA } from '../support/shared-data.js';
import { cbor, sharedValueGraph } from './cbor.js';
import { fuzzKey } from './keys.js';
import { credentialArbitrary, layersOf, rawCose, Signing, type Layers } from './credential-mutations.js';
import { fromUtf8, notPlainJson, ok, offShape, thrown, utf8, type Regression, type Rig, type Surface, type Verdict } from './surface.js';

const STEP_NAMES = new Set(['unprefix', 'base45', 'decompress', 'cose', 'signature', 'keyUsage', 'validity', 'claims']);
const ALGORITHM_NAMES = new Set(Object.keys(ALGORITHMS));

const nullOr = (value: unknown, test: (v: unknown) => boolean): boolean => value === null || test(value);
const isString = (v: unknown): boolean => typeof v === 'string';
const isFiniteNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);

function checkResult(text: string, result: VerificationResult, signing: Signing): Verdict {
  if (typeof result !== 'object' || result === null) return offShape(`verify returned ${typeof result}`);
  const r = result as unknown as Record<string, unknown>;
  if (typeof r.valid !== 'boolean') return offShape('valid is not a boolean');
  if (r.valid) {
    if (r.failure !== null || r.message !== null) return offShape('a valid result carries a failure or a message');
  } else {
    if (!(CREDENTIAL_FAILURES as readonly unknown[]).includes(r.failure)) return offShape(`failure ${JSON.stringify(r.failure)} is not one of CREDENTIAL_FAILURES`);
    if (typeof r.message !== 'string' || r.message.length === 0) return offShape('a refusal carries no message');
  }
  if (!nullOr(r.profile, (v) => v === 'gzhc' || v === 'dcc')) return offShape(`profile ${String(r.profile)}`);
  const expectedProfile = text.startsWith(PREFIXES.gzhc) ? 'gzhc' : text.startsWith(PREFIXES.dcc) ? 'dcc' : null;
  if (text.length <= 4296 && r.profile !== expectedProfile) return offShape(`profile ${String(r.profile)} for a text read as ${String(expectedProfile)}`);
  if (!nullOr(r.kid, isString) || !nullOr(r.iss, isString)) return offShape('kid or iss is neither text nor null');
  if (!nullOr(r.iat, isFiniteNumber) || !nullOr(r.exp, isFiniteNumber)) return offShape('iat or exp is neither a finite number nor null');
  if (!nullOr(r.algorithm, (v) => ALGORITHM_NAMES.has(v as string))) return offShape(`algorithm ${String(r.algorithm)}`);
  const steps = r.steps as Record<string, unknown> | undefined;
  if (typeof steps !== 'object' || steps === null) return offShape('steps is missing');
  for (const [step, passed] of Object.entries(steps)) {
    if (!STEP_NAMES.has(step) || typeof passed !== 'boolean') return offShape(`steps.${step} = ${String(passed)}`);
  }
  const gzhc = r.gzhc as Record<string, unknown> | null | undefined;
  if (gzhc !== null) {
    if (typeof gzhc !== 'object' || gzhc === undefined) return offShape('gzhc is neither claims nor null');
    if (typeof gzhc.sub !== 'string' || typeof gzhc.maskedName !== 'string') return offShape('gzhc.sub or gzhc.maskedName is not text');
    if (!nullOr(gzhc.colour, (v) => (COLOURS as readonly unknown[]).includes(v))) return offShape(`gzhc.colour ${String(gzhc.colour)}`);
    if (!(CODE_KINDS as readonly unknown[]).includes(gzhc.kind)) return offShape(`gzhc.kind ${String(gzhc.kind)}`);
  }
  const dcc = r.dcc as Record<string, unknown> | null | undefined;
  if (dcc !== null) {
    if (typeof dcc !== 'object' || dcc === undefined) return offShape('dcc is neither claims nor null');
    if (!nullOr(dcc.type, (v) => v === 'v' || v === 't' || v === 'r')) return offShape(`dcc.type ${String(dcc.type)}`);
    if (typeof dcc.masked !== 'object' || dcc.masked === null) return offShape('dcc.masked is not an object');
  }
  const impure = notPlainJson(result);
  if (impure) return offShape(impure);
  if (!r.valid) return ok(`refused: ${String(r.failure)}`);

  // Accepted: every step passed, the claims of its profile are there, and it is exactly what a trusted key signed.
  for (const step of ['unprefix', 'base45', 'decompress', 'cose', 'signature', 'validity', 'claims']) {
    if (steps[step] !== true) return offShape(`valid, but steps.${step} is ${String(steps[step])}`);
  }
  if (r.profile === 'gzhc' && (gzhc === null || dcc !== null)) return offShape('a valid GZHC1 code without its gzhc claims');
  if (r.profile === 'dcc' && (dcc === null || gzhc !== null)) return offShape('a valid HC1 code without its dcc claims');
  const prefix = r.profile === 'gzhc' ? PREFIXES.gzhc : PREFIXES.dcc;
  const compressed = base45Decode(text.slice(prefix.length));
  let truncatedInflates = false;
  try {
    inflateSync(compressed.subarray(0, compressed.length - 1));
    truncatedInflates = true;
  } catch {
    // The stream ends at the last byte, as it must.
  }
  if (truncatedInflates) return offShape('accepted with bytes after the end of its zlib stream');
  const parsed = parseCoseSign1(inflateSync(compressed), false);
  if (!signing.signedByUs(sigStructure(parsed.protectedBytes, parsed.payload), parsed.signature, parsed.algorithm)) {
    return offShape('accepted, but its protected header and payload are not what a trusted key signed');
  }
  return ok('valid');
}

function dccPayload(now: number): Map<unknown, unknown> {
  const m = (o: Record<string, unknown>): Map<string, unknown> => new Map(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? v.map((e) => m(e as Record<string, unknown>)) : isRecord(v) ? m(v) : v]));
  const payload = m({
    ver: '1.3.0',
    nam: { fn: 'Musterfrau', fnt: 'MUSTERFRAU', gn: 'Erika', gnt: 'ERIKA' },
    dob: '1964-08-12',
    v: [{ tg: '840539006', vp: '1119349007', mp: 'EU/1/20/1528', ma: 'ORG-100030215', dn: 2, sd: 2, dt: '2021-06-01', co: 'DE', is: 'Robert Koch-Institut', ci: 'URN:UVCI:01DE/FUZZ/0001#A' }],
  });
  return new Map<unknown, unknown>([
    [1, 'DE'],
    [6, now - 60],
    [4, now + 365 * 86_400],
    [CLAIM_HCERT, new Map([[1, payload]])],
  ]);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The DCC test vectors' texts and certificates, when ../shared/data is there (never copied into the repo). */
function dccVectors(): Array<{ text: string; certificate: string | null }> {
  const root = join(SHARED_DATA, 'dcc-testdata');
  if (!existsSync(root)) return [];
  const out: Array<{ text: string; certificate: string | null }> = [];
  for (const country of readdirSync(root).sort()) {
    const folder = join(root, country, '2DCode', 'raw');
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder).sort()) {
      if (!name.endsWith('.json')) continue;
      try {
        const vector = JSON.parse(readFileSync(join(folder, name), 'utf8')) as { PREFIX?: string; TESTCTX?: { CERTIFICATE?: string } };
        if (typeof vector.PREFIX === 'string') out.push({ text: vector.PREFIX, certificate: vector.TESTCTX?.CERTIFICATE ?? null });
      } catch {
        // A vector that is not JSON is not a seed.
      }
    }
  }
  return out;
}

/** A DCC payload whose values cbor-x decodes to what JSON cannot carry: NaN, a Date (tag 1), a Tag object. */
function nonJsonPayload(): Buffer {
  const entry = cbor.map([
    [cbor.text('dt'), cbor.tag(1, cbor.uint(1_600_000_000))],
    [cbor.text('co'), cbor.tag(999, cbor.text('DE'))],
  ]);
  const dcc = cbor.map([
    [cbor.text('ver'), Buffer.from('f97e00', 'hex')],
    [cbor.text('v'), cbor.array([entry])],
  ]);
  return cbor.map([[cbor.int(CLAIM_HCERT), cbor.map([[cbor.int(1), dcc]])]]);
}

/** A GZHC1 code whose unprotected header carries alg as a value-sharing graph 26 levels deep; otherwise valid. */
function sharedGraphInUnprotectedAlg(signing: Signing, claims: Map<unknown, unknown>): string {
  const prot = signing.protectedBytes;
  const payload = cborEncode(claims);
  const cose = rawCose(cbor.bytes(prot), cbor.map([[cbor.int(1), sharedValueGraph(26)]]), cbor.bytes(payload), cbor.bytes(signing.sign(prot, payload)));
  return PREFIXES.gzhc + base45Encode(deflateSync(cose, { level: 9 }));
}

async function setupCredential(profile: Profile): Promise<Rig<string>> {
  const pairs = await Promise.all(
    (['ES256', 'EdDSA', 'PS256'] as const).map((algorithm) => fuzzKey('issuer', `CN=Fuzz issuer ${algorithm}, O=Fuzz, C=CN`, algorithm)),
  );
  // The rig's clock, for issuing and checking: a day into the keys' validity, so that a recorded code
  // is judged the same when replayed later (the keys are kept, see keys.ts).
  const now = Math.max(...pairs.map((p) => Date.parse(p.certificate.validFrom) / 1000)) + 86_400;
  const signers: CodeSigner[] = pairs.map((p) => ({ certificate: p.certificate, privateKey: p.privateKey, algorithm: p.algorithm }));
  const trust = new TrustStore();
  for (const p of pairs) trust.add(p.certificate, 'fuzz');
  const signing = new Signing(signers[0]!, signers);
  const seedTexts: string[] = [];
  if (profile === 'gzhc') {
    const content = (overrides: Partial<GzhcCodeContent>): GzhcCodeContent => ({
      iss: 'GZ-HC-FUZZ',
      sub: 'q7Xc2mLp9TzA4vRb',
      iat: now - 10,
      exp: now + 290,
      colour: 'green',
      kind: 'dynamic',
      maskedName: '张*三',
      ...overrides,
    });
    seedTexts.push(
      encodeClaims(gzhcClaims(content({})), signers[0]!),
      encodeClaims(gzhcClaims(content({ colour: 'yellow', sub: 'Yk3Lm9Qp2Wx7Zr4T' })), signers[1]!),
      encodeClaims(gzhcClaims(content({ colour: 'red', maskedName: '李*' })), signers[2]!),
      encodeClaims(gzhcClaims(content({ colour: null, kind: 'printed', exp: now + 86_400 * 365 })), signers[0]!),
    );
  } else {
    for (const signer of signers) seedTexts.push(encodeClaims(dccPayload(now), signer, PREFIXES.dcc));
    for (const vector of dccVectors()) {
      if (vector.certificate) {
        try {
          trust.addEncoded(vector.certificate, 'dcc test vector');
        } catch {
          // Some vectors carry a broken certificate on purpose.
        }
      }
      seedTexts.push(vector.text);
    }
  }
  // Seeds the rig signed count as signed by us; so does any seed that verifies (a vector within its validity).
  const verifier = new CredentialVerifier({ trust });
  const atMs = now * 1000;
  // The seeds issued here must verify, or the fuzz would never reach the checks behind the signature.
  const issuedHere = profile === 'gzhc' ? seedTexts.length : signers.length;
  for (const text of seedTexts.slice(0, issuedHere)) {
    const result = verifier.verify(text, atMs);
    if (!result.valid) throw new Error(`a seed issued by the rig does not verify: ${result.failure}: ${result.message}`);
  }
  for (const text of seedTexts) {
    const layers = layersOf(text);
    if (layers) signing.remember(sigStructure(layers.protectedBytes, layers.payload));
  }
  const layers = seedTexts.map(layersOf).filter((l): l is Layers => l !== null);
  const first = layers[0]!;
  // Two zero bytes after the zlib stream: "000" in base45 when the text ends on a whole group.
  const withTrailingZeros = (l: Layers): string =>
    (l.text.length - l.prefix.length) % 3 === 0 ? `${l.text}000` : l.prefix + base45Encode(Buffer.concat([l.compressed, Buffer.alloc(2)]));

  const regressions: Regression<string>[] =
    profile === 'gzhc'
      ? [
          { name: 'gzhc1-trailing-bytes', why: 'a valid code with "000" appended (two zero bytes after the zlib stream): must be refused', input: withTrailingZeros(first) },
          { name: 'gzhc1-unprotected-alg-shared-graph', why: 'alg in the unprotected header is a tag 28/29 value-sharing graph 26 levels deep: refused at once, not expanded', input: sharedGraphInUnprotectedAlg(signing, first.claims) },
        ]
      : [
          {
            name: 'hc1-shared-value-graph',
            why: 'the DCC payload is a tag 28/29 value-sharing graph 26 levels deep: refused at once, not expanded (expanding takes gigabytes)',
            input:
              'HC1:NCF*X2XHN3PO9P27B8$4T%VDOR59JAO34 LKSKA724+AARC42H2J7RNG10A9L%K%QFTPA/4OV+6+SK-JIUSES1QJ9W8.PU.3:DJ0VE6W088HFNCKAJ9/CJ93P*4NA5W0H%OCEU9KDBW1JXV2/-H8ACGAJK/C ILW*B:%4L9C',
          },
          { name: 'hc1-ver-2^64-1', why: 'the DCC ver is 2^64-1: the result must stay plain JSON (no BigInt)', input: 'HC1:NCFOXN*TS0BIO DBEPAN9I6TVVHZUIQJAT%K1O83H0H8O2/1' },
          {
            name: 'hc1-payload-values-not-json',
            why: 'DCC payload values JSON has no form for (ver NaN, v[0].dt a CBOR date, v[0].co another tag): the result must stay plain JSON',
            input: PREFIXES.dcc + base45Encode(deflateSync(rawCose(cbor.bytes(Buffer.from('a10126', 'hex')), cbor.map([]), cbor.bytes(nonJsonPayload()), cbor.bytes(Buffer.alloc(0))))),
          },
          { name: 'hc1-trailing-bytes', why: 'a valid HC1 code with two zero bytes after its zlib stream ("000" appended to a text that ends on a whole base45 group): must be refused', input: withTrailingZeros(first) },
        ];

  return {
    seeds: seedTexts,
    regressions,
    arbitrary: (extra) => {
      const pool = [...layers, ...extra.map(layersOf).filter((l): l is Layers => l !== null)];
      return credentialArbitrary(pool, signing, profile);
    },
    run(text) {
      let result: VerificationResult;
      try {
        result = verifier.verify(text, atMs);
      } catch (error) {
        return thrown(`verify threw: ${(error as Error)?.message ?? String(error)}`);
      }
      try {
        return checkResult(text, result, signing);
      } catch (error) {
        return offShape(`the result could not be checked: ${(error as Error).message}`);
      }
    },
    encode: utf8,
    decode: fromUtf8,
    close: async () => {},
  };
}

export const gzhcSurface: Surface<string> = {
  name: 'credential-gzhc1',
  covers: 'GZHC1 code texts through CredentialVerifier.verify: text, base45, zlib, COSE bytes and tree, protected header and claims (signed again), hostile CBOR at each place',
  shape: 'VerificationResult: valid, or refused with a CREDENTIAL_FAILURES code and a message; typed fields; plain JSON; an accepted code is what a trusted key signed, with nothing after its zlib stream',
  setup: () => setupCredential('gzhc'),
};

export const dccSurface: Surface<string> = {
  name: 'credential-hc1',
  covers: 'EU DCC "HC1:" texts (the DCC test vectors when ../shared/data is there, and certificates signed here) through CredentialVerifier.verify, mutated at every layer as for GZHC1',
  shape: gzhcSurface.shape,
  setup: () => setupCredential('dcc'),
};
