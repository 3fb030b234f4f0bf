/**
 * The two site leaves the centre pushes about trust itself, for the link's
 * surfaces (link.ts): the centre's key announcement (`centre/key`,
 * edge-agent/credential/centre-key-rollover.ts) and the signed issuer trust
 * list (`centre/trust-list`, edge-agent/link/centre-trust.ts). Here: the
 * rig's extra config (a signed trust list file the lane starts from), the
 * payloads (versions next to the one held, certificates of keys the rig
 * holds, its own signer's, garbage; windows in and out of order), and what an
 * accepted one must have been (checked from the gate's database and the
 * trust in force, not from what the handler says).
 *
 * An accepted announcement retires the rig's centre key at its
 * previousUntil; after each case the rig trusts its centre key again without
 * an end, so that the cases after it are still signed by a trusted key.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { CentreKeys } from '../../protocol/trust/centre-keys.js';
import { messageSigner, signJws, type MessageSigner } from '../../protocol/signed-message.js';
import type { SignerKeyPair } from '../../protocol/trust/signer-certificate.js';
import { messy, usually, weird } from './json-arbitraries.js';
import { fuzzKey } from './keys.js';
import { RIG_SITE, type LaneRig } from './lane-rig.js';

export type ContinuityType = 'centre-key' | 'trust-list';

const HOUR = 3_600_000;

export interface Continuity {
  /** Keys an announcement may name as next; a message signed by one is trusted once its announcement is in force. */
  next: SignerKeyPair[];
  nextSigners: MessageSigner[];
  issuerPem: string;
  /** The last announcement's version the gate database holds; 0: none. */
  keyVersion(): number;
  /** The trust list version in force. */
  listVersion(): number;
  /** Trusts the rig's centre key again with no end (an accepted announcement may have retired it). */
  restore(): void;
  close(): void;
}

/** The lane's config for a continuity surface: credentials.trust, a signed list (version 1) the centre key signed. */
export async function continuityConfig(): Promise<{ config: Record<string, unknown>; dir: string }> {
  const [centre, issuer] = await Promise.all([fuzzKey('centre', 'CN=Fuzz centre, O=Fuzz, C=CN'), fuzzKey('issuer', 'CN=Fuzz issuer, O=Fuzz, C=CN')]);
  const dir = mkdtempSync(join(tmpdir(), 'gate-fuzz-trust-'));
  const path = join(dir, 'trust-list.json');
  writeFileSync(path, JSON.stringify(signJws('trust-list', { type: 'trust-list', site: RIG_SITE, version: 1, issuedAt: Date.now(), certificates: [issuer.certificatePem] }, messageSigner(centre))));
  return { config: { credentials: { trust: path } }, dir };
}

export async function continuity(rig: LaneRig, configDir: string): Promise<Continuity> {
  const next = await Promise.all(['next-a', 'next-b'].map((name) => fuzzKey(name, `CN=Fuzz centre ${name}, O=Fuzz, C=CN`)));
  const keys = (rig.agent.colourSync as unknown as { options: { keys: CentreKeys } }).options.keys;
  const db = new Database(join(rig.dir, 'journal.db'), { readonly: true, fileMustExist: true });
  const announced = db.prepare('SELECT version FROM centre_key_announcement WHERE site = ?');
  return {
    next,
    nextSigners: next.map((k) => messageSigner(k)),
    issuerPem: rig.issuer.certificatePem,
    keyVersion: () => (announced.get(RIG_SITE) as { version: number } | undefined)?.version ?? 0,
    listVersion: () => rig.agent.issuerTrust?.version ?? 0,
    restore: () => void keys.trust(rig.centreKey.certificate, { from: null, until: null }, 'fuzz centre'),
    close: () => {
      db.close();
      rmSync(configDir, { recursive: true, force: true });
    },
  };
}

const der = (pem: string): string => pem.replace(/-----[^-]+-----|\s/g, '');

