/**
 * The real SerialIdCardReader driver on a virtual ID-card reader (serialport's
 * MockBinding with the unplug extension): swipes in both protocols, unplug
 * and replug, bad frames, a frame cut short, start/stop twice, and the lane
 * hardware builder reporting its faults as 'id-card-reader'. Every test also
 * checks that no log line holds the number or the holder's name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { checkNationalId } from '../../protocol/privacy/national-id.js';
import type { HardwareFault, IdCardSwipe } from '../../device/contracts.js';
import { openLaneHardware } from '../../device/lane-hardware.js';
import { SerialIdCardReader, type IdCardReaderStatus } from '../../device/id-card/serial-id-card-reader.js';
import { VirtualIdCardReader, type VirtualIdCardProtocol } from '../../simulator/hardware/virtual-id-card-reader.js';
import { WireLane } from '../../simulator/hardware/wire-lane.js';
import { pause, until } from '../support/wait.js';

// GB 11643-1999 §8.2 check character.
function withCheck(first17: string): string {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((acc, digit, i) => acc + Number(digit) * weights[i]!, 0);
  return first17 + '10X98765432'[sum % 11]!;
}
const ID = withCheck('32010619881212345');
const ID2 = withCheck('51010720010229001'.replace('0229', '0228'));
const NAME = '赵六';

let nextPort = 0;

interface Rig {
  device: VirtualIdCardReader;
  reader: SerialIdCardReader;
  swipes: IdCardSwipe[];
  statuses: IdCardReaderStatus[];
  logs: string[];
}

async function rig(
  t: { after: (fn: () => Promise<void>) => void },
  options: { protocol?: VirtualIdCardProtocol; present?: boolean } = {},
): Promise<Rig> {
  const protocol = options.protocol ?? 'sam';
  const path = `/dev/ttyVIDC${nextPort++}`;
  const device = new VirtualIdCardReader({ path, protocol, ...(options.present === false ? { present: false } : {}) });
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const reader = new SerialIdCardReader({ path, protocol, binding: device.binding, reopenIntervalMs: 20, frameIdleMs: 50, logger });
  const swipes: IdCardSwipe[] = [];
  const statuses: IdCardReaderStatus[] = [];
  reader.onSwipe((swipe) => {
    assert.ok(swipe.at > 0 && swipe.at <= performance.now());
    swipes.push(swipe);
  });
  reader.onStatus((status) => statuses.push(status));
  t.after(async () => {
    await reader.stop();
    for (const line of logs) {
      for (const secret of [ID, ID.slice(0, 17), ID2, ID2.slice(0, 17), NAME]) assert.ok(!line.includes(secret), `logged: ${line}`);
    }
  });
  await reader.start();
  return { device, reader, swipes, statuses, logs };
}

test('test numbers are valid by GB 11643', () => {
  for (const id of [ID, ID2]) assert.equal(checkNationalId(id).ok, true);
});

test('sam: a swipe arrives with the number only, at 115,200 baud', async (t) => {
  const { device, swipes, statuses } = await rig(t);
  assert.equal(device.connected, true);
  assert.equal(device.lastOpenOptions?.baudRate, 115200);
  assert.deepEqual(statuses.map((s) => s.state), ['connected']);
  assert.equal(await device.swipe({ nationalId: ID, name: NAME }), true);
  await until('a swipe', () => swipes.length === 1);
  assert.deepEqual(Object.keys(swipes[0]!).sort(), ['at', 'nationalId']);
  assert.equal(swipes[0]!.nationalId, ID);
  await device.swipe({ nationalId: ID2, name: NAME }, { fingerprint: true });
  await until('a second swipe', () => swipes.length === 2);
  assert.equal(swipes[1]!.nationalId, ID2);
});

test('line: a swipe arrives with the number', async (t) => {
  const { device, swipes } = await rig(t, { protocol: 'line' });
  await device.swipe(ID);
  await device.send(`${ID2.slice(0, 9)}`, `${ID2.slice(9)}\r\n`);
  await until('two swipes', () => swipes.length === 2);
  assert.deepEqual(swipes.map((s) => s.nationalId), [ID, ID2]);
});

test('unplugged and plugged back: a fault, then recovery, then swipes again', async (t) => {
  const { device, swipes, statuses } = await rig(t);
  await device.swipe(ID);
  await until('a swipe', () => swipes.length === 1);
  device.unplug();
  await until('disconnected', () => statuses.length === 2);
  assert.equal(statuses[1]!.state, 'disconnected');
  assert.match(statuses[1]!.reason, /unplugged/);
  const attempts = device.openAttempts;
  await until('reopen attempts', () => device.openAttempts >= attempts + 3);
  assert.equal(statuses.length, 2, 'failed reopens are not reported again');
  assert.equal(await device.swipe(ID2), false, 'nobody listens while unplugged');
  device.plugIn();
  await until('connected again', () => statuses.length === 3 && device.connected);
  assert.equal(statuses[2]!.state, 'connected');
  await device.swipe(ID2);
  await until('a swipe after the replug', () => swipes.length === 2);
  assert.equal(swipes[1]!.nationalId, ID2);
});

test('a frame cut by the unplug is reported, and never joined to the next connection', async (t) => {
  const { device, swipes, statuses } = await rig(t);
  await device.swipeTruncated(ID, 600);
  device.unplug();
  await until('disconnected and cut frame', () => statuses.some((s) => s.state === 'bad-frame'));
  const cut = statuses.find((s) => s.state === 'bad-frame');
  assert.equal(cut?.state === 'bad-frame' && cut.code, 'truncated');
  device.plugIn();
  await until('connected again', () => device.connected && statuses.at(-1)?.state === 'connected');
  await device.swipe(ID2);
  await until('a swipe', () => swipes.length === 1);
  assert.deepEqual(swipes.map((s) => s.nationalId), [ID2]);
});

test('garbage, a bad checksum and a module failure: bad-frame statuses, no crash, then swipes again', async (t) => {
  const { device, swipes, statuses, logs } = await rig(t);
  await device.sendGarbage();
  await until('garbage reported', () => statuses.some((s) => s.state === 'bad-frame'));
  await pause(150); // the line goes quiet: the next bad frame is a new error, not more of the noise
  await device.swipeCorrupted(ID);
  await device.sendStatus(0x41);
  await until('three bad frames', () => statuses.filter((s) => s.state === 'bad-frame').length === 3);
  const codes = statuses.flatMap((s) => (s.state === 'bad-frame' ? [s.code] : []));
  assert.deepEqual(codes, ['garbage', 'checksum', 'status']);
  assert.equal(swipes.length, 0);
  assert.ok(logs.some((line) => line.includes('id card not read') && line.includes('reading the card failed')));
  await device.swipe(ID);
  await until('a swipe', () => swipes.length === 1);
  assert.equal(swipes[0]!.nationalId, ID);
  assert.deepEqual(statuses.at(-1), { state: 'connected', reason: 'a card was read again' });
});

test('a card lifted too early: the cut frame is reported once the line goes quiet', async (t) => {
  const { device, swipes, statuses } = await rig(t);
  await device.swipeTruncated(ID, 300);
  await until('truncated reported', () => statuses.some((s) => s.state === 'bad-frame'));
  const last = statuses.at(-1)!;
  assert.equal(last.state === 'bad-frame' && last.code, 'truncated');
  await device.swipe(ID2);
  await until('a swipe', () => swipes.length === 1);
  assert.equal(swipes[0]!.nationalId, ID2);
});

test('line: a malformed number is a bad frame that does not carry it', async (t) => {
  const { device, swipes, statuses } = await rig(t, { protocol: 'line' });
  await device.swipeCorrupted(ID);
  await until('bad frame', () => statuses.some((s) => s.state === 'bad-frame'));
  const bad = statuses.find((s) => s.state === 'bad-frame')!;
  assert.equal(bad.state === 'bad-frame' && bad.code, 'characters');
  assert.ok(!bad.reason.includes(ID.slice(0, 10)));
  await device.swipe(ID);
  await until('a swipe', () => swipes.length === 1);
});

test('a reader missing at start is opened once it is plugged in', async (t) => {
  const { device, swipes, statuses } = await rig(t, { present: false });
  assert.deepEqual(statuses.map((s) => s.state), ['disconnected']);
  device.plugIn();
  await until('connected', () => device.connected);
  await device.swipe(ID);
  await until('a swipe', () => swipes.length === 1);
  assert.deepEqual(statuses.map((s) => s.state), ['disconnected', 'connected']);
});

test('start() and stop() are idempotent, and a stopped reader can start again', async (t) => {
  const { device, reader, swipes } = await rig(t);
  await reader.start();
  await reader.start();
  assert.equal(device.connected, true);
  await reader.stop();
  await reader.stop();
  assert.equal(device.connected, false);
  assert.equal(reader.status, null);
  assert.equal(await device.swipe(ID), false);
  await Promise.all([reader.start(), reader.start()]);
  await until('reopened', () => device.connected);
  await device.swipe(ID);
  await until('a swipe', () => swipes.length === 1);
});

test('the lane builder fits the reader from config and reports its faults as id-card-reader', async () => {
  const wire = await WireLane.start({ camera: false });
  const logger = pino({ level: 'silent' });
  const hardware = await openLaneHardware(wire.hardwareConfig(), logger, wire.injection());
  const faults: HardwareFault[] = [];
  hardware.health.onFault((fault) => faults.push(fault));
  try {
    assert.ok(hardware.idCardReader, 'fitted from hardware.idCardReader');
    assert.equal(wire.idCard.connected, false, 'opened only when the lane starts it');
    const swipes: IdCardSwipe[] = [];
    hardware.idCardReader.onSwipe((swipe) => swipes.push(swipe));
    await hardware.idCardReader.start();
    await hardware.idCardReader.start();
    await wire.idCardOpened();
    assert.equal(wire.idCard.lastOpenOptions?.baudRate, 115200);
    assert.equal(await wire.swipeIdCard(ID), true);
    await until('a swipe through the lane hardware', () => swipes.length === 1);
    assert.equal(swipes[0]!.nationalId, ID);
    wire.idCard.unplug();
    await until('fault', () => faults.some((f) => f.device === 'id-card-reader' && f.active));
    const fault = faults.find((f) => f.device === 'id-card-reader' && f.active)!;
    assert.equal(fault.blocking, false);
    assert.match(fault.detail, /id-card reader disconnected/);
    wire.idCard.plugIn();
    await until('recovered', () => faults.some((f) => f.device === 'id-card-reader' && !f.active) && wire.idCard.connected, 10_000);
    // A misread card is logged by the driver, not raised as a device fault: the person swipes again.
    const before = faults.length;
    await wire.idCard.sendGarbage();
    await wire.idCard.swipeCorrupted(ID);
    await pause(800);
    assert.deepEqual(faults.slice(before), [], 'a misread card raised a device fault');
    assert.equal(faults.filter((f) => f.device === 'id-card-reader' && f.active).length, 1, 'only the unplug was a fault');
  } finally {
    await hardware.close();
    await wire.close();
  }
  assert.equal(wire.idCard.connected, false, 'close() stops the reader');
});
