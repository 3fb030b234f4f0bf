/**
 * A camera as a CodeReader: snapshots at a set rate, each through the frame
 * pipeline, decoded texts emitted as CodeReads with source 'camera'.
 *
 * Timing: one frame at a time. A frame starts at the next tick (every
 * 1000/framesPerSecond ms from the previous start) or, when it took longer
 * than that, as soon as the previous one has finished; frames never overlap
 * and never queue up. After a failed frame the next try waits a back-off
 * (doubling from backoffInitialMs to backoffMaxMs) instead.
 *
 * Repeats: a phone held in front of the camera is on many frames; its text is
 * emitted once, and again only after it was missing from absentFrames decoded
 * frames in a row, or missing from every decoded frame for absentMs. Frames
 * that failed count for neither: the camera did not see the code go.
 *
 * Status: onStatus() hears 'fault' (with a reason) when frames start failing
 * or fail for another reason, and 'ok' on the first good frame after that
 * (and on the first good frame after start()).
 *
 * Decode time: onFrameDecoded() hears how long each decoded frame took in the
 * pipeline (not the snapshot fetch, which is the camera's and the network's).
 */
import type { Logger } from 'pino';
import type { CodeRead, CodeReader, FrameDecoded, FrameTimings } from '../contracts.js';
import { isCameraError, isFrameError } from '../errors.js';
import { checkPipelineOptions, readFrame, type FramePipelineOptions } from './frame-pipeline.js';

/** What the reader needs of a camera: OnvifCamera, or anything else that takes snapshots. */
export interface SnapshotCamera {
  readonly ready: boolean;
  init(signal?: AbortSignal): Promise<unknown>;
  snapshot(signal?: AbortSignal): Promise<Buffer>;
}

export type CameraFaultReason = 'unauthorized' | 'timeout' | 'bad-frame' | 'unreachable';

export type CameraStatus = { state: 'ok' } | { state: 'fault'; reason: CameraFaultReason; detail: string };

export interface CameraReaderOptions {
  camera: SnapshotCamera;
  framesPerSecond?: number;
  pipeline?: FramePipelineOptions;
  /** Emit a text again after it was missing from this many decoded frames in a row (default 3). */
  absentFrames?: number;
  /** ... or after it was missing from every decoded frame for this long (default 1500 ms). */
  absentMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  logger?: Logger;
}

export class CameraCodeReader implements CodeReader, FrameTimings {
  private readonly reads = new Set<(read: CodeRead) => void>();
  private readonly statuses = new Set<(status: CameraStatus) => void>();
  private readonly decoded = new Set<(frame: FrameDecoded) => void>();
  private readonly seen = new Map<string, { lastSeen: number; missed: number }>();
  private readonly periodMs: number;
  private readonly settings: Required<Pick<CameraReaderOptions, 'absentFrames' | 'absentMs' | 'backoffInitialMs' | 'backoffMaxMs'>>;
  private readonly log: Logger | undefined;
  private current: CameraStatus | null = null;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: { abort: AbortController; done: Promise<void> } | null = null;
  private failures = 0;

  constructor(private readonly options: CameraReaderOptions) {
    const fps = options.framesPerSecond ?? 5;
    if (!(fps > 0 && fps <= 60)) throw new RangeError(`camera reader: framesPerSecond must be in (0, 60], got ${fps}`);
    checkPipelineOptions(options.pipeline ?? {});
    this.periodMs = 1000 / fps;
    this.settings = {
      absentFrames: options.absentFrames ?? 3,
      absentMs: options.absentMs ?? 1500,
      backoffInitialMs: options.backoffInitialMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 8000,
    };
    if (!(Number.isInteger(this.settings.absentFrames) && this.settings.absentFrames >= 1)) {
      throw new RangeError(`camera reader: absentFrames must be a whole number of at least 1`);
    }
    this.log = options.logger?.child({ component: 'camera-reader' });
  }

  /** The last status reported; null before the first frame after start(). */
  get status(): CameraStatus | null {
    return this.current;
  }

  onRead(listener: (read: CodeRead) => void): () => void {
    this.reads.add(listener);
    return () => this.reads.delete(listener);
  }

