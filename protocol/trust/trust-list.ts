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
 * The list may also delegate commands to operator keys (
 * credential/operators.ts): they come and go with the list, so the same
 * rollback protection keeps a removed operator out.
 */
import { readFileSync, statSync } from 'node:fs';
import { MAX_EPOCH_MS } from '../contract.js';
import { isSecurityRefusal } from '../message-error.js';
import { openJws } from '../signed-message.js';
import { OperatorKeys, parseOperators, type OperatorEntry } from './operators.js';
import { TrustError, type TrustListErrorCode } from './errors.js';
import { TrustStore } from './trust-store.js';

export const TRUST_LIST_TYP = 'trust-list';

/** The payload of a signed trust list (gate-provision export-trust writes it). */
export interface TrustListPayload {
  type: typeof TRUST_LIST_TYP;
  site: string;
  /** Grows by one per change of the list. */
  version: number;
  /** Epoch ms, as the other signed payloads. */
  issuedAt: number;
  /** The issuers' signer certificates in PEM. */
  certificates: string[];
  /** Operator keys the centre delegates commands to (credential/operators.ts); absent: none. */
  operators?: OperatorEntry[];
}

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
    payload = openJws(text, TRUST_LIST_TYP, check.centreKeys);
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
  record(site: string, lane: string, list: TrustListPayload): void;
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

  /** At start: a signed list must be at least the version the lane last loaded. */
  load(): LoadedTrust {
    const { path, centreKeys, site, lane, versions } = this.options;
    const loaded = loadIssuerTrust(path, { centreKeys, site, atLeast: versions?.get(site, lane) ?? null });
    this.#accept(loaded);
    return loaded;
  }

  /** A reload (reload-trust): a signed list must be newer than the one in force. */
  reload(): LoadedTrust {
    const { path, centreKeys, site, lane, versions } = this.options;
    const stored = versions?.get(site, lane) ?? null;
    const held = this.#version === null ? stored : stored === null ? this.#version : Math.max(stored, this.#version);
    const loaded = loadIssuerTrust(path, { centreKeys, site, above: held });
    this.#accept(loaded);
    return loaded;
  }

  #accept(loaded: LoadedTrust): void {
    // Recorded first: a list whose version cannot be kept must not be put in force.
    if (loaded.list) this.options.versions?.record(this.options.site, this.options.lane, loaded.list);
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
