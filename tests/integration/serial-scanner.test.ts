/**
 * The real SerialScanner driver on a virtual scanner module (serialport's
 * MockBinding with an unplug extension): exact texts, line endings, chunking,
 * over-long lines, unplug and replug, a module missing at start, and stop().
 * Time bounds are generous waits, never assertions on speed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { LineFramer, SerialScanner, type LineDelimiter, type ScannerStatus } from '../../device/scanner/serial-scanner.js';
import { VirtualScanner, type LineEnding } from '../../simulator/hardware/virtual-scanner.js';

const REOPEN_MS = 20;
let nextPort = 0;

interface Rig {
  device: VirtualScanner;
  scanner: SerialScanner;
  texts: string[];
  statuses: ScannerStatus[];
  warnings: string[];
}

/** A scanner at a fresh path (MockBinding's registry is per process); stopped when the test ends. */
async function rig(
  t: { after: (fn: () => Promise<void>) => void },
  options: { lineEnding?: LineEnding; delimiter?: LineDelimiter; present?: boolean; baudRate?: number } = {},
): Promise<Rig> {
  const path = `/dev/ttyVSCAN${nextPort++}`;
  const device = new VirtualScanner({ path, lineEnding: options.lineEnding, present: options.present });
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line).msg) });
  const scanner = new SerialScanner({
    path,
    binding: device.binding,
    delimiter: options.delimiter,
    baudRate: options.baudRate,
    reopenIntervalMs: REOPEN_MS,
    logger,
  });
  const texts: string[] = [];
  const statuses: ScannerStatus[] = [];
  scanner.onRead((read) => {
    assert.equal(read.source, 'scanner');
    assert.ok(read.at > 0 && read.at <= performance.now());
    texts.push(read.text);
  });
  scanner.onStatus((status) => statuses.push(status));
  t.after(() => scanner.stop());
  await scanner.start();
  return { device, scanner, texts, statuses, warnings };
}

async function until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const GZHC = 'GZHC1:6BFOXN*TS0BI$ZD.P9UOL97O4-2HH77HRM3DSPTLRR+%3 1:/:%*+-.';
const CHINESE = '健康码：张*三 绿码（静态）';

test('texts arrive exactly: a GZHC1 code, UTF-8 Chinese, control characters stripped', async (t) => {
  const { device, scanner, texts } = await rig(t, { baudRate: 115200 });
  assert.equal(scanner.status?.state, 'connected');
  assert.equal(device.lastOpenOptions?.baudRate, 115200);
  assert.ok(device.scan(GZHC));
  assert.ok(device.scan(CHINESE));
  await device.send('\x00\x02GZHC1:ABC\x03\x00\r\n');
  await until('three texts', () => texts.length === 3);
  assert.deepEqual(texts, [GZHC, CHINESE, 'GZHC1:ABC']);
});

for (const ending of ['CR', 'LF', 'CRLF'] as const) {
  test(`delimiter ${ending}`, async (t) => {
    const { device, texts } = await rig(t, { lineEnding: ending, delimiter: ending });
    device.scan(GZHC);
    device.scan('second');
    await until('two texts', () => texts.length === 2);
    assert.deepEqual(texts, [GZHC, 'second']);
  });
}

for (const delimiter of ['CR', 'LF'] as const) {
  test(`a CRLF module read with delimiter ${delimiter}: the other half never leaks`, async (t) => {
    const { device, texts } = await rig(t, { lineEnding: 'CRLF', delimiter });
    device.scan('one');
    await until('one text', () => texts.length === 1);
    device.scan('two');
    device.scan(CHINESE);
    await until('three texts', () => texts.length === 3);
    assert.deepEqual(texts, ['one', 'two', CHINESE]);
  });
}

test('a line split across chunks, even inside a UTF-8 character and the CRLF', async (t) => {
  const { device, texts } = await rig(t);
  const bytes = Buffer.from(`${CHINESE}${GZHC}\r\n`, 'utf8');
  const cuts = [1, 4, 20, bytes.length - 1]; // inside 健, inside 康, mid-text, between CR and LF
  const chunks = [0, ...cuts].map((from, i) => bytes.subarray(from, cuts[i] ?? bytes.length));
  assert.ok(await device.send(...chunks));
  await until('one text', () => texts.length === 1);
  assert.deepEqual(texts, [CHINESE + GZHC]);
});

