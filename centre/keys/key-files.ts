/**
 * A centre signing key on disk: its PKCS#8 PEM private key (owner only,
 * encrypted when the site's keys are) and its PEM certificate, as
 * gate-provision init writes centre/centre.key and centre/centre.pem. Each
 * file is written whole to a temporary name in the same folder, fsynced and
 * renamed, so a crash leaves the old file or the new one, never half of one.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AlgorithmName } from '../../protocol/credential/cose.js';
import { CentreError } from '../errors.js';

export const KEY_MODE = 0o600;
export const CERTIFICATE_MODE = 0o644;

export interface KeyFiles {
  key: string;
  certificate: string;
}

export interface SigningKey {
  algorithm: AlgorithmName;
  privateKey: KeyObject;
  certificate: X509Certificate;
  certificatePem: string;
}

/** Reads a key and its certificate; CentreError key-file naming the file and what is wrong. */
export function readSigningKey(files: KeyFiles, passphrase?: string): SigningKey {
  let certificatePem: string;
  let certificate: X509Certificate;
  try {
    certificatePem = readFileSync(files.certificate, 'utf8');
    certificate = new X509Certificate(certificatePem);
  } catch (error) {
    throw new CentreError('key-file', `centre certificate ${files.certificate}: ${(error as Error).message}`, { cause: error });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: readFileSync(files.key), ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (error) {
    throw new CentreError('key-file', `centre key ${files.key}: ${(error as Error).message}`, { cause: error });
  }
  if (!certificate.checkPrivateKey(privateKey)) throw new CentreError('key-file', `centre key ${files.key} is not the key of ${files.certificate}`);
  const type = privateKey.asymmetricKeyType;
  if (type !== 'ec' && type !== 'ed25519') throw new CentreError('key-file', `centre key ${files.key}: a ${type} key; the centre signs with ES256 or EdDSA`);
  return { algorithm: type === 'ec' ? 'ES256' : 'EdDSA', privateKey, certificate, certificatePem };
}

/** Writes a key (0600) and its certificate, each atomically; the key first, so a certificate is never there without it. */
export function writeSigningKey(files: KeyFiles, key: Pick<SigningKey, 'privateKey' | 'certificatePem'>, passphrase?: string): void {
  const pem = passphrase === undefined
    ? key.privateKey.export({ type: 'pkcs8', format: 'pem' })
    : key.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase });
  writeAtomically(files.key, pem, KEY_MODE);
  writeAtomically(files.certificate, key.certificatePem, CERTIFICATE_MODE);
}

/** Moves a key's files to other names (each a rename in the same folder). */
export function moveSigningKey(from: KeyFiles, to: KeyFiles): void {
  renameSync(from.key, to.key);
  renameSync(from.certificate, to.certificate);
  syncFolder(dirname(to.key));
}

export function writeAtomically(path: string, data: string | Buffer, mode: number): void {
  const temporary = `${path}.${process.pid}.tmp`;
  rmSync(temporary, { force: true }); // one a crash left: its mode would stay
  const fd = openSync(temporary, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  syncFolder(dirname(path));
}

function syncFolder(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
