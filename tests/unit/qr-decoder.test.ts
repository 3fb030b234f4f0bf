import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import QRCode from 'qrcode';
import sharp from 'sharp';
import { decodeQrImage, ImageDecodeError, MAX_INPUT_PIXELS } from '../../device/qr/image-decoder.js';

const GZHC =
  'GZHC1:6BFOXN*TS0BI$ZD-PHQ7I9AD66V5B22CH9M9ESI9XBHXK-%69LQOGI.*V76GCV4*XUA2P-FHT-HNTI4L6N$Q%UG/YL WO*Z7ON15\n' +
  'BM0VM.JQ$F4W17PG4.VAS5EG4V*BRL0K-RDY5RWOOH6PO9:TUQJAJG9-*NIRICVELZUZM9EN$QAN.K13V8$8Q5C/XB9Y*K*BF1UJ\r\n' +
  ':SA3%5E0BM2QP1V0U40TDQ$PB8KEOA6*3E+TMFTO.SRV9.9T02BY1TPF2ENQYFT9U3\n';
const CHINESE = '健康码 绿码\n姓名：张三 ünïcödé ✓ 𠮷';

const qrPng = (text: string, options: QRCode.QRCodeToBufferOptions = {}) =>
  QRCode.toBuffer(text, { type: 'png', ...options });
const canvas = (width: number, height: number, background = '#ffffff') =>
  sharp({ create: { width, height, channels: 3, background } });

function assertUnreadable(err: unknown): true {
  assert.ok(err instanceof ImageDecodeError, `expected ImageDecodeError, got ${String(err)}`);
  assert.equal(err.code, 'unreadable-image');
  return true;
}

test('reads PNG, JPEG and WebP codes to the exact text, newlines and non-ASCII included', async () => {
  for (const text of [GZHC, CHINESE]) {
    const png = await qrPng(text);
    assert.deepEqual(await decodeQrImage(png), [text], 'png');
    assert.deepEqual(await decodeQrImage(await sharp(png).jpeg({ quality: 75 }).toBuffer()), [text], 'jpeg');
    assert.deepEqual(await decodeQrImage(await sharp(png).webp().toBuffer()), [text], 'webp');
  }
});

test('reads a light-on-dark code', async () => {
  // qrcode's PNG is RGBA: leave alpha alone, or the image turns transparent.
  const inverted = await sharp(await qrPng(GZHC)).negate({ alpha: false }).png().toBuffer();
  assert.deepEqual(await decodeQrImage(inverted), [GZHC]);
});

test('reads a code on a transparent background', async () => {
  assert.deepEqual(await decodeQrImage(await qrPng(CHINESE, { color: { light: '#0000' } })), [CHINESE]);
});

test('reads a code from a file path', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'qr-decoder-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'code.webp');
  writeFileSync(file, await sharp(await qrPng(GZHC)).webp().toBuffer());
  assert.deepEqual(await decodeQrImage(file), [GZHC]);
});

test('reads a Latin-1 byte-mode code that stock zxing-js loses', async () => {
  const png = await QRCode.toBuffer([{ data: Buffer.from('café ñ', 'latin1'), mode: 'byte' }], { type: 'png' });
  assert.deepEqual(await decodeQrImage(png), ['café ñ']);
});

test('reads two codes side by side, level or offset', async () => {
  const a = await qrPng(GZHC, { scale: 3 });
  const b = await qrPng(CHINESE, { scale: 3 });
  const [ma, mb] = await Promise.all([sharp(a).metadata(), sharp(b).metadata()]);
  for (const offset of [0, 17]) {
    const image = await canvas(ma.width + mb.width + 20, Math.max(ma.height, mb.height) + 40)
      .composite([
        { input: a, left: 5, top: 5 },
        { input: b, left: 15 + ma.width, top: 5 + offset },
      ])
      .png()
      .toBuffer();
    const texts = await decodeQrImage(image);
    assert.deepEqual([...texts].sort(), [GZHC, CHINESE].sort(), `offset ${offset}`);
  }
});

test('a blank image has no code', async () => {
  const blank = await canvas(640, 480, '#f4f4f4').jpeg().toBuffer();
  assert.deepEqual(await decodeQrImage(blank), []);
});

