/**
 * A baseline's body through the parser the API streams it into
 * (centre/api/baseline-body.ts spoolBaseline), NDJSON and CSV, delivered in
 * pieces cut anywhere (inside a line, a quoted field, a UTF-8 character).
 * The HTTP surface (http-centre.ts) reaches the route with whole requests,
 * whose bodies are rarely rows; here every row is built from its fields and
 * mutated (any value at any field, national ID numbers, times before 2019
 * or in the future, quotes, separators, BOMs, CRLF, long lines, too many
 * rows), as text and as bytes.
 *
 * The shape: the rows, each checked (a subject, a colour, a time from 2019
 * to now plus the skew), as many as the body's non-blank NDJSON lines, and
 * the spool given back whole; or a BaselineRefusal (400 or 413, a code of
 * its own, the line it names within the body), the spool removed, nothing
 * else thrown.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { BaselineRefusal, MAX_LINE_BYTES, spoolBaseline, type BaselineFormat } from '../../centre/api/baseline-body.js';
import { COLOURS } from '../../protocol/domain.js';
import { weird } from './json-arbitraries.js';
import { mutatedBytes, mutatedText } from './mutate.js';
import { describeError, fromUtf8, ok, offShape, thrown, utf8, type Regression, type Rig, type Surface, type Verdict } from './surface.js';

export interface BaselineInput {
  format: BaselineFormat;
  body: Buffer;
  /** Offsets the body is cut at into the pieces the stream yields. */
  cuts: number[];
}

const MB = 1 << 20;
const MAX_ROWS = 1000;
const SKEW_MS = 60_000;
const EARLIEST = Date.UTC(2019, 0, 1);
const REFUSAL_CODES = new Set(['invalid-change', 'national-id-subject', 'batch-too-large', 'malformed-request']);

const encode = (input: BaselineInput): Uint8Array => utf8(JSON.stringify({ format: input.format, body: input.body.toString('base64'), cuts: input.cuts }));
const decode = (bytes: Uint8Array): BaselineInput => {
  const o = JSON.parse(fromUtf8(bytes)) as { format: BaselineFormat; body: string; cuts: number[] };
  return { format: o.format, body: Buffer.from(o.body, 'base64'), cuts: o.cuts };
};

function pieces(input: BaselineInput): Buffer[] {
  const at = [...new Set(input.cuts.map((c) => c % (input.body.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...at, input.body.length]) {
    if (cut > from) out.push(input.body.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return out;
}

const now = Date.now();
const subject = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 50 }).map((i) => `sub-${i}`) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '11010519491231002X', '110105194912310021', '11010519491231002x', 'a'.repeat(128), 'a'.repeat(129), 'with space', 'a,b', 'a"b', '中文', '\u0000', 'x\r') },
);
const colour = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...COLOURS) }, { weight: 1, arbitrary: fc.constantFrom('blue', 'GREEN', '', ' red') });
const effectiveAt = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: EARLIEST, max: now - 1000 }) },
  { weight: 2, arbitrary: fc.integer({ min: EARLIEST, max: now - 1000 }).map((t) => new Date(t).toISOString()) },
  { weight: 1, arbitrary: fc.constantFrom(EARLIEST - 1, 1_546_300_800, now + 3_600_000, 1e21, -1, 0, 8.64e15, 2 ** 53, '2024-13-01T00:00:00Z', '2024-02-30', 'soon', '1700000000000', '') },
);
const optional = (values: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: values }, { weight: 1, arbitrary: fc.constant(null) });
const reason = optional(fc.oneof(fc.constantFrom('contact', 'travel', 'self-report'), fc.constantFrom('', 'x'.repeat(100), 'Contact', 'a,b')));
const idHash = optional(fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.constantFrom('', 'short', 'G'.repeat(64))));

