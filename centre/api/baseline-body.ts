/**
 * A baseline's body, read as it arrives (NDJSON or CSV, up to millions of
 * rows, never held whole): every row is checked as a change is, and the
 * checked rows go to a spool file beside the digest of them all. Only when
 * the last row passed does the store see any: one bad row refuses the whole
 * baseline with its line number, and nothing is stored; and the store gets
 * the baseline's digest before its rows, which it needs to tell a retry of
 * the same baseline from a conflict.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { CsvError, parse } from 'csv-parse';
import type { ColourEntry } from '../store/store.js';
import { checkEntry, EntryDigest } from './entries.js';

export type BaselineFormat = 'ndjson' | 'csv';

/** The longest line (NDJSON) or record (CSV): a status is a few hundred bytes; more is not one. */
export const MAX_LINE_BYTES = 64 * 1024;
const CSV_COLUMNS = ['subject', 'colour', 'effectiveAt', 'reason', 'idHash'] as const;

/** A row refused: which line, which field, and why; the status the API answers with. */
export class BaselineRefusal extends Error {
  override readonly name = 'BaselineRefusal';
  constructor(
    readonly code: 'invalid-change' | 'national-id-subject' | 'batch-too-large' | 'malformed-request',
    readonly status: 400 | 413,
    message: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

export interface SpoolOptions {
  now: number;
  maxSkewMs: number;
  maxRows: number;
  /** Where the spool file goes (default the system's temporary directory). */
  dir?: string;
  /** Hears the rows read so far, every `progressEvery`. */
  onProgress?: (rows: number) => void;
  progressEvery?: number;
}

export interface SpooledBaseline {
  rows: number;
  digest: string;
  /** The checked rows again, in chunks, from the spool. */
  chunks(chunkRows: number, onProgress?: (rows: number) => void, progressEvery?: number): AsyncIterable<ColourEntry[]>;
  dispose(): Promise<void>;
}

/** Lines of a byte stream, each at most MAX_LINE_BYTES, with their numbers from 1. */
async function* lines(source: AsyncIterable<Buffer | string>): AsyncGenerator<{ text: string; line: number }> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;
  for await (const piece of source) {
    let chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10)) {
      line++;
      if (pendingBytes + at > MAX_LINE_BYTES) throw new BaselineRefusal('malformed-request', 400, `line ${line}: longer than ${MAX_LINE_BYTES} bytes`, line);
      const text = pending.length ? Buffer.concat([...pending, chunk.subarray(0, at)]).toString('utf8') : chunk.toString('utf8', 0, at);
      pending = [];
      pendingBytes = 0;
      yield { text, line };
      chunk = chunk.subarray(at + 1);
    }
    if (chunk.length) {
      pendingBytes += chunk.length;
      if (pendingBytes > MAX_LINE_BYTES) throw new BaselineRefusal('malformed-request', 400, `line ${line + 1}: longer than ${MAX_LINE_BYTES} bytes`, line + 1);
      pending.push(chunk);
    }
  }
  if (pendingBytes) yield { text: Buffer.concat(pending).toString('utf8'), line: line + 1 };
}

/** NDJSON rows as values with their line numbers; blank lines are skipped. */
async function* ndjsonRows(body: Readable): AsyncGenerator<{ value: unknown; line: number }> {
  for await (const { text, line } of lines(body)) {
    const trimmed = text.trim();
    if (!trimmed) continue;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch {
      throw new BaselineRefusal('invalid-change', 400, `line ${line}: not JSON`, line, 'row');
    }
    yield { value, line };
  }
}

