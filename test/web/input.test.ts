import { describe, expect, it } from 'vitest';
import { RequestHandler, type RouteEntry } from '../../src/web/index.js';
import {
  buildRequest,
  chunk,
  exchange,
  LAST_CHUNK,
  parseResponse,
  rawRequest,
} from '../support/http.js';
import { serveApp } from '../support/servers.js';
import { RawClient } from '../support/socket.js';

async function problem(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  return (await res.json()) as Record<string, unknown>;
}

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'Content-Type': 'application/json' };

// -------------------------------------------------------------------------------------------------
// Path arguments

class EchoArgs extends RequestHandler {
  override get(...args: string[]): void {
    this.write({ args, params: this.pathParams, pathArgs: this.pathArgs });
  }
}

class TwoArgs extends RequestHandler {
  override get(user: string, post: string): void {
    this.write({ user, post });
  }
}

describe('path arguments', () => {
  const routes: RouteEntry[] = [
    ['/users/{user}/posts/{post}', TwoArgs],
    ['/t/{a}/{b}', EchoArgs],
    ['/files/{path*}', EchoArgs],
    [/^\/re\/([^/]+)\/(\d+)$/, EchoArgs],
    [/^\/named\/(?<kind>[a-z]+)\/(?<id>[^/]+)$/, EchoArgs],
  ];

  it('reach the verb decoded, in order, from a template', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/users/a%20b%2Fc/posts/caf%C3%A9+1');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ user: 'a b/c', post: 'café+1' });
  });

  it('are also named in pathParams', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/t/x%3Dy/%E2%9C%93');
    expect(await res.json()).toEqual({
      args: ['x=y', '✓'],
      params: { a: 'x=y', b: '✓' },
      pathArgs: ['x=y', '✓'],
    });
  });

  it('capture the rest of the path with {name*}', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/files/dir/sub%20dir/file.txt');
    expect(await res.json()).toMatchObject({
      args: ['dir/sub dir/file.txt'],
      params: { path: 'dir/sub dir/file.txt' },
    });
  });

  it('come from regular expression groups, decoded; named groups appear in pathParams', async () => {
    const srv = await serveApp(routes);
    const positional = await srv.fetch('/re/%C3%BCber/42');
    expect(await positional.json()).toEqual({
      args: ['über', '42'],
      params: {},
      pathArgs: ['über', '42'],
    });
    const named = await srv.fetch('/named/item/a%2Bb');
    expect(await named.json()).toMatchObject({
      args: ['item', 'a+b'],
      params: { kind: 'item', id: 'a+b' },
    });
  });

  it('with bad percent-encoding are a 400 problem', async () => {
    const srv = await serveApp(routes);
    for (const path of ['/t/%E0%A4%A/x', '/t/%ZZ/x', '/t/%FF/x', '/re/%C3/1']) {
      const res = await srv.fetch(path);
      expect(res.status, path).toBe(400);
      expect(await problem(res), path).toMatchObject({
        type: 'about:blank',
        title: 'Bad Request',
        status: 400,
        detail: 'malformed percent-encoding in path',
      });
    }
  });
});

// -------------------------------------------------------------------------------------------------
// Query and form arguments

class ArgsHandler extends RequestHandler {
  override get(): void {
    this.write({
      last: this.getArgument('a', 'dflt'),
      unstripped: this.getArgument('a', 'dflt', false),
      all: this.getArguments('a'),
      allRaw: this.getArguments('a', false),
    });
  }
  override post(): void {
    this.write({
      last: this.getArgument('a', 'dflt'),
      all: this.getArguments('a'),
      query: this.getQueryArgument('a', 'none'),
      queryAll: this.getQueryArguments('a'),
      body: this.getBodyArgument('a', 'none'),
      bodyAll: this.getBodyArguments('a'),
      bodyOnlyFromQuery: this.getQueryArgument('bonly', 'none'),
      bodyOnly: this.getArgument('bonly', 'none'),
      queryOnlyFromBody: this.getBodyArgument('qonly', 'none'),
      msg: this.getArgument('msg', 'none'),
    });
  }
}

