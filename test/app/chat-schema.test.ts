import { describe, expect, it } from 'vitest';
import { createExampleApp } from '../../src/app/app.js';
import { serveForTest } from '../support/servers.js';

interface Problem {
  status: number;
  detail: string;
  errors: { pointer: string; detail: string }[];
}

async function problemOf(res: Response, status: number): Promise<Problem> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  return (await res.json()) as Problem;
}

describe('the chat API, declared with schemas', () => {
  it('points at the field of the body that breaks the schema', async () => {
    const { app, room } = createExampleApp();
    const srv = await serveForTest(app);
    const post = (body: unknown) =>
      srv.fetch('/chat/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const empty = await problemOf(await post({ text: '' }), 422);
    expect(empty.errors).toEqual([
      { pointer: '/body/text', detail: 'must NOT have fewer than 1 characters' },
    ]);
    expect((await problemOf(await post({}), 422)).errors).toEqual([
      { pointer: '/body/text', detail: 'is required' },
    ]);
    expect((await problemOf(await post(['x']), 422)).errors[0]?.pointer).toBe('/body');
    // Unknown properties are dropped, not stored.
    const ok = await post({ text: 'hi', admin: true });
    expect(ok.status).toBe(201);
    expect(Object.keys((await ok.json()) as object).sort()).toEqual(['at', 'id', 'text']);
    expect(room.lastId).toBe(1);
  });

  it('points at the query argument that is not a number', async () => {
    const { app } = createExampleApp();
    const srv = await serveForTest(app);
    const timeout = await problemOf(await srv.fetch('/chat/messages?after=0&timeout=soon'), 400);
    expect(timeout.errors).toEqual([{ pointer: '/query/timeout', detail: 'must be number' }]);
    const after = await problemOf(await srv.fetch('/chat/messages?after=-3'), 400);
    expect(after.errors[0]?.pointer).toBe('/query/after');
    expect(after.detail).toBe('/query/after must be >= 0');
  });
});
