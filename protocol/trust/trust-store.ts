/**
 * The signer certificates the gate trusts, indexed by COSE kid: the first
 * 8 bytes of SHA-256 over the certificate's DER (the
 * same rule as the EU DCC). Certificates come as PEM or DER, from a file or
 * from every file of a folder.
 */
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TrustError } from './errors.js';

export interface TrustedSigner {
  certificate: X509Certificate;
  key: KeyObject;
  kid: Buffer;
  /** Extended key usage OIDs of the certificate, empty when it has none. */
  extendedKeyUsage: readonly string[];
  /** Where it was loaded from, for messages. */
  source: string;
}

export function kidOf(certificateDer: Buffer): Buffer {
  return createHash('sha256').update(certificateDer).digest().subarray(0, 8);
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Parse every certificate in a PEM text or one DER certificate. */
function parseCertificates(bytes: Buffer, source: string): X509Certificate[] {
  const text = bytes.toString('latin1');
  if (/^(\xEF\xBB\xBF)?\s*\{/.test(text)) {
    throw new TrustError(
      'not-a-certificate',
      `${source} is JSON (a signed trust list?), not a certificate in PEM or DER; the agent reads a signed list only when credentials.trust names that file itself`,
    );
  }
  const blocks = text.match(PEM_BLOCK);
  try {
    if (blocks) return blocks.map((pem) => new X509Certificate(pem));
    return [new X509Certificate(bytes)];
  } catch (error) {
    throw new TrustError(
      'not-a-certificate',
      `${source} is not an X.509 certificate in PEM or DER: ${(error as Error).message}`,
    );
  }
}

export class TrustStore {
  private readonly byKid = new Map<string, TrustedSigner[]>();

  get size(): number {
    let n = 0;
    for (const list of this.byKid.values()) n += list.length;
    return n;
  }

  add(certificate: X509Certificate, source = 'memory'): TrustedSigner {
    const kid = kidOf(certificate.raw);
    const signer: TrustedSigner = {
      certificate,
      key: certificate.publicKey,
      kid,
      extendedKeyUsage: certificate.keyUsage ?? [],
      source,
    };
    const hex = kid.toString('hex');
    const list = this.byKid.get(hex) ?? [];
    if (!list.some((s) => s.certificate.fingerprint256 === certificate.fingerprint256)) list.push(signer);
    this.byKid.set(hex, list);
    return signer;
  }

  /** Add certificates given as PEM text, PEM bytes, DER bytes or base64 DER. */
  addEncoded(encoded: string | Buffer, source = 'memory'): TrustedSigner[] {
    let bytes: Buffer;
    if (typeof encoded === 'string') {
      bytes = encoded.includes('-----BEGIN') ? Buffer.from(encoded) : Buffer.from(encoded, 'base64');
    } else {
      bytes = encoded;
    }
    return parseCertificates(bytes, source).map((c) => this.add(c, source));
  }

  /** Every signer held, in the order added. */
  signers(): TrustedSigner[] {
    return [...this.byKid.values()].flat();
  }

  /** Signers whose kid matches; several when certificates share a kid. */
  lookup(kid: Buffer): readonly TrustedSigner[] {
    return this.byKid.get(kid.toString('hex')) ?? [];
  }

  /** Load a certificate file, or every regular file in a folder (not recursive). */
  static load(path: string): TrustStore {
    const store = new TrustStore();
    let files: string[];
    try {
      files = statSync(path).isDirectory()
        ? readdirSync(path)
            .filter((name) => !name.startsWith('.'))
            .map((name) => join(path, name))
            .filter((file) => statSync(file).isFile())
            .sort()
        : [path];
    } catch (error) {
      throw new TrustError('unreadable', `trust store ${path} cannot be read: ${(error as Error).message}`);
    }
    for (const file of files) store.addEncoded(readFileSync(file), file);
    if (store.size === 0) throw new TrustError('empty', `trust store ${path} holds no certificate`);
    return store;
  }
}
