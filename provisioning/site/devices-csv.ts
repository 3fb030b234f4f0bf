/**
 * The device list of a batch enrolment: CSV with a header line naming its
 * columns (device,lane). Parsed by csv-parse (quoting, a BOM, CRLF from a
 * spreadsheet's export); every row is checked before anything is written,
 * and an error names the file and line.
 */
import { RESERVED_LANE_IDS } from '../../protocol/topics.js';
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { ProvisionError } from './errors.js';
import { ID_PATTERN, type DeviceAuth } from './site.js';

export interface DeviceRequest {
  device: string;
  lane: string;
  /** How the gate logs in to the broker; default certificate. */
  auth?: DeviceAuth;
  /** Where it was read, for messages: "devices.csv line 4"; absent for --device. */
  at?: string;
}

/** Required columns; `auth` (certificate or password) may follow, default certificate. */
const COLUMNS = ['device', 'lane'] as const;
const OPTIONAL_COLUMNS = ['auth'] as const;
const AUTH_VALUES: readonly DeviceAuth[] = ['certificate', 'password'];

export function readDevicesCsv(file: string): DeviceRequest[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ProvisionError('csv', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseDevicesCsv(text, file);
}

export function parseDevicesCsv(text: string, file = 'CSV'): DeviceRequest[] {
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parse(text, { bom: true, trim: true, skip_empty_lines: true, comment: '#', relax_column_count: true, info: true }) as unknown as typeof rows;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new ProvisionError('csv', `${file}${line ? ` line ${line}` : ''}: ${(error as Error).message}`);
  }
  const [header, ...body] = rows;
  if (!header) throw new ProvisionError('csv', `${file}: empty; the first line names the columns: ${COLUMNS.join(',')}`);
  const names = header.record.map((name) => name.toLowerCase());
  for (const name of names) {
    if (!(COLUMNS as readonly string[]).includes(name) && !(OPTIONAL_COLUMNS as readonly string[]).includes(name)) {
      throw new ProvisionError('csv', `${file} line ${header.info.lines}: unknown column ${JSON.stringify(name)}; the first line names the columns: ${COLUMNS.join(',')} (and optionally auth)`);
    }
  }
  if (names.filter((name) => name === 'auth').length > 1) {
    throw new ProvisionError('csv', `${file} line ${header.info.lines}: the header names column "auth" twice`);
  }
  for (const column of COLUMNS) {
    if (names.filter((name) => name === column).length !== 1) {
      throw new ProvisionError('csv', `${file} line ${header.info.lines}: the header must name column "${column}" once; found ${JSON.stringify(header.record.join(','))}`);
    }
  }
  if (body.length === 0) throw new ProvisionError('csv', `${file}: no devices after the header`);
  const devices: DeviceRequest[] = [];
  for (const { record, info } of body) {
    const at = `${file} line ${info.lines}`;
    if (record.length !== names.length) {
      throw new ProvisionError('csv', `${at}: ${record.length} fields, expected ${names.length} (${names.join(',')})`);
    }
    const field = (column: string): string => record[names.indexOf(column)]!;
    const request: DeviceRequest = { device: field('device'), lane: field('lane'), at };
    if (names.includes('auth')) {
      const auth = field('auth').toLowerCase();
      if (auth !== '') {
        if (!(AUTH_VALUES as readonly string[]).includes(auth)) {
          throw new ProvisionError('csv', `${at}: auth ${JSON.stringify(field('auth'))}: use certificate or password (or leave it empty: certificate)`);
        }
        request.auth = auth as DeviceAuth;
      }
    }
    checkRequest(request, at);
    devices.push(request);
  }
  return devices;
}

/** One device request: ids as topics allow them. */
export function checkRequest(request: DeviceRequest, at: string): void {
  if (!ID_PATTERN.test(request.device)) {
    throw new ProvisionError('csv', `${at}: device ${JSON.stringify(request.device)}: use 1 to 64 letters, digits, - or _`);
  }
  if (!ID_PATTERN.test(request.lane) || RESERVED_LANE_IDS.has(request.lane)) {
    throw new ProvisionError('csv', `${at}: lane ${JSON.stringify(request.lane)}: use 1 to 64 letters, digits, - or _ (not ${[...RESERVED_LANE_IDS].map((id) => `"${id}"`).join(' or ')}, the site's own topics)`);
  }
}
