/**
 * The centre killed with SIGKILL at random moments while a platform client
 * streams batches at it (tests/bench/centre-crash.ts runs it; the benchmark
 * does 50 kills). Here 12 kills: each restart of the real process costs about
 * two seconds on a loaded two-core machine, and 12 already land in every
 * phase a batch goes through (before its commit, between the commit and the
 * answer, between the publish and markPublished). Every batch answered 2xx
 * reaches every gate in seq order, none lost, no seq reused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCentreCrash } from '../bench/centre-crash.js';
import { requireMosquitto } from '../support/mosquitto.js';

const KILLS = 12;

test('the centre killed 12 times mid-stream: every batch answered 2xx reaches every gate in order, no seq reused', { timeout: 300_000 }, async (t) => {
  if (!requireMosquitto(t)) return;
  const seed = Math.floor(Math.random() * 2 ** 32);
  const result = await runCentreCrash({ kills: KILLS, windowMs: 1500, seed, progress: (m) => t.diagnostic(m) });
  t.diagnostic(JSON.stringify({ ...result, problems: undefined }));
  const context = `seed ${seed} (CENTRE_CRASH_SEED replays it in the bench): ${result.problems.join('; ')}`;
  assert.equal(result.kills, KILLS, context);
  assert.ok(result.batches > KILLS, `only ${result.batches} batches: ${context}`);
  assert.equal(result.lost, 0, context);
  assert.equal(result.reused, 0, context);
  assert.equal(result.outOfOrder, 0, context);
  assert.equal(result.storeSeq, result.batches, context);
  assert.deepEqual(result.problems, []);
});
