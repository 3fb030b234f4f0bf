/**
 * Each signed MQTT message kind (colour change, colour snapshot, command,
 * look-up reply) through the link's real receive path: a real agent
 * (lane-rig.ts) linked to an embedded broker, and each message handed to the
 * MQTT client's 'message' event, where GateLink listens, on the topic of its
 * kind. Seeds are messages the centre's key signs; they are mutated as
 * payloads (every field, types, edge numbers, sizes), as signed envelopes
 * (header alg, kid, typ, another key, a broken signature) and as raw bytes
 * (JSON text edits, deep nesting, anything).
 *
 * Observed per message, without changing what the agent does: the security
 * event the link reports, and what the kind's handler returned or threw.
 * The shape: applied with an outcome of its documented type, or refused with
 * one security event of a known kind; never an error logged (the link logs
 * an exception from a handler as an internal error and drops the message),
 * never a colour seq or version beyond 2^53.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { RUNTIME_CONFIG_KEYS } from '../../edge-agent/components/config-keys.js';
import { COMMAND_ACTIONS, conforms, SECURITY_KINDS, type SecurityKind, type SignedType as AnySignedType } from '../../protocol/contract.js';

/** Every signed kind the link receives; the centre's key and trust list are built in link-continuity.ts. */
type SignedType = AnySignedType;
import type { GateLink } from '../../edge-agent/link/gate-link.js';
import type { LanePublish } from '../../edge-agent/link/lane-publish.js';
import type { PayloadOf } from '../../protocol/registry.js';
import { messageSigner, type MessageSigner } from '../../protocol/signed-message.js';
import { MessageError } from '../../protocol/message-error.js';
import { laneTopic, siteTopic } from '../../protocol/topics.js';
import { fuzzKey } from './keys.js';
import { RIG_LANE, RIG_SITE, startLaneRig, type LaneRig } from './lane-rig.js';
import { continuity, continuityConfig, continuityPayload, continuityProblem, validContinuity, type Continuity } from './link-continuity.js';
import { b64url, edgeNumber, jws, messy, usually, weird } from './json-arbitraries.js';
import { mutatedBytes, mutatedText } from './mutate.js';
import { describeError, ok, offShape, thrown, type Regression, type Rig, type Surface, type Verdict } from './surface.js';

const BASE = 'hc/v1';
const MB = 1 << 20;
/** A command's handler has this long to settle. */
const COMMAND_WAIT_MS = 3_000;

interface Observation {
  security: SecurityKind[];
  called: boolean;
  returned?: unknown;
  error?: unknown;
  pending?: Promise<unknown>;
}

/** What the rig reads of the link's privates: the client it listens on, and the parts it hands messages to. */
interface LinkInside {
  client: { emit(event: 'message', topic: string, payload: Buffer, packet: object): boolean } | null;
  options: { centreTrust?: object; commands?: { handle(raw: Buffer): Promise<unknown> }; lookup?: { acceptReply(raw: Buffer): boolean; lookup(kind: 'printed-code', key: string): Promise<unknown> } };
  reportSecurity(topic: string, kind: SecurityKind, detail: string): void;
  publish: LanePublish;
}

const SUBJECTS = Array.from({ length: 24 }, (_, i) => `fuzz-subject-${i.toString(36).padStart(4, '0')}`);
const subject = usually(fc.constantFrom(...SUBJECTS), fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom('', ' ', '110101199003077777', 'a'.repeat(129), '\u0000')));
const colour = usually(fc.constantFrom('green', 'yellow', 'red'), fc.oneof(fc.constantFrom('blue', 'GREEN', ''), weird));

function times(): { nowish: fc.Arbitrary<number>; time: fc.Arbitrary<unknown> } {
  const nowish = fc.integer({ min: -60_000, max: 30_000 }).map((d) => Date.now() + d);
  const time = usually(nowish, fc.oneof(edgeNumber, fc.constantFrom(Date.now() + 3_600_000, Date.now() - 86_400_000, 0), weird), 6);
  return { nowish, time };
}

interface Counters {
  seq: number;
  version: number;
  command: number;
}

function statusEntry(time: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return messy(fc.record({ sub: subject, colour, effectiveAt: time }));
}

