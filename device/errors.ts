/**
 * One error for everything device/ refuses: the board, the camera, the
 * frames it sends and the QR images read from disk. Callers switch on
 * `code`, a closed set listed here and in docs/errors.md (a unit test keeps
 * the two equal); the message is for a person.
 */

/** johnny-five boards (board/board.ts). */
export const BOARD_ERRORS = [
  'plugin-load', // the IO plugin module could not be imported or has no constructor
  'no-port', // Firmata: no serial port given and none found
  'connect-failed', // the IO or the serial port reported an error before ready
  'ready-timeout', // no 'ready' within readyTimeoutMs
] as const;

/** ONVIF cameras (camera/onvif-camera.ts). */
export const CAMERA_ERRORS = [
  'unauthorized', // credentials refused (HTTP 401, SOAP ter:NotAuthorized)
  'timeout', // no (complete) answer within the deadline
  'unreachable', // connection refused or reset, or an HTTP error status
  'bad-response', // an answer that is not what was asked for (no profile, not an image)
  'not-initialised', // a snapshot asked for before init() found the snapshot URI
  'aborted', // the caller's signal ended the request
] as const;

/** Camera frames (camera/frame-pipeline.ts). */
export const FRAME_ERRORS = [
  'bad-frame', // not a whole JPEG, PNG or WebP image, or the region lies outside it
] as const;

/** QR images read from a file or buffer (qr/image-decoder.ts). */
export const IMAGE_ERRORS = [
  'unreadable-image', // not a PNG, JPEG or WebP image sharp can decode
  'too-large', // more pixels than the decoder accepts
] as const;

export const DEVICE_ERRORS = [...BOARD_ERRORS, ...CAMERA_ERRORS, ...FRAME_ERRORS, ...IMAGE_ERRORS] as const;

export type BoardErrorCode = (typeof BOARD_ERRORS)[number];
export type CameraErrorCode = (typeof CAMERA_ERRORS)[number];
export type FrameErrorCode = (typeof FRAME_ERRORS)[number];
export type ImageErrorCode = (typeof IMAGE_ERRORS)[number];
export type DeviceErrorCode = (typeof DEVICE_ERRORS)[number];

export class DeviceError extends Error {
  override readonly name = 'DeviceError';
  constructor(
    readonly code: DeviceErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

function isOneOf<C extends DeviceErrorCode>(codes: readonly C[]): (error: unknown) => error is DeviceError & { code: C } {
  return (error: unknown): error is DeviceError & { code: C } =>
    error instanceof DeviceError && (codes as readonly DeviceErrorCode[]).includes(error.code);
}

/** The board did not open (a start failure the service manager retries). */
export const isBoardError = isOneOf(BOARD_ERRORS);
/** The camera refused or did not answer. */
export const isCameraError = isOneOf(CAMERA_ERRORS);
/** A frame that is not a whole image. */
export const isFrameError = isOneOf(FRAME_ERRORS);
/** A QR image that cannot be read. */
export const isImageError = isOneOf(IMAGE_ERRORS);
