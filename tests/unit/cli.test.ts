/**
 * The gate-agent executable, run as a child process exactly as an operator
 * would: exit codes 0 (yes), 1 (a negative answer), 2 (usage error).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import QRCode from 'qrcode';
import sharp from 'sharp';
import { encodeClaims, encodeGzhcCode, type GzhcCodeContent } from '../../protocol/credential/encoder.js';
import { PREFIXES } from '../../protocol/credential/profile.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';

/** dist/tests/unit → repo root. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = path.join(ROOT, 'dist', 'edge-agent', 'cli', 'main.js');

const AT = '2025-01-15T08:00:00Z';
const AT_S = Date.parse(AT) / 1000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-agent-cli-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// Valid from a year before AT to well past the real clock: a code's iat must fall inside its signer's certificate.
const issuer = await createSignerCertificate({
  algorithm: 'ES256',
  subject: 'CN=CLI test issuer, O=Test, C=CN',
  notBefore: new Date(Date.UTC(2024, 0, 15)),
  days: 20 * 365,
});
const signer = { certificate: issuer.certificate, privateKey: issuer.privateKey, algorithm: issuer.algorithm };
const KID = createHash('sha256').update(issuer.certificate.raw).digest().subarray(0, 8).toString('base64');

const trustPem = path.join(dir, 'issuer.pem');
fs.writeFileSync(trustPem, issuer.certificatePem);
const notACert = path.join(dir, 'not-a-cert.pem');
fs.writeFileSync(notACert, 'hello, I am not a certificate\n');

function content(overrides: Partial<GzhcCodeContent> = {}): GzhcCodeContent {
  return {
    iss: 'GZ-HC-CLI',
    sub: 'cli-pseudonym-0001',
    iat: AT_S - 30,
    exp: AT_S + 270,
    colour: 'green',
    kind: 'dynamic',
    maskedName: '王*明',
    ...overrides,
  };
}
const VALID = encodeGzhcCode(content(), signer);

/** An EU DCC ("HC1:") signed by the test issuer, with a real-looking name, birth date and certificate id. */
const DCC_NAME = { fn: 'Musterfrau-Gößinger', fnt: 'MUSTERFRAU<GOESSINGER', gn: 'Gabriele', gnt: 'GABRIELE' };
const DCC_DOB = '1964-08-12';
const DCC_CI = 'URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B';
const DCC = encodeClaims(
  new Map<number, unknown>([
    [1, 'AT'],
    [6, AT_S - 30],
    [4, AT_S + 86_400],
    [
      -260,
      new Map([
        [
          1,
          new Map<string, unknown>([
            ['ver', '1.2.1'],
            ['nam', new Map(Object.entries(DCC_NAME))],
            ['dob', DCC_DOB],
            [
              'v',
              [
                new Map<string, unknown>([
                  ['tg', '840539006'],
                  ['vp', '1119349007'],
                  ['mp', 'EU/1/20/1528'],
                  ['ma', 'ORG-100030215'],
                  ['dn', 2],
                  ['sd', 2],
                  ['dt', '2021-06-11'],
                  ['co', 'AT'],
                  ['is', 'Ministry of Health, Austria'],
                  ['ci', DCC_CI],
                ]),
              ],
            ],
          ]),
        ],
      ]),
    ],
  ]),
  signer,
  PREFIXES.dcc,
);

