/**
 * Bad input over raw sockets, against the built service (dist/main.js) and the reliability
 * fixture: each gets the right 4xx with problem details where the service answers, nothing internal
 * leaks, and the process keeps serving. Run `npm run build` first.
 */
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Application, HttpServer } from '../../src/web/index.js';
import { chunk, exchange, hasCompleteResponse, parseResponse } from '../support/http.js';
import { LEVEL, type ServiceProcess, startService } from '../support/process.js';
import { until } from '../support/wait.js';
import {
  ask,
  bytesRead,
  expectNoLeak,
  expectProblem,
  expectServing,
  FIXTURE,
  mib,
  openFds,
  report,
  rssBytes,
  SOAK,
} from './support.js';

let main: ServiceProcess;
let fixture: ServiceProcess;

beforeAll(async () => {
  // LOG_LEVEL=info: every access line is there to prove what reached the application.
  [main, fixture] = await Promise.all([
    startService({ LOG_LEVEL: 'info' }, { shared: true }),
    startService(
      {
        LOG_LEVEL: 'info',
        FIXTURE_HEADERS_TIMEOUT_MS: '1500',
        FIXTURE_REQUEST_TIMEOUT_MS: '1500',
        KEEP_ALIVE_TIMEOUT_MS: '1500',
      },
      { script: FIXTURE, shared: true },
    ),
  ]);
});

afterAll(async () => {
  // Whatever was thrown at them, neither process crashed nor logged an error or a fatal line.
  for (const child of [main, fixture]) {
    expect(child.isRunning, child.describe()).toBe(true);
    // (The /fault/ routes fail on purpose: their error lines are the point of the leak test.)
    const errors = child.logLines.filter(
      (l) => (l.level as number) >= LEVEL.error && !String(l.url).startsWith('/fault/'),
    );
    expect(errors, child.describe()).toEqual([]);
  }
  await Promise.all([main?.stop(), fixture?.stop()]);
});

function accessLines(child: ServiceProcess, url: string): Record<string, unknown>[] {
  return child.logLines.filter((l) => l.url === url && typeof l.statusCode === 'number');
}

/** Sends `request`, expects a problem+json `status` and the connection closed by the server. */
async function expectRefused(port: number, request: string | Buffer, status: number) {
  const res = await ask(port, request);
  const body = expectProblem(res, status);
  expect(res.header('connection')).toBe('close');
  expect(res.closedByServer, 'the server closes the connection').toBe(true);
  expect(res.header('x-request-id')).toMatch(/^[A-Za-z0-9._-]{1,128}$/);
  // Exactly one response: nothing after it (a smuggled request would answer here).
  expect(res.rest.length, res.rest.toString('latin1')).toBe(0);
  return body;
}

