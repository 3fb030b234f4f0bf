/**
 * The issuer certificates the gate trusts, from where credentials.trust
 * points: a PEM or DER file or a folder of them (trusted as they are: the
 * gate's own disk), or the signed trust list `gate-provision export-trust`
 * writes (docs/provisioning.md, "The signed trust list"). A file is taken as
 * a signed list by its content (a JSON object), whatever its name.
 *
 * A signed list is taken only when it verifies with a centre key
 * (mqtt.centreKeys), is of kind "trust-list", names the gate's site, holds at
 * least one certificate, and is not older than the list the gate has
 * loaded: at start its version must be at least the one kept in the journal
 * file, and a reload must bring a higher one, so that an old list replayed
 * to the gate (one that still trusted a removed issuer) is refused.
 *
 * The centre may also push the list (retained, on `<base>/<site>/centre/trust-list`,
 * docs/keys.md): applyPushed takes it when its version is above the one in
 * force and keeps it in the gate database, so that a restart keeps it even
 * when the file is older; only a newer signed file takes over from it.
 *
 * A list the gate accepted earlier stays readable after the centre key that
 * signed it retired (a rollover): at start, the list of the version in force
 * opens with any centre key the gate ever trusted; a newer one, and every
 * list from the network, needs a key trusted now.
 *
 * The list may also delegate commands to operator keys (
 * credential/operators.ts): they come and go with the list, so the same
 * rollback protection keeps a removed operator out.
 */
import { readFileSync, statSync } from 'node:fs';
import { MAX_EPOCH_MS, type TrustListMessage } from '../contract.js';
import { isSecurityRefusal, MessageError } from '../message-error.js';
import { openJws } from '../signed-message.js';
import { OperatorKeys, parseOperators } from './operators.js';
import { TrustError, type TrustListErrorCode } from './errors.js';
import { TrustStore } from './trust-store.js';
import { CentreKeys } from './centre-keys.js';

export const TRUST_LIST_TYP = 'trust-list';

/** Where a list the centre pushed came from, in errors and logs. */
const PUSHED = 'the trust list the centre pushed';

/**
 * The payload of a signed trust list (gate-provision export-trust writes it;
 * the contract's trustList): version grows by one per change of the list,
 * certificates are the issuers' in PEM, operators the keys the centre
 * delegates commands to (credential/operators.ts; absent: none).
 */
export type TrustListPayload = TrustListMessage;

/** True when the bytes are a JSON object (what a signed list is), not a certificate in PEM or DER. */
export function looksLikeSignedList(bytes: Buffer): boolean {
  // DER starts with 0x30 (SEQUENCE), PEM with "-----BEGIN"; a JWS in the flattened JSON serialization with "{".
  const text = bytes.subarray(0, 64).toString('utf8').replace(/^\uFEFF/, '').trimStart();
  return text.startsWith('{');
}

export interface TrustListCheck {
  /** The centre's signing certificates; null: a signed list cannot be checked and is refused. */
  centreKeys: TrustStore | null;
  /** The gate's site: the list must name it. */
  site: string;
  /** The version must be above this (a reload: the list the gate holds). */
  above?: number | null;
  /** The version must be at least this (a start: the version kept in the journal file). */
  atLeast?: number | null;
  /**
   * Keys that signed lists the gate accepted earlier (centre keys since
   * retired): a list signed by one of them opens only at a version up to
   * formerUpTo, the one already accepted.
   */
  formerKeys?: TrustStore | null;
  formerUpTo?: number | null;
}

/**
 * Verify a signed trust list and build its store. `source` names the file in
 * errors. Throws TrustError naming the file and what is wrong.
 */
