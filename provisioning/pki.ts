/**
 * A small certificate authority for the MQTT link: a CA, broker (server)
 * certificates and gate (client) certificates for TLS and mTLS. EC P-256
 * throughout, keys as PKCS#8 PEM. gate-provision builds on it; the tests use
 * it to give a real Mosquitto its certificates.
 */
import { KeyObject, X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const KEY_ALGORITHM: EcKeyImportParams & EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
// Backdated so a peer whose clock runs a little behind still accepts a certificate made just now.
const BACKDATE_MS = 3_600_000;

/** A certificate with its private key, in PEM and as node:crypto objects. */
export interface CertifiedKey {
  certificatePem: string;
  /** PKCS#8 PEM, unencrypted. */
  privateKeyPem: string;
  certificate: X509Certificate;
  privateKey: KeyObject;
}

export type CertificateAuthority = CertifiedKey;

/** What signing needs from a CA: enough to load one back from its two PEM files. */
export type CertificateAuthorityPem = Pick<CertifiedKey, 'certificatePem' | 'privateKeyPem'>;

export interface CertificateAuthorityOptions {
  /** Distinguished name, e.g. "CN=Demo Mall Gate CA, O=Demo, C=CN". */
  subject: string;
  /** Default 3650. */
  days?: number;
  /** Validity start; default an hour ago. */
  notBefore?: Date;
}

export interface ServerCertificateOptions {
  commonName: string;
  /** subjectAltName DNS names, e.g. ['localhost']; default [commonName] when no IP address is given either. */
  dnsNames?: string[];
  /** subjectAltName IP addresses, e.g. ['127.0.0.1']. */
  ipAddresses?: string[];
  /** Default 825, the longest most TLS clients accept for a server. */
  days?: number;
  notBefore?: Date;
}

export interface ClientCertificateOptions {
  /** Becomes the MQTT username under Mosquitto's use_identity_as_username, e.g. "gate-s1-l1". */
  commonName: string;
  /** Default 825. */
  days?: number;
  notBefore?: Date;
}

export async function createCertificateAuthority(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const notBefore = options.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: options.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.days ?? 3650) * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return certifiedKey(certificate, keys.privateKey);
}

export async function issueServerCertificate(ca: CertificateAuthorityPem, options: ServerCertificateOptions): Promise<CertifiedKey> {
  const ipAddresses = options.ipAddresses ?? [];
  for (const ip of ipAddresses) if (!isIP(ip)) throw new Error(`ipAddresses: ${JSON.stringify(ip)} is not an IP address`);
  const dnsNames = options.dnsNames ?? (ipAddresses.length === 0 && !isIP(options.commonName) ? [options.commonName] : []);
  if (dnsNames.length + ipAddresses.length === 0) throw new Error('a server certificate needs at least one DNS name or IP address');
  const names: x509.JsonGeneralNames = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  return issue(ca, options, x509.ExtendedKeyUsage.serverAuth, [new x509.SubjectAlternativeNameExtension(names, false)]);
}

export async function issueClientCertificate(ca: CertificateAuthorityPem, options: ClientCertificateOptions): Promise<CertifiedKey> {
  return issue(ca, options, x509.ExtendedKeyUsage.clientAuth, []);
}

/** The site CA as a signer: its certificate, its key imported for WebCrypto, its key id. */
async function caSigner(ca: CertificateAuthorityPem): Promise<{ caCertificate: x509.X509Certificate; caKey: CryptoKey; caKeyId: string | undefined }> {
  const caCertificate = new x509.X509Certificate(ca.certificatePem);
  const caKey = await webcrypto.subtle.importKey(
    'pkcs8',
    createPrivateKey(ca.privateKeyPem).export({ type: 'pkcs8', format: 'der' }),
    KEY_ALGORITHM,
    false,
    ['sign'],
  );
  return { caCertificate, caKey, caKeyId: caCertificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId };
}

async function issue(
  ca: CertificateAuthorityPem,
  options: { commonName: string; days?: number; notBefore?: Date },
  usage: x509.ExtendedKeyUsage,
  more: x509.Extension[],
): Promise<CertifiedKey> {
  const { caCertificate, caKey, caKeyId } = await caSigner(ca);
  const keys = await generateKeys();
  const notBefore = options.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [options.commonName] }],
    // The CA's own encoded name, so the chain matches byte for byte.
    issuer: caCertificate.subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.days ?? 825) * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([usage], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(caKeyId ? [new x509.AuthorityKeyIdentifierExtension(caKeyId)] : []),
      ...more,
    ],
  });
  return certifiedKey(certificate, keys.privateKey);
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function certifiedKey(certificate: x509.X509Certificate, key: CryptoKey): CertifiedKey {
  const certificatePem = certificate.toString('pem');
  const privateKey = KeyObject.from(key);
  return {
    certificatePem,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    certificate: new X509Certificate(certificatePem),
    privateKey,
  };
}

/** 16 random bytes, top bit clear so the DER integer stays positive (RFC 5280 §4.1.2.2: at most 20 octets). */
function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return Buffer.from(bytes).toString('hex');
}

export interface RevokedCertificate {
  /** Hex, as X509Certificate.serialNumber gives it. */
  serial: string;
  revokedAt: Date;
  /** Default unspecified. */
  reason?: 'superseded' | 'cessationOfOperation' | 'keyCompromise' | 'unspecified';
}

/**
 * An X.509 v2 CRL signed by the CA, in PEM. Its issuer is the CA's encoded
 * name, byte for byte, and it names the CA's key (authority key identifier):
 * OpenSSL matches a CRL to the CA that way. nextUpdate is the CA's own end
 * of validity unless given: a broker checking CRLs (Mosquitto's crlfile
 * sets X509_V_FLAG_CRL_CHECK) refuses every client once its CRL is past
 * nextUpdate, and a site's CRL is only made again when the operator
 * revokes something.
 */
export async function createCrl(ca: CertificateAuthorityPem, revoked: RevokedCertificate[], options: { thisUpdate?: Date; nextUpdate?: Date } = {}): Promise<string> {
  const { caCertificate, caKey, caKeyId } = await caSigner(ca);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCertificate.subjectName,
    thisUpdate: options.thisUpdate ?? new Date(Date.now() - BACKDATE_MS),
    nextUpdate: options.nextUpdate ?? caCertificate.notAfter,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: caKeyId ? [new x509.AuthorityKeyIdentifierExtension(caKeyId)] : [],
    entries: revoked.map((entry) => ({
      serialNumber: entry.serial,
      revocationDate: entry.revokedAt,
      reason: x509.X509CrlReason[entry.reason ?? 'unspecified'],
    })),
  });
  // OpenSSL (and so Mosquitto's crlfile) reads only the "X509 CRL" label (RFC 7468 §5); @peculiar/x509 writes "CRL".
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}
