/**
 * The site's issuer trust list: the signer certificates of the health-code
 * platforms whose codes the gates accept. Kept as issuers/<kid>.pem plus the
 * list in site.json, whose version grows by one per change; export-trust
 * signs it for the gates.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { kidOf } from '../../protocol/trust/trust-store.js';
import { checkCodeSigner } from './code-signer.js';
import { ProvisionError } from './errors.js';
import { FILE_MODE, Transaction, type StepHook } from './files.js';
import { LAYOUT, sitePath, type IssuerEntry, type Site, type SiteRecord } from './site.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export interface ChangeOptions {
  force?: boolean;
  now?: Date;
  hook?: StepHook;
}

/** Every certificate in a PEM or DER file; refuses anything else, and private keys outright. */
export function readCertificates(file: string): X509Certificate[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new ProvisionError('not-a-certificate', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const text = bytes.toString('latin1');
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new ProvisionError('not-a-certificate', `${file} holds a private key: give the issuer's certificate only (its key stays with the issuer)`);
  }
  try {
    const blocks = text.match(PEM_CERTIFICATE);
    if (blocks) return blocks.map((pem) => new X509Certificate(pem));
    if (text.includes('-----BEGIN')) throw new Error('a PEM file without a CERTIFICATE block');
    return [new X509Certificate(bytes)];
  } catch (error) {
    // Bytes that are not PEM go to the DER parser, whose own message says nothing useful.
    const why = text.includes('-----BEGIN') ? ` (${(error as Error).message})` : '';
    throw new ProvisionError('not-a-certificate', `${file} is not an X.509 certificate in PEM or DER${why}`);
  }
}

/**
 * The kid as the site writes and prints it: standard base64 with padding, as
 * EU DCC trust lists write kids and as `gate-agent verify` reports them. It
 * never starts with "-", so a kid copied from `issuer list` is never read as
 * an option; input may also be base64url or hex (normaliseKid).
 */
export function kidBase64(certificate: X509Certificate): string {
  return kidOf(certificate.raw).toString('base64');
}

function issuerFile(certificate: X509Certificate): string {
  return `${LAYOUT.issuers}/${kidOf(certificate.raw).toString('hex')}.pem`;
}

export function addIssuers(site: Site, file: string, options: ChangeOptions = {}): IssuerEntry[] {
  const certificates = readCertificates(file);
  const now = options.now ?? new Date();
  const issuers = [...site.record.trustList.issuers];
  const added: IssuerEntry[] = [];
  const transaction = new Transaction(site.dir, options.hook);
  try {
    for (const certificate of certificates) {
      if (Date.parse(certificate.validTo) <= now.getTime()) {
        throw new ProvisionError('not-a-certificate', `${file}: the certificate of ${certificate.subject.replaceAll('\n', ', ')} expired on ${certificate.validTo}`);
      }
      checkCodeSigner(site, file, certificate);
      const kid = kidBase64(certificate);
      const existing = issuers.findIndex((entry) => entry.kid === kid);
      if (existing >= 0 && !options.force) {
        throw new ProvisionError('exists', `${file}: issuer kid ${kid} is already in the trust list (--force writes it again)`);
      }
      const entry: IssuerEntry = {
        kid,
        file: issuerFile(certificate),
        subject: certificate.subject.replaceAll('\n', ', '),
        fingerprint256: certificate.fingerprint256,
        notAfter: new Date(certificate.validTo).toISOString(),
        addedAt: now.toISOString(),
      };
      if (existing >= 0) issuers.splice(existing, 1, entry);
      else issuers.push(entry);
      added.push(entry);
      transaction.putFile(sitePath(site, entry.file), { data: certificate.toString(), mode: FILE_MODE });
    }
    putRecord(transaction, site, changedTrustList(site.record, issuers, now));
  } catch (error) {
    transaction.abort();
    throw error;
  }
  transaction.commit();
  return added;
}

/**
 * What `issuer remove` names: a string is a certificate file when one is
 * there, else a kid; { kid } is a kid whatever files exist.
 */
export type IssuerReference = string | { kid: string };

/** Remove by kid (base64, base64url or hex) or by the issuer's certificate file. */
export function removeIssuer(site: Site, reference: IssuerReference, options: ChangeOptions = {}): IssuerEntry {
  const kids =
    typeof reference === 'string' && existsSync(reference) && statSync(reference).isFile()
      ? readCertificates(reference).map(kidBase64)
      : [normaliseKid(typeof reference === 'string' ? reference : reference.kid, typeof reference === 'string')];
  const issuers = [...site.record.trustList.issuers];
  const index = issuers.findIndex((entry) => kids.includes(entry.kid));
  if (index < 0) {
    throw new ProvisionError('unknown-issuer', `no issuer ${kids.join(', ')} in the trust list of site ${site.record.site} (gate-provision issuer list shows them)`);
  }
  const [removed] = issuers.splice(index, 1);
  const transaction = new Transaction(site.dir, options.hook);
  try {
    transaction.remove(sitePath(site, removed!.file));
    putRecord(transaction, site, changedTrustList(site.record, issuers, options.now ?? new Date()));
  } catch (error) {
    transaction.abort();
    throw error;
  }
  transaction.commit();
  return removed!;
}

/**
 * A kid as written anywhere: base64 or base64url of 8 bytes (padded or not;
 * the two alphabets may even be mixed), or 16 hex digits; base64 back.
 */
function normaliseKid(text: string, orFile = false): string {
  if (/^[0-9a-fA-F]{16}$/.test(text)) return Buffer.from(text, 'hex').toString('base64');
  if (/^[A-Za-z0-9+/_-]{11}=?$/.test(text)) return Buffer.from(text.replace(/=$/, '').replaceAll('+', '-').replaceAll('/', '_'), 'base64url').toString('base64');
  const what = orFile ? 'neither a certificate file nor a kid' : 'not a kid';
  throw new ProvisionError('unknown-issuer', `${JSON.stringify(text)} is ${what} (base64 or base64url of 8 bytes, or 16 hex digits)`);
}

function changedTrustList(record: SiteRecord, issuers: IssuerEntry[], now: Date): SiteRecord {
  return { ...record, trustList: { version: record.trustList.version + 1, changedAt: now.toISOString(), issuers } };
}

/** Stage the site record; callers stage it last, as the change's commit point. */
export function putRecord(transaction: Transaction, site: Site, record: SiteRecord): void {
  transaction.putFile(sitePath(site, LAYOUT.record), { data: `${JSON.stringify(record, null, 2)}\n`, mode: FILE_MODE });
}
