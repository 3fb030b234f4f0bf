/**
 * The fuzz harness's short run inside the suite (docs/fuzzing.md): for every
 * surface of the registry, its seeds, its regression inputs (each an input
 * that once broke it) and a few hundred seeded fuzz cases, in a guarded
 * worker (heap cap, per-case watchdog), so that a hang or an exhausted heap
 * fails the case instead of the suite. Asserted: every seed and regression
 * within its shape, and no throw, hang or off-shape result among the fuzz
 * cases. No time is asserted: slow cases are `npm run fuzz`'s report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuarded, type SurfaceReport } from './guard.js';
import { surfaceNames } from './surfaces.js';

const SEED = 20_251_215;
const CASES = 300;

/** A finding as a line to act on: what went wrong and the input to replay it with. */
function findings(report: SurfaceReport): string[] {
  return report.findings.map((f) => `${f.kind} ×${f.count}: ${f.detail}\n    replay: npm run fuzz -- --surface ${report.surface} --replay ${f.examples[0]?.input.slice(0, 2000) ?? ''}`);
}

for (const surface of surfaceNames()) {
  test(`fuzz smoke, ${surface}: seeds, regressions and ${CASES} seeded cases within their documented shape`, { timeout: 240_000 }, async (t) => {
    const report = await runGuarded({ surface, seed: SEED, cases: CASES, seconds: 120, hangMs: 5_000, heapMb: 256 });
    for (const regression of report.regressions) {
      await t.test(`regression ${regression.name}: ${regression.why}`, () => {
        // 'slow' passes here: the suite asserts no times.
        assert.ok(regression.verdict === 'ok' || regression.verdict === 'slow', `${regression.verdict}: ${regression.detail}`);
      });
    }
    await t.test(`${CASES} fuzz cases (seed ${SEED}): no throw, hang or result off its shape`, () => {
      assert.equal(report.cases, CASES, `only ${report.cases} cases ran (stopped by ${report.stoppedBy})`);
      assert.deepEqual({ throws: report.throws, hangs: report.hangs, offShape: report.offShape }, { throws: 0, hangs: 0, offShape: 0 }, findings(report).join('\n'));
    });
    assert.equal(report.seeds.ok, report.seeds.total, `seeds off their shape: ${report.seeds.failures.join('; ')}`);
    assert.deepEqual(report.notes, [], `the run itself: ${report.notes.join('; ')}`);
  });
}
