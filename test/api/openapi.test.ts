import SwaggerParser from '@apidevtools/swagger-parser';
import { Client } from '@temporalio/client';
import { exportJWK, generateKeyPair } from 'jose';
import { createHttpApi } from '../../src/api/http-api';
import { openApiDocument } from '../../src/api/openapi';
import { startHttpApi, type RunningHttpApi } from '../../src/api/serve';
import { WAIT_KINDS } from '../../src/domain/waits';

describe('the OpenAPI document', () => {
  // A lazy client never connects: these tests only read the document and the route table.
  const client = new Client();
  let api: RunningHttpApi;

  beforeAll(async () => {
    const { publicKey } = await generateKeyPair('ES256');
    api = await startHttpApi({ client, port: 0, auth: { jwks: { keys: [await exportJWK(publicKey)] } } });
  });

  afterAll(async () => {
    await api?.close();
  });

  it('is served without a token at /openapi.json and validates as OpenAPI 3.0.3', async () => {
    const response = await fetch(`${api.url}/openapi.json`);
    expect(response.status).toBe(200);
    const served = (await response.json()) as Parameters<typeof SwaggerParser.validate>[0];
    const validated = await SwaggerParser.validate(served);
    expect((validated as { openapi: string }).openapi).toBe('3.0.3');
  });

  it('describes every route of the API and no route the API lacks', () => {
    const app = createHttpApi({ client, auth: { jwks: { keys: [] } } });
    const routes = app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`)
      .sort();
    const documented = Object.entries(openApiDocument.paths)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(routes);
  });

  it('documents every kind of wait in the status, and the status carries its waits', () => {
    const { Wait, RolloutStatus } = openApiDocument.components.schemas;
    const kinds = (Wait?.oneOf ?? []).flatMap((variant) => variant.properties?.kind?.enum ?? []);
    expect(kinds).toEqual([...WAIT_KINDS]);
    expect(RolloutStatus?.required).toEqual(expect.arrayContaining(['waits', 'waitingFor']));
    expect(RolloutStatus?.properties?.waits).toEqual({ type: 'array', items: { $ref: '#/components/schemas/Wait' }, description: expect.any(String) });
  });

  it('answers 401 with a Bearer challenge on the served API without a token', async () => {
    const response = await fetch(`${api.url}/rollouts`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="canary"');
    expect(await response.json()).toEqual({ error: 'unauthorized', detail: 'send a bearer token: Authorization: Bearer <JWT>' });
  });
});
