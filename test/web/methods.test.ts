import { describe, expect, it } from 'vitest';
import { Application, RequestHandler, type RouteEntry } from '../../src/web/index.js';
import { buildRequest, parseResponse, rawRequest } from '../support/http.js';
import { silentLogger } from '../support/loggers.js';
import { serveApp, serveForTest } from '../support/servers.js';

const calls: string[] = [];

class GetPost extends RequestHandler {
  override get(): void {
    calls.push('get');
    this.setHeader('X-Custom', 'yes');
    this.write('hello world');
  }
  override post(): void {
    this.write('posted');
  }
}

class PostOnly extends RequestHandler {
  override post(): void {
    this.write('posted');
  }
}

class EveryVerb extends RequestHandler {
  override get(): void {}
  override post(): void {}
  override put(): void {}
  override patch(): void {}
  override delete(): void {}
}

class JsonGet extends RequestHandler {
  override get(): void {
    this.write({ greeting: 'héllo', n: 1 });
  }
}

class OwnHead extends RequestHandler {
  override get(): void {
    calls.push('get');
    this.write('from get');
  }
  override head(): void {
    calls.push('head');
    this.setHeader('X-From', 'head');
  }
}

class OwnOptions extends RequestHandler {
  override get(): void {}
  override options(): void {
    calls.push('options');
    this.setHeader('Access-Control-Allow-Methods', 'GET');
    this.write('custom options');
  }
}

function routes(): RouteEntry[] {
  return [
    ['/gp', GetPost],
    ['/post-only', PostOnly],
    ['/every', EveryVerb],
    ['/json', JsonGet],
    ['/own-head', OwnHead],
    ['/own-options', OwnOptions],
  ];
}

async function problem(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  return (await res.json()) as Record<string, unknown>;
}

describe('unknown paths', () => {
  it('answer 404 problem details for GET', async () => {
    const srv = await serveApp(routes());
    const res = await srv.fetch('/nowhere?x=1');
    expect(res.status).toBe(404);
    const body = await problem(res);
    expect(body).toMatchObject({ type: 'about:blank', title: 'Not Found', status: 404 });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answer 404 for every standard method, including POST with a body', async () => {
    const srv = await serveApp(routes());
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const res = await srv.fetch('/nowhere', {
        method,
        ...(method === 'OPTIONS' ? {} : { body: 'payload' }),
      });
      expect(res.status, method).toBe(404);
      expect(await problem(res), method).toMatchObject({ title: 'Not Found', status: 404 });
    }
  });

  it('answer 404 to HEAD with the headers and no body', async () => {
    const srv = await serveApp(routes());
    const { response, closedByServer } = await rawRequest(
      srv.port,
      buildRequest('HEAD', '/nowhere', { Connection: 'close' }),
      { bodiless: true },
    );
    expect(closedByServer).toBe(true);
    expect(response.status).toBe(404);
    expect(response.header('content-type')).toBe('application/problem+json');
    expect(Number(response.header('content-length'))).toBeGreaterThan(0);
    expect(response.afterHead.length).toBe(0);
  });

  it('answer 404, not 405, to methods outside the standard ones', async () => {
    const srv = await serveApp(routes());
    const res = await srv.fetch('/nowhere', { method: 'PROPFIND' });
    expect(res.status).toBe(404);
    expect(res.headers.get('allow')).toBeNull();
    expect(await problem(res)).toMatchObject({ title: 'Not Found', status: 404 });
  });

  it('reach request observers with status 404 and no route', async () => {
    const app = new Application(routes(), { logger: silentLogger });
    const seen: [string, number, unknown][] = [];
    let finished!: () => void;
    const allSeen = new Promise<void>((resolve) => {
      finished = resolve;
    });
    app.addObserver({
      requestFinished(handler) {
        seen.push([handler.method, handler.status, handler.route]);
        if (seen.length === 2) finished();
      },
    });
    const srv = await serveForTest(app);
    await (await srv.fetch('/nowhere')).body?.cancel();
    await (await srv.fetch('/nowhere', { method: 'PROPFIND' })).body?.cancel();
    await allSeen;
    expect(seen).toEqual([
      ['GET', 404, null],
      ['PROPFIND', 404, null],
    ]);
  });

  it('go to the defaultHandler setting when one is given', async () => {
    class Fallback extends RequestHandler<unknown> {
      override get(): void {
        this.setStatus(404);
        this.write(`custom 404 for ${this.path}`);
      }
    }
    const srv = await serveApp(routes(), { defaultHandler: Fallback });
    const res = await srv.fetch('/missing');
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('custom 404 for /missing');
  });
});

