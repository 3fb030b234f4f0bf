/**
 * The @zxing/library backend: zxing-js's QRCodeReader (TRY_HARDER) reads the
 * plane and its negative, so light-on-dark codes read too, in up to six passes
 * (see PASSES) that stop at the first one finding anything.
 *
 * @zxing/library 0.21 ships no multi-code reader, so within a pass several
 * codes are found here in three ways:
 *  - each code read is painted over with white and the plane read again;
 *  - when a read fails, the finder patterns the detector reported on the way
 *    are grouped into trios that could be one code's three corners, and each
 *    trio is read on a crop of its own: two codes side by side otherwise make
 *    the detector pair corners of both, and fail;
 *  - the detector stops scanning once it holds three corners that look
 *    right, and may never have seen the other code's: such a region is read
 *    again as two overlapping halves.
 */
import sharp from 'sharp';
import {
  BinaryBitmap,
  DecodeHintType,
  GlobalHistogramBinarizer,
  HybridBinarizer,
  QRCodeReader,
  RGBLuminanceSource,
  ZXingStringEncoding,
  type Binarizer,
  type LuminanceSource,
  type Result,
  type ResultPoint,
} from '@zxing/library';
import { greyPlane, type GreyPlane, type QrDecoder } from './decoder.js';

/** Bounds zxing reads per polarity, so that no image keeps the reader going. */
const MAX_READS_PER_PLANE = 32;
/** Trio reads after one failed region read: a busy photo yields many finder-like marks. */
const MAX_TRIOS_PER_READ = 8;
/** Regions narrower than this (pixels) are not split further. */
const MIN_REGION = 64;

/**
 * A later pass runs only when the earlier ones found nothing, so a code that
 * only a later pass could read is missed when it shares the image with one
 * an earlier pass read.
 */
export const zxingLibraryDecoder: QrDecoder = {
  name: 'zxing-library',
  async decode(grey: GreyPlane): Promise<string[]> {
    const texts: string[] = [];
    for (const pass of PASSES) {
      const plane = pass.filter ? await filtered(grey, pass.filter) : grey;
      if (!plane) continue;
      if (pass.pure) {
        texts.push(...readPure(plane), ...readPure({ ...plane, px: plane.px.map((v) => 255 - v) }));
      } else {
        // Copies, because a read paints over the codes it finds.
        texts.push(...readPlane({ ...plane, px: plane.px.slice() }, pass.binarizer));
        texts.push(...readPlane({ ...plane, px: plane.px.map((v) => 255 - v) }, pass.binarizer));
      }
      if (texts.length > 0) break;
    }
    return [...new Set(texts)];
  },
};

type BinarizerClass = new (source: LuminanceSource) => Binarizer;
type Filter = 'blur' | 'downscale' | 'upscale';

/**
 * Tried in turn until one finds a code. Each later pass was kept because it
 * read zxing-cpp sample images that the passes before it missed (of 137: 98
 * with the first alone, then +7, +4, +3). GlobalHistogramBinarizer's single
 * threshold holds some codes that the local thresholds break up; a slight
 * blur smooths print texture and screen moire; a 2x upscale lets the grid
 * sampler hit module centres of small codes, whose reads otherwise fail their
 * checksum. The pure-code read (zxing's PURE_BARCODE: the code is taken as
 * the image's only, upright content and sampled on a plain grid) reads clean
 * renders of large codes whose alignment-pattern search fails, such as a
 * version-17 code drawn at 4 pixels a module. A 0.8x cubic downscale evens out module widths of codes drawn at a
 * fractional pixel pitch (EU DCC test picture FR DCC_Test_0015, which no
 * other pass reads). On an image without a code every pass runs, which is the cost.
 */
const PASSES: { binarizer: BinarizerClass; filter?: Filter; pure?: boolean }[] = [
  { binarizer: HybridBinarizer },
  { binarizer: HybridBinarizer, pure: true },
  { binarizer: GlobalHistogramBinarizer },
  { binarizer: HybridBinarizer, filter: 'blur' },
  { binarizer: HybridBinarizer, filter: 'downscale' },
  { binarizer: HybridBinarizer, filter: 'upscale' },
];

