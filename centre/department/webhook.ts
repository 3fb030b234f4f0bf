/**
 * One POST to the department's webhook: HTTPS with the department's CA (or
 * http:// on loopback), one deadline over connect, answer and body, no
 * redirect followed (a 3xx is a failed attempt: the signed body goes only
 * where it was configured to go), and at most a few kB of the answer read
 * (for the log), so a hostile or broken receiver costs bounded time and memory.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { CentreError } from '../errors.js';

/** Enough of an error page to say why; the rest is discarded. */
export const MAX_ANSWER_BYTES = 4096;

export type AttemptOutcome = { ok: true; status: number } | { ok: false; status: number | null; error: string };

export interface WebhookOptions {
  url: URL;
  timeoutMs: number;
  /** PEM of the CA that signed the department's certificate; absent: the system's CAs. */
  ca?: string | Buffer;
  /** Connections kept open at once (the deliverer's concurrency). */
  maxSockets: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The webhook URL, refused when it would send signed bodies in the clear off this machine. */
export function webhookUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CentreError('department-config', `department.url ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CentreError('department-config', 'department.url must be https:// (http:// only on loopback)');
  const host = url.hostname;
  const loopback = LOOPBACK.has(host) || (isIP(host) === 4 && host.startsWith('127.'));
  if (url.protocol === 'http:' && !loopback) throw new CentreError('department-config', `department.url is http:// to ${host}: only https:// leaves this machine`);
  if (url.username || url.password) throw new CentreError('department-config', 'department.url must not carry credentials: the HMAC secret authenticates the centre');
  return url;
}

export class Webhook {
  private readonly agent: http.Agent;

  constructor(private readonly options: WebhookOptions) {
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets };
    this.agent = options.url.protocol === 'https:'
      ? new https.Agent({ ...agentOptions, ...(options.ca !== undefined ? { ca: options.ca } : {}), rejectUnauthorized: true })
      : new http.Agent(agentOptions);
  }

  /** POSTs `body` with `headers`; resolves (never rejects) with how it went. */
  post(body: Buffer, headers: Record<string, string>): Promise<AttemptOutcome> {
    const { url, timeoutMs } = this.options;
    const send = url.protocol === 'https:' ? https.request : http.request;
    return new Promise<AttemptOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: AttemptOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const request = send(url, { method: 'POST', agent: this.agent, headers: { ...headers, 'content-length': String(body.length) } }, (response) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let kept = 0;
        response.on('data', (chunk: Buffer) => {
          if (kept >= MAX_ANSWER_BYTES) return;
          chunks.push(chunk.subarray(0, MAX_ANSWER_BYTES - kept));
          kept += Math.min(chunk.length, MAX_ANSWER_BYTES - kept);
          // The rest of a large answer is not wanted: drop the connection rather than read it.
          if (kept >= MAX_ANSWER_BYTES) {
            settle();
            response.destroy();
          }
        });
        const settle = (): void => {
          if (status >= 200 && status < 300) return finish({ ok: true, status });
          const excerpt = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
          const where = status >= 300 && status < 400 ? ` (redirect to ${JSON.stringify(response.headers.location ?? '')} not followed)` : '';
          finish({ ok: false, status, error: `HTTP ${status}${where}${excerpt ? `: ${excerpt}` : ''}` });
        };
        response.on('end', settle);
        response.on('error', () => settle());
        response.on('close', settle);
      });
      const timer = setTimeout(() => {
        finish({ ok: false, status: null, error: `no answer within ${timeoutMs} ms` });
        request.destroy();
      }, timeoutMs);
      request.on('error', (error: NodeJS.ErrnoException) => finish({ ok: false, status: null, error: error.code ? `${error.code}: ${error.message}` : error.message }));
      request.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
