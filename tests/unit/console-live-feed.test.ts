/**
 * The console page's live feed (console/public/live-feed.js), run in a vm
 * with a stand-in EventSource, fetch and timers: what it does on a drop, a
 * refusal, a session ended, a catch-up that fails, and with events that
 * come while the lists are being read. The real browser and server are in
 * tests/integration/console-browser.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const SCRIPT = readFileSync(new URL('../../../console/public/live-feed.js', import.meta.url), 'utf8');

type Listener = (event: { data?: string }) => void;

class FakeSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = FakeSource.CONNECTING;
  closed = false;
  private readonly listeners = new Map<string, Listener[]>();
  constructor(readonly url: string, private readonly all: FakeSource[]) {
    all.push(this);
  }
  addEventListener(name: string, listener: Listener): void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
  }
  close(): void {
    this.readyState = FakeSource.CLOSED;
    this.closed = true;
  }
  private emit(name: string, event: { data?: string } = {}): void {
    for (const listener of this.listeners.get(name) ?? []) listener(event);
  }
  send(name: string, data: unknown): void {
    this.emit(name, { data: JSON.stringify(data) });
  }
  open(): void {
    this.readyState = FakeSource.OPEN;
    this.emit('open');
  }
  /** Dropped: the browser reconnects by itself. */
  drop(): void {
    this.readyState = FakeSource.CONNECTING;
    this.emit('error');
  }
  /** Refused (a 503, a 401): the browser gives up. */
  refuse(): void {
    this.readyState = FakeSource.CLOSED;
    this.emit('error');
  }
}

