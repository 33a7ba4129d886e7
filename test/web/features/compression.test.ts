import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  brotliDecompressSync,
  createBrotliDecompress,
  createGunzip,
  gunzipSync,
  gzipSync,
} from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Application,
  type ApplicationSettings,
  HttpError,
  isCompressible,
  negotiateEncoding,
  RequestHandler,
  type RouteEntry,
  StaticFileHandler,
  type TestServer,
  url,
} from '../../../src/web/index.js';
import { rawOnce } from '../../support/http.js';
import { captureLogger } from '../../support/loggers.js';
import { serveApp, serveForTest } from '../../support/servers.js';
import { deferred, within } from '../../support/wait.js';

const TEXT = 'All work and no play makes Jack a dull boy. '.repeat(100); // 4400 bytes
const PNG = Buffer.alloc(5000, 1);
const PRE_ENCODED = gzipSync('already compressed by the handler '.repeat(100));

function bodyOf(bytes: number): string {
  return 'x'.repeat(bytes);
}

class BigText extends RequestHandler {
  override get(): void {
    this.setHeader('Content-Type', 'text/plain; charset=utf-8');
    this.finish(TEXT);
  }
}

class WithLength extends RequestHandler {
  override get(): void {
    this.setHeader('Content-Length', Buffer.byteLength(TEXT));
    this.finish(TEXT);
  }
}

class Sized extends RequestHandler {
  override get(bytes: string): void {
    this.finish(bodyOf(Number(bytes)));
  }
}

class Json extends RequestHandler {
  override get(): void {
    this.finish({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })) });
  }
}

class Png extends RequestHandler {
  override get(): void {
    this.setHeader('Content-Type', 'image/png');
    this.finish(PNG);
  }
}

class PreEncoded extends RequestHandler {
  override get(): void {
    this.setHeader('Content-Type', 'text/plain');
    this.setHeader('Content-Encoding', 'gzip');
    this.finish(PRE_ENCODED);
  }
}

class NoContent extends RequestHandler {
  override get(): void {
    this.setStatus(204);
    this.finish();
  }
}

class VaryCookie extends RequestHandler {
  override get(): void {
    this.setHeader('Vary', 'Cookie');
    this.finish(TEXT);
  }
}

class VaryAlready extends RequestHandler {
  override get(): void {
    this.setHeader('Vary', 'accept-encoding');
    this.finish(TEXT);
  }
}

class BigProblem extends RequestHandler {
  override get(): void {
    throw new HttpError(422, TEXT);
  }
}

const ROUTES: RouteEntry[] = [
  url('/text', BigText),
  url('/with-length', WithLength),
  url('/sized/{bytes}', Sized),
  url('/json', Json),
  url('/png', Png),
  url('/pre-encoded', PreEncoded),
  url('/no-content', NoContent),
  url('/vary-cookie', VaryCookie),
  url('/vary-already', VaryAlready),
  url('/problem', BigProblem),
];

async function start(
  settings: ApplicationSettings = { compress: true },
  routes: RouteEntry[] = ROUTES,
): Promise<TestServer> {
  return serveApp(routes, settings);
}

function decode(encoding: string | undefined, body: Buffer): string {
  if (encoding === 'gzip') return gunzipSync(body).toString();
  if (encoding === 'br') return brotliDecompressSync(body).toString();
  return body.toString();
}

