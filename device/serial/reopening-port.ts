/**
 * A serial port that stays open for as long as its owner runs: the one piece
 * every serial module driver (QR scanner, ID-card reader) needs and none
 * should write twice. It opens the path, hands over each chunk read, and
 * when the device goes away it reports 'disconnected' and opens the path
 * again every reopenIntervalMs until the device is back.
 *
 * Unplugging: serialport closes the port with a DisconnectedError (or emits
 * 'error'); both end the port here. start() resolves even when the device is
 * absent, so a lane missing one module still works with the others.
 *
 * Statuses are reported on a change of state only: the failed reopen
 * attempts while a module stays unplugged are logged at debug level.
 */
import { SerialPortStream } from '@serialport/stream';
// The package's exports map has types for its CommonJS entry only.
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Logger } from 'pino';

export interface SerialPortStatus {
  state: 'connected' | 'disconnected';
  reason: string;
}

export interface ReopeningPortOptions {
  path: string;
  baudRate: number;
  reopenIntervalMs: number;
  /** The serialport binding; the platform's (@serialport/bindings-cpp) when absent. */
  binding?: BindingInterface | undefined;
  /** Names the device in log lines: `${device} connected`. */
  device: string;
  logger: Logger;
}

export interface ReopeningPortHandlers {
  onData(chunk: Buffer): void;
  /** Called on a change of state only. */
  onStatus(status: SerialPortStatus): void;
}

export class ReopeningSerialPort {
  private port: SerialPortStream | null = null;
  private opening: Promise<void> | null = null;
  private retry: NodeJS.Timeout | null = null;
  private running = false;
  private current: SerialPortStatus | null = null;

  constructor(
    private readonly options: ReopeningPortOptions,
    private readonly handlers: ReopeningPortHandlers,
  ) {}

  /** The last status reported; null before start() or after stop(). */
  get status(): SerialPortStatus | null {
    return this.current;
  }

  /** Idempotent: a second start() while running does nothing. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.connect();
  }

  /** Idempotent; closes the port and cancels any reopen. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    await this.opening; // an open in flight closes its port itself once it sees running is false
    const port = this.port;
    this.port = null;
    this.current = null;
    if (port) await closeQuietly(detach(port));
  }

  private connect(): Promise<void> {
    this.opening ??= this.open().finally(() => (this.opening = null));
    return this.opening;
  }

  private async open(): Promise<void> {
    const { path, baudRate } = this.options;
    let port: SerialPortStream;
    try {
      // Loaded only when needed, so the simulator never loads the native addon.
      const binding = this.options.binding ?? (await import('serialport')).SerialPort.binding;
      port = new SerialPortStream({ binding, path, baudRate, autoOpen: false });
      const failed = await new Promise<Error | null>((resolve) => port.open(resolve));
      if (failed) throw failed;
    } catch (error) {
      this.lost(`cannot open ${path}: ${(error as Error).message}`);
      return;
    }
    if (!this.running) {
      await closeQuietly(port);
      return;
    }
    this.attach(port);
    this.setStatus({ state: 'connected', reason: `opened ${path} at ${baudRate} baud` });
  }

  private attach(port: SerialPortStream): void {
    this.port = port;
    port.on('data', (chunk: Buffer) => this.handlers.onData(chunk));
    port.on('close', (error: Error | null) => this.onGone(port, error ? `unplugged: ${error.message}` : 'port closed'));
    port.on('error', (error: Error) => this.onGone(port, `port error: ${error.message}`));
  }

  private onGone(port: SerialPortStream, reason: string): void {
    if (this.port !== port) return;
    this.port = null;
    void closeQuietly(detach(port));
    this.lost(reason);
  }

  private lost(reason: string): void {
    if (!this.running) return;
    this.setStatus({ state: 'disconnected', reason });
    if (!this.retry) {
      this.retry = setTimeout(() => {
        this.retry = null;
        if (this.running) void this.connect();
      }, this.options.reopenIntervalMs);
    }
  }

  private setStatus(next: SerialPortStatus): void {
    const log = this.options.logger;
    if (this.current?.state === next.state) {
      log.debug({ reason: next.reason }, `still ${next.state}`);
      return;
    }
    this.current = next;
    if (next.state === 'connected') log.info({ reason: next.reason }, `${this.options.device} connected`);
    else log.warn({ reason: next.reason }, `${this.options.device} disconnected: retrying`);
    try {
      this.handlers.onStatus(next);
    } catch (error) {
      log.error({ err: error }, `${this.options.device} status handler failed`);
    }
  }
}

/** Drop our listeners; keep one on 'error' so a late error from a discarded port cannot throw. */
function detach(port: SerialPortStream): SerialPortStream {
  for (const event of ['data', 'close', 'error']) port.removeAllListeners(event);
  port.on('error', () => {});
  return port;
}

function closeQuietly(port: SerialPortStream): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}