export function openTrustList(bytes: Buffer, source: string, check: TrustListCheck): { store: TrustStore; list: TrustListPayload; operators: OperatorKeys } {
  const refuse = (code: TrustListErrorCode, why: string): TrustError => new TrustError(code, `trust list ${source}: ${why}`);
  if (!check.centreKeys || check.centreKeys.size === 0) {
    throw refuse('no-centre-keys', 'a signed trust list is checked with the centre\'s certificate: set mqtt.centreKeys');
  }
  let payload: unknown;
  try {
    // An editor's BOM is not part of the JSON.
    const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
    payload = openWithFormerKeys(text, check);
  } catch (error) {
    if (!isSecurityRefusal(error)) throw error;
    const code: TrustListErrorCode =
      error.code === 'bad-signature' || error.code === 'unknown-key' || error.code === 'wrong-type' ? error.code : 'malformed';
    throw refuse(code, `refused: ${error.message}`);
  }
  const list = payload as Partial<TrustListPayload> | null;
  if (typeof list !== 'object' || list === null || Array.isArray(list)) throw refuse('malformed', 'the payload is not a JSON object');
  if (list.type !== TRUST_LIST_TYP) throw refuse('wrong-type', `payload type ${JSON.stringify(list.type)}, expected "${TRUST_LIST_TYP}"`);
  if (typeof list.site !== 'string') throw refuse('malformed', 'the payload names no site');
  if (!Number.isSafeInteger(list.version) || (list.version as number) < 1) throw refuse('malformed', `version ${JSON.stringify(list.version)} is not a positive integer`);
  // Whole milliseconds the journal's INTEGER column holds, up to the end of year 9999 as every time on the wire.
  if (!Number.isSafeInteger(list.issuedAt) || (list.issuedAt as number) < 0 || (list.issuedAt as number) > MAX_EPOCH_MS) {
    throw refuse('malformed', `issuedAt ${JSON.stringify(list.issuedAt)} is not a time in whole milliseconds from 1970 to the end of year 9999`);
  }
  if (!Array.isArray(list.certificates) || !list.certificates.every((c) => typeof c === 'string')) {
    throw refuse('malformed', 'certificates is not a list of PEM texts');
  }
  const version = list.version as number;
  if (former.has(payload as object) && (check.formerUpTo == null || version > check.formerUpTo)) {
    throw refuse('unknown-key', `version ${version} is signed by a centre key that has retired; only the list already in force (version ${check.formerUpTo ?? 'none'}) may be`);
  }
  if (list.site !== check.site) throw refuse('wrong-site', `made for site ${JSON.stringify(list.site)}, this gate is of site ${JSON.stringify(check.site)}`);
  if (check.above != null && version <= check.above) {
    throw refuse('not-newer', `version ${version} is not newer than version ${check.above} the gate holds (an old list replayed?)`);
  }
  if (check.atLeast != null && version < check.atLeast) {
    throw refuse('not-newer', `version ${version} is older than version ${check.atLeast} this gate has already loaded (an old list replayed?)`);
  }
  // An empty list would make every code fail as untrusted: most likely a mistake, never what a site means.
  if (list.certificates.length === 0) throw refuse('empty-list', `version ${version} lists no issuer certificate: the gate would refuse every code`);
  let operators: OperatorKeys;
  try {
    const entries = parseOperators(list.operators);
    operators = entries.length === 0 ? OperatorKeys.none : new OperatorKeys(entries, `${source} (version ${version})`);
  } catch (error) {
    throw refuse('malformed', (error as Error).message);
  }
  const store = new TrustStore();
  list.certificates.forEach((pem, index) => {
    try {
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('not a PEM certificate');
      store.addEncoded(pem, `${source} (version ${version}, certificate ${index + 1})`);
    } catch (error) {
      throw refuse('malformed', `certificate ${index + 1} cannot be read: ${(error as Error).message}`);
    }
  });
  return { store, list: list as TrustListPayload, operators };
}

/** Payloads opened with a former key only (openWithFormerKeys). */
const former = new WeakSet<object>();

function openWithFormerKeys(text: string, check: TrustListCheck): unknown {
  try {
    return openJws(text, TRUST_LIST_TYP, check.centreKeys);
  } catch (error) {
    if (!(error instanceof MessageError) || error.code !== 'unknown-key' || !check.formerKeys) throw error;
    const payload = openJws(text, TRUST_LIST_TYP, check.formerKeys);
    if (typeof payload === 'object' && payload !== null) former.add(payload);
    return payload;
  }
}

/** What credentials.trust gave: the store, and the list's version when it was a signed list. */
export interface LoadedTrust {
  store: TrustStore;
  /** null: certificates from a PEM or DER file or folder, which carry no version. */
  list: TrustListPayload | null;
  path: string;
  /** The operator keys the signed list delegates commands to; none with plain certificates. */
  operators: OperatorKeys;
}

/**
 * Load credentials.trust: a signed list (recognised by its content) or a
 * certificate file or folder. Throws TrustError.
 */
export function loadIssuerTrust(path: string, check: TrustListCheck): LoadedTrust {
  let bytes: Buffer | null = null;
  try {
    if (statSync(path).isFile()) bytes = readFileSync(path);
  } catch (error) {
    throw new TrustError('unreadable', `trust store ${path} cannot be read: ${(error as Error).message}`);
  }
  if (bytes && looksLikeSignedList(bytes)) {
    const { store, list, operators } = openTrustList(bytes, path, check);
    return { store, list, path, operators };
  }
  return { store: TrustStore.load(path), list: null, path, operators: OperatorKeys.none };
}

/**
 * Where the version of the signed list each lane has loaded is kept across
 * restarts, so that a restart cannot be fed an older list (the gate keeps it
 * in its database). `record` never lowers it.
 */