test('garbage, truncated, missing and unsupported inputs reject with unreadable-image', async () => {
  const png = await qrPng(GZHC);
  await assert.rejects(decodeQrImage(Buffer.from('definitely not an image')), assertUnreadable);
  await assert.rejects(decodeQrImage(Buffer.alloc(0)), assertUnreadable);
  await assert.rejects(decodeQrImage(png.subarray(0, png.length >> 1)), assertUnreadable);
  await assert.rejects(decodeQrImage('/nonexistent/qr.png'), assertUnreadable);
  await assert.rejects(decodeQrImage(await sharp(png).gif().toBuffer()), assertUnreadable);
});

test('an image over the pixel cap rejects with too-large', async () => {
  const side = Math.ceil(Math.sqrt(MAX_INPUT_PIXELS)) + 1;
  const huge = await canvas(side, side).png({ compressionLevel: 1 }).toBuffer();
  await assert.rejects(decodeQrImage(huge), (err: unknown) => {
    assert.ok(err instanceof ImageDecodeError);
    assert.equal(err.code, 'too-large');
    return true;
  });
});

/*
 * zxing-cpp's QR samples (see the folder's README). Counts measured with
 * @zxing/library 0.21.3 and sharp 0.35.5 of 137 images: 112 read exactly; none of the
 * 46 false-positive images yields a code. zxing-cpp itself reads about 122.
 */
const SAMPLES = path.resolve(process.cwd(), '../shared/data/qrcode-samples');
const MIN_EXACT: Record<string, number> = {
  'qrcode-1': 8, // of 8
  'qrcode-2': 44, // of 56
  'qrcode-3': 14, // of 18
  'qrcode-4': 17, // of 24
  'qrcode-5': 16, // of 16
  'qrcode-6': 15, // of 15
};
const IMAGE = /\.(png|jpe?g|webp)$/i;
/**
 * A "double QR" (a second code drawn into the first): zxing-js corrects it to
 * other, half-width-katakana Shift_JIS bytes than the text zxing-cpp expects.
 */
const READS_OTHERWISE = new Set(['qrcode-2/16.webp']);

test('zxing-cpp QR sample set', async (t) => {
  if (!existsSync(SAMPLES)) {
    const why = `${path.relative(process.cwd(), SAMPLES)} is absent`;
    if (process.env.CI) assert.fail(`${why}: CI must run against the shared QR samples (looked in ${SAMPLES})`);
    t.skip(`../shared/data/qrcode-samples is absent (a user clone): the sample-set check needs ${SAMPLES}`);
    return;
  }
  const started = performance.now();
  const images = (dir: string) => readdirSync(path.join(SAMPLES, dir)).filter((f) => IMAGE.test(f)).sort();

  for (const dir of ['falsepositives-1', 'falsepositives-2']) {
    const found: string[] = [];
    for (const file of images(dir)) {
      const texts = await decodeQrImage(path.join(SAMPLES, dir, file));
      if (texts.length > 0) found.push(`${file}: ${JSON.stringify(texts)}`);
    }
    t.diagnostic(`${dir}: ${found.length} false positives`);
    assert.deepEqual(found, [], `${dir} has no QR code`);
  }

  for (const [dir, min] of Object.entries(MIN_EXACT)) {
    let total = 0;
    let exact = 0;
    const wrong: string[] = [];
    for (const file of images(dir)) {
      const expectedFile = path.join(SAMPLES, dir, file.replace(IMAGE, '.txt'));
      if (!existsSync(expectedFile)) continue;
      total++;
      // Exact bytes of the text, UTF-8; these files carry no trailing newline of their own.
      const expected = readFileSync(expectedFile, 'utf8');
      const texts = await decodeQrImage(path.join(SAMPLES, dir, file));
      if (texts.length === 1 && texts[0] === expected) exact++;
      // Any text read must be the right one: a wrong one would be worse than none.
      else if (texts.length > 0 && !READS_OTHERWISE.has(`${dir}/${file}`)) {
        wrong.push(`${file}: ${JSON.stringify(texts)}`);
      }
    }
    t.diagnostic(`${dir}: ${exact}/${total} exact`);
    assert.deepEqual(wrong, [], `${dir}: wrong texts`);
    assert.ok(exact >= min, `${dir}: ${exact}/${total} read exactly, expected at least ${min}`);
  }
  t.diagnostic(`sample set decoded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
});
