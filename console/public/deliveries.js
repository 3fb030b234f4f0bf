// Each red-code alert's delivery to the epidemic-control department, read
// from /api/deliveries (the console asks the centre). Apart from the alert
// list and the live feed, never awaited by them: the centre away only makes
// the alerts say their delivery state is unknown.
'use strict';

const DELIVERY_POLL_MS = 10_000;
const DELIVERY_TIMEOUT_MS = 15_000;
let deliveries = new Map();
let centreReach = null;
let deliveriesAsking = null;
let deliveriesSoon = null;

function deliveryText(d) {
  if (!d) return centreReach === 'reachable' ? 'delivery: asking the centre… 查询中' : 'delivery state unknown 送达状态未知';
  const tried = d.attempts === 1 ? '1 attempt' : `${d.attempts} attempts`;
  const error = d.lastError ? `, last error: ${d.lastError}` : '';
  switch (d.state) {
    case 'delivered':
      return `delivered to the department at ${time(d.deliveredAt)} 已送达${d.alarmedAt !== null ? ' (late: an alarm was raised)' : ''}`;
    case 'pending':
      return d.attempts === 0 ? 'pending 待送达: not yet tried' : `pending 待送达: ${tried}${error}`;
    case 'alarm':
      return `ALARM 未按时送达: not delivered in time (alarm at ${time(d.alarmedAt)}), ${tried}${error}`;
    case 'not-at-centre':
      return 'not at the centre 中心未收到';
    default:
      return 'delivery state unknown 送达状态未知';
  }
}

/** The delivery part of an alert's row (console.js's alertItem), from what is known now. */
function deliveryField(id) {
  if (centreReach === 'not-configured') return '';
  const d = deliveries.get(id);
  return el('span', { class: 'delivery', 'data-field': 'delivery', 'data-delivery-state': d ? d.state : 'unknown' }, deliveryText(d));
}

function showDeliveries() {
  for (const item of $('alerts').querySelectorAll('li[data-alert]')) {
    const field = deliveryField(item.getAttribute('data-alert'));
    const existing = item.querySelector('[data-field="delivery"]');
    if (existing && field) existing.replaceWith(field);
    else if (existing) existing.remove();
    else if (field) item.append(field);
  }
  const notice = $('delivery-unknown');
  const text = centreReach === 'unreachable'
    ? 'delivery state unknown: centre unreachable 送达状态未知：无法连接中心'
    : centreReach === 'refused'
      ? "delivery state unknown: the centre refused the console's token 送达状态未知：中心拒绝访问"
      : '';
  if (notice.textContent !== text) notice.textContent = text;
  notice.hidden = text === '';
  document.body.setAttribute('data-centre', centreReach || 'unknown');
}

/** Asks once at a time; an answer that does not come is given up on, and says unknown. */
function refreshDeliveries() {
  if (deliveriesAsking) return deliveriesAsking;
  deliveriesAsking = fetch('/api/deliveries', { credentials: 'same-origin', signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS) })
    .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`))))
    .then((answer) => {
      centreReach = answer.centre;
      deliveries = new Map(answer.deliveries.map((d) => [d.id, d]));
    }, () => {
      // The console itself did not answer: its own feed-lost banner says so; the deliveries are unknown meanwhile.
      deliveries = new Map();
      if (centreReach !== 'not-configured') centreReach = 'unknown';
    })
    .then(showDeliveries)
    .finally(() => {
      deliveriesAsking = null;
    });
  return deliveriesAsking;
}

/** After a new alert: soon, once for a burst. */
function refreshDeliveriesSoon() {
  if (deliveriesSoon) return;
  deliveriesSoon = setTimeout(() => {
    deliveriesSoon = null;
    refreshDeliveries();
  }, 1000);
}

// The centre delivers without telling the console: the states are read again while the console is shown.
setInterval(() => {
  if (document.body.hasAttribute('data-role') && centreReach !== 'not-configured' && $('alerts').children.length > 0) refreshDeliveries();
}, DELIVERY_POLL_MS);
