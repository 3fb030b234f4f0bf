/**
 * Whether a certificate may join the issuer trust list: it must be a code
 * signer's, not a TLS certificate or a CA. A gate's MQTT client certificate
 * taken as an issuer would let whoever holds one gate's key sign codes
 * every gate accepts, so `issuer add` refuses a certificate that is a CA,
 * whose key usage leaves out digitalSignature, whose extended key usage is
 * TLS authentication only, or that the site's own CA issued (it issues the
 * TLS certificates of gates, broker, centre and consoles, never a signer).
 * DCC signer usages, other usages beside TLS, and no extended key usage at
 * all are accepted (docs/provisioning.md).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
// node:crypto does not expose the keyUsage bits; @peculiar/x509 reads every extension. It
// resolves its parsers through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ProvisionError } from './errors.js';
import { LAYOUT, sitePath, type Site } from './site.js';

const TLS_USAGES: ReadonlyMap<string, string> = new Map([
  [x509.ExtendedKeyUsage.clientAuth, 'TLS client authentication'],
  [x509.ExtendedKeyUsage.serverAuth, 'TLS server authentication'],
]);

const SIGNER_NEEDS = 'a code signer needs digitalSignature key usage, is no CA, and has no TLS-only extended key usage';

/** Refuses, naming every reason, a certificate that is no code signer's. */
export function checkCodeSigner(site: Site, file: string, certificate: X509Certificate): void {
  let parsed: x509.X509Certificate;
  try {
    parsed = new x509.X509Certificate(certificate.raw);
  } catch (error) {
    // node:crypto parsed it but its extensions do not decode: not a certificate to trust.
    throw new ProvisionError('not-a-signer', `${file}: the extensions of ${subjectOf(certificate)} cannot be read (${(error as Error).message})`);
  }
  const siteCa = new X509Certificate(readFileSync(sitePath(site, LAYOUT.caCert)));
  const reasons = signerRefusals(certificate, parsed, siteCa, (serial) => holderOf(site, serial));
  if (reasons.length > 0) {
    throw new ProvisionError('not-a-signer', `${file}: the certificate of ${subjectOf(certificate)} is not a code signer: ${reasons.join('; ')}; ${SIGNER_NEEDS}`);
  }
}

/** Each rule the certificate breaks, in words; empty for a code signer's certificate. */
function signerRefusals(certificate: X509Certificate, parsed: x509.X509Certificate, siteCa: X509Certificate, holder: (serial: string) => string | undefined): string[] {
  const reasons: string[] = [];
  if (parsed.getExtension(x509.BasicConstraintsExtension)?.ca === true) {
    reasons.push('it is a CA certificate (basicConstraints cA=true)');
  }
  const keyUsage = parsed.getExtension(x509.KeyUsagesExtension);
  if (keyUsage && (keyUsage.usages & x509.KeyUsageFlags.digitalSignature) === 0) {
    reasons.push(`its key usage (${keyUsageNames(keyUsage.usages).join(', ') || 'none'}) lacks digitalSignature`);
  }
  const extended = parsed.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String);
  if (extended && extended.length > 0 && extended.every((oid) => TLS_USAGES.has(oid))) {
    reasons.push(`its extended key usage is ${[...new Set(extended.map((oid) => TLS_USAGES.get(oid)!))].join(' and ')} only`);
  }
  if (certificate.fingerprint256 === siteCa.fingerprint256) {
    reasons.push("it is the site's own CA certificate");
  } else if (certificate.checkIssued(siteCa) && certificate.verify(siteCa.publicKey)) {
    const whose = holder(certificate.serialNumber.toLowerCase());
    reasons.push(`it was issued by the site's CA (which issues TLS certificates only)${whose ? ` to ${whose}` : ''}`);
  }
  return reasons;
}

/** Who the site CA issued a serial to: the broker, the centre, or as site.json records it. */
function holderOf(site: Site, serial: string): string | undefined {
  for (const [file, whose] of [
    [LAYOUT.brokerCert, 'the broker as its TLS server certificate'],
    [LAYOUT.centreClientCert, 'the centre as its MQTT client certificate'],
    [LAYOUT.centreDepartmentCert, "the centre's department intake as its MQTT client certificate"],
    [LAYOUT.centreRecordCert, "the centre's record as its MQTT client certificate"],
  ] as const) {
    if (existsSync(sitePath(site, file)) && new X509Certificate(readFileSync(sitePath(site, file))).serialNumber.toLowerCase() === serial) return whose;
  }
  const { devices, consoles = {}, revoked = [] } = site.record;
  const device = Object.entries(devices).find(([, entry]) => entry.serial === serial);
  if (device) return `device ${device[0]} as its MQTT client certificate`;
  const consoleEntry = Object.entries(consoles).find(([, entry]) => entry.serial === serial);
  if (consoleEntry) return `console ${consoleEntry[0]} as its MQTT client certificate`;
  const old = revoked.find((entry) => entry.serial === serial);
  if (old) return `${old.device} (revoked on ${old.revokedAt})`;
  return undefined;
}

function keyUsageNames(usages: number): string[] {
  return Object.entries(x509.KeyUsageFlags)
    .filter((pair): pair is [string, number] => typeof pair[1] === 'number' && (usages & pair[1]) !== 0)
    .map(([name]) => name);
}

function subjectOf(certificate: X509Certificate): string {
  return certificate.subject.replaceAll('\n', ', ');
}