describe('compression: negotiation', () => {
  const cases: [string | undefined, string | undefined][] = [
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['br;q=0.5, gzip', 'gzip'],
    ['gzip;q=0.8, br;q=0.9', 'br'],
    ['gzip;q=0.9, br;q=0.8', 'gzip'],
    ['*', 'br'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['gzip;q=0.5', 'gzip'],
    ['identity', undefined],
    ['identity;q=1, gzip;q=0.5', undefined],
    ['gzip;q=0', undefined],
    ['gzip;q=abc', undefined],
    ['deflate', undefined],
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [accept, expected] of cases) {
    it(`Accept-Encoding ${JSON.stringify(accept)} → ${expected ?? 'identity'}`, async () => {
      const srv = await start();
      const res = await rawOnce(
        srv,
        '/text',
        accept === undefined ? {} : { 'Accept-Encoding': accept },
      );
      expect(res.status).toBe(200);
      expect(res.header('content-encoding')).toBe(expected);
      expect(res.header('vary')).toBe('Accept-Encoding');
      expect(decode(expected, res.body)).toBe(TEXT);
      expect(Number(res.header('content-length'))).toBe(res.body.length);
      if (expected !== undefined) expect(res.body.length).toBeLessThan(TEXT.length / 4);
    });
  }

  it('identity;q=0 forces compression even below the threshold', async () => {
    const srv = await start();
    const forced = await rawOnce(srv, '/sized/20', {
      'Accept-Encoding': 'identity;q=0, gzip;q=0.1',
    });
    expect(forced.header('content-encoding')).toBe('gzip');
    expect(decode('gzip', forced.body)).toBe(bodyOf(20));
    // Nothing acceptable at all: identity anyway (a 406 would help nobody).
    const none = await rawOnce(srv, '/sized/20', { 'Accept-Encoding': 'identity;q=0' });
    expect(none.header('content-encoding')).toBeUndefined();
    expect(none.text()).toBe(bodyOf(20));
  });

  it('negotiateEncoding reports the choice and whether identity was refused', () => {
    expect(negotiateEncoding('gzip, br')).toEqual({ coding: 'br', identityRefused: false });
    expect(negotiateEncoding('*;q=0')).toEqual({ coding: null, identityRefused: true });
    expect(negotiateEncoding(undefined)).toEqual({ coding: null, identityRefused: false });
  });
});

describe('compression: what is compressed', () => {
  it('is off by default', async () => {
    const srv = await start({});
    const res = await rawOnce(srv, '/text', { 'Accept-Encoding': 'gzip, br' });
    expect(res.header('content-encoding')).toBeUndefined();
    expect(res.header('vary')).toBeUndefined();
    expect(res.text()).toBe(TEXT);
  });

  it('compresses JSON, HTML and problem details; replaces a Content-Length set by the handler', async () => {
    const srv = await start();
    const json = await rawOnce(srv, '/json', { 'Accept-Encoding': 'gzip' });
    expect(json.header('content-encoding')).toBe('gzip');
    expect(JSON.parse(decode('gzip', json.body)).items).toHaveLength(200);
    const html = await rawOnce(srv, '/with-length', { 'Accept-Encoding': 'br' });
    expect(html.header('content-type')).toBe('text/html; charset=utf-8');
    expect(html.header('content-encoding')).toBe('br');
    expect(Number(html.header('content-length'))).toBe(html.body.length);
    expect(decode('br', html.body)).toBe(TEXT);
    const problem = await rawOnce(srv, '/problem', { 'Accept-Encoding': 'gzip' });
    expect(problem.status).toBe(422);
    expect(problem.header('content-encoding')).toBe('gzip');
    expect(JSON.parse(decode('gzip', problem.body)).detail).toBe(TEXT);
  });

  it('applies the threshold (default 1024 bytes), without Vary below it', async () => {
    const srv = await start();
    const at = await rawOnce(srv, '/sized/1024', { 'Accept-Encoding': 'gzip' });
    expect(at.header('content-encoding')).toBe('gzip');
    const below = await rawOnce(srv, '/sized/1023', { 'Accept-Encoding': 'gzip' });
    expect(below.header('content-encoding')).toBeUndefined();
    expect(below.header('vary')).toBeUndefined();
    expect(below.text()).toBe(bodyOf(1023));
    const lower = await start({ compress: { threshold: 10 } });
    const small = await rawOnce(lower, '/sized/10', { 'Accept-Encoding': 'gzip' });
    expect(small.header('content-encoding')).toBe('gzip');
  });

  it('leaves incompressible types, 204, HEAD and already encoded bodies alone', async () => {
    const srv = await start();
    const png = await rawOnce(srv, '/png', { 'Accept-Encoding': 'gzip' });
    expect(png.header('content-encoding')).toBeUndefined();
    expect(png.header('vary')).toBeUndefined();
    expect(png.body.equals(PNG)).toBe(true);
    const empty = await rawOnce(srv, '/no-content', { 'Accept-Encoding': 'gzip' });
    expect(empty.status).toBe(204);
    expect(empty.header('content-encoding')).toBeUndefined();
    const pre = await rawOnce(srv, '/pre-encoded', { 'Accept-Encoding': 'gzip, br' });
    expect(pre.header('content-encoding')).toBe('gzip');
    expect(pre.body.equals(PRE_ENCODED)).toBe(true);
    const head = await rawOnce(srv, '/text', { 'Accept-Encoding': 'gzip' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.header('content-encoding')).toBeUndefined();
    expect(head.header('content-length')).toBe(String(TEXT.length));
    expect(head.header('vary')).toBe('Accept-Encoding');
    expect(head.afterHead.length).toBe(0);
  });

  it('appends to an existing Vary, once', async () => {
    const srv = await start();
    const cookie = await rawOnce(srv, '/vary-cookie', { 'Accept-Encoding': 'gzip' });
    expect(cookie.header('vary')).toBe('Cookie, Accept-Encoding');
    const already = await rawOnce(srv, '/vary-already', { 'Accept-Encoding': 'gzip' });
    expect(already.header('vary')).toBe('accept-encoding');
    expect(already.header('content-encoding')).toBe('gzip');
  });

  it('with etag on: one weak tag for every coding, and a 304 without Content-Encoding', async () => {
    const srv = await start({ compress: true, etag: true });
    const plain = await rawOnce(srv, '/text');
    const zipped = await rawOnce(srv, '/text', { 'Accept-Encoding': 'gzip' });
    expect(zipped.header('content-encoding')).toBe('gzip');
    expect(zipped.header('etag')).toBe(plain.header('etag'));
    const cached = await rawOnce(srv, '/text', {
      'Accept-Encoding': 'gzip',
      'If-None-Match': zipped.header('etag') as string,
    });
    expect(cached.status).toBe(304);
    expect(cached.header('content-encoding')).toBeUndefined();
    expect(cached.afterHead.length).toBe(0);
  });

  it('counts the compressed bytes in handler.bytesWritten', async () => {
    const written = deferred<number>();
    const app = new Application(ROUTES, { logger: captureLogger(), compress: true });
    app.addObserver({ requestFinished: (h) => written.resolve(h.bytesWritten) });
    const srv = await serveForTest(app);
    const res = await rawOnce(srv, '/text', { 'Accept-Encoding': 'gzip' });
    expect(await within(written.promise, 5_000, 'the observer')).toBe(res.body.length);
  });

  it('refuses bad options when the application is built', () => {
    expect(() => new Application([], { compress: { level: 12 } })).toThrow(RangeError);
    expect(() => new Application([], { compress: { threshold: -1 } })).toThrow(RangeError);
    expect(() => new Application([], { compress: { brotliQuality: 1.5 } })).toThrow(RangeError);
  });

  it('knows the compressible types', () => {
    for (const type of [
      'text/html; charset=utf-8',
      'text/css',
      'text/javascript',
      'application/json',
      'application/problem+json',
      'application/manifest+json',
      'application/xml',
      'application/atom+xml',
      'image/svg+xml',
      'application/wasm',
      'image/x-icon',
    ]) {
      expect(isCompressible(type), type).toBe(true);
    }
    for (const type of [
      'image/png',
      'image/jpeg',
      'font/woff2',
      'application/octet-stream',
      'video/mp4',
    ]) {
      expect(isCompressible(type), type).toBe(false);
    }
  });
});

/** A streamed response whose next piece waits until the client has decoded the previous one. */
function streamingRoute(pieces: number) {
  const seen = Array.from({ length: pieces }, () => deferred<void>());
  class Stream extends RequestHandler {
    override async get(): Promise<void> {
      this.setHeader('Content-Type', 'text/event-stream');
      this.setHeader('Cache-Control', 'no-cache');
      await this.flush(); // headers first, as an event stream does
      for (let i = 0; i < pieces; i++) {
        this.write(`data: event ${i}\n\n`);
        await this.flush();
        await seen[i]?.promise;
      }
      this.finish('data: bye\n\n');
    }
  }
  return { route: url('/events', Stream), seen };
}

function getStream(
  srv: TestServer,
  path: string,
  acceptEncoding: string,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: srv.port, path, agent: false }, (res) =>
      resolve(res),
    );
    req.setHeader('Accept-Encoding', acceptEncoding);
    req.on('error', reject);
    req.end();
  });
}