describe('405 Method Not Allowed', () => {
  it('lists the defined verbs, HEAD (since get exists) and OPTIONS in Allow', async () => {
    const srv = await serveApp(routes());
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const res = await srv.fetch('/gp', { method, body: 'x' });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow'), method).toBe('GET, HEAD, POST, OPTIONS');
      expect(await problem(res), method).toMatchObject({
        type: 'about:blank',
        title: 'Method Not Allowed',
        status: 405,
      });
    }
  });

  it('leaves HEAD out of Allow without get, and refuses GET and HEAD', async () => {
    const srv = await serveApp(routes());
    const get = await srv.fetch('/post-only');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST, OPTIONS');
    await get.body?.cancel();
    const head = await srv.fetch('/post-only', { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('lists every verb a handler defines', async () => {
    const srv = await serveApp(routes());
    const res = await srv.fetch('/every', { method: 'PROPFIND' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    await res.body?.cancel();
  });

  it('answers other methods such as PROPFIND with 405 on a known path', async () => {
    const srv = await serveApp(routes());
    for (const method of ['PROPFIND', 'MKCOL', 'LOCK']) {
      const res = await srv.fetch('/gp', { method });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow'), method).toBe('GET, HEAD, POST, OPTIONS');
      expect(await problem(res), method).toMatchObject({ status: 405 });
    }
  });
});

describe('HEAD', () => {
  it('is served by get: same status and headers, Content-Length of the GET body, no body bytes', async () => {
    const srv = await serveApp(routes());
    calls.length = 0;
    const get = await rawRequest(srv.port, buildRequest('GET', '/gp', { Connection: 'close' }));
    const head = await rawRequest(srv.port, buildRequest('HEAD', '/gp', { Connection: 'close' }), {
      bodiless: true,
    });
    expect(calls).toEqual(['get', 'get']);
    expect(get.response.text()).toBe('hello world');
    expect(head.closedByServer).toBe(true);
    expect(head.response.status).toBe(200);
    expect(head.response.header('content-length')).toBe('11');
    expect(head.response.header('content-type')).toBe('text/html; charset=utf-8');
    expect(head.response.header('x-custom')).toBe('yes');
    expect(head.response.header('transfer-encoding')).toBeUndefined();
    expect(head.response.afterHead.length).toBe(0);
    const names = (r: typeof get.response) =>
      r.headerList
        .map(([n]) => n)
        .filter((n) => n !== 'date')
        .sort();
    expect(names(head.response)).toEqual(names(get.response));
  });

  it('gives the byte length of a JSON body', async () => {
    const srv = await serveApp(routes());
    const get = await srv.fetch('/json');
    const bytes = Buffer.from(await get.arrayBuffer());
    const head = await rawRequest(
      srv.port,
      buildRequest('HEAD', '/json', { Connection: 'close' }),
      { bodiless: true },
    );
    expect(head.response.header('content-type')).toBe('application/json; charset=utf-8');
    expect(head.response.header('content-length')).toBe(String(bytes.length));
    expect(head.response.afterHead.length).toBe(0);
  });

  it('leaves the body out on a keep-alive connection, so the next response parses', async () => {
    const srv = await serveApp(routes());
    const both = await rawRequest(
      srv.port,
      [buildRequest('HEAD', '/gp'), buildRequest('GET', '/gp', { Connection: 'close' })],
      { bodiless: true },
    );
    expect(both.response.status).toBe(200);
    const second = parseResponse(both.response.rest);
    expect(second.status).toBe(200);
    expect(second.text()).toBe('hello world');
  });

  it('uses the handler’s own head() when defined', async () => {
    const srv = await serveApp(routes());
    calls.length = 0;
    const res = await srv.fetch('/own-head', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-from')).toBe('head');
    expect(calls).toEqual(['head']);
  });
});

describe('OPTIONS', () => {
  it('answers 204 with Allow by default', async () => {
    const srv = await serveApp(routes());
    const { response } = await rawRequest(
      srv.port,
      buildRequest('OPTIONS', '/gp', { Connection: 'close' }),
    );
    expect(response.status).toBe(204);
    expect(response.header('allow')).toBe('GET, HEAD, POST, OPTIONS');
    expect(response.afterHead.length).toBe(0);
    const postOnly = await srv.fetch('/post-only', { method: 'OPTIONS' });
    expect(postOnly.status).toBe(204);
    expect(postOnly.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('uses the handler’s options() instead when defined', async () => {
    const srv = await serveApp(routes());
    calls.length = 0;
    const res = await srv.fetch('/own-options', { method: 'OPTIONS' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('custom options');
    expect(res.headers.get('access-control-allow-methods')).toBe('GET');
    expect(res.headers.get('allow')).toBeNull();
    expect(calls).toEqual(['options']);
    const put = await srv.fetch('/own-options', { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    await put.body?.cancel();
  });
});
