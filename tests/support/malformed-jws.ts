/**
 * Signed messages broken in their shape, every way the JWS can be: the
 * envelope (too broad, nested too deep), its members, and the protected
 * header (not an object, members missing, of the wrong type, too long, not
 * base64url, nested too deep).
 * Each must be refused as 'malformed' with a detail naming what is wrong,
 * whatever kind of message it claims to be and whatever key its kid names:
 * the same for a colour change, a snapshot, a command (the centre's or an
 * operator's), a look-up reply and the trust list.
 */

export interface MalformedJws {
  name: string;
  /** The message as it arrives. */
  text: string;
  /** What the refusal's detail must say. */
  detail: RegExp;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64url');

/**
 * `kid`: base64url of a key the receiver trusts (so only the shape is
 * wrong); `typ`: the kind the receiver expects; `payload`: a valid payload
 * of that kind, base64url.
 */
export function malformedJws(kid: string, typ: string, payload: string): MalformedJws[] {
  const alg = 'ES256';
  const signature = 'A'.repeat(86);
  const envelope = (header: string, extra: Record<string, unknown> = {}): string => JSON.stringify({ protected: header, payload, signature, ...extra });
  const withHeader = (header: unknown): string => envelope(b64(JSON.stringify(header)));
  const notObject = /protected header is not a JSON object/;
  return [
    { name: 'protected header JSON null, empty payload (as the centre never sends)', text: '{"protected":"bnVsbA","payload":"","signature":"AA"}', detail: /protected header is not a JSON object \(null\)/ },
    { name: 'protected header null', text: withHeader(null), detail: notObject },
    { name: 'protected header an empty array', text: withHeader([]), detail: /not a JSON object \(an array\)/ },
    { name: 'protected header an array of the right values', text: withHeader([alg, kid, typ]), detail: /not a JSON object \(an array\)/ },
    { name: 'protected header a number', text: withHeader(42), detail: /not a JSON object \(a number\)/ },
    { name: 'protected header a string', text: withHeader(alg), detail: /not a JSON object \(a string\)/ },
    { name: 'protected header a boolean', text: withHeader(true), detail: /not a JSON object \(a boolean\)/ },
    { name: 'protected header an empty object', text: withHeader({}), detail: /protected header: must have required property 'alg'/ },
    { name: 'protected header without alg', text: withHeader({ kid, typ }), detail: /must have required property 'alg'/ },
    { name: 'protected header without kid', text: withHeader({ alg, typ }), detail: /must have required property 'kid'/ },
    { name: 'protected header without typ', text: withHeader({ alg, kid }), detail: /must have required property 'typ'/ },
    { name: 'alg a number', text: withHeader({ alg: 7, kid, typ }), detail: /protected header: alg must be string/ },
    { name: 'alg null', text: withHeader({ alg: null, kid, typ }), detail: /alg must be string/ },
    { name: 'kid a number', text: withHeader({ alg, kid: 7, typ }), detail: /protected header: kid must be string/ },
    { name: 'kid an array', text: withHeader({ alg, kid: [kid], typ }), detail: /kid must be string/ },
    { name: 'typ an object', text: withHeader({ alg, kid, typ: { typ } }), detail: /protected header: typ must be string/ },
    { name: 'kid not base64url', text: withHeader({ alg, kid: 'not base64url!', typ }), detail: /kid must match pattern/ },
    { name: 'kid of 65 characters', text: withHeader({ alg, kid: 'A'.repeat(65), typ }), detail: /kid must match pattern/ },
    { name: 'alg of 40 characters', text: withHeader({ alg: 'E'.repeat(40), kid, typ }), detail: /alg must NOT have more than 32 characters/ },
    { name: 'a header member the gate does not know (crit)', text: withHeader({ alg, kid, typ, crit: ['exp'] }), detail: /must NOT have additional properties/ },
    { name: 'a "__proto__" header member', text: envelope(b64(`{"__proto__":{"alg":"none"},"alg":"${alg}","kid":"${kid}","typ":"${typ}"}`)), detail: /must NOT have additional properties/ },
    { name: 'alg given twice, the last a number', text: envelope(b64(`{"alg":"${alg}","kid":"${kid}","typ":"${typ}","alg":5}`)), detail: /alg must be string/ },
    { name: 'protected header truncated JSON', text: envelope(b64(`{"alg":"${alg}","kid":`)), detail: /protected header is not JSON/ },
    { name: 'protected header invalid UTF-8', text: envelope(Buffer.from([0xff, 0xfe, 0x7b]).toString('base64url')), detail: /protected header is not JSON/ },
    { name: 'protected header one base64url character (no byte)', text: envelope('A'), detail: /protected header is not JSON/ },
    { name: 'protected header nested 100 deep', text: envelope(b64(`${'['.repeat(100)}${']'.repeat(100)}`)), detail: /protected header nested deeper than 32 levels/ },
    { name: 'protected not base64url', text: envelope('eyJ!'), detail: /not a JWS .*protected must match pattern/ },
    { name: 'protected of 1,025 characters', text: envelope('A'.repeat(1025)), detail: /protected must NOT have more than 1024 characters/ },
    { name: 'signature empty', text: JSON.stringify({ protected: b64(JSON.stringify({ alg, kid, typ })), payload, signature: '' }), detail: /signature must match pattern/ },
    { name: 'signature not base64url', text: JSON.stringify({ protected: b64(JSON.stringify({ alg, kid, typ })), payload, signature: 'AA==' }), detail: /signature must match pattern/ },
    { name: 'signature of 2,000 characters', text: JSON.stringify({ protected: b64(JSON.stringify({ alg, kid, typ })), payload, signature: 'A'.repeat(2000) }), detail: /signature must NOT have more than 1024 characters/ },
    { name: 'payload not base64url', text: JSON.stringify({ protected: b64(JSON.stringify({ alg, kid, typ })), payload: `${payload}%`, signature }), detail: /payload must match pattern/ },
    { name: 'payload a number', text: JSON.stringify({ protected: b64(JSON.stringify({ alg, kid, typ })), payload: 1e21, signature }), detail: /payload must be string/ },
    { name: 'an unprotected header member beside the three', text: envelope(b64(JSON.stringify({ alg, kid, typ })), { header: { kid } }), detail: /must NOT have additional properties/ },
    { name: 'an extra envelope member of 5,000 empty objects', text: envelope(b64(JSON.stringify({ alg, kid, typ })), { x: Array.from({ length: 5_000 }, () => ({})) }), detail: /message has more than 1024 values/ },
    { name: 'an extra envelope member nested 40 deep', text: envelope(b64(JSON.stringify({ alg, kid, typ })), { x: JSON.parse(`${'['.repeat(40)}${']'.repeat(40)}`) as unknown }), detail: /message nested deeper than 32 levels/ },
  ];
}