describe('compression: streams', () => {
  for (const coding of ['gzip', 'br'] as const) {
    it(`${coding}: every flush reaches the client at once`, async () => {
      const pieces = 3;
      const { route, seen } = streamingRoute(pieces);
      const srv = await start({ compress: true }, [route]);
      const res = await getStream(srv, '/events', coding);
      expect(res.headers['content-encoding']).toBe(coding);
      expect(res.headers['transfer-encoding']).toBe('chunked');
      expect(res.headers.vary).toBe('Accept-Encoding');
      const decoder = coding === 'gzip' ? createGunzip() : createBrotliDecompress();
      let text = '';
      let next = 0;
      const ended = new Promise<void>((resolve, reject) => {
        decoder.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          while (next < pieces && text.includes(`event ${next}\n\n`)) {
            seen[next]?.resolve();
            next++;
          }
        });
        decoder.on('end', resolve);
        decoder.on('error', reject);
      });
      res.pipe(decoder);
      await within(ended, 10_000, `all ${pieces} events, each decoded before the next is sent`);
      expect(text).toBe('data: event 0\n\ndata: event 1\n\ndata: event 2\n\ndata: bye\n\n');
    });
  }

  it('a stream is sent as it is without Accept-Encoding (and says Vary)', async () => {
    const { route, seen } = streamingRoute(1);
    const srv = await start({ compress: true }, [route]);
    const res = await getStream(srv, '/events', 'identity');
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers.vary).toBe('Accept-Encoding');
    let text = '';
    const ended = new Promise<void>((resolve) => {
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('event 0\n\n')) seen[0]?.resolve();
      });
      res.on('end', resolve);
    });
    await within(ended, 10_000, 'the stream');
    expect(text).toBe('data: event 0\n\ndata: bye\n\n');
  });
});