export function continuityPayload(kind: ContinuityType, c: Continuity, rig: LaneRig, time: fc.Arbitrary<unknown>, site: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const lazy = <T>(make: () => T): fc.Arbitrary<T> => fc.constant(null).map(make);
  const version = (held: () => number): fc.Arbitrary<unknown> =>
    fc.oneof(
      { weight: 6, arbitrary: lazy(() => held() + 1) },
      { weight: 2, arbitrary: lazy(() => held()) },
      { weight: 1, arbitrary: lazy(() => Math.max(0, held() - 1)) },
      { weight: 1, arbitrary: fc.integer({ min: 2, max: 50 }).map((gap) => held() + gap) },
      { weight: 2, arbitrary: fc.oneof(fc.constantFrom(0, -1, 1.5, 2 ** 53, 1e21), weird) },
    );
  if (kind === 'centre-key') {
    const certificate = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...c.next.map((k) => k.certificatePem), ...c.next.map((k) => der(k.certificatePem))) },
      { weight: 1, arbitrary: fc.constantFrom(rig.centreKey.certificatePem, c.issuerPem, `${'A'.repeat(64)}`, `-----BEGIN CERTIFICATE-----\n${'A'.repeat(80)}\n-----END CERTIFICATE-----\n`, 'x'.repeat(16_385)) },
      { weight: 1, arbitrary: weird },
    );
    const window = fc.record({ from: fc.integer({ min: -HOUR, max: HOUR }), span: fc.oneof(fc.integer({ min: 0, max: 24 * HOUR }), fc.constantFrom(-1, 400 * 24 * HOUR, 100 * 365 * 24 * HOUR)) });
    return fc.tuple(window, fc.nat({ max: 9 })).chain(([w, n]) => {
      const activeFrom = Date.now() + w.from;
      return messy(
        fc.record({
          type: usually(fc.constant('centre-key')),
          site,
          version: version(c.keyVersion),
          issuedAt: time,
          certificate,
          activeFrom: n === 0 ? usually(fc.constant(activeFrom), fc.constantFrom(-1, 1e21, 253_402_300_800_000)) : fc.constant(activeFrom),
          previousUntil: n === 1 ? usually(fc.constant(activeFrom + w.span), fc.constantFrom(0, 2 ** 53, '1')) : fc.constant(activeFrom + w.span),
        }),
      );
    });
  }
  const certificates = fc.oneof(
    { weight: 6, arbitrary: fc.constant([c.issuerPem]) },
    { weight: 1, arbitrary: fc.constantFrom([], [c.issuerPem, c.issuerPem], [der(c.issuerPem)], ['not a certificate'], [c.issuerPem, 1], [`-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----`]) },
    { weight: 1, arbitrary: weird },
  );
  const operators = fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom([], [{ name: 'op-1', certificate: c.issuerPem, actions: ['open'], notBefore: Date.now() - HOUR, notAfter: Date.now() + HOUR }], [{ name: 'op 1' }]) },
    { weight: 1, arbitrary: weird },
  );
  return fc.record({ type: usually(fc.constant('trust-list')), site, version: version(c.listVersion), issuedAt: time, certificates, operators }).chain((p) => {
    const { operators: ops, ...rest } = p;
    return messy(fc.constant(ops === undefined ? rest : p));
  });
}

/** A valid message of the kind, now: the next version, a next key trusted within the hour for a day. */
export function validContinuity(kind: ContinuityType, c: Continuity): { typ: string; payload: Record<string, unknown> } {
  const now = Date.now();
  if (kind === 'centre-key') {
    return { typ: 'centre-key', payload: { type: 'centre-key', site: RIG_SITE, version: c.keyVersion() + 1, issuedAt: now, certificate: c.next[0]!.certificatePem, activeFrom: now + HOUR, previousUntil: now + 24 * HOUR } };
  }
  return { typ: 'trust-list', payload: { type: 'trust-list', site: RIG_SITE, version: c.listVersion() + 1, issuedAt: now, certificates: [c.issuerPem] } };
}

/**
 * After a case: what an accepted message must have been (its version above the one held before, its site the
 * gate's, an announcement's windows in order and its next key not its signer), or why the state moved when
 * nothing was accepted; null when all is as it should be.
 */
export function continuityProblem(kind: ContinuityType, c: Continuity, before: number, raw: Buffer, refused: boolean): string | null {
  const after = kind === 'centre-key' ? c.keyVersion() : c.listVersion();
  if (refused) return after === before ? null : `refused, yet the version held went from ${before} to ${after}`;
  if (after === before) return null; // the one in force, delivered again
  if (after < before) return `accepted, and the version held went back from ${before} to ${after}`;
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(Buffer.from((JSON.parse(raw.toString('utf8').replace(/^\uFEFF/, '')) as { payload: string }).payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return `the version held went from ${before} to ${after} on a message whose payload cannot be read`;
  }
  if (payload.version !== after) return `accepted version ${String(payload.version)}, the gate holds ${after}`;
  if (payload.site !== RIG_SITE) return `accepted for site ${JSON.stringify(payload.site)}`;
  if (kind === 'centre-key' && !((payload.previousUntil as number) >= (payload.activeFrom as number))) return `accepted an announcement whose previousUntil ${String(payload.previousUntil)} is before activeFrom ${String(payload.activeFrom)}`;
  if (kind === 'trust-list' && (!Array.isArray(payload.certificates) || payload.certificates.length === 0)) return 'accepted a trust list without certificates';
  return null;
}
