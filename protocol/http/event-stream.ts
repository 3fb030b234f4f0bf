/**
 * Server-sent event streams, as the screen server and the console send
 * them: the headers, HEAD answered like the GET it stands for, keep-alive
 * comments, and an end to a stream whose client has stopped reading.
 *
 * Hand-written rather than a plugin: what matters here is that a HEAD never
 * opens a stream and a client that does not read is cut off, and the code
 * for that is a few lines on Node's own response.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SlotLimit, StreamSlots } from './stream-slots.js';

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  connection: 'keep-alive',
  'x-content-type-options': 'nosniff',
} as const;

/** Comments on the stream keep proxies and browsers from timing it out. */
const KEEPALIVE_MS = 15_000;
/**
 * A stream whose socket takes nothing for this long is cut: the client is
 * not reading (hung, or holding the slot on purpose). A slow client that
 * still reads is not cut for that.
 */
const STALL_MS = 30_000;
/** Unsent events past this are cut too: what a client has not read must not pile up in memory. */
const MAX_BACKLOG_BYTES = 1 << 20;

export interface EventStreamOptions {
  /** How soon the browser reconnects after the stream drops. */
  retryMs: number;
  keepaliveMs?: number;
  stallMs?: number;
  maxBacklogBytes?: number;
  /** Before each keep-alive comment (the console checks the session is still there). */
  onKeepalive?: () => void;
  /** Once, when the stream is over, however it ended. */
  onClose: () => void;
}

export interface EventStream {
  send(event: string, data: unknown): void;
  /** Ends the stream: cleanly, or at once when the client is not reading (it gets no goodbye). */
  end(): void;
}

/**
 * HEAD on a stream route: the status line and headers a GET gets, and no
 * body. Without this the stream's own handler runs: Node sends no headers
 * on a HEAD until the response ends, so the client hangs and a slot is held.
 */
export function answerHeadOfStream(reply: FastifyReply): void {
  reply.hijack();
  reply.raw.writeHead(200, HEADERS);
  reply.raw.end();
}

/**
 * A request for a stream, against its slot limits. A HEAD is answered as its
 * GET would be (refused when full, else the stream's headers) and holds no
 * slot; a GET takes a slot, `close` being how a later stream that replaces
 * it ends it, or is refused. Null: the request has been answered.
 */
export function admitToStream(
  request: FastifyRequest,
  reply: FastifyReply,
  slots: StreamSlots,
  limits: readonly SlotLimit[],
  refuse: (full: string) => void,
  close: () => void,
): { release: () => void } | null {
  if (request.method === 'HEAD') {
    const plan = slots.plan(limits);
    if (plan.admit) answerHeadOfStream(reply);
    else refuse(plan.full);
    return null;
  }
  const admitted = slots.admit(limits, close);
  if ('full' in admitted) {
    refuse(admitted.full);
    return null;
  }
  return admitted;
}

export function openEventStream(reply: FastifyReply, options: EventStreamOptions): EventStream {
  reply.hijack();
  const out = reply.raw;
  const stallMs = options.stallMs ?? STALL_MS;
  const maxBacklog = options.maxBacklogBytes ?? MAX_BACKLOG_BYTES;
  let over = false;
  // While events wait in memory: has any of them reached the socket since the watch began?
  let watch: NodeJS.Timeout | null = null;
  let progressed = false;
  const flushed = (): void => {
    progressed = true;
  };
  const startWatch = (): void => {
    if (watch) return;
    progressed = false;
    watch = setTimeout(() => {
      watch = null;
      if (out.writableLength === 0) return;
      if (!progressed) out.destroy();
      else startWatch();
    }, stallMs);
  };
  const write = (text: string): void => {
    if (over || out.destroyed) return;
    // false: the socket's buffer is full and the rest waits in memory, which the client must now read.
    if (!out.write(text, flushed)) startWatch();
    if (out.writableLength > maxBacklog) out.destroy();
  };
  // Caught up: nothing waits in memory any more.
  out.on('drain', () => {
    if (watch) clearTimeout(watch);
    watch = null;
  });
  const keepalive = setInterval(() => {
    options.onKeepalive?.();
    write(': keep-alive\n\n');
  }, options.keepaliveMs ?? KEEPALIVE_MS);
  out.once('close', () => {
    over = true;
    clearInterval(keepalive);
    if (watch) clearTimeout(watch);
    options.onClose();
  });
  out.writeHead(200, HEADERS);
  write(`retry: ${options.retryMs}\n\n`);
  return {
    send: (event, data) => write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
    end: () => {
      if (over) return;
      over = true;
      // Behind already: what is still unsent would come late, and a close must not wait for it.
      if (watch) {
        out.destroy();
        return;
      }
      out.end();
      // The last words still have to reach a client that may stop reading now.
      startWatch();
    },
  };
}
