/**
 * The reference health-code platform: the centre's side, simulated. It owns
 * an issuer key and certificate, issues signed GZHC1 codes of any colour,
 * kind and age, changes colours (rules §5) and hands out pseudonymous code
 * ids. A real gate never imports this.
 */
import { randomBytes } from 'node:crypto';
import { encodeGzhcCode, type CodeSigner } from '../edge-agent/credential/encoder.js';
import type { ColourChange } from '../edge-agent/colour/status-store.js';
import type { CodeKind, Colour } from '../edge-agent/domain.js';
import { createSignerCertificate, type SignerKeyPair } from '../provisioning/signer-certificate.js';
import type { AlgorithmName } from '../edge-agent/credential/cose.js';

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
}
