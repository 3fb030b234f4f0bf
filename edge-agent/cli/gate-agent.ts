/**
 * gate-agent: the edge agent's command line.
 *   verify  check one code text and print the result as JSON
 *   decode  print the QR code texts found in an image
 *   run     the agent on a real gate, from a config file
 *   hash-pin  the staff.pinHash line for a PIN read from standard input
 * Exit codes: 0 success, 1 a negative answer (invalid code, no QR found) or a
 * gate that could not start (board, port) or stop in time, 2 usage error (a bad
 * config included), 3 the board lost while running (see run-gate.ts).
 * `verify` prints its JSON verdict for every code text, however malformed.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isImageError } from '../../device/errors.js';
import { TrustError } from '../../protocol/trust/errors.js';
import { TrustStore } from '../../protocol/trust/trust-store.js';
import { CredentialVerifier, DEFAULT_MAX_TEXT_LENGTH, refusedUnread, type VerificationResult } from '../credential/verifier.js';

/**
 * A wrong command line: main() prints the message and exits 2. Private to
 * this file and of one meaning, so no code: the exit status is its code.
 */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** What `verify` prints: the verdict on the code and its claims, with personal data masked. */
export function verificationReport(result: VerificationResult): Record<string, unknown> {
  return {
    valid: result.valid,
    failure: result.failure,
    message: result.message,
    profile: result.profile,
    kid: result.kid,
    iss: result.iss,
    iat: result.iat,
    exp: result.exp,
    algorithm: result.algorithm,
    // GZHC claims hold only a pseudonym and an already masked name. Of a DCC only the verifier's
    // whitelist is printed (readDccClaims): initials, no birth date, no certificate id (ci).
    claims: result.gzhc ?? result.dcc?.masked ?? null,
  };
}

/** Most bytes of standard input read: the longest code text at 4 UTF-8 bytes a character, and a line break. */
const MAX_STDIN_BYTES = DEFAULT_MAX_TEXT_LENGTH * 4 + 2;

/** The code text, or null when standard input holds more than any code (reading stops there). */
async function readPayload(argument: string): Promise<string | null> {
  if (argument !== '-') return argument;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_STDIN_BYTES) {
      process.stdin.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  // A code text has no line breaks of its own: drop the one `echo` or a scanner adds.
  return Buffer.concat(chunks).toString('utf8').replace(/[\r\n]+$/, '');
}

function tooLongOnStdin(): VerificationResult {
  return refusedUnread(
    'too-large',
    `standard input holds more than ${MAX_STDIN_BYTES} bytes; a code text has at most ${DEFAULT_MAX_TEXT_LENGTH} characters`,
  );
}

