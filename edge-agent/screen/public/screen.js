// The gate's screen: follows the lane through server-sent events and shows
// each view as it comes. Plain browser JavaScript, no build step: the page
// must load on the gate's kiosk browser with nothing but the agent's server.
const $ = (id) => document.getElementById(id);
let lastSeq = -1;

function show(element, text) {
  element.hidden = text === null || text === undefined || text === '';
  element.textContent = element.hidden ? '' : text;
}

function render(where, view) {
  // Within one connection views come in order; a late one never replaces a newer verdict.
  if (view.seq < lastSeq) return;
  lastSeq = view.seq;
  document.body.dataset.phase = view.phase;
  document.body.dataset.colour = view.colour ?? 'none';
  document.body.dataset.seq = String(view.seq);
  document.body.dataset.event = view.eventId ?? '';
  document.body.className = `screen phase-${view.phase} colour-${view.colour ?? 'none'}`;
  if (where) show($('where'), where);
  show($('headline-zh'), view.headline.zh);
  show($('headline-en'), view.headline.en);
  show($('message-zh'), view.message?.zh);
  show($('message-en'), view.message?.en);
  show($('name'), view.maskedName);
  show($('temperature'), view.temperatureC === null ? null : `${view.temperatureC.toFixed(1)} °C`);
  $('degraded').hidden = !view.degraded;
  $('staff-mode').hidden = !view.staffMode;
  show($('faults'), view.faults.length ? `设备故障 · Device fault: ${view.faults.join(', ')}` : null);
}

// The view's screenKey opens the stream kept for this page: however many other clients on the gate open
// one, the kiosk gets in. A key from before the agent restarted is refused, and the page fetches a new one.
async function connect() {
  let body;
  try {
    const response = await fetch('/view');
    body = await response.json();
    if (!response.ok || typeof body.screenKey !== 'string') throw new Error(`/view: HTTP ${response.status}`);
  } catch {
    $('disconnected').hidden = false;
    setTimeout(connect, 1000);
    return;
  }
  const where = `${body.site} · ${body.lane}`;
  show($('where'), where);
  const events = new EventSource(`/events?key=${encodeURIComponent(body.screenKey)}`);
  // Each connection starts from the agent's current view: a restarted agent counts from 0 again.
  events.addEventListener('open', () => {
    lastSeq = -1;
  });
  events.addEventListener('view', (message) => {
    $('disconnected').hidden = true;
    render(where, JSON.parse(message.data));
  });
  // EventSource reconnects by itself after a drop; until it does, the person must not trust a stale verdict.
  // Refused (an old key, too many streams), it gives up for good: start over with a fresh key.
  events.addEventListener('error', () => {
    $('disconnected').hidden = false;
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
  });
}

connect();
