import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putCheckedHeader, putDefaultHeaders, putHeader } from '../../src/web/response.js';
import { HttpServer } from '../../src/web/server.js';
import { exchange } from '../support/http.js';

// The pending header array of HttpServer's responses must be invisible: the same calls give the
// same bytes on the wire and the same answers from the header API as a plain ServerResponse.

/** putHeader and putDefaultHeaders on HttpServer's side; their setHeader equivalents on node's. */
interface Ops {
  put(res: ServerResponse, name: string, value: string): void;
  defaults(res: ServerResponse, defaults: readonly string[], requestId?: string): void;
}
type Step = (res: ServerResponse, ops: Ops) => unknown;

const FAST: Ops = { put: putHeader, defaults: putDefaultHeaders };
const PLAIN: Ops = {
  put: (res, name, value) => void res.setHeader(name, value),
  defaults: (res, defaults, requestId = '') => {
    for (let i = 0; i < defaults.length; i += 2)
      res.setHeader(defaults[i] as string, defaults[i + 1] as string);
    if (requestId !== '') res.setHeader('X-Request-Id', requestId);
  },
};

/** Defaults shared by every response (never copied until one changes its headers). */
const SHARED: readonly string[] = Object.freeze(['Content-Type', 'text/html', 'X-A', '1']);

/** Header operations, each run on both servers. */
const SCRIPTS: Record<string, Step[]> = {
  defaults: [(res, ops) => ops.defaults(res, ['Content-Type', 'text/html', 'X-A', '1'])],
  'replace in place': [
    (res, ops) => ops.defaults(res, ['Content-Type', 'text/html', 'X-A', '1']),
    (res, ops) => ops.put(res, 'content-type', 'text/plain'),
    (res, ops) => ops.put(res, 'X-B', '2'),
  ],
  'then setHeader, appendHeader, removeHeader': [
    (res, ops) => ops.defaults(res, ['Content-Type', 'text/html', 'X-A', '1']),
    (res) => res.setHeader('X-C', ['3', '4']),
    (res) => res.appendHeader('Set-Cookie', 'a=1'),
    (res) => res.appendHeader('set-cookie', 'b=2'),
    (res) => res.removeHeader('x-a'),
    (res, ops) => ops.put(res, 'X-A', 'again'),
  ],
  'defaults and a request id': [(res, ops) => ops.defaults(res, SHARED, 'req-1')],
  'defaults and a request id, then changed': [
    (res, ops) => ops.defaults(res, SHARED, 'req-2'),
    (res, ops) => ops.put(res, 'content-type', 'text/plain'),
    (res, ops) => ops.put(res, 'X-B', '2'),
  ],
  'defaults and a request id, then setHeader': [
    (res, ops) => ops.defaults(res, SHARED, 'req-3'),
    (res) => res.setHeader('X-C', '3'),
    (res) => res.removeHeader('x-request-id'),
  ],
  'remove Date': [(res, ops) => ops.put(res, 'X-A', '1'), (res) => res.removeHeader('Date')],
};

/** What the header API says, then the response, for a script. */
function run(res: ServerResponse, steps: Step[], ops: Ops): void {
  for (const step of steps) step(res, ops);
  const seen = {
    names: res.getHeaderNames(),
    headers: { ...res.getHeaders() },
    type: res.getHeader('Content-Type') ?? null,
    hasA: res.hasHeader('x-A'),
  };
  res.end(JSON.stringify(seen));
}

let fast: HttpServer;
let fastPort: number;
let plain: ReturnType<typeof createServer>;
let plainPort: number;
const afterHead: Record<string, unknown> = {};

beforeAll(async () => {
  fast = new HttpServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    run(res, SCRIPTS[name] ?? [], FAST);
    // Read back once the head is out, as observers do.
    afterHead[name] = { type: res.getHeader('content-type'), names: res.getHeaderNames() };
  });
  fastPort = (await fast.listen(0, '127.0.0.1')).port;
  plain = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    run(res, SCRIPTS[decodeURIComponent((req.url ?? '/').slice(1))] ?? [], PLAIN);
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  plainPort = (plain.address() as AddressInfo).port;
});

afterAll(async () => {
  await fast.close(1_000);
  await new Promise((resolve) => plain.close(resolve));
});

function withoutDate(data: Buffer): string {
  return data.toString('latin1').replace(/\r\nDate: [^\r]*/, '');
}

describe('the pending header array', () => {
  for (const name of Object.keys(SCRIPTS)) {
    it(`${name}: the same bytes and the same header API answers as node:http`, async () => {
      const request = `GET /${encodeURIComponent(name)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
      const [a, b] = await Promise.all([exchange(fastPort, request), exchange(plainPort, request)]);
      expect(withoutDate(a.data)).toBe(withoutDate(b.data));
      expect(withoutDate(a.data)).toContain('HTTP/1.1 200 OK');
    });
  }

  it('headers still read back once the head is out', () => {
    expect(afterHead['replace in place']).toEqual({
      type: 'text/plain',
      names: ['content-type', 'x-a', 'x-b'],
    });
  });

  it('shared defaults are copied before a response changes them, and stay as they were', () => {
    expect(SHARED).toEqual(['Content-Type', 'text/html', 'X-A', '1']);
    expect(afterHead['defaults and a request id']).toEqual({
      type: 'text/html',
      names: ['content-type', 'x-a', 'x-request-id'],
    });
    expect(afterHead['defaults and a request id, then changed']).toEqual({
      type: 'text/plain',
      names: ['content-type', 'x-a', 'x-request-id', 'x-b'],
    });
  });

  it('a header from user code is checked as setHeader checks it', () => {
    const res = { setHeader() {} } as unknown as ServerResponse;
    expect(() => putCheckedHeader(res, 'Bad Name', 'x')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_HTTP_TOKEN' }),
    );
    expect(() => putCheckedHeader(res, 'X-A', 'a\u0001b')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_CHAR' }),
    );
  });
});
