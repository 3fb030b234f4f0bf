/**
 * A stand-in for the epidemic-control department's webhook in tests: a real
 * HTTPS server (a test CA's certificate) that checks each request with
 * verifyDepartmentSignature and dedupes by X-Delivery-Id, as a department
 * should. Its behaviour can be switched: down (nothing listens), slow (answers
 * after `slowMs`), fail (500), redirect (302), ok (200).
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueServerCertificate } from '../../provisioning/pki.js';
import { verifyDepartmentSignature, type SignatureCheck } from '../../centre/department/signature.js';

export type ReceiverMode = 'ok' | 'fail' | 'slow' | 'redirect' | 'huge';

export interface ReceivedRequest {
  id: string | undefined;
  kind: string | undefined;
  body: Buffer;
  check: SignatureCheck;
  answered: number | null;
  path: string;
}

export interface DepartmentReceiver {
  url: string;
  caPem: string;
  requests: ReceivedRequest[];
  /** Bodies accepted (2xx) after dedupe by X-Delivery-Id: what the department acts on, each once. */
  accepted: Map<string, Buffer>;
  mode: ReceiverMode;
  /** Per-id mode, over `mode`. */
  modeFor: Map<string, ReceiverMode>;
  slowMs: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startDepartmentReceiver(secret: Buffer): Promise<DepartmentReceiver> {
  const ca = await createCertificateAuthority({ subject: 'CN=Test Department CA' });
  const cert = await issueServerCertificate(ca, { commonName: 'department', ipAddresses: ['127.0.0.1'] });
  const timers = new Set<NodeJS.Timeout>();
  const receiver: DepartmentReceiver = {
    url: '',
    caPem: ca.certificatePem,
    requests: [],
    accepted: new Map(),
    mode: 'ok',
    modeFor: new Map(),
    slowMs: 1_000,
    down: async () => {},
    up: async () => {},
    close: async () => {},
  };
  const server = https.createServer({ cert: cert.certificatePem, key: cert.privateKeyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const id = req.headers['x-delivery-id'] as string | undefined;
      const record: ReceivedRequest = { id, kind: req.headers['x-delivery-kind'] as string | undefined, body, check: verifyDepartmentSignature(secret, req.headers, body), answered: null, path: req.url ?? '' };
      receiver.requests.push(record);
      const mode = (id !== undefined ? receiver.modeFor.get(id) : undefined) ?? receiver.mode;
      const answer = (status: number, text = '', headers: Record<string, string> = {}): void => {
        record.answered = status;
        if (status === 200 && record.check.ok && id !== undefined && !receiver.accepted.has(id)) receiver.accepted.set(id, body);
        res.writeHead(status, headers).end(text);
      };
      if (!record.check.ok) return answer(401, record.check.reason);
      switch (mode) {
        case 'ok':
          return answer(200, 'ok');
        case 'fail':
          return answer(500, 'department database is down');
        case 'redirect':
          return answer(302, '', { location: `${receiver.url}/elsewhere` });
        case 'huge':
          res.writeHead(500);
          record.answered = 500;
          // Far more than anyone should read: the centre must stop after a few kB.
          return res.end(Buffer.alloc(8 * 1024 * 1024, 'x'));
        case 'slow': {
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (!res.destroyed) answer(200, 'late');
          }, receiver.slowMs);
          timers.add(timer);
          return;
        }
      }
    });
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  receiver.url = `https://127.0.0.1:${port}/hooks/centre`;
  receiver.down = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  receiver.up = () => listen(port);
  receiver.close = async () => {
    for (const timer of timers) clearTimeout(timer);
    if (server.listening) await receiver.down();
  };
  return receiver;
}