function parseTime(value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--at: "${value}" is not an ISO 8601 time`);
  return ms;
}

async function runVerify(payload: string, options: { trust?: string; at?: string; skew: string }): Promise<number> {
  const skew = Number(options.skew);
  if (!Number.isInteger(skew) || skew < 0) throw new UsageError(`--skew: "${options.skew}" is not a whole number of seconds`);
  const at = options.at ? parseTime(options.at) : Date.now();
  let trust = new TrustStore();
  if (options.trust) {
    try {
      trust = TrustStore.load(options.trust);
    } catch (error) {
      if (error instanceof TrustError) throw new UsageError(`--trust: ${error.message}`);
      throw error;
    }
  }
  const text = await readPayload(payload);
  const result = text === null ? tooLongOnStdin() : new CredentialVerifier({ trust, clockSkewSeconds: skew }).verify(text, at);
  process.stdout.write(`${JSON.stringify(verificationReport(result), null, 2)}\n`);
  return result.valid ? 0 : 1;
}

async function runDecode(file: string, options: { json?: boolean }): Promise<number> {
  // Loaded here, not at start: sharp and zxing cost a quarter second that `verify` does not need.
  const { decodeQrImage } = await import('../../device/qr/image-decoder.js');
  let texts: string[];
  try {
    texts = await decodeQrImage(file);
  } catch (error) {
    if (isImageError(error)) throw new UsageError(error.message);
    throw error;
  }
  if (options.json) process.stdout.write(`${JSON.stringify(texts)}\n`);
  else for (const text of texts) process.stdout.write(`${text}\n`);
  if (texts.length === 0) process.stderr.write(`${file}: no QR code found\n`);
  return texts.length > 0 ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('gate-agent')
    .description('Health-code gate edge agent: run a gate, verify codes, read QR images.')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) })
    .addHelpText('after', '\nExit codes: 0 success, 1 a negative answer (a refused code, no QR found), 2 usage error.');

  program
    .command('verify')
    .description('Verify a GZHC1: health code or an EU DCC HC1: certificate; prints one JSON object')
    .argument('<payload>', 'the code text, or - to read it from standard input')
    .option('--trust <file|dir>', 'issuer signer certificates (PEM or DER), a file or a folder')
    .option('--at <iso-time>', 'check validity as of this time instead of now')
    .option('--skew <seconds>', 'clock-skew tolerance on iat and exp', '60')
    .addHelpText(
      'after',
      '\nExit codes:\n' +
        '  0  the code is valid\n' +
        '  1  the code is refused; the JSON names the failure and why (any text, however malformed, gets this answer)\n' +
        '  2  usage error (a bad option or an unreadable --trust); the reason goes to standard error, no JSON',
    )
    .action(async (payload: string, options: { trust?: string; at?: string; skew: string }) => {
      exitCode = await runVerify(payload, options);
    });

  program
    .command('decode')
    .description('Print the text of every QR code in a PNG, JPEG or WebP image, one per line')
    .argument('<image-file>', 'the image')
    .option('--json', 'print one JSON array of the exact texts instead (texts may hold newlines)')
    .action(async (file: string, options: { json?: boolean }) => {
      exitCode = await runDecode(file, options);
    });

  program
    .command('run')
    .description('Run the agent on a real gate: open the hardware the config describes, decide, report; until SIGINT/SIGTERM')
    .requiredOption('-c, --config <file>', 'agent config, YAML or JSON (see docs/gate-config.example.yaml)')
    .addHelpText(
      'after',
      '\nExit codes:\n' +
        '  0  stopped by SIGINT/SIGTERM (within 10 s)\n' +
        '  1  could not start (the board, a port taken), or did not stop within the bound; one log line says why\n' +
        '  2  a bad config; the reason goes to standard error and the log\n' +
        '  3  the board was lost while running: the service manager is to restart it',
    )
    .action(async (options: { config: string }) => {
      const { runGate, startFailureCode } = await import('./run-gate.js');
      try {
        exitCode = await runGate(options.config);
      } catch (error) {
        // What had started is stopped again by now, and the failure logged with its code.
        const code = startFailureCode(error);
        if (code === 'config') throw new UsageError((error as Error).message);
        if (code === 'internal') throw error;
        // The wiring is described but the board does not answer, a port is taken: say so plainly.
        process.stderr.write(`gate-agent: ${code === 'board' ? 'board' : 'start failed'}: ${(error as Error).message}\n`);
        exitCode = 1;
      }
    });

  program
    .command('hash-pin')
    .description('Read a staff PIN (4 to 12 digits) from standard input and print its scrypt hash for staff.pinHash')
    .action(async () => {
      const { hashPin, pinFollowsRules, PIN_RULES } = await import('../../protocol/privacy/staff-pin.js');
      // From standard input, never an argument: arguments show in ps and in shell history.
      const pin = readFileSync(0, 'utf8').replace(/[\r\n]+$/, '');
      if (!pinFollowsRules(pin)) throw new UsageError(`the PIN must be ${PIN_RULES.minDigits} to ${PIN_RULES.maxDigits} digits`);
      process.stdout.write(`${await hashPin(pin)}\n`);
    });

  program
    .command('contract')
    .description('Print the MQTT contract (AsyncAPI 3.0, YAML): every topic and the JSON Schema of its payload')
    .option('--base <topic>', 'base topic, as mqtt.baseTopic', 'hc/v1')
    .action(async (options: { base: string }) => {
      const { asyncApiYaml } = await import('../../protocol/asyncapi.js');
      process.stdout.write(asyncApiYaml(options.base));
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`gate-agent: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  return exitCode;
}
