/**
 * A site made by gate-provision, run for real in tests: Mosquitto on the
 * site's own mosquitto.conf, and the centre's signing key from the site
 * folder.
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { accepts, mosquittoPath } from './mosquitto.js';
import { pause } from './wait.js';

/**
 * Mosquitto on the site's mosquitto.conf, unchanged but for a preamble: its
 * log on stderr, and `user root` when the test runs as root (Mosquitto would
 * otherwise become user mosquitto, who cannot read the owner-only broker key).
 * Stopped after the test; resolves once `port` accepts connections.
 */
export async function runSiteBroker(t: TestContext, conf: string, port: number): Promise<{ log(): string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'site-broker-'));
  const file = path.join(dir, 'mosquitto.conf');
  const preamble = process.getuid?.() === 0 ? 'user root\n' : '';
  fs.writeFileSync(file, `${preamble}log_dest stderr\nlog_type all\n${fs.readFileSync(conf, 'utf8')}`);
  const broker = spawn(mosquittoPath()!, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  for (const stream of [broker.stdout, broker.stderr]) stream.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<void>((resolve) => broker.once('exit', () => resolve()));
  t.after(async () => {
    broker.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (broker.exitCode !== null) throw new Error(`mosquitto exited with ${broker.exitCode}:\n${log}`);
    if (Date.now() > deadline) throw new Error(`mosquitto is not listening on ${port}:\n${log}`);
    await pause(25);
  }
  return { log: () => log };
}

/** The site's centre signing key (a site made without a passphrase: the key file is plain PKCS#8). */
export function siteCentreKey(site: string): SignerKeyPair {
  const certificatePem = fs.readFileSync(path.join(site, 'centre', 'centre.pem'), 'utf8');
  return {
    algorithm: 'ES256',
    certificate: new X509Certificate(certificatePem),
    privateKey: createPrivateKey(fs.readFileSync(path.join(site, 'centre', 'centre.key'))),
    certificatePem,
  };
}
