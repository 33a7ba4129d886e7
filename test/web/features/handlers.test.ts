import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  Application,
  ErrorHandler,
  FallbackHandler,
  HttpError,
  RedirectHandler,
  type RequestHandler,
  url,
} from '../../../src/web/index.js';
import { buildRequest, rawRequest } from '../../support/http.js';
import { captureLogger } from '../../support/loggers.js';
import { serveForTest, serveRoutes } from '../../support/servers.js';
import { deferred, within } from '../../support/wait.js';

describe('RedirectHandler', () => {
  it('redirects with 302 by default, 301 when permanent, or the status given', async () => {
    const { srv } = await serveRoutes([
      url('/temp', RedirectHandler, { url: '/target' }),
      url('/perm', RedirectHandler, { url: '/target', permanent: true }),
      url('/keep-method', RedirectHandler, { url: '/target', status: 307 }),
    ]);
    const temp = await srv.fetch('/temp', { redirect: 'manual' });
    expect(temp.status).toBe(302);
    expect(temp.headers.get('location')).toBe('/target');
    const perm = await srv.fetch('/perm', { redirect: 'manual' });
    expect(perm.status).toBe(301);
    const post = await srv.fetch('/keep-method', { method: 'POST', body: 'x', redirect: 'manual' });
    expect(post.status).toBe(307);
    expect(post.headers.get('location')).toBe('/target');
  });

  it('fills {name} placeholders from path parameters, percent-encoded, slashes kept for {x*}', async () => {
    const { srv } = await serveRoutes([
      url('/users/{id}', RedirectHandler, { url: '/people/{id}/profile' }),
      url('/files/{rest*}', RedirectHandler, { url: 'https://cdn.example/{rest}' }),
    ]);
    const user = await srv.fetch('/users/a%20b%3Fc%23d', { redirect: 'manual' });
    expect(user.headers.get('location')).toBe('/people/a%20b%3Fc%23d/profile');
    const file = await srv.fetch('/files/img/logo%20v2.png', { redirect: 'manual' });
    expect(file.headers.get('location')).toBe('https://cdn.example/img/logo%20v2.png');
  });

  it('fills {0}, {1} from positional groups of a regular-expression route', async () => {
    const { srv } = await serveRoutes([
      [/^\/(\d{4})\/(\d{2})$/, RedirectHandler, { url: '/archive?year={0}&month={1}' }],
    ]);
    const res = await srv.fetch('/2024/03', { redirect: 'manual' });
    expect(res.headers.get('location')).toBe('/archive?year=2024&month=03');
  });

  it('keeps the query string unless told not to', async () => {
    const { srv } = await serveRoutes([
      url('/a', RedirectHandler, { url: '/b' }),
      url('/c', RedirectHandler, { url: '/d?lang=en' }),
      url('/e', RedirectHandler, { url: '/f', preserveQuery: false }),
    ]);
    const kept = await srv.fetch('/a?x=1&y=2', { redirect: 'manual' });
    expect(kept.headers.get('location')).toBe('/b?x=1&y=2');
    const joined = await srv.fetch('/c?x=1', { redirect: 'manual' });
    expect(joined.headers.get('location')).toBe('/d?lang=en&x=1');
    const dropped = await srv.fetch('/e?x=1', { redirect: 'manual' });
    expect(dropped.headers.get('location')).toBe('/f');
  });

  it('answers HEAD, and never reads the body (a huge one is not a 413)', async () => {
    const { srv } = await serveRoutes(
      [url('/old', RedirectHandler, { url: '/new', status: 308 })],
      {
        maxBodyBytes: 1024,
      },
    );
    const head = await srv.fetch('/old', { method: 'HEAD', redirect: 'manual' });
    expect(head.status).toBe(308);
    const { response } = await rawRequest(
      srv.port,
      buildRequest('PUT', '/old', { 'Content-Length': 50_000_000, Connection: 'close' }),
    );
    expect(response.status).toBe(308);
    expect(response.header('location')).toBe('/new');
  });

  it('refuses a status outside 3xx (500 with a logged error)', async () => {
    const { srv, logs } = await serveRoutes([
      url('/bad', RedirectHandler, { url: '/x', status: 200 }),
    ]);
    const res = await srv.fetch('/bad', { redirect: 'manual' });
    expect(res.status).toBe(500);
    expect(logs.some((e) => e.level === 'error')).toBe(true);
  });
});

describe('ErrorHandler', () => {
  it('answers its status as problem details for every method, unknown ones too', async () => {
    const { srv } = await serveRoutes([
      url('/gone/{rest*}', ErrorHandler, { status: 410, detail: 'this API was retired' }),
    ]);
    for (const method of ['GET', 'POST', 'DELETE', 'PROPFIND', 'OPTIONS']) {
      const { response } = await rawRequest(
        srv.port,
        buildRequest(method, '/gone/v1/items', { Connection: 'close' }),
      );
      expect(response.status, method).toBe(410);
      expect(response.header('content-type'), method).toBe('application/problem+json');
      expect(JSON.parse(response.text()), method).toEqual({
        type: 'about:blank',
        title: 'Gone',
        status: 410,
        detail: 'this API was retired',
      });
    }
  });
});

