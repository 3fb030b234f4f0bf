/**
 * Conformance of the credential stack with the EU DCC test vectors
 * (../shared/data/dcc-testdata): for every vector, every step it names in
 * EXPECTEDRESULTS gives the expected outcome. Steps and how they map:
 *   EXPECTEDUNPREFIX → unprefix      EXPECTEDB45DECODE → base45
 *   EXPECTEDCOMPRESSION → decompress  EXPECTEDDECODE → cose (CBOR/COSE/CWT decode)
 *   EXPECTEDVERIFY → signature with TESTCTX.CERTIFICATE
 *   EXPECTEDEXPIRATIONCHECK → validity at TESTCTX.VALIDATIONCLOCK
 *   EXPECTEDKEYUSAGE → key usage     EXPECTEDPICTUREDECODE → `gate-agent decode` on 2DCODE
 * 22 vectors name EXPECTEDPICTUREDECODE but carry no 2DCODE picture; for
 * them the PREFIX text is drawn as a QR code here (qrcode package) and that
 * picture is decoded, so the step is still exercised end to end.
 * Schema and JSON checks of the DCC payload are not the gate's business and
 * are not asserted.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import QRCode from 'qrcode';
import { decodeQrImage } from '../../device/qr/image-decoder.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier, type VerificationSteps } from '../../edge-agent/credential/verifier.js';
import { sharedData } from '../support/shared-data.js';

interface Vector {
  PREFIX?: string;
  '2DCODE'?: string;
  TESTCTX?: { CERTIFICATE?: string; VALIDATIONCLOCK?: string; DESCRIPTION?: string };
  EXPECTEDRESULTS: Record<string, boolean>;
}

const STEP_OF: Record<string, keyof VerificationSteps> = {
  EXPECTEDUNPREFIX: 'unprefix',
  EXPECTEDB45DECODE: 'base45',
  EXPECTEDCOMPRESSION: 'decompress',
  EXPECTEDDECODE: 'cose',
  EXPECTEDVERIFY: 'signature',
  EXPECTEDEXPIRATIONCHECK: 'validity',
  EXPECTEDKEYUSAGE: 'keyUsage',
};

function vectorFiles(root: string): string[] {
  const files: string[] = [];
  for (const country of readdirSync(root).sort()) {
    const folder = join(root, country, '2DCode', 'raw');
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      continue;
    }
    for (const name of names.sort()) if (name.endsWith('.json')) files.push(join(folder, name));
  }
  return files;
}

test('every DCC test vector gives the result its EXPECTEDRESULTS names', async (t) => {
  const root = sharedData(t, 'dcc-testdata');
  if (!root) return;
  const files = vectorFiles(root);
  assert.ok(files.length >= 80, `expected the vector set, found ${files.length} files`);
  const mismatches: string[] = [];
  let checked = 0;
  let drawn = 0;
  for (const file of files) {
    const vector = JSON.parse(readFileSync(file, 'utf8')) as Vector;
    const name = relative(root, file);
    const trust = new TrustStore();
    if (vector.TESTCTX?.CERTIFICATE) trust.addEncoded(vector.TESTCTX.CERTIFICATE, name);
    // The vectors' clocks are exact: no skew tolerance here.
    const verifier = new CredentialVerifier({ trust, clockSkewSeconds: 0 });
    const clock = vector.TESTCTX?.VALIDATIONCLOCK ? Date.parse(vector.TESTCTX.VALIDATIONCLOCK) : Date.now();
    const result = verifier.verify(vector.PREFIX ?? '', clock);

    for (const [field, expected] of Object.entries(vector.EXPECTEDRESULTS)) {
      const step = STEP_OF[field];
      if (step) {
        checked++;
        const passed = result.steps[step] === true;
        if (passed !== expected) {
          mismatches.push(`${name} ${field}: expected ${expected}, got ${passed} (${result.failure}: ${result.message})`);
        }
      } else if (field === 'EXPECTEDPICTUREDECODE') {
        checked++;
        let picture: Buffer;
        if (vector['2DCODE']) picture = Buffer.from(vector['2DCODE'], 'base64');
        else {
          drawn++;
          picture = await QRCode.toBuffer(vector.PREFIX ?? '', { type: 'png', errorCorrectionLevel: 'Q' });
        }
        const texts = await decodeQrImage(picture).catch(() => [] as string[]);
        const passed = texts.length === 1 && texts[0] === vector.PREFIX;
        if (passed !== expected) {
          mismatches.push(`${name} ${field}: expected ${expected}, got ${passed} (decoded ${JSON.stringify(texts).slice(0, 80)})`);
        }
      }
    }
  }
  t.diagnostic(`${files.length} vectors, ${checked} step results checked (${drawn} pictures drawn from PREFIX)`);
  assert.deepEqual(mismatches, []);
});
