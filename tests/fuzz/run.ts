/**
 * `npm run fuzz`: every surface of the registry (surfaces.ts), or those named,
 * each in its own guarded worker (guard.ts), one after the other. Prints one
 * JSON document on stdout (docs/fuzzing.md describes it), progress on
 * stderr, and exits 1 when any surface had a throw, a hang or a result off
 * its documented shape.
 *
 *   --surface NAME   only this surface (repeat, or NAME,NAME)
 *   --cases N        fuzz cases per surface (default 100000)
 *   --seconds S      time cap per surface on the fuzz cases (default 300)
 *   --seed S         fast-check seed (default: random; always printed)
 *   --hang-ms MS     a case running longer is a hang (default 5000)
 *   --heap-mb MB     heap cap of each surface's worker (default 512)
 *   --replay B64     run this one input (base64, as the report gives it) on --surface
 *   --list           the surfaces, one a line
 */
import { parseArgs } from 'node:util';
import { runGuarded, type SurfaceReport } from './guard.js';
import { PENDING_SURFACES, SURFACES, surfaceNames } from './surfaces.js';

const USAGE = 'usage: node dist/tests/fuzz/run.js [--surface NAME] [--cases N] [--seconds S] [--seed S] [--hang-ms MS] [--heap-mb MB] [--replay B64] [--list]';

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`--${name} must be a whole number, not ${JSON.stringify(text)}\n${USAGE}\n`);
    process.exit(2);
  }
  return value;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        surface: { type: 'string', multiple: true },
        cases: { type: 'string' },
        seconds: { type: 'string' },
        seed: { type: 'string' },
        'hang-ms': { type: 'string' },
        'heap-mb': { type: 'string' },
        replay: { type: 'string' },
        list: { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.list) {
    process.stdout.write(`${surfaceNames().join('\n')}\n`);
    return;
  }
  const wanted = (values.surface ?? []).flatMap((s) => s.split(',')).filter(Boolean);
  for (const name of wanted) {
    if (!SURFACES[name]) {
      process.stderr.write(`no surface "${name}"${PENDING_SURFACES[name] ? ` (${PENDING_SURFACES[name]})` : ''}; surfaces: ${surfaceNames().join(', ')}\n`);
      process.exit(2);
    }
  }
  if (values.replay !== undefined && wanted.length !== 1) {
    process.stderr.write(`--replay needs exactly one --surface\n${USAGE}\n`);
    process.exit(2);
  }
  const names = wanted.length > 0 ? wanted : surfaceNames();
  const seed = values.seed !== undefined ? positiveInteger('seed', values.seed, 0) | 0 : (Math.random() * 2 ** 31) | 0;
  const cases = positiveInteger('cases', values.cases, 100_000);
  const seconds = positiveInteger('seconds', values.seconds, 300);
  const hangMs = positiveInteger('hang-ms', values['hang-ms'], 5_000);
  const heapMb = positiveInteger('heap-mb', values['heap-mb'], 512);
  process.stderr.write(`fuzz seed ${seed}: ${names.length} surfaces, up to ${cases} cases or ${seconds} s each\n`);

  const startedAt = new Date().toISOString();
  const reports: SurfaceReport[] = [];
  for (const name of names) {
    process.stderr.write(`[${name}] starting\n`);
    const report = await runGuarded({
      surface: name,
      seed,
      cases,
      seconds,
      hangMs,
      heapMb,
      ...(values.replay !== undefined ? { replay: values.replay } : {}),
      progress: (line) => process.stderr.write(`${line}\n`),
    });
    reports.push(report);
    process.stderr.write(
      `[${name}] ${report.cases} cases in ${report.fuzzSeconds} s${report.timeCapped ? ' (time cap)' : ''}: ${report.throws} throws, ${report.offShape} off-shape, ${report.hangs} hangs, ${report.slow.overBound} over their bound\n`,
    );
  }
  const totals = {
    cases: reports.reduce((n, r) => n + r.cases, 0),
    throws: reports.reduce((n, r) => n + r.throws, 0),
    offShape: reports.reduce((n, r) => n + r.offShape, 0),
    hangs: reports.reduce((n, r) => n + r.hangs, 0),
    overBound: reports.reduce((n, r) => n + r.slow.overBound, 0),
    regressionsFailing: reports.flatMap((r) => r.regressions.filter((g) => g.verdict !== 'ok').map((g) => `${r.surface}/${g.name}: ${g.verdict}`)),
  };
  const document = {
    seed,
    startedAt,
    finishedAt: new Date().toISOString(),
    node: process.version,
    options: { cases, seconds, hangMs, heapMb, ...(values.replay !== undefined ? { replay: values.replay } : {}) },
    totals,
    surfaces: reports,
    pending: Object.entries(PENDING_SURFACES).map(([surface, reason]) => ({ surface, reason })),
  };
  process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  const regressionsBroken = reports.some((r) => r.regressions.some((g) => g.verdict !== 'ok' && g.verdict !== 'slow'));
  process.exitCode = totals.throws + totals.hangs + totals.offShape > 0 || regressionsBroken ? 1 : 0;
}

await main();
