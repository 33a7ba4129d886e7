import { describe, expect, it } from 'vitest';
import { Application, type CorsOptions, RequestHandler, url } from '../../src/web/index.js';
import { serveApp } from '../support/servers.js';

const calls: string[] = [];

class Api extends RequestHandler {
  override initialize(): void {
    calls.push(this.method);
  }
  override get(): void {
    this.setHeader('X-Total', '3');
    this.finish({ ok: true });
  }
  override post(): void {
    throw new Error('boom');
  }
}

const routes = [url('/api', Api)];
const preflight = (origin: string, method = 'PUT', headers = 'content-type, x-token') => ({
  method: 'OPTIONS',
  headers: {
    origin,
    'access-control-request-method': method,
    'access-control-request-headers': headers,
  },
});

describe('CORS', () => {
  const cors: CorsOptions = {
    origin: ['https://app.example', 'https://admin.example'],
    credentials: true,
    allowedHeaders: ['Content-Type', 'X-Token'],
    exposedHeaders: ['X-Total'],
    maxAge: 600,
  };

  it('answers an allowed preflight before the handler, with Vary: Origin', async () => {
    calls.length = 0;
    const srv = await serveApp(routes, { cors });
    const res = await srv.fetch('/api', preflight('https://app.example'));
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.headers.get('access-control-allow-methods')).toBe(
      'GET, HEAD, PUT, PATCH, POST, DELETE',
    );
    expect(res.headers.get('access-control-allow-headers')).toBe('content-type, x-token');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('vary')).toContain('Origin');
    expect(calls).toEqual([]);
  });

  it('gives a disallowed origin, method or header no CORS headers', async () => {
    const srv = await serveApp(routes, { cors });
    for (const init of [
      preflight('https://evil.example'),
      preflight('https://app.example', 'PROPFIND'),
      preflight('https://app.example', 'PUT', 'x-other'),
    ]) {
      const res = await srv.fetch('/api', init);
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-allow-methods')).toBeNull();
      expect(res.headers.get('vary')).toContain('Origin');
    }
    const get = await srv.fetch('/api', { headers: { origin: 'https://evil.example' } });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
    expect(get.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('marks ordinary responses of allowed origins, errors included', async () => {
    const srv = await serveApp(routes, { cors });
    const res = await srv.fetch('/api', { headers: { origin: 'https://admin.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBe('https://admin.example');
    expect(res.headers.get('access-control-expose-headers')).toBe('X-Total');
    expect(res.headers.get('vary')).toBe('Origin');
    const failed = await srv.fetch('/api', {
      method: 'POST',
      headers: { origin: 'https://admin.example' },
    });
    expect(failed.status).toBe(500);
    expect(failed.headers.get('access-control-allow-origin')).toBe('https://admin.example');
    const sameSite = await srv.fetch('/api');
    expect(sameSite.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('takes a pattern or a function; * only without credentials', async () => {
    const pattern = await serveApp(routes, { cors: { origin: /https:\/\/[a-z]+\.example/ } });
    const ok = await pattern.fetch('/api', { headers: { origin: 'https://x.example' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://x.example');
    const anchored = await pattern.fetch('/api', {
      headers: { origin: 'https://x.example.evil.test' },
    });
    expect(anchored.headers.get('access-control-allow-origin')).toBeNull();
    const fn = await serveApp(routes, { cors: { origin: (o) => o.endsWith('.test') } });
    const byFn = await fn.fetch('/api', { headers: { origin: 'http://a.test' } });
    expect(byFn.headers.get('access-control-allow-origin')).toBe('http://a.test');
    const any = await serveApp(routes, { cors: { origin: '*' } });
    const star = await any.fetch('/api', { headers: { origin: 'http://b.test' } });
    expect(star.headers.get('access-control-allow-origin')).toBe('*');
    expect(() => new Application(routes, { cors: { origin: '*', credentials: true } })).toThrow(
      /credentials/,
    );
  });

  it('is off by default: an OPTIONS preflight reaches the method check', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/api', preflight('https://app.example'));
    expect(res.status).toBe(204);
    expect(res.headers.get('allow')).toBe('GET, HEAD, POST, OPTIONS');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});
