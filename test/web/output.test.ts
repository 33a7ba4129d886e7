import { describe, expect, it } from 'vitest';
import {
  type ApplicationSettings,
  HttpError,
  RequestHandler,
  type RouteEntry,
} from '../../src/web/index.js';
import { buildRequest, rawRequest } from '../support/http.js';
import { serveRoutes } from '../support/servers.js';
import { until } from '../support/wait.js';

class WriteJson extends RequestHandler {
  override get(): void {
    this.write({ a: 1, text: 'héllo', list: [true, null] });
  }
  override post(): void {
    this.write([1, 2, 3]);
  }
}

class WriteMany extends RequestHandler {
  override get(): void {
    this.write('one,');
    this.write(Buffer.from('two,'));
    this.write(new TextEncoder().encode('three,'));
    this.write('fünf');
  }
}

class WriteText extends RequestHandler {
  override get(): void {
    this.write('<p>hi</p>');
  }
}

const injections: string[] = [];

class HeaderInjection extends RequestHandler {
  override get(): void {
    const attempts: [string, () => unknown][] = [
      ['setHeader value CRLF', () => this.setHeader('X-Evil', 'a\r\nInjected: 1')],
      ['setHeader value LF', () => this.setHeader('X-Evil', 'a\nInjected: 1')],
      ['setHeader value CR', () => this.setHeader('X-Evil', 'a\rInjected: 1')],
      ['setHeader name CRLF', () => this.setHeader('X-Evil\r\nInjected', 'x')],
      ['addHeader value CRLF', () => this.addHeader('Set-Cookie', 'a=1\r\nInjected: 1')],
      ['setStatus reason CRLF', () => this.setStatus(200, 'OK\r\nInjected: 1')],
      ['redirect CRLF', () => this.redirect('/x\r\nInjected: 1')],
    ];
    const results: Record<string, string> = {};
    for (const [label, attempt] of attempts) {
      try {
        attempt();
        results[label] = 'accepted';
      } catch (error) {
        results[label] = error instanceof Error ? error.name : 'non-error';
      }
    }
    this.write(results);
  }
  override post(): void {
    injections.push('post');
    this.setHeader('Location', '/ok\r\nInjected: 1');
    injections.push('after');
  }
}

class Headers extends RequestHandler {
  override get(): void {
    this.addHeader('Set-Cookie', 'a=1; Path=/');
    this.addHeader('Set-Cookie', 'b=2; HttpOnly');
    this.setHeader('X-Replaced', 'first');
    this.setHeader('X-Replaced', 'second');
    this.setHeader('X-Number', 42);
    this.setHeader('X-Gone', 'soon');
    this.clearHeader('X-Gone');
    this.clearHeader('X-Content-Type-Options');
    this.write('headers');
  }
}

class Redirects extends RequestHandler {
  override get(kind: string): void {
    if (kind === 'default') this.redirect('/target?x=1');
    else if (kind === 'permanent') this.redirect('https://example.com/new', 301);
    else if (kind === 'bad') this.redirect('/target', 200);
    else this.redirect('/target', 307);
  }
}

class Status extends RequestHandler {
  override get(kind: string): void {
    if (kind === 'reason') {
      this.setStatus(299, 'Quite Alright');
      this.write('custom');
    } else if (kind === 'no-content') {
      this.setStatus(204);
      this.write('must not be sent');
    } else if (kind === 'not-modified') {
      this.setStatus(304);
      this.write('must not be sent');
    } else if (kind === 'created') {
      this.setStatus(201);
      this.write({ id: 7 });
    } else {
      this.setStatus(99);
    }
  }
}

class WithDefaults extends RequestHandler {
  override setDefaultHeaders(): void {
    this.setHeader('Server', 'tornode-test');
    this.setHeader('Cache-Control', 'no-store');
  }
  override get(): void {
    this.setHeader('X-Temporary', 'yes');
    this.write('fine');
  }
  override post(): void {
    this.setHeader('X-Temporary', 'yes');
    throw new HttpError(409, 'conflict');
  }
}

class Boom extends RequestHandler {
  override get(): void {
    this.setHeader('X-Temporary', 'yes');
    throw new Error('boom');
  }
  override post(): void {
    this.setHeader('X-Temporary', 'yes');
    throw new HttpError(429, 'slow down', { headers: { 'Retry-After': '5' } });
  }
}

class Plain extends RequestHandler {
  override get(): void {
    this.write(this.requestId);
  }
}

function routes(): RouteEntry[] {
  return [
    ['/json', WriteJson],
    ['/many', WriteMany],
    ['/text', WriteText],
    ['/inject', HeaderInjection],
    ['/headers', Headers],
    ['/redirect/{kind}', Redirects],
    ['/status/{kind}', Status],
    ['/defaults', WithDefaults],
    ['/boom', Boom],
    ['/plain', Plain],
  ];
}

