/**
 * Child process for credential-hostile.test.ts: reads { trustPem, at, texts }
 * as JSON on standard input, verifies each text and prints one JSON verdict
 * (what `gate-agent verify` prints) per line. The test runs it under a small
 * heap cap, so a verification that grows without bound kills it instead of
 * the test runner. Not a *.test.ts file, so `node --test dist/tests/` does not
 * run it by itself.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { verificationReport } from '../../edge-agent/cli/gate-agent.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier } from '../../edge-agent/credential/verifier.js';

const input = JSON.parse(readFileSync(0, 'utf8')) as { trustPem: string; at: number; texts: string[] };
const trust = new TrustStore();
trust.add(new X509Certificate(input.trustPem));
const verifier = new CredentialVerifier({ trust });
for (const text of input.texts) {
  process.stdout.write(`${JSON.stringify(verificationReport(verifier.verify(text, input.at)))}\n`);
}