function entries(time: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const one = statusEntry(time);
  return fc.oneof(
    { weight: 12, arbitrary: fc.array(one, { maxLength: 8 }) },
    // The schema's cap on a change is 10,000 statuses: just under and just over.
    { weight: 1, arbitrary: fc.constantFrom(10_000, 10_001).map((n) => Array.from({ length: n }, (_, i) => ({ sub: `bulk-${i}`, colour: 'green', effectiveAt: Date.now() }))) },
    { weight: 1, arbitrary: weird },
  );
}

function payloadArbitrary(kind: SignedType, counters: Counters, openIds: string[], rig: LaneRig, cont: Continuity | null): fc.Arbitrary<unknown> {
  const { time } = times();
  const site = usually(fc.constant(RIG_SITE), fc.oneof(fc.constantFrom('other-site', 'colour', '', 'fuzz site', RIG_SITE.toUpperCase()), weird));
  const lane = usually(fc.constant(RIG_LANE), fc.oneof(fc.constantFrom('lane-2', 'colour', ''), weird));
  const lazy = <T>(make: () => T): fc.Arbitrary<T> => fc.constant(null).map(make);
  const synced = (): { seq: number; version: number } => {
    const sync = rig.agent.colours.sync;
    return { seq: Number.isSafeInteger(sync.seq) ? sync.seq! : 0, version: Number.isSafeInteger(sync.snapshotVersion) ? sync.snapshotVersion! : 0 };
  };
  const seq = fc.oneof(
    { weight: 6, arbitrary: lazy(() => (counters.seq = Math.max(counters.seq, synced().seq) + 1)) },
    { weight: 2, arbitrary: lazy(() => synced().seq) },
    { weight: 1, arbitrary: fc.integer({ min: 2, max: 50 }).map((gap) => (counters.seq = Math.max(counters.seq, synced().seq) + gap)) },
    { weight: 2, arbitrary: fc.oneof(edgeNumber, weird) },
  );
  switch (kind) {
    case 'centre-key':
    case 'trust-list':
      return continuityPayload(kind, cont!, rig, time, site);
    case 'colour-change':
      return messy(fc.record({ type: usually(fc.constant('colour-change')), site, seq, issuedAt: time, changes: entries(time) }));
    case 'colour-snapshot':
      return messy(
        fc.record({
          type: usually(fc.constant('colour-snapshot')),
          site,
          version: fc.oneof(
            { weight: 6, arbitrary: lazy(() => (counters.version = Math.max(counters.version, synced().version) + 1)) },
            { weight: 1, arbitrary: lazy(() => synced().version) },
            { weight: 2, arbitrary: fc.oneof(edgeNumber, weird) },
          ),
          seq: fc.oneof({ weight: 6, arbitrary: lazy(() => synced().seq) }, { weight: 2, arbitrary: seq }),
          issuedAt: time,
          statuses: entries(time),
        }),
      );
    case 'command':
      return messy(
        fc
          .record({
            type: usually(fc.constant('command')),
            id: usually(lazy(() => `fuzz-command-${++counters.command}-${randomUUID().slice(0, 8)}`), fc.oneof(fc.constantFrom('short', 'fuzz-command-1-replay', 'a'.repeat(129), 'with space in it'), weird)),
            site,
            lane,
            issuedAt: usually(fc.integer({ min: -30_000, max: 30_000 }).map((d) => Date.now() + d), fc.oneof(fc.constantFrom(Date.now() - 600_000, Date.now() + 600_000), edgeNumber, weird)),
            action: usually(fc.constantFrom(...COMMAND_ACTIONS), fc.oneof(fc.constantFrom('reboot', 'OPEN', ''), weird)),
            key: fc.oneof(fc.constantFrom(...RUNTIME_CONFIG_KEYS), fc.constantFrom('site', 'mqtt.url', 'journal.path', 'policy', 'policy.', '.x', 'a'.repeat(129)), weird),
            value: fc.oneof(fc.constantFrom(37.3, 36.0, 40.1, 'staff', 'offline-code', 'debug', 'silent', 300, 0, -1, 1e21), weird),
          })
          .map((command) => {
            // Only set-config carries key and value, most of the time.
            if (command.action !== 'set-config' && typeof command.id === 'string' && command.id.length % 4 !== 0) {
              const { key: _key, value: _value, ...rest } = command;
              return rest;
            }
            return command;
          }),
      );
    case 'lookup-reply':
      return messy(
        fc.record({
          type: usually(fc.constant('lookup-reply')),
          correlationId: usually(fc.nat().map((n) => openIds[n % Math.max(1, openIds.length)] ?? randomUUID()), fc.oneof(fc.uuid(), weird)),
          site,
          lane,
          issuedAt: time,
          colour: fc.oneof(colour, fc.constant(null)),
          effectiveAt: time,
        }),
      );
  }
}

