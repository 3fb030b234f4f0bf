/**
 * Operator keys the centre delegates: a fleet console signs open,
 * lock and release-hold with an operator's key instead of the centre's
 * master key. The delegation is an entry of the signed trust list
 * (credential/trust-list.ts): the operator's name, its signing certificate
 * (self-signed, ES256 or EdDSA, as the centre's), the actions it may send and
 * its validity. The centre signs the list, so only the centre delegates;
 * removing an operator from the list (and reload-trust) ends its rights.
 *
 * reload-trust and set-config are never delegated: they change what the gate
 * trusts and how it decides, so they stay the centre's.
 */
import { X509Certificate } from 'node:crypto';
import { TrustStore, type TrustedSigner } from './trust-store.js';

/** What an operator may be given; the other command actions stay with the centre. */
export const OPERATOR_ACTIONS = ['open', 'lock', 'release-hold'] as const;
export type OperatorAction = (typeof OPERATOR_ACTIONS)[number];

/** Operator names, as they appear in command results and logs. */
export const OPERATOR_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** A command result's signedBy for the centre's own key: no operator may be called so. */
export const RESERVED_NAME = 'centre';

/** One operator as the signed trust list carries it. */
export interface OperatorEntry {
  name: string;
  /** The operator's signing certificate in PEM; its kid (first 8 bytes of SHA-256 over the DER) is the JWS kid. */
  certificate: string;
  actions: OperatorAction[];
  /** Epoch ms: the delegation holds from notBefore to notAfter (the gate's clock). */
  notBefore: number;
  notAfter: number;
}

/** One operator loaded: its entry and its certificate. */
export interface Operator {
  entry: OperatorEntry;
  certificate: X509Certificate;
}

/**
 * The operators of a list, checked; throws Error naming the first entry
 * that is wrong (the trust-list reader refuses the whole list then).
 */
export function parseOperators(value: unknown): OperatorEntry[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Error('operators is not a list');
  const names = new Set<string>();
  return value.map((item: unknown, index) => {
    const where = `operator ${index + 1}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new Error(`${where} is not an object`);
    const entry = item as Partial<Record<keyof OperatorEntry, unknown>>;
    if (typeof entry.name !== 'string' || !OPERATOR_NAME.test(entry.name)) throw new Error(`${where}: name ${JSON.stringify(entry.name)} is not 1 to 64 letters, digits, . - or _`);
    if (entry.name === RESERVED_NAME) throw new Error(`${where}: "${RESERVED_NAME}" names the centre's own key, not an operator`);
    if (names.has(entry.name)) throw new Error(`${where}: operator ${entry.name} is listed twice`);
    names.add(entry.name);
    if (typeof entry.certificate !== 'string' || !entry.certificate.includes('-----BEGIN CERTIFICATE-----')) {
      throw new Error(`${where} (${entry.name}): certificate is not a PEM certificate`);
    }
    try {
      new X509Certificate(entry.certificate);
    } catch (error) {
      throw new Error(`${where} (${entry.name}): certificate cannot be read: ${(error as Error).message}`);
    }
    if (!Array.isArray(entry.actions) || entry.actions.length === 0) throw new Error(`${where} (${entry.name}): actions is not a non-empty list`);
    for (const action of entry.actions) {
      if (!(OPERATOR_ACTIONS as readonly unknown[]).includes(action)) {
        throw new Error(`${where} (${entry.name}): action ${JSON.stringify(action)} cannot be delegated (only ${OPERATOR_ACTIONS.join(', ')})`);
      }
    }
    for (const key of ['notBefore', 'notAfter'] as const) {
      if (!Number.isSafeInteger(entry[key]) || (entry[key] as number) < 0) throw new Error(`${where} (${entry.name}): ${key} is not a time in epoch ms`);
    }
    if ((entry.notAfter as number) <= (entry.notBefore as number)) throw new Error(`${where} (${entry.name}): notAfter is not after notBefore`);
    return {
      name: entry.name,
      certificate: entry.certificate,
      actions: [...new Set(entry.actions as OperatorAction[])],
      notBefore: entry.notBefore as number,
      notAfter: entry.notAfter as number,
    };
  });
}

/** Why an operator's command is refused; the command handler maps it to a security kind. */
export type OperatorRefusal = { kind: 'expired' | 'not-yet-valid' | 'not-permitted'; message: string };

/**
 * The operators delegated by the list in force: their certificates as a
 * TrustStore (so a JWS is checked as a centre one is), and each certificate's
 * entry by its SHA-256 fingerprint.
 */
export class OperatorKeys {
  readonly store = new TrustStore();
  readonly #byFingerprint = new Map<string, Operator>();

  static readonly none = new OperatorKeys([]);

  constructor(entries: readonly OperatorEntry[], source = 'trust list') {
    for (const entry of entries) {
      const certificate = new X509Certificate(entry.certificate);
      this.store.add(certificate, `${source}, operator ${entry.name}`);
      this.#byFingerprint.set(certificate.fingerprint256, { entry, certificate });
    }
  }

  get size(): number {
    return this.#byFingerprint.size;
  }

  get names(): string[] {
    return [...this.#byFingerprint.values()].map((operator) => operator.entry.name);
  }

  /** The operator whose certificate verified a message. */
  operatorOf(signer: TrustedSigner): Operator | undefined {
    return this.#byFingerprint.get(signer.certificate.fingerprint256);
  }

  /** null when the operator may send this action now; else why not. */
  static refusal(operator: Operator, action: string, now: number): OperatorRefusal | null {
    const { entry } = operator;
    if (!(OPERATOR_ACTIONS as readonly string[]).includes(action)) {
      return { kind: 'not-permitted', message: `operator ${entry.name} may not send ${action}: only the centre's own key may` };
    }
    if (now > entry.notAfter) return { kind: 'expired', message: `operator ${entry.name}: its delegation ended at ${new Date(entry.notAfter).toISOString()}` };
    if (now < entry.notBefore) return { kind: 'not-yet-valid', message: `operator ${entry.name}: its delegation starts at ${new Date(entry.notBefore).toISOString()}` };
    if (!(entry.actions as readonly string[]).includes(action)) {
      return { kind: 'not-permitted', message: `operator ${entry.name} may not send ${action} (it may: ${entry.actions.join(', ')})` };
    }
    return null;
  }
}
