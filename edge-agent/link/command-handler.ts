/**
 * Commands from the centre (open, lock, release a hold, reload the issuer
 * trust list, change a config key): signed, for this lane only, fresh, and
 * run at most once. A refused command throws MessageError (the link
 * reports it as a security event) and gets no result; an accepted one always
 * gets a CommandResultMessage, ok false when the lane could not do it.
 *
 * Open, lock and release-hold may also be signed by an operator key the
 * centre's signed trust list delegates them to (credential/operators.ts),
 * within the operator's validity and for its actions only; the result's
 * signedBy names the operator ('centre' otherwise). A key in neither set is
 * unknown-key; an action the operator was not given is not-permitted; an
 * operator outside its validity is unknown-key, as an expired centre
 * certificate is.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { OperatorKeys, RESERVED_NAME, type Operator } from '../../protocol/trust/operators.js';
import { describeTrust, loadIssuerTrust, type IssuerTrust } from '../../protocol/trust/trust-list.js';
import type { TrustStore } from '../../protocol/trust/trust-store.js';
import type { CredentialVerifier } from '../credential/verifier.js';
import type { GateDatabase } from '../database/gate-database.js';
import type { CommandMessage, CommandResultMessage } from '../../protocol/contract.js';
import { MessageError } from '../../protocol/message-error.js';
import { jwsKid, openLeafMessageWithSigner } from '../../protocol/signed-message.js';

/** What a command acts on; the agent implements it over the lane and its config. */
export interface CommandTarget {
  /** Open the leaf once; false when the lane will not now (e.g. held, emergency). */
  open(): boolean;
  lock(): boolean;
  /** End a red-code hold; false when nobody is held. */
  releaseHold(): boolean;
  /** Reload the issuer certificates; resolves to a summary, throws when nothing was changed. */
  reloadTrust(): Promise<string> | string;
  /** Apply one config key (see components/config-keys.ts); resolves to a summary, throws on a refused key or value. */
  setConfig(key: string, value: unknown): Promise<string> | string;
}

export interface CommandHandlerOptions {
  /** The gate database (the journal's), where seen command ids are kept, by site and lane. */
  db: GateDatabase;
  /** Centre signing certificates; null refuses every command but an operator's. */
  keys: TrustStore | null;
  /** The operator keys of the trust list in force, read at each command (reload-trust replaces them); absent: none. */
  operators?: () => OperatorKeys | null | undefined;
  site: string;
  lane: string;
  /** A command issued longer ago than this, or this far ahead, is stale. */
  maxAgeSeconds: number;
  /** Epoch milliseconds. */
  now?: () => number;
  target: CommandTarget;
  logger: Logger;
  /** Larger messages are refused unread; a command is well under 1 KiB. */
  maxMessageBytes?: number;
}

const DEFAULT_MAX_COMMAND_BYTES = 16 * 1024;
/** signedBy of a command the centre's own key signed; no operator may be called so. */
export const CENTRE = RESERVED_NAME;
/** commandResult.detail's maxLength in the contract. */
const MAX_DETAIL = 2000;

export class CommandHandler {
  readonly #options: CommandHandlerOptions;
  readonly #now: () => number;
  readonly #windowMs: number;
  readonly #maxBytes: number;
  /** true when the id was new and is now recorded. */
  readonly #record: (id: string, issuedAt: number, now: number) => boolean;