export interface TrustListVersionStore {
  get(site: string, lane: string): number | null;
  /** `pushed`: the JWS as the centre pushed it, kept to load at the next start; absent: the list came from the file. */
  record(site: string, lane: string, list: TrustListPayload, pushed?: string): void;
  /** The list the centre pushed that is in force, if the last one recorded was pushed. */
  pushed?(site: string, lane: string): string | null;
}

export interface IssuerTrustOptions {
  path: string;
  centreKeys: TrustStore | null;
  site: string;
  lane: string;
  /** Where the loaded version is kept across restarts; without it, in memory only. */
  versions?: TrustListVersionStore;
}

/**
 * credentials.trust for one lane: loaded at start, reloaded by the centre's
 * reload-trust command, with the version of the signed list in force kept in
 * memory and in the journal file.
 */
export class IssuerTrust {
  #version: number | null = null;
  #operators: OperatorKeys = OperatorKeys.none;

  constructor(private readonly options: IssuerTrustOptions) {}

  /** The version of the signed list in force; null before one is loaded or with plain certificates. */
  get version(): number | null {
    return this.#version;
  }

  /** The operator keys the list in force delegates commands to (replaced by each load and reload). */
  get operators(): OperatorKeys {
    return this.#operators;
  }

  /**
   * At start: a signed list must be at least the version the lane last
   * loaded. A list the centre pushed stays in force unless the file holds a
   * newer signed one.
   */
  load(): LoadedTrust {
    const { path, centreKeys, site, lane, versions } = this.options;
    const stored = versions?.get(site, lane) ?? null;
    const formerKeys = centreKeys instanceof CentreKeys ? centreKeys.everTrusted() : null;
    const pushed = versions?.pushed?.(site, lane) ?? null;
    if (pushed !== null) {
      const kept = openTrustList(Buffer.from(pushed), PUSHED, { centreKeys, site, atLeast: stored, formerKeys, formerUpTo: stored });
      let loaded: LoadedTrust = { ...kept, path: PUSHED };
      try {
        loaded = loadIssuerTrust(path, { centreKeys, site, above: kept.list.version });
        if (!loaded.list) loaded = { ...kept, path: PUSHED }; // plain certificates: the pushed list stays
      } catch (error) {
        if (!(error instanceof TrustError)) throw error; // the file is older (or unreadable): the pushed list stays
      }
      this.#accept(loaded, loaded.path === PUSHED ? pushed : undefined);
      return loaded;
    }
    const loaded = loadIssuerTrust(path, { centreKeys, site, atLeast: stored, formerKeys, formerUpTo: stored });
    this.#accept(loaded);
    return loaded;
  }

  /**
   * A list the centre pushed (the JWS bytes): taken when its version is above
   * the one in force, kept in the gate database. null: the version in force
   * again (the retained list delivered on each connect). Throws TrustError
   * (not-newer for an older one), changing nothing.
   */
  applyPushed(bytes: Buffer): LoadedTrust | null {
    const { centreKeys, site } = this.options;
    const held = this.#held();
    const opened = openTrustList(bytes, PUSHED, { centreKeys, site, above: held === null ? null : held - 1 });
    if (opened.list.version === held) return null;
    const loaded: LoadedTrust = { ...opened, path: PUSHED };
    this.#accept(loaded, bytes.toString('utf8').replace(/^\uFEFF/, ''));
    return loaded;
  }

  /** A reload (reload-trust): a signed list must be newer than the one in force. */
  reload(): LoadedTrust {
    const { path, centreKeys, site } = this.options;
    const loaded = loadIssuerTrust(path, { centreKeys, site, above: this.#held() });
    this.#accept(loaded);
    return loaded;
  }

  /** The version in force or kept, the higher. */
  #held(): number | null {
    const { site, lane, versions } = this.options;
    const stored = versions?.get(site, lane) ?? null;
    return this.#version === null ? stored : stored === null ? this.#version : Math.max(stored, this.#version);
  }

  #accept(loaded: LoadedTrust, pushed?: string): void {
    // Recorded first: a list whose version cannot be kept must not be put in force.
    if (loaded.list) this.options.versions?.record(this.options.site, this.options.lane, loaded.list, pushed);
    this.#operators = loaded.operators;
    if (!loaded.list) return;
    this.#version = loaded.list.version;
  }
}

/** One line for logs and command results. */
export function describeTrust(loaded: LoadedTrust): string {
  const n = loaded.store.size;
  const count = `${n} issuer certificate${n === 1 ? '' : 's'} from ${loaded.path}`;
  const operators = loaded.operators.size === 0 ? '' : `, ${loaded.operators.size} operator key${loaded.operators.size === 1 ? '' : 's'} (${loaded.operators.names.join(', ')})`;
  return loaded.list ? `${count} (signed trust list version ${loaded.list.version} of site ${loaded.list.site}${operators})` : count;
}
