import { describe, expect, it } from 'vitest';
import {
  type ApplicationSettings,
  RequestHandler,
  type RouteEntry,
  type TestServer,
} from '../../../src/web/index.js';
import { serveApp } from '../../support/servers.js';
import { problem, setCookies } from './support.js';

let prepared = 0;

class FormPage extends RequestHandler {
  override prepare(): void {
    prepared++;
  }
  override get(): void {
    this.write(`<form method="post">${this.xsrfFormHtml()}</form>\n${this.xsrfToken}`);
  }
  override post(): void {
    this.write({ ok: true, name: this.getBodyArgument('name', '') });
  }
  override put(): void {
    this.write({ ok: true });
  }
  override delete(): void {
    this.write({ ok: true });
  }
}

class Api extends FormPage {
  override checkXsrfCookie(): void {}
}

class OptIn extends FormPage {
  override prepare(): void {
    this.checkXsrfCookie();
  }
}

/** Streams its body, so the check (before prepare, before the body) can only use the header. */
class StreamingUpload extends RequestHandler {
  static streamRequestBody = true;
  private size = 0;
  override dataReceived(chunk: Buffer): void {
    this.size += chunk.length;
  }
  override post(): void {
    this.write({ size: this.size });
  }
}

const ROUTES: RouteEntry[] = [
  ['/', FormPage],
  ['/upload', StreamingUpload],
  ['/api', Api],
  ['/opt-in', OptIn],
];
const ON: ApplicationSettings = { xsrfCookies: true };
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

/** GETs the form page: the `_xsrf` cookie it set (or was sent) and the token in the page. */
async function page(
  srv: TestServer,
  cookie?: string,
): Promise<{ cookie: string; token: string; html: string }> {
  const res = await srv.fetch('/', cookie ? { headers: { Cookie: `_xsrf=${cookie}` } } : {});
  expect(res.status).toBe(200);
  const [html, token] = (await res.text()).split('\n') as [string, string];
  return { cookie: setCookies(res)._xsrf ?? (cookie as string), token, html };
}

