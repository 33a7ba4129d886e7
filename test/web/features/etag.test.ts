import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type ApplicationSettings,
  bodyEtag,
  etagMatches,
  RequestHandler,
  type RouteEntry,
  type TestServer,
  url,
} from '../../../src/web/index.js';
import { rawOnce } from '../../support/http.js';
import { serveApp } from '../../support/servers.js';

const BODY = 'Hello, ETag world';
const TAG = `W/"${createHash('sha1').update(BODY).digest('base64url')}"`;

class Text extends RequestHandler {
  override get(): void {
    this.setHeader('Cache-Control', 'private, max-age=10');
    this.finish(BODY);
  }
  override post(): void {
    this.finish(BODY);
  }
}

class Created extends RequestHandler {
  override get(): void {
    this.setStatus(201);
    this.finish(BODY);
  }
}

class Flushed extends RequestHandler {
  override async get(): Promise<void> {
    this.write(BODY);
    await this.flush();
    this.finish();
  }
}

class OwnTag extends RequestHandler {
  override get(): void {
    this.setHeader('ETag', '"v7"');
    this.finish(BODY);
  }
}

class Missing extends RequestHandler {
  override get(): void {
    this.setStatus(404);
    this.finish(BODY);
  }
}

const ROUTES: RouteEntry[] = [
  url('/text', Text),
  url('/created', Created),
  url('/flushed', Flushed),
  url('/own', OwnTag),
  url('/missing', Missing),
];

async function start(settings: ApplicationSettings = { etag: true }): Promise<TestServer> {
  return serveApp(ROUTES, settings);
}

describe('automatic ETag (etag setting)', () => {
  it('is off by default', async () => {
    const srv = await start({});
    const res = await rawOnce(srv, '/text', { 'If-None-Match': TAG });
    expect(res.status).toBe(200);
    expect(res.header('etag')).toBeUndefined();
  });

  it('gives a GET 200 sent in one piece a weak ETag: the SHA-1 of the body', async () => {
    const srv = await start();
    const res = await rawOnce(srv, '/text');
    expect(res.status).toBe(200);
    expect(res.header('etag')).toBe(TAG);
    expect(res.text()).toBe(BODY);
  });

  it('answers 304 with no body when If-None-Match matches: exact, strong form, in a list, *', async () => {
    const srv = await start();
    const strong = TAG.slice(2);
    for (const value of [TAG, strong, `"nope", ${TAG}`, `W/"a",W/"b" ,${strong}`, '*']) {
      const res = await rawOnce(srv, '/text', { 'If-None-Match': value });
      expect(res.status, value).toBe(304);
      expect(res.afterHead.length, value).toBe(0);
      expect(res.header('etag'), value).toBe(TAG);
      expect(res.header('cache-control'), value).toBe('private, max-age=10');
      expect(res.header('content-type'), value).toBeUndefined();
      expect(res.header('content-length'), value).toBeUndefined();
    }
  });

  it('answers 200 when no tag matches', async () => {
    const srv = await start();
    for (const value of ['"nope"', 'W/"nope", "other"', `${TAG.slice(0, -2)}"`]) {
      const res = await rawOnce(srv, '/text', { 'If-None-Match': value });
      expect(res.status, value).toBe(200);
      expect(res.text(), value).toBe(BODY);
    }
  });

  it('HEAD gets the same ETag and the same 304', async () => {
    const srv = await start();
    const head = await rawOnce(srv, '/text', {}, 'HEAD');
    expect(head.header('etag')).toBe(TAG);
    expect(head.header('content-length')).toBe(String(BODY.length));
    const cached = await rawOnce(srv, '/text', { 'If-None-Match': TAG }, 'HEAD');
    expect(cached.status).toBe(304);
  });

  it('uses a tag the handler set, and answers 304 for it', async () => {
    const srv = await start();
    const res = await rawOnce(srv, '/own');
    expect(res.header('etag')).toBe('"v7"');
    expect((await rawOnce(srv, '/own', { 'If-None-Match': '"v7"' })).status).toBe(304);
  });

  it('leaves alone other methods, other statuses and flushed responses', async () => {
    const srv = await start();
    const post = await rawOnce(
      srv,
      '/text',
      { 'If-None-Match': '*', 'Content-Length': '0' },
      'POST',
    );
    expect(post.status).toBe(200);
    expect(post.header('etag')).toBeUndefined();
    for (const path of ['/created', '/missing', '/flushed']) {
      const res = await rawOnce(srv, path, { 'If-None-Match': '*' });
      expect(res.status, path).not.toBe(304);
      expect(res.header('etag'), path).toBeUndefined();
      expect(res.text(), path).toBe(BODY);
    }
  });
});

describe('etagMatches and bodyEtag', () => {
  it('compares weakly and parses lists', () => {
    expect(etagMatches('"a"', '"a"')).toBe(true);
    expect(etagMatches('W/"a"', '"a"')).toBe(true);
    expect(etagMatches('"a"', 'W/"a"')).toBe(true);
    expect(etagMatches(' "x" , W/"a"', '"a"')).toBe(true);
    expect(etagMatches('"a,b", "c"', '"a,b"')).toBe(true);
    expect(etagMatches('"a,b"', '"a"')).toBe(false);
    expect(etagMatches('"ab"', '"a"')).toBe(false);
    expect(etagMatches('*', '"anything"')).toBe(true);
    expect(etagMatches('', '"a"')).toBe(false);
    expect(etagMatches('"unterminated', '"unterminated"')).toBe(false);
  });

  it('makes the same tag for the same bytes, string or buffer', () => {
    expect(bodyEtag(BODY)).toBe(TAG);
    expect(bodyEtag(Buffer.from(BODY))).toBe(TAG);
    expect(bodyEtag('other')).not.toBe(TAG);
  });
});
