/** Camera and scanner both fitted: the first read wins, the other's echo of it is dropped. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CodeRead } from '../../device/contracts.js';
import { FirstReadWins } from '../../device/reader/first-read-wins.js';
import { VirtualCodeReader } from '../../simulator/hardware/virtual-lane.js';

test('the same code from the second reader within the window is dropped; other codes pass', async () => {
  const scanner = new VirtualCodeReader();
  const camera = new VirtualCodeReader();
  const merged = new FirstReadWins([scanner, camera], 2000);
  const reads: CodeRead[] = [];
  merged.onRead((read) => reads.push(read));
  await merged.start();
  scanner.present('GZHC1:AAA');
  camera.present('GZHC1:AAA'); // the camera saw the same phone a moment later
  camera.present('GZHC1:BBB'); // the next person, at the camera
  scanner.present('GZHC1:BBB');
  assert.deepEqual(reads.map((r) => r.text), ['GZHC1:AAA', 'GZHC1:BBB']);
  await merged.stop();
  scanner.present('GZHC1:CCC');
  assert.equal(reads.length, 2, 'nothing after stop');
});

test('the same code again after the window is a new read', async () => {
  const scanner = new VirtualCodeReader();
  const merged = new FirstReadWins([scanner], 50);
  const reads: string[] = [];
  merged.onRead((read) => reads.push(read.text));
  await merged.start();
  scanner.present('GZHC1:AAA');
  await new Promise((resolve) => setTimeout(resolve, 80));
  scanner.present('GZHC1:AAA');
  assert.deepEqual(reads, ['GZHC1:AAA', 'GZHC1:AAA']);
  await merged.stop();
});
