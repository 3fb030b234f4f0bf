/**
 * The command line's way to a running centre: its HTTP API, as the platform
 * uses it, so that a change pushed by hand is stored, audited and published
 * exactly as the platform's are. node:http(s) rather than fetch: a site CA
 * must be trusted for HTTPS and a baseline file streamed from disk.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';

export interface ApiClientOptions {
  /** e.g. http://127.0.0.1:8093 */
  url: string;
  token: string;
  /** PEM of the CA that signed the centre's HTTPS certificate. */
  ca?: string | undefined;
  timeoutMs?: number;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** The largest answer the CLI reads: more is a broken centre, not a status. */
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export class CentreApiClient {
  constructor(private readonly options: ApiClientOptions) {}

  get(path: string): Promise<ApiAnswer> {
    return this.send('GET', path);
  }

  post(path: string, body: unknown): Promise<ApiAnswer> {
    return this.send('POST', path, { contentType: 'application/json', body: JSON.stringify(body) });
  }

  /** Streams a file (or any stream) as the request body. */
  put(path: string, contentType: string, body: Readable): Promise<ApiAnswer> {
    return this.send('PUT', path, { contentType, body });
  }

  private send(method: string, path: string, payload?: { contentType: string; body: string | Readable }): Promise<ApiAnswer> {
    const target = new URL(path, this.options.url);
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<ApiAnswer>((resolve, reject) => {
      const req = request(
        target,
        {
          method,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            ...(payload ? { 'content-type': payload.contentType } : {}),
          },
          ...(this.options.ca ? { ca: this.options.ca } : {}),
          timeout: this.options.timeoutMs ?? 600_000,
        },
        (response: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) {
              req.destroy(new Error(`the centre answered more than ${MAX_ANSWER_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = text === '' ? null : JSON.parse(text);
            } catch {
              // not JSON: shown as text
            }
            resolve({ status: response.statusCode ?? 0, body });
          });
          response.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${target.origin} within ${this.options.timeoutMs ?? 600_000} ms`)));
      req.on('error', (error: NodeJS.ErrnoException) => {
        reject(error.code === 'ECONNREFUSED' ? new Error(`no centre at ${target.origin} (connection refused): is it running?`) : error);
      });
      if (!payload) req.end();
      else if (typeof payload.body === 'string') req.end(payload.body);
      else {
        payload.body.on('error', (error) => req.destroy(error));
        payload.body.pipe(req);
      }
    });
  }
}
