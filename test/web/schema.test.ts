import { describe, expect, it } from 'vitest';
import { kInput } from '../../src/web/handler-state.js';
import { ApiHandler, Application, RequestHandler, route, Type, url } from '../../src/web/index.js';
import { serveApp } from '../support/servers.js';
import { until } from '../support/wait.js';

const Item = Type.Object({ id: Type.Integer(), name: Type.String() });

const GetItem = route({
  params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  query: Type.Object({
    verbose: Type.Optional(Type.Boolean()),
    limit: Type.Integer({ minimum: 1, maximum: 50, default: 10 }),
    tag: Type.Optional(Type.Array(Type.String())),
  }),
  headers: Type.Object({ 'x-tenant': Type.Optional(Type.String({ pattern: '^[a-z]+$' })) }),
  responses: {
    200: Type.Object({ item: Item, limit: Type.Integer(), tags: Type.Array(Type.String()) }),
  },
});

const PutItem = route({
  params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
  body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 5 }), size: Type.Integer() }),
  responses: { 200: Item },
});

const PostStrict = route({
  body: Type.Object({ name: Type.String() }),
  unknownProperties: 'refuse',
  responses: { 201: Item },
});

class ItemHandler extends ApiHandler {
  static schema = { get: GetItem, put: PutItem };

  override get(): void {
    const { params, query, headers } = this.input(GetItem);
    const name: string = headers['x-tenant'] ?? 'none';
    this.reply(GetItem, 200, {
      item: { id: params.id, name: query.verbose === true ? `${name}!` : name },
      limit: query.limit,
      tags: query.tag ?? [],
    });
  }

  override put(): void {
    const { params, body } = this.input(PutItem);
    // The extra field must not leak: the serializer keeps only what the schema declares.
    const stored = { id: params.id, name: body.name, secret: 'hunter2', seen: Object.keys(body) };
    // What the verb received, stripped or not: its keys, in a header.
    this.setHeader('X-Body-Keys', Object.keys(body).join(','));
    this.reply(PutItem, 200, stored);
  }
}

class StrictHandler extends ApiHandler {
  static schema = { post: PostStrict };
  override post(): void {
    this.reply(PostStrict, 201, { id: 1, name: this.input(PostStrict).body.name });
  }
}

class Plain extends RequestHandler {
  override post(): void {
    this.finish('plain');
  }
}

const routes = [
  url('/items/{id}', ItemHandler),
  url('/strict', StrictHandler),
  url('/plain', Plain),
];

