/**
 * The epidemic-control department's side of the demo: a webhook on loopback
 * that takes what the centre delivers from its outbox (red-code alerts,
 * sealed registrations), checks each request's signature with the shared
 * secret as a department must, answers 2xx only to a valid one, and keeps
 * each delivery once by its X-Delivery-Id (the centre delivers at least
 * once). A real department runs its own; this one lets `npm start` show the
 * alert arrive.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyDepartmentSignature } from '../centre/department/signature.js';

/** An alert is under 1 kB, a sealed registration a few kB: more is not the centre's. */
const MAX_BODY_BYTES = 256 * 1024;

export interface Delivered {
  id: string;
  kind: 'alert' | 'registration';
  /** The gate's message, as the centre passed it on. */
  body: Record<string, unknown>;
}

export interface DeskEvents {
  delivered: [Delivered];
  /** A request refused (bad signature, not JSON, too large): the centre tries it again. */
  refused: [{ status: number; why: string }];
}

export class DepartmentDesk extends EventEmitter<DeskEvents> {
  /** Deliveries accepted, each once, by X-Delivery-Id. */
  readonly delivered = new Map<string, Delivered>();
  /** Requests answered, duplicates included. */
  requests = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {
    super();
  }

  static async start(secret: Uint8Array): Promise<DepartmentDesk> {
    let desk: DepartmentDesk | null = null;
    const server = createServer((request, response) => {
      void readBody(request).then(
        (body) => {
          const answer = desk!.take(secret, request, body);
          response.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.why);
        },
        (error: Error) => response.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end(error.message),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    desk = new DepartmentDesk(server, `http://127.0.0.1:${port}/alerts`);
    return desk;
  }

  private take(secret: Uint8Array, request: IncomingMessage, body: Buffer): { status: number; why: string } {
    this.requests++;
    const check = verifyDepartmentSignature(secret, request.headers, body);
    if (!check.ok) return this.refuse(401, `${check.reason}: ${check.detail}`);
    if (this.delivered.has(check.deliveryId)) return { status: 200, why: 'already taken' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return this.refuse(400, 'the body is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null) return this.refuse(400, 'the body is not a JSON object');
    const delivered: Delivered = { id: check.deliveryId, kind: check.kind, body: parsed as Record<string, unknown> };
    this.delivered.set(delivered.id, delivered);
    this.emit('delivered', delivered);
    return { status: 200, why: 'taken' };
  }

  private refuse(status: number, why: string): { status: number; why: string } {
    this.emit('refused', { status, why });
    return { status, why };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        request.destroy();
        reject(new Error(`more than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