const row = fc.record({ subject, colour, effectiveAt, reason, idHash }).chain((r) =>
  fc.oneof({ weight: 10, arbitrary: fc.constant(r as Record<string, unknown>) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom('subject', 'colour', 'effectiveAt', 'reason', 'idHash', 'extra'), weird).map(([k, v]) => ({ ...r, [k]: v })) }),
);

function ndjson(rows: Record<string, unknown>[], blank: number, crlf: boolean): string {
  const lines = rows.map((r) => JSON.stringify(r));
  if (blank > 0) lines.splice(blank % (lines.length + 1), 0, '', '   ');
  return lines.join(crlf ? '\r\n' : '\n') + (crlf ? '\r\n' : '\n');
}

function csvField(value: unknown, quote: boolean): string {
  const text = value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return quote || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csv(rows: Record<string, unknown>[], header: string[], quote: boolean, crlf: boolean): string {
  const eol = crlf ? '\r\n' : '\n';
  return [header.join(','), ...rows.map((r) => header.map((h) => csvField(r[h], quote)).join(','))].join(eol) + eol;
}

const HEADERS = [
  ['subject', 'colour', 'effectiveAt'],
  ['subject', 'colour', 'effectiveAt', 'reason', 'idHash'],
  ['effectiveAt', 'subject', 'colour', 'reason'],
  ['subject', 'colour'],
  ['subject', 'colour', 'effectiveAt', 'subject'],
  ['subject', 'colour', 'effectiveAt', 'when'],
  [' subject ', 'colour', 'effectiveAt'],
];

function arbitrary(seeds: BaselineInput[]): fc.Arbitrary<BaselineInput> {
  const cuts = fc.oneof({ weight: 3, arbitrary: fc.constant([] as number[]) }, { weight: 2, arbitrary: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }) });
  const rows = fc.array(row, { minLength: 0, maxLength: 12 });
  const built = fc.oneof(
    fc.tuple(rows, fc.nat({ max: 5 }), fc.boolean(), cuts).map(([r, blank, crlf, c]) => ({ format: 'ndjson' as const, body: Buffer.from(ndjson(r, blank, crlf)), cuts: c })),
    fc.tuple(rows, fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...HEADERS.slice(0, 3)) }, { weight: 1, arbitrary: fc.constantFrom(...HEADERS.slice(3)) }), fc.boolean(), fc.boolean(), fc.boolean(), cuts).map(([r, h, q, crlf, bom, c]) => ({
      format: 'csv' as const,
      body: Buffer.from(`${bom ? '\ufeff' : ''}${csv(r, h, q, crlf)}`),
      cuts: c,
    })),
  );
  const seed = fc.constantFrom(...seeds);
  const asText = fc.tuple(seed, fc.constant(null)).chain(([s]) => mutatedText(fc.constant(s.body.toString('utf8')), s.format === 'csv' ? 'abc012,"\r\n ' : 'abc012{}":,\n').map((t) => ({ ...s, body: Buffer.from(t) })));
  const asBytes = fc.tuple(seed, cuts).chain(([s, c]) => mutatedBytes(fc.constant(new Uint8Array(s.body))).map((b) => ({ ...s, body: Buffer.from(b), cuts: c })));
  // The same bytes read as the other format (a wrong Content-Type).
  const swapped = seed.map((s) => ({ ...s, format: s.format === 'csv' ? ('ndjson' as const) : ('csv' as const) }));
  const big = fc.constantFrom('long-line', 'too-many', 'long-field', 'many-blank', 'no-newline').chain((how) =>
    fc.constantFrom<BaselineFormat>('ndjson', 'csv').map((format) => {
      const line = (i: number): string => (format === 'csv' ? `sub-${i},green,${now - 1000}` : JSON.stringify({ subject: `sub-${i}`, colour: 'green', effectiveAt: now - 1000 }));
      const head = format === 'csv' ? 'subject,colour,effectiveAt\n' : '';
      let text: string;
      if (how === 'long-line') text = `${head}${line(0)}${' '.repeat(MAX_LINE_BYTES)}\n`;
      else if (how === 'too-many') text = head + Array.from({ length: MAX_ROWS + 1 }, (_, i) => line(i)).join('\n');
      else if (how === 'long-field') text = format === 'csv' ? `${head}"${'a'.repeat(MAX_LINE_BYTES + 10)}",green,${now}\n` : `{"subject":"${'a'.repeat(MAX_LINE_BYTES + 10)}"}\n`;
      else if (how === 'many-blank') text = head + '\n'.repeat(50_000) + line(1);
      else text = head + line(1);
      return { format, body: Buffer.from(text), cuts: [7, 4096, 65_535] };
    }),
  );
  return fc.oneof({ weight: 8, arbitrary: built }, { weight: 3, arbitrary: asText }, { weight: 2, arbitrary: asBytes }, { weight: 1, arbitrary: swapped }, { weight: 1, arbitrary: big });
}