/** Upscaling is for small images only: a larger one would cost seconds for little gain. */
const MAX_UPSCALE_PIXELS = 1_000_000;

async function filtered(plane: GreyPlane, filter: Filter): Promise<GreyPlane | null> {
  const { width, height } = plane;
  if (filter === 'upscale' && width * height > MAX_UPSCALE_PIXELS) return null;
  const input = sharp(plane.px, { raw: { width, height, channels: 1 } });
  const output =
    filter === 'blur'
      ? input.blur(1)
      : filter === 'downscale'
        ? input.resize(Math.round(width * 0.8), Math.round(height * 0.8), { kernel: 'cubic' })
        : input.resize(width * 2, height * 2);
  // A raw one-channel input comes back as sRGB unless told otherwise.
  const { data, info } = await output.toColourspace('b-w').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return greyPlane(data, info.width, info.height);
}

interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Reads codes until none is left, painting each one over so the next read
 * sees the others; a region with finder-like patterns but no code read is
 * read again as two overlapping halves.
 */
function readPlane(plane: GreyPlane, binarizer: BinarizerClass): string[] {
  const texts: string[] = [];
  const budget = { reads: MAX_READS_PER_PLANE };
  const regions: Region[] = [{ left: 0, top: 0, width: plane.width, height: plane.height }];
  const source = new RGBLuminanceSource(plane.px, plane.width, plane.height);
  while (regions.length > 0 && budget.reads > 0) {
    const region = regions.shift()!;
    const finders: Point[] = [];
    budget.reads--;
    const whole = read(source, binarizer, region, finders);
    const hits = whole ? [toHit(whole, region)] : readTrios(plane, source, binarizer, finders, budget);
    let painted = false;
    for (const hit of hits) {
      texts.push(hit.text);
      if (hit.trio && paintWhite(plane, hit.trio)) painted = true;
    }
    // Nothing painted would only bring the same read back.
    if (painted) regions.unshift(region);
    else if (hits.length === 0 && finders.length >= 3) regions.unshift(...halves(region));
  }
  return texts;
}

/** One read of the whole plane as a single upright code on a plain grid. */
function readPure(plane: GreyPlane): string[] {
  const source = new RGBLuminanceSource(plane.px, plane.width, plane.height);
  const result = read(source, HybridBinarizer, { left: 0, top: 0, width: plane.width, height: plane.height }, undefined, true);
  return result ? [result.getText()] : [];
}

/** Two halves overlapping by a fifth, split across the longer side; none once too small to hold a code. */
function halves(r: Region): Region[] {
  const across = r.width >= r.height;
  const size = Math.ceil((across ? r.width : r.height) * 0.6);
  if (size < MIN_REGION) return [];
  const rest = (across ? r.width : r.height) - size;
  return across
    ? [
        { ...r, width: size },
        { ...r, left: r.left + rest, width: size },
      ]
    : [
        { ...r, height: size },
        { ...r, top: r.top + rest, height: size },
      ];
}

interface Point {
  x: number;
  y: number;
  moduleSize: number;
}

/** Three finder pattern centres of one code; `corner` is the one at the right angle. */
interface Trio {
  corner: Point;
  a: Point;
  b: Point;
}

interface Hit {
  text: string;
  trio: Trio | null;
}

const reader = new QRCodeReader();

