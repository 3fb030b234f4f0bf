/** The camera's frame pipeline: grey by the blue channel, region, scaling, bad frames. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import QRCode from 'qrcode';
import sharp from 'sharp';
import { DeviceError } from '../../device/errors.js';
import { prepareFrame, readFrame } from '../../device/camera/frame-pipeline.js';

const TEXT = 'GZHC1:NCFA90620FFWTWGSLKC 4+49:YUNX3QS7 EMC7BV%KRJD0IB469NW5BY8L:9R9EBM628BWNAY$DJUAGECIVCJA9DF3K-0XNODF3O';

async function frameWithCode(dark: string, size = { width: 1280, height: 720 }): Promise<Buffer> {
  const png = await QRCode.toBuffer(TEXT, { type: 'png', scale: 4, color: { dark, light: '#ffffff' } });
  return sharp({ create: { ...size, channels: 3, background: '#606060' } })
    .composite([{ input: png, left: 400, top: 150 }])
    .jpeg({ quality: 80 })
    .toBuffer();
}

test('codes drawn in each health-code colour read from a 1280×720 JPEG frame', async () => {
  for (const [colour, dark] of [['black', '#000000'], ['green', '#00a550'], ['yellow', '#f5c400'], ['red', '#e60012']]) {
    assert.deepEqual(await readFrame(await frameWithCode(dark!)), [TEXT], `${colour} code`);
  }
});

test('a yellow code keeps its contrast: grey by the blue channel, not luma', async () => {
  const yellow = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#f5c400' } }).png().toBuffer();
  const { data } = await prepareFrame(yellow);
  const mean = data.reduce((sum, v) => sum + v, 0) / data.length;
  // Rec. 601 luma of #f5c400 is about 188; its blue channel is 0.
  assert.ok(mean < 10, `yellow came out as grey ${mean}`);
});

test('region of interest and scaling shape the plane', async () => {
  const frame = await frameWithCode('#000000');
  const cropped = await prepareFrame(frame, { region: { left: 380, top: 130, width: 440, height: 440 } });
  assert.equal(cropped.width, 440);
  assert.equal(cropped.height, 440);
  assert.deepEqual(await readFrame(frame, { region: { left: 380, top: 130, width: 440, height: 440 } }), [TEXT]);
  const scaled = await prepareFrame(frame, { maxWidth: 640 });
  assert.equal(scaled.width, 640);
  assert.equal(scaled.height, 360);
  assert.deepEqual(await readFrame(frame, { region: { left: 0, top: 0, width: 300, height: 300 } }), [], 'a region away from the code');
});

test('a truncated JPEG is a bad frame, not a crash', async () => {
  const frame = await frameWithCode('#000000');
  await assert.rejects(prepareFrame(frame.subarray(0, frame.length / 2)), (error: unknown) => error instanceof DeviceError && error.code === 'bad-frame');
});
