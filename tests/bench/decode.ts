/**
 * `npm run bench -- decode`: QR decoding, backend by backend.
 *  - zxing-cpp's samples (../shared/data/qrcode-samples, every image with a
 *    .txt, and every image of falsepositives-*): exact matches per folder and
 *    in all, false reads, median ms per image (decoding the grey plane; the
 *    pipeline's figure includes loading the file);
 *  - camera-like 1280×720 JPEG frames (./decode-frames.ts): ms per frame,
 *    JPEG decode included, median and p95, backends interleaved.
 * Variants: each backend alone, 'auto' (default first, the other when it
 * finds nothing) and the pipeline as callers use it: decodeQrImage(image).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import {
  DEFAULT_QR_BACKEND,
  decodeQrImage,
  decodeQrPlane,
  loadGreyPlane,
  type QrBackendChoice,
} from '../../device/qr/image-decoder.js';
import { SHARED_DATA } from '../support/shared-data.js';
import { readFrame } from '../../device/camera/frame-pipeline.js';
import { FRAME, makeFrames } from './decode-frames.js';
import { median, percentile, round } from './stats.js';

export interface DecodeBenchOptions {
  /** Timed frame decodes per variant. */
  decodes: number;
  progress: (message: string) => void;
}

type Variant = QrBackendChoice | 'pipeline' | 'camera';
const VARIANTS: Variant[] = ['zxing-library', 'zxing-wasm', 'auto', 'pipeline'];
const IMAGE = /\.(png|jpe?g|webp)$/i;
const GOALS = { exact: 122, ofImages: 137, falseReads: 0, frameMedianMs: 15 };

/** One decode as the variant does it; `image` is a path or an encoded buffer. */
async function run(variant: Variant, image: string | Buffer): Promise<{ texts: string[]; ms: number }> {
  const start = performance.now();
  const texts =
    variant === 'pipeline'
      ? await decodeQrImage(image)
      : variant === 'camera'
        ? await readFrame(image as Buffer)
        : await decodeQrPlane(await loadGreyPlane(image), { backend: variant });
  return { texts, ms: performance.now() - start };
}

/** The pipeline's time includes loading the file; a backend's is the decode of the plane alone. */
async function decodeSample(variant: Variant, file: string): Promise<{ texts: string[]; ms: number }> {
  if (variant === 'pipeline' || variant === 'camera') return run(variant, file);
  const plane = await loadGreyPlane(file);
  const start = performance.now();
  const texts = await decodeQrPlane(plane, { backend: variant });
  return { texts, ms: performance.now() - start };
}

interface SampleCase {
  folder: string;
  file: string;
  /** null in falsepositives-*. */
  expected: string | null;
}

function sampleCases(root: string): SampleCase[] {
  const cases: SampleCase[] = [];
  for (const folder of readdirSync(root).filter((f) => /^(qrcode|falsepositives)-/.test(f)).sort()) {
    for (const file of readdirSync(path.join(root, folder)).filter((f) => IMAGE.test(f)).sort()) {
      const txt = path.join(root, folder, file.replace(IMAGE, '.txt'));
      if (folder.startsWith('falsepositives-')) cases.push({ folder, file, expected: null });
      // The .txt holds the exact text, UTF-8, with no trailing newline of its own.
      else if (existsSync(txt)) cases.push({ folder, file, expected: readFileSync(txt, 'utf8') });
    }
  }
  return cases;
}

async function benchSamples(root: string, progress: (m: string) => void) {
  const cases = sampleCases(root);
  const results: Record<string, unknown> = {};
  const exactSets: Partial<Record<Variant, Set<string>>> = {};
  for (const variant of VARIANTS) {
    progress(`samples: ${variant}, ${cases.length} images`);
    const perFolder: Record<string, { exact: number; of: number }> = {};
    const falseReads: string[] = [];
    const wrongReads: string[] = [];
    const exact = new Set<string>();
    const times: number[] = [];
    for (const c of cases) {
      const { texts, ms } = await decodeSample(variant, path.join(root, c.folder, c.file));
      times.push(ms);
      const name = `${c.folder}/${c.file}`;
      if (c.expected === null) {
        if (texts.length > 0) falseReads.push(`${name}: ${JSON.stringify(texts)}`);
        continue;
      }
      const folder = (perFolder[c.folder] ??= { exact: 0, of: 0 });
      folder.of++;
      if (texts.length === 1 && texts[0] === c.expected) {
        folder.exact++;
        exact.add(name);
      } else if (texts.length > 0) wrongReads.push(`${name}: ${JSON.stringify(texts).slice(0, 120)}`);
    }
    exactSets[variant] = exact;
    results[variant] = {
      exact: exact.size,
      ofImages: Object.values(perFolder).reduce((n, f) => n + f.of, 0),
      perFolder: Object.fromEntries(Object.entries(perFolder).map(([k, f]) => [k, `${f.exact}/${f.of}`])),
      falseReads: falseReads.length,
      falseReadImages: falseReads,
      // Text read, but not exactly the expected one alone (qrcode-2/16 holds two codes).
      otherReads: wrongReads,
      medianMsPerImage: round(median(times), 2),
    };
  }
  const only = (a: Variant, b: Variant) => [...exactSets[a]!].filter((n) => !exactSets[b]!.has(n));
  return {
    dir: root,
    images: cases.filter((c) => c.expected !== null).length,
    falsePositiveImages: cases.filter((c) => c.expected === null).length,
    variants: results,
    exactOnlyWithLibrary: only('zxing-library', 'zxing-wasm'),
    exactOnlyWithWasm: only('zxing-wasm', 'zxing-library'),
  };
}

