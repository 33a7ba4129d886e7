/**
 * The example service's OpenAPI document: valid OpenAPI 3.1 (checked by a real validator), built
 * from the route table with the chat's schemas and the framework's errors, and good enough to
 * generate client types (openapi-typescript) that a small client type-checks against.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createExampleApp } from '../../src/app/app.js';
import type { TestServer } from '../../src/web/index.js';
import { serveForTest } from '../support/servers.js';

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Record<string, unknown>>>;
};

async function fetchDocument(): Promise<{ doc: Doc; fetch: TestServer['fetch'] }> {
  const { app } = createExampleApp();
  const srv = await serveForTest(app);
  const res = await srv.fetch('/openapi.json');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
  return { doc: (await res.json()) as Doc, fetch: srv.fetch };
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document of the routes', async () => {
    const { doc } = await fetchDocument();
    const validator = new Validator();
    const result = await validator.validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(doc.info).toMatchObject({ title: 'tornode', version: expect.any(String) });
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/', '/chat/', '/chat/messages', '/chat/socket', '/static/{path}']),
    );
    const post = doc.paths['/chat/messages']?.post as Record<string, unknown>;
    expect(post.operationId).toBe('MessagesHandler.post');
    expect(Object.keys(post.responses as object).sort()).toEqual(
      ['201', '400', '405', '413', '415', '422'].sort(),
    );
    const get = doc.paths['/chat/messages']?.get as { parameters: { name: string }[] };
    expect(get.parameters.map((p) => p.name)).toEqual(['after', 'timeout']);
    const files = doc.paths['/static/{path}']?.get as { parameters: unknown[] };
    expect(files.parameters).toEqual([
      { name: 'path', in: 'path', required: true, schema: { type: 'string' } },
    ]);
  });

  it('generates client types that a small client type-checks and runs against', async () => {
    const { doc, fetch } = await fetchDocument();
    const types = astToString(await openapiTS(doc as never));
    const dir = await mkdtemp(join(tmpdir(), 'tornode-openapi-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'api.d.ts'), types);
    const client = `import type { paths } from './api.js';
type PostBody = paths['/chat/messages']['post']['requestBody']['content']['application/json'];
type Posted = paths['/chat/messages']['post']['responses']['201']['content']['application/json'];
type Batch = paths['/chat/messages']['get']['responses']['200']['content']['application/json'];
export async function post(origin: string, body: PostBody): Promise<Posted> {
  const res = await fetch(origin + '/chat/messages', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return (await res.json()) as Posted;
}
export const sample: PostBody = { text: 'hello' };
export const id = (message: Posted): number => message.id;
export const texts = (batch: Batch): string[] => batch.messages.map((m) => m.text);
// @ts-expect-error text is a string
export const wrong: PostBody = { text: 5 };
`;
    await writeFile(join(dir, 'client.ts'), client);
    const program = ts.createProgram([join(dir, 'client.ts')], {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      types: [],
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    // The shapes the types promise are what the running service answers.
    const res = await fetch('/chat/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'hello' }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ id: 1, text: 'hello', at: expect.any(String) });
  });

  it('leaves the document and the page out, or moves them, as told', async () => {
    const { exampleRoutes } = await import('../../src/app/app.js');
    const { ChatRoom } = await import('../../src/app/chat-room.js');
    const off = exampleRoutes(new ChatRoom(10), { openApiPath: null });
    expect(off.some((r) => 'name' in r && r.name === 'openapi')).toBe(false);
    const moved = exampleRoutes(new ChatRoom(10), { openApiPath: '/api.json', docsPath: null });
    expect(
      moved.filter((r) => 'pattern' in r && String(r.pattern).startsWith('/api.json')),
    ).toHaveLength(1);
    expect(moved.some((r) => 'name' in r && r.name === 'docs')).toBe(false);
  });
});

describe('GET /docs', () => {
  it('serves the reference page and its files from here, under a policy with no other host', async () => {
    const { fetch } = await fetchDocument();
    const page = await fetch('/docs');
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:/);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    for (const asset of [
      '/docs/assets/swagger-ui-bundle.js',
      '/docs/assets/swagger-ui.css',
      '/docs/start.js',
    ]) {
      const res = await fetch(asset);
      expect(res.status, asset).toBe(200);
      await res.arrayBuffer();
    }
    expect((await fetch('/docs/assets/index.html')).status).toBe(404);
  });
});