function messageArbitrary(kind: SignedType, signers: { centre: MessageSigner; stranger: MessageSigner; impostor: MessageSigner; next: MessageSigner[] }, payload: fc.Arbitrary<unknown>, seeds: Buffer[]): fc.Arbitrary<Buffer> {
  const signer = fc.oneof(
    { weight: 10, arbitrary: fc.constant(signers.centre) },
    { weight: 1, arbitrary: fc.constant(signers.stranger) },
    { weight: 1, arbitrary: fc.constant(signers.impostor) },
    // Keys an announcement names: trusted once one is in force.
    ...(signers.next.length > 0 ? [{ weight: 2, arbitrary: fc.constantFrom(...signers.next) }] : []),
  );
  const header = fc.record({
    alg: usually(fc.constant('ES256'), fc.oneof(fc.constantFrom('none', 'HS256', 'RS256', 'EdDSA', 'PS256', 'es256', ''), weird), 10),
    kid: usually(fc.constant(signers.centre.kid.toString('base64url')), fc.oneof(fc.constantFrom('', 'AAAAAAAAAAA', '*', 'a'.repeat(65)), fc.constant(signers.stranger.kid.toString('base64url')), weird), 10),
    typ: usually(fc.constant(kind), fc.oneof(fc.constantFrom('colour-change', 'colour-snapshot', 'command', 'lookup-reply', 'centre-key', 'trust-list', ''), weird), 10),
  });
  const payloadText = fc.tuple(payload, fc.nat({ max: 29 })).map(([value, n]) => {
    const text = JSON.stringify(value) ?? 'null';
    // Now and then the same key twice: JSON.parse keeps the last, a signer may have meant the first.
    if (n === 0 && text.startsWith('{"type"')) return `{"type":"x",${text.slice(1)}`;
    if (n === 1) return ` ${text}\n`;
    return text;
  });
  const signed = fc.tuple(header, payloadText, signer, fc.nat({ max: 39 }), weird).map(([h, text, s, n, extra]) => {
    // A key an announcement named signs under its own kid, so that its messages verify once it is in force.
    const own = signers.next.includes(s) && h.kid === signers.centre.kid.toString('base64url') ? { ...h, kid: s.kid.toString('base64url') } : h;
    const envelope = JSON.parse(jws(n === 0 ? { ...own, crit: ['exp'] } : own, text, s)) as Record<string, unknown>;
    if (n === 1) envelope.signature = `${String(envelope.signature).slice(0, -2)}AA`;
    if (n === 2) envelope.header = extra;
    if (n === 3) delete envelope.payload;
    if (n === 4) envelope.signature = extra;
    if (n === 5) envelope.protected = b64url(JSON.stringify(extra));
    return Buffer.from(JSON.stringify(envelope));
  });
  const seedTexts = fc.constantFrom(...seeds.map((s) => s.toString('utf8')));
  const raw = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    // Deep nesting; a megabyte of it only now and then (the regression holds the 2 MB case).
    fc.oneof({ weight: 30, arbitrary: fc.constantFrom(100, 1000, 10_000, 50_000) }, { weight: 1, arbitrary: fc.constant(1_000_000) }).map((depth) => Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`)),
    fc.constantFrom(1000, 100_000).map((depth) => Buffer.from(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`)),
    fc.record({ p: weird, q: weird, s: fc.string({ maxLength: 12 }) }).map(({ p, q, s }) =>
      Buffer.from(JSON.stringify({ protected: b64url(JSON.stringify(p) ?? ''), payload: b64url(JSON.stringify(q) ?? ''), signature: b64url(s) || 'AA' })),
    ),
    fc.constantFrom('null', '"x"', '1e999', '[]', '{}', '{"protected":1,"payload":2,"signature":3}', '\ufeff{}', '{"__proto__":{"protected":"x"}}').map((t) => Buffer.from(t)),
  );
  return fc.oneof(
    { weight: 10, arbitrary: signed },
    { weight: 3, arbitrary: raw },
    { weight: 3, arbitrary: mutatedText(seedTexts, 'ABCDEFabcdef0123456789-_{}":,').map((t) => Buffer.from(t)) },
    { weight: 1, arbitrary: mutatedBytes(fc.constantFrom(...seeds.map((s) => new Uint8Array(s)))).map((b) => Buffer.from(b)) },
  );
}

