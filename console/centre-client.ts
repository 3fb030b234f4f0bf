/**
 * The console's way to the centre's API (read only, as a viewer client):
 * one GET with the bearer token, within a deadline, its answer bounded in
 * size and parsed as JSON. node:http(s) rather than fetch: a site CA must be
 * trusted for HTTPS. Every failure is an outcome, never a throw, so that
 * the centre away costs the console a message, not a page.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ConsoleCentreConfig } from '../protocol/config/console-config.js';
import { ConfigError } from '../protocol/config/errors.js';

/** 1,000 deliveries with their longest errors: a larger answer is a broken centre. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export type CentreAnswer =
  | { ok: true; status: number; body: unknown }
  /** unreachable: no answer in time, no connection, a 5xx or a 429; refused: 401 or 403 (the console's token or its sites). */
  | { ok: false; why: 'unreachable' | 'refused'; error: string };

export class CentreClient {
  private readonly token: string;
  private readonly ca: string | undefined;

  constructor(private readonly config: ConsoleCentreConfig) {
    this.token = readConfigured(config.tokenFile, 'centre.tokenFile').trim();
    if (this.token === '') throw new ConfigError('invalid', `console config: centre.tokenFile: ${config.tokenFile} is empty`);
    this.ca = config.ca ? readConfigured(config.ca, 'centre.ca') : undefined;
  }

  get url(): string {
    return this.config.url;
  }

  /** GET a path of the API; 2xx and 404 are answers, the rest say why there is none. */
  get(path: string): Promise<CentreAnswer> {
    const target = new URL(path, this.config.url);
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const timeoutMs = this.config.timeoutMs;
    return new Promise<CentreAnswer>((resolve) => {
      let settled = false;
      const settle = (answer: CentreAnswer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(answer);
      };
      const req = request(target, {
        method: 'GET',
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' },
        ...(this.ca ? { ca: this.ca } : {}),
      }, (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy();
            settle({ ok: false, why: 'unreachable', error: `the centre answered more than ${MAX_ANSWER_BYTES} bytes` });
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', (error) => settle({ ok: false, why: 'unreachable', error: error.message }));
        response.on('end', () => {
          if (status === 401 || status === 403) return settle({ ok: false, why: 'refused', error: `the centre refused the console's token (HTTP ${status})` });
          if (status === 429) return settle({ ok: false, why: 'unreachable', error: "over the console's rate limit at the centre (HTTP 429)" });
          if ((status < 200 || status >= 300) && status !== 404) return settle({ ok: false, why: 'unreachable', error: `the centre answered HTTP ${status}` });
          try {
            settle({ ok: true, status, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch {
            settle({ ok: false, why: 'unreachable', error: 'the centre answered something other than JSON' });
          }
        });
      });
      // One deadline for the whole exchange (connect, TLS, answer), not a socket's idle time.
      const deadline = setTimeout(() => {
        req.destroy();
        settle({ ok: false, why: 'unreachable', error: `no answer from the centre within ${timeoutMs} ms` });
      }, timeoutMs);
      req.on('error', (error: NodeJS.ErrnoException) => settle({ ok: false, why: 'unreachable', error: error.code ?? error.message }));
      req.end();
    });
  }
}

function readConfigured(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    // The file's name and what was wrong, never its content.
    throw new ConfigError('invalid', `console config: ${key}: ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
