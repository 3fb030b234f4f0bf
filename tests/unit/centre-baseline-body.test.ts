/**
 * What the fuzzing of the baseline parser found (tests/fuzz/centre-baseline.ts):
 * a baseline one row over maxRows, arriving in pieces, was refused while a
 * spool write was still in flight, and destroying the spool then raised an
 * 'error' nobody listened to, which ended the process; and a CSV quote in
 * the wrong place came out of csv-parse with a code not starting with CSV_,
 * so it was thrown on as an internal error instead of refused with its line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BaselineRefusal, spoolBaseline } from '../../centre/api/baseline-body.js';

const now = Date.now();
const row = (i: number): string => JSON.stringify({ subject: `sub-${i}`, colour: 'green', effectiveAt: now - 1000 });

test('a baseline one row over maxRows, in pieces: 413 at that line, no uncaught error, the spool removed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'baseline-body-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const uncaught: Error[] = [];
  const hear = (error: Error): void => void uncaught.push(error);
  // node:test's own handler would fail the run: this one only notes it for the assertion.
  const theirs = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', hear);
  try {
    const body = Buffer.from(Array.from({ length: 1001 }, (_, i) => row(i)).join('\n'));
    const pieces = [body.subarray(0, 7), body.subarray(7, 4096), body.subarray(4096, 65_535), body.subarray(65_535)];
    await assert.rejects(spoolBaseline(Readable.from(pieces), 'ndjson', { now, maxSkewMs: 60_000, maxRows: 1000, dir }), (error: unknown) => {
      assert.ok(error instanceof BaselineRefusal);
      assert.equal(error.status, 413);
      assert.equal(error.code, 'batch-too-large');
      assert.equal(error.line, 1001);
      return true;
    });
    // The write that was in flight completes (or fails) after the refusal: give it the time to.
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    process.off('uncaughtException', hear);
    for (const listener of theirs) process.on('uncaughtException', listener);
  }
  assert.deepEqual(uncaught.map((e) => e.message), []);
  assert.deepEqual(readdirSync(dir), []);
});

test('a CSV field with a quote inside it (INVALID_OPENING_QUOTE): refused as not CSV, with its line', async () => {
  const body = `subject,colour,effectiveAt\nsub-1,green,${now - 1000}\nsu"b,red,${now - 1000}\n`;
  await assert.rejects(spoolBaseline(Readable.from([Buffer.from(body)]), 'csv', { now, maxSkewMs: 60_000, maxRows: 10 }), (error: unknown) => {
    assert.ok(error instanceof BaselineRefusal, `a ${(error as Error).name}: ${(error as Error).message}`);
    assert.equal(error.status, 400);
    assert.equal(error.code, 'invalid-change');
    assert.equal(error.line, 3);
    assert.match(error.message, /^line 3: not CSV/);
    return true;
  });
});