describe('compression: static files', () => {
  let root: string;
  const js = `${'export function add(a, b) { return a + b; }\n'.repeat(100)}`;
  const css = `${'body { margin: 0; padding: 0; color: #333; }\n'.repeat(5000)}`;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tornode-compress-'));
    mkdirSync(join(root, 'css'));
    writeFileSync(join(root, 'app.js'), js);
    writeFileSync(join(root, 'css', 'big.css'), css);
    writeFileSync(join(root, 'pic.png'), PNG);
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  async function startStatic(): Promise<TestServer> {
    return start({ compress: true }, [url('/static/{path*}', StaticFileHandler, { root })]);
  }

  it('compresses a compressible file, with a weak ETag that still validates', async () => {
    const srv = await startStatic();
    const plain = await rawOnce(srv, '/static/app.js');
    expect(plain.header('etag')).toMatch(/^"/);
    const res = await rawOnce(srv, '/static/app.js', { 'Accept-Encoding': 'br' });
    expect(res.header('content-encoding')).toBe('br');
    expect(res.header('vary')).toBe('Accept-Encoding');
    expect(res.header('etag')).toBe(`W/${plain.header('etag')}`);
    expect(decode('br', res.body)).toBe(js);
    const cached = await rawOnce(srv, '/static/app.js', {
      'Accept-Encoding': 'br',
      'If-None-Match': res.header('etag') as string,
    });
    expect(cached.status).toBe(304);
  });

  it('compresses a streamed file chunk by chunk', async () => {
    const srv = await startStatic();
    const res = await rawOnce(srv, '/static/css/big.css', { 'Accept-Encoding': 'gzip' });
    expect(res.header('content-encoding')).toBe('gzip');
    expect(res.chunked).toBe(true);
    expect(res.header('content-length')).toBeUndefined();
    expect(decode('gzip', res.body)).toBe(css);
  });

  it('never compresses a range (206) or an image', async () => {
    const srv = await startStatic();
    const range = await rawOnce(srv, '/static/app.js', {
      'Accept-Encoding': 'gzip',
      Range: 'bytes=0-99',
    });
    expect(range.status).toBe(206);
    expect(range.header('content-encoding')).toBeUndefined();
    expect(range.text()).toBe(js.slice(0, 100));
    const png = await rawOnce(srv, '/static/pic.png', { 'Accept-Encoding': 'gzip' });
    expect(png.header('content-encoding')).toBeUndefined();
    expect(png.body.equals(PNG)).toBe(true);
  });

  it('HEAD of a compressible file: identity length, Vary, no Content-Encoding', async () => {
    const srv = await startStatic();
    const head = await rawOnce(srv, '/static/app.js', { 'Accept-Encoding': 'gzip' }, 'HEAD');
    expect(head.header('content-encoding')).toBeUndefined();
    expect(head.header('content-length')).toBe(String(js.length));
    expect(head.header('vary')).toBe('Accept-Encoding');
  });
});
