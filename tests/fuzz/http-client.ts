/**
 * The fuzz's HTTP client: raw bytes to a loopback port and one answer read
 * back, bounded. Written here rather than taken from a library: it must send
 * what no HTTP client library will (broken framing, bad header names, any
 * bytes), and tell a request the server can answer from one it is still
 * waiting on.
 */
import { connect, type Socket } from 'node:net';

export interface Reply {
  status: number | null;
  /** The server closed the connection (with or without an answer). */
  closed: boolean;
  head: string;
  bodyBytes: number;
  contentType: string | null;
  /** The start of what followed the head. */
  body: string;
  /** From connecting to the answer (or to giving up). */
  answeredMs: number;
}

export const ANSWER_MS = 2_000;
export const CLOSE_AFTER_FIN_MS = 1_000;

/** Whether a request's bytes are all the server needs to answer: a header block, and the body its framing declares. */
export function complete(bytes: Buffer): boolean {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const head = bytes.subarray(0, end).toString('latin1').toLowerCase();
  const body = bytes.subarray(end + 4);
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) return body.includes('0\r\n\r\n');
  const lengths = [...head.matchAll(/\r\ncontent-length:\s*([^\r]*)/g)].map((m) => m[1]!.trim());
  if (lengths.length === 1 && /^\d+$/.test(lengths[0]!)) return body.length >= Number(lengths[0]);
  return true;
}

/** Sends the bytes and reads one response, bounded; the connection is reset afterwards (no TIME_WAIT for 10^5 of them). */
export function exchange(port: number, bytes: Buffer, localAddress: string, isHead: boolean): Promise<Reply> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket: Socket = connect({ host: '127.0.0.1', port, localAddress });
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    let headEnd: number;
    const timers: NodeJS.Timeout[] = [];
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      const data = Buffer.concat(chunks);
      const end = data.indexOf('\r\n\r\n');
      // Interim answers (100 Continue) come before the one that counts.
      let start = 0;
      while (/^HTTP\/1\.[01] 1\d\d /.test(data.subarray(start, start + 16).toString('latin1'))) {
        const next = data.indexOf('\r\n\r\n', start);
        if (next === -1) break;
        start = next + 4;
      }
      const rest = data.subarray(start);
      const restEnd = rest.indexOf('\r\n\r\n');
      const head = (restEnd === -1 ? rest : rest.subarray(0, restEnd)).toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      const type = /\r\ncontent-type:\s*([^\r]*)/i.exec(head);
      void end;
      const after = restEnd === -1 ? Buffer.alloc(0) : rest.subarray(restEnd + 4);
      // Bytes after the head that begin another answer (to what followed the request) are not its body.
      const bodyBytes = after.subarray(0, 7).toString('latin1') === 'HTTP/1.' ? 0 : after.length;
      resolve({ status: match ? Number(match[1]) : null, closed, head, bodyBytes, body: after.subarray(0, 300).toString('utf8'), contentType: type ? type[1]! : null, answeredMs: Date.now() - started });
      if (socket.destroyed) return;
      if (socket.connecting) socket.destroy();
      else socket.resetAndDestroy();
    };
    const answered = (): boolean => {
      let data = Buffer.concat(chunks);
      // Past interim answers (100 Continue).
      while (/^HTTP\/1\.[01] 1\d\d /.test(data.subarray(0, 16).toString('latin1'))) {
        const next = data.indexOf('\r\n\r\n');
        if (next === -1) return false;
        data = data.subarray(next + 4);
      }
      headEnd = data.indexOf('\r\n\r\n');
      if (headEnd === -1) return false;
      const head = data.subarray(0, headEnd).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const body = data.length - headEnd - 4;
      // An event stream stays open: its head is the answer. So is a HEAD's head, a 204's and a 304's.
      if (/\r\ncontent-type:\s*text\/event-stream/i.test(head) || isHead || status === 204 || status === 304) return true;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (length) return body >= Number(length[1]);
      if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return data.subarray(headEnd).includes('\r\n0\r\n\r\n');
      return false;
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      // A HEAD answer is read a moment longer, so that a body sent after its head is seen.
      if (answered()) {
        if (isHead) timers.push(setTimeout(() => finish(false), 20));
        else finish(false);
      }
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      socket.write(bytes);
      if (!complete(bytes)) {
        // The server is still waiting for the rest: say there is none, and it must answer or close.
        socket.end();
        timers.push(setTimeout(() => finish(false), CLOSE_AFTER_FIN_MS));
      } else {
        timers.push(
          setTimeout(() => {
            if (received > 0) return finish(false);
            socket.end();
            timers.push(setTimeout(() => finish(false), CLOSE_AFTER_FIN_MS));
          }, ANSWER_MS),
        );
      }
    });
  });
}