/** One zxing read of `region`; finder patterns seen on the way go to `finders`, in plane coordinates. */
function read(
  source: LuminanceSource,
  binarizer: BinarizerClass,
  region: Region,
  finders?: Point[],
  pure = false,
): Result | null {
  const hints = new Map<DecodeHintType, unknown>([[DecodeHintType.TRY_HARDER, true]]);
  if (pure) hints.set(DecodeHintType.PURE_BARCODE, true);
  if (finders) {
    hints.set(DecodeHintType.NEED_RESULT_POINT_CALLBACK, {
      foundPossibleResultPoint(p: ResultPoint) {
        // Alignment patterns are reported too; only finder patterns carry a count.
        if ('getCount' in p) {
          const point = toPoint(p, region);
          if (point) finders.push(point);
        }
      },
    });
  }
  const previousDecoder = ZXingStringEncoding.customDecoder;
  ZXingStringEncoding.customDecoder = decodeBytes;
  try {
    const part = source.crop(region.left, region.top, region.width, region.height);
    return reader.decode(new BinaryBitmap(new binarizer(part)), hints);
  } catch {
    // zxing signals "no code here" (not found, checksum, format) by throwing,
    // and on odd geometry can throw plain errors too; for us each means no code.
    return null;
  } finally {
    ZXingStringEncoding.customDecoder = previousDecoder;
  }
}

/**
 * zxing-js decodes byte segments without an ECI in the charset it guesses
 * (UTF-8 whenever the bytes are valid UTF-8, which is what our encoders write;
 * else Shift_JIS or ISO-8859-1). Its own ISO-8859-1 path goes through
 * decodeURIComponent, which throws on any byte over 0x7F and so loses the
 * whole code, and WHATWG's 'iso-8859-1' label means windows-1252. Hence this
 * decoder, set only around our synchronous reads so other users of zxing in
 * the process keep theirs.
 */
function decodeBytes(bytes: Uint8Array, encoding: string): string {
  switch (encoding) {
    case 'ISO-8859-1':
    case 'ASCII':
      return Buffer.from(bytes).toString('latin1');
    case 'UnicodeBigUnmarked':
      return new TextDecoder('utf-16be').decode(bytes);
    default:
      // zxing's other names (UTF8, SJIS, GB2312, Big5, EUC_KR, Cp1251...) are
      // TextDecoder labels once '_' reads '-'. Cp437 and ISO-8859-16 are not:
      // TextDecoder throws, and that read fails rather than return a wrong text.
      return new TextDecoder(encoding.replace(/_/g, '-')).decode(bytes);
  }
}

function toPoint(p: ResultPoint, from: Region): Point | null {
  const size = (p as Partial<{ getEstimatedModuleSize(): number }>).getEstimatedModuleSize?.();
  if (!size || !(size > 0)) return null;
  return { x: p.getX() + from.left, y: p.getY() + from.top, moduleSize: size };
}

/** zxing's QR result points are bottom-left, top-left, top-right finder centres (then alignment). */
function toHit(result: Result, from: Region): Hit {
  const [bl, tl, tr] = result.getResultPoints().map((p) => toPoint(p, from));
  return { text: result.getText(), trio: bl && tl && tr ? { corner: tl, a: tr, b: bl } : null };
}

function readTrios(
  plane: GreyPlane,
  source: LuminanceSource,
  binarizer: BinarizerClass,
  finders: Point[],
  budget: { reads: number },
): Hit[] {
  const hits: Hit[] = [];
  const used = new Set<Point>();
  for (const trio of plausibleTrios(finders.slice(0, 40)).slice(0, MAX_TRIOS_PER_READ)) {
    if (used.has(trio.corner) || used.has(trio.a) || used.has(trio.b) || budget.reads <= 0) continue;
    // Six modules past the finder centres: the code's edge and a quiet zone,
    // but not the finder patterns of a code lying next to it.
    const box = boundingBox(plane, trio, 6);
    if (!box) continue;
    budget.reads--;
    const result = read(source, binarizer, box);
    if (!result) continue;
    hits.push(toHit(result, box));
    used.add(trio.corner).add(trio.a).add(trio.b);
  }
  return hits;
}

/** Trios shaped like a QR code's finder patterns (near right isosceles, alike in size), best first. */
function plausibleTrios(points: Point[]): Trio[] {
  const scored: { trio: Trio; score: number }[] = [];
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      for (let k = j + 1; k < points.length; k++) {
        const found = asTrio(points[i]!, points[j]!, points[k]!);
        if (found) scored.push(found);
      }
    }
  }
  return scored.sort((x, y) => x.score - y.score).map((s) => s.trio);
}