class RequiredArg extends RequestHandler {
  override get(): void {
    this.write({ name: this.getArgument('name') });
  }
  override post(): void {
    this.write({ fromBody: this.getBodyArgument('name') });
  }
}

class ProtoArgs extends RequestHandler {
  override get(): void {
    this.write({
      proto: this.getArgument('__proto__', 'missing'),
      protoAll: this.getArguments('__proto__'),
      ctor: this.getArgument('constructor', 'missing'),
      toString: this.getArgument('toString', 'missing'),
      hasOwn: this.getQueryArguments('hasOwnProperty'),
      names: Object.keys(this.queryArguments),
    });
  }
}

describe('query and form arguments', () => {
  const routes: RouteEntry[] = [
    ['/args', ArgsHandler],
    ['/required', RequiredArg],
    ['/proto', ProtoArgs],
  ];

  it('getArgument returns the last value; getArguments every one', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/args?a=1&a=2&b=x&a=3');
    expect(await res.json()).toMatchObject({ last: '3', all: ['1', '2', '3'] });
  });

  it('strips whitespace unless told not to', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/args?a=%20%20x%20y%09%0A');
    expect(await res.json()).toMatchObject({
      last: 'x y',
      unstripped: '  x y\t\n',
      all: ['x y'],
      allRaw: ['  x y\t\n'],
    });
  });

  it('turns control characters into spaces (tab and newline kept)', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/args?a=%00a%01b%08c%09d%1Fe%0B');
    expect(await res.json()).toMatchObject({
      unstripped: ' a b c\td e\v',
      last: 'a b c\td e',
    });
  });

  it('gives the default when missing, and an empty value when present but empty', async () => {
    const srv = await serveApp(routes);
    expect(await (await srv.fetch('/args?b=1')).json()).toMatchObject({ last: 'dflt', all: [] });
    expect(await (await srv.fetch('/args?a=')).json()).toMatchObject({ last: '', all: [''] });
    expect(await (await srv.fetch('/args?a')).json()).toMatchObject({ last: '', all: [''] });
  });

  it('missing without a default is a 400 problem naming the argument', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/required?other=1');
    expect(res.status).toBe(400);
    const body = await problem(res);
    expect(body).toMatchObject({ type: 'about:blank', title: 'Bad Request', status: 400 });
    expect(body.detail).toContain('name');
    const ok = await srv.fetch('/required?name=%20bob%20');
    expect(await ok.json()).toEqual({ name: 'bob' });
  });

  it('merges query then form body values, and keeps the two apart when asked', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/args?a=q1&a=q2&qonly=1', {
      method: 'POST',
      headers: FORM,
      body: 'a=b1&a=b2&bonly=yes',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      last: 'b2',
      all: ['q1', 'q2', 'b1', 'b2'],
      query: 'q2',
      queryAll: ['q1', 'q2'],
      body: 'b2',
      bodyAll: ['b1', 'b2'],
      bodyOnlyFromQuery: 'none',
      bodyOnly: 'yes',
      queryOnlyFromBody: 'none',
      msg: 'none',
    });
  });

  it('getBodyArgument does not fall back to the query', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/required?name=q', { method: 'POST', headers: FORM, body: 'x=1' });
    expect(res.status).toBe(400);
    expect((await problem(res)).detail).toContain('name');
    const ok = await srv.fetch('/required?name=q', {
      method: 'POST',
      headers: FORM,
      body: 'name=b',
    });
    expect(await ok.json()).toEqual({ fromBody: 'b' });
  });

  it('decodes + as a space and %2B as a plus, in forms and queries', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/args?a=one+two', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8' },
      body: 'msg=hello+world+%2B+caf%C3%A9',
    });
    expect(await res.json()).toMatchObject({ query: 'one two', msg: 'hello world + café' });
  });

  it('reads no form arguments from a body of another type', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/args', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body: 'a=from-text',
    });
    expect(await res.json()).toMatchObject({ last: 'dflt', bodyAll: [] });
  });

  it('bad percent-encoding in the query or a form is a 400 problem', async () => {
    const srv = await serveApp(routes);
    for (const query of ['a=%ZZ', 'a=%', 'a=%FF', '%E0%A4%A=1']) {
      const res = await srv.fetch(`/args?${query}`);
      expect(res.status, query).toBe(400);
      expect(await problem(res), query).toMatchObject({ status: 400, title: 'Bad Request' });
    }
    const form = await srv.fetch('/args', { method: 'POST', headers: FORM, body: 'a=%C3%28' });
    expect(form.status).toBe(400);
    expect(await problem(form)).toMatchObject({ status: 400 });
  });

  it('more than maxParams pairs is a 400 problem; exactly maxParams is fine', async () => {
    const srv = await serveApp(routes, { maxParams: 5 });
    const pairs = (n: number) => Array.from({ length: n }, (_, i) => `a=${i}`).join('&');
    const ok = await srv.fetch(`/args?${pairs(5)}`);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { all: string[] }).all).toHaveLength(5);
    const tooMany = await srv.fetch(`/args?${pairs(6)}`);
    expect(tooMany.status).toBe(400);
    expect((await problem(tooMany)).detail).toContain('too many parameters');
    const form = await srv.fetch('/args', { method: 'POST', headers: FORM, body: pairs(6) });
    expect(form.status).toBe(400);
    expect((await problem(form)).detail).toContain('too many parameters');
  });

  it('treats __proto__, constructor and other Object.prototype names as plain keys', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/proto?__proto__=x&__proto__=y&constructor=c&polluted=1');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      proto: 'y',
      protoAll: ['x', 'y'],
      ctor: 'c',
      toString: 'missing',
      hasOwn: [],
      names: ['__proto__', 'constructor', 'polluted'],
    });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const missing = await srv.fetch('/proto');
    expect(await missing.json()).toMatchObject({ proto: 'missing', ctor: 'missing' });
  });
});