describe('write', () => {
  it('sends an object as JSON with application/json; charset=utf-8', async () => {
    const { srv } = await serveRoutes(routes());
    const res = await srv.fetch('/json');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const text = await res.text();
    expect(text).toBe('{"a":1,"text":"héllo","list":[true,null]}');
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    const arr = await srv.fetch('/json', { method: 'POST' });
    expect(arr.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await arr.json()).toEqual([1, 2, 3]);
  });

  it('concatenates several writes of text and bytes, with one Content-Length', async () => {
    const { srv } = await serveRoutes(routes());
    const { response } = await rawRequest(
      srv.port,
      buildRequest('GET', '/many', { Connection: 'close' }),
    );
    expect(response.status).toBe(200);
    expect(response.chunked).toBe(false);
    expect(response.text()).toBe('one,two,three,fünf');
    expect(response.header('content-length')).toBe(String(Buffer.byteLength('one,two,three,fünf')));
  });

  it('sends text as text/html; charset=utf-8 by default, with nosniff', async () => {
    const { srv } = await serveRoutes(routes());
    const res = await srv.fetch('/text');
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe('<p>hi</p>');
  });
});

class Streamed extends RequestHandler {
  override async get(): Promise<void> {
    this.write('ünï');
    await this.flush();
    this.write(Buffer.from('bytes'));
    this.finish('çödé');
  }
}

describe('bytesWritten', () => {
  it('counts the bytes of the body sent, in one piece or streamed, text or bytes', async () => {
    const { app, srv } = await serveRoutes([...routes(), ['/streamed', Streamed]]);
    const counted: number[] = [];
    app.addObserver({ requestFinished: (h) => void counted.push(h.bytesWritten) });
    for (const [path, body] of [
      ['/json', '{"a":1,"text":"héllo","list":[true,null]}'],
      ['/many', 'one,two,three,fünf'],
      ['/text', '<p>hi</p>'],
      ['/streamed', 'ünïbytesçödé'],
    ]) {
      counted.length = 0;
      const res = await srv.fetch(path as string);
      expect(await res.text()).toBe(body);
      const length = res.headers.get('content-length');
      if (length !== null) expect(Number(length)).toBe(Buffer.byteLength(body as string));
      await until(() => counted.length === 1, 'the request to finish');
      expect(counted).toEqual([Buffer.byteLength(body as string)]);
    }
    counted.length = 0;
    const head = await srv.fetch('/json', { method: 'HEAD' });
    expect(head.headers.get('content-length')).not.toBeNull();
    await until(() => counted.length === 1, 'the HEAD request to finish');
    expect(counted).toEqual([0]); // a HEAD answer carries no body
  });
});

