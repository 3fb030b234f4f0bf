/**
 * Plays prompt files through the configured player command, one prompt at a
 * time: a newer prompt stops the one playing, since the person at the gate
 * wants the verdict on them, not the one before. Never throws and never
 * blocks the caller. A player that is not there makes the gate silent with
 * one warning; it is looked for again after a minute (a sound package may be
 * installed while the agent runs), not on every decision.
 *
 * spawn, not execFile: the prompt ends when the player exits, even if a child
 * of a wrapper script still holds its output open; and no shell, so a file
 * name is one argument.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { fillCommand } from './render.js';

export interface PlayerOptions {
  /** The player and its arguments; {file} is the WAV file. */
  command: readonly string[];
  /** A player still running after this is stopped. */
  timeoutMs: number;
  logger: Logger;
  /** How long a player that could not be started is left alone. */
  retryAfterMs?: number;
  /** At most one warning per this long about a player that fails. */
  warnEveryMs?: number;
  now?: () => number;
}

const MINUTE_MS = 60_000;

interface Playing {
  child: ChildProcess;
  /** Stopped by us (a newer prompt, or stop()): not a failure. */
  stopped: boolean;
}

export class PromptPlayer {
  private turn = 0;
  private current: Playing | null = null;
  private sequence: Promise<void> = Promise.resolve();
  private unavailableUntil = 0;
  private unavailableWarned = false;
  private unavailable = false;
  private lastFailureWarnAt = -Infinity;
  private suppressedFailures = 0;
  private readonly now: () => number;

  constructor(private readonly options: PlayerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** True while a prompt is being played. */
  get busy(): boolean {
    return this.current !== null;
  }

  /** Stops what is playing and plays these files in order. */
  play(files: readonly string[]): void {
    this.stop();
    const turn = ++this.turn;
    this.sequence = this.playInOrder(files, turn);
  }

  /** Plays only when nothing else is: a prompt of no urgency never cuts off a verdict. */
  playIfQuiet(files: readonly string[]): void {
    if (!this.busy) this.play(files);
  }

  /** Stops what is playing and whatever was to follow it. */
  stop(): void {
    this.turn++;
    const playing = this.current;
    if (playing) {
      playing.stopped = true;
      playing.child.kill('SIGTERM');
    }
  }

  /** Settles when the latest prompt has finished or been stopped (tests, shutdown). */
  async settled(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.sequence;
      await seen;
    } while (seen !== this.sequence);
  }

  private async playInOrder(files: readonly string[], turn: number): Promise<void> {
    // The prompt it replaces has been killed; its exit is not waited for.
    for (const file of files) {
      if (turn !== this.turn) return;
      const ok = await this.playOne(file, turn);
      if (!ok) return;
    }
  }

  /** False when the rest of the prompt should not be tried (stopped, or no player). */
  private playOne(file: string, turn: number): Promise<boolean> {
    const { command, logger } = this.options;
    if (this.now() < this.unavailableUntil) return Promise.resolve(false);
    const [program, ...args] = fillCommand(command, { file });
    let child: ChildProcess;
    try {
      child = spawn(program!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      this.cannotStart(error as NodeJS.ErrnoException);
      return Promise.resolve(false);
    }
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 1000) stderr += chunk;
    });

    const playing: Playing = { child, stopped: false };
    this.current = playing;
    return new Promise<boolean>((resolve) => {
      let settled = false;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, this.options.timeoutMs);
      const finish = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // A grandchild may hold stderr open long after the player is gone.
        child.stderr?.destroy();
        if (this.current === playing) this.current = null;
        resolve(ok && turn === this.turn);
      };
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (error.syscall?.startsWith('spawn')) this.cannotStart(error);
        else logger.debug({ err: error, file }, 'voice player error');
        finish(false);
      });
      child.once('spawn', () => {
        if (!this.unavailable) return;
        this.unavailable = false;
        logger.info({ command: command.join(' ') }, 'voice player found: prompts are spoken');
      });
      child.once('exit', (code, signal) => {
        if (settled) return;
        if (playing.stopped) return finish(false);
        if (timedOut) this.failed({ file, timeoutMs: this.options.timeoutMs }, `voice player ${program} timed out: stopped`);
        else if (code !== 0) this.failed({ file, code, signal, stderr: stderr.trim().slice(0, 300) }, `voice player ${program} failed`);
        finish(true);
      });
    });
  }

  private cannotStart(error: NodeJS.ErrnoException): void {
    const { command, logger } = this.options;
    this.unavailable = true;
    this.unavailableUntil = this.now() + (this.options.retryAfterMs ?? MINUTE_MS);
    const fields = { command: command.join(' '), code: error.code };
    if (this.unavailableWarned) {
      logger.debug(fields, 'voice player still cannot be started');
    } else {
      this.unavailableWarned = true;
      logger.warn(fields, `voice player ${command[0]} cannot be started (${error.code}): the gate is silent; looked for again every minute`);
    }
  }

  /** A player that fails on every prompt would fill the log: one warning a minute, with the count held back. */
  private failed(fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    if (now - this.lastFailureWarnAt < (this.options.warnEveryMs ?? MINUTE_MS)) {
      this.suppressedFailures++;
      return;
    }
    this.options.logger.warn({ ...fields, suppressed: this.suppressedFailures }, message);
    this.lastFailureWarnAt = now;
    this.suppressedFailures = 0;
  }
}