function checkOutcome(kind: SignedType, value: unknown): string | null {
  const isCount = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
  switch (kind) {
    case 'colour-change': {
      const o = value as Record<string, unknown> | null;
      if (!o || !['applied', 'heartbeat', 'duplicate', 'covered'].includes(o.kind as string)) return `change outcome kind ${JSON.stringify(o?.kind)}`;
      if (!isCount(o.applied) || !Number.isSafeInteger(o.seq) || (o.seq as number) < 1 || typeof o.gap !== 'boolean') return `change outcome ${JSON.stringify(o)}`;
      return null;
    }
    case 'colour-snapshot': {
      if (value === null) return null;
      const o = value as Record<string, unknown>;
      if (!Number.isSafeInteger(o.version) || (o.version as number) < 1 || !isCount(o.seq) || !isCount(o.applied) || !isCount(o.removed) || typeof o.gapClosed !== 'boolean') {
        return `snapshot outcome ${JSON.stringify(o)}`;
      }
      return null;
    }
    case 'command':
      return conforms('commandResult', value) ? null : `command result off its schema: ${JSON.stringify(value)?.slice(0, 300)}`;
    case 'lookup-reply':
      return typeof value === 'boolean' ? null : `look-up outcome ${JSON.stringify(value)}`;
    case 'centre-key':
    case 'trust-list':
      return value === undefined ? null : `${kind} handler returned ${JSON.stringify(value)?.slice(0, 200)}`;
  }
}