// -------------------------------------------------------------------------------------------------
// JSON bodies

class JsonEcho extends RequestHandler {
  override async post(): Promise<void> {
    const value = await this.json();
    const again = await this.json();
    this.write({ got: value, same: value === again });
  }
  override async patch(): Promise<void> {
    this.write({ got: await this.json() });
  }
}

describe('JSON bodies', () => {
  const routes: RouteEntry[] = [['/json', JsonEcho]];

  it('are parsed by json()', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/json', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ text: 'héllo', n: [1, 2], nested: { ok: true } }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      got: { text: 'héllo', n: [1, 2], nested: { ok: true } },
      same: true,
    });
  });

  it('accept any +json type such as application/merge-patch+json', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/json', {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/merge-patch+json' },
      body: '{"name":null}',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ got: { name: null } });
  });

  it('malformed is a 400 problem', async () => {
    const srv = await serveApp(routes);
    for (const body of ['{"a":', '{a:1}', "{'a':1}", '[1,]', 'nope']) {
      const res = await srv.fetch('/json', { method: 'POST', headers: JSON_TYPE, body });
      expect(res.status, body).toBe(400);
      expect(await problem(res), body).toMatchObject({
        type: 'about:blank',
        title: 'Bad Request',
        status: 400,
      });
    }
  });

  it('with invalid UTF-8 bytes is a 400 problem', async () => {
    const srv = await serveApp(routes);
    const bytes = Buffer.concat([
      Buffer.from('{"a":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    const res = await srv.fetch('/json', { method: 'POST', headers: JSON_TYPE, body: bytes });
    expect(res.status).toBe(400);
    expect((await problem(res)).detail).toContain('UTF-8');
  });

  it('of another content type (or none) is a 415 problem', async () => {
    const srv = await serveApp(routes);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      const res = await srv.fetch('/json', {
        method: 'POST',
        headers: { 'Content-Type': type },
        body: '{"a":1}',
      });
      expect(res.status, type).toBe(415);
      expect(await problem(res), type).toMatchObject({
        title: 'Unsupported Media Type',
        status: 415,
      });
    }
    const none = await rawRequest(
      srv.port,
      buildRequest('POST', '/json', { Connection: 'close' }, '{"a":1}'),
    );
    expect(none.response.status).toBe(415);
    const latin1 = await srv.fetch('/json', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=latin1' },
      body: '{"a":1}',
    });
    expect(latin1.status).toBe(415);
    await latin1.body?.cancel();
  });

  it('empty is a 400 problem', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/json', { method: 'POST', headers: JSON_TYPE, body: '' });
    expect(res.status).toBe(400);
    expect((await problem(res)).detail).toContain('empty');
    const noBody = await rawRequest(
      srv.port,
      buildRequest('POST', '/json', { ...JSON_TYPE, Connection: 'close' }),
    );
    expect(noBody.response.status).toBe(400);
  });

  it('with prototype-poisoning keys are a 400 problem and pollute nothing', async () => {
    const srv = await serveApp(routes);
    const bodies = [
      '{"__proto__": {"polluted": 1}}',
      '{"constructor": {"prototype": {"polluted": 1}}}',
      '{"a": [{"b": {"__proto__": {"polluted": 1}}}]}',
      // the keys written with escapes
      '{"\\u005f\\u005Fproto__": {"polluted": 1}}',
      '{"\\u0063onstructor": {"prototype": {"polluted": 1}}}',
    ];
    for (const body of bodies) {
      const res = await srv.fetch('/json', { method: 'POST', headers: JSON_TYPE, body });
      expect(res.status, body).toBe(400);
      expect(await problem(res), body).toMatchObject({ status: 400, title: 'Bad Request' });
      expect(({} as Record<string, unknown>).polluted, body).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    }
    const harmless = await srv.fetch('/json', {
      method: 'POST',
      headers: JSON_TYPE,
      body: '{"constructor": "just a string", "proto": 1}',
    });
    expect(harmless.status).toBe(200);
    expect(await harmless.json()).toMatchObject({
      got: { constructor: 'just a string', proto: 1 },
    });
  });
});

