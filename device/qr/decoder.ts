/**
 * The one interface every QR decoder backend implements. A backend reads an
 * 8-bit grey plane (one byte a pixel, row by row, no padding: what sharp's
 * `.toColourspace('b-w').raw()` gives) and never changes it.
 */
export interface GreyPlane {
  readonly px: Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}

export const QR_BACKENDS = ['zxing-library', 'zxing-wasm'] as const;
export type QrBackendName = (typeof QR_BACKENDS)[number];

export interface QrDecoder {
  readonly name: QrBackendName;
  /** Texts of the QR codes found, each once, in the order found; [] when none. */
  decode(plane: GreyPlane): Promise<string[]>;
}

/** A plane over `data` (e.g. a Buffer from sharp), without copying it. */
export function greyPlane(data: Uint8Array, width: number, height: number): GreyPlane {
  if (data.length !== width * height) {
    throw new RangeError(`grey plane of ${width}x${height} needs ${width * height} bytes, got ${data.length}`);
  }
  return { px: new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), width, height };
}
