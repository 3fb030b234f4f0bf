/**
 * The device list of a batch enrolment: CSV with a header line naming its
 * columns (device,lane). Parsed by csv-parse (quoting, a BOM, CRLF from a
 * spreadsheet's export); every row is checked before anything is written,
 * and an error names the file and line.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { ProvisionError } from './errors.js';
import { ID_PATTERN } from './site.js';

export interface DeviceRequest {
  device: string;
  lane: string;
  /** Where it was read, for messages: "devices.csv line 4"; absent for --device. */
  at?: string;
}

/** Columns known so far; username and password come with the password-file mode. */
const COLUMNS = ['device', 'lane'] as const;

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
    if (!(COLUMNS as readonly string[]).includes(name)) {
      throw new ProvisionError('csv', `${file} line ${header.info.lines}: unknown column ${JSON.stringify(name)}; the first line names the columns: ${COLUMNS.join(',')}`);
    }
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
    const request = { device: field('device'), lane: field('lane'), at };
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
  if (!ID_PATTERN.test(request.lane) || request.lane === 'colour') {
    throw new ProvisionError('csv', `${at}: lane ${JSON.stringify(request.lane)}: use 1 to 64 letters, digits, - or _ (not "colour", the site's colour topics)`);
  }
}
