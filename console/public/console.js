// The fleet console page: plain JS, no build. Reads the JSON API, follows
// /api/events, and writes only text (never HTML) from what the gates sent.
'use strict';

const $ = (id) => document.getElementById(id);
let me = null;
const MAX_DECISIONS = 200;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('data-')) node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child == null ? '' : String(child)));
  return node;
}

function time(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// A read that hangs is given up: the live feed's catch-up must end, and then tries again.
const READ_TIMEOUT_MS = 20_000;

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: options.body ? { 'content-type': 'application/json' } : {},
    credentials: 'same-origin',
    // Never on a write: a command given up on here may still have been sent.
    signal: options.method ? undefined : AbortSignal.timeout(READ_TIMEOUT_MS),
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401 && path !== '/api/sign-in') {
    showSignIn();
  }
  if (!response.ok) throw Object.assign(new Error(body.error || `HTTP ${response.status}`), { status: response.status });
  return body;
}

function showError(message) {
  const node = $('action-error');
  node.textContent = message;
  node.hidden = !message;
}

// --- sign-in ---------------------------------------------------------------

let feed = null;

function showSignIn() {
  me = null;
  if (feed) feed.close();
  feed = null;
  hideFeedLost();
  document.body.removeAttribute('data-feed');
  $('console-view').hidden = true;
  $('sign-in-view').hidden = false;
  $('who').hidden = true;
  $('sign-out').hidden = true;
  document.body.removeAttribute('data-role');
}

async function showConsole(who) {
  me = who;
  document.body.setAttribute('data-role', who.role);
  document.body.setAttribute('data-commands', who.commandsEnabled ? 'enabled' : 'disabled');
  $('who').textContent = `${who.user} (${who.role === 'operator' ? 'operator 操作员' : 'viewer 只读'})`;
  $('who').setAttribute('data-user', who.user);
  $('who').setAttribute('data-role', who.role);
  $('who').hidden = false;
  $('sign-out').hidden = false;
  $('sign-in-view').hidden = true;
  $('console-view').hidden = false;
  $('commands-disabled').hidden = who.commandsEnabled;
  $('read-only').hidden = who.role === 'operator';
  if (!$('figures-day').value) $('figures-day').value = localDay();
  // The lists are read once the stream is open (the feed's catch-up), so that nothing falls between the two.
  follow();
}

function localDay() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('sign-in-error').hidden = true;
  try {
    const who = await api('/api/sign-in', {
      method: 'POST',
      body: JSON.stringify({ name: $('sign-in-name').value, password: $('sign-in-password').value }),
    });
    $('sign-in-password').value = '';
    await showConsole(who);
  } catch (error) {
    $('sign-in-error').textContent = error.message;
    $('sign-in-error').hidden = false;
  }
});

$('sign-out').addEventListener('click', async () => {
  await api('/api/sign-out', { method: 'POST' }).catch(() => {});
  showSignIn();
});

// --- lanes -----------------------------------------------------------------

const ACTIONS = [
  ['open', 'Open 开闸'],
  ['lock', 'Lock 锁定'],
  ['release-hold', 'Release hold 解除'],
];

function flagCell(name, on, since) {
  return el('td', { class: 'flag', 'data-flag': name, 'data-on': on, 'data-since': since }, on ? 'yes' : 'no', el('br'), el('span', { class: 'since' }, time(since)));
}

