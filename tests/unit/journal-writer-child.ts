/**
 * Child process for the kill -9 test in journal.test.ts: appends decisions to
 * the journal at argv[2] (sync mode argv[3]) and prints each event's id on its
 * own line only after append has returned, i.e. once the decision counts as made.
 * Not a *.test.ts file, so `node --test dist/tests/` does not run it by itself.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Journal } from '../../edge-agent/journal/journal.js';

const [, , path, sync] = process.argv;
if (path === undefined) throw new Error('usage: journal-writer-child <journal path> [full|normal]');
const journal = Journal.open(path, { sync: sync === 'normal' ? 'normal' : 'full' });

// Bounded, so an orphan whose parent never kills it still ends.
for (let i = 0; i < 100_000; i++) {
  const event = journal.append({
    id: randomUUID(),
    time: new Date().toISOString(),
    site: 'gz-tianhe-metro-03',
    lane: i % 2 === 0 ? 'lane-1' : 'lane-2',
    verdict: 'pass',
    reason: 'green-normal',
    decidedBy: 'offline-code',
    subject: randomBytes(8).toString('hex'),
    colour: 'green',
    temperatureC: 36.5,
    sensorFault: null,
    credential: { profile: 'gzhc', kind: 'dynamic', kid: 'gzhc-2024-a', iss: 'GZHC', failure: null },
    decisionMs: 38,
  });
  // Writes to a pipe are synchronous on Linux: the line leaves before the next append.
  process.stdout.write(`${event.id}\n`);
}
journal.close();
