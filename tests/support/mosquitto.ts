/**
 * A real Mosquitto broker for tests (Debian package `mosquitto`): run in the
 * foreground as a child process with its own config in a fresh temp dir, on
 * free loopback ports. A user's machine may lack it: tests skip with a clear
 * message there, and fail in CI (CI is set), where .ci/run installs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

export interface MosquittoTlsOptions {
  /** CA that clients' certificates must chain to (and that signed certPem, for clients to trust). */
  caPem: string;
  certPem: string;
  keyPem: string;
  /** require_certificate: refuse clients without a certificate from caPem. */
  requireCertificate?: boolean;
  /** use_identity_as_username: the client certificate's CN is the username (ACLs apply to it). */
  useIdentityAsUsername?: boolean;
}

export interface MosquittoOptions {
  /** A plain listener; default true. */
  plain?: boolean;
  /** A TLS listener. */
  tls?: MosquittoTlsOptions;
  /** username → password, hashed with mosquitto_passwd into the password file. */
  passwords?: Record<string, string>;
  /** Default: true when no passwords are given (Mosquitto 2's own default is false). */
  allowAnonymous?: boolean;
  /** ACL file text, e.g. "user gate-s1-l1\ntopic write hc/v1/s1/l1/#". */
  acl?: string;
  /** max_inflight_messages: QoS 1 and 2 messages in flight to each client. */
  maxInflight?: number;
  /** Raw config lines appended to the global section (before the listeners). */
  extra?: string;
  /** Bound on start-up (until every port accepts a connection); default 10 s. */
  startTimeoutMs?: number;
}

export interface MosquittoBroker {
  /** mqtt://127.0.0.1:port when there is a plain listener. */
  url: string;
  tlsUrl?: string;
  port: number;
  tlsPort?: number;
  /** Stops the broker and waits for it to exit; SIGKILL to simulate a crash. Safe to call twice. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports, for broker-outage tests. */
  start(): Promise<void>;
  /** Everything the broker has logged, across restarts. */
  log(): string;
  /** Signals the running broker: SIGSTOP freezes it (connections stay open, nothing is answered), SIGCONT resumes it. */
  signal(signal: NodeJS.Signals): void;
}

const INSTALL_HINT = 'mosquitto not installed: apt-get install -y mosquitto';

/** The mosquitto binary: Debian puts it in /usr/sbin, which a non-root PATH often lacks. */
export function mosquittoPath(): string | null {
  return findExecutable('mosquitto', ['/usr/sbin', '/usr/local/sbin']);
}

export function mosquittoAvailable(): boolean {
  return mosquittoPath() !== null && findExecutable('mosquitto_passwd', ['/usr/bin']) !== null;
}

/** True when mosquitto can run; otherwise skips the test, or fails it in CI, where it must be present. */
export function requireMosquitto(t: TestContext): boolean {
  if (mosquittoAvailable()) return true;
  if (process.env.CI) throw new Error(`${INSTALL_HINT}; CI must have it (.ci/run installs it)`);
  t.skip(INSTALL_HINT);
  return false;
}

function findExecutable(name: string, extraDirs: string[]): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs]) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this folder
    }
  }
  return null;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A crashed test run must not leave brokers behind holding ports. */
