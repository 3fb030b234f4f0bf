/**
 * Key pairs and self-signed X.509 certificates for code issuers and the
 * centre. The gate's trust store holds such certificates; the private keys
 * stay with whoever signs. Built on @peculiar/x509 over Node's WebCrypto,
 * since node:crypto can read certificates but cannot make them.
 */
import { KeyObject, X509Certificate, webcrypto } from 'node:crypto';
// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { AlgorithmName } from '../credential/cose.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface SignerKeyPair {
  algorithm: AlgorithmName;
  certificate: X509Certificate;
  privateKey: KeyObject;
  /** The certificate in PEM, as a trust store file holds it. */
  certificatePem: string;
}

export interface SignerCertificateOptions {
  algorithm?: AlgorithmName;
  /** Distinguished name, e.g. "CN=Guizhou Health Code Issuer 1, O=Demo, C=CN". */
  subject: string;
  /**
   * Validity start; default one day before now. Gates refuse a code whose iat lies
   * outside its signer certificate's validity, so a certificate made just now must
   * still cover codes dated a little earlier (the simulator's aged screenshots, an
   * issuer clock running behind).
   */
  notBefore?: Date;
  days?: number;
  /** Extended key usage OIDs to put in the certificate. */
  extendedKeyUsage?: string[];
}

const WEBCRYPTO_ALGORITHM: Record<AlgorithmName, RsaHashedKeyGenParams | EcKeyGenParams | Algorithm> = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  // The certificate is signed PKCS#1 v1.5; codes are signed with the same key under PSS.
  PS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  EdDSA: { name: 'Ed25519' },
};

const SIGNING_ALGORITHM: Record<AlgorithmName, Algorithm | EcdsaParams> = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams,
  PS256: { name: 'RSASSA-PKCS1-v1_5' },
  EdDSA: { name: 'Ed25519' },
};

export async function createSignerCertificate(options: SignerCertificateOptions): Promise<SignerKeyPair> {
  const algorithm = options.algorithm ?? 'ES256';
  const keys = (await webcrypto.subtle.generateKey(WEBCRYPTO_ALGORITHM[algorithm] as EcKeyGenParams, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const notBefore = options.notBefore ?? new Date(Date.now() - 86_400_000);
  const notAfter = new Date(notBefore.getTime() + (options.days ?? 365) * 86_400_000);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
  ];
  if (options.extendedKeyUsage?.length) {
    extensions.push(new x509.ExtendedKeyUsageExtension(options.extendedKeyUsage, false));
  }
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: webcrypto.getRandomValues(new Uint8Array(8)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '7'),
    name: options.subject,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM[algorithm],
    extensions,
  });
  const certificatePem = certificate.toString('pem');
  return {
    algorithm,
    certificate: new X509Certificate(certificatePem),
    privateKey: KeyObject.from(keys.privateKey),
    certificatePem,
  };
}
