/**
 * The rigs' signing keys (issuers, the centre, an operator), made once per
 * machine and kept in the temporary directory, so that an input a rig signed
 * (a re-signed code, a centre message) still verifies when it is replayed
 * later with --replay. A key whose certificate ends within a month is made
 * again.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlgorithmName } from '../../protocol/credential/cose.js';
import { createSignerCertificate, type SignerKeyPair } from '../../protocol/trust/signer-certificate.js';

const DIR = join(tmpdir(), 'health-code-gate-fuzz-keys');
const MONTH_MS = 30 * 86_400_000;

export async function fuzzKey(name: string, subject: string, algorithm: AlgorithmName = 'ES256'): Promise<SignerKeyPair> {
  const file = join(DIR, `${name}-${algorithm}.json`);
  try {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { certificatePem: string; privateKeyPem: string };
    const certificate = new X509Certificate(kept.certificatePem);
    if (Date.parse(certificate.validTo) - Date.now() > MONTH_MS) {
      return { algorithm, certificate, certificatePem: kept.certificatePem, privateKey: createPrivateKey(kept.privateKeyPem) };
    }
  } catch {
    // Not made yet, or unreadable: made now.
  }
  const pair = await createSignerCertificate({ algorithm, subject });
  mkdirSync(DIR, { recursive: true, mode: 0o700 });
  // Written aside and renamed: workers of two runs may make the same key at once.
  const partial = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  writeFileSync(partial, JSON.stringify({ certificatePem: pair.certificatePem, privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) }), { mode: 0o600 });
  renameSync(partial, file);
  return pair;
}