describe('XSRF protection', () => {
  it('sets the _xsrf cookie and puts the token in a hidden form field', async () => {
    const srv = await serveApp(ROUTES, ON);
    const res = await srv.fetch('/');
    const cookieHeader = res.headers.getSetCookie()[0] as string;
    expect(cookieHeader).toMatch(/^_xsrf=2\|[0-9a-f]{32}\|[0-9a-f]{32}\|\d+; Path=\/$/);
    const [html, token] = (await res.text()).split('\n') as [string, string];
    expect(html).toBe(
      `<form method="post"><input type="hidden" name="_xsrf" value="${token}"></form>`,
    );
  });

  it('masks the token differently on every page, keeping the cookie', async () => {
    const srv = await serveApp(ROUTES, ON);
    const first = await page(srv);
    const second = await srv.fetch('/', { headers: { Cookie: `_xsrf=${first.cookie}` } });
    expect(second.headers.getSetCookie()).toEqual([]); // a valid cookie is kept
    const token2 = (await second.text()).split('\n')[1] as string;
    expect(token2).not.toBe(first.token);
    for (const token of [first.token, token2]) {
      const res = await srv.fetch('/', {
        method: 'POST',
        headers: { ...FORM, Cookie: `_xsrf=${first.cookie}` },
        body: `_xsrf=${encodeURIComponent(token)}&name=a`,
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true, name: 'a' });
    }
  });

  it('accepts the token from the X-XSRFToken or X-CSRFToken header (JSON bodies too)', async () => {
    const srv = await serveApp(ROUTES, ON);
    const { cookie, token } = await page(srv);
    for (const header of ['X-XSRFToken', 'X-CSRFToken']) {
      const res = await srv.fetch('/', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', Cookie: `_xsrf=${cookie}`, [header]: token },
        body: '{}',
      });
      expect(res.status).toBe(200);
    }
    // The cookie value itself is a valid masked token, as scripts read it.
    const res = await srv.fetch('/', {
      method: 'DELETE',
      headers: { Cookie: `_xsrf=${cookie}`, 'X-XSRFToken': cookie },
    });
    expect(res.status).toBe(200);
  });

  it('accepts the token from a multipart form field', async () => {
    const srv = await serveApp(ROUTES, ON);
    const { cookie, token } = await page(srv);
    const form = new FormData();
    form.append('_xsrf', token);
    form.append('name', 'multi');
    const res = await srv.fetch('/', {
      method: 'POST',
      headers: { Cookie: `_xsrf=${cookie}` },
      body: form,
    });
    expect(await res.json()).toEqual({ ok: true, name: 'multi' });
  });

  it('refuses with 403 a POST without a token, before prepare', async () => {
    const srv = await serveApp(ROUTES, ON);
    const { cookie } = await page(srv);
    const before = prepared;
    const res = await srv.fetch('/', {
      method: 'POST',
      headers: { ...FORM, Cookie: `_xsrf=${cookie}` },
      body: 'name=a',
    });
    expect(res.status).toBe(403);
    expect((await problem(res)).detail).toMatch(/'_xsrf' argument missing/);
    expect(prepared).toBe(before);
  });

  it('refuses a token that does not match the cookie', async () => {
    const srv = await serveApp(ROUTES, ON);
    const mine = await page(srv);
    const theirs = await page(srv);
    const res = await srv.fetch('/', {
      method: 'POST',
      headers: { ...FORM, Cookie: `_xsrf=${mine.cookie}` },
      body: `_xsrf=${encodeURIComponent(theirs.token)}`,
    });
    expect(res.status).toBe(403);
    expect((await problem(res)).detail).toMatch(/does not match/);
  });

  it('refuses a token without a cookie, and malformed tokens or cookies', async () => {
    const srv = await serveApp(ROUTES, ON);
    const { cookie, token } = await page(srv);
    const attempts: [string | undefined, string][] = [
      [undefined, token],
      ['garbage', token],
      [cookie, 'garbage'],
      [cookie, token.replace('|', '|0')],
      [cookie, token.replace(/^2/, '1')],
    ];
    for (const [sentCookie, sentToken] of attempts) {
      const res = await srv.fetch('/', {
        method: 'POST',
        headers: { ...FORM, ...(sentCookie ? { Cookie: `_xsrf=${sentCookie}` } : {}) },
        body: `_xsrf=${encodeURIComponent(sentToken)}`,
      });
      expect(res.status).toBe(403);
      await problem(res);
    }
  });

  it('checks a streaming handler before its body, from the header only', async () => {
    const srv = await serveApp(ROUTES, ON);
    const { cookie, token } = await page(srv);
    const withHeader = await srv.fetch('/upload', {
      method: 'POST',
      headers: { ...FORM, Cookie: `_xsrf=${cookie}`, 'X-XSRFToken': token },
      body: 'abc',
    });
    expect(await withHeader.json()).toEqual({ size: 3 });
    const inBody = await srv.fetch('/upload', {
      method: 'POST',
      headers: { ...FORM, Cookie: `_xsrf=${cookie}` },
      body: `_xsrf=${encodeURIComponent(token)}`,
    });
    expect(inBody.status).toBe(403);
  });

  it('does not take the token from the query string', async () => {
    const srv = await serveApp(ROUTES, ON);
    const { cookie, token } = await page(srv);
    const res = await srv.fetch(`/?_xsrf=${encodeURIComponent(token)}`, {
      method: 'POST',
      headers: { ...FORM, Cookie: `_xsrf=${cookie}` },
      body: 'name=a',
    });
    expect(res.status).toBe(403);
  });

  it('never checks GET, HEAD or OPTIONS', async () => {
    const srv = await serveApp(ROUTES, ON);
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      const res = await srv.fetch('/', { method });
      expect(res.status).toBeLessThan(300);
    }
  });

  it('lets a handler opt out by overriding checkXsrfCookie', async () => {
    const srv = await serveApp(ROUTES, ON);
    const res = await srv.fetch('/api', { method: 'POST', headers: FORM, body: 'name=b' });
    expect(await res.json()).toEqual({ ok: true, name: 'b' });
  });

  it('checks nothing when the setting is off, unless a handler opts in', async () => {
    const srv = await serveApp(ROUTES);
    const open = await srv.fetch('/', { method: 'POST', headers: FORM, body: 'name=c' });
    expect(open.status).toBe(200);
    expect(open.headers.getSetCookie()).toEqual([]);
    const optIn = await srv.fetch('/opt-in', { method: 'POST', headers: FORM, body: 'name=c' });
    expect(optIn.status).toBe(403);
  });

  it('uses the xsrfCookieOptions setting for the cookie', async () => {
    const srv = await serveApp(ROUTES, {
      ...ON,
      xsrfCookieOptions: { secure: true, sameSite: 'Strict', maxAge: 3600 },
    });
    const res = await srv.fetch('/');
    expect(res.headers.getSetCookie()[0]).toMatch(
      /; Path=\/; Max-Age=3600; Secure; SameSite=Strict$/,
    );
  });
});
