import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Application,
  type ApplicationSettings,
  IMMUTABLE_CACHE_CONTROL,
  RequestHandler,
  type RouteEntry,
  StaticFileHandler,
  type StaticFileOptions,
  type TestServer,
  url,
} from '../../../src/web/index.js';
import { buildRequest, parseResponse, rawOnce } from '../../support/http.js';
import { captureLogger } from '../../support/loggers.js';
import { serveApp, serveForTest } from '../../support/servers.js';
import { deferred, within } from '../../support/wait.js';

const HELLO = 'hello, static world\n';
const SECRET = 'TOP-SECRET-CONTENT';
const BIG_BYTES = 24 * 1024 * 1024;
const MEDIUM_BYTES = 200 * 1024;
/** Files of every extension of the table, and the type each must be served with. */
const TYPES: Record<string, string> = {
  'page.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'mod.mjs': 'text/javascript; charset=utf-8',
  'data.json': 'application/json; charset=utf-8',
  'app.js.map': 'application/json; charset=utf-8',
  'notes.txt': 'text/plain; charset=utf-8',
  'logo.svg': 'image/svg+xml',
  'pic.png': 'image/png',
  'photo.jpg': 'image/jpeg',
  'anim.gif': 'image/gif',
  'pic.webp': 'image/webp',
  'favicon.ico': 'image/vnd.microsoft.icon',
  'font.woff2': 'font/woff2',
  'mod.wasm': 'application/wasm',
  'UPPER.PNG': 'image/png',
  // Beyond the 36 extensions of the old hand-written table: mime-db's.
  'clip.mov': 'video/quicktime',
  'config.yaml': 'text/yaml; charset=utf-8',
  'book.epub': 'application/epub+zip',
  'report.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  // mime-db says application/node: a browser would not run it.
  'lib.cjs': 'text/javascript; charset=utf-8',
  Makefile: 'application/octet-stream',
  'blob.unknownext': 'application/octet-stream',
};

let base: string;
let root: string;
let big: Buffer;
let medium: Buffer;
const MTIME = new Date('2024-03-01T12:00:00Z');

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'tornode-static-'));
  root = join(base, 'root');
  const secret = join(base, 'secret');
  mkdirSync(root);
  mkdirSync(secret);
  writeFileSync(join(secret, 'secret.txt'), SECRET);
  writeFileSync(join(root, 'hello.txt'), HELLO);
  utimesSync(join(root, 'hello.txt'), MTIME, MTIME);
  writeFileSync(join(root, 'empty.txt'), '');
  for (const name of Object.keys(TYPES)) writeFileSync(join(root, name), `content of ${name}`);
  mkdirSync(join(root, 'docs'));
  writeFileSync(join(root, 'docs', 'index.html'), '<h1>docs</h1>');
  mkdirSync(join(root, 'bare'));
  writeFileSync(join(root, 'bare', 'file.txt'), 'in bare');
  big = randomBytes(BIG_BYTES);
  writeFileSync(join(root, 'big.bin'), big);
  medium = randomBytes(MEDIUM_BYTES);
  writeFileSync(join(root, 'medium.bin'), medium);
  symlinkSync(join(secret, 'secret.txt'), join(root, 'link-out.txt'));
  symlinkSync(secret, join(root, 'linkdir'));
  symlinkSync(join(root, 'hello.txt'), join(root, 'link-in.txt'));
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

async function start(
  options: Partial<StaticFileOptions> = {},
  settings: ApplicationSettings = {},
  extra: RouteEntry[] = [],
): Promise<TestServer> {
  const routes: RouteEntry[] = [
    ...extra,
    url('/static/{path*}', StaticFileHandler, { root, ...options }),
  ];
  return serveApp(routes, settings);
}

const sha256 = (data: Buffer | string): string =>
  createHash('sha256').update(data).digest('base64url');

