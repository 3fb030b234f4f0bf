/**
 * The API's OpenAPI document, generated from the route schemas (the same
 * ones that validate requests), so docs/centre-openapi.json cannot say
 * other than the server does. `gate-centre openapi` writes it; a test
 * compares the file with this.
 */
import { writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import type { CentreStore } from '../store/store.js';
import { buildCentreApp } from './server.js';

/** A store the document's app never calls: building routes asks nothing of it. */
const NO_STORE = new Proxy({} as CentreStore, {
  get: (_target, name) => (name === 'kind' ? 'sqlite' : () => Promise.reject(new Error('the OpenAPI app has no store'))),
});

export async function centreOpenApi(): Promise<Record<string, unknown>> {
  const app = await buildCentreApp({
    store: NO_STORE,
    sites: () => false,
    clients: [],
    limits: { maxBatchChanges: 10_000, maxBaselineRows: 2_000_000 },
    http: { host: '127.0.0.1', port: 0, maxBodyBytes: 8 * 1024 * 1024 },
    logger: pino({ level: 'silent' }),
  });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

/** The document as the file holds it: two-space JSON and a final newline. */
export async function centreOpenApiJson(): Promise<string> {
  return `${JSON.stringify(await centreOpenApi(), null, 2)}\n`;
}

export async function writeCentreOpenApi(path: string): Promise<void> {
  await writeFile(path, await centreOpenApiJson());
}
