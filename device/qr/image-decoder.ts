/**
 * Reads every QR code in a still image (PNG, JPEG or WebP), or in a grey
 * plane a caller already has (a camera frame after sharp's greyscale, region
 * of interest and scaling).
 *
 * sharp decodes the file, refusing other formats and images over
 * MAX_INPUT_PIXELS, flattens any transparency onto white (transparent pixels
 * are black underneath and would swallow dark modules) and hands back one
 * 8-bit grey plane; a decoder backend (./decoder.ts) reads it.
 *
 * Backends: 'zxing-wasm' (zxing-cpp in WebAssembly) and 'zxing-library'
 * (@zxing/library, pure JS); 'auto' reads with the default one and, when it
 * finds nothing, with the other. The default is zxing-wasm: on zxing-cpp's
 * sample set it reads more (124 of 137 against 114) in a tenth of the time,
 * and a 1280×720 JPEG frame takes about 16 ms with it, JPEG decode included
 * (10 of them), against 60 ms with @zxing/library, or 390 ms when the frame
 * holds no code. 'auto' reads 4 samples more but pays those 390 ms on every
 * frame without a code, so it is no default (`npm run bench -- decode`,
 * docs/benchmarks.md).
 */
import { DeviceError } from '../errors.js';
import sharp from '../sharp-settings.js';
import { greyPlane, type GreyPlane, type QrBackendName, type QrDecoder } from './decoder.js';

export { greyPlane, type GreyPlane, type QrBackendName } from './decoder.js';

/** Past this, one image holds the reader for seconds and hundreds of MB: refused outright. */
export const MAX_INPUT_PIXELS = 40_000_000;

const FORMATS = new Set(['png', 'jpeg', 'webp']);

export type QrBackendChoice = QrBackendName | 'auto';
export const DEFAULT_QR_BACKEND: QrBackendName = 'zxing-wasm';

export interface DecodeOptions {
  /** Default DEFAULT_QR_BACKEND. */
  backend?: QrBackendChoice;
}

/**
 * Each backend is imported on first use: @zxing/library alone adds some
 * 12 MB to the process, which a gate reading with zxing-wasm never needs.
 */
const DECODERS: Record<QrBackendName, () => Promise<QrDecoder>> = {
  'zxing-library': async () => (await import('./zxing-library-backend.js')).zxingLibraryDecoder,
  'zxing-wasm': async () => (await import('./zxing-wasm-backend.js')).zxingWasmDecoder,
};

/**
 * Texts of the QR codes found, each once, in the order found; [] when none.
 * Rejects with a DeviceError (an image code) when the image cannot be read;
 * any other rejection is the backend's (zxing-wasm failing to load its .wasm).
 */
export async function decodeQrImage(image: Buffer | string, options: DecodeOptions = {}): Promise<string[]> {
  return decodeQrPlane(await loadGreyPlane(image), options);
}

/** As decodeQrImage, on a grey plane; the plane is not changed. */
export async function decodeQrPlane(plane: GreyPlane, { backend = DEFAULT_QR_BACKEND }: DecodeOptions = {}): Promise<string[]> {
  if (backend !== 'auto') return (await decoder(backend)).decode(plane);
  const first = await (await decoder(DEFAULT_QR_BACKEND)).decode(plane);
  if (first.length > 0) return first;
  const other = DEFAULT_QR_BACKEND === 'zxing-wasm' ? 'zxing-library' : 'zxing-wasm';
  return (await decoder(other)).decode(plane);
}

/** The named backend, imported on first use. Throws RangeError (synchronously) for an unknown name. */
export function decoder(name: QrBackendName): Promise<QrDecoder> {
  if (Object.hasOwn(DECODERS, name)) return DECODERS[name]();
  throw new RangeError(`unknown QR decoder backend '${String(name)}' (${Object.keys(DECODERS).join(', ')} or auto)`);
}

export async function loadGreyPlane(image: Buffer | string): Promise<GreyPlane> {
  const what = typeof image === 'string' ? image : 'image buffer';
  try {
    const input = sharp(image, { limitInputPixels: MAX_INPUT_PIXELS });
    const { format } = await input.metadata();
    if (!FORMATS.has(format)) {
      throw new DeviceError(
        'unreadable-image',
        `${what}: unsupported image format '${format}' (PNG, JPEG or WebP only)`,
      );
    }
    const { data, info } = await input
      .flatten({ background: '#ffffff' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return toGrey(data, info.width, info.height, info.channels);
  } catch (err) {
    if (err instanceof DeviceError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    if (/pixel limit/i.test(reason)) {
      throw new DeviceError('too-large', `${what}: image exceeds ${MAX_INPUT_PIXELS} pixels`, { cause: err });
    }
    throw new DeviceError('unreadable-image', `${what}: not a decodable image (${reason})`, { cause: err });
  }
}

/**
 * Rec. 601 luma in integers, as zxing computes it, from sharp's 8-bit sRGB
 * (a grey input comes as one channel, used as it is). Here rather than
 * sharp's toColourspace('b-w'), which works in floating point and took 4 of
 * the 15 ms a 1280×720 JPEG frame may cost.
 */
function toGrey(data: Buffer, width: number, height: number, channels: number): GreyPlane {
  if (channels < 3) return greyPlane(channels === 1 ? data : data.filter((_, i) => i % channels === 0), width, height);
  const px = new Uint8ClampedArray(width * height);
  for (let i = 0, j = 0; i < px.length; i++, j += channels) {
    px[i] = (306 * data[j]! + 601 * data[j + 1]! + 117 * data[j + 2]! + 512) >> 10;
  }
  return { px, width, height };
}