function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const broker of running) broker.kill('SIGKILL');
  });
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const bin = mosquittoPath();
  if (!bin || !mosquittoAvailable()) throw new Error(INSTALL_HINT);
  const plain = options.plain ?? true;
  if (!plain && !options.tls) throw new Error('startMosquitto: neither a plain nor a TLS listener asked for');
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  const passwordText = options.passwords ? hashPasswords(options.passwords) : undefined;

  let ports = { port: plain ? await freePort() : 0, tlsPort: options.tls ? await freePort() : 0 };
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let dir = '';
  let earlierLog = '';
  let output = '';

  const logFile = (): string => (dir ? join(dir, 'mosquitto.log') : '');
  const log = (): string => {
    let current = '';
    try {
      current = dir ? readFileSync(logFile(), 'utf8') : '';
    } catch {
      // not written yet
    }
    return earlierLog + current + output;
  };

  const launch = async (): Promise<void> => {
    // Each run gets a fresh dir, so a test that never calls stop() still leaves nothing stale for the next.
    dir = mkdtempSync(join(tmpdir(), 'gate-mosquitto-'));
    output = '';
    const config = writeFiles(dir, options, ports, passwordText);
    const proc = spawn(bin, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    killOnExit(proc);
    // Errors before the log file opens (a bad config line) only reach stdout and stderr.
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-20_000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    let exitCode: number | null | undefined;
    exited = new Promise<void>((resolve) => {
      proc.once('exit', (code, signal) => {
        exitCode = code ?? (signal ? -1 : null);
        resolve();
      });
      proc.once('error', (error) => {
        output += `\nspawn ${bin}: ${error.message}\n`;
        exitCode = -1;
        resolve();
      });
    });
    const deadline = Date.now() + timeoutMs;
    for (const port of [ports.port, ports.tlsPort].filter((p) => p !== 0)) {
      for (;;) {
        if (exitCode !== undefined) throw new Error(`mosquitto exited (code ${exitCode}) before listening on ${port}:\n${tail(log())}`);
        if (await accepts(port)) break;
        if (Date.now() > deadline) {
          await stop('SIGKILL');
          throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${tail(log())}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const proc = child;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill(signal);
      const killed = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killed);
    }
    child = null;
    if (dir) {
      earlierLog = log();
      output = '';
      rmSync(dir, { recursive: true, force: true });
      dir = '';
    }
  };

  // A free port may be taken again before mosquitto binds it (tests run side by side): try fresh ones.
  for (let attempt = 1; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      await stop('SIGKILL');
      if (attempt >= 3 || !/Address already in use/.test(log())) throw error;
      ports = { port: plain ? await freePort() : 0, tlsPort: options.tls ? await freePort() : 0 };
    }
  }

  return {
    url: `mqtt://127.0.0.1:${ports.port}`,
    ...(options.tls ? { tlsUrl: `mqtts://127.0.0.1:${ports.tlsPort}`, tlsPort: ports.tlsPort } : {}),
    port: ports.port,
    stop,
    start: async () => {
      if (child) throw new Error('mosquitto is already running');
      try {
        await launch();
      } catch (error) {
        await stop('SIGKILL');
        throw error;
      }
    },
    log,
    signal: (signal) => {
      child?.kill(signal);
    },
  };
}

function writeFiles(dir: string, options: MosquittoOptions, ports: { port: number; tlsPort: number }, passwordText?: string): string {
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    return path;
  };
  const lines = [
    // Started as root, Mosquitto 2 drops to user "mosquitto", which cannot read a 0700 temp dir.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    'persistence false',
    `log_dest file ${join(dir, 'mosquitto.log')}`,
    'log_type all',
    'log_timestamp_format %H:%M:%S',
    // One set of auth settings for both listeners.
    'per_listener_settings false',
    `allow_anonymous ${options.allowAnonymous ?? options.passwords === undefined}`,
  ];
  if (passwordText !== undefined) lines.push(`password_file ${file('passwords', passwordText)}`);
  if (options.acl !== undefined) lines.push(`acl_file ${file('acl', `${options.acl}\n`)}`);
  if (options.maxInflight !== undefined) lines.push(`max_inflight_messages ${options.maxInflight}`);
  if (options.extra) lines.push(options.extra);
  if (ports.port) lines.push('', `listener ${ports.port} 127.0.0.1`);
  if (options.tls) {
    const tls = options.tls;
    lines.push(
      '',
      `listener ${ports.tlsPort} 127.0.0.1`,
      `cafile ${file('ca.pem', tls.caPem)}`,
      `certfile ${file('server.pem', tls.certPem)}`,
      `keyfile ${file('server.key', tls.keyPem)}`,
      `require_certificate ${tls.requireCertificate ?? false}`,
      `use_identity_as_username ${tls.useIdentityAsUsername ?? false}`,
    );
  }
  return file('mosquitto.conf', `${lines.join('\n')}\n`);
}

/**
 * Hashed once with Debian's mosquitto_passwd, one -b call per user: its -U
 * (rewrite a plain file) cuts a password at its first colon.
 */
function hashPasswords(passwords: Record<string, string>): string {
  const tool = findExecutable('mosquitto_passwd', ['/usr/bin']) ?? 'mosquitto_passwd';
  const dir = mkdtempSync(join(tmpdir(), 'gate-mosquitto-passwd-'));
  try {
    const path = join(dir, 'passwords');
    Object.entries(passwords).forEach(([user, password], index) => {
      if (/[:\n]/.test(user) || /\n/.test(password)) throw new Error(`mosquitto's password file cannot hold user ${JSON.stringify(user)} or that password`);
      const args = [...(index === 0 ? ['-c'] : []), '-b', path, user, password];
      const result = spawnSync(tool, args, { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`mosquitto_passwd -b for ${user} failed (${result.status}): ${result.stderr || result.stdout || result.error?.message}`);
    });
    return Object.keys(passwords).length ? readFileSync(path, 'utf8') : '';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether something accepts a TCP connection on this loopback port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
