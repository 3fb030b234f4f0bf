import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DecisionEvent } from '../../protocol/payloads/lane-up.js';
import { GateDatabaseError } from '../../edge-agent/database/errors.js';
import { Journal } from '../../edge-agent/journal/journal.js';

const tempDirs: string[] = [];
after(() => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function tempJournalPath(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'journal-'));
  tempDirs.push(dir);
  // A sub-directory that does not exist yet: open must create it.
  return path.join(dir, 'data', 'journal.db');
}

function decision(lane: string, overrides: Partial<Omit<DecisionEvent, 'seq'>> = {}): Omit<DecisionEvent, 'seq'> {
  return {
    id: randomUUID(),
    time: new Date().toISOString(),
    site: 'gz-tianhe-metro-03',
    lane,
    verdict: 'pass',
    reason: 'green-normal',
    decidedBy: 'offline-code',
    subject: randomBytes(8).toString('hex'),
    colour: 'green',
    temperatureC: 36.6,
    sensorFault: null,
    credential: { profile: 'gzhc', kind: 'dynamic', kid: 'gzhc-2024-a', iss: 'GZHC', failure: null },
    decisionMs: 41,
    ...overrides,
  };
}

test('append numbers each lane independently; list, get, count; reopen keeps everything', () => {
  const file = tempJournalPath();
  const journal = Journal.open(file);
  const appended: DecisionEvent[] = [];
  for (const lane of ['lane-1', 'lane-2', 'lane-1', 'lane-1', 'lane-2', 'lane-2']) {
    appended.push(journal.append(decision(lane)));
  }
  assert.deepEqual(appended.map((e) => [e.lane, e.seq]), [
    ['lane-1', 1], ['lane-2', 1], ['lane-1', 2], ['lane-1', 3], ['lane-2', 2], ['lane-2', 3],
  ]);

  const denied = decision('lane-1', {
    verdict: 'deny', reason: 'red-code', colour: 'red', temperatureC: null, sensorFault: 'ir-timeout', subject: null,
  });
  const stored = journal.append(denied);
  assert.deepEqual(stored, { ...denied, seq: 4 });
  assert.deepEqual(journal.get(denied.id), stored);
  assert.equal(journal.get(randomUUID()), undefined);

  assert.equal(journal.count(), 7);
  assert.equal(journal.count('lane-1'), 4);
  assert.equal(journal.count('lane-2'), 3);
  assert.equal(journal.count('lane-9'), 0);

  assert.deepEqual(journal.list().map((e) => e.id), [...appended, stored].map((e) => e.id));
  assert.deepEqual(journal.list({ lane: 'lane-2' }).map((e) => e.seq), [1, 2, 3]);
  assert.deepEqual(journal.list({ lane: 'lane-1', afterSeq: 1, limit: 2 }).map((e) => e.seq), [2, 3]);
  assert.deepEqual(journal.list({ limit: 1 }), [appended[0]]);
  assert.throws(() => journal.list({ afterSeq: 1 }), TypeError);
  journal.close();

  const reopened = Journal.open(file);
  assert.equal(reopened.count(), 7);
  assert.deepEqual(reopened.list(), [...appended, stored]);
  assert.equal(reopened.append(decision('lane-1')).seq, 5);
  assert.equal(reopened.append(decision('lane-2')).seq, 4);
  assert.equal(reopened.append(decision('lane-3')).seq, 1);
  reopened.close();
});

test('a duplicate id is refused with GateDatabaseError duplicate-id and changes nothing', () => {
  const journal = Journal.open(tempJournalPath(), { sync: 'normal' });
  const first = journal.append(decision('lane-1'));
  journal.append(decision('lane-2'));
  const before = journal.list();

  assert.throws(
    () => journal.append(decision('lane-2', { id: first.id, verdict: 'deny', reason: 'red-code' })),
    (err: unknown) => err instanceof GateDatabaseError && err.code === 'duplicate-id' && err.message.includes(first.id),
  );
  assert.deepEqual(journal.list(), before);
  // The refused append did not use up lane-2's next seq.
  assert.equal(journal.append(decision('lane-2')).seq, 2);
  journal.close();
});

test('a file that is not SQLite is refused with GateDatabaseError unreadable naming the path', () => {
  for (const size of [16, 4096]) {
    const file = tempJournalPath();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, randomBytes(size));
    assert.throws(
      () => Journal.open(file),
      (err: unknown) => err instanceof GateDatabaseError && err.code === 'unreadable' && err.message.includes(file),
    );
  }
});

const childScript = fileURLToPath(new URL('./journal-writer-child.js', import.meta.url));

for (const sync of ['full', 'normal'] as const) {
  test(`every append reported before kill -9 is in the journal (sync ${sync})`, { timeout: 60_000 }, async () => {
    const file = tempJournalPath();
    const child = spawn(process.execPath, [childScript, file, sync], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );

    // Only complete lines count: a partial line was not fully reported.
    const reported: string[] = [];
    let pending = '';
    const stdoutClosed = new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        reported.push(...lines);
        if (reported.length >= 300 && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      child.stdout.on('close', resolve);
    });

    const { code, signal } = await exited;
    await stdoutClosed; // ids still in the pipe were reported before the kill too
    assert.equal(signal, 'SIGKILL', `child exited by itself (code ${code}): ${stderr}`);
    assert.ok(reported.length >= 300);

    const journal = Journal.open(file);
    const missing = reported.filter((id) => journal.get(id) === undefined);
    assert.deepEqual(missing, [], `${missing.length} of ${reported.length} reported ids are missing`);
    // Each lane's sequence is gap-free after recovery, and appending carries on.
    for (const lane of ['lane-1', 'lane-2']) {
      const seqs = journal.list({ lane }).map((e) => e.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
      assert.equal(journal.append(decision(lane)).seq, seqs.length + 1);
    }
    journal.close();
  });
}

test('append runs `within` in the event transaction: if it throws, the event is not stored either', () => {
  const journal = Journal.open(tempJournalPath());
  try {
    const seen: string[] = [];
    const kept = journal.append(decision('lane-w'), (stored) => seen.push(stored.id));
    assert.deepEqual(seen, [kept.id]);
    assert.throws(() => journal.append(decision('lane-w'), () => {
      throw new Error('registration store failed');
    }), /registration store failed/);
    assert.equal(journal.count('lane-w'), 1);
  } finally {
    journal.close();
  }
});