describe('headers', () => {
  it('setHeader, addHeader, setStatus and redirect throw TypeError on CR or LF', async () => {
    const { srv } = await serveRoutes(routes());
    const { response } = await rawRequest(
      srv.port,
      buildRequest('GET', '/inject', { Connection: 'close' }),
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(response.text())).toEqual({
      'setHeader value CRLF': 'TypeError',
      'setHeader value LF': 'TypeError',
      'setHeader value CR': 'TypeError',
      'setHeader name CRLF': 'TypeError',
      'addHeader value CRLF': 'TypeError',
      'setStatus reason CRLF': 'TypeError',
      'redirect CRLF': 'TypeError',
    });
    expect(response.header('injected')).toBeUndefined();
    expect(response.header('x-evil')).toBeUndefined();
    expect(response.header('set-cookie')).toBeUndefined();
    expect(response.header('location')).toBeUndefined();
    expect(response.reason).toBe('OK');
  });

  it('an uncaught header injection becomes a logged 500 and no header is sent', async () => {
    const { srv, logs } = await serveRoutes(routes());
    injections.length = 0;
    const { response } = await rawRequest(
      srv.port,
      buildRequest('POST', '/inject', { Connection: 'close' }),
    );
    expect(response.status).toBe(500);
    expect(response.header('injected')).toBeUndefined();
    expect(response.header('location')).toBeUndefined();
    expect(injections).toEqual(['post']);
    const errors = logs.filter((e) => e.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.obj.err).toBeInstanceOf(TypeError);
  });

  it('addHeader repeats Set-Cookie; setHeader replaces; clearHeader removes', async () => {
    const { srv } = await serveRoutes(routes());
    const res = await srv.fetch('/headers');
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(res.headers.get('x-replaced')).toBe('second');
    expect(res.headers.get('x-number')).toBe('42');
    expect(res.headers.get('x-gone')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBeNull();
    expect(await res.text()).toBe('headers');
  });

  it('setDefaultHeaders applies to every response, error responses included', async () => {
    const { srv } = await serveRoutes(routes());
    const ok = await srv.fetch('/defaults');
    expect(ok.headers.get('server')).toBe('tornode-test');
    expect(ok.headers.get('cache-control')).toBe('no-store');
    expect(ok.headers.get('x-temporary')).toBe('yes');
    await ok.body?.cancel();
    const err = await srv.fetch('/defaults', { method: 'POST' });
    expect(err.status).toBe(409);
    expect(err.headers.get('server')).toBe('tornode-test');
    expect(err.headers.get('cache-control')).toBe('no-store');
    expect(err.headers.get('x-content-type-options')).toBe('nosniff');
    expect(err.headers.get('x-temporary')).toBeNull();
    await err.body?.cancel();
  });
});

describe('redirect', () => {
  it('is 302 with Location by default', async () => {
    const { srv } = await serveRoutes(routes());
    const res = await srv.fetch('/redirect/default', { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/target?x=1');
    expect(await res.text()).toBe('');
  });

  it('takes another 3xx status', async () => {
    const { srv } = await serveRoutes(routes());
    const permanent = await srv.fetch('/redirect/permanent', { redirect: 'manual' });
    expect(permanent.status).toBe(301);
    expect(permanent.headers.get('location')).toBe('https://example.com/new');
    const temporary = await srv.fetch('/redirect/temporary', { redirect: 'manual' });
    expect(temporary.status).toBe(307);
    expect(temporary.headers.get('location')).toBe('/target');
  });

  it('refuses a status outside 3xx (a 500)', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const res = await srv.fetch('/redirect/bad', { redirect: 'manual' });
    expect(res.status).toBe(500);
    expect(res.headers.get('location')).toBeNull();
    expect(logs.filter((e) => e.level === 'error')[0]?.obj.err).toBeInstanceOf(RangeError);
  });
});

describe('status', () => {
  it('setStatus with a reason phrase sends that phrase', async () => {
    const { srv } = await serveRoutes(routes());
    const { response } = await rawRequest(
      srv.port,
      buildRequest('GET', '/status/reason', { Connection: 'close' }),
    );
    expect(response.status).toBe(299);
    expect(response.reason).toBe('Quite Alright');
    expect(response.text()).toBe('custom');
    const created = await srv.fetch('/status/created');
    expect(created.status).toBe(201);
    expect(created.statusText).toBe('Created');
    expect(await created.json()).toEqual({ id: 7 });
  });

  it('204 and 304 have no body, whatever was written', async () => {
    const { srv } = await serveRoutes(routes());
    for (const [kind, status] of [
      ['no-content', 204],
      ['not-modified', 304],
    ] as const) {
      const { response, closedByServer } = await rawRequest(
        srv.port,
        buildRequest('GET', `/status/${kind}`, { Connection: 'close' }),
      );
      expect(closedByServer, kind).toBe(true);
      expect(response.status, kind).toBe(status);
      expect(response.afterHead.length, kind).toBe(0);
      expect(response.header('content-length'), kind).toBeUndefined();
      expect(response.header('transfer-encoding'), kind).toBeUndefined();
    }
  });

  it('a status outside 100..999 is a 500', async () => {
    const { srv } = await serveRoutes(routes());
    const res = await srv.fetch('/status/silly');
    expect(res.status).toBe(500);
    await res.body?.cancel();
  });
});

describe('request ids', () => {
  function counter(): ApplicationSettings {
    let n = 0;
    return { requestId: (req) => String(req.headers['x-request-id'] ?? `gen-${++n}`) };
  }

  it('go out as X-Request-Id on ordinary responses', async () => {
    const { srv } = await serveRoutes(routes(), counter());
    const first = await srv.fetch('/plain');
    expect(first.headers.get('x-request-id')).toBe('gen-1');
    expect(await first.text()).toBe('gen-1');
    const second = await srv.fetch('/plain');
    expect(second.headers.get('x-request-id')).toBe('gen-2');
    await second.body?.cancel();
    const given = await srv.fetch('/plain', { headers: { 'X-Request-Id': 'from-client' } });
    expect(given.headers.get('x-request-id')).toBe('from-client');
    await given.body?.cancel();
  });

  it('survive the header reset of error responses: 500, HttpError, 404, 405', async () => {
    const { srv } = await serveRoutes(routes(), counter());
    const cases: [string, RequestInit, number][] = [
      ['/boom', {}, 500],
      ['/boom', { method: 'POST' }, 429],
      ['/nowhere', {}, 404],
      ['/plain', { method: 'DELETE' }, 405],
      ['/status/%ZZ', {}, 400],
    ];
    for (const [path, init, status] of cases) {
      const res = await srv.fetch(path, { ...init, headers: { 'X-Request-Id': `id-${status}` } });
      expect(res.status, path).toBe(status);
      expect(res.headers.get('x-request-id'), path).toBe(`id-${status}`);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('x-temporary'), path).toBeNull();
      expect(res.headers.get('content-type'), path).toBe('application/problem+json');
      await res.body?.cancel();
    }
    const limited = await srv.fetch('/boom', { method: 'POST' });
    expect(limited.headers.get('retry-after')).toBe('5');
    expect(limited.headers.get('x-request-id')).toMatch(/^gen-\d+$/);
    await limited.body?.cancel();
  });

  it('are absent without the setting', async () => {
    const { srv } = await serveRoutes(routes());
    const res = await srv.fetch('/plain');
    expect(res.headers.get('x-request-id')).toBeNull();
    expect(await res.text()).toBe('');
  });
});
