/**
 * Prompts rendered ahead of time: speaking must not wait for a synthesiser
 * while a person stands at the gate, and a Raspberry Pi takes a second or
 * more per sentence. Each text becomes one WAV file in the cache folder,
 * named by a hash of the command, voice and text, so a changed text or
 * command renders again and an unchanged one is not rendered twice.
 * Shipped recordings in voice.audioDir win over rendering.
 *
 * Commands run with execFile, never a shell: a text is one argument whatever
 * it holds.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Language, PromptId } from './prompts.js';

export interface RenderJob {
  id: PromptId;
  language: Language;
  text: string;
}

export interface RenderOptions {
  /** The command and its arguments, with {voice}, {file} and {text} placeholders. */
  command: readonly string[];
  voices: Record<Language, string>;
  cacheDir: string;
  audioDir?: string;
  timeoutMs: number;
  /** Renders at once; two keep a Pi's other core for the lane. */
  concurrency?: number;
  logger: Logger;
  /** Aborts the renders in progress (the agent stopping). */
  signal?: AbortSignal;
}

export interface RenderResult {
  /** `<id>.<language>` → the WAV file to play. */
  files: Map<string, string>;
  shipped: number;
  cached: number;
  rendered: number;
  /** `<id>.<language>` that have no audio: they stay silent. */
  silent: string[];
}

export function fileKey(id: PromptId, language: Language): string {
  return `${id}.${language}`;
}

/** The cache file of one text: a changed command, voice or text is another file. */
export function cacheFileName(job: RenderJob, command: readonly string[], voice: string): string {
  const hash = createHash('sha256').update(JSON.stringify([command, voice, job.text])).digest('hex').slice(0, 16);
  return `${job.id}.${job.language}.${hash}.wav`;
}

/** Our own cache files (and half-written ones), which alone may be deleted as stale. */
const CACHE_FILE = /^[a-z0-9-]+\.(zh|en)\.[0-9a-f]{16}(\.partial)?\.wav$/;

/**
 * Fills placeholders in one pass, so a text that itself holds "{file}" is not
 * filled again. A text is never taken for an option: a leading '-' gets a space before it.
 */
export function fillCommand(command: readonly string[], values: { voice?: string; file: string; text?: string }): string[] {
  const text = values.text?.startsWith('-') ? ` ${values.text}` : values.text;
  const filled: Record<string, string | undefined> = { voice: values.voice, file: values.file, text };
  return command.map((arg) => arg.replace(/\{(voice|file|text)\}/g, (whole, name: string) => filled[name] ?? whole));
}

function isFile(path: string, minBytes = 1): boolean {
  try {
    const stat = statSync(path);
    return stat.isFile() && stat.size >= minBytes;
  } catch {
    return false;
  }
}

/** A WAV header is 44 bytes: anything shorter holds no sound. */
const MIN_WAV_BYTES = 45;

interface Failure {
  code: string | number | undefined;
  detail: string;
}

/** Null when the file was written; else why not. */
function runRender(file: string, argv: string[], options: RenderOptions): Promise<Failure | null> {
  const [program, ...args] = argv;
  return new Promise((resolve) => {
    execFile(
      program!,
      args,
      { timeout: options.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024, ...(options.signal ? { signal: options.signal } : {}) },
      (error, _stdout, stderr) => {
        if (error) {
          const { code, killed } = error as NodeJS.ErrnoException & { killed?: boolean };
          const why = killed && error.name !== 'AbortError' ? `timed out after ${options.timeoutMs} ms` : error.message;
          resolve({ code: error.name === 'AbortError' ? 'ABORT_ERR' : code, detail: `${why}${stderr ? `: ${String(stderr).trim().slice(0, 300)}` : ''}` });
        } else if (!isFile(file, MIN_WAV_BYTES)) {
          resolve({ code: undefined, detail: `exited 0 but wrote no audio to ${file}` });
        } else {
          resolve(null);
        }
      },
    );
  });
}