function laneRow(lane) {
  const key = `${lane.site}/${lane.lane}`;
  const commands = el('td', { class: 'op' });
  for (const [action, label] of ACTIONS) {
    commands.append(el('button', { type: 'button', 'data-action': action, 'data-lane': key, onclick: () => sendCommand(lane.site, lane.lane, action) }, label), ' ');
  }
  return el(
    'tr',
    { 'data-lane': key, 'data-state': lane.state, 'data-since': lane.stateSince },
    el('td', {}, lane.site),
    el('td', {}, lane.lane),
    el('td', {}, el('span', { class: 'state', 'data-state': lane.state }, lane.state), lane.online && lane.laneState ? ` (${lane.laneState})` : ''),
    el('td', { class: 'since', 'data-field': 'state-since' }, time(lane.stateSince)),
    flagCell('online', lane.online, lane.onlineSince),
    flagCell('degraded', lane.degraded, lane.degradedSince),
    flagCell('held', lane.held, lane.heldSince),
    flagCell('staff-mode', lane.staffMode, lane.staffModeSince),
    el('td', { 'data-flag': 'faults', 'data-on': lane.faults.length > 0, 'data-since': lane.faultsSince }, lane.faults.join(', ') || '—', el('br'), el('span', { class: 'since' }, lane.faults.length ? time(lane.faultsSince) : '')),
    el('td', { class: 'since' }, time(lane.lastSeen)),
    commands,
  );
}

function showLane(lane) {
  pendingLanes.set(`${lane.site}/${lane.lane}`, lane);
  drawSoon();
}

function drawLane(lane) {
  const key = `${lane.site}/${lane.lane}`;
  const body = $('lanes-body');
  const row = laneRow(lane);
  const existing = body.querySelector(`tr[data-lane="${CSS.escape(key)}"]`);
  if (existing) existing.replaceWith(row);
  else {
    const after = [...body.children].find((tr) => tr.getAttribute('data-lane') > key);
    body.insertBefore(row, after || null);
  }
  $('lanes-empty').hidden = body.children.length > 0;
}

async function loadLanes() {
  const { lanes } = await api('/api/lanes');
  // Lanes still waiting to be drawn came before this read, so it holds them or newer: drawn later, they would undo it.
  pendingLanes.clear();
  $('lanes-body').replaceChildren();
  lanes.forEach(drawLane);
  $('lanes-empty').hidden = lanes.length > 0;
}

async function sendCommand(site, lane, action) {
  showError('');
  if (!confirm(`${action} ${site}/${lane}?`)) return;
  try {
    const { command } = await api('/api/commands', { method: 'POST', body: JSON.stringify({ site, lane, action }) });
    showCommand(command);
  } catch (error) {
    showError(error.message);
  }
}

// --- alerts ----------------------------------------------------------------

function alertItem(alert) {
  const acknowledged = alert.acknowledgedAt !== null;
  const item = el(
    'li',
    { 'data-alert': alert.id, 'data-lane': `${alert.site}/${alert.lane}`, 'data-acknowledged': acknowledged },
    el('span', { class: 'red' }, 'RED 红码'),
    el('span', {}, time(alert.time)),
    el('span', {}, `${alert.site}/${alert.lane}`),
    el('span', { class: 'muted' }, alert.decidedBy),
    deliveryField(alert.id),
  );
  if (acknowledged) {
    item.append(el('span', { 'data-field': 'acknowledged' }, `acknowledged by ${alert.acknowledgedBy} at ${time(alert.acknowledgedAt)}`));
  } else if (me && me.role === 'operator') {
    item.append(el('button', { type: 'button', 'data-ack': alert.id, onclick: () => acknowledge(alert.id) }, 'Acknowledge 确认'));
  }
  return item;
}

function showAlert(alert) {
  const list = $('alerts');
  const existing = list.querySelector(`li[data-alert="${CSS.escape(alert.id)}"]`);
  const item = alertItem(alert);
  if (existing) existing.replaceWith(item);
  else list.prepend(item);
  countAlerts();
}

function countAlerts() {
  const open = $('alerts').querySelectorAll('li[data-acknowledged="false"]').length;
  $('alerts-open-count').textContent = String(open);
  $('alerts-open-count').setAttribute('data-count', String(open));
  $('alerts-empty').hidden = $('alerts').children.length > 0;
}

async function loadAlerts() {
  const { alerts } = await api('/api/alerts');
  $('alerts').replaceChildren(...alerts.map(alertItem));
  countAlerts();
  // Not awaited: the centre's answer never holds up the lists or the feed's catch-up.
  refreshDeliveries();
}

