/**
 * The centre API's contract: docs/centre-openapi.json is what the route
 * schemas generate (regenerate it with `gate-centre openapi`), and it
 * lists every route with its refusal shape.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { centreOpenApi, centreOpenApiJson } from '../../centre/api/openapi.js';

const docPath = new URL('../../../docs/centre-openapi.json', import.meta.url);

test('docs/centre-openapi.json is the document the route schemas generate', async () => {
  assert.equal(readFileSync(docPath, 'utf8'), await centreOpenApiJson(), 'docs/centre-openapi.json is stale: regenerate it with `gate-centre openapi`');
});

test('the document lists every route, each refusal as ApiError, and the baseline as NDJSON or CSV', async () => {
  const doc = (await centreOpenApi()) as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { title?: string } }> }>; requestBody?: { content: Record<string, unknown> } }>> };
  assert.equal(doc.openapi, '3.1.0');
  const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  assert.deepEqual(routes, [
    'GET /healthz',
    'GET /readyz',
    'GET /v1/audit',
    'GET /v1/deliveries/{id}',
    'GET /v1/sites',
    'GET /v1/sites/{site}/deliveries',
    'GET /v1/sites/{site}/figures/{day}',
    'GET /v1/sites/{site}/subjects/{subject}',
    'POST /v1/sites/{site}/changes',
    'PUT /v1/sites/{site}/baseline',
  ]);
  const changes = doc.paths['/v1/sites/{site}/changes']!.post!;
  assert.equal(changes.responses['4XX']?.content?.['application/json']?.schema.title, 'ApiError');
  assert.deepEqual(Object.keys(doc.paths['/v1/sites/{site}/baseline']!.put!.requestBody!.content).sort(), ['application/ndjson', 'application/x-ndjson', 'text/csv']);
});
