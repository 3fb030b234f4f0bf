/**
 * The event stream shared by the screen server and the console, over real
 * loopback sockets: a client that stops reading is cut off (its socket
 * closed, so its slot is freed), one that reads a lot is not, and unsent
 * events cannot pile up in memory.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { openEventStream, type EventStream, type EventStreamOptions } from '../../protocol/http/event-stream.js';
import { hardenedServer } from '../../protocol/http/hardened-server.js';
import { eventReader } from '../support/sse.js';

const CHUNK = 'x'.repeat(64 * 1024);
/** More than loopback's socket buffers hold (up to 4 MiB sending, 128 KiB receiving while unread). */
const CHUNKS = 160;

interface Opened {
  stream: EventStream;
  closed: Promise<void>;
  isClosed: () => boolean;
}

async function serve(t: TestContext, options: Partial<EventStreamOptions>) {
  const app = hardenedServer({ noStore: () => false, refusals: { foreignHost: { error: 'host' }, crossSite: { error: 'cross-site' } } });
  const opened: Opened[] = [];
  let waiting: ((o: Opened) => void) | null = null;
  app.get('/events', (_request, reply) => {
    let done = false;
    let resolve!: () => void;
    const closed = new Promise<void>((r) => (resolve = r));
    const stream = openEventStream(reply, {
      retryMs: 1000,
      keepaliveMs: 60_000,
      ...options,
      onClose: () => {
        done = true;
        resolve();
      },
    });
    const o = { stream, closed, isClosed: () => done };
    opened.push(o);
    waiting?.(o);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  const port = (app.server.address() as AddressInfo).port;
  const nextStream = () => new Promise<Opened>((resolve) => (waiting = resolve));
  return { port, url: `http://127.0.0.1:${port}`, opened, nextStream };
}

/** A client that sends its request and then never reads a byte. */
function nonReader(port: number): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  // Cut off by the server is what the test waits for: a reset then is no failure of the test.
  socket.on('error', () => {});
  socket.pause();
  socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  return socket;
}

test('a client that stops reading is cut off after the stall time; one that reads as much is not', { timeout: 60_000 }, async (t) => {
  const { port, url, nextStream } = await serve(t, { stallMs: 1_500, maxBacklogBytes: 1 << 30 });

  const stuck = nextStream();
  const socket = nonReader(port);
  t.after(() => socket.destroy());
  const hung = await stuck;
  for (let i = 0; i < CHUNKS; i++) hung.stream.send('big', CHUNK);
  await hung.closed;
  assert.ok(hung.isClosed());

  // The same volume to a client that reads: it gets all of it, and its stream stays open.
  const reading = nextStream();
  const controller = new AbortController();
  t.after(() => controller.abort());
  const response = await fetch(`${url}/events`, { signal: controller.signal });
  const reader = eventReader(response);
  const live = await reading;
  for (let i = 0; i < CHUNKS; i++) live.stream.send('big', CHUNK);
  live.stream.send('last', 'done');
  let got = 0;
  for (;;) {
    const event = await reader.next();
    assert.ok(event, 'the stream ended while the client was reading');
    if (event.event === 'last') break;
    got++;
  }
  assert.equal(got, CHUNKS);
  assert.equal(live.isClosed(), false, 'a client that reads was cut off');
  live.stream.end();
  await reader.ended();
  await live.closed;
});

test('unsent events past the backlog cut the stream at once, and ending a stream that is behind does not wait for it', { timeout: 30_000 }, async (t) => {
  const { port, nextStream } = await serve(t, { stallMs: 600_000, maxBacklogBytes: 256 * 1024 });
  const stuck = nextStream();
  const socket = nonReader(port);
  t.after(() => socket.destroy());
  const hung = await stuck;
  for (let i = 0; i < CHUNKS && !hung.isClosed(); i++) {
    hung.stream.send('big', CHUNK);
    // Let the socket take what it can, as between real events.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await hung.closed;

  // Behind, then ended (the server stopping): closed without waiting out the ten-minute stall time.
  const { port: port2, nextStream: next2 } = await serve(t, { stallMs: 600_000, maxBacklogBytes: 1 << 30 });
  const stuck2 = next2();
  const socket2 = nonReader(port2);
  t.after(() => socket2.destroy());
  const behind = await stuck2;
  for (let i = 0; i < CHUNKS; i++) behind.stream.send('big', CHUNK);
  behind.stream.end();
  await behind.closed;
});
