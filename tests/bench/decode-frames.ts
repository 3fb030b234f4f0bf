/**
 * Camera-like frames for the decode benchmark: 1280×720 JPEGs (quality 80)
 * of a textured background, most with one GZHC1-sized QR code rendered by the
 * qrcode package at 2 to 5 pixels a module, anywhere, some tilted, blurred
 * or light-on-dark, and one frame in four with no code.
 */
import QRCode from 'qrcode';
import sharp from 'sharp';

export const FRAME = { width: 1280, height: 720, quality: 80 } as const;

export interface Frame {
  jpeg: Buffer;
  /** The code's text, or null for a frame without a code. */
  text: string | null;
}

const BASE45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

/** A small deterministic generator, so that every run draws the same frames. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function background(random: () => number): Promise<Buffer> {
  const { width, height } = FRAME;
  // Blurred noise: texture like a wall or a sleeve, which JPEG cannot flatten away.
  return sharp({
    create: { width, height, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 90 + random() * 80, sigma: 45 } },
  })
    .blur(2 + random() * 3)
    .png({ compressionLevel: 1 })
    .toBuffer();
}

/** `count` frames, one in `noCodeEvery` without a code. */
export async function makeFrames(count: number, noCodeEvery = 4, seed = 20261125): Promise<Frame[]> {
  const random = prng(seed);
  const frames: Frame[] = [];
  for (let i = 0; i < count; i++) {
    const bg = await background(random);
    let image = sharp(bg);
    let text: string | null = null;
    if (i % noCodeEvery !== noCodeEvery - 1) {
      text = `GZHC1:${Array.from({ length: 300 }, () => BASE45[Math.floor(random() * BASE45.length)]).join('')}`;
      const scale = 2 + Math.floor(random() * 4);
      const inverted = random() < 1 / 6;
      let code = sharp(await QRCode.toBuffer(text, { type: 'png', scale, margin: 3, errorCorrectionLevel: 'M' }));
      if (inverted) code = sharp(await code.negate({ alpha: false }).png().toBuffer());
      const tilt = random() < 0.5 ? 0 : (random() - 0.5) * 30;
      if (tilt !== 0) code = sharp(await code.rotate(tilt, { background: inverted ? '#000000' : '#ffffff' }).png().toBuffer());
      if (random() < 1 / 3) code = code.blur(0.6 + random() * 0.6);
      const png = await code.png().toBuffer();
      const { width = 0, height = 0 } = await sharp(png).metadata();
      image = sharp(bg).composite([
        {
          input: png,
          left: Math.floor(random() * (FRAME.width - width)),
          top: Math.floor(random() * (FRAME.height - height)),
        },
      ]);
    }
    frames.push({ jpeg: await image.jpeg({ quality: FRAME.quality }).toBuffer(), text });
  }
  return frames;
}
