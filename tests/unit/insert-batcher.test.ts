/** Rows added one by one are written together, and each caller still learns whether its row was new. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InsertBatcher } from '../../record/insert-batcher.js';

function fakeTable() {
  const stored = new Set<string>();
  const batches: string[][] = [];
  const write = async (rows: string[]): Promise<Set<string>> => {
    batches.push(rows);
    const fresh = new Set(rows.filter((row) => !stored.has(row)));
    for (const row of fresh) stored.add(row);
    return fresh;
  };
  return { stored, batches, write };
}

test('rows added in one turn go in one write; a key twice in it is new once; a key stored before is not new', async () => {
  const table = fakeTable();
  table.stored.add('old');
  const batcher = new InsertBatcher(table.write, (row: string) => row);
  const answers = await Promise.all(['a', 'b', 'a', 'old', 'c'].map((row) => batcher.add(row)));
  assert.deepEqual(answers, [true, true, false, false, true]);
  assert.deepEqual(table.batches, [['a', 'b', 'old', 'c']]);
  assert.deepEqual(await batcher.add('a'), false);
});

test('more than maxRows at once: written in batches of maxRows, in order', async () => {
  const table = fakeTable();
  const batcher = new InsertBatcher(table.write, (row: string) => row, { maxRows: 3 });
  const rows = Array.from({ length: 8 }, (_, i) => `r${i}`);
  assert.ok((await Promise.all(rows.map((row) => batcher.add(row)))).every(Boolean));
  assert.deepEqual(table.batches, [['r0', 'r1', 'r2'], ['r3', 'r4', 'r5'], ['r6', 'r7']]);
});

test('a failed write rejects every row of its batch with the error; the next batch is written', async () => {
  let fail = true;
  const batcher = new InsertBatcher(async (rows: string[]) => {
    if (fail) throw new Error('connection terminated');
    return new Set(rows);
  }, (row: string) => row);
  const failed = await Promise.allSettled([batcher.add('x'), batcher.add('y')]);
  assert.deepEqual(failed.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'stored')), ['connection terminated', 'connection terminated']);
  fail = false;
  assert.equal(await batcher.add('x'), true);
});

test('idle resolves once every row added so far is written', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const written: string[] = [];
  const batcher = new InsertBatcher(async (rows: string[]) => {
    await gate;
    written.push(...rows);
    return new Set(rows);
  }, (row: string) => row);
  void batcher.add('a');
  void batcher.add('b');
  let idle = false;
  const waiting = batcher.idle().then(() => (idle = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(idle, false);
  release();
  await waiting;
  assert.deepEqual(written, ['a', 'b']);
  await batcher.idle();
});

test("keep 'last': the newest row of a key is the one written (whole-row upserts)", async () => {
  const written: Array<{ lane: string; state: string }> = [];
  const batcher = new InsertBatcher(async (rows: Array<{ lane: string; state: string }>) => {
    written.push(...rows);
    return new Set(rows.map((row) => row.lane));
  }, (row) => row.lane, { keep: 'last' });
  await Promise.all([batcher.add({ lane: 'a', state: 'idle' }), batcher.add({ lane: 'b', state: 'idle' }), batcher.add({ lane: 'a', state: 'held' })]);
  assert.deepEqual(written, [{ lane: 'a', state: 'held' }, { lane: 'b', state: 'idle' }]);
});

test('a refused batch is written again row by row when oneByOneAfter says so: only the bad row fails', async () => {
  const writes: string[][] = [];
  const batcher = new InsertBatcher(async (rows: string[]) => {
    writes.push(rows);
    if (rows.includes('bad')) throw Object.assign(new Error('invalid byte sequence'), { code: '22021' });
    return new Set(rows);
  }, (row: string) => row, { oneByOneAfter: (error) => (error as Error & { code?: string }).code === '22021' });
  const results = await Promise.allSettled(['a', 'bad', 'b'].map((row) => batcher.add(row)));
  assert.deepEqual(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [true, 'invalid byte sequence', true]);
  assert.deepEqual(writes, [['a', 'bad', 'b'], ['a'], ['bad'], ['b']]);
});

test('a batch lost with the connection is not retried row by row: every row fails with it', async () => {
  let writes = 0;
  const batcher = new InsertBatcher(async () => {
    writes++;
    throw new Error('Connection terminated unexpectedly');
  }, (row: string) => row, { oneByOneAfter: () => false });
  const results = await Promise.allSettled(['a', 'b'].map((row) => batcher.add(row)));
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.equal(writes, 1);
});

test('idle also waits for rows added while a write is under way, past maxRows', async () => {
  const written: string[] = [];
  const batcher = new InsertBatcher(async (rows: string[]) => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    written.push(...rows);
    return new Set(rows);
  }, (row: string) => row, { maxRows: 2 });
  for (const row of ['a', 'b', 'c']) void batcher.add(row);
  await new Promise((resolve) => setTimeout(resolve, 5));
  for (const row of ['d', 'e']) void batcher.add(row);
  await batcher.idle();
  assert.deepEqual(written.sort(), ['a', 'b', 'c', 'd', 'e']);
});