/** CSV rows, after a header naming subject, colour, effectiveAt and optionally reason and idHash. */
async function* csvRows(body: Readable): AsyncGenerator<{ value: unknown; line: number }> {
  const parser = parse({ bom: true, info: true, skip_empty_lines: true, max_record_size: MAX_LINE_BYTES, relax_column_count: false });
  body.on('error', (error) => parser.destroy(error));
  body.pipe(parser);
  let header: string[] | null = null;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const line = info.lines;
      if (!header) {
        header = record.map((name) => name.trim());
        const known = header.every((name) => (CSV_COLUMNS as readonly string[]).includes(name)) && new Set(header).size === header.length;
        if (!known || !['subject', 'colour', 'effectiveAt'].every((name) => header!.includes(name))) {
          throw new BaselineRefusal('malformed-request', 400, `line ${line}: the header must name subject,colour,effectiveAt and optionally reason,idHash; it names ${header.join(',').slice(0, 200)}`, line, 'header');
        }
        continue;
      }
      const value: Record<string, unknown> = {};
      header.forEach((name, i) => {
        const text = record[i] ?? '';
        if (name === 'effectiveAt') value[name] = /^\d{1,15}$/.test(text) ? Number(text) : text;
        else if (name === 'reason' || name === 'idHash') value[name] = text === '' ? null : text;
        else value[name] = text;
      });
      yield { value, line };
    }
  } catch (error) {
    if (error instanceof BaselineRefusal) throw error;
    // Every parse error is a CsvError; not every code starts with CSV_ (INVALID_OPENING_QUOTE does not).
    if (error instanceof CsvError) {
      const at = (error as CsvError & { lines?: number }).lines;
      throw new BaselineRefusal('invalid-change', 400, `line ${at ?? '?'}: not CSV (${error.message})`, at, 'row');
    }
    throw error;
  } finally {
    body.unpipe(parser);
  }
  if (!header) throw new BaselineRefusal('malformed-request', 400, 'the body is empty: a CSV baseline starts with its header', 1, 'header');
}

/** Reads, checks and spools the whole body; throws a BaselineRefusal at the first bad row. */
export async function spoolBaseline(body: Readable, format: BaselineFormat, options: SpoolOptions): Promise<SpooledBaseline> {
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), 'centre-baseline-'));
  const path = join(dir, 'rows.ndjson');
  const dispose = (): Promise<void> => rm(dir, { recursive: true, force: true });
  const out = createWriteStream(path, { mode: 0o600 });
  // A write the disk refuses, or one still in flight when a refused row destroys the stream, comes as an
  // 'error' event: kept here and thrown from the loop, never left to crash the process.
  let writeError: Error | null = null;
  out.on('error', (error) => (writeError ??= error));
  const digest = new EntryDigest('baseline');
  const every = options.progressEvery ?? 100_000;
  let rows = 0;
  try {
    for await (const { value, line } of format === 'csv' ? csvRows(body) : ndjsonRows(body)) {
      const checked = checkEntry(value, options.now, options.maxSkewMs);
      if (!checked.ok) throw new BaselineRefusal(checked.refusal.code, 400, `line ${line}: ${checked.refusal.message}`, line, checked.refusal.field);
      if (++rows > options.maxRows) throw new BaselineRefusal('batch-too-large', 413, `line ${line}: more than the ${options.maxRows} rows a baseline may have`, line);
      const { entry } = checked;
      digest.add(entry);
      if (writeError) throw writeError;
      if (!out.write(`${JSON.stringify([entry.subject, entry.colour, entry.effectiveAt, entry.reason ?? null, entry.idHash ?? null])}\n`)) await once(out, 'drain');
      if (rows % every === 0) options.onProgress?.(rows);
    }
    out.end();
    await finished(out);
  } catch (error) {
    out.destroy();
    await dispose();
    throw error;
  }
  return {
    rows,
    digest: digest.digest(),
    dispose,
    async *chunks(chunkRows, onProgress, progressEvery = every) {
      let chunk: ColourEntry[] = [];
      let taken = 0;
      for await (const { text } of lines(createReadStream(path, { highWaterMark: 256 * 1024 }))) {
        const [subject, colour, effectiveAt, reason, idHash] = JSON.parse(text) as [string, ColourEntry['colour'], number, string | null, string | null];
        chunk.push({ subject, colour, effectiveAt, reason, idHash });
        if (++taken % progressEvery === 0) onProgress?.(taken);
        if (chunk.length >= chunkRows) {
          yield chunk;
          chunk = [];
        }
      }
      if (chunk.length) yield chunk;
    },
  };
}
