import { describe, expect, it } from 'vitest';
import { RequestHandler } from '../../../src/web/index.js';
import { buildRequest, rawRequest } from '../../support/http.js';
import { serveApp } from '../../support/servers.js';
import { setCookies } from './support.js';

class ReadCookies extends RequestHandler {
  override get(): void {
    this.write({
      all: { ...this.cookies },
      a: this.getCookie('a') ?? null,
      missing: this.getCookie('missing') ?? null,
      withDefault: this.getCookie('missing', 'fallback'),
    });
  }
}

class SetCookies extends RequestHandler {
  override get(): void {
    this.setCookie('plain', '1');
    this.setCookie('full', 'v', {
      path: '/app',
      domain: 'example.com',
      maxAge: 60,
      httpOnly: true,
      secure: true,
      sameSite: 'Lax',
    });
    this.setCookie('dated', 'x', { expires: new Date(Date.UTC(2031, 5, 7)) });
    this.write('ok');
  }
}

class BadCookie extends RequestHandler {
  override get(): void {
    const value = this.getQueryArgument('value', undefined, false);
    try {
      this.setCookie('a', value);
      this.write('set');
    } catch (error) {
      this.write(`refused: ${(error as Error).name}`);
    }
  }
}

class Clear extends RequestHandler {
  override get(): void {
    this.clearCookie('one', { path: '/app', domain: 'example.com' });
  }
  override post(): void {
    this.clearAllCookies({ path: '/' });
  }
}

describe('reading cookies', () => {
  it('parses the Cookie header on demand, with defaults for missing ones', async () => {
    const srv = await serveApp([['/', ReadCookies]]);
    const res = await srv.fetch('/', { headers: { Cookie: 'a=1; b="two"' } });
    expect(await res.json()).toEqual({
      all: { a: '1', b: 'two' },
      a: '1',
      missing: null,
      withDefault: 'fallback',
    });
  });

  it('ignores malformed pairs instead of failing the request', async () => {
    const srv = await serveApp([['/', ReadCookies]]);
    const res = await srv.fetch('/', { headers: { Cookie: ';; junk ; =x; a=ok; %%%=%%; ;' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { a: string; all: Record<string, string> };
    expect(body.a).toBe('ok');
    expect(body.all['%%%']).toBe('%%');
  });

  it('reads cookies from several Cookie headers', async () => {
    const srv = await serveApp([['/', ReadCookies]]);
    const { response } = await rawRequest(
      srv.port,
      buildRequest('GET', '/', { Cookie: 'a=first', cookie: 'b=second', Connection: 'close' }),
    );
    const body = JSON.parse(response.text()) as { all: Record<string, string> };
    expect(body.all).toEqual({ a: 'first', b: 'second' });
  });
});

describe('setting cookies', () => {
  it('sends one Set-Cookie header per cookie, with every attribute', async () => {
    const srv = await serveApp([['/', SetCookies]]);
    const res = await srv.fetch('/');
    expect(res.headers.getSetCookie()).toEqual([
      'plain=1; Path=/',
      'full=v; Path=/app; Domain=example.com; Max-Age=60; HttpOnly; Secure; SameSite=Lax',
      'dated=x; Path=/; Expires=Sat, 07 Jun 2031 00:00:00 GMT',
    ]);
  });

  it.each([
    ['CR LF (header injection)', 'x\r\nSet-Cookie: admin=1'],
    ['a semicolon (attribute injection)', 'x; Domain=evil.example'],
    ['a comma', 'x,y'],
    ['a space', 'x y'],
  ])('refuses a value with %s with a TypeError', async (_, value) => {
    const srv = await serveApp([['/', BadCookie]]);
    const res = await srv.fetch(`/?value=${encodeURIComponent(value)}`);
    expect(await res.text()).toBe('refused: TypeError');
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('accepts a percent-encoded value', async () => {
    const srv = await serveApp([['/', BadCookie]]);
    const value = encodeURIComponent('x; y, z');
    const res = await srv.fetch(`/?value=${encodeURIComponent(value)}`);
    expect(await res.text()).toBe('set');
    expect(setCookies(res)).toEqual({ a: value });
  });
});

describe('clearing cookies', () => {
  it('expires one cookie with the path and domain it was set with', async () => {
    const srv = await serveApp([['/', Clear]]);
    const res = await srv.fetch('/');
    expect(res.headers.getSetCookie()).toEqual([
      'one=; Path=/app; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0',
    ]);
  });

  it('clearAllCookies expires every cookie the request carried', async () => {
    const srv = await serveApp([['/', Clear]]);
    const res = await srv.fetch('/', {
      method: 'POST',
      headers: { Cookie: 'a=1; odd name=x; b=2' }, // a name no Set-Cookie could carry is skipped
    });
    const headers = res.headers.getSetCookie();
    expect(headers).toHaveLength(2);
    expect(headers[0]).toMatch(/^a=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0$/);
    expect(headers[1]).toMatch(/^b=; Path=\/; /);
  });
});
