// The console page's live feed: its event stream kept open across drops and
// refusals, with what the page shows read again on every (re)open, so that
// nothing sent while the stream was down stays missing. Plain JS, no build;
// console.js uses openLiveFeed.
'use strict';

/** Waits before trying again: doubling from the first to the last, never sooner than the server's Retry-After. */
const FEED_FIRST_RETRY_MS = 1000;
const FEED_LAST_RETRY_MS = 15_000;
const FEED_LONGEST_RETRY_AFTER_MS = 300_000;
const FEED_PROBE_TIMEOUT_MS = 10_000;
/** Events held while the lists are read again; past this they are read once more rather than memory used without end. */
const FEED_MAX_BACKLOG = 5000;

/** A Retry-After header (seconds or an HTTP date) in ms, 0 when absent or unreadable, capped. */
function retryAfterMs(header) {
  if (!header) return 0;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, FEED_LONGEST_RETRY_AFTER_MS) : 0;
}

/**
 * Follows `url`. `on` maps event names to handlers. `catchUp()` reads the
 * page's lists again (async; a rejection counts as the feed lost). `lost(why)`
 * is called while the feed is down ('dropped', 'refused', 'full',
 * 'unreachable', 'reload-failed'), `live()` once it is open and caught up,
 * `signedOut()` when the server says the session is over. Returns { close }.
 *
 * Events that come while the lists are being read are held and applied
 * after them: the console stores an event before it sends it, so a list
 * read after the stream opened holds everything sent before, and what the
 * stream brought meanwhile is applied on top, in order.
 */
function openLiveFeed({ url, on, catchUp, lost, live, signedOut }) {
  let source = null;
  let closed = false;
  let timer = null;
  let retryMs = FEED_FIRST_RETRY_MS;
  let backlog = null;
  let overflowed = false;
  // A catch-up overtaken by a newer one (the stream reopened meanwhile) leaves the backlog to the newer.
  let catchUps = 0;

  const nextWait = (atLeastMs) => {
    const wait = Math.max(retryMs, atLeastMs);
    retryMs = Math.min(retryMs * 2, FEED_LAST_RETRY_MS);
    // Spread, so that the pages of a console that turned them all away do not all come back at once.
    return wait * (1 + Math.random() * 0.25);
  };

  function open() {
    timer = null;
    if (closed) return;
    const mine = new EventSource(url);
    source = mine;
    for (const [name, handler] of Object.entries(on)) {
      mine.addEventListener(name, (event) => {
        if (source !== mine) return;
        const data = JSON.parse(event.data);
        if (!backlog) handler(data);
        else if (backlog.length < FEED_MAX_BACKLOG) backlog.push(() => handler(data));
        else overflowed = true;
      });
    }
    mine.addEventListener('open', () => {
      if (source === mine) readAgain(mine);
    });
    mine.addEventListener('error', () => {
      if (source !== mine) return;
      // After a drop the browser reconnects by itself ('open' again); refused (503, 401), it gives up for good.
      if (mine.readyState !== EventSource.CLOSED) {
        lost('dropped');
        return;
      }
      lost('refused');
      retryLater(mine, 0);
    });
  }

  async function readAgain(mine) {
    const number = ++catchUps;
    backlog = backlog || [];
    overflowed = false;
    let failed = false;
    try {
      await catchUp();
    } catch {
      failed = true;
    }
    if (source !== mine || number !== catchUps) return;
    if (overflowed && !failed) {
      // More came than is held: what was dropped is stored by now, so reading the lists once more gets it.
      backlog = null;
      readAgain(mine);
      return;
    }
    const held = backlog;
    backlog = null;
    for (const apply of held) apply();
    if (failed) {
      lost('reload-failed');
      retryLater(mine, 0);
    } else if (mine.readyState === EventSource.OPEN) {
      retryMs = FEED_FIRST_RETRY_MS;
      live();
    }
  }

  function retryLater(mine, atLeastMs) {
    mine.close();
    if (source !== mine) return;
    source = null;
    backlog = null;
    timer = setTimeout(probe, nextWait(atLeastMs));
  }

  // EventSource cannot tell why it was refused: a HEAD answers as the GET would, without opening a stream.
  async function probe() {
    timer = null;
    if (closed) return;
    let atLeastMs = 0;
    try {
      const response = await fetch(url, { method: 'HEAD', credentials: 'same-origin', cache: 'no-store', signal: AbortSignal.timeout(FEED_PROBE_TIMEOUT_MS) });
      if (closed) return;
      if (response.status === 401) {
        signedOut();
        return;
      }
      if (response.ok) {
        open();
        return;
      }
      lost(response.status === 503 ? 'full' : 'refused');
      atLeastMs = retryAfterMs(response.headers.get('retry-after'));
    } catch {
      if (closed) return;
      lost('unreachable');
    }
    timer = setTimeout(probe, nextWait(atLeastMs));
  }

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (source) source.close();
      source = null;
      backlog = null;
    },
  };
}
