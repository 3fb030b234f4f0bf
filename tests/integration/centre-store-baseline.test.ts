/**
 * A baseline of a million rows on both backends: swapped in whole, in one
 * transaction, as one seq; and one that fails after nine hundred thousand
 * rows leaves the list and the seq as they were, while the site's batches
 * and look-ups went on during its stream. The time each took is reported as
 * a diagnostic, never asserted (benchmarks measure; tests check outcomes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ColourEntry } from '../../centre/store/store.js';
import { BACKENDS } from '../support/centre-store-backends.js';

const T = Date.parse('2026-03-02T08:00:00Z');
const ROWS = 1_000_000;
const CHUNK = 10_000;

const subjectOf = (prefix: string, i: number): string => `${prefix}${String(i).padStart(7, '0')}`;

/** `count` rows in chunks; every tenth with an ID hash, every seventh red. */
async function* generated(prefix: string, count: number, between?: (taken: number) => Promise<void>): AsyncIterable<ColourEntry[]> {
  for (let i = 0; i < count; i += CHUNK) {
    yield Array.from({ length: Math.min(CHUNK, count - i) }, (_, j) => {
      const n = i + j;
      return { subject: subjectOf(prefix, n), colour: n % 7 === 0 ? 'red' : 'green', effectiveAt: T + n, idHash: n % 10 === 0 ? `${prefix}-h${n}` : null };
    });
    await between?.(i + CHUNK);
  }
}

for (const [backend, open] of BACKENDS) {
  test(`${backend}: a million-row baseline replaces the list in one seq; one failing at 900,000 rows leaves it and its seq`, { timeout: 600_000 }, async (t) => {
    const opened = await open(t);
    if (!opened) return;
    const { store } = opened;
    await store.applyBatch({ site: 's1', batchId: 'before', client: 'p', digest: 'd0', changes: [{ subject: 'EARLIER', colour: 'red', effectiveAt: T }] }, T);

    let started = Date.now();
    const first = await store.replaceBaseline({ site: 's1', batchId: 'base-A', client: 'p', digest: 'dA' }, generated('A', ROWS), T + 1);
    t.diagnostic(`${backend}: ${ROWS} rows baseline in ${Date.now() - started} ms`);
    assert.deepEqual([first.seq, first.rows, first.replayed], [2, ROWS, false]);
    let state = await store.site('s1');
    assert.deepEqual([state.seq, state.statuses], [2, ROWS]);
    assert.equal(await store.status('s1', 'EARLIER'), null);
    assert.deepEqual([(await store.status('s1', subjectOf('A', 0)))?.colour, (await store.status('s1', subjectOf('A', ROWS - 1)))?.effectiveAt], ['red', T + ROWS - 1]);
    assert.equal((await store.statusByIdHash('s1', `A-h${ROWS - 10}`))?.subject, subjectOf('A', ROWS - 10));

    // The next baseline's stream: while it runs, a batch is stored and a look-up answered; then it fails.
    let during: number | undefined;
    const between = async (taken: number): Promise<void> => {
      if (taken === 500_000) {
        during = (await store.applyBatch({ site: 's1', batchId: 'during', client: 'p', digest: 'd1', changes: [{ subject: subjectOf('A', 1), colour: 'yellow', effectiveAt: T + 2 }] }, T + 2)).seq;
        assert.equal((await store.status('s1', subjectOf('A', 1)))?.colour, 'yellow');
      }
      if (taken === 900_000) throw new Error('the platform hung up');
    };
    started = Date.now();
    await assert.rejects(store.replaceBaseline({ site: 's1', batchId: 'base-B', client: 'p', digest: 'dB' }, generated('B', ROWS, between), T + 3), /the platform hung up/);
    t.diagnostic(`${backend}: a baseline failing after 900000 rows, refused and cleaned in ${Date.now() - started} ms`);
    assert.equal(during, 3);
    state = await store.site('s1');
    assert.deepEqual([state.seq, state.statuses], [3, ROWS]);
    assert.equal(await store.status('s1', subjectOf('B', 0)), null);
    assert.equal((await store.status('s1', subjectOf('A', 1)))?.colour, 'yellow');
    assert.equal((await store.status('s1', subjectOf('A', 2)))?.colour, 'green');
    assert.equal(String((await opened.query('SELECT COUNT(*) AS n FROM centre_baseline_rows'))[0]!.n), '0');
    assert.deepEqual((await store.changesAfter('s1', 0, 10)).map((c) => [c.seq, c.baseline]), [[1, false], [2, true], [3, false]]);
  });
}
