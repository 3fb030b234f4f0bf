/**
 * Child process for centre-leader.test.ts: one centre candidate.
 *
 *   centre-leader-child postgres <url> <lockKey> <checkMs> <name>
 *     runs a PostgresLeaderElection and, like a publisher, acts every 50 ms
 *     but only after reading `leading` right before the act;
 *   centre-leader-child sqlite <database path>
 *     takes the SQLite lead, or prints why it was refused and exits 2.
 *
 * Prints one JSON line per event ({"probe":"leading"|"standby"|"lost"|"act"|
 * "state"|"refused", "mono": …}); `mono` is CLOCK_MONOTONIC in ms, the same
 * clock in every process on the machine, so the test can order lines from
 * several processes and compare them with when it signalled one. A line
 * `state` on stdin is answered with {"probe":"state","leading":…}. Not a
 * *.test.ts file, so `node --test` does not run it by itself.
 */
import { createInterface } from 'node:readline';
import { CentreError } from '../../centre/errors.js';
import { PostgresLeaderElection } from '../../centre/leader/postgres-election.js';
import { SqliteLeaderElection } from '../../centre/leader/sqlite-election.js';
import type { LeaderElection } from '../../centre/leader/election.js';

const mono = (): number => Number(process.hrtime.bigint()) / 1e6;
// Pipes are written synchronously on Linux: a line is out before the next statement runs.
const probe = (probe: string, fields: Record<string, unknown> = {}): void => void process.stdout.write(`${JSON.stringify({ probe, mono: mono(), ...fields })}\n`);

// Bounded, so an orphan whose parent never signals it still ends.
setTimeout(() => process.exit(4), 120_000).unref();

const [, , backend, ...args] = process.argv;
let election: LeaderElection;
if (backend === 'postgres') {
  const [url, lockKey, checkMs, name] = args;
  if (!url || !lockKey || !checkMs || !name) throw new Error('usage: centre-leader-child postgres <url> <lockKey> <checkMs> <name>');
  election = new PostgresLeaderElection({ url, lockKey: Number(lockKey), checkMs: Number(checkMs), applicationName: `leader-test-${name}` });
} else if (backend === 'sqlite' && args[0]) {
  election = new SqliteLeaderElection({ path: args[0] });
} else {
  throw new Error('usage: centre-leader-child postgres|sqlite …');
}

election.on('leading', () => probe('leading'));
election.on('standby', () => probe('standby'));
election.on('lost', (lost) => probe('lost', { reason: lost.reason, message: lost.message }));

try {
  await election.start();
} catch (error) {
  probe('refused', { code: error instanceof CentreError ? error.code : null, message: (error as Error).message });
  process.exit(2);
}
probe('started', { leading: election.leading });

// What a publisher does: ask right before each act, never trust an event heard earlier.
let acts = 0;
setInterval(() => {
  if (!election.leading) return;
  acts += 1;
  probe('act', { n: acts });
}, 50);

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'state') probe('state', { leading: election.leading });
  if (line.trim() === 'stop') void election.stop().then(() => process.exit(0));
});
