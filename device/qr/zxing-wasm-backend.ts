/**
 * The zxing-wasm backend: zxing-cpp compiled to WebAssembly. One call reads
 * every QR code in the plane, at any angle, dark-on-light or inverted.
 *
 * The .wasm comes from node_modules (zxing-wasm/reader/zxing_reader.wasm),
 * read once, on first use, and checked against the SHA-256 the package
 * declares. zxing-wasm would otherwise fetch it from a CDN: handing emscripten
 * the bytes as `wasmBinary` leaves it nothing to fetch (a test stubs fetch to
 * prove it). The module is shared by every zxing-wasm user in the process.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { prepareZXingModule, readBarcodes, ZXING_WASM_SHA256, type ReaderOptions } from 'zxing-wasm/reader';
import type { GreyPlane, QrDecoder } from './decoder.js';

export const ZXING_WASM_FILE = createRequire(import.meta.url).resolve('zxing-wasm/reader/zxing_reader.wasm');

/**
 * 'QRCode' is the QR family (Model 1 and 2, Micro QR, rMQR): two of
 * zxing-cpp's samples are Model 1. tryInvert reads light-on-dark codes.
 * tryRotate is off: zxing-cpp's QR detector finds codes at any angle
 * without it (45, 90, 180 and 270° read alike, and no sample more with it),
 * so it could only cost time. tryDownscale
 * (a second read at 1/3 size when the short side is 500 px or more) is off:
 * it read nothing more in the samples or the frames and costs 1-2 ms of the
 * 15 a 1280×720 frame may take (`npm run bench -- decode`).
 *
 * 'Plain' text is the bytes decoded by their ECI, or else UTF-8 when they are
 * valid UTF-8, else the character set zxing-cpp guesses (ISO-8859-1, which
 * keeps every byte, or Shift_JIS). The default 'HRI' would escape control
 * characters as <GS> and the like, and loses two samples.
 */
const OPTIONS: ReaderOptions = {
  formats: ['QRCode'],
  tryHarder: true,
  tryInvert: true,
  tryRotate: false,
  tryDownscale: false,
  maxNumberOfSymbols: 255,
  textMode: 'Plain',
  characterSet: 'Unknown',
};

let loading: Promise<void> | null = null;

/** Loads and instantiates the .wasm once; a failed load is retried on the next call. */
export function loadZxingWasm(): Promise<void> {
  loading ??= (async () => {
    const wasmBinary = await readFile(ZXING_WASM_FILE);
    const sha256 = createHash('sha256').update(wasmBinary).digest('hex');
    if (sha256 !== ZXING_WASM_SHA256) {
      throw new Error(`${ZXING_WASM_FILE}: SHA-256 ${sha256}, zxing-wasm expects ${ZXING_WASM_SHA256}`);
    }
    const module = await prepareZXingModule({
      overrides: {
        wasmBinary: wasmBinary.buffer.slice(wasmBinary.byteOffset, wasmBinary.byteOffset + wasmBinary.length),
        // Never consulted while wasmBinary is set; should that change, a file path, not a CDN URL.
        locateFile: (file: string) => (file.endsWith('.wasm') ? ZXING_WASM_FILE : file),
      },
      fireImmediately: true,
    });
    freeResultVectors(module as unknown as Record<string, unknown>);
  })().catch((err: unknown) => {
    loading = null;
    throw new Error(`zxing-wasm: cannot load ${ZXING_WASM_FILE}`, { cause: err });
  });
  return loading;
}

/**
 * zxing-wasm 3.1.4's readBarcodes copies each result out of the C++ result
 * vector and never deletes the vector, so every frame with a code leaves its
 * results (and the typed arrays they hold through embind handles) behind:
 * 0.3 MB of JS heap and 0.3 MB of array buffers per 500 reads with a code:
 * the camera-memory benchmark's slow climb (docs/benchmarks.md).
 * The module's two read functions are wrapped so the vector is deleted once
 * readBarcodes has copied it: it copies synchronously, and a microtask runs
 * only after that. Done once; harmless if a later zxing-wasm deletes it itself
 * (a deleted vector is not deleted twice: isDeleted is checked).
 */
const WRAPPED = Symbol('results freed');

function freeResultVectors(module: Record<string, unknown>): void {
  if (module[WRAPPED as unknown as string]) return;
  for (const name of ['readBarcodesFromImage', 'readBarcodesFromPixmap']) {
    const read = module[name];
    if (typeof read !== 'function') continue;
    module[name] = function (this: unknown, ...args: unknown[]): unknown {
      const results = (read as (...a: unknown[]) => unknown).apply(this, args) as { delete?: () => void; isDeleted?: () => boolean } | null;
      if (results && typeof results.delete === 'function') {
        queueMicrotask(() => {
          if (!results.isDeleted?.()) results.delete!();
        });
      }
      return results;
    };
  }
  module[WRAPPED as unknown as string] = true;
}

export const zxingWasmDecoder: QrDecoder = {
  name: 'zxing-wasm',
  async decode(plane: GreyPlane): Promise<string[]> {
    await loadZxingWasm();
    const results = await readBarcodes(asPgm(plane), OPTIONS);
    return [...new Set(results.filter((r) => r.isValid).map((r) => r.text))];
  },
};

/**
 * The plane as a binary PGM (P5): zxing-wasm reads encoded images with
 * stb_image, which parses PGM into grey as it is. Its other raw input, RGBA
 * ImageData, would cost two conversions of every pixel (grey to RGBA here,
 * back to grey in zxing-wasm), some 5 ms on a 1280×720 frame.
 */
function asPgm({ px, width, height }: GreyPlane): Uint8Array {
  const header = Buffer.from(`P5\n${width} ${height}\n255\n`, 'ascii');
  const pgm = new Uint8Array(header.length + px.length);
  pgm.set(header);
  pgm.set(px, header.length);
  return pgm;
}