  onStatus(listener: (status: CameraStatus) => void): () => void {
    this.statuses.add(listener);
    return () => this.statuses.delete(listener);
  }

  /** Each frame that decoded (with or without codes); a frame that failed is a status, not a timing. */
  onFrameDecoded(listener: (frame: FrameDecoded) => void): () => void {
    this.decoded.add(listener);
    return () => this.decoded.delete(listener);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.failures = 0;
    this.current = null;
    this.seen.clear();
    this.schedule(0);
  }

  /** Stops the loop; an in-flight snapshot or init is aborted. Resolves with no timer of ours left. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const inFlight = this.inFlight;
    inFlight?.abort.abort();
    await inFlight?.done;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      const abort = new AbortController();
      const done = this.frame(abort.signal);
      this.inFlight = { abort, done };
      void done.finally(() => {
        if (this.inFlight?.done === done) this.inFlight = null;
      });
    }, delayMs);
  }

  private async frame(signal: AbortSignal): Promise<void> {
    const started = performance.now();
    let texts: string[];
    let decodeMs: number;
    try {
      const { camera } = this.options;
      if (!camera.ready) await camera.init(signal);
      const image = await camera.snapshot(signal);
      if (signal.aborted) return;
      const decodeStarted = performance.now();
      texts = await readFrame(image, this.options.pipeline);
      decodeMs = performance.now() - decodeStarted;
    } catch (err) {
      if (!this.running) return;
      this.failures++;
      this.report(faultOf(err));
      const backoff = Math.min(this.settings.backoffMaxMs, this.settings.backoffInitialMs * 2 ** (this.failures - 1));
      this.schedule(backoff);
      return;
    }
    if (!this.running) return;
    this.failures = 0;
    this.report({ state: 'ok' });
    this.frameDecoded({ decodeMs, codes: texts.length });
    for (const text of this.fresh(texts, performance.now())) this.emit({ text, source: 'camera', at: performance.now() });
    if (this.running) this.schedule(Math.max(0, started + this.periodMs - performance.now()));
  }

  /** The texts on this frame that were not on the frames just before it. */
  private fresh(texts: string[], now: number): string[] {
    const present = new Set(texts);
    for (const [text, entry] of this.seen) {
      if (present.has(text)) continue;
      entry.missed++;
      if (entry.missed >= this.settings.absentFrames || now - entry.lastSeen >= this.settings.absentMs) this.seen.delete(text);
    }
    const fresh: string[] = [];
    for (const text of present) {
      if (!this.seen.has(text)) fresh.push(text);
      this.seen.set(text, { lastSeen: now, missed: 0 });
    }
    return fresh;
  }

  private emit(read: CodeRead): void {
    for (const listener of [...this.reads]) {
      try {
        listener(read);
      } catch (err) {
        this.log?.error({ err }, 'a code read listener threw');
      }
    }
  }

  private frameDecoded(frame: FrameDecoded): void {
    for (const listener of [...this.decoded]) {
      try {
        listener(frame);
      } catch (err) {
        this.log?.error({ err }, 'a frame timing listener threw');
      }
    }
  }

  private report(status: CameraStatus): void {
    const last = this.current;
    if (last?.state === status.state && (status.state === 'ok' || (last.state === 'fault' && last.reason === status.reason))) return;
    this.current = status;
    if (status.state === 'fault') this.log?.warn({ reason: status.reason, detail: status.detail }, 'camera fault');
    else if (last) this.log?.info('camera recovered');
    for (const listener of [...this.statuses]) {
      try {
        listener(status);
      } catch (err) {
        this.log?.error({ err }, 'a camera status listener threw');
      }
    }
  }
}

function faultOf(err: unknown): CameraStatus & { state: 'fault' } {
  const detail = err instanceof Error ? err.message : String(err);
  if (isFrameError(err)) return { state: 'fault', reason: 'bad-frame', detail };
  if (isCameraError(err)) {
    const reason: CameraFaultReason =
      err.code === 'unauthorized' || err.code === 'timeout'
        ? err.code
        : err.code === 'bad-response'
          ? 'bad-frame'
          : 'unreachable';
    return { state: 'fault', reason, detail };
  }
  return { state: 'fault', reason: 'unreachable', detail };
}