test('two lines in one chunk, and empty lines ignored', async (t) => {
  const { device, texts } = await rig(t);
  await device.send('first\r\nsecond\r\n', '\r\n\r\n', '\x00\r\n', 'third\r\n');
  await until('three texts', () => texts.length === 3);
  assert.deepEqual(texts, ['first', 'second', 'third']);
});

test('an over-long line is dropped with a warning; the next line is read', async (t) => {
  const { device, texts, warnings } = await rig(t);
  // In one chunk, then streamed in 1,000-byte chunks with no end in sight for a while.
  device.scan('A'.repeat(4501));
  const long = Buffer.alloc(20_000, 'B');
  const chunks = Array.from({ length: 20 }, (_, i) => long.subarray(i * 1000, (i + 1) * 1000));
  await device.send(...chunks, '\r\nnext\r\n');
  await until('one text', () => texts.length === 1);
  assert.deepEqual(texts, ['next']);
  assert.equal(warnings.filter((w) => w.includes('maxLineBytes')).length, 2);
  // A line of exactly maxLineBytes still passes.
  device.scan('C'.repeat(4500));
  await until('two texts', () => texts.length === 2);
  assert.equal(texts[1], 'C'.repeat(4500));
});

test('the framer never holds more than maxLineBytes plus half a delimiter', () => {
  const lines: string[] = [];
  let overlong = 0;
  const framer = new LineFramer(Buffer.from('\r\n'), 10, (l) => lines.push(l.toString()), () => overlong++);
  for (let i = 0; i < 1000; i++) {
    framer.push(Buffer.from('xxxxxxx'));
    assert.ok(framer.buffered <= 11);
  }
  framer.push(Buffer.from('\r'));
  framer.push(Buffer.from('\nok\r\n'));
  assert.deepEqual(lines, ['ok']);
  assert.equal(overlong, 1);
});

test('unplugged then plugged back: disconnected, connected, reads resume', async (t) => {
  const { device, texts, statuses } = await rig(t);
  device.scan('before');
  await until('first text', () => texts.length === 1);
  device.send('half a li'); // a partial line lost with the plug
  device.unplug();
  await until('disconnected', () => statuses.length === 2);
  assert.equal(statuses[1]?.state, 'disconnected');
  assert.match(statuses[1]?.reason ?? '', /unplugged/);
  assert.equal(device.scan('lost'), false);
  const attempts = device.openAttempts;
  await until('retries', () => device.openAttempts >= attempts + 2);
  assert.equal(statuses.length, 2, 'failed retries are not reported again');
  device.plugIn();
  await until('connected again', () => statuses.length === 3);
  assert.equal(statuses[2]?.state, 'connected');
  device.scan('after');
  await until('second text', () => texts.length === 2);
  assert.deepEqual(texts, ['before', 'after']);
  assert.deepEqual(statuses.map((s) => s.state), ['connected', 'disconnected', 'connected']);
});

test('start with no module present keeps trying and connects once it appears', async (t) => {
  const { device, scanner, texts, statuses } = await rig(t, { present: false });
  assert.equal(scanner.status?.state, 'disconnected');
  await until('a few retries', () => device.openAttempts >= 3);
  device.plugIn();
  await until('connected', () => scanner.status?.state === 'connected');
  device.scan(GZHC);
  await until('a text', () => texts.length === 1);
  assert.deepEqual(texts, [GZHC]);
  assert.deepEqual(statuses.map((s) => s.state), ['disconnected', 'connected']);
});

test('stop() during retries ends them and leaves no timer', async (t) => {
  const { device, scanner } = await rig(t, { present: false });
  await until('retrying', () => device.openAttempts >= 2);
  await scanner.stop();
  assert.ok(!process.getActiveResourcesInfo().includes('Timeout'), 'a timer is left');
  const attempts = device.openAttempts;
  await new Promise((resolve) => setTimeout(resolve, REOPEN_MS * 10));
  assert.equal(device.openAttempts, attempts);
  assert.equal(scanner.status, null);
});

test('stop() closes an open port', async (t) => {
  const { device, scanner } = await rig(t);
  assert.ok(device.connected);
  await scanner.stop();
  assert.equal(device.connected, false);
  assert.equal(device.scan('nobody listens'), false);
});

test('stop() while the port is still opening leaves it closed', async () => {
  const device = new VirtualScanner({ path: `/dev/ttyVSCAN${nextPort++}` });
  const scanner = new SerialScanner({ path: device.path, binding: device.binding, logger: pino({ level: 'silent' }) });
  const started = scanner.start();
  await scanner.stop();
  await started;
  assert.equal(device.connected, false);
  assert.equal(scanner.status, null);
});