async function acknowledge(id) {
  showError('');
  try {
    const { alert } = await api(`/api/alerts/${encodeURIComponent(id)}/ack`, { method: 'POST' });
    showAlert(alert);
  } catch (error) {
    showError(error.message);
  }
}

// --- decisions -------------------------------------------------------------

function decisionItem(d) {
  return el(
    'li',
    { 'data-decision': d.id, 'data-lane': `${d.site}/${d.lane}`, 'data-verdict': d.verdict },
    el('span', {}, time(d.time)),
    el('span', {}, `${d.site}/${d.lane}`),
    el('span', { class: 'verdict' }, d.verdict),
    el('span', {}, d.reason),
    el('span', { class: 'muted' }, d.decidedBy),
    el('span', {}, d.colour || ''),
    el('span', {}, d.temperatureC === null ? '' : `${d.temperatureC.toFixed(1)} °C`),
    d.degraded ? el('span', { class: 'muted' }, 'degraded') : '',
  );
}

// A fleet sends many decisions a second: they are drawn in batches, a few times a second.
let pendingDecisions = [];
let pendingLanes = new Map();
let drawTimer = null;

function drawSoon() {
  if (drawTimer) return;
  drawTimer = setTimeout(() => {
    drawTimer = null;
    const lanes = pendingLanes;
    const decisions = pendingDecisions.slice(-MAX_DECISIONS);
    pendingLanes = new Map();
    pendingDecisions = [];
    lanes.forEach(drawLane);
    const list = $('decisions');
    const fresh = decisions.filter((d) => !list.querySelector(`li[data-decision="${CSS.escape(d.id)}"]`));
    if (fresh.length) list.prepend(...fresh.reverse().map(decisionItem));
    while (list.children.length > MAX_DECISIONS) list.lastElementChild.remove();
  }, 250);
}

function showDecision(d) {
  pendingDecisions.push(d);
  drawSoon();
}

async function loadDecisions() {
  const { decisions } = await api(`/api/decisions?limit=${MAX_DECISIONS}`);
  pendingDecisions = [];
  $('decisions').replaceChildren(...decisions.map(decisionItem));
}

// --- figures ---------------------------------------------------------------

async function loadFigures() {
  const day = $('figures-day').value || localDay();
  const { figures } = await api(`/api/figures?day=${encodeURIComponent(day)}`);
  $('figures-body').replaceChildren(
    ...figures.map((f) => {
      const c = f.colourChanges;
      const never = c.neverApplied.map((n) => `${n.lane}#${n.seq}`).join(', ');
      const cell = (name, value) => el('td', { 'data-figure': name }, value);
      return el(
        'tr',
        { 'data-site': f.site, 'data-day': f.day },
        el('td', {}, f.site),
        cell('checks', f.checks),
        cell('passes', f.passes),
        cell('refusals', f.refusals),
        cell('holds', f.holds),
        cell('staff-registrations', f.staffRegistrations),
        cell('sensor-faults', f.sensorFaults),
        cell('red-alerts', f.redAlerts),
        cell('colour-changes', `${c.changes} (${c.applied}/${c.expected} applied)`),
        cell('applied-median', duration(c.medianMs)),
        cell('applied-worst', duration(c.worstMs)),
        cell('never-applied', never || '—'),
      );
    }),
  );
}

$('figures-form').addEventListener('submit', (event) => {
  event.preventDefault();
  loadFigures().catch((error) => showError(error.message));
});

let figuresTimer = null;
function refreshFiguresSoon() {
  if (figuresTimer) return;
  figuresTimer = setTimeout(() => {
    figuresTimer = null;
    loadFigures().catch(() => {});
  }, 2000);
}

// --- commands --------------------------------------------------------------

function commandRow(c) {
  return el(
    'tr',
    { 'data-command': c.id, 'data-lane': `${c.site}/${c.lane}`, 'data-result': c.result },
    el('td', {}, time(c.sentAt)),
    el('td', {}, c.site),
    el('td', {}, c.lane),
    el('td', {}, c.action),
    el('td', {}, c.user),
    el('td', { class: 'result' }, c.result),
    el('td', {}, time(c.resultAt)),
    el('td', {}, c.detail || ''),
  );
}