async function setupLink(kind: SignedType): Promise<Rig<Buffer>> {
  const trustConfig = kind === 'centre-key' || kind === 'trust-list' ? await continuityConfig() : null;
  const rig = await startLaneRig({ broker: true, ...(trustConfig ? { config: trustConfig.config } : {}) });
  const cont = trustConfig ? await continuity(rig, trustConfig.dir) : null;
  const link = rig.agent.link as GateLink;
  const inside = link as unknown as LinkInside;
  const deadline = Date.now() + 15_000;
  while (!link.connected) {
    if (Date.now() > deadline) throw new Error('the agent did not connect to the embedded broker within 15 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const client = inside.client!;
  const topic =
    kind === 'centre-key' ? siteTopic(BASE, RIG_SITE, 'centre/key') : kind === 'trust-list' ? siteTopic(BASE, RIG_SITE, 'centre/trust-list') :
    kind === 'colour-change' ? siteTopic(BASE, RIG_SITE, 'colour/change') : kind === 'colour-snapshot' ? siteTopic(BASE, RIG_SITE, 'colour/snapshot') : laneTopic(BASE, RIG_SITE, RIG_LANE, kind === 'command' ? 'command' : 'lookup/reply');

  // Observers: each calls through to the real method and only notes what it saw.
  let current: Observation = { security: [], called: false };
  const reportSecurity = inside.reportSecurity.bind(link);
  inside.reportSecurity = (t, k, detail) => {
    current.security.push(k);
    reportSecurity(t, k, detail);
  };
  const watch = <A extends unknown[], R>(target: object, name: string): void => {
    const original = (target as Record<string, (...args: A) => R>)[name]!.bind(target);
    (target as Record<string, unknown>)[name] = (...args: A): R => {
      current.called = true;
      try {
        const value = original(...args);
        if (value instanceof Promise) {
          current.pending = value.then(
            (v: unknown) => (current.returned = v),
            (e: unknown) => (current.error = e),
          );
        } else current.returned = value;
        return value;
      } catch (error) {
        current.error = error;
        throw error;
      }
    };
  };
  const lookup = inside.options.lookup!;
  if (kind === 'colour-change') watch(rig.agent.colourSync, 'acceptChange');
  if (kind === 'colour-snapshot') watch(rig.agent.colourSync, 'acceptSnapshot');
  if (kind === 'command') watch(inside.options.commands!, 'handle');
  if (kind === 'lookup-reply') watch(lookup, 'acceptReply');
  if (kind === 'centre-key' || kind === 'trust-list') watch(inside.options.centreTrust!, kind === 'centre-key' ? 'centre/key' : 'centre/trust-list');

  // Look-ups the gate is waiting on, so that replies can answer one.
  const openIds: string[] = [];
  const publish = inside.publish.bind(link);
  inside.publish = (leaf, payload, options) => {
    if (leaf === 'lookup/request') {
      openIds.push((payload as PayloadOf<'lookup/request'>).correlationId);
      if (openIds.length > 64) openIds.shift();
    }
    return publish(leaf, payload, options);
  };
  const keepAsking = (): void => {
    for (let i = openIds.length; i < 12; i++) void lookup.lookup('printed-code', SUBJECTS[i % SUBJECTS.length]!);
  };
  if (kind === 'lookup-reply') keepAsking();

  const stranger = await fuzzKey('stranger', 'CN=Not the centre, O=Elsewhere, C=CN');
  const centre = messageSigner(rig.centreKey);
  const signers = { centre, stranger: messageSigner(stranger), impostor: { ...messageSigner(stranger), kid: centre.kid }, next: cont?.nextSigners ?? [] };
  const counters: Counters = { seq: 0, version: 0, command: 0 };
  const header = { alg: 'ES256', kid: centre.kid.toString('base64url'), typ: kind };
  const seedPayloads = fc.sample(payloadArbitrary(kind, counters, openIds, rig, cont), { seed: 7, numRuns: 3 });
  const seeds = seedPayloads.map((p) => Buffer.from(jws(header, JSON.stringify(p), centre)));
  // A valid message of the kind, made when needed (a seed's time and seq go stale).
  const valid = (): Buffer => {
    if (cont && (kind === 'centre-key' || kind === 'trust-list')) return Buffer.from(jws(header, JSON.stringify(validContinuity(kind, cont).payload), centre));
    const now = Date.now();
    const payload =
      kind === 'colour-change'
        ? { type: kind, site: RIG_SITE, seq: (counters.seq = Math.max(counters.seq, rig.agent.colours.sync.seq ?? 0) + 1), issuedAt: now, changes: [{ sub: SUBJECTS[0], colour: 'green', effectiveAt: now }] }
        : kind === 'colour-snapshot'
          ? { type: kind, site: RIG_SITE, version: (counters.version = Math.max(counters.version, rig.agent.colours.sync.snapshotVersion ?? 0) + 1), seq: rig.agent.colours.sync.seq ?? 0, issuedAt: now, statuses: [] }
          : kind === 'command'
            ? { type: kind, id: `fuzz-seed-${++counters.command}-${randomUUID().slice(0, 8)}`, site: RIG_SITE, lane: RIG_LANE, issuedAt: now, action: 'release-hold' }
            : { type: kind, correlationId: openIds[openIds.length - 1] ?? randomUUID(), site: RIG_SITE, lane: RIG_LANE, issuedAt: now, colour: 'green' };
    return Buffer.from(jws(header, JSON.stringify(payload), centre));
  };
  const now = Date.now();
  const bigSeq = (field: 'seq' | 'version', value = 1e21): Buffer =>
    Buffer.from(
      jws(
        header,
        kind === 'colour-change'
          ? JSON.stringify({ type: kind, site: RIG_SITE, seq: value, issuedAt: now, changes: [{ sub: SUBJECTS[1], colour: 'red', effectiveAt: now }] })
          : JSON.stringify({ type: kind, site: RIG_SITE, version: field === 'version' ? value : 2 ** 40, seq: field === 'seq' ? value : 0, issuedAt: now, statuses: [] }),
        centre,
      ),
    );
  const regressions: Regression<Buffer>[] = [
    {
      name: `${kind}-null-protected-header`,
      why: 'protected header "null" (base64url bnVsbA), empty payload: refused as malformed, with a security event',
      input: Buffer.from('{"protected":"bnVsbA","payload":"","signature":"AA"}'),
    },
    {
      name: `${kind}-nested-arrays-2mb`,
      why: 'a 2 MB message of nested JSON arrays: refused, with a security event, in bounded time',
      input: Buffer.from(`${'['.repeat(MB)}${']'.repeat(MB)}`),
    },
  ];
  if (cont && kind === 'centre-key') {
    const own = validContinuity('centre-key', cont).payload;
    regressions.push({ name: 'centre-key-names-its-signer', why: 'an announcement whose next key is the key that signed it: refused (schema), the version held unchanged', input: Buffer.from(jws(header, JSON.stringify({ ...own, certificate: rig.centreKey.certificatePem }), centre)) });
    regressions.push({ name: 'centre-key-windows-reversed', why: 'an announcement whose previousUntil is before its activeFrom: refused (schema)', input: Buffer.from(jws(header, JSON.stringify({ ...own, previousUntil: (own.activeFrom as number) - 1 }), centre)) });
  }
  if (cont && kind === 'trust-list') {
    const list = validContinuity('trust-list', cont).payload;
    regressions.push({ name: 'trust-list-no-certificates', why: 'a newer trust list listing no issuer: refused (schema), the list in force kept', input: Buffer.from(jws(header, JSON.stringify({ ...list, certificates: [] }), centre)) });
    regressions.push({ name: 'trust-list-older', why: 'a trust list of version 0 below the one in force: refused', input: Buffer.from(jws(header, JSON.stringify({ ...list, version: 0 }), centre)) });
  }
  if (kind === 'colour-change') {
    regressions.push({ name: 'colour-change-seq-1e21', why: 'a centre-signed change with seq 1e21: refused (schema), the seq in force unchanged', input: bigSeq('seq') });
    regressions.push({ name: 'colour-change-seq-2^53', why: 'a centre-signed change with seq 2^53, past the safe integers: refused, or the next seq could not be told from it', input: bigSeq('seq', 2 ** 53) });
  }
  if (kind === 'colour-snapshot') {
    regressions.push({ name: 'colour-snapshot-seq-1e21', why: 'a centre-signed snapshot with seq 1e21: refused (schema)', input: bigSeq('seq') });
    regressions.push({ name: 'colour-snapshot-version-1e21', why: 'a centre-signed snapshot with version 1e21: refused (schema)', input: bigSeq('version') });
    regressions.push({ name: 'colour-snapshot-version-2^53', why: 'a centre-signed snapshot with version 2^53, past the safe integers: refused, or the next version could not be told from it', input: bigSeq('version', 2 ** 53) });
  }

  const run = async (payload: Buffer): Promise<Verdict> => {
    current = { security: [], called: false };
    // A seq or version that reached the edge of the safe integers (a case sent 2^53 - 1, rightly accepted) leaves
    // every message after it at or past the edge: start the sequence afresh, so that the cases go on meeting its checks.
    const edge = 2 ** 52;
    const sync0 = rig.agent.colours.sync;
    if ([sync0.seq, sync0.changeSeq, sync0.snapshotSeq, sync0.snapshotVersion, sync0.gapUpTo].some((v) => v !== null && v > edge)) {
      rig.agent.colours.setSync({ seq: null, changeSeq: null, snapshotSeq: null, snapshotVersion: null, gapUpTo: null });
      counters.seq = 0;
      counters.version = 0;
    }
    const before = { ...rig.agent.colours.sync };
    const heldBefore = cont ? (kind === 'centre-key' ? cont.keyVersion() : cont.listVersion()) : 0;
    const errorsBefore = rig.errorCount();
    if (kind === 'lookup-reply' && openIds.length < 6) keepAsking();
    try {
      client.emit('message', topic, payload, { topic, payload, qos: 1, retain: false, cmd: 'publish' });
    } catch (error) {
      return thrown(`the link's receive threw: ${describeError(error)}`);
    }
    if (current.pending) {
      let timer: NodeJS.Timeout | undefined;
      const settled = await Promise.race([current.pending.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, COMMAND_WAIT_MS, false)))]);
      clearTimeout(timer);
      if (!settled) return offShape(`the command handler did not settle within ${COMMAND_WAIT_MS} ms`);
      // The link's own handlers of the settled promise run first; one more turn for what they queue.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (cont && (kind === 'centre-key' || kind === 'trust-list')) {
      cont.restore();
      const problem = continuityProblem(kind, cont, heldBefore, payload, current.security.length > 0 || current.error !== undefined || !current.called);
      if (problem) return offShape(problem);
    }
    // A centre's set-config may change the log level: errors must stay visible.
    rig.logger.level = 'warn';
    const logged = rig.errors.slice(rig.errors.length - Math.min(rig.errors.length, rig.errorCount() - errorsBefore));
    if (logged.length > 0) return thrown(`logged as an internal error: ${logged[0]!.msg}${logged[0]!.err ? `: ${logged[0]!.err}` : ''}`);
    if (current.error !== undefined) {
      if (!(current.error instanceof MessageError)) return thrown(`the ${kind} handler threw ${describeError(current.error)}`);
      if (!(SECURITY_KINDS as readonly string[]).includes(current.error.code)) return offShape(`refused with an unknown kind ${current.error.code}`);
    }
    for (const k of current.security) if (!(SECURITY_KINDS as readonly string[]).includes(k)) return offShape(`security event of unknown kind ${k}`);
    if (current.security.length > 1) return offShape(`one message, ${current.security.length} security events (${current.security.join(', ')})`);
    const sync = rig.agent.colours.sync;
    for (const name of ['seq', 'changeSeq', 'snapshotSeq', 'snapshotVersion'] as const) {
      const value = sync[name];
      if (value !== null && !Number.isSafeInteger(value)) {
        // Put the sequence back, so that the cases after this one are not all judged against a stuck sequence.
        rig.agent.colours.setSync({ seq: before.seq, changeSeq: before.changeSeq, snapshotSeq: before.snapshotSeq, snapshotVersion: before.snapshotVersion });
        return offShape(`accepted: colour sync ${name} is now ${value}, beyond a safe integer (the next one cannot be told from it)`);
      }
    }
    if (current.security.length === 1) return ok(`refused: ${current.security[0]}`);
    if (current.error !== undefined) return offShape('refused by its handler, but no security event was reported');
    if (!current.called) {
      // Only an empty payload (a retained topic cleared) is dropped before its handler without a word.
      return payload.length === 0 ? ok('empty: dropped') : offShape('neither handled nor refused');
    }
    const problem = checkOutcome(kind, current.returned);
    if (problem) return offShape(problem);
    const r = current.returned as { kind?: string; ok?: boolean } | boolean | null;
    return ok(
      kind === 'centre-key' || kind === 'trust-list'
        ? `accepted: ${(kind === 'centre-key' ? cont!.keyVersion() : cont!.listVersion()) === heldBefore ? 'the one in force' : 'applied'}`
        : kind === 'colour-change' ? `accepted: ${(r as { kind: string }).kind}` : kind === 'colour-snapshot' ? (r === null ? 'accepted: same version' : 'accepted: applied') : kind === 'command' ? `accepted: ${(r as { ok: boolean }).ok ? 'done' : 'not done'}` : r ? 'accepted: answered' : 'accepted: late',
    );
  };

  return {
    seeds: [valid(), valid()],
    regressions,
    arbitrary: (passing) => messageArbitrary(kind, signers, payloadArbitrary(kind, counters, openIds, rig, cont), [...seeds, ...passing]),
    run,
    // The JSON, the signature check and the store: 50 ms, and 50 ms more per MB of message.
    boundMs: (payload) => 50 + (50 * payload.length) / MB,
    retime: false,
    encode: (payload) => payload,
    decode: (bytes) => Buffer.from(bytes),
    batchSize: 16,
    close: async () => {
      cont?.close();
      await rig.close();
    },
  };
}

function linkSurface(kind: SignedType): Surface<Buffer> {
  return {
    name: `link-${kind}`,
    covers: `${kind} messages through GateLink's receive (the MQTT client's 'message' event) of a real agent on an embedded broker: signed payloads with every field mutated, envelopes with a wrong header, key or signature, raw bytes`,
    shape: 'applied, with an outcome of its documented type, or refused with exactly one security event of SECURITY_KINDS; no internal error logged; colour seq and version safe integers',
    setup: () => setupLink(kind),
  };
}

export const linkSurfaces: Record<SignedType, Surface<Buffer>> = {
  'colour-change': linkSurface('colour-change'),
  'colour-snapshot': linkSurface('colour-snapshot'),
  command: linkSurface('command'),
  'lookup-reply': linkSurface('lookup-reply'),
  'centre-key': linkSurface('centre-key'),
  'trust-list': linkSurface('trust-list'),
};