/** A plain node:http listener standing in for another framework. */
function echoListener(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        bytes: body.length,
        text: body.length < 100 ? body.toString() : '',
      }),
    );
  });
}

describe('FallbackHandler', () => {
  it('hands any standard method to the listener, with the body unread', async () => {
    const { srv } = await serveRoutes([
      url('/legacy/{rest*}', FallbackHandler, { fallback: echoListener }),
    ]);
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const body = method === 'GET' || method === 'OPTIONS' ? undefined : 'payload';
      const res = await srv.fetch('/legacy/a/b?q=1', { method, ...(body && { body }) });
      expect(res.status, method).toBe(200);
      expect(await res.json(), method).toEqual({
        method,
        url: '/legacy/a/b?q=1',
        bytes: body?.length ?? 0,
        text: body ?? '',
      });
    }
  });

  it('passes a body larger than maxBodyBytes untouched (the framework does not read it)', async () => {
    const { srv } = await serveRoutes(
      [url('/legacy', FallbackHandler, { fallback: echoListener })],
      {
        maxBodyBytes: 1024,
      },
    );
    const res = await srv.fetch('/legacy', { method: 'POST', body: Buffer.alloc(300_000, 7) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { bytes: number }).bytes).toBe(300_000);
  });

  it('leaves the response alone: no default headers but the request id, nothing sent for it', async () => {
    const answered = deferred();
    let pending: ServerResponse | undefined;
    const { srv } = await serveRoutes(
      [
        url('/late', FallbackHandler, {
          fallback: (_req, res) => {
            pending = res; // answered later, after the handler's lifecycle is long over
            answered.resolve();
          },
        }),
      ],
      { requestId: () => 'req-42' },
    );
    const responded = srv.fetch('/late');
    await within(answered.promise, 5_000, 'the hand-over');
    (pending as ServerResponse).setHeader('x-mounted', 'yes');
    (pending as ServerResponse).end('from the mounted app');
    const res = await responded;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('from the mounted app');
    expect(res.headers.get('x-mounted')).toBe('yes');
    expect(res.headers.get('x-request-id')).toBe('req-42');
    expect(res.headers.get('content-type')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBeNull();
  });

  it('runs prepare first: a subclass can refuse before handing over', async () => {
    let handedOver = 0;
    class Guarded extends FallbackHandler {
      override prepare(): void {
        if (this.request.headers.authorization !== 'Bearer ok') throw new HttpError(401);
        super.prepare();
      }
    }
    const { srv } = await serveRoutes([
      url('/admin', Guarded, {
        fallback: (req, res) => {
          handedOver++;
          echoListener(req, res);
        },
      }),
    ]);
    const refused = await srv.fetch('/admin', { method: 'POST', body: 'x' });
    expect(refused.status).toBe(401);
    expect(handedOver).toBe(0);
    const allowed = await srv.fetch('/admin', {
      method: 'POST',
      body: 'x',
      headers: { authorization: 'Bearer ok' },
    });
    expect(allowed.status).toBe(200);
    expect(handedOver).toBe(1);
  });

  it('a listener that throws or rejects gets a logged 500', async () => {
    const { srv, logs } = await serveRoutes([
      url('/throws', FallbackHandler, {
        fallback: () => {
          throw new Error('mounted app broke');
        },
      }),
      url('/rejects', FallbackHandler, {
        fallback: (async () => {
          throw new Error('mounted app rejected');
        }) as unknown as (req: IncomingMessage, res: ServerResponse) => void,
      }),
    ]);
    expect((await srv.fetch('/throws')).status).toBe(500);
    expect((await srv.fetch('/rejects')).status).toBe(500);
    const messages = logs.map((e) => String((e.obj.err as Error | undefined)?.message));
    expect(messages).toContain('mounted app broke');
    expect(messages).toContain('mounted app rejected');
  });

  it('observers see the status the mounted listener answered with', async () => {
    const seen: number[] = [];
    const logger = captureLogger();
    const app = new Application(
      [
        url('/teapot', FallbackHandler, {
          fallback: (_req, res) => {
            res.statusCode = 418;
            res.end();
          },
        }),
      ],
      { logger },
    );
    const finished = deferred();
    app.addObserver({
      requestFinished: (h: RequestHandler<unknown>) => {
        seen.push(h.status);
        finished.resolve();
      },
    });
    const srv = await serveForTest(app);
    expect((await srv.fetch('/teapot')).status).toBe(418);
    await within(finished.promise, 5_000, 'the observer');
    expect(seen).toEqual([418]);
  });
});
