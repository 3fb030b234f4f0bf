/**
 * zxing-wasm loads its .wasm from node_modules, never from the network: with
 * fetch stubbed to record and refuse every call, the backend still loads and
 * reads, and nothing was fetched. A control shows the stub would have caught
 * zxing-wasm's default, which fetches the .wasm from a CDN.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import QRCode from 'qrcode';

const fetched: string[] = [];
globalThis.fetch = (async (input: string | URL | Request) => {
  fetched.push(input instanceof Request ? input.url : String(input));
  throw new Error('network access refused by test');
}) as typeof fetch;

// Imported only now, so that nothing of zxing-wasm ever saw the real fetch.
const { zxingWasmDecoder, ZXING_WASM_FILE } = await import('../../device/qr/zxing-wasm-backend.js');
const { loadGreyPlane } = await import('../../device/qr/image-decoder.js');

test('the zxing-wasm backend loads from node_modules with fetch refused', async () => {
  assert.equal(
    path.relative(process.cwd(), ZXING_WASM_FILE),
    path.join('node_modules', 'zxing-wasm', 'dist', 'reader', 'zxing_reader.wasm'),
  );
  const text = 'GZHC1:OFFLINE';
  const plane = await loadGreyPlane(await QRCode.toBuffer(text, { type: 'png' }));
  assert.deepEqual(await zxingWasmDecoder.decode(plane), [text]);
  assert.deepEqual(fetched, []);
});

test('control: zxing-wasm left to its defaults reaches for the network, and the stub catches it', async () => {
  // Another module (the full build) with its own cache, so the backend's is untouched.
  const { prepareZXingModule } = await import('zxing-wasm/full');
  const printErr = console.error;
  console.error = () => {}; // emscripten reports the refused fetch
  try {
    await assert.rejects(prepareZXingModule({ fireImmediately: true }));
  } finally {
    console.error = printErr;
  }
  assert.ok(fetched.length > 0 && fetched.every((url) => /^https:\/\/.*zxing_full\.wasm$/.test(url)), String(fetched));
});
