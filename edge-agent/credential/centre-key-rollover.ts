/**
 * The centre's key rollover at the gate (docs/keys.md): an announcement on
 * `<base>/<site>/centre/key`, signed by a centre key the gate trusts now,
 * names the next key, from when it is trusted (activeFrom) and until when the
 * key that signed the announcement still is (previousUntil). It is kept in
 * the gate database, so a restart keeps both windows, and applied to the
 * CentreKeys every check of a centre message reads: after previousUntil the
 * old key's messages are unknown-key.
 *
 * Refusals are MessageError, reported by the link as security events:
 * schema (a certificate that cannot be read, windows in the wrong order, the
 * signer announcing itself), wrong-target (another site), stale (issued in
 * the future), replayed (a version below the one accepted, or the same
 * version with other content). The retained announcement delivered again
 * (on every reconnect, also once the key that signed it retired) is dropped
 * quietly: the very bytes accepted before, known by their digest.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type SqliteDatabase from 'better-sqlite3';
import type { CentreKeyMessage } from '../../protocol/contract.js';
import { MessageError } from '../../protocol/message-error.js';
import { openLeafMessageWithSigner, parseJws } from '../../protocol/signed-message.js';
import type { CentreKeys } from '../../protocol/trust/centre-keys.js';
import { kidOf } from '../../protocol/trust/trust-store.js';
import type { GateDatabase } from '../database/gate-database.js';

export interface CentreKeyRolloverOptions {
  db: GateDatabase;
  site: string;
  keys: CentreKeys;
  logger: Logger;
  /** Epoch ms; injected by tests. */
  now?: () => number;
  /** How far in the future an issuedAt may lie; default 60 s, as the colour sync's. */
  clockSkewMs?: number;
}

/** applied: the windows changed; duplicate: the announcement in force, delivered again. */
export type RolloverOutcome =
  | {
      kind: 'applied';
      version: number;
      /** The next key's kid (base64url). */
      kid: string;
      activeFrom: number;
      previousUntil: number;
    }
  | { kind: 'duplicate'; version: number };

interface KeyRow {
  certificate: string;
  active_from: number | null;
  retired_at: number | null;
}

export class CentreKeyRollover {
  readonly #options: CentreKeyRolloverOptions;
  readonly #now: () => number;
  readonly #announcement: SqliteDatabase.Statement;
  readonly #store: (message: CentreKeyMessage, digest: string, next: X509Certificate, signer: X509Certificate, now: number) => void;