// -------------------------------------------------------------------------------------------------
// Body limits

let bodyCalls = 0;

class BodySize extends RequestHandler {
  override post(): void {
    bodyCalls++;
    this.write({ bytes: this.body.length });
  }
}

class TinyLimit extends BodySize {
  static maxBodyBytes = 10;
}

class LargerLimit extends BodySize {
  static maxBodyBytes = 100;
}

describe('body limits', () => {
  const routes: RouteEntry[] = [
    ['/body', BodySize],
    ['/tiny', TinyLimit],
    ['/larger', LargerLimit],
  ];

  it('Content-Length over the limit: 413 before the body is sent, then the connection closes', async () => {
    const srv = await serveApp(routes, { maxBodyBytes: 1024 });
    bodyCalls = 0;
    // Only the head goes out: the 413 must come without the server waiting for 10 MB.
    const { response, closedByServer, timedOut } = await rawRequest(
      srv.port,
      buildRequest('POST', '/body', { 'Content-Length': 10_000_000 }),
    );
    expect(timedOut).toBe(false);
    expect(closedByServer).toBe(true);
    expect(response.status).toBe(413);
    expect(response.header('connection')).toBe('close');
    expect(response.header('content-type')).toBe('application/problem+json');
    expect(JSON.parse(response.text())).toMatchObject({
      title: 'Payload Too Large',
      status: 413,
    });
    expect(bodyCalls).toBe(0);
  });

  it('chunked body passing the limit: 413 with Connection: close, and the connection closes', async () => {
    const srv = await serveApp(routes, { maxBodyBytes: 1024 });
    bodyCalls = 0;
    // The body never ends: the server must answer once it passes the limit.
    const { response, closedByServer, timedOut } = await rawRequest(srv.port, [
      buildRequest('POST', '/body', { 'Transfer-Encoding': 'chunked' }),
      chunk('x'.repeat(600)),
      chunk('y'.repeat(600)),
    ]);
    expect(timedOut).toBe(false);
    expect(closedByServer).toBe(true);
    expect(response.status).toBe(413);
    expect(response.header('connection')).toBe('close');
    expect(JSON.parse(response.text())).toMatchObject({ status: 413 });
    expect(bodyCalls).toBe(0);
  });

  it('a small body over the limit is not read either: 413 and the connection closes', async () => {
    // The contract: the rest of a refused body is not read, whatever its size, so the connection
    // cannot be reused: a request pipelined behind it gets no answer.
    const srv = await serveApp(routes, { maxBodyBytes: 100 });
    bodyCalls = 0;
    const { data, closedByServer } = await exchange(srv.port, [
      buildRequest('POST', '/body', {}, 'x'.repeat(2000)),
      buildRequest('POST', '/body', { Connection: 'close' }, 'y'.repeat(100)),
    ]);
    expect(closedByServer).toBe(true);
    const first = parseResponse(data);
    expect(first.status).toBe(413);
    expect(first.header('connection')).toBe('close');
    expect(first.rest.length).toBe(0);
  });

  it('a Content-Encoding other than identity is a 415 problem', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/body', {
      method: 'POST',
      headers: { 'Content-Encoding': 'gzip' },
      body: 'not really gzip',
    });
    expect(res.status).toBe(415);
    expect((await problem(res)).detail).toContain('Content-Encoding');
  });

  it('a body of exactly the limit is accepted, with Content-Length or chunked', async () => {
    const srv = await serveApp(routes, { maxBodyBytes: 1024 });
    const exact = await rawRequest(
      srv.port,
      buildRequest('POST', '/body', { Connection: 'close' }, 'z'.repeat(1024)),
    );
    expect(exact.response.status).toBe(200);
    expect(JSON.parse(exact.response.text())).toEqual({ bytes: 1024 });
    const chunked = await rawRequest(srv.port, [
      buildRequest('POST', '/body', { 'Transfer-Encoding': 'chunked', Connection: 'close' }),
      chunk('a'.repeat(512)),
      chunk('b'.repeat(512)),
      LAST_CHUNK,
    ]);
    expect(chunked.response.status).toBe(200);
    expect(JSON.parse(chunked.response.text())).toEqual({ bytes: 1024 });
    const over = await srv.fetch('/body', { method: 'POST', body: 'z'.repeat(1025) });
    expect(over.status).toBe(413);
    await over.body?.cancel();
  });

  it('a body that arrives after its head, or whole with it, reaches the handler whole', async () => {
    // The whole body is usually taken from the request's buffer a tick after its head; one still
    // arriving then is read as it comes.
    const srv = await serveApp(routes, { maxBodyBytes: 1024 });
    const client = await RawClient.connect(srv.port);
    await client.write(buildRequest('POST', '/body', { 'Content-Length': 700 }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.write('a'.repeat(300));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await client.write('b'.repeat(400));
    const late = await client.readResponse(5_000, 'POST');
    expect(late.status).toBe(200);
    expect(JSON.parse(late.text())).toEqual({ bytes: 700 });
    // The same connection goes on: a body sent with its head, then a chunked one whole.
    client.send(buildRequest('POST', '/body', {}, 'c'.repeat(1000)));
    const whole = await client.readResponse(5_000, 'POST');
    expect(JSON.parse(whole.text())).toEqual({ bytes: 1000 });
    client.send(
      Buffer.concat([
        buildRequest('POST', '/body', { 'Transfer-Encoding': 'chunked' }),
        chunk('ddd'),
        Buffer.from(LAST_CHUNK),
      ]),
    );
    const chunked = await client.readResponse(5_000, 'POST');
    expect(JSON.parse(chunked.text())).toEqual({ bytes: 3 });
    client.destroy();
  });

  it('a chunked body over the limit that came whole with its head is a 413 too', async () => {
    const srv = await serveApp(routes, { maxBodyBytes: 1024 });
    bodyCalls = 0;
    const head = buildRequest('POST', '/body', {
      'Transfer-Encoding': 'chunked',
      Connection: 'close',
    });
    const { response } = await rawRequest(
      srv.port,
      Buffer.concat([
        head,
        chunk('x'.repeat(600)),
        chunk('y'.repeat(600)),
        Buffer.from(LAST_CHUNK),
      ]),
    );
    expect(response.status).toBe(413);
    expect(JSON.parse(response.text())).toMatchObject({ status: 413 });
    expect(bodyCalls).toBe(0);
  });

  it('a static maxBodyBytes on the class overrides the application setting', async () => {
    const srv = await serveApp(routes, { maxBodyBytes: 50 });
    const tinyOk = await srv.fetch('/tiny', { method: 'POST', body: '0123456789' });
    expect(tinyOk.status).toBe(200);
    expect(await tinyOk.json()).toEqual({ bytes: 10 });
    const tinyOver = await srv.fetch('/tiny', { method: 'POST', body: '0123456789a' });
    expect(tinyOver.status).toBe(413);
    expect((await problem(tinyOver)).detail).toContain('10 bytes');
    const appOk = await srv.fetch('/body', { method: 'POST', body: '0123456789a' });
    expect(appOk.status).toBe(200);
    await appOk.body?.cancel();
    const larger = await srv.fetch('/larger', { method: 'POST', body: 'x'.repeat(80) });
    expect(larger.status).toBe(200);
    expect(await larger.json()).toEqual({ bytes: 80 });
    const appOver = await srv.fetch('/body', { method: 'POST', body: 'x'.repeat(80) });
    expect(appOver.status).toBe(413);
    await appOver.body?.cancel();
  });
});

