/**
 * The reference health-code platform: the centre's side, simulated. It owns
 * an issuer key and certificate, issues signed GZHC1 codes of any colour,
 * kind and age, changes colours (rules §5) and hands out pseudonymous code
 * ids. A real gate never imports this.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { encodeGzhcCode, type CodeSigner } from '../protocol/credential/encoder.js';
import type { ColourChange } from '../edge-agent/colour/status-store.js';
import type { CodeKind, Colour } from '../protocol/domain.js';
import { createSignerCertificate, type SignerKeyPair } from '../protocol/trust/signer-certificate.js';
import type { AlgorithmName } from '../protocol/credential/cose.js';
import { idHash } from '../protocol/privacy/id-hash.js';
import { nationalIdCheckCharacter } from '../protocol/privacy/national-id.js';

export interface IssueOptions {
  colour: Colour;
  kind?: CodeKind;
  maskedName: string;
  /** Code id; a new pseudonym when absent. */
  sub?: string;
  /** How long ago the code was generated (a screenshot is old). */
  ageSeconds?: number;
  /** Lifetime: minutes for a dynamic code, years for a printed one. */
  lifetimeSeconds?: number;
}

export class ReferencePlatform {
  private colourSeq = 0;
  private readonly colours = new Map<string, Colour>();
  /** Residents' colours by the keyed hash of their ID number: the platform never keeps the number here. */
  private readonly idHashColours = new Map<string, Colour>();

  private constructor(
    readonly issuerName: string,
    readonly issuer: SignerKeyPair,
  ) {}

  static async create(options: { issuerName?: string; algorithm?: AlgorithmName } = {}): Promise<ReferencePlatform> {
    const issuerName = options.issuerName ?? 'GZ-HC-DEMO';
    const issuer = await createSignerCertificate({
      algorithm: options.algorithm ?? 'ES256',
      subject: `CN=${issuerName} code signer, O=Reference health-code platform (simulated), C=CN`,
    });
    return new ReferencePlatform(issuerName, issuer);
  }

  /** A fresh pseudonymous code id: random, unrelated to any personal data. */
  static newSubject(): string {
    return randomBytes(12).toString('base64url');
  }

  get signer(): CodeSigner {
    return { certificate: this.issuer.certificate, privateKey: this.issuer.privateKey, algorithm: this.issuer.algorithm };
  }

  issue(options: IssueOptions, nowMs: number = Date.now()): { code: string; sub: string } {
    const sub = options.sub ?? ReferencePlatform.newSubject();
    const kind = options.kind ?? 'dynamic';
    const iat = Math.floor(nowMs / 1000) - (options.ageSeconds ?? 0);
    const lifetime = options.lifetimeSeconds ?? (kind === 'dynamic' ? 300 : 3 * 365 * 86400);
    this.colours.set(sub, options.colour);
    const code = encodeGzhcCode(
      {
        iss: this.issuerName,
        sub,
        iat,
        exp: iat + lifetime,
        // Paper cannot follow a colour change, so printed codes carry none.
        colour: kind === 'printed' ? null : options.colour,
        kind,
        maskedName: options.maskedName,
      },
      this.signer,
    );
    return { code, sub };
  }

  /** The centre changes a person's colour; the change is what gets pushed to gates. */
  changeColour(sub: string, colour: Colour, nowMs: number = Date.now()): ColourChange {
    this.colours.set(sub, colour);
    return { sub, colour, effectiveAt: nowMs, seq: ++this.colourSeq };
  }

  colourOf(sub: string): Colour | undefined {
    return this.colours.get(sub);
  }

  /**
   * A made-up resident ID number (GB 11643 form, correct check character) for
   * a simulated person without a smartphone: a Guizhou region code (52), a
   * birth date 1950–2004, a random sequence. Made up, though the form is real.
   */
  static madeUpNationalId(): string {
    const region = `52${String(randomInt(1, 100)).padStart(2, '0')}${String(randomInt(1, 30)).padStart(2, '0')}`;
    const birth = new Date(Date.UTC(1950, 0, 1) + randomInt(0, 55 * 365) * 86_400_000);
    const date = `${birth.getUTCFullYear()}${String(birth.getUTCMonth() + 1).padStart(2, '0')}${String(birth.getUTCDate()).padStart(2, '0')}`;
    const first17 = `${region}${date}${String(randomInt(0, 1000)).padStart(3, '0')}`;
    return `${first17}${nationalIdCheckCharacter(first17)}`;
  }

  /**
   * A resident with an ID card and a colour; the platform records the colour
   * under the keyed hash of the number (the site key it shares with the gates),
   * as the centre looks it up. Returns the number for the simulated card.
   */
  registerResident(colour: Colour, idHashKey: Buffer, nationalId: string = ReferencePlatform.madeUpNationalId()): { nationalId: string; idHash: string } {
    const hash = idHash(idHashKey, nationalId);
    this.idHashColours.set(hash, colour);
    return { nationalId, idHash: hash };
  }

  /** The colour of the resident whose ID number hashes to this key; undefined: unknown. */
  colourOfIdHash(hash: string): Colour | undefined {
    return this.idHashColours.get(hash);
  }
}