function showCommand(c) {
  const body = $('commands-body');
  const existing = body.querySelector(`tr[data-command="${CSS.escape(c.id)}"]`);
  // The result may come on the event stream before the POST that sent the command returns "pending".
  if (existing && c.result === 'pending' && existing.dataset.result !== 'pending') return;
  if (existing) existing.replaceWith(commandRow(c));
  else body.prepend(commandRow(c));
}

async function loadCommands() {
  const { commands } = await api('/api/commands');
  $('commands-body').replaceChildren(...commands.map(commandRow));
}

// --- dropped messages --------------------------------------------------------

let statsTimer = null;
async function loadStats() {
  clearTimeout(statsTimer);
  if (!me) return;
  try {
    const { feed } = await api('/api/stats');
    $('dropped').textContent = `Dropped ${feed.malformed}`;
    $('dropped').setAttribute('data-count', String(feed.malformed));
  } catch {
    // shown again on the next try
  }
  statsTimer = setTimeout(loadStats, 10_000);
}

// --- live updates ----------------------------------------------------------

function broker(connected) {
  $('broker-state').setAttribute('data-connected', String(connected));
  $('broker-state').textContent = connected === 'unknown' ? 'Broker: unknown 未知' : connected ? 'Broker connected 已连接' : 'Broker disconnected 未连接';
}

// Everything the page shows, read again; one read at a time, so that an older read never lands over a newer one.
let reading = Promise.resolve();
function loadAll() {
  const read = reading.then(() => Promise.all([loadLanes(), loadAlerts(), loadDecisions(), loadFigures(), loadCommands(), loadStats()]));
  reading = read.catch(() => {});
  return read;
}

const LOST_BECAUSE = {
  dropped: 'The connection to the console dropped.',
  refused: 'The console turned the live feed away.',
  full: 'The console has too many pages open.',
  unreachable: 'The console is not answering.',
  'reload-failed': 'The console could not send what was missed.',
};

let lostSince = null;
let listsRequested = false;

function feedLost(why) {
  if (lostSince === null) lostSince = Date.now();
  const text = `Live feed lost since ${time(lostSince)}, reconnecting… 实时数据中断，正在重连… What is shown may be out of date. ${LOST_BECAUSE[why] || ''}`;
  // The same words again are not written: a screen reader would read the alert out again.
  if ($('feed-lost').textContent !== text) $('feed-lost').textContent = text;
  $('feed-lost').hidden = false;
  document.body.setAttribute('data-feed', 'lost');
  broker('unknown');
  // Refused from the start, the page still shows what the console has stored.
  if (!listsRequested) {
    listsRequested = true;
    loadAll().catch(() => {});
  }
}

function hideFeedLost() {
  lostSince = null;
  $('feed-lost').hidden = true;
  $('feed-lost').textContent = '';
}

function feedLive() {
  hideFeedLost();
  document.body.setAttribute('data-feed', 'live');
}

function follow() {
  if (feed) feed.close();
  listsRequested = false;
  feed = openLiveFeed({
    url: '/api/events',
    on: {
      hello: (data) => broker(data.connected),
      connection: (data) => broker(data.connected),
      lane: showLane,
      decision: (d) => {
        showDecision(d);
        refreshFiguresSoon();
      },
      alert: (a) => {
        showAlert(a);
        refreshFiguresSoon();
        refreshDeliveriesSoon();
      },
      command: showCommand,
      'signed-out': () => showSignIn(),
    },
    catchUp: () => {
      listsRequested = true;
      return loadAll();
    },
    lost: feedLost,
    live: feedLive,
    signedOut: showSignIn,
  });
}

// --- start -----------------------------------------------------------------

api('/api/me').then((who) => (who.signedIn ? showConsole(who) : showSignIn()), () => showSignIn());