describe('malformed requests (dist/main.js)', () => {
  it.each([
    ['garbage', 'THIS IS NOT HTTP\r\n\r\n'],
    ['an unknown HTTP version', 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['an unknown method', 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a method 5,000 bytes long', `${'A'.repeat(5000)} / HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['no request target', 'GET  HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a NUL in the target', 'GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n'],
    [
      'raw non-ASCII bytes in the target',
      Buffer.from('GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'),
    ],
    ['bare LF line ends', 'GET / HTTP/1.1\nHost: x\n\n'],
    ['an HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ])(
    'a malformed request line (%s): 400 problem+json, connection closed',
    async (_name, request) => {
      await expectRefused(main.port, request, 400);
      await expectServing(main.port);
    },
  );

  it.each([
    ['a space in a name', 'Bad Name: v'],
    ['no colon', 'NoColonHere'],
    ['a space before the colon', 'X-A : v'],
    ['a control character in a value', 'X-A: a\x01b'],
    ['a DEL in a value', 'X-A: a\x7fb'],
    ['a bare LF in a value', 'X-A: a\nX-B: b'],
    ['a bare CR in a value', 'X-A: a\rX-B: b'],
    ['an obsolete line folding', 'X-A: a\r\n folded'],
    ['a non-token name', 'X(A): v'],
  ])('invalid header characters (%s): 400 problem+json', async (_name, line) => {
    await expectRefused(main.port, `GET / HTTP/1.1\r\nHost: x\r\n${line}\r\n\r\n`, 400);
    await expectServing(main.port);
  });

  it('no Host, or two Host headers, in HTTP/1.1: 400 problem+json (RFC 9112 §3.2)', async () => {
    const missing = await expectRefused(main.port, 'GET / HTTP/1.1\r\n\r\n', 400);
    expect(missing.detail).toBe('the Host header is missing');
    const repeated = await expectRefused(
      main.port,
      'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
      400,
    );
    expect(repeated.detail).toBe('the Host header is repeated');
    // HTTP/1.0 may leave it out.
    const old = await ask(main.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(old.status).toBe(200);
    await expectServing(main.port);
  });

  it('an Expect other than 100-continue: 417 problem+json; CONNECT: 405 problem+json', async () => {
    await expectRefused(
      main.port,
      'POST /chat/messages HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n{}',
      417,
    );
    const res = await ask(main.port, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n');
    expectProblem(res, 405);
    expect(res.header('allow')).toContain('GET');
    expect(res.closedByServer).toBe(true);
    await expectServing(main.port);
  });
});

describe('request smuggling (dist/main.js)', () => {
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
  it.each([
    [
      'Content-Length then Transfer-Encoding',
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'Transfer-Encoding then Content-Length',
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'two Transfer-Encodings',
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'two different Content-Lengths',
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}${smuggled}`,
    ],
    [
      'a Content-Length list',
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 40\r\n\r\n{}${smuggled}`,
    ],
    [
      'the same Content-Length twice',
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}${smuggled}`,
    ],
    [
      'a signed Content-Length',
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}${smuggled}`,
    ],
    [
      'a bad chunk size',
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n${smuggled}`,
    ],
  ])(
    '%s: 400 problem+json, one response, and the request behind it never runs',
    async (_name, request) => {
      const before = accessLines(main, '/smuggled').length;
      await expectRefused(main.port, request, 400);
      await expectServing(main.port);
      expect(accessLines(main, '/smuggled').length).toBe(before);
      expect(accessLines(main, '/smuggled')).toEqual([]);
    },
  );
});

describe('oversized heads (dist/main.js)', () => {
  it('headers over 16 KiB, in one header or in many: 431 problem+json', async () => {
    await expectRefused(
      main.port,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`,
      431,
    );
    // (node:http counts the bytes of names and values: 2,000 × ~20 bytes.)
    const many = Array.from({ length: 2_000 }, (_, i) => `X-Header-${i}: value-${i}`).join('\r\n');
    await expectRefused(main.port, `GET / HTTP/1.1\r\nHost: x\r\n${many}\r\n\r\n`, 431);
    await expectServing(main.port);
  });

  it('a query string over 16 KiB: 431; just under it: served', async () => {
    const under = await ask(
      main.port,
      `GET /chat/messages?pad=${'a'.repeat(15_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(under.status).toBe(200);
    await expectRefused(
      main.port,
      `GET /?q=${'a'.repeat(17_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      431,
    );
    await expectServing(main.port);
  });

  it('many repeated parameters: 1,000 are parsed, 1,001 are a 400 problem, 100,000 in a form too', async () => {
    const params = (n: number) => Array.from({ length: n }, () => 'a=1').join('&');
    const ok = await ask(
      fixture.port,
      `POST /form?${params(1000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    );
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.text()) as { query: { a: string[] } }).query.a).toHaveLength(1000);
    const tooMany = await ask(
      fixture.port,
      `POST /form?${params(1001)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    );
    expect(expectProblem(tooMany, 400).detail).toMatch(/too many parameters/);
    const form = params(100_000);
    const started = performance.now();
    const big = await ask(
      fixture.port,
      `POST /form HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}`,
    );
    expectProblem(big, 400);
    report('many parameters', { formPairs: 100_000, ms: Math.round(performance.now() - started) });
    // The chat's query parsing has the same limit.
    const chat = await ask(
      main.port,
      `GET /chat/messages?${params(1001)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expectProblem(chat, 400);
    await expectServing(main.port);
  });
});

/** Opens a socket and resolves once connected. */
function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
  });
}

/** Collects what a socket receives until it closes; resolves with it and when it closed. */
function collect(socket: Socket): Promise<{ data: Buffer; closedAt: number }> {
  const parts: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => parts.push(chunk));
  return new Promise((resolve) =>
    socket.once('close', () =>
      resolve({ data: Buffer.concat(parts), closedAt: performance.now() }),
    ),
  );
}

describe('slow and stalled clients (fixture: 1.5 s headers and request timeouts)', () => {
  it('the service runs with a 20 s headers timeout checked every second, and a 300 s request timeout', () => {
    // What dist/main.js gets (the fixture only shortens them for the tests below).
    const server = new HttpServer(new Application());
    expect(server.server.headersTimeout).toBe(20_000);
    expect(server.server.requestTimeout).toBe(300_000);
    expect(
      (server.server as unknown as { connectionsCheckingInterval: number })
        .connectionsCheckingInterval,
    ).toBe(1_000);
  });

  it('slowloris: 50 clients trickling their heads a byte every 100 ms are cut off by the headers timeout with a 408', async () => {
    const start = performance.now();
    const sockets = await Promise.all(Array.from({ length: 50 }, () => open(fixture.port)));
    const outcomes = sockets.map(collect);
    const head = `GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}`;
    let sent = 0;
    const trickle = setInterval(() => {
      for (const socket of sockets)
        if (!socket.destroyed) socket.write(head[sent % head.length] ?? 'a');
      sent++;
    }, 100);
    try {
      // Meanwhile, everyone else is served.
      for (let i = 0; i < 5; i++) {
        await expectServing(fixture.port);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const results = await Promise.all(outcomes);
      for (const { data, closedAt } of results) {
        expectProblem(parseResponse(data), 408);
        // Cut off at the timeout (checked every second), although bytes kept arriving.
        expect(closedAt - start).toBeGreaterThanOrEqual(1_400);
        expect(closedAt - start).toBeLessThan(6_000);
      }
      report('slowloris', {
        clients: 50,
        headersTimeoutMs: 1500,
        cutOffAfterMs: Math.round(Math.max(...results.map((r) => r.closedAt)) - start),
        bytesTrickled: sent,
      });
    } finally {
      clearInterval(trickle);
      for (const socket of sockets) socket.destroy();
    }
    await expectServing(fixture.port);
  });

  it.runIf(SOAK)(
    'slowloris against dist/main.js: cut off by the default 20 s headers timeout',
    { timeout: 40_000 },
    async () => {
      const start = performance.now();
      const sockets = await Promise.all(Array.from({ length: 20 }, () => open(main.port)));
      const outcomes = sockets.map(collect);
      const trickle = setInterval(() => {
        for (const socket of sockets) if (!socket.destroyed) socket.write('a');
      }, 500);
      for (const socket of sockets) socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      try {
        const results = await Promise.all(outcomes);
        for (const { data, closedAt } of results) {
          expectProblem(parseResponse(data), 408);
          expect(closedAt - start).toBeGreaterThanOrEqual(19_900);
          expect(closedAt - start).toBeLessThan(30_000);
        }
        report('slowloris (dist/main.js defaults)', {
          clients: 20,
          cutOffAfterMs: Math.round(Math.max(...results.map((r) => r.closedAt)) - start),
        });
      } finally {
        clearInterval(trickle);
        for (const socket of sockets) socket.destroy();
      }
      await expectServing(main.port);
    },
  );

  it('a body shorter than its Content-Length, then a stall: 408 at the request timeout, the request logged as aborted', async () => {
    const id = `stall-${Date.now()}`;
    const started = performance.now();
    const res = await ask(
      fixture.port,
      `POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${id}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":`,
      8_000,
    );
    expect(res.timedOut).toBe(false);
    expectProblem(res, 408);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_400);
    await fixture.waitForLine(
      (l) => l.reqId === id,
      3_000,
      'the access line of the stalled request',
    );
    const line = fixture.logLines.find((l) => l.reqId === id);
    expect(line).toMatchObject({ statusCode: 499, aborted: true, url: '/echo' });
    await expectServing(fixture.port);
  });

  it('a stalled body on dist/main.js holds only its own request; it is released when the client leaves', async () => {
    const socket = await open(main.port);
    socket.write(
      'POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"te',
    );
    await until(async () => (await inFlight(main.port)) === 1, 'the request in flight', {
      timeoutMs: 3_000,
      intervalMs: 25,
    });
    for (let i = 0; i < 20; i++) await expectServing(main.port);
    socket.destroy();
    await until(async () => (await inFlight(main.port)) === 0, 'the request released', {
      timeoutMs: 3_000,
      intervalMs: 25,
    });
  });
});

async function inFlight(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^http_requests_in_flight (\S+)$/m.exec(text)?.[1]);
}

describe('bodies over the limit (dist/main.js, 1 MiB)', () => {
  /**
   * Pushes up to `total` bytes of body after `head` as fast as the connection takes them, and
   * returns the response, how many bytes the socket took before the server closed it, and how
   * many bytes the service read meanwhile.
   */
  async function push(
    head: string,
    total: number,
    piece: (bytes: Buffer) => Buffer,
    answerFirst = false,
  ) {
    const pid = main.child.pid as number;
    const readBefore = bytesRead(pid);
    const socket = await open(main.port);
    const received = collect(socket);
    let accepted = 0;
    let pushed = 0;
    const answered = new Promise((resolve) => socket.once('data', resolve));
    socket.write(head);
    // The answer comes before a byte of body was sent.
    if (answerFirst) await answered;
    const block = Buffer.alloc(64 * 1024, 0x61);
    while (pushed < total && !socket.destroyed) {
      const bytes = piece(block);
      pushed += block.length;
      const ok = await new Promise<boolean>((resolve) =>
        socket.write(bytes, (error) => resolve(error === undefined || error === null)),
      );
      if (!ok) break;
      accepted = pushed;
    }
    socket.destroy();
    const { data } = await received;
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { res: parseResponse(data), accepted, read: bytesRead(pid) - readBefore };
  }

  it('with Content-Length: 413 before a byte of body is read, and the rest is never read', async () => {
    const total = 64 * 1024 * 1024;
    const { res, accepted, read } = await push(
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`,
      total,
      (block) => block,
      true,
    );
    expectProblem(res, 413);
    expect(res.header('connection')).toBe('close');
    // The server stopped reading: the connection took what the kernel buffers hold, no more.
    expect(accepted).toBeLessThan(total);
    expect(read).toBeLessThan(16 * 1024 * 1024);
    report('body over the limit (Content-Length)', {
      announcedMiB: 64,
      acceptedMiB: mib(accepted),
      serviceReadMiB: mib(read),
    });
    await expectServing(main.port);
  });

  it('chunked, with no Content-Length: 413 once past the limit, and the rest is never read', async () => {
    const total = 64 * 1024 * 1024;
    const { res, accepted, read } = await push(
      'POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      total,
      chunk,
    );
    expectProblem(res, 413);
    expect(res.header('connection')).toBe('close');
    expect(accepted).toBeLessThan(total);
    expect(read).toBeLessThan(16 * 1024 * 1024);
    report('body over the limit (chunked)', {
      attemptedMiB: 64,
      acceptedMiB: mib(accepted),
      serviceReadMiB: mib(read),
    });
    await expectServing(main.port);
  });

  it('a client still sending a body over the limit reads the 413, not a reset (lingering close)', async () => {
    const body = Buffer.alloc(16 * 1024 * 1024, 0x61);
    for (let i = 0; i < 5; i++) {
      const outcome = await new Promise<string>((resolve) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: main.port,
            method: 'POST',
            path: '/chat/messages',
            agent: false,
            headers: { 'content-type': 'application/json', 'content-length': body.length },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () =>
              resolve(`${res.statusCode} ${res.headers['content-type']} ${text}`),
            );
            res.on('error', (error: Error & { code?: string }) =>
              resolve(`response ${error.code}`),
            );
          },
        );
        req.on('error', (error: Error & { code?: string }) => resolve(`request ${error.code}`));
        req.end(body);
      });
      expect(outcome).toMatch(/^413 application\/problem\+json \{/);
    }
    await expectServing(main.port);
  });

  it('lingering close: a client that reads only once it has stopped sending still gets the 413', async () => {
    // The client writes the body of an over-long POST without reading for a while, as a client
    // busy uploading does. Destroying the socket at once, with the body still arriving, resets
    // it: the client's next write fails and it never reads the 413. Lingering (a half-close,
    // reading stopped, destroyed a second later) keeps its writes from failing until it reads.
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect(main.port, '127.0.0.1');
      let text = '';
      let writeError = '';
      socket.setEncoding('latin1');
      socket.pause();
      socket.on('error', (error: Error & { code?: string }) => {
        writeError ||= error.code ?? error.message;
      });
      socket.on('data', (data: string) => {
        text += data;
      });
      socket.on('close', () => resolve(text === '' ? `no answer (${writeError})` : text));
      socket.write(
        'POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 67108864\r\n\r\n',
      );
      const piece = Buffer.alloc(64 * 1024, 0x61);
      const until = Date.now() + 400; // bounded: 400 ms of writing at most
      const send = (): void => {
        while (!socket.destroyed && socket.writableLength < 1024 * 1024) socket.write(piece);
        if (socket.destroyed) return;
        if (Date.now() < until) setTimeout(send, 10);
        else socket.resume(); // done sending: now read the answer
      };
      setTimeout(send, 0);
    });
    expect(outcome).toMatch(/^HTTP\/1\.1 413 /);
    await expectServing(main.port);
  });

  it('with Expect: 100-continue and a Content-Length over the limit: 413 and no 100 Continue', async () => {
    const res = await ask(
      main.port,
      'POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n',
    );
    expectProblem(res, 413);
    expect(res.closedByServer).toBe(true);
  });
});

describe('bad encodings', () => {
  it.each([
    '/chat/messages?after=%zz',
    '/chat/messages?timeout=%E0%A4%A',
    '/chat/messages?%ff=1',
    '/chat/messages?after=%C0%AF',
    '/users/%zz',
    '/users/%ff',
    '/users/%C0%80',
    '/users/%ED%A0%80',
    '/users/%',
  ])('bad percent-encoding in %s: 400 problem+json', async (target) => {
    const child = target.startsWith('/users') ? fixture : main;
    const res = await ask(
      child.port,
      `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(expectProblem(res, 400).detail).toMatch(/percent-encoding/);
    await expectServing(child.port);
  });

  it('bad percent-encoding in a path no route matches: 404 problem+json', async () => {
    const res = await ask(
      main.port,
      'GET /%zz%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expectProblem(res, 404);
  });

  const utf8Cases: [string, Buffer][] = [
    ['a lone 0xFF', Buffer.from([0xff])],
    ['a truncated sequence', Buffer.from([0xe2, 0x82])],
    ['an overlong "/"', Buffer.from([0xc0, 0xaf])],
    ['a UTF-16 surrogate', Buffer.from([0xed, 0xa0, 0x80])],
    ['a code point over U+10FFFF', Buffer.from([0xf4, 0x90, 0x80, 0x80])],
  ];

  it.each(utf8Cases)(
    'invalid UTF-8 in a JSON body (%s): 400 problem+json',
    async (_name, bytes) => {
      const body = Buffer.concat([Buffer.from('{"text":"'), bytes, Buffer.from('"}')]);
      const res = await ask(main.port, [
        `POST /chat/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
        body,
      ]);
      expect(expectProblem(res, 400).detail).toMatch(/UTF-8/);
    },
  );

  it.each(utf8Cases)(
    'invalid UTF-8 in a form body (%s): 400 problem+json',
    async (_name, bytes) => {
      const body = Buffer.concat([Buffer.from('a='), bytes]);
      const res = await ask(fixture.port, [
        `POST /form HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`,
        body,
      ]);
      expect(expectProblem(res, 400).detail).toMatch(/UTF-8/);
      // Percent-encoded, the same bytes are a 400 as well.
      const encoded = `a=${[...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;
      const res2 = await ask(
        fixture.port,
        `POST /form HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${encoded.length}\r\n\r\n${encoded}`,
      );
      expectProblem(res2, 400);
    },
  );
});

describe('hostile JSON', () => {
  function postJson(port: number, path: string, body: string) {
    return ask(port, [
      `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
      body,
    ]);
  }

  it('100,000 levels of nesting (arrays, objects): 400 problem+json, quickly; 1,000 levels are fine', async () => {
    const n = 100_000;
    const cases = [
      '['.repeat(n) + ']'.repeat(n),
      `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`,
      `{"text":${'['.repeat(n)}${']'.repeat(n)}}`,
    ];
    for (const body of cases) {
      for (const [child, path] of [
        [main, '/chat/messages'],
        [fixture, '/echo'],
      ] as const) {
        const started = performance.now();
        const res = await postJson(child.port, path, body);
        expect(expectProblem(res, 400).detail).toMatch(/nested deeper than 1000/);
        expect(performance.now() - started).toBeLessThan(2_000);
      }
    }
    // The limit itself: 1,000 levels are echoed back, 1,001 are refused.
    const ok = await postJson(fixture.port, '/echo', '['.repeat(1000) + ']'.repeat(1000));
    expect(ok.status).toBe(200);
    expect(ok.text()).toBe('['.repeat(1000) + ']'.repeat(1000));
    const deeper = await postJson(fixture.port, '/echo', '['.repeat(1001) + ']'.repeat(1001));
    expectProblem(deeper, 400);
    // Brackets inside strings do not count.
    const strings = await postJson(fixture.port, '/echo', JSON.stringify(['['.repeat(5000)]));
    expect(strings.status).toBe(200);
    await expectServing(main.port);
    await expectServing(fixture.port);
  });

  it('__proto__ and constructor.prototype keys: 400, and no prototype is polluted (asked of the process)', async () => {
    const bodies = [
      '{"__proto__":{"polluted":"yes","isAdmin":true}}',
      '{"a":[{"__proto__":{"polluted":"yes"}}]}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '{"text":"hi","nested":{"constructor":{"prototype":{"isAdmin":true}}}}',
      '{"\\u005f_proto__":{"polluted":"yes"}}',
    ];
    for (const body of bodies) {
      for (const [child, path] of [
        [main, '/chat/messages'],
        [fixture, '/echo'],
      ] as const) {
        const res = await postJson(child.port, path, body);
        expect(expectProblem(res, 400).detail, body).toMatch(/forbidden key/);
      }
    }
    // The same names in a query string and a form are plain keys of prototype-less objects.
    const form =
      '__proto__[polluted]=yes&__proto__=x&constructor[prototype][isAdmin]=1&constructor=y';
    const res = await ask(
      fixture.port,
      `POST /form?${form} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}`,
    );
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.text()) as { body: Record<string, string[]> };
    expect(Object.getOwnPropertyDescriptor(echoed.body, '__proto__')?.value).toEqual(['x']);
    expect(echoed.body['__proto__[polluted]']).toEqual(['yes']);

    const probe = await fetch(`http://127.0.0.1:${fixture.port}/pollution`);
    expect(await probe.json()).toMatchObject({ clean: true, polluted: null, isAdmin: null });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('1,000 connections opened and abandoned (fixture: 1.5 s headers and keep-alive timeouts)', () => {
  it('the service serves throughout, cuts off the silent ones, and is back to its baseline of descriptors', async () => {
    const pid = fixture.child.pid as number;
    await expectServing(fixture.port);
    const fdsBefore = openFds(pid);
    const rssBefore = rssBytes(pid);
    const sockets: Socket[] = [];
    for (let i = 0; i < 1000; i += 100) {
      sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => open(fixture.port)))));
    }
    const outcomes = sockets.map(collect);
    // A third say nothing, a third send half a head, a third a whole request they never read.
    sockets.forEach((socket, i) => {
      if (i % 3 === 1) socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Half: ');
      if (i % 3 === 2) socket.write('GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    // (Most of them at once: on a slow machine the first silent ones may be cut off already.)
    await until(
      () => openFds(pid) >= fdsBefore + 600,
      () => `${openFds(pid)} fds`,
      { timeoutMs: 5_000, intervalMs: 25 },
    );
    const fdsHeld = openFds(pid);
    for (let i = 0; i < 10; i++) await expectServing(fixture.port);
    // Half of the clients vanish (reset or closed), the others stay silent.
    sockets.forEach((socket, i) => {
      if (i % 2 === 0) {
        if (i % 4 === 0) socket.resetAndDestroy();
        else socket.destroy();
      }
    });
    const results = await Promise.all(outcomes);
    // The silent and half-sent ones that stayed: a 408 at the headers timeout. The ones whose
    // response they never read: closed at the keep-alive timeout.
    const cutOff = results.filter((_, i) => i % 2 === 1 && i % 3 !== 2);
    for (const { data } of cutOff) expectProblem(parseResponse(data), 408);
    const idle = results.filter((_, i) => i % 2 === 1 && i % 3 === 2);
    for (const { data } of idle) expect(parseResponse(data).status).toBe(200);
    await until(
      () => openFds(pid) <= fdsBefore + 5,
      () => `back to ${fdsBefore} descriptors (now ${openFds(pid)})`,
      { timeoutMs: 5_000, intervalMs: 25 },
    );
    await expectServing(fixture.port);
    report('abandoned connections', {
      connections: 1000,
      fdsBefore,
      fdsHeld,
      fdsAfter: openFds(pid),
      cutOffBy408: cutOff.length,
      rssBeforeMiB: mib(rssBefore),
      rssAfterMiB: mib(rssBytes(pid)),
    });
  });
});

describe('nothing internal leaks', () => {
  it('error answers carry no stack, path or internal message (debug is off)', async () => {
    for (const path of ['/fault/sync', '/fault/async', '/fault/prepare']) {
      const res = await ask(
        fixture.port,
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(expectProblem(res, 500)).toEqual({
        type: 'about:blank',
        title: 'Internal Server Error',
        status: 500,
      });
      expectNoLeak(res.afterHead.toString('latin1'));
    }
  });

  it('a keep-alive exchange stays in step after refused bodies (no desync)', async () => {
    // 404 with a small unread body, then a normal request on the same connection.
    const data = await exchange(
      main.port,
      'POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n',
      {
        until: (bytes) => {
          const first = bytes.indexOf('\r\n\r\n');
          return first >= 0 && hasCompleteResponse(bytes) && bytes.includes('Hello, world');
        },
      },
    );
    const first = parseResponse(data.data);
    expectProblem(first, 404);
    const second = parseResponse(first.rest);
    expect(second.status).toBe(200);
    expect(second.text()).toBe('Hello, world\n');
  });
});
