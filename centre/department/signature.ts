/**
 * How the centre signs what it POSTs to the epidemic-control department, and
 * how the department checks it.
 *
 *   X-Timestamp:  the send time, whole seconds since the epoch
 *   X-Signature:  sha256=<hex HMAC-SHA256 under the shared secret over "<X-Timestamp>.<body>">
 *   X-Delivery-Id, X-Delivery-Kind: the gate's message id (the department dedupes by it) and alert|registration
 *
 * The timestamp is inside the MAC, so a captured request replayed later is
 * refused by its age; a retry is signed again with its own time, so the
 * tolerance only has to cover clock skew and transit, not the back-off.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DeliveryKind } from '../store/store.js';

export const SIGNATURE_PREFIX = 'sha256=';
/** How far the department accepts a timestamp from its own clock, either way. */
export const DEFAULT_TOLERANCE_SECONDS = 300;
/** A shorter key is too easy to guess; `gate-centre` makes 32 random bytes. */
export const MIN_SECRET_BYTES = 16;

/** The hex HMAC-SHA256 over "<timestamp>.<body>". */
export function departmentMac(secret: Uint8Array, timestamp: string, body: Uint8Array | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The headers one attempt carries (a fresh timestamp each attempt). */
export function departmentHeaders(secret: Uint8Array, delivery: { id: string; kind: DeliveryKind }, body: Uint8Array | string, now = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(now / 1000));
  return {
    'content-type': 'application/json',
    'x-delivery-id': delivery.id,
    'x-delivery-kind': delivery.kind,
    'x-timestamp': timestamp,
    'x-signature': SIGNATURE_PREFIX + departmentMac(secret, timestamp, body),
  };
}

export type SignatureRefusal = 'missing-header' | 'bad-timestamp' | 'stale' | 'bad-signature';

export type SignatureCheck =
  | { ok: true; deliveryId: string; kind: DeliveryKind; timestamp: number }
  | { ok: false; reason: SignatureRefusal; detail: string };

/** Headers as node:http gives them (lower-case keys), as a fetch Headers, or any record. */
export type HeaderSource = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  let value = record[name];
  if (value === undefined) {
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  // A header sent twice is ambiguous: which one was signed is not for the receiver to guess.
  return Array.isArray(value) ? undefined : value;
}

/**
 * For the department's side: checks one request from the centre. `body` is
 * the raw request body exactly as received (before any JSON parsing). The MAC
 * is compared in constant time; the timestamp must lie within
 * `toleranceSeconds` of `now`. Only a request that passes should be acted on,
 * and at most once per deliveryId.
 */
export function verifyDepartmentSignature(
  secret: Uint8Array | string,
  headers: HeaderSource,
  body: Uint8Array | string,
  options: { toleranceSeconds?: number; now?: number } = {},
): SignatureCheck {
  const key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  const timestamp = header(headers, 'x-timestamp');
  const signature = header(headers, 'x-signature');
  const deliveryId = header(headers, 'x-delivery-id');
  const kind = header(headers, 'x-delivery-kind');
  if (timestamp === undefined || signature === undefined || deliveryId === undefined || kind === undefined) {
    return { ok: false, reason: 'missing-header', detail: 'X-Timestamp, X-Signature, X-Delivery-Id and X-Delivery-Kind are each required once' };
  }
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad-timestamp', detail: 'X-Timestamp is not whole seconds since the epoch' };
  const seconds = Number(timestamp);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const skew = Math.abs((options.now ?? Date.now()) / 1000 - seconds);
  if (skew > tolerance) return { ok: false, reason: 'stale', detail: `X-Timestamp is ${Math.round(skew)} s from this clock (tolerance ${tolerance} s)` };
  const expected = Buffer.from(departmentMac(key, timestamp, body), 'hex');
  const given = signature.startsWith(SIGNATURE_PREFIX) && /^[0-9a-f]{64}$/i.test(signature.slice(SIGNATURE_PREFIX.length))
    ? Buffer.from(signature.slice(SIGNATURE_PREFIX.length), 'hex')
    : Buffer.alloc(expected.length);
  // Compared even when malformed (against zeros), so the time taken says nothing about how close a guess came.
  const match = timingSafeEqual(expected, given) && signature.startsWith(SIGNATURE_PREFIX);
  if (!match) return { ok: false, reason: 'bad-signature', detail: 'X-Signature does not match the body and timestamp under the shared secret' };
  if (kind !== 'alert' && kind !== 'registration') return { ok: false, reason: 'missing-header', detail: 'X-Delivery-Kind is neither alert nor registration' };
  return { ok: true, deliveryId, kind, timestamp: seconds };
}
