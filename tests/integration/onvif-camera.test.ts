/**
 * The real camera driver (node-onvif for SOAP, our Digest client for
 * snapshots, sharp and the QR decoder for frames) against the ONVIF camera
 * emulator on 127.0.0.1. Time bounds are generous: these assert outcomes.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CodeRead } from '../../device/contracts.js';
import { CameraCodeReader, type CameraReaderOptions, type CameraStatus } from '../../device/camera/camera-reader.js';
import { readFrame } from '../../device/camera/frame-pipeline.js';
import { DeviceError } from '../../device/errors.js';
import { OnvifCamera, type OnvifCameraOptions } from '../../device/camera/onvif-camera.js';
import { OnvifCameraEmulator, type CameraScene } from '../../simulator/hardware/onvif-camera-emulator.js';

const USER = 'admin';
const PASS = 'gate-camera-1';
// A dynamic-code-sized text: the GZHC1 prefix and base45 (RFC 9285) characters, space included.
const GZHC =
  'GZHC1:6BFOXN*TS0BI$ZD-PHQ7I9AD66V5B22CH9M9ESI9XBHXK-%69LQOGI.*V76GCV4*XUA2P-FHT-HNTI4L6N$Q%UG/YL WO*Z7ON15' +
  'BM0VM.JQ$F4W17PG4.VAS5EG4V*BRL0K-RDY5RWOOH6PO9:TUQJAJG9-*NIRICVELZUZM9EN$QAN.K13V8$8Q5C/XB9Y*K*BF1UJ' +
  ':SA3%5E0BM2QP1V0U40TDQ$PB8KEOA6*3E+TMFTO.SRV9.9T02BY1TPF2ENQYFT9U3';
const MULTILINE = 'GZHC1:NCFOXN%TS3DH\nline two: 张*三\r\nend';

let emulator: OnvifCameraEmulator;
const cleanups: (() => unknown)[] = [];

beforeEach(async () => {
  emulator = await OnvifCameraEmulator.start({ user: USER, pass: PASS });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await emulator.close();
});

function camera(options: Partial<OnvifCameraOptions> = {}): OnvifCamera {
  const cam = new OnvifCamera({ xaddr: emulator.xaddr, user: USER, pass: PASS, ...options });
  cleanups.push(() => cam.close());
  return cam;
}

function reader(cam: OnvifCamera, options: Partial<CameraReaderOptions> = {}) {
  const r = new CameraCodeReader({ camera: cam, framesPerSecond: 10, backoffInitialMs: 100, backoffMaxMs: 400, ...options });
  const statuses: CameraStatus[] = [];
  const reads: CodeRead[] = [];
  r.onStatus((s) => statuses.push(s));
  r.onRead((read) => reads.push(read));
  cleanups.push(() => r.stop());
  return { reader: r, statuses, reads };
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const last = (statuses: CameraStatus[]) => statuses.at(-1);
const isFault = (reason: string) => (s: CameraStatus | undefined) => s?.state === 'fault' && s.reason === reason;
const framesServed = async (n: number) => {
  const target = emulator.snapshotsServed + n;
  await until(() => emulator.snapshotsServed >= target, `${n} more frames`);
};

test('init reads device information, the media profile and the snapshot URI over node-onvif SOAP', async () => {
  const description = await camera().init();
  assert.equal(description.manufacturer, 'GateSim');
  assert.equal(description.model, 'QR-Cam 720');
  assert.equal(description.serialNumber, 'GS-0000-0001');
  assert.deepEqual(description.profile, { token: 'profile_1', name: 'mainStream', width: 1280, height: 720, encoding: 'JPEG' });
  assert.equal(description.snapshotUri, emulator.snapshotUri);
  assert.equal(description.streamUri, undefined, 'the emulator serves no stream');
  assert.deepEqual(
    emulator.soapCalls.map((c) => c.action),
    ['GetSystemDateAndTime', 'GetCapabilities', 'GetDeviceInformation', 'GetProfiles', 'GetStreamUri', 'GetStreamUri', 'GetStreamUri', 'GetSnapshotUri'],
  );
  assert.ok(emulator.soapCalls.every((c) => c.authenticated), 'every call carried a valid WS-Security UsernameToken digest');
});

test('a wrong password is refused at init as unauthorized', async () => {
  await assert.rejects(camera({ pass: 'wrong' }).init(), (err) => err instanceof DeviceError && err.code === 'unauthorized');
  const refused = emulator.soapCalls.find((c) => c.action === 'GetDeviceInformation');
  assert.equal(refused?.authenticated, false);
});

test('a snapshot of a shown code decodes to the exact text, over Digest and never Basic', async () => {
  const cam = camera();
  await cam.init();
  for (const text of [GZHC, MULTILINE]) {
    emulator.show(text);
    const jpeg = await cam.snapshot();
    assert.equal(jpeg.subarray(0, 2).toString('hex'), 'ffd8', 'a JPEG');
    assert.deepEqual(await readFrame(jpeg), [text]);
    assert.deepEqual(await readFrame(jpeg, { maxWidth: 640 }), [text], 'scaled down');
    assert.deepEqual(await readFrame(jpeg, { region: { left: 400, top: 0, width: 480, height: 720 } }), [text], 'region on the phone');
    assert.deepEqual(await readFrame(jpeg, { region: { left: 0, top: 0, width: 300, height: 720 } }), [], 'region on the wall');
  }
  emulator.show(null);
  assert.deepEqual(await readFrame(await cam.snapshot()), []);
  assert.deepEqual([...emulator.authSchemes], ['Digest']);
});

test('SHA-256 Digest works, and an expired nonce is renewed (stale=true) without a fault', async () => {
  await emulator.close();
  emulator = await OnvifCameraEmulator.start({ user: USER, pass: PASS, digestAlgorithm: 'SHA-256', nonceLifetimeMs: 200 });
  emulator.show('GZHC1:SHA256');
  const cam = camera();
  await cam.init();
  assert.deepEqual(await readFrame(await cam.snapshot()), ['GZHC1:SHA256']);
  await sleep(300);
  assert.deepEqual(await readFrame(await cam.snapshot()), ['GZHC1:SHA256']);
});

test("node-onvif's own fetchSnapshot also passes the emulator's Digest check (after sending Basic first)", async () => {
  const onvif = createRequire(import.meta.url)('node-onvif') as {
    OnvifDevice: new (p: object) => { init(): Promise<unknown>; fetchSnapshot(): Promise<{ body: Buffer }> };
  };
  const device = new onvif.OnvifDevice({ xaddr: emulator.xaddr, user: USER, pass: PASS });
  await device.init();
  emulator.show('GZHC1:NODE-ONVIF');
  assert.deepEqual(await readFrame((await device.fetchSnapshot()).body), ['GZHC1:NODE-ONVIF']);
  assert.deepEqual([...emulator.authSchemes].sort(), ['Basic', 'Digest']);
});

test('wrong password: unauthorized fault; credentials fixed: ok, and the code is read', { timeout: 60_000 }, async () => {
  const cam = camera({ pass: 'wrong' });
  const { reader: r, statuses, reads } = reader(cam);
  emulator.show(GZHC);
  await r.start();
  await until(() => isFault('unauthorized')(last(statuses)), 'unauthorized fault');
  cam.setAuth(USER, PASS);
  await until(() => last(statuses)?.state === 'ok', 'recovery');
  await until(() => reads.length === 1, 'the code');
  assert.equal(reads[0]!.text, GZHC);
  assert.equal(reads[0]!.source, 'camera');

  // The camera starts refusing (password changed on it), then takes us back.
  emulator.respondUnauthorized(true);
  await until(() => isFault('unauthorized')(last(statuses)), 'unauthorized fault on snapshots');
  emulator.respondUnauthorized(false);
  await until(() => last(statuses)?.state === 'ok', 'second recovery');
  assert.deepEqual(
    statuses.map((s) => (s.state === 'ok' ? 'ok' : s.reason)),
    ['unauthorized', 'ok', 'unauthorized', 'ok'],
  );
});

test('a camera that accepts and never answers: timeout fault, then recovery', { timeout: 60_000 }, async () => {
  const { reader: r, statuses } = reader(camera({ requestTimeoutMs: 500 }));
  await r.start();
  await until(() => last(statuses)?.state === 'ok', 'first frame');
  emulator.hang(true);
  await until(() => isFault('timeout')(last(statuses)), 'timeout fault');
  // A reader starting now hangs in node-onvif's init instead: the same fault.
  const starting = reader(camera({ initTimeoutMs: 1000 }));
  await starting.reader.start();
  await until(() => isFault('timeout')(last(starting.statuses)), 'timeout fault during init');
  emulator.hang(false);
  await until(() => last(statuses)?.state === 'ok', 'recovery');
  await until(() => last(starting.statuses)?.state === 'ok', 'recovery of the starting reader');
});

test('a truncated JPEG: bad-frame fault, then recovery', { timeout: 60_000 }, async () => {
  const { reader: r, statuses, reads } = reader(camera());
  emulator.show(GZHC);
  await r.start();
  await until(() => reads.length === 1, 'first read');
  emulator.brokenJpeg(true);
  await until(() => isFault('bad-frame')(last(statuses)), 'bad-frame fault');
  emulator.brokenJpeg(false);
  await until(() => last(statuses)?.state === 'ok', 'recovery');
});

test('a camera gone from the network: unreachable fault', { timeout: 60_000 }, async () => {
  const { reader: r, statuses } = reader(camera());
  await r.start();
  await until(() => last(statuses)?.state === 'ok', 'first frame');
  await emulator.close();
  await until(() => isFault('unreachable')(last(statuses)), 'unreachable fault');
});

test('the same code on consecutive frames is read once, and again after it left the view', { timeout: 60_000 }, async () => {
  const { reader: r, reads } = reader(camera(), { absentFrames: 3, absentMs: 60_000 });
  emulator.show(GZHC);
  await r.start();
  await until(() => reads.length === 1, 'first read');
  await framesServed(6);
  assert.equal(reads.length, 1, 'held still: one read');
  emulator.show(null);
  await framesServed(4);
  emulator.show(GZHC);
  await until(() => reads.length === 2, 'read again after leaving');
  emulator.show(MULTILINE);
  await until(() => reads.length === 3, 'the next person');
  assert.deepEqual(reads.map((x) => x.text), [GZHC, GZHC, MULTILINE]);
});

test('stop() aborts a hung snapshot and leaves no timer behind', { timeout: 60_000 }, async () => {
  const timers = () => process.getActiveResourcesInfo().filter((t) => t === 'Timeout').length;
  const before = timers();
  const { reader: r, statuses } = reader(camera({ requestTimeoutMs: 60_000 }));
  await r.start();
  await until(() => last(statuses)?.state === 'ok', 'first frame');
  emulator.hang(true);
  await sleep(300); // a snapshot is now waiting on the hung camera
  await r.stop();
  assert.equal(timers(), before);
  emulator.hang(false);
  const served = emulator.snapshotsServed;
  await sleep(500);
  assert.equal(emulator.snapshotsServed, served, 'no frames after stop');
});

test('blur, rotation, perspective, glare, noise and size within reason still decode', { timeout: 120_000 }, async () => {
  // Measured with this text (version 10 code): misses from blur sigma 2.5 and
  // perspective 60°; any rotation, glare up to 0.9, noise 0.5 and a 120 px
  // code read. Asserted here with margin.
  const cam = camera();
  await cam.init();
  emulator.show(GZHC);
  const scenes: Partial<CameraScene>[] = [
    { size: 160 },
    { size: 400 },
    { blur: 1.5 },
    { rotate: 30 },
    { rotate: 90 },
    { perspective: 30 },
    { glare: 0.6 },
    { noise: 0.25 },
    { rotate: 10, perspective: 20, blur: 1, glare: 0.4, noise: 0.15 },
  ];
  const plain: CameraScene = { size: 280, rotate: 0, perspective: 0, blur: 0, glare: 0, noise: 0 };
  for (const scene of scenes) {
    emulator.set({ ...plain, ...scene });
    assert.deepEqual(await readFrame(await cam.snapshot()), [GZHC], JSON.stringify(scene));
  }
});
