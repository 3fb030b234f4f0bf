/**
 * `npm run bench -- <name> [--quick]`: runs one benchmark and prints its
 * result as JSON on stdout; progress goes to stderr.
 */
import { spawn } from 'node:child_process';
import { Command } from 'commander';
import { benchCameraMemory } from './camera-memory.js';
import { benchCentre } from './centre.js';
import type { CentreBenchStore } from './centre-setup.js';
import { benchConsole, type BenchStore } from './console.js';
import { runCentreCrash } from './centre-crash.js';
import { benchCrash, type JournalSync } from './crash.js';
import { benchDecode } from './decode.js';
import { benchOutbox } from './outbox.js';
import { benchPropagation } from './propagation.js';
import { benchScreen } from './screen.js';
import { benchVerify } from './verify.js';

const BENCHMARKS: Record<string, (quick: boolean, progress: (m: string) => void) => Promise<Record<string, unknown>>> = {
  verify: (quick, progress) =>
    benchVerify({ rounds: quick ? 3 : 7, roundMs: quick ? 300 : 1500, decisions: quick ? 300 : 3000, progress }),
  decode: (quick, progress) => benchDecode({ decodes: quick ? 40 : 200, progress }),
  'camera-memory': (quick, progress) => {
    // CAMERA_MEMORY_MINUTES: a longer run than the goal's 10 minutes, sampled once a minute.
    const minutes = Number(process.env.CAMERA_MEMORY_MINUTES ?? 10);
    if (!Number.isInteger(minutes) || minutes < 1) throw new RangeError(`CAMERA_MEMORY_MINUTES must be a whole number of minutes, got ${process.env.CAMERA_MEMORY_MINUTES}`);
    const long = !quick && minutes > 10;
    return benchCameraMemory({
      durationMs: quick ? 60_000 : minutes * 60_000,
      sampleMs: quick ? 5_000 : long ? 60_000 : 15_000,
      framesPerSecond: 10,
      progress,
    });
  },
  propagation: (quick, progress) =>
    benchPropagation({ sizes: quick ? [200] : [1000, 5000], rounds: quick ? 3 : 10, children: 2, progress }),
  console: (quick, progress) => {
    // CONSOLE_STORE: sqlite or postgres alone; by default both, one after the other.
    const choice = process.env.CONSOLE_STORE;
    if (choice !== undefined && choice !== 'sqlite' && choice !== 'postgres') throw new RangeError(`CONSOLE_STORE must be sqlite or postgres, got ${choice}`);
    const stores: BenchStore[] = choice ? [choice] : ['sqlite', 'postgres'];
    return benchConsole({ lanes: quick ? 200 : 2000, seconds: quick ? 30 : 300, everyMs: 2000, stores, progress });
  },
  screen: (quick, progress) => benchScreen({ decisions: quick ? 20 : 200, progress }),
  crash: (quick, progress) => {
    // CRASH_SEED replays a run's kill delays; CRASH_SYNC: normal or full alone (by default both, one after the other).
    const given = process.env.CRASH_SEED;
    if (given !== undefined && (!/^\d{1,10}$/.test(given) || Number(given) >= 2 ** 32)) throw new RangeError(`CRASH_SEED must be a whole number from 0 to 4294967295, got ${given}`);
    const seed = given === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(given);
    const choice = process.env.CRASH_SYNC;
    if (choice !== undefined && choice !== 'normal' && choice !== 'full') throw new RangeError(`CRASH_SYNC must be normal or full, got ${choice}`);
    const modes: JournalSync[] = choice ? [choice] : ['normal', 'full'];
    return benchCrash({ kills: quick ? 8 : 50, windowMs: 1500, modes, seed, progress });
  },
  'centre-crash': (quick, progress) => {
    // CENTRE_CRASH_SEED replays a run's kill delays.
    const given = process.env.CENTRE_CRASH_SEED;
    if (given !== undefined && (!/^\d{1,10}$/.test(given) || Number(given) >= 2 ** 32)) throw new RangeError(`CENTRE_CRASH_SEED must be a whole number from 0 to 4294967295, got ${given}`);
    const seed = given === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(given);
    progress(`seed ${seed}`);
    return runCentreCrash({ kills: quick ? 8 : 50, windowMs: 1500, seed, progress }) as unknown as Promise<Record<string, unknown>>;
  },
  centre: (quick, progress) => {
    // CENTRE_STORE: sqlite or postgres alone (the end-to-end part uses the first); by default both, one after the other.
    // CENTRE_PART: ingest or end-to-end alone; by default both.
    const choice = process.env.CENTRE_STORE;
    if (choice !== undefined && choice !== 'sqlite' && choice !== 'postgres') throw new RangeError(`CENTRE_STORE must be sqlite or postgres, got ${choice}`);
    const part = process.env.CENTRE_PART;
    if (part !== undefined && part !== 'ingest' && part !== 'end-to-end') throw new RangeError(`CENTRE_PART must be ingest or end-to-end, got ${part}`);
    const stores: CentreBenchStore[] = choice ? [choice] : ['sqlite', 'postgres'];
    return benchCentre({
      stores,
      parts: part ? [part] : ['ingest', 'end-to-end'],
      ingest: { rounds: quick ? 2 : 5, batches: quick ? 10 : 40, batchSize: 1000, concurrency: 4, subjects: 20_000 },
      endToEnd: { sizes: quick ? [200] : [1000, 5000], rounds: quick ? 3 : 15, probes: 20, children: 2 },
      progress,
    });
  },
  outbox: (quick, progress) =>
    benchOutbox({ events: quick ? 2_000 : 10_000, lanes: 10, runs: quick ? 1 : 5, inflight: 256, brokerMaxInflight: 20, sync: 'normal', progress }),
};

/**
 * camera-memory measures the agent as a gate runs it: with the node flags and
 * environment of docs/operations.md's service unit. A small young generation
 * keeps V8 from growing a 50 MB heap at start that it gives back only later.
 */
export const GATE_NODE_FLAGS = ['--max-semi-space-size=2'];

async function asTheGateRuns(): Promise<number> {
  const child = spawn(process.execPath, [...GATE_NODE_FLAGS, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

const program = new Command()
  .name('npm run bench --')
  .description(`Run a benchmark and print JSON. Benchmarks: ${Object.keys(BENCHMARKS).join(', ')}`)
  .argument('<name>', 'benchmark name')
  .option('--quick', 'fewer and shorter rounds (smoke run)')
  .action(async (name: string, options: { quick?: boolean }) => {
    if (name === 'camera-memory' && !GATE_NODE_FLAGS.every((flag) => process.execArgv.includes(flag))) {
      process.exitCode = await asTheGateRuns();
      return;
    }
    const bench = BENCHMARKS[name];
    if (!bench) {
      process.stderr.write(`unknown benchmark "${name}"; choose one of: ${Object.keys(BENCHMARKS).join(', ')}\n`);
      process.exitCode = 2;
      return;
    }
    const result = await bench(Boolean(options.quick), (message) => process.stderr.write(`[${name}] ${message}\n`));
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  });

await program.parseAsync();