/**
 * Finds or renders every job's audio. Never throws: a missing or failing
 * renderer leaves its prompts silent, with one warning naming the command.
 */
export async function renderPrompts(jobs: readonly RenderJob[], options: RenderOptions): Promise<RenderResult> {
  const { logger, command, cacheDir } = options;
  const result: RenderResult = { files: new Map(), shipped: 0, cached: 0, rendered: 0, silent: [] };
  const toRender: Array<{ job: RenderJob; file: string; voice: string }> = [];
  const keep = new Set<string>();

  for (const job of jobs) {
    const key = fileKey(job.id, job.language);
    if (options.audioDir) {
      const shipped = join(options.audioDir, `${key}.wav`);
      if (isFile(shipped)) {
        result.files.set(key, shipped);
        result.shipped++;
        continue;
      }
    }
    const voice = options.voices[job.language];
    const name = cacheFileName(job, command, voice);
    keep.add(name);
    const file = join(cacheDir, name);
    if (isFile(file, MIN_WAV_BYTES)) {
      result.files.set(key, file);
      result.cached++;
    } else {
      toRender.push({ job, file, voice });
    }
  }

  if (toRender.length > 0) {
    try {
      mkdirSync(cacheDir, { recursive: true });
    } catch (error) {
      logger.warn({ cacheDir, err: error }, 'voice prompts: cache folder cannot be made; prompts not rendered are silent');
      result.silent.push(...toRender.map(({ job }) => fileKey(job.id, job.language)));
      return result;
    }
  }

  const failures: Array<Failure & { key: string }> = [];
  let missing = null as Failure | null;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < toRender.length) {
      const { job, file, voice } = toRender[next++]!;
      const key = fileKey(job.id, job.language);
      // A renderer that is not installed fails the same way for every prompt: once is enough.
      if (missing || options.signal?.aborted) {
        result.silent.push(key);
        continue;
      }
      // Written aside and renamed: a render cut short never passes for a cached prompt.
      const partial = file.replace(/\.wav$/, '.partial.wav');
      const failure = await runRender(partial, fillCommand(command, { voice, file: partial, text: job.text }), options);
      if (failure) {
        if (failure.code === 'ENOENT' || failure.code === 'EACCES') missing ??= failure;
        else if (failure.code !== 'ABORT_ERR') failures.push({ key, ...failure });
        result.silent.push(key);
        try {
          unlinkSync(partial);
        } catch {
          // Never written.
        }
        continue;
      }
      try {
        renameSync(partial, file);
        result.files.set(key, file);
        result.rendered++;
      } catch (error) {
        failures.push({ key, code: (error as NodeJS.ErrnoException).code, detail: (error as Error).message });
        result.silent.push(key);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 2, toRender.length) }, worker));

  if (missing) {
    logger.warn(
      { command: command.join(' '), code: missing.code, silent: result.silent.length },
      `voice prompts: renderer ${command[0]} cannot be run (${missing.code}); prompts without shipped audio are silent`,
    );
  } else if (failures.length > 0) {
    logger.warn(
      { command: command.join(' '), failed: failures.map((f) => f.key), first: failures[0]!.detail },
      `voice prompts: renderer ${command[0]} failed for ${failures.length} prompt(s); they are silent`,
    );
  }
  if (toRender.length > 0 && !options.signal?.aborted) pruneStale(cacheDir, keep, logger);
  return result;
}

/** Files of texts or commands no longer in use, so the cache does not grow with every change. */
function pruneStale(cacheDir: string, keep: Set<string>, logger: Logger): void {
  try {
    for (const name of readdirSync(cacheDir)) {
      if (CACHE_FILE.test(name) && !keep.has(name)) unlinkSync(join(cacheDir, name));
    }
  } catch (error) {
    logger.debug({ cacheDir, err: error }, 'voice prompts: stale cache files not removed');
  }
}