function asTrio(p: Point, q: Point, r: Point): { trio: Trio; score: number } | null {
  const sizes = [p.moduleSize, q.moduleSize, r.moduleSize];
  const moduleSize = (sizes[0]! + sizes[1]! + sizes[2]!) / 3;
  if (Math.max(...sizes) > 1.5 * Math.min(...sizes)) return null;
  // The corner is opposite the longest side.
  const [corner, a, b] = (
    [
      [p, q, r],
      [q, p, r],
      [r, p, q],
    ] as const
  ).reduce((best, next) => (dist(next[1], next[2]) > dist(best[1], best[2]) ? next : best));
  const legA = dist(corner, a);
  const legB = dist(corner, b);
  const legRatio = Math.max(legA, legB) / Math.min(legA, legB);
  const rightAngle = dist(a, b) / Math.hypot(legA, legB);
  // Finder centres sit 14 (version 1) to 170 (version 40) modules apart; leeway for tilt and blur.
  const span = Math.min(legA, legB) / moduleSize;
  if (legRatio > 1.4 || Math.abs(rightAngle - 1) > 0.15 || span < 12 || span > 190) return null;
  return { trio: { corner, a, b }, score: legRatio - 1 + Math.abs(rightAngle - 1) };
}

function dist(p: Point, q: Point): number {
  return Math.hypot(p.x - q.x, p.y - q.y);
}

/**
 * The code as a parallelogram: corner + s·(a − corner) + t·(b − corner), with
 * s and t in [−m, 1 + m], m being `margin` modules as a fraction of each side.
 */
function parallelogram(trio: Trio, margin: number) {
  const { corner, a, b } = trio;
  const moduleSize = (corner.moduleSize + a.moduleSize + b.moduleSize) / 3;
  const u = { x: a.x - corner.x, y: a.y - corner.y };
  const v = { x: b.x - corner.x, y: b.y - corner.y };
  const mu = (margin * moduleSize) / Math.hypot(u.x, u.y);
  const mv = (margin * moduleSize) / Math.hypot(v.x, v.y);
  const corners = [-mu, 1 + mu].flatMap((s) =>
    [-mv, 1 + mv].map((t) => ({ x: corner.x + s * u.x + t * v.x, y: corner.y + s * u.y + t * v.y })),
  );
  return { u, v, mu, mv, corners };
}

function boundingBox(plane: GreyPlane, trio: Trio, margin: number): Region | null {
  const { corners } = parallelogram(trio, margin);
  const left = Math.max(0, Math.floor(Math.min(...corners.map((c) => c.x))));
  const top = Math.max(0, Math.floor(Math.min(...corners.map((c) => c.y))));
  const right = Math.min(plane.width, Math.ceil(Math.max(...corners.map((c) => c.x))));
  const bottom = Math.min(plane.height, Math.ceil(Math.max(...corners.map((c) => c.y))));
  if (right - left < 21 || bottom - top < 21) return null;
  return { left, top, width: right - left, height: bottom - top };
}

/** Whites out a code read, out to one module past its edge (3.5 modules from the finder centres). */
function paintWhite(plane: GreyPlane, trio: Trio): boolean {
  const { u, v, mu, mv } = parallelogram(trio, 4.5);
  const det = u.x * v.y - u.y * v.x;
  const box = boundingBox(plane, trio, 4.5);
  if (!box || Math.abs(det) < 1) return false;
  const { corner } = trio;
  for (let y = box.top; y < box.top + box.height; y++) {
    for (let x = box.left; x < box.left + box.width; x++) {
      const dx = x - corner.x;
      const dy = y - corner.y;
      const s = (dx * v.y - dy * v.x) / det;
      const t = (u.x * dy - u.y * dx) / det;
      if (s >= -mu && s <= 1 + mu && t >= -mv && t <= 1 + mv) plane.px[y * plane.width + x] = 255;
    }
  }
  return true;
}
