/**
 * Arbitraries for JSON messages, shared by the surfaces that feed MQTT
 * payloads (link.ts for the gate, centre-mqtt.ts for the centre): edge
 * numbers, values of any type, a field that is usually right, an object with
 * now and then a key dropped or an unknown one added, and a flattened JWS
 * built by hand so that every header field can be wrong on purpose.
 */
import fc from 'fast-check';
import { signData } from '../../protocol/credential/cose.js';
import type { MessageSigner } from '../../protocol/signed-message.js';

export const b64url = (text: string | Buffer): string => Buffer.from(text).toString('base64url');

/** A flattened JWS built by hand, so that every header field can be wrong on purpose. */
export function jws(header: unknown, payloadText: string, signer: MessageSigner): string {
  const protectedPart = b64url(JSON.stringify(header));
  const payloadPart = b64url(payloadText);
  const signature = signData(signer.algorithm, signer.privateKey, Buffer.from(`${protectedPart}.${payloadPart}`, 'ascii'));
  return JSON.stringify({ protected: protectedPart, payload: payloadPart, signature: signature.toString('base64url') });
}

export const edgeNumber = fc.constantFrom(0, -1, 1, 1.5, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, -1e21, 8.64e15, 8.64e15 + 1, -0.5);
export const weird: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue({ maxDepth: 2 }), edgeNumber, fc.string({ maxLength: 20 }), fc.constant(null));
export const usually = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<unknown> = weird, weight = 8): fc.Arbitrary<unknown> =>
  fc.oneof({ weight, arbitrary: good }, { weight: 1, arbitrary: bad });

/** An object arbitrary with, now and then, a key dropped or an unknown one added. */
export function messy(fields: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(fields, fc.nat({ max: 19 }), fc.string({ maxLength: 8 }), weird).map(([message, n, extraKey, extra]) => {
    const out = { ...message };
    const keys = Object.keys(out);
    if (n === 0 && keys.length > 0) delete out[keys[extraKey.length % keys.length]!];
    if (n === 1) out[extraKey || 'extra'] = extra;
    return out;
  });
}

/** Raw payloads that are not the message: JSON of any shape, random bytes, deep nesting, wide arrays, odd texts. */
export function rawPayloads(): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    fc.constantFrom(100, 1000, 10_000, 100_000).map((depth) => Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`)),
    fc.constantFrom(1000, 20_000).map((n) => Buffer.from(`[${Array(n).fill('{}').join(',')}]`)),
    fc.constantFrom('', 'null', '"x"', '1e999', '[]', '{}', '\ufeff{}', '{"__proto__":{"site":"x"}}', '{"constructor":{"prototype":{"x":1}}}').map((t) => Buffer.from(t)),
  );
}
