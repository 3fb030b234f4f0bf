/**
 * zxing-wasm 3.1.4 leaves each read's C++ result vector undeleted; the
 * backend deletes it once the results are copied (zxing-wasm-backend.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import QRCode from 'qrcode';
import sharp from 'sharp';
import { getZXingModule } from 'zxing-wasm/reader';
import { greyPlane } from '../../device/qr/decoder.js';
import { loadZxingWasm, zxingWasmDecoder } from '../../device/qr/zxing-wasm-backend.js';

test('every zxing-wasm read leaves its result vector deleted, with the texts still read', async () => {
  await loadZxingWasm();
  const module = (await getZXingModule()) as unknown as Record<string, unknown>;
  const vectors: Array<{ isDeleted(): boolean; size(): number }> = [];
  const wrapped = module.readBarcodesFromImage as (...args: unknown[]) => { isDeleted(): boolean; size(): number };
  module.readBarcodesFromImage = function (this: unknown, ...args: unknown[]) {
    const vector = wrapped.apply(this, args);
    vectors.push(vector);
    return vector;
  };
  try {
    const png = await QRCode.toBuffer('GZHC1:RESULTS-FREED', { width: 300 });
    const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
    const plane = greyPlane(data, info.width, info.height);
    for (let i = 0; i < 3; i++) assert.deepEqual(await zxingWasmDecoder.decode(plane), ['GZHC1:RESULTS-FREED']);
    const blank = greyPlane(Buffer.alloc(64 * 64, 255), 64, 64);
    assert.deepEqual(await zxingWasmDecoder.decode(blank), []);
    assert.equal(vectors.length, 4);
    assert.ok(vectors.every((v) => v.isDeleted()), 'a result vector was left for the process to carry');
  } finally {
    module.readBarcodesFromImage = wrapped;
  }
});