const json = (body: unknown, method = 'PUT'): RequestInit => ({
  method,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('declared schemas', () => {
  it('coerces path, query and headers and serializes the declared response', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/items/7?verbose=true&limit=3&tag=a&tag=b&other=x', {
      headers: { 'x-tenant': 'acme' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toEqual({
      item: { id: 7, name: 'acme!' },
      limit: 3,
      tags: ['a', 'b'],
    });
    const defaults = await srv.fetch('/items/7');
    expect(await defaults.json()).toEqual({ item: { id: 7, name: 'none' }, limit: 10, tags: [] });
  });

  it('answers 400 with pointers when the URL or headers do not fit', async () => {
    const srv = await serveApp(routes);
    const cases: [string, Record<string, string>, string][] = [
      ['/items/0', {}, '/params/id'],
      ['/items/abc', {}, '/params/id'],
      ['/items/1?limit=99', {}, '/query/limit'],
      ['/items/1?verbose=perhaps', {}, '/query/verbose'],
      ['/items/1', { 'x-tenant': 'ACME' }, '/headers/x-tenant'],
    ];
    for (const [path, headers, pointer] of cases) {
      const res = await srv.fetch(path, { headers });
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      const problem = (await res.json()) as { errors: { pointer: string; detail: string }[] };
      expect(problem.errors[0]?.pointer, path).toBe(pointer);
      expect(JSON.stringify(problem)).not.toMatch(/\^\[a-z\]|schemaPath|keyword/);
    }
  });

  it('answers 422 for a body that breaks the schema, 400 for malformed JSON, 415 for other types', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/items/1', json({ name: 'toolong', size: 'big' }));
    expect(res.status).toBe(422);
    const problem = (await res.json()) as { status: number; errors: { pointer: string }[] };
    expect(problem.status).toBe(422);
    expect(problem.errors.map((e) => e.pointer).sort()).toEqual(['/body/name', '/body/size']);
    const missing = await srv.fetch('/items/1', json({}));
    expect(((await missing.json()) as { errors: { pointer: string }[] }).errors).toEqual([
      { pointer: '/body/name', detail: 'is required' },
      { pointer: '/body/size', detail: 'is required' },
    ]);
    const malformed = await srv.fetch('/items/1', { ...json(null), body: '{"name":' });
    expect(malformed.status).toBe(400);
    const text = await srv.fetch('/items/1', { method: 'PUT', body: 'name=x' });
    expect(text.status).toBe(415);
  });

  it('bounds the number of errors reported', async () => {
    const many = route({
      body: Type.Object(
        Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}`, Type.String()])),
      ),
    });
    class Many extends ApiHandler {
      static schema = { post: many };
      override post(): void {}
    }
    const srv = await serveApp([url('/many', Many)]);
    const res = await srv.fetch('/many', json({}, 'POST'));
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: unknown[] }).errors).toHaveLength(10);
  });

  it('strips unknown body properties by default and drops undeclared response fields', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/items/3', json({ name: 'ok', size: 1, admin: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-body-keys')).toBe('name,size');
    // Nothing to strip (the validator that skips Ajv's stripping pass): the body as sent.
    const plain = await srv.fetch('/items/3', json({ size: 2, name: 'ok' }));
    expect(plain.headers.get('x-body-keys')).toBe('size,name');
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ id: 3, name: 'ok' });
    expect(text).not.toContain('hunter2');
  });

  it('refuses unknown body properties when the declaration says so', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/strict', json({ name: 'a', admin: true }, 'POST'));
    expect(res.status).toBe(422);
    expect(((await res.json()) as { errors: unknown[] }).errors).toEqual([
      { pointer: '/body/admin', detail: 'is not allowed' },
    ]);
    const ok = await srv.fetch('/strict', json({ name: 'a' }, 'POST'));
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ id: 1, name: 'a' });
  });

  it('leaves handlers without schemas alone', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/plain', { method: 'POST', body: 'not json' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('plain');
  });

  it('lets a held request keep no input, and validates it again when read later', async () => {
    const held: ApiHandler[] = [];
    let seen: unknown;
    class Holding extends ApiHandler {
      static schema = { get: GetItem };
      override get(): void {
        expect(this.input(GetItem).query.limit).toBe(3);
        this.holdRequest();
        held.push(this);
      }
      answer(): void {
        const { params, query, headers } = this.input(GetItem);
        seen = { params, query, headers };
        this.reply(GetItem, 200, {
          item: { id: params.id, name: 'x' },
          limit: query.limit,
          tags: [],
        });
        this.releaseRequest();
      }
    }
    const srv = await serveApp([url('/held/{id}', Holding)]);
    const pending = srv.fetch('/held/4?limit=3&tag=a', { headers: { 'x-tenant': 'acme' } });
    await until(() => held.length === 1, 'a held request');
    const handler = held[0] as Holding;
    expect(handler[kInput]).toBeNull();
    handler.answer();
    expect(seen).toEqual({
      params: { id: 4 },
      query: { limit: 3, tag: ['a'] },
      headers: { 'x-tenant': 'acme' },
    });
    expect(handler.input(GetItem)).toBe(handler.input(GetItem)); // validated once more, then kept
    const res = await pending;
    expect(await res.json()).toEqual({ item: { id: 4, name: 'x' }, limit: 3, tags: [] });
  });

  it('compiles when the route is added: a broken schema fails at start', () => {
    class Broken extends ApiHandler {
      static schema = { get: route({ query: Type.Object({ n: Type.Unsafe({ type: 'nope' }) }) }) };
      override get(): void {}
    }
    expect(() => new Application([url('/b', Broken)])).toThrow(/type must be JSONType/);
    class Typo extends ApiHandler {
      static schema = { get: route({ query: Type.Object({ n: Type.Unsafe({ minimun: 1 }) }) }) };
      override get(): void {}
    }
    expect(() => new Application([url('/t', Typo)])).toThrow(/unknown keyword: "minimun"/);
    class Misspelt extends ApiHandler {
      static schema = { pots: PostStrict };
      override post(): void {}
    }
    expect(() => new Application([url('/m', Misspelt)])).toThrow(/Misspelt.schema.pots/);
  });
});

// Compile-time checks (tsc runs over the tests): answers that do not fit the declaration.
class TypeChecks extends ApiHandler {
  static schema = { put: PutItem };
  override put(): void {
    const { body } = this.input(PutItem);
    const size: number = body.size;
    // @ts-expect-error name is declared a string
    this.reply(PutItem, 200, { id: size, name: 2 });
    // @ts-expect-error no response is declared for 201
    this.reply(PutItem, 201, { id: 1, name: 'x' });
    // @ts-expect-error id is required
    this.reply(PutItem, 200, { name: 'x' });
  }
}

it('keeps the compile-time checks above in the type-checked build', () => {
  expect(TypeChecks.schema.put).toBe(PutItem);
});