  constructor(options: CentreKeyRolloverOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const { db, site, keys } = options;
    this.#announcement = db.prepare('SELECT version, digest FROM centre_key_announcement WHERE site = ?');
    // The next key: trusted from activeFrom with no end, even if an earlier announcement had retired it.
    const upsertNext = db.prepare(
      `INSERT INTO centre_keys (site, fingerprint, certificate, active_from, retired_at) VALUES (?, ?, ?, ?, NULL)
       ON CONFLICT (site, fingerprint) DO UPDATE SET active_from = excluded.active_from, retired_at = NULL`,
    );
    // The key that signed: its start stays what it was.
    const upsertRetiring = db.prepare(
      `INSERT INTO centre_keys (site, fingerprint, certificate, active_from, retired_at) VALUES (?, ?, ?, NULL, ?)
       ON CONFLICT (site, fingerprint) DO UPDATE SET retired_at = excluded.retired_at`,
    );
    const recordAnnouncement = db.prepare(
      `INSERT INTO centre_key_announcement (site, version, digest, issued_at, accepted_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (site) DO UPDATE SET version = excluded.version, digest = excluded.digest, issued_at = excluded.issued_at, accepted_at = excluded.accepted_at`,
    );
    // Both keys' windows and the version commit together: a crash never leaves the old key retired without the next one trusted.
    this.#store = db.transaction((message: CentreKeyMessage, digest: string, next: X509Certificate, signer: X509Certificate, now: number) => {
      upsertNext.run(site, next.fingerprint256, next.toString(), message.activeFrom);
      upsertRetiring.run(site, signer.fingerprint256, signer.toString(), message.previousUntil);
      recordAnnouncement.run(site, message.version, digest, message.issuedAt, now);
    }).immediate;
    // What earlier announcements said, over the keys the gate was given.
    const rows = db.prepare('SELECT certificate, active_from, retired_at FROM centre_keys WHERE site = ?').all(site) as KeyRow[];
    for (const row of rows) {
      keys.trust(new X509Certificate(row.certificate), { from: row.active_from, until: row.retired_at }, 'announced (gate database)');
    }
  }

  /** The version of the last announcement accepted; null: none yet. */
  get version(): number | null {
    return (this.#announcement.get(this.#options.site) as { version: number } | undefined)?.version ?? null;
  }

  /** A message from `<base>/<site>/centre/key`. Throws MessageError when it is refused. */
  accept(raw: Buffer | string): RolloverOutcome {
    const { site, keys, logger } = this.#options;
    const held = this.#announcement.get(site) as { version: number; digest: string } | undefined;
    const digest = envelopeDigest(raw);
    if (held && digest === held.digest) return { kind: 'duplicate', version: held.version };
    const { payload: message, signer } = openLeafMessageWithSigner(raw, 'centre/key', keys);
    if (message.site !== site) throw new MessageError('wrong-target', `centre key announcement for site ${JSON.stringify(message.site)}, this gate is in ${JSON.stringify(site)}`);
    const next = readCertificate(message.certificate);
    const kid = kidOf(next.raw).toString('base64url');
    const outcome: RolloverOutcome = { kind: 'applied', version: message.version, kid, activeFrom: message.activeFrom, previousUntil: message.previousUntil };
    if (held && message.version <= held.version) {
      throw new MessageError('replayed', `centre key announcement version ${message.version}: version ${held.version} is already accepted`);
    }
    const now = this.#now();
    const skew = this.#options.clockSkewMs ?? 60_000;
    if (message.issuedAt > now + skew) throw new MessageError('stale', `centre key announcement issued ${message.issuedAt - now} ms in the future`);
    if (message.previousUntil < message.activeFrom) {
      throw new MessageError('schema', `centre key announcement: previousUntil ${message.previousUntil} is before activeFrom ${message.activeFrom}`);
    }
    if (next.fingerprint256 === signer.certificate.fingerprint256) throw new MessageError('schema', 'centre key announcement: the next key is the key that signed it');
    if (Date.parse(next.validTo) < message.previousUntil) {
      throw new MessageError('schema', `centre key announcement: the next certificate ends (${next.validTo}) before the old key's overlap does`);
    }
    this.#store(message, digest, next, signer.certificate, now);
    keys.trust(next, { from: message.activeFrom, until: null });
    keys.trust(signer.certificate, { ...keys.windowOf(signer.certificate), until: message.previousUntil }, signer.source);
    logger.warn(
      { version: message.version, nextKid: kid, activeFrom: new Date(message.activeFrom).toISOString(), previousUntil: new Date(message.previousUntil).toISOString(), signedBy: signer.kid.toString('base64url') },
      'centre key rollover announced: the next key is trusted from activeFrom, the current one until previousUntil',
    );
    return outcome;
  }
}

/** The signed bytes and signature of a JWS (the same message whatever its whitespace); '' when it is no JWS at all. */
function envelopeDigest(raw: Buffer | string): string {
  try {
    const { envelope } = parseJws(raw);
    return createHash('sha256').update(`${envelope.protected}.${envelope.payload}.${envelope.signature}`).digest('base64url');
  } catch (error) {
    if (error instanceof MessageError) return '';
    throw error;
  }
}

/** A certificate in PEM, or its DER in base64; anything else is 'schema'. */
function readCertificate(text: string): X509Certificate {
  try {
    return new X509Certificate(text.includes('-----BEGIN') ? text : Buffer.from(text, 'base64'));
  } catch (error) {
    throw new MessageError('schema', `centre key announcement: certificate cannot be read: ${(error as Error).message}`, { cause: error });
  }
}
