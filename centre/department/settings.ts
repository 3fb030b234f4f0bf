/**
 * The department's webhook settings made usable: the URL checked, the HMAC
 * secret and the CA read from their files. Done once at start, so a wrong
 * setting stops the centre with a clear error instead of failing every attempt.
 */
import { readFileSync } from 'node:fs';
import type { CentreDepartmentConfig } from '../../protocol/config/centre-schema.js';
import { CentreError } from '../errors.js';
import { MIN_SECRET_BYTES } from './signature.js';
import { webhookUrl } from './webhook.js';

export interface DepartmentSettings {
  url: URL;
  secret: Buffer;
  ca?: Buffer;
}

/** null: no department configured (alerts are still stored and wait for one). */
export function departmentSettings(config: CentreDepartmentConfig): DepartmentSettings | null {
  if (config.url === undefined) return null;
  const url = webhookUrl(config.url);
  if (config.secretFile === undefined) throw new CentreError('department-config', 'department.secretFile is required with department.url: every body is signed');
  const secret = readSetting(config.secretFile, 'department.secretFile');
  // A trailing newline from an editor or `echo` is not part of the key.
  const key = Buffer.from(secret.toString('utf8').trim(), 'utf8');
  if (key.length < MIN_SECRET_BYTES) throw new CentreError('department-config', `department.secretFile holds ${key.length} bytes: at least ${MIN_SECRET_BYTES} are needed`);
  const settings: DepartmentSettings = { url, secret: key };
  if (config.ca !== undefined) {
    if (url.protocol !== 'https:') throw new CentreError('department-config', 'department.ca is given but department.url is not https://');
    settings.ca = readSetting(config.ca, 'department.ca');
  }
  return settings;
}

function readSetting(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CentreError('department-config', `${key} ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
}
