/**
 * The real johnny-five drivers (board, relay gate, debounced inputs, MLX90614)
 * against the wire-level virtual board: assertions are on what reached the
 * pins and what the sensor's bytes said, never on mocks of the drivers.
 * Each test builds its own board; nothing is shared between tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { TemperatureReading } from '../../device/contracts.js';
import { openBoard, type GateBoard } from '../../device/board/board.js';
import { DeviceError } from '../../device/errors.js';
import { RelayGate } from '../../device/gate/relay-gate.js';
import { BeamPassageSensor, DebouncedInput, ExitButton, FireAlarmRelease } from '../../device/gate/inputs.js';
import { Mlx90614Thermometer, type Mlx90614Options } from '../../device/thermometer/mlx90614.js';
import { EmulatedMlx90614, VirtualIO, type I2cDevice } from '../../simulator/hardware/virtual-io.js';

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) throw new Error('condition not met in time');
    await pause(2);
  }
}

async function rig(): Promise<{ io: VirtualIO; board: GateBoard }> {
  const io = new VirtualIO({ samplingIntervalMs: 5 });
  const board = await openBoard({ io, readyTimeoutMs: 2000 });
  return { io, board };
}

// ---- board ---------------------------------------------------------------------

test('board: opens on an IO plugin instance, or on one imported by module path', async () => {
  const { board } = await rig();
  assert.equal(board.j5.isReady, true);
  assert.equal(board.lost, null);
  board.close();
  const pluginPath = fileURLToPath(new URL('../../simulator/hardware/virtual-io.js', import.meta.url));
  const imported = await openBoard({ ioPlugin: pluginPath, readyTimeoutMs: 2000 });
  assert.equal(imported.io.name, 'VirtualIO');
  imported.close();
});

test('board: a board that never gets ready is a DeviceError ready-timeout', async () => {
  const io = new VirtualIO({ autoReady: false });
  await assert.rejects(openBoard({ io, readyTimeoutMs: 100 }), (error: unknown) => error instanceof DeviceError && error.code === 'ready-timeout');
  await assert.rejects(openBoard({ ioPlugin: 'no-such-io-plugin', readyTimeoutMs: 100 }), (error: unknown) => error instanceof DeviceError && error.code === 'plugin-load');
});

test('board: close, disconnect and error from the plugin each mean lost', async () => {
  for (const kind of ['close', 'disconnect', 'error'] as const) {
    const { io, board } = await rig();
    const seen: string[] = [];
    board.onLost((loss) => seen.push(loss.reason));
    io.disconnect(kind);
    assert.deepEqual(seen, [kind]);
    assert.equal(board.lost?.reason, kind);
    board.close();
  }
});

// ---- relay gate ------------------------------------------------------------------

test('relay: a pulse holds the release level for at least its length, by the recorded write times', async () => {
  const { io, board } = await rig();
  const gate = new RelayGate(board, { pin: 7 });
  gate.pulse(150);
  assert.equal(gate.state, 'pulsing');
  await waitFor(() => gate.state === 'locked');
  const writes = io.writesTo(7);
  assert.deepEqual(writes.map((write) => write.value), [0, 1, 0], 'locked at start, released, locked');
  const [, release, relock] = writes;
  assert.ok(release && relock);
  const length = relock.at - release.at;
  assert.ok(length >= 150 && length < 350, `pulse lasted ${length.toFixed(1)} ms`);
  assert.equal(io.pins[7]?.mode, io.MODES.OUTPUT, 'the driver set the pin to OUTPUT');
  gate.close();
  board.close();
});

test('relay: NC wiring inverts the pin level of every state; holdOpen and lock', async () => {
  const { io, board } = await rig();
  const no = new RelayGate(board, { pin: 7, type: 'NO' });
  const nc = new RelayGate(board, { pin: 8, type: 'NC' });
  assert.deepEqual([io.level(7), io.level(8)], [0, 1], 'locked: NO low, NC high (coil holds the NC contact open)');
  no.holdOpen();
  nc.holdOpen();
  assert.deepEqual([no.state, nc.state], ['held-open', 'held-open']);
  assert.deepEqual([io.level(7), io.level(8)], [1, 0], 'released: NO high, NC low');
  no.pulse(1000);
  no.lock();
  nc.lock();
  assert.deepEqual([no.state, nc.state], ['locked', 'locked']);
  assert.deepEqual([io.level(7), io.level(8)], [0, 1]);
  await pause(20);
  assert.deepEqual(io.writesTo(7).map((write) => write.value), [0, 1, 1, 0], 'lock cancelled the pulse: no late write');
  no.close();
  nc.close();
  board.close();
});

test('relay: board lost → the safe state is commanded, the state reported is what the wiring does unpowered, and it is said', async () => {
  const { io, board } = await rig();
  const open = new RelayGate(board, { pin: 7 }); // default failSafe 'open'
  const locked = new RelayGate(board, { pin: 8, type: 'NC', failSafe: 'locked' });
  const messages: string[] = [];
  open.onFault((message) => messages.push(`open: ${message}`));
  locked.onFault((message) => messages.push(`locked: ${message}`));
  open.pulse(5000);
  locked.holdOpen();
  io.disconnect();
  await pause(5);
  // The commands cannot arrive once the link is gone: an NO relay drops out (locked), an NC one releases.
  assert.equal(open.state, 'locked');
  assert.equal(locked.state, 'held-open');
  assert.match(messages[0] ?? '', /^open: gate board lost \(close\).*safe state 'open'/);
  assert.match(messages[1] ?? '', /^locked: gate board lost.*safe state 'locked'.*NC wiring releases/);
  // The commands were attempted (they could not be delivered: the link is gone).
  const lastOpen = io.writesTo(7).at(-1);
  const lastLocked = io.writesTo(8).at(-1);
  assert.deepEqual([lastOpen?.value, lastOpen?.delivered], [1, false]);
  assert.deepEqual([lastLocked?.value, lastLocked?.delivered], [1, false]);
  open.lock();
  assert.equal(open.state, 'locked', 'the reported state stays');
  assert.match(messages.at(-1) ?? '', /'lock' ignored: board lost/);
  open.close();
  locked.close();
  board.close();
});

// ---- inputs ------------------------------------------------------------------------

test('input: a bounce shorter than debounceMs is ignored, a held level counts once', async () => {
  const { io, board } = await rig();
  const input = new DebouncedInput(board, { pin: 2, debounceMs: 50 });
  const changes: boolean[] = [];
  input.onChange((active) => changes.push(active));
  await pause(10);
  io.setInput(2, 1);
  await pause(20);
  io.setInput(2, 0);
  await pause(120);
  assert.deepEqual(changes, [], 'a 20 ms bounce does not count');
  io.setInput(2, 1);
  await pause(30);
  assert.equal(input.active, false, 'not before debounceMs');
  await pause(90);
  assert.equal(input.active, true);
  io.setInput(2, 0);
  await waitFor(() => !input.active);
  assert.deepEqual(changes, [true, false]);
  input.close();
  board.close();
});

test('input: active-low with the pull-up: floating reads idle, pulled to ground is active', async () => {
  const { io, board } = await rig();
  const input = new DebouncedInput(board, { pin: 3, debounceMs: 10, pullUp: true, invert: true });
  await pause(30);
  assert.equal(io.level(3), 1, 'the pull-up holds the floating pin high');
  assert.equal(input.active, false);
  io.setInput(3, 0);
  await waitFor(() => input.active);
  io.setInput(3, null);
  await waitFor(() => !input.active);
  input.close();
  board.close();
});

test('beam: broken then restored is one passage; a flicker is none', async () => {
  const { io, board } = await rig();
  const beam = new BeamPassageSensor(new DebouncedInput(board, { pin: 4, debounceMs: 30 }));
  let passages = 0;
  beam.onPassage(() => passages++);
  await pause(10);
  io.setInput(4, 1);
  await pause(5);
  io.setInput(4, 0);
  await pause(80);
  assert.equal(passages, 0);
  io.setInput(4, 1);
  await pause(80);
  assert.equal(passages, 0, 'not while the person is in the beam');
  io.setInput(4, 0);
  await waitFor(() => passages === 1);
  beam.close();
  beam.input.close();
  board.close();
});

test('fire alarm: active level is the alarm, both ways; exit button: a press calls back once', async () => {
  const { io, board } = await rig();
  const alarm = new FireAlarmRelease(new DebouncedInput(board, { pin: 5, debounceMs: 20 }));
  const exit = new ExitButton(new DebouncedInput(board, { pin: 6, debounceMs: 20 }));
  const alarms: boolean[] = [];
  let presses = 0;
  alarm.onChange((active) => alarms.push(active));
  exit.onPress(() => presses++);
  await pause(10);
  io.setInput(5, 1);
  await waitFor(() => alarm.active);
  io.setInput(5, 0);
  await waitFor(() => !alarm.active);
  assert.deepEqual(alarms, [true, false]);
  io.setInput(6, 1);
  await pause(60);
  io.setInput(6, 0);
  await pause(60);
  assert.equal(presses, 1);
  alarm.input.close();
  exit.input.close();
  board.close();
});

// ---- MLX90614 ----------------------------------------------------------------------------

async function thermometerRig(options: Mlx90614Options = {}, wrap?: (mlx: EmulatedMlx90614) => I2cDevice) {
  const { io, board } = await rig();
  const mlx = new EmulatedMlx90614(0x5a);
  io.attachI2c(0x5a, wrap ? wrap(mlx) : mlx);
  const thermometer = new Mlx90614Thermometer(board, options);
  const done = (): void => {
    thermometer.close();
    board.close();
  };
  return { io, board, mlx, thermometer, done };
}

function assertFault(reading: TemperatureReading, fault: string, detail: RegExp): void {
  assert.equal(reading.ok, false, `expected a ${fault} fault, got ${JSON.stringify(reading)}`);
  if (reading.ok) return;
  assert.equal(reading.fault, fault, reading.detail);
  assert.match(reading.detail, detail);
}

test('MLX90614: a stable reading, averaged, with the calibration offset; johnny-five sees the same °C', async () => {
  const { mlx, thermometer, done } = await thermometerRig({ offsetC: 0.3 });
  mlx.objectCelsius = 36.55; // 15485 × 0.02 K exactly
  mlx.ambientCelsius = 24;
  const reading = await thermometer.measure(1500);
  assert.ok(reading.ok, JSON.stringify(reading));
  assert.ok(Math.abs(reading.celsius - 36.85) <= 0.011, `${reading.celsius}`);
  assert.ok(Math.abs((reading.ambientCelsius ?? NaN) - 24) <= 0.03, `ambient ${reading.ambientCelsius}`);
  assert.ok(Math.abs(thermometer.component.celsius - 36.55) <= 0.021, 'the johnny-five Thermometer reports Tobj1 without offset');
  assert.equal(thermometer.deviceEmissivity, 1);
  done();
});

test('MLX90614: emissivity differing from the EEPROM value is compensated', async () => {
  const { mlx, thermometer, done } = await thermometerRig({ emissivity: 0.95 });
  mlx.objectCelsius = 36.55;
  mlx.objectEmissivity = 0.95; // the device (ε = 1 in EEPROM) reads this target colder
  const reading = await thermometer.measure(1500);
  assert.ok(reading.ok, JSON.stringify(reading));
  assert.ok(Math.abs(reading.celsius - 36.55) <= 0.03, `${reading.celsius}`);
  // Uncompensated, Tobj1 reads about half a degree low (36.01 °C at Ta 25 °C).
  assert.ok(thermometer.component.celsius < 36.2, `uncompensated Tobj1 ${thermometer.component.celsius}`);
  done();
});

test('MLX90614: isolated PEC errors are counted and skipped; a run of them is a checksum fault', async () => {
  let replies = 0;
  const { mlx, thermometer, done } = await thermometerRig({}, (mlx) => ({
    read: (command, length, repeatedStart) => {
      const bytes = mlx.read(command, length, repeatedStart);
      if (bytes && command === 0x07 && ++replies % 4 === 0) bytes[2] = (bytes[2] ?? 0) ^ 0x01;
      return bytes;
    },
  }));
  const reading = await thermometer.measure(1500);
  assert.ok(reading.ok, JSON.stringify(reading));
  assert.ok(thermometer.pecErrors >= 1);
  mlx.fault = 'bad-pec';
  assertFault(await thermometer.measure(1500), 'checksum', /3 PEC errors in a row .*expected 0x/);
  done();
});

test('MLX90614: out of the datasheet range, error flag, and implausible forehead are out-of-range faults saying which', async () => {
  const { mlx, thermometer, done } = await thermometerRig();
  mlx.fault = 'out-of-range';
  assertFault(await thermometer.measure(1500), 'out-of-range', /382\.\d+ °C is outside the datasheet range -70…380 °C/);
  mlx.fault = 'error-flag';
  assertFault(await thermometer.measure(1500), 'out-of-range', /error flag \(bit 15\)/);
  mlx.fault = null;
  mlx.objectCelsius = 60;
  assertFault(await thermometer.measure(1500), 'out-of-range', /60\.\d+ °C is physically implausible/);
  mlx.objectCelsius = 12;
  assertFault(await thermometer.measure(1500), 'out-of-range', /implausible \(outside 20…45 °C\)/);
  done();
});

test('MLX90614: a stuck word is a fault, never a stable reading', async () => {
  const { mlx, thermometer, done } = await thermometerRig({ stuckSamples: 30 });
  mlx.fault = 'stuck';
  assertFault(await thermometer.measure(2000), 'stuck', /RAM 0x07 \(Tobj1\): the same word 0x[0-9A-F]{4} for 30 replies in a row/);
  done();
});

test('MLX90614: the object word frozen while the ambient changes is stuck after stuckMs', async () => {
  const { mlx, thermometer, done } = await thermometerRig({ stuckSamples: 10_000, stuckMs: 150 });
  mlx.noiseLsb = 0; // a dead object channel: Tobj1 never moves...
  const warming = setInterval(() => (mlx.ambientCelsius += 0.1), 10); // ...while Ta does
  const reading = await thermometer.measure(2000);
  clearInterval(warming);
  assertFault(reading, 'stuck', /for \d+ ms while the ambient changed/);
  done();
});

test('MLX90614: silence is a silent fault at the deadline', async () => {
  const { mlx, thermometer, done } = await thermometerRig();
  mlx.fault = 'silent';
  const started = performance.now();
  const reading = await thermometer.measure(300);
  assertFault(reading, 'silent', /no answer from the MLX90614 at 0x5A within \d+ ms/);
  assert.ok(performance.now() - started >= 295);
  done();
});

test('MLX90614: board lost ends a measurement as disconnected, and every later one', async () => {
  const { io, mlx, thermometer, done } = await thermometerRig();
  mlx.fault = 'silent';
  const pending = thermometer.measure(5000);
  await pause(20);
  io.disconnect();
  assertFault(await pending, 'disconnected', /board lost \(close\)/);
  assertFault(await thermometer.measure(5000), 'disconnected', /board lost/);
  done();
});