/**
 * Rounds of one pass over the frames, variant after variant in blocks; each
 * block starts with untimed decodes, which absorb the garbage collection
 * the block before left behind (zxing-js leaves much: timed per frame in
 * turn, the variant after it measured half again slower).
 */
async function benchFrames(decodes: number, progress: (m: string) => void) {
  const frames = await makeFrames(20);
  const rounds = Math.max(1, Math.round(decodes / frames.length));
  progress(`frames: ${frames.length} of ${FRAME.width}x${FRAME.height}, ${rounds} rounds over them per variant`);
  const blocks: Record<string, Variant | 'jpeg-decode-only'> = Object.fromEntries(
    // 'camera': the camera's own frame pipeline (device/camera/frame-pipeline.ts), what the goal is about.
    ['jpeg-decode-only', ...VARIANTS, 'camera'].map((v) => [v, v as Variant | 'jpeg-decode-only']),
  );
  const stats = Object.fromEntries(
    Object.keys(blocks).map((v) => [v, { all: [] as number[], code: [] as number[], none: [] as number[], read: 0, falseReads: 0 }]),
  );
  const once = async (v: Variant | 'jpeg-decode-only', jpeg: Buffer) => {
    if (v !== 'jpeg-decode-only') return run(v, jpeg);
    const start = performance.now();
    await loadGreyPlane(jpeg);
    return { texts: [] as string[], ms: performance.now() - start };
  };
  for (let r = 0; r < rounds; r++) {
    for (const v of Object.values(blocks)) {
      for (const frame of frames.slice(0, 3)) await once(v, frame.jpeg); // untimed
      for (const frame of frames) {
        const { texts, ms } = await once(v, frame.jpeg);
        const s = stats[v]!;
        s.all.push(ms);
        (frame.text ? s.code : s.none).push(ms);
        if (frame.text && texts.length === 1 && texts[0] === frame.text) s.read++;
        if (!frame.text && texts.length > 0) s.falseReads++;
      }
    }
    progress(`frames: round ${r + 1}/${rounds}`);
  }
  const ms = (xs: number[]) => ({ median: round(median(xs), 2), p95: round(percentile(xs, 95), 2) });
  const { 'jpeg-decode-only': jpeg, ...variants } = stats;
  return {
    size: `${FRAME.width}x${FRAME.height}`,
    jpegQuality: FRAME.quality,
    distinctFrames: frames.length,
    framesWithCode: frames.filter((f) => f.text).length,
    decodesPerVariant: rounds * frames.length,
    jpegDecodeOnlyMs: ms(jpeg!.all),
    variants: Object.fromEntries(
      Object.entries(variants).map(([v, s]) => [
        v,
        { ms: ms(s.all), withCodeMs: ms(s.code), noCodeMs: ms(s.none), read: `${s.read}/${s.code.length}`, falseReads: s.falseReads },
      ]),
    ),
    note: 'ms per frame = JPEG to grey plane (sharp) + decode; jpegDecodeOnly is the first part alone',
  };
}

export async function benchDecode(options: DecodeBenchOptions): Promise<Record<string, unknown>> {
  const root = path.join(SHARED_DATA, 'qrcode-samples');
  let samples: Awaited<ReturnType<typeof benchSamples>> | { absent: string };
  if (existsSync(root)) samples = await benchSamples(root, options.progress);
  else {
    const absent = `${root} is absent (a user's clone has no ../shared): sample-set part skipped, synthetic frames only`;
    options.progress(absent);
    samples = { absent };
  }
  const frames = await benchFrames(options.decodes, options.progress);
  const pipelineSamples = 'variants' in samples ? (samples.variants.pipeline as { exact: number; falseReads: number }) : null;
  // The frame-time goal is the camera's: its own pipeline is what runs on every frame.
  const pipelineFrames = frames.variants.camera as { ms: { median: number } };
  return {
    benchmark: 'decode',
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    defaultBackend: DEFAULT_QR_BACKEND,
    goals: GOALS,
    goalsMet: {
      exact: pipelineSamples ? pipelineSamples.exact >= GOALS.exact : 'no sample set',
      falseReads: pipelineSamples ? pipelineSamples.falseReads <= GOALS.falseReads : 'no sample set',
      frameMedianMs: pipelineFrames.ms.median <= GOALS.frameMedianMs,
    },
    samples,
    frames,
  };
}