// -------------------------------------------------------------------------------------------------
// Client address and scheme

class WhoAmI extends RequestHandler {
  override get(): void {
    this.write({ ip: this.remoteIp, protocol: this.protocol });
  }
}

describe('remoteIp and protocol', () => {
  const routes: RouteEntry[] = [['/who', WhoAmI]];
  const forwarded = {
    'X-Forwarded-For': '203.0.113.1, 198.51.100.7',
    'X-Real-IP': '192.0.2.55',
    'X-Forwarded-Proto': 'https',
  };

  it('ignore X-Forwarded-* and X-Real-IP by default', async () => {
    const srv = await serveApp(routes);
    const res = await srv.fetch('/who', { headers: forwarded });
    expect(await res.json()).toEqual({ ip: '127.0.0.1', protocol: 'http' });
  });

  it('honour them with trustProxy: X-Real-IP first, else the last X-Forwarded-For entry', async () => {
    const srv = await serveApp(routes, { trustProxy: true });
    const both = await srv.fetch('/who', { headers: forwarded });
    expect(await both.json()).toEqual({ ip: '192.0.2.55', protocol: 'https' });
    const xff = await srv.fetch('/who', {
      headers: { 'X-Forwarded-For': '203.0.113.1, 198.51.100.7' },
    });
    expect(await xff.json()).toEqual({ ip: '198.51.100.7', protocol: 'http' });
    const scheme = await srv.fetch('/who', { headers: { 'X-Scheme': 'https' } });
    expect(await scheme.json()).toEqual({ ip: '127.0.0.1', protocol: 'https' });
    const bogus = await srv.fetch('/who', { headers: { 'X-Forwarded-Proto': 'gopher' } });
    expect(await bogus.json()).toEqual({ ip: '127.0.0.1', protocol: 'http' });
    const none = await srv.fetch('/who');
    expect(await none.json()).toEqual({ ip: '127.0.0.1', protocol: 'http' });
  });
});
