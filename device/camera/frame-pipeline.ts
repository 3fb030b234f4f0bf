/**
 * One camera frame to QR code texts: sharp decodes the JPEG (failing on
 * truncated or corrupt data rather than returning a half-grey picture), cuts
 * out the region of interest and scales it down to a maximum width; its blue
 * channel is the grey; then decodeFrame() reads the codes in it.
 *
 * decodeFrame() is the one place the QR decoder is called; it reads the grey
 * plane directly, with the backend the config names.
 */
import { DeviceError } from '../errors.js';
import sharp from '../sharp-settings.js';
import { DEFAULT_QR_BACKEND, decodeQrPlane, greyPlane, type QrBackendName } from '../qr/image-decoder.js';

export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface FramePipelineOptions {
  /** Where in the frame codes are held up, in frame pixels; the whole frame when absent. */
  region?: Region;
  /** Scale the (cropped) frame down to at most this width, keeping its aspect; never up. */
  maxWidth?: number;
  /** QR decoder backend; the project's default (the better one in `npm run bench -- decode`) when absent. */
  backend?: QrBackendName;
}

/** One 8-bit grey plane, row by row. */
export interface GreyFrame {
  data: Buffer;
  width: number;
  height: number;
}

/** A 4K frame is 8.3 Mpx; anything far past that is not a camera frame. */
const MAX_FRAME_PIXELS = 20_000_000;

export function checkPipelineOptions(options: FramePipelineOptions): void {
  const { region, maxWidth } = options;
  if (maxWidth !== undefined && !(Number.isInteger(maxWidth) && maxWidth >= 64)) {
    throw new RangeError(`frame pipeline: maxWidth must be an integer of at least 64, got ${maxWidth}`);
  }
  if (region) {
    const { left, top, width, height } = region;
    if (![left, top, width, height].every(Number.isInteger) || left < 0 || top < 0 || width < 21 || height < 21) {
      throw new RangeError(`frame pipeline: bad region ${JSON.stringify(region)} (whole pixels, at least 21×21)`);
    }
  }
}

/** Grey, cropped, scaled. Rejects with a DeviceError 'bad-frame' when the bytes are not a whole image. */
export async function prepareFrame(image: Buffer, options: FramePipelineOptions = {}): Promise<GreyFrame> {
  const format = formatOf(image);
  if (!format) throw new DeviceError('bad-frame', 'frame: not a JPEG, PNG or WebP image');
  try {
    const input = sharp(image, { failOn: 'warning', limitInputPixels: MAX_FRAME_PIXELS });
    // Grey by the blue channel, taken by libvips: see blueGrey below.
    let pipeline = input.toColourspace('srgb').extractChannel('blue');
    if (options.region) {
      // Only a region needs the frame's size (to keep it inside): a header read, skipped otherwise.
      const { width, height } = await input.metadata();
      pipeline = pipeline.extract(clampRegion(options.region, width, height));
    }
    if (options.maxWidth) pipeline = pipeline.resize({ width: options.maxWidth, withoutEnlargement: true });
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (err) {
    if (err instanceof DeviceError) throw err;
    const reason = err instanceof Error ? err.message.trim() : String(err);
    throw new DeviceError('bad-frame', `frame: not a decodable ${format} image (${reason})`, { cause: err });
  }
}

/** The format by its magic bytes, without asking libvips (a frame arrives 10 times a second). */
function formatOf(image: Buffer): 'jpeg' | 'png' | 'webp' | null {
  if (image.length < 12) return null;
  if (image[0] === 0xff && image[1] === 0xd8 && image[2] === 0xff) return 'jpeg';
  if (image.readUInt32BE(0) === 0x89504e47) return 'png';
  if (image.toString('latin1', 0, 4) === 'RIFF' && image.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return null;
}

/*
 * Why the blue channel is the grey: health codes are drawn in their colour on
 * white, and green (#00a550), yellow (#f5c400), red (#e60012) and black all
 * have little blue, while white has all of it: a yellow code's luma is about
 * 188 of 255 against the white's 255, its blue 0. Taking one channel in
 * libvips is also the cheapest grey (about 5.4 ms for a 1280×720 JPEG on the
 * benchmark machine, against 8.6 for RGB plus a darkest-channel loop in JS)
 * and a third of the memory per frame, which matters at 10 frames/s.
 */

/** The QR decoder, called here and nowhere else in the camera path. */
export async function decodeFrame(frame: GreyFrame, backend: QrBackendName = DEFAULT_QR_BACKEND): Promise<string[]> {
  return decodeQrPlane(greyPlane(frame.data, frame.width, frame.height), { backend });
}

/** prepareFrame then decodeFrame: the texts of the codes in one camera frame, [] when none. */
export async function readFrame(image: Buffer, options: FramePipelineOptions = {}): Promise<string[]> {
  return decodeFrame(await prepareFrame(image, options), options.backend);
}

function clampRegion(r: Region, width: number, height: number): Region {
  const left = Math.min(r.left, width);
  const top = Math.min(r.top, height);
  const clamped = { left, top, width: Math.min(r.width, width - left), height: Math.min(r.height, height - top) };
  if (clamped.width < 21 || clamped.height < 21) {
    throw new DeviceError('bad-frame', `frame: region of interest ${JSON.stringify(r)} lies outside the ${width}×${height} frame`);
  }
  return clamped;
}