async function setup(): Promise<Rig<BaselineInput>> {
  const dir = mkdtempSync(join(tmpdir(), 'gate-fuzz-baseline-'));
  const run = async (input: BaselineInput): Promise<Verdict> => {
    const startedAt = Date.now();
    // csv-parse counts a lone CR as a line's end too.
    const lines = input.body.toString('utf8').split(input.format === 'csv' ? /\r\n|\r|\n/ : '\n');
    let spooled;
    try {
      spooled = await spoolBaseline(Readable.from(pieces(input), { objectMode: false }), input.format, { now: startedAt, maxSkewMs: SKEW_MS, maxRows: MAX_ROWS, dir });
    } catch (error) {
      if (!(error instanceof BaselineRefusal)) return thrown(`spoolBaseline threw ${describeError(error)}`);
      if (!REFUSAL_CODES.has(error.code)) return offShape(`a refusal of code ${error.code}`);
      if (error.status !== (error.code === 'batch-too-large' ? 413 : 400)) return offShape(`${error.code} answered ${error.status}`);
      if (error.line !== undefined && (!Number.isSafeInteger(error.line) || error.line < 1 || error.line > lines.length + 1)) return offShape(`refused at line ${error.line} of a body of ${lines.length} lines`);
      const emptyCsv = error.field === 'header' && /is empty/.test(error.message);
      if (error.line !== undefined && !emptyCsv && !error.message.startsWith(`line ${error.line}`)) return offShape(`a refusal at line ${error.line} whose message does not say so: ${error.message.slice(0, 200)}`);
      const left = readdirSync(dir);
      if (left.length > 0) return offShape(`refused, but the spool was left behind: ${left.join(', ')}`);
      return ok(`refused: ${error.code}${error.field ? ` (${error.field})` : ''}`);
    }
    try {
      if (!Number.isSafeInteger(spooled.rows) || spooled.rows < 0 || spooled.rows > MAX_ROWS) return offShape(`accepted with ${spooled.rows} rows`);
      if (input.format === 'ndjson') {
        const nonBlank = lines.filter((l) => l.trim() !== '').length;
        if (spooled.rows !== nonBlank) return offShape(`accepted ${spooled.rows} rows of ${nonBlank} non-blank NDJSON lines`);
      }
      let seen = 0;
      for await (const chunk of spooled.chunks(7)) {
        for (const entry of chunk) {
          seen++;
          if (typeof entry.subject !== 'string' || entry.subject.length === 0) return offShape(`row ${seen}: subject ${JSON.stringify(entry.subject)}`);
          if (!(COLOURS as readonly string[]).includes(entry.colour)) return offShape(`row ${seen}: colour ${JSON.stringify(entry.colour)}`);
          if (!Number.isSafeInteger(entry.effectiveAt) || entry.effectiveAt < EARLIEST || entry.effectiveAt > startedAt + SKEW_MS) return offShape(`row ${seen}: effectiveAt ${entry.effectiveAt}`);
        }
      }
      if (seen !== spooled.rows) return offShape(`${spooled.rows} rows read, ${seen} given back from the spool`);
      return ok(`accepted: ${spooled.rows === 0 ? 'empty' : 'rows'}`);
    } finally {
      await spooled.dispose();
    }
  };
  const t = now - 60_000;
  const seeds: BaselineInput[] = [
    { format: 'ndjson', body: Buffer.from(ndjson([{ subject: 'sub-1', colour: 'red', effectiveAt: t, reason: 'contact' }, { subject: 'sub-2', colour: 'green', effectiveAt: new Date(t).toISOString() }], 0, false)), cuts: [] },
    { format: 'csv', body: Buffer.from(`subject,colour,effectiveAt,reason,idHash\nsub-1,red,${t},contact,${'ab'.repeat(32)}\n"sub-2",green,${new Date(t).toISOString()},,\n`), cuts: [] },
    { format: 'csv', body: Buffer.from(`\ufeffsubject,colour,effectiveAt\r\nsub-3,yellow,${t}\r\n`), cuts: [3, 30] },
  ];
  const regressions: Regression<BaselineInput>[] = [
    { name: 'baseline-csv-unclosed-quote', why: 'a CSV row with an unclosed quote: refused as not CSV, with its line', input: { format: 'csv', body: Buffer.from(`subject,colour,effectiveAt\n"sub-1,green,${t}\n`), cuts: [] } },
    { name: 'baseline-utf8-cut', why: 'a subject in two-byte characters, the body cut inside one: read whole, refused or accepted as the bytes say', input: { format: 'ndjson', body: Buffer.from(`{"subject":"中文","colour":"red","effectiveAt":${t}}\n`), cuts: [13, 14] } },
    {
      name: 'baseline-too-many-rows-in-pieces',
      why: 'one row more than maxRows, in pieces: 413 at that line, and the spool write still in flight when it is destroyed raises no uncaught error',
      input: { format: 'ndjson', body: Buffer.from(Array.from({ length: MAX_ROWS + 1 }, (_, i) => JSON.stringify({ subject: `sub-${i}`, colour: 'green', effectiveAt: t })).join('\n')), cuts: [7, 4096, 65_535] },
    },
    { name: 'baseline-csv-opening-quote', why: 'an NDJSON body sent as CSV (a quote inside a field): refused as not CSV with its line, not an error of the parser thrown on', input: { format: 'csv', body: Buffer.from(`{"subject":"sub-1","colour":"red","effectiveAt":${t}}\n`), cuts: [] } },
    { name: 'baseline-national-id', why: 'a row whose subject reads as a national ID number: national-id-subject at its line', input: { format: 'ndjson', body: Buffer.from(`{"subject":"sub-1","colour":"red","effectiveAt":${t}}\n{"subject":"11010519491231002X","colour":"red","effectiveAt":${t}}\n`), cuts: [] } },
  ];
  return {
    seeds,
    regressions,
    arbitrary: (passing) => arbitrary([...seeds, ...passing]),
    run,
    // Reading, checking and spooling the rows to disk and back: 50 ms, and 200 ms more per MB.
    boundMs: (input) => 50 + (200 * input.body.length) / MB,
    encode,
    decode,
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export const baselineBodySurface: Surface<BaselineInput> = {
  name: 'centre-baseline-body',
  covers: "baseline bodies (NDJSON and CSV) through the API's streaming parser spoolBaseline (centre/api/baseline-body.ts), in pieces cut anywhere: rows with every field mutated, headers wrong, text and byte edits, long lines, too many rows",
  shape: 'checked rows (subject, colour, a time from 2019 to now plus the skew), one per non-blank NDJSON line, given back whole from the spool; or a BaselineRefusal (400/413, its own code, a line within the body, named in its message) with the spool removed',
  setup,
};