  constructor(options: CommandHandlerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#windowMs = options.maxAgeSeconds * 1000;
    this.#maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_COMMAND_BYTES;
    const { db, site, lane } = options;
    const prune = db.prepare('DELETE FROM seen_commands WHERE site = ? AND lane = ? AND issued_at < ?');
    const insert = db.prepare(
      `INSERT INTO seen_commands (site, lane, id, issued_at, received_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (site, lane, id) DO NOTHING`,
    );
    // A row older than twice the window can go: its command would be refused as stale anyway.
    this.#record = db
      .transaction((id: string, issuedAt: number, now: number): boolean => {
        prune.run(site, lane, now - 2 * this.#windowMs);
        return insert.run(site, lane, id, issuedAt, now).changes === 1;
      }).immediate;
  }

  /** Check and run one command. Throws MessageError when it is refused. */
  async handle(raw: Buffer | string): Promise<CommandResultMessage> {
    const { site, lane, logger } = this.#options;
    const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
    if (size > this.#maxBytes) throw new MessageError('oversized', `command of ${size} bytes exceeds ${this.#maxBytes}`);
    const { command, operator } = this.#open(raw);
    const signedBy = operator ? operator.entry.name : CENTRE;
    if (command.site !== site || command.lane !== lane) {
      throw new MessageError('wrong-target', `command for ${command.site}/${command.lane} reached ${site}/${lane}`);
    }
    const now = this.#now();
    const age = now - command.issuedAt;
    if (age > this.#windowMs || -age > this.#windowMs) {
      const when = age > 0 ? `${Math.round(age / 1000)} s ago` : `${Math.round(-age / 1000)} s ahead`;
      throw new MessageError('stale', `command ${command.id} issued ${when}; accepted within ${this.#windowMs / 1000} s`);
    }
    if (operator) {
      const refusal = OperatorKeys.refusal(operator, command.action, now);
      if (refusal) throw new MessageError(refusal.kind === 'not-permitted' ? 'not-permitted' : 'unknown-key', `command ${command.id}: ${refusal.message}`);
    }
    let fresh: boolean;
    try {
      // Recorded before it runs: a crash mid-action must not let it run twice.
      fresh = this.#record(command.id, command.issuedAt, now);
    } catch (error) {
      // Not run: without the record a replay could not be refused. Not recorded either, so the centre may resend it.
      logger.error({ err: error, commandId: command.id, signedBy }, 'command not run: its id could not be recorded');
      return this.#result(command, signedBy, false, `not run: the gate could not record the command id (${(error as Error).message})`);
    }
    if (!fresh) throw new MessageError('replayed', `command ${command.id} was already received`);
    logger.info({ commandId: command.id, action: command.action, signedBy }, 'command accepted');

    let ok: boolean;
    let detail: string;
    try {
      ({ ok, detail } = await this.#run(command));
    } catch (error) {
      ok = false;
      detail = error instanceof Error ? error.message : String(error);
    }
    logger.info({ commandId: command.id, action: command.action, signedBy, ok, detail }, 'command run');
    return this.#result(command, signedBy, ok, detail);
  }

  /** Verified by a centre key, or by an operator key of the list in force (then `operator` says whose). */
  #open(raw: Buffer | string): { command: CommandMessage; operator?: Operator } {
    const { keys } = this.#options;
    const operators = this.#options.operators?.() ?? OperatorKeys.none;
    const kid = operators.size > 0 ? jwsKid(raw) : null;
    // A kid the centre's keys hold is the centre's, even if an operator certificate shared it.
    if (kid && operators.store.lookup(kid).length > 0 && (keys?.lookup(kid).length ?? 0) === 0) {
      const { payload, signer } = openLeafMessageWithSigner(raw, 'command', operators.store, 'operator');
      const operator = operators.operatorOf(signer);
      if (!operator) throw new MessageError('unknown-key', 'an operator key without its trust list entry');
      return { command: payload, operator };
    }
    return { command: openLeafMessageWithSigner(raw, 'command', keys).payload };
  }

  async #run(command: CommandMessage): Promise<{ ok: boolean; detail: string }> {
    const { target } = this.#options;
    const done = (ok: boolean, yes: string, no: string) => ({ ok, detail: ok ? yes : no });
    switch (command.action) {
      case 'open':
        return done(target.open(), 'opened', 'the lane did not open in its current state');
      case 'lock':
        return done(target.lock(), 'locked', 'the lane did not lock in its current state');
      case 'release-hold':
        return done(target.releaseHold(), 'hold released', 'no hold to release');
      case 'reload-trust':
        return { ok: true, detail: await target.reloadTrust() };
      case 'set-config':
        if (command.key === undefined || command.value === undefined) {
          return { ok: false, detail: 'set-config needs a key and a value' };
        }
        return { ok: true, detail: await target.setConfig(command.key, command.value) };
    }
  }

  #result(command: CommandMessage, signedBy: string, ok: boolean, detail: string): CommandResultMessage {
    const { site, lane } = this.#options;
    return {
      id: randomUUID(),
      commandId: command.id,
      time: new Date(this.#now()).toISOString(),
      site,
      lane,
      action: command.action,
      ok,
      detail: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail,
      signedBy,
    };
  }
}

/**
 * Load the issuer certificates again (a certificate file or folder, or a
 * signed trust list, which must be newer than the one in force) and swap them
 * into the verifier. Throws, changing nothing, when the new store cannot be
 * loaded, is empty, or is a list that is refused.
 */
export function reloadTrustStore(verifier: Pick<CredentialVerifier, 'replaceTrust'>, source: string | IssuerTrust): string {
  const loaded = typeof source === 'string' ? loadIssuerTrust(source, { centreKeys: null, site: '' }) : source.reload();
  verifier.replaceTrust(loaded.store);
  return describeTrust(loaded);
}