// Images for `decode`, made before any test is declared (a later top-level await would let the runner start).
const plainPng = path.join(dir, 'plain.png');
const multilinePng = path.join(dir, 'multiline.png');
const codePng = path.join(dir, 'code.png');
const blankPng = path.join(dir, 'blank.png');
const notImage = path.join(dir, 'not-an-image.png');
const MULTILINE = 'first line\nsecond "line" — 第二行\n';
await Promise.all([
  QRCode.toFile(plainPng, 'hello gate', { errorCorrectionLevel: 'M', margin: 4, scale: 6 }),
  QRCode.toFile(multilinePng, MULTILINE, { errorCorrectionLevel: 'M', margin: 4, scale: 6 }),
  QRCode.toFile(codePng, VALID, { errorCorrectionLevel: 'M', margin: 4, scale: 4 }),
  sharp({ create: { width: 200, height: 200, channels: 3, background: '#ffffff' } }).png().toFile(blankPng),
  fs.promises.writeFile(notImage, 'this is plain text, not a PNG\n'),
]);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], input?: string): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(r: Run): Record<string, unknown> {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    assert.fail(`stdout is not JSON (exit ${r.status}): ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

describe('gate-agent verify', () => {
  test('a valid code prints the report as JSON and exits 0', () => {
    const r = run(['verify', '--trust', trustPem, '--at', AT, VALID]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const report = json(r);
    assert.equal(report.valid, true);
    assert.equal(report.failure, null);
    assert.equal(report.message, null);
    assert.equal(report.profile, 'gzhc');
    assert.equal(report.kid, KID);
    assert.equal(report.iss, 'GZ-HC-CLI');
    assert.equal(report.iat, AT_S - 30);
    assert.equal(report.exp, AT_S + 270);
    assert.equal(report.algorithm, 'ES256');
    assert.deepEqual(report.claims, { sub: 'cli-pseudonym-0001', colour: 'green', kind: 'dynamic', maskedName: '王*明' });
  });

  test('without --at the code is checked as of now', () => {
    const now = Math.floor(Date.now() / 1000);
    const fresh = encodeGzhcCode(content({ iat: now - 5, exp: now + 295 }), signer);
    const r = run(['verify', '--trust', trustPem, fresh]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(json(r).valid, true);
  });

  test('an invalid code exits 1 and prints the failure', () => {
    const r = run(['verify', '--trust', trustPem, '--at', '2025-01-15T09:00:00Z', VALID]);
    assert.equal(r.status, 1, r.stderr);
    const report = json(r);
    assert.equal(report.valid, false);
    assert.equal(report.failure, 'expired');
    assert.match(String(report.message), /code expired at 2025-01-15T08:04:30\.000Z/);
    // The signature held, so the (masked) claims are still shown: staff see whose stale code it is.
    assert.equal((report.claims as { sub?: string } | null)?.sub, 'cli-pseudonym-0001');
  });

  test("'-' reads the code from standard input (trailing newline dropped)", () => {
    const r = run(['verify', '--trust', trustPem, '--at', AT, '-'], `${VALID}\n`);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = json(r);
    assert.equal(report.valid, true);
    assert.equal(report.kid, KID);
  });

  test('an EU DCC is shown without its certificate id, names or birth year', () => {
    const r = run(['verify', '--trust', trustPem, '--at', AT, DCC]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const report = json(r);
    assert.equal(report.valid, true);
    assert.equal(report.profile, 'dcc');
    // The kid is random per run; leave it out of the search so it cannot hold the year by chance.
    const shown = r.stdout.replace(KID, '');
    for (const secret of [DCC_NAME.fn, DCC_NAME.fnt, DCC_NAME.gn, DCC_NAME.gnt, 'Musterfrau', 'Gabriele', DCC_CI, '10807843F94AEE0E', DCC_DOB.slice(0, 4)]) {
      assert.ok(!shown.includes(secret), `the output shows ${secret}:\n${r.stdout}`);
    }
    const claims = report.claims as { nam?: Record<string, string>; dob?: string; v?: Array<Record<string, unknown>> };
    assert.deepEqual(claims.nam, { fn: 'M*', fnt: 'M*', gn: 'G*', gnt: 'G*' });
    assert.equal(claims.dob, '****-**-**');
    assert.equal(claims.v?.[0]?.dt, '2021-06-11');
    assert.equal(claims.v?.[0]?.ci, undefined);
  });

  test('--at with a bad time exits 2 with a usage message', () => {
    const r = run(['verify', '--trust', trustPem, '--at', 'not-a-time', VALID]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--at: "not-a-time" is not an ISO 8601 time/);
  });

  test('--trust pointing to a non-certificate exits 2 naming the file', () => {
    const r = run(['verify', '--trust', notACert, VALID]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.includes(notACert), r.stderr);
    assert.match(r.stderr, /--trust: .* is not an X\.509 certificate/);
  });

});

describe('gate-agent usage', () => {
  test('no arguments exits 2', () => {
    const r = run([]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Usage: gate-agent/);
  });

  test('--help exits 0 and lists the commands', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: gate-agent/);
    assert.match(r.stdout, /verify/);
    assert.match(r.stdout, /decode/);
  });

});

describe('gate-agent decode', () => {

  test('prints the text of the QR code in a PNG', () => {
    const r = run(['decode', plainPng]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'hello gate\n');
  });

  test('--json prints the exact texts as a JSON array', () => {
    const r = run(['decode', '--json', multilinePng]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${JSON.stringify([MULTILINE])}\n`);
    assert.deepEqual(JSON.parse(r.stdout), [MULTILINE]);
  });

  test('a QR image of a GZHC1 code decodes to exactly the code text', () => {
    const r = run(['decode', codePng]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${VALID}\n`);
  });

  test('an image with no code exits 1', () => {
    const r = run(['decode', blankPng]);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no QR code found/);
  });

  test('a file that is not an image exits 2 naming it', () => {
    const r = run(['decode', notImage]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.ok(r.stderr.includes(notImage), r.stderr);
    assert.match(r.stderr, /not a decodable image/);
  });

});

// ---------------------------------------------------------------------------
// run: the agent on a real gate

test('run: a config without a hardware section is a usage error naming what is missing', () => {
  const file = path.join(dir, 'no-hardware.yaml');
  fs.writeFileSync(file, 'site: mall\nlane: lane-1\n');
  const r = run(['run', '--config', file]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /no "hardware" section/);
});

test('run: a wrong config key is a usage error naming the key', () => {
  const file = path.join(dir, 'bad-key.yaml');
  fs.writeFileSync(file, 'site: mall\nlane: lane-1\nhardware:\n  relay: {pin: 7, kind: NO}\n  passageBeam: {pin: 2}\n  fireAlarm: {pin: 3}\n');
  const r = run(['run', '--config', file]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown key "hardware\.relay\.kind"; allowed here: pin, type, failSafe/);
});

test('run: a board that is not there fails plainly with exit 1', () => {
  const file = path.join(dir, 'no-board.yaml');
  fs.writeFileSync(
    file,
    `site: mall\nlane: lane-1\ncredentials: {trust: ${JSON.stringify(trustPem)}}\njournal: {path: ${JSON.stringify(path.join(dir, 'run-journal.db'))}}\nhardware:\n  board: {port: /dev/ttyNO-SUCH-BOARD, readyTimeoutMs: 2000}\n  relay: {pin: 7}\n  passageBeam: {pin: 2}\n  fireAlarm: {pin: 3}\n  scanner: {path: /dev/ttyNO-SUCH-SCANNER}\n`,
  );
  const r = run(['run', '--config', file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /gate-agent: board: .*ttyNO-SUCH-BOARD/);
});

describe('hash-pin', () => {
  test('prints an scrypt hash the staff page accepts for that PIN and no other; a PIN off the rules is a usage error', async () => {
    const { verifyPin } = await import('../../protocol/privacy/staff-pin.js');
    const { checkConfig } = await import('../../protocol/config/gate-config.js');
    const made = spawnSync(process.execPath, [BIN, 'hash-pin'], { input: '482916\n', encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const hash = made.stdout.trim();
    assert.ok(!made.stdout.includes('482916'), 'the PIN printed');
    assert.equal(await verifyPin('482916', hash), true);
    assert.equal(await verifyPin('482917', hash), false);
    assert.equal(checkConfig({ site: 's', lane: 'l', staff: { pinHash: hash } }).staff.pinHash, hash);
    for (const bad of ['12', 'abcd', '1234567890123', '']) {
      const refused = spawnSync(process.execPath, [BIN, 'hash-pin'], { input: bad, encoding: 'utf8' });
      assert.equal(refused.status, 2, bad);
      assert.match(refused.stderr, /the PIN must be 4 to 12 digits/);
      assert.equal(refused.stdout, '');
    }
  });
});
