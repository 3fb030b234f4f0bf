/**
 * `gate-provision export-trust`: the site's issuer trust list signed by the
 * centre's key, as a JWS in the flattened JSON serialization (RFC 7515
 * §7.2.2) like every centre-signed message (protocol/signed-message.ts):
 * protected header {alg: "ES256", kid, typ: "trust-list"}, payload
 * {type: "trust-list", site, version, issuedAt, certificates: [PEM, ...],
 * operators: [{name, certificate, actions, notBefore, notAfter}, ...]} (the
 * operator keys the centre delegates commands to; absent when there are none,
 * so a list without operators is byte for byte what it was before them).
 * A gate takes a version only above the one it has (rollback protection).
 */
import { TRUST_LIST_TYP, type TrustListPayload } from '../../protocol/trust/trust-list.js';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { SignedEnvelope } from '../../protocol/contract.js';
import { messageSigner, signJws } from '../../protocol/signed-message.js';
import { ProvisionError } from './errors.js';
import { FILE_MODE, Transaction, type StepHook } from './files.js';
import { kidBase64 } from './issuers.js';
import { operatorEntries } from './operators.js';
import { LAYOUT, loadSiteKey, sitePath, type Site } from './site.js';

// The format is the agent's (protocol/trust/trust-list.ts): one definition for writer and reader.
export { TRUST_LIST_TYP, type TrustListPayload } from '../../protocol/trust/trust-list.js';

export interface ExportOptions {
  passphrase?: string;
  /** A file, or "-" for none (the caller prints it); default <site>/trust-list-v<version>.jws. */
  out?: string;
  force?: boolean;
  now?: Date;
  hook?: StepHook;
}

export interface ExportResult {
  /** Absent with out "-". */
  file?: string;
  text: string;
  payload: TrustListPayload;
}

export function exportTrustList(site: Site, options: ExportOptions = {}): ExportResult {
  const { record } = site;
  const file = options.out === '-' ? undefined : resolve(options.out ?? join(site.dir, `trust-list-v${record.trustList.version}.jws`));
  if (file && existsSync(file) && !options.force) {
    throw new ProvisionError('exists', `${file} exists (--force writes it again)`);
  }
  const centre = loadSiteKey(site, LAYOUT.centreKey, LAYOUT.centreCert, options.passphrase);
  const certificates = [...record.trustList.issuers]
    .sort((a, b) => a.kid.localeCompare(b.kid))
    .map((entry) => {
      const certificate = new X509Certificate(readFileSync(sitePath(site, entry.file)));
      // The file must still be the certificate the list recorded.
      if (kidBase64(certificate) !== entry.kid) throw new ProvisionError('damaged', `${entry.file} is not the certificate of issuer ${entry.kid}`);
      return certificate.toString();
    });
  const now = options.now ?? new Date();
  const operators = operatorEntries(site, now);
  const payload: TrustListPayload = {
    type: TRUST_LIST_TYP,
    site: record.site,
    version: record.trustList.version,
    issuedAt: now.getTime(),
    certificates,
    ...(operators.length > 0 ? { operators } : {}),
  };
  const envelope: SignedEnvelope = signJws(TRUST_LIST_TYP, payload, messageSigner({ algorithm: 'ES256', certificate: centre.certificate, privateKey: centre.key }));
  const text = `${JSON.stringify(envelope)}\n`;
  if (file) {
    const transaction = new Transaction(dirname(file), options.hook);
    try {
      transaction.putFile(file, { data: text, mode: FILE_MODE });
    } catch (error) {
      transaction.abort();
      throw error;
    }
    transaction.commit();
  }
  return { ...(file ? { file } : {}), text, payload };
}