interface ProbeAnswer {
  status: number;
  retryAfter?: string;
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** The feed opened in a fresh vm; every call the page would get is recorded. */
function feedInVm(options: { catchUp?: () => Promise<void> } = {}) {
  const sources: FakeSource[] = [];
  const timers: Array<{ run: () => void; ms: number; cleared: boolean }> = [];
  const probes: ProbeAnswer[] = [];
  const probed: string[] = [];
  const seen: string[] = [];
  const lost: string[] = [];
  let lives = 0;
  let signedOut = 0;
  let catchUps = 0;
  const context = vm.createContext({
    EventSource: class extends FakeSource {
      constructor(url: string) {
        super(url, sources);
      }
    },
    fetch: async (url: string, init: { method: string }) => {
      probed.push(`${init.method} ${url}`);
      const answer = probes.shift();
      if (!answer) throw new TypeError('Failed to fetch');
      return { status: answer.status, ok: answer.status >= 200 && answer.status < 300, headers: { get: (name: string) => (name === 'retry-after' ? answer.retryAfter ?? null : null) } };
    },
    setTimeout: (run: () => void, ms: number) => timers.push({ run, ms, cleared: false }),
    clearTimeout: (id: number | null) => {
      if (id) timers[id - 1]!.cleared = true;
    },
    AbortSignal,
  });
  vm.runInContext(SCRIPT, context);
  const feed = (context.openLiveFeed as (o: unknown) => { close(): void })({
    url: '/api/events',
    on: { decision: (d: { id: string }) => seen.push(d.id) },
    catchUp: () => {
      catchUps++;
      seen.push('read');
      return options.catchUp ? options.catchUp() : Promise.resolve();
    },
    lost: (why: string) => lost.push(why),
    live: () => lives++,
    signedOut: () => signedOut++,
  });
  return {
    feed,
    sources,
    timers,
    probes,
    probed,
    seen,
    lost,
    source: () => sources[sources.length - 1]!,
    lives: () => lives,
    signedOut: () => signedOut,
    catchUps: () => catchUps,
    /** Runs the one timer due (the next try), failing if there is not exactly one. */
    runTimer: async () => {
      const due = timers.filter((t) => !t.cleared);
      assert.equal(due.length, 1, 'one next try waiting');
      due[0]!.cleared = true;
      due[0]!.run();
      await settle();
    },
  };
}

test('live feed: events that come while the lists are read are applied after them, in order; then live', async () => {
  const reading = deferred();
  const f = feedInVm({ catchUp: () => reading.promise });
  f.source().open();
  f.source().send('decision', { id: 'a' });
  f.source().send('decision', { id: 'b' });
  assert.deepEqual(f.seen, ['read'], 'an event applied before the lists were read');
  assert.equal(f.lives(), 0);
  reading.resolve();
  await settle();
  assert.deepEqual(f.seen, ['read', 'a', 'b']);
  assert.equal(f.lives(), 1);
  f.source().send('decision', { id: 'c' });
  assert.deepEqual(f.seen, ['read', 'a', 'b', 'c']);
});

test('live feed: a drop is shown lost, and the browser\'s own reconnect reads the lists again', async () => {
  const f = feedInVm();
  f.source().open();
  await settle();
  f.source().drop();
  assert.deepEqual(f.lost, ['dropped']);
  assert.equal(f.timers.length, 0, 'the page tried again as well as the browser');
  f.source().open();
  await settle();
  assert.equal(f.catchUps(), 2);
  assert.equal(f.lives(), 2);
  assert.equal(f.sources.length, 1);
});

test('live feed: refused, it asks with a HEAD after a wait, waits at least the Retry-After, and reopens when there is room', async () => {
  const f = feedInVm();
  f.source().refuse();
  assert.deepEqual(f.lost, ['refused']);
  assert.ok(f.sources[0]!.closed);
  assert.ok(f.timers[0]!.ms >= 1000 && f.timers[0]!.ms <= 1250, `first wait ${f.timers[0]!.ms} ms`);
  f.probes.push({ status: 503, retryAfter: '5' });
  await f.runTimer();
  assert.deepEqual(f.probed, ['HEAD /api/events']);
  assert.deepEqual(f.lost, ['refused', 'full']);
  assert.ok(f.timers[1]!.ms >= 5000, `wait ${f.timers[1]!.ms} ms, under the Retry-After`);
  f.probes.push({ status: 500 });
  await f.runTimer();
  assert.deepEqual(f.lost, ['refused', 'full', 'refused']);
  // Nothing answering: tried again too, later each time.
  await f.runTimer();
  assert.deepEqual(f.lost, ['refused', 'full', 'refused', 'unreachable']);
  assert.ok(f.timers[3]!.ms > f.timers[2]!.ms * 1.5, 'the waits do not grow');
  f.probes.push({ status: 200 });
  await f.runTimer();
  assert.equal(f.sources.length, 2, 'not reopened when the console had room');
  f.source().open();
  await settle();
  assert.equal(f.lives(), 1);
  // Caught up, the waits start small again.
  f.source().refuse();
  assert.ok(f.timers[4]!.ms <= 1250, `wait ${f.timers[4]!.ms} ms after a good connection`);
});

test('live feed: the waits stop growing at 15 s (plus the spread), and a long Retry-After is capped at 5 minutes', async () => {
  const f = feedInVm();
  f.source().refuse();
  for (let i = 0; i < 8; i++) await f.runTimer();
  const last = f.timers[f.timers.length - 1]!.ms;
  assert.ok(last >= 15_000 && last <= 15_000 * 1.25, `wait ${last} ms`);
  f.probes.push({ status: 503, retryAfter: '86400' });
  await f.runTimer();
  const capped = f.timers[f.timers.length - 1]!.ms;
  assert.ok(capped >= 300_000 && capped <= 300_000 * 1.25, `wait ${capped} ms`);
});

test('live feed: a probe answered 401 (the session ended) says so, and tries no more', async () => {
  const f = feedInVm();
  f.source().refuse();
  f.probes.push({ status: 401 });
  await f.runTimer();
  assert.equal(f.signedOut(), 1);
  assert.equal(f.timers.filter((t) => !t.cleared).length, 0, 'tried again after the session ended');
  assert.equal(f.sources.length, 1);
});

test('live feed: a catch-up that fails is the feed lost: what came is still applied, the stream closed and tried again', async () => {
  const reading = deferred();
  const f = feedInVm({ catchUp: () => reading.promise });
  f.source().open();
  f.source().send('decision', { id: 'a' });
  reading.reject(new Error('HTTP 503'));
  await settle();
  assert.deepEqual(f.seen, ['read', 'a']);
  assert.deepEqual(f.lost, ['reload-failed']);
  assert.equal(f.lives(), 0);
  assert.ok(f.sources[0]!.closed);
  assert.equal(f.timers.length, 1);
});

test('live feed: more events than are held while the lists are read: the lists are read once more', async () => {
  let reading = deferred();
  const f = feedInVm({ catchUp: () => reading.promise });
  f.source().open();
  for (let i = 0; i < 5001; i++) f.source().send('decision', { id: `early-${i}` });
  const first = reading;
  reading = deferred();
  first.resolve();
  await settle();
  assert.equal(f.catchUps(), 2);
  assert.deepEqual(f.seen, ['read', 'read'], 'held events applied after an overflow');
  f.source().send('decision', { id: 'late' });
  reading.resolve();
  await settle();
  assert.deepEqual(f.seen, ['read', 'read', 'late']);
  assert.equal(f.lives(), 1);
});

test('live feed: closed (signed out), nothing more is done: no event applied, no try again', async () => {
  const f = feedInVm();
  f.source().open();
  await settle();
  f.feed.close();
  f.source().send('decision', { id: 'after' });
  f.source().refuse();
  assert.deepEqual(f.seen, ['read']);
  assert.equal(f.timers.length, 0);
  assert.deepEqual(f.lost, []);
});