describe('StaticFileHandler: serving', () => {
  it('serves a file with its type, length, strong ETag, Last-Modified and Accept-Ranges', async () => {
    const srv = await start();
    const res = await rawOnce(srv, '/static/hello.txt');
    expect(res.status).toBe(200);
    expect(res.text()).toBe(HELLO);
    expect(res.header('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.header('content-length')).toBe(String(HELLO.length));
    expect(res.chunked).toBe(false);
    expect(res.header('etag')).toBe(`"${sha256(HELLO)}"`);
    expect(res.header('last-modified')).toBe(MTIME.toUTCString());
    expect(res.header('accept-ranges')).toBe('bytes');
    expect(res.header('cache-control')).toBe('no-cache');
    expect(res.header('x-content-type-options')).toBe('nosniff');
  });

  it('answers every extension of the table with its content type', async () => {
    const srv = await start();
    for (const [name, type] of Object.entries(TYPES)) {
      const res = await srv.fetch(`/static/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type'), name).toBe(type);
      expect(await res.text(), name).toBe(`content of ${name}`);
    }
  });

  it('serves an empty file with Content-Length 0', async () => {
    const srv = await start();
    const res = await rawOnce(srv, '/static/empty.txt');
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBe('0');
    expect(res.body.length).toBe(0);
  });

  it('streams a large file intact, with its Content-Length (not chunked)', async () => {
    const srv = await start();
    const res = await rawOnce(srv, '/static/medium.bin');
    expect(res.status).toBe(200);
    expect(res.chunked).toBe(false);
    expect(res.header('content-length')).toBe(String(MEDIUM_BYTES));
    expect(res.header('content-type')).toBe('application/octet-stream');
    expect(res.body.equals(medium)).toBe(true);
  });

  it('waits for the client (back-pressure) instead of reading the whole file ahead', async () => {
    const started = deferred();
    let sent = 0; // bytes the handler has handed to the response so far
    class WatchedStatic extends StaticFileHandler {
      override flush(): Promise<void> {
        const flushed = super.flush();
        sent = this.bytesWritten;
        started.resolve();
        return flushed;
      }
    }
    const srv = await serveForTest(
      new Application([url('/static/{path*}', WatchedStatic, { root })], {
        logger: captureLogger(),
      }),
    );
    const socket = connect(srv.port, '127.0.0.1');
    socket.pause(); // the client reads nothing until the server has stalled
    const chunks: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    socket.write(buildRequest('GET', '/static/big.bin', { Connection: 'close' }));
    await within(started.promise, 15_000, 'the first flush');
    // The server has stalled once it sends nothing more while we do 20 file reads of our own (as
    // many event-loop turns as it needs to read and send 20 chunks): the socket buffers are full.
    const file = await open(join(root, 'big.bin'), 'r');
    const stalled = async (): Promise<number> => {
      for (;;) {
        const before = sent;
        for (let i = 0; i < 20; i++) await file.read(Buffer.alloc(65_536), 0, 65_536, i * 65_536);
        if (sent === before) return sent;
      }
    };
    try {
      const sentWhenStalled = await within(stalled(), 20_000, 'the server to stall');
      // Reading ahead regardless of the client would have handed the whole file over by now.
      expect(sentWhenStalled).toBeLessThan(BIG_BYTES / 2);
    } finally {
      await file.close();
    }
    socket.resume();
    await within(ended, 30_000, 'the whole file');
    const res = parseResponse(Buffer.concat(chunks));
    expect(res.status).toBe(200);
    expect(res.complete).toBe(true);
    expect(res.body.equals(big)).toBe(true);
  });

  it('HEAD sends the headers of GET and no body', async () => {
    const srv = await start();
    const get = await rawOnce(srv, '/static/medium.bin');
    const head = await rawOnce(srv, '/static/medium.bin', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.afterHead.length).toBe(0);
    for (const name of [
      'content-type',
      'content-length',
      'etag',
      'last-modified',
      'cache-control',
    ]) {
      expect(head.header(name), name).toBe(get.header(name));
    }
  });

  it('answers a missing file with 404 problem details', async () => {
    const srv = await start();
    const res = await srv.fetch('/static/nope.txt');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 404, title: 'Not Found' });
    const under = await srv.fetch('/static/hello.txt/child');
    expect(under.status).toBe(404);
  });

  it('answers methods other than GET and HEAD with 405', async () => {
    const srv = await start();
    const res = await srv.fetch('/static/hello.txt', { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
  });

  it('serves a symbolic link whose target is inside the root', async () => {
    const srv = await start();
    const res = await srv.fetch('/static/link-in.txt');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(HELLO);
  });
});

describe('StaticFileHandler: directories', () => {
  it('serves the default file of a directory', async () => {
    const srv = await start();
    const res = await srv.fetch('/static/docs/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe('<h1>docs</h1>');
  });

  it('redirects a directory path without its slash (301), keeping the query', async () => {
    const srv = await start();
    const res = await srv.fetch('/static/docs?x=1', { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/static/docs/?x=1');
  });

  it('answers 404 for a directory without its default file', async () => {
    const srv = await start();
    expect((await srv.fetch('/static/bare/')).status).toBe(404);
  });

  it('refuses directories with 403 when defaultFilename is null', async () => {
    const srv = await start({ defaultFilename: null });
    expect((await srv.fetch('/static/docs/')).status).toBe(403);
    expect((await srv.fetch('/static/')).status).toBe(403);
    expect((await srv.fetch('/static/hello.txt')).status).toBe(200);
  });
});

describe('StaticFileHandler: paths outside the root are refused', () => {
  const attempts: [string, string][] = [
    ['dot-dot', '/static/../secret/secret.txt'],
    ['dot-dot deeper', '/static/docs/../../secret/secret.txt'],
    ['encoded dot-dot', '/static/%2e%2e/secret/secret.txt'],
    ['encoded dot-dot, upper case', '/static/%2E%2E/secret/secret.txt'],
    ['encoded slashes', '/static/..%2fsecret%2fsecret.txt'],
    ['encoded slashes, upper case', '/static/docs%2F..%2F..%2Fsecret%2Fsecret.txt'],
    ['encoded slash in a harmless path', '/static/docs%2findex.html'],
    ['encoded backslashes', '/static/..%5csecret%5csecret.txt'],
    ['NUL', '/static/hello.txt%00.png'],
    ['absolute path', '/static//etc/passwd'],
    ['encoded absolute path', '/static/%2fetc%2fpasswd'],
    ['dot segment', '/static/./hello.txt'],
    ['empty segment', '/static/docs//index.html'],
    ['symlink to a file outside', '/static/link-out.txt'],
    ['symlink to a directory outside', '/static/linkdir/secret.txt'],
  ];
  for (const [name, path] of attempts) {
    it(`${name}: ${path} → 403`, async () => {
      const srv = await start();
      const res = await rawOnce(srv, path);
      expect(res.status).toBe(403);
      expect(res.text()).not.toContain(SECRET);
      expect(res.header('content-type')).toBe('application/problem+json');
    });
  }

  it('a raw backslash never reaches a file outside (the parser or the handler refuses it)', async () => {
    const srv = await start();
    const res = await rawOnce(srv, '/static/..\\secret\\secret.txt');
    expect([400, 403]).toContain(res.status);
    expect(res.text()).not.toContain(SECRET);
  });
});

describe('StaticFileHandler: conditional requests', () => {
  it('answers 304 to a matching If-None-Match: exact, in a list, weak form, or *', async () => {
    const srv = await start();
    const etag = `"${sha256(HELLO)}"`;
    for (const value of [etag, `"other", ${etag}`, `W/${etag}`, '*']) {
      const res = await rawOnce(srv, '/static/hello.txt', { 'If-None-Match': value });
      expect(res.status, value).toBe(304);
      expect(res.afterHead.length, value).toBe(0);
      expect(res.header('etag'), value).toBe(etag);
      expect(res.header('content-type'), value).toBeUndefined();
      expect(res.header('content-length'), value).toBeUndefined();
    }
    const stale = await rawOnce(srv, '/static/hello.txt', { 'If-None-Match': '"stale"' });
    expect(stale.status).toBe(200);
    expect(stale.text()).toBe(HELLO);
  });

  it('answers 304 when not modified since (the same second or later), 200 when it was', async () => {
    const srv = await start();
    const same = await rawOnce(srv, '/static/hello.txt', {
      'If-Modified-Since': MTIME.toUTCString(),
    });
    expect(same.status).toBe(304);
    const later = new Date(MTIME.getTime() + 60_000).toUTCString();
    expect((await rawOnce(srv, '/static/hello.txt', { 'If-Modified-Since': later })).status).toBe(
      304,
    );
    const earlier = new Date(MTIME.getTime() - 60_000).toUTCString();
    const modified = await rawOnce(srv, '/static/hello.txt', { 'If-Modified-Since': earlier });
    expect(modified.status).toBe(200);
    expect(modified.text()).toBe(HELLO);
    const garbage = await rawOnce(srv, '/static/hello.txt', { 'If-Modified-Since': 'yesterday' });
    expect(garbage.status).toBe(200);
  });

  it('If-None-Match wins over If-Modified-Since when both are present', async () => {
    const srv = await start();
    const later = new Date(MTIME.getTime() + 60_000).toUTCString();
    const changed = await rawOnce(srv, '/static/hello.txt', {
      'If-None-Match': '"stale"',
      'If-Modified-Since': later,
    });
    expect(changed.status).toBe(200);
    const earlier = new Date(MTIME.getTime() - 60_000).toUTCString();
    const same = await rawOnce(srv, '/static/hello.txt', {
      'If-None-Match': `"${sha256(HELLO)}"`,
      'If-Modified-Since': earlier,
    });
    expect(same.status).toBe(304);
  });

  it('notices a changed file: new ETag, no 304 for the old one', async () => {
    const srv = await start();
    const path = join(root, 'changing.txt');
    writeFileSync(path, 'version one');
    const first = await rawOnce(srv, '/static/changing.txt');
    writeFileSync(path, 'version two, longer');
    const second = await rawOnce(srv, '/static/changing.txt', {
      'If-None-Match': first.header('etag') as string,
    });
    expect(second.status).toBe(200);
    expect(second.text()).toBe('version two, longer');
    expect(second.header('etag')).toBe(`"${sha256('version two, longer')}"`);
  });
});

describe('StaticFileHandler: ranges', () => {
  const size = HELLO.length;

  it('answers one range with 206 and Content-Range', async () => {
    const srv = await start();
    const cases: [string, number, number][] = [
      ['bytes=0-4', 0, 4],
      ['bytes=7-', 7, size - 1],
      ['bytes=-6', size - 6, size - 1],
      ['bytes=3-1000', 3, size - 1],
      ['bytes=-1000', 0, size - 1],
    ];
    for (const [range, start, end] of cases) {
      const res = await rawOnce(srv, '/static/hello.txt', { Range: range });
      expect(res.status, range).toBe(206);
      expect(res.header('content-range'), range).toBe(`bytes ${start}-${end}/${size}`);
      expect(res.header('content-length'), range).toBe(String(end - start + 1));
      expect(res.text(), range).toBe(HELLO.slice(start, end + 1));
    }
  });

  it('serves a range of a streamed file', async () => {
    const srv = await start();
    const [from, to] = [100_000, 180_000];
    const res = await rawOnce(srv, '/static/medium.bin', { Range: `bytes=${from}-${to}` });
    expect(res.status).toBe(206);
    expect(res.header('content-range')).toBe(`bytes ${from}-${to}/${MEDIUM_BYTES}`);
    expect(res.body.equals(medium.subarray(from, to + 1))).toBe(true);
  });

  it('answers an unsatisfiable range with 416 and Content-Range: bytes */size', async () => {
    const srv = await start();
    for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0']) {
      const res = await rawOnce(srv, '/static/hello.txt', { Range: range });
      expect(res.status, range).toBe(416);
      expect(res.header('content-range'), range).toBe(`bytes */${size}`);
      expect(res.text()).not.toContain('hello');
    }
    const empty = await rawOnce(srv, '/static/empty.txt', { Range: 'bytes=0-' });
    expect(empty.status).toBe(416);
    expect(empty.header('content-range')).toBe('bytes */0');
  });

  it('sends the whole file for several ranges, other units and malformed ranges', async () => {
    const srv = await start();
    for (const range of ['bytes=0-1,3-4', 'items=0-4', 'bytes=5-2', 'bytes=abc', 'bytes=-']) {
      const res = await rawOnce(srv, '/static/hello.txt', { Range: range });
      expect(res.status, range).toBe(200);
      expect(res.header('content-range'), range).toBeUndefined();
      expect(res.text(), range).toBe(HELLO);
    }
  });

  it('honours If-Range: the range when the validator is current, the whole file otherwise', async () => {
    const srv = await start();
    const etag = `"${sha256(HELLO)}"`;
    const current = await rawOnce(srv, '/static/hello.txt', {
      Range: 'bytes=0-4',
      'If-Range': etag,
    });
    expect(current.status).toBe(206);
    const byDate = await rawOnce(srv, '/static/hello.txt', {
      Range: 'bytes=0-4',
      'If-Range': MTIME.toUTCString(),
    });
    expect(byDate.status).toBe(206);
    for (const validator of ['"old"', `W/${etag}`, 'Mon, 01 Jan 2001 00:00:00 GMT']) {
      const stale = await rawOnce(srv, '/static/hello.txt', {
        Range: 'bytes=0-4',
        'If-Range': validator,
      });
      expect(stale.status, validator).toBe(200);
      expect(stale.text(), validator).toBe(HELLO);
    }
  });

  it('a matching If-None-Match beats Range (304)', async () => {
    const srv = await start();
    const res = await rawOnce(srv, '/static/hello.txt', {
      Range: 'bytes=0-4',
      'If-None-Match': `"${sha256(HELLO)}"`,
    });
    expect(res.status).toBe(304);
  });

  it('ignores Range on HEAD', async () => {
    const srv = await start();
    const res = await rawOnce(srv, '/static/hello.txt', { Range: 'bytes=0-4' }, 'HEAD');
    expect(res.status).toBe(200);
    expect(res.header('content-length')).toBe(String(size));
  });
});

describe('StaticFileHandler: versioned URLs and staticUrl', () => {
  it('staticUrl appends a short content hash; the handler and the application agree', async () => {
    let fromHandler = '';
    class Page extends RequestHandler {
      override get(): void {
        fromHandler = this.staticUrl('hello.txt');
        this.finish(fromHandler);
      }
    }
    const app = new Application(
      [url('/page', Page), url('/assets/{path*}', StaticFileHandler, { root })],
      { logger: captureLogger(), staticPath: root, staticUrlPrefix: '/assets/' },
    );
    const version = sha256(HELLO).slice(0, 12);
    expect(app.staticUrl('hello.txt')).toBe(`/assets/hello.txt?v=${version}`);
    expect(app.staticUrl('/hello.txt')).toBe(`/assets/hello.txt?v=${version}`);
    expect(app.staticUrl('docs/index.html')).toMatch(/^\/assets\/docs\/index\.html\?v=[\w-]{12}$/);
    expect(app.staticUrl('missing.css')).toBe('/assets/missing.css');
    expect(app.staticUrl('../secret/secret.txt')).not.toContain('?v=');
    const srv = await serveForTest(app);
    await srv.fetch('/page');
    expect(fromHandler).toBe(`/assets/hello.txt?v=${version}`);
    const res = await srv.fetch(fromHandler);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe(IMMUTABLE_CACHE_CONTROL);
  });

  it('staticUrl defaults to the /static/ prefix and needs staticPath', () => {
    const app = new Application([], { staticPath: root });
    expect(app.staticUrl('hello.txt')).toMatch(/^\/static\/hello\.txt\?v=/);
    expect(() => new Application([]).staticUrl('hello.txt')).toThrow(/staticPath/);
  });

  it('caches only the current ?v= forever; other URLs revalidate', async () => {
    const srv = await start();
    const version = sha256(HELLO).slice(0, 12);
    const current = await srv.fetch(`/static/hello.txt?v=${version}`);
    expect(current.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const wrong = await srv.fetch('/static/hello.txt?v=notthehash');
    expect(wrong.headers.get('cache-control')).toBe('no-cache');
    const none = await srv.fetch('/static/hello.txt');
    expect(none.headers.get('cache-control')).toBe('no-cache');
  });

  it('maxAge sets the cache time of unversioned URLs', async () => {
    const srv = await start({ maxAge: 60 });
    const res = await srv.fetch('/static/hello.txt');
    expect(res.headers.get('cache-control')).toBe('public, max-age=60');
  });
});
