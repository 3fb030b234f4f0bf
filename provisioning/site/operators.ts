/**
 * `gate-provision operator add|remove|list`: operator signing keys
 * the centre delegates open, lock and release-hold to, so that a fleet
 * console can act without the centre's master key. Each operator has an
 * ES256 key pair and a self-signed certificate under operators/<name>/
 * (the key owner-only, encrypted with the site passphrase when the site's
 * keys are); export-trust lists its certificate, actions and validity in the
 * trust list the centre signs. Adding or removing one changes the list, so
 * its version grows by one, as with issuers: a gate refuses the older list
 * that still named a removed operator.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPERATOR_ACTIONS, OPERATOR_NAME, RESERVED_NAME, type OperatorAction, type OperatorEntry } from '../../protocol/trust/operators.js';
import { createSignerCertificate } from '../../protocol/trust/signer-certificate.js';
import { ProvisionError, usage } from './errors.js';
import { FILE_MODE, KEY_MODE, PRIVATE_DIR_MODE, Transaction, type StepHook } from './files.js';
import { kidBase64, putRecord } from './issuers.js';
import { exportKey, LAYOUT, sitePath, type OperatorRecord, type Site, type SiteRecord } from './site.js';

/** An operator's delegation lasts this long unless --days says otherwise. */
export const DEFAULT_OPERATOR_DAYS = 90;
/** No longer than the centre's own signing certificate. */
const MAX_OPERATOR_DAYS = 825;
/** Backdated, so a gate whose clock runs a little behind takes a key made just now. */
const BACKDATE_MS = 3_600_000;

export interface OperatorAddOptions {
  name: string;
  actions?: readonly string[];
  days?: number;
  /** The site passphrase, when its keys are encrypted: the operator key is encrypted with it too. */
  passphrase?: string;
  force?: boolean;
  now?: Date;
  hook?: StepHook;
}

export interface AddedOperator {
  name: string;
  record: OperatorRecord;
  /** Absolute paths of the key and certificate, for the console. */
  keyFile: string;
  certFile: string;
}

export function checkOperatorName(name: string): string {
  if (!OPERATOR_NAME.test(name)) throw usage(`--name ${JSON.stringify(name)}: use 1 to 64 letters, digits, ., - or _`);
  if (name === RESERVED_NAME) throw usage(`--name "${RESERVED_NAME}" names the centre's own key in command results: choose another name`);
  return name;
}

/** "open,lock" → the actions, checked: reload-trust and set-config stay the centre's. */
export function parseActions(list: readonly string[] | undefined): OperatorAction[] {
  const actions = [...new Set((list ?? OPERATOR_ACTIONS).map((a) => a.trim()).filter(Boolean))];
  if (actions.length === 0) throw usage('--actions: give at least one of ' + OPERATOR_ACTIONS.join(', '));
  for (const action of actions) {
    if (!(OPERATOR_ACTIONS as readonly string[]).includes(action)) {
      const why = action === 'reload-trust' || action === 'set-config' ? ' (it stays with the centre\'s own key)' : '';
      throw usage(`--actions: ${JSON.stringify(action)} cannot be delegated${why}; choose from ${OPERATOR_ACTIONS.join(', ')}`);
    }
  }
  return actions as OperatorAction[];
}

export async function addOperator(site: Site, options: OperatorAddOptions): Promise<AddedOperator> {
  const name = checkOperatorName(options.name);
  const actions = parseActions(options.actions);
  const days = options.days ?? DEFAULT_OPERATOR_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_OPERATOR_DAYS) throw usage(`--days ${days}: give a whole number of days from 1 to ${MAX_OPERATOR_DAYS}`);
  const existing = site.record.operators?.[name];
  if (existing && !options.force) throw new ProvisionError('exists', `operator ${name} exists (until ${existing.notAfter}); --force gives it a new key`);
  const now = options.now ?? new Date();
  const pair = await createSignerCertificate({
    algorithm: 'ES256',
    subject: `CN=${site.record.site} operator ${name}, O=health-code-gate`,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    days,
  });
  const folder = `${LAYOUT.operators}/${name}`;
  const record: OperatorRecord = {
    certFile: `${folder}/operator.pem`,
    keyFile: `${folder}/operator.key`,
    kid: kidBase64(pair.certificate),
    fingerprint256: pair.certificate.fingerprint256,
    actions,
    notBefore: new Date(pair.certificate.validFrom).toISOString(),
    notAfter: new Date(pair.certificate.validTo).toISOString(),
    addedAt: now.toISOString(),
  };
  mkdirSync(sitePath(site, LAYOUT.operators), { recursive: true, mode: PRIVATE_DIR_MODE });
  const transaction = new Transaction(site.dir, options.hook);
  try {
    transaction.putTree(sitePath(site, folder), {
      'operator.pem': { data: pair.certificatePem, mode: FILE_MODE },
      'operator.key': { data: exportKey(pair.privateKey, options.passphrase), mode: KEY_MODE },
    });
    putRecord(transaction, site, changedOperators(site.record, { ...site.record.operators, [name]: record }, now));
  } catch (error) {
    transaction.abort();
    throw error;
  }
  transaction.commit();
  return { name, record, keyFile: sitePath(site, record.keyFile), certFile: sitePath(site, record.certFile) };
}

export function removeOperator(site: Site, name: string, options: { now?: Date; hook?: StepHook } = {}): OperatorRecord {
  const record = site.record.operators?.[name];
  if (!record) {
    const known = Object.keys(site.record.operators ?? {});
    throw new ProvisionError('unknown-operator', `no operator ${JSON.stringify(name)} in site ${site.record.site}${known.length ? ` (operators: ${known.join(', ')})` : ' (it has none)'}`);
  }
  const operators = { ...site.record.operators };
  delete operators[name];
  const transaction = new Transaction(site.dir, options.hook);
  try {
    transaction.remove(sitePath(site, `${LAYOUT.operators}/${name}`));
    putRecord(transaction, site, changedOperators(site.record, operators, options.now ?? new Date()));
  } catch (error) {
    transaction.abort();
    throw error;
  }
  transaction.commit();
  return record;
}

/** The operators the trust list carries: by name, those not yet expired, each certificate checked against the record. */
export function operatorEntries(site: Site, now: Date): OperatorEntry[] {
  return Object.entries(site.record.operators ?? {})
    .filter(([, record]) => Date.parse(record.notAfter) > now.getTime())
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, record]) => {
      const certificate = new X509Certificate(readFileSync(join(site.dir, record.certFile)));
      if (certificate.fingerprint256 !== record.fingerprint256) throw new ProvisionError('damaged', `${record.certFile} is not the certificate of operator ${name}`);
      return {
        name,
        certificate: certificate.toString(),
        actions: record.actions as OperatorAction[],
        notBefore: Date.parse(record.notBefore),
        notAfter: Date.parse(record.notAfter),
      };
    });
}

function changedOperators(record: SiteRecord, operators: Record<string, OperatorRecord>, now: Date): SiteRecord {
  return { ...record, operators, trustList: { ...record.trustList, version: record.trustList.version + 1, changedAt: now.toISOString() } };
}
